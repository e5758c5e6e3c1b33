import type { Command } from "commander";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Fastify from "fastify";
import { openRegistryFromEnv, type Registry } from "../../registry/index.js";
import { datasetReference, registryContext } from "../../monitor/context.js";
import { readDecisionWindow } from "../../monitor/decision-log.js";
import { MonitorError } from "../../monitor/errors.js";
import { replayDecisionLog, type EvaluationContext } from "../../monitor/evaluate.js";
import { grafanaDashboards } from "../../monitor/grafana.js";
import { alertmanagerRouteYaml, prometheusRulesYaml } from "../../monitor/prometheus.js";
import { loadMonitorRules, parseMonitorRules, type MonitorRules } from "../../monitor/rules.js";
import { Monitor, MonitorMetrics, auditSink, streamSink, webhookSink, type AlertSink } from "../../monitor/runner.js";

interface MonitorFlags {
  log?: string;
  url?: string;
  registry?: string;
  token?: string;
  reference?: string;
  store?: string;
  rules?: string;
  estimator?: string;
  every: string;
  window: string;
  webhook?: string[];
  metricsPort?: string;
  once?: boolean;
  replay?: boolean;
}

function rulesFrom(path: string | undefined): MonitorRules {
  return path ? loadMonitorRules(path) : parseMonitorRules({});
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * `hindcast monitor --log DIR | --url URL [...]`: evaluate the alert rules continuously (or `--once`, or `--replay`
 * a whole log offline) and emit alert events as JSON lines on stdout and to each `--webhook`.
 * `hindcast monitor export --out DIR`: Prometheus rules, an Alertmanager route and the Grafana dashboards.
 */
export function register(program: Command): void {
  const monitor = program
    .command("monitor")
    .description("Evaluate alert rules (latency/safety burn rates, drift, reward-proxy gap) against the service or a decision log")
    .option("--log <path>", "decision log directory (or one JSONL file) to follow")
    .option("--url <url>", "decision service base URL; its /metrics drive the latency and safety burn rates")
    .option("--registry <url>", "registry for offline estimates and promotion history (default $HINDCAST_REGISTRY when set)")
    .option("--token <token>", "registry API token (default $HINDCAST_TOKEN)")
    .option("--reference <dataset>", "training dataset version NAME@N for drift (from the dataset store)")
    .option("--store <dir>", "dataset store directory (default $HINDCAST_STORE or .hindcast/datasets)")
    .option("--rules <file>", "rule settings (YAML/JSON): latency, safety, drift, rewardProxyGap, coolDownSeconds")
    .option("--estimator <name>", "offline estimator whose value the reward-proxy gap compares with (default: latest)")
    .option("--every <seconds>", "evaluation interval", "60")
    .option("--window <seconds>", "trailing window for drift and the reward-proxy gap", "3600")
    .option("--webhook <url>", "POST each alert event as JSON to this URL (repeatable)", collect)
    .option("--metrics-port <port>", "serve the monitor's gauges for Prometheus on 127.0.0.1:PORT/metrics")
    .option("--once", "evaluate once at the current time and exit")
    .option("--replay", "walk the whole --log offline as the monitor would have, print the events, and exit")
    .action(async (flags: MonitorFlags) => {
      const rules = rulesFrom(flags.rules);
      const useRegistry = flags.registry !== undefined || Boolean(process.env["HINDCAST_REGISTRY"]);
      const registry: Registry | null = useRegistry ? await openRegistryFromEnv({ registry: flags.registry, token: flags.token }) : null;
      try {
        const context: EvaluationContext = { windowSeconds: Number(flags.window) };
        if (flags.reference) context.reference = await datasetReference(flags.store, flags.reference);
        const metrics = flags.metricsPort !== undefined ? new MonitorMetrics() : null;
        const refreshContext = registry
          ? async () => {
              const fromRegistry = await registryContext(registry, { estimator: flags.estimator });
              metrics?.setRetrainCadence(fromRegistry.cadence.medianIntervalDays, fromRegistry.cadence.improvedFraction);
              return { offlineEstimates: fromRegistry.offlineEstimates, baselineValue: fromRegistry.baselineValue };
            }
          : undefined;
        const sinks: AlertSink[] = [streamSink(), ...(flags.webhook ?? []).map((url) => webhookSink(url)), ...(registry ? [auditSink(registry)] : [])];
        const onError = (error: unknown) => {
          const code = (error as { code?: unknown }).code;
          process.stderr.write(`hindcast monitor: ${typeof code === "string" ? code + ": " : ""}${(error as Error).message}\n`);
        };

        if (flags.replay) {
          if (!flags.log) throw new MonitorError("monitor_invalid_config", "--replay needs --log", { field: "log" });
          Object.assign(context, (await refreshContext?.()) ?? {});
          const result = replayDecisionLog(readDecisionWindow(flags.log), rules, context, { everySeconds: Number(flags.every) });
          for (const event of result.events) for (const sink of sinks) await sink.send(event).catch(onError);
          process.stderr.write(`hindcast monitor: replayed ${result.evaluations} evaluations, ${result.events.length} alert events\n`);
          return;
        }

        const runner = new Monitor({
          rules,
          context,
          logPath: flags.log,
          serviceUrl: flags.url,
          sinks,
          metrics: metrics ?? undefined,
          everySeconds: Number(flags.every),
          refreshContext,
          onError,
        });
        if (flags.once) {
          await runner.tick();
          return;
        }
        const server = metrics ? Fastify() : null;
        if (server && metrics) {
          server.get("/metrics", async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
          await server.listen({ host: "127.0.0.1", port: Number(flags.metricsPort) });
          process.stderr.write(`hindcast monitor: gauges at http://127.0.0.1:${flags.metricsPort}/metrics\n`);
        }
        const controller = new AbortController();
        process.once("SIGINT", () => controller.abort());
        process.once("SIGTERM", () => controller.abort());
        process.stderr.write(`hindcast monitor: evaluating every ${flags.every} s (${[flags.log && `log ${flags.log}`, flags.url && `service ${flags.url}`].filter(Boolean).join(", ")})\n`);
        await runner.run(controller.signal);
        await server?.close();
      } finally {
        await registry?.close();
      }
    });

  monitor
    .command("export")
    .description("Write Prometheus alerting rules, an Alertmanager route and Grafana dashboards (executive, on-call, debug)")
    .requiredOption("--out <dir>", "output directory")
    .option("--rules <file>", "rule settings (YAML/JSON)")
    .action((_flags: unknown, command: Command) => {
      // `--rules` is also an option of `monitor` itself, which may claim it: read both levels.
      const flags = command.optsWithGlobals<{ out: string; rules?: string }>();
      const rules = rulesFrom(flags.rules);
      mkdirSync(join(flags.out, "grafana"), { recursive: true });
      const written = [join(flags.out, "prometheus-rules.yaml"), join(flags.out, "alertmanager-route.yaml")];
      writeFileSync(written[0]!, prometheusRulesYaml(rules));
      writeFileSync(written[1]!, alertmanagerRouteYaml(rules.coolDownSeconds));
      for (const [name, dashboard] of Object.entries(grafanaDashboards())) {
        const path = join(flags.out, "grafana", `${name}.json`);
        writeFileSync(path, JSON.stringify(dashboard, null, 2) + "\n");
        written.push(path);
      }
      process.stdout.write(written.map((p) => `wrote ${p}\n`).join(""));
    });
}
