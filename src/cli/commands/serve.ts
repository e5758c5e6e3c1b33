import { InvalidArgumentError, type Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { resolveStoreDir } from "../../data/store.js";
import { dashboardPlugin } from "../../monitor/ui/plugin.js";
import { openRegistryFromEnv } from "../../registry/index.js";
import type { Registry } from "../../registry/types.js";
import { artifactLoader } from "../../serve/artifact-loader.js";
import type { AlertEvent } from "../../serve/engine.js";
import { exportDecisionLog } from "../../serve/log-dataset.js";
import { loadServeSettings, RegistryRoutingSource, registryPolicyLoader } from "../../serve/registry-routing.js";
import { MemoryRoutingSource, type RoutingSource } from "../../serve/routing.js";
import { createDecisionService } from "../../serve/service.js";
import type { PolicyLoader } from "../../serve/policy.js";

interface ServeFlags {
  registry?: string;
  token?: string;
  settings?: string;
  routing?: string;
  host: string;
  port: string;
  logDir: string;
  seed: string;
  pollMs: string;
  preallocateLog?: boolean;
  logOverlapMs: number;
  ui?: boolean;
  store?: string;
}

/**
 * `hindcast serve --registry URL --port P [--settings FILE]`: serve what the registry routes, with the serving
 * rules from the settings file. `hindcast serve --routing FILE`: serve a fixed routing table (policy references are
 * artifact directories; admin token from $HINDCAST_DEPLOYER_TOKEN). The dashboard is mounted at /ui (its live pages
 * read the service and its log; the registry pages need --registry). Stops cleanly on SIGINT/SIGTERM.
 * `hindcast export-decisions --log DIR --out DIR`: decision log -> data file + schema for `hindcast ingest`.
 */
export function register(program: Command): void {
  program
    .command("serve")
    .description("run the HTTP decision service (routing, safety, fallback, shadow/canary, decision log)")
    .option("--registry <url>", "registry URL (default $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
    .option("--token <token>", "registry API token the service acts with (default $HINDCAST_TOKEN)")
    .option(
      "--settings <file>",
      "serving settings per deployment (YAML/JSON): fallback, exploration, safety, ood, defaults, guard; admin deploys are written back to it and edits are picked up live",
    )
    .option("--routing <file>", "serve a fixed routing table file instead of the registry")
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", "8080")
    .option("--log-dir <dir>", "decision log directory", ".hindcast/decisions")
    .option("--seed <n>", "exploration seed", "1")
    .option("--poll-ms <ms>", "routing poll interval for hot reload", "500")
    .option("--no-preallocate-log", "append to log segments instead of zero-filling them up front and overwriting in place (slower durable writes)")
    .option(
      "--log-overlap-ms <ms>",
      "start a second durable log write only once the first has been in flight this long (0: at once; more wait, larger batches)",
      (text: string) => {
        const ms = Number(text);
        if (text.trim() === "" || !Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError("expected a number of milliseconds >= 0.");
        return ms;
      },
      1,
    )
    .option("--no-ui", "do not mount the dashboard at /ui")
    .option("--store <dir>", "dataset store for the dashboard's dataset statistics (default $HINDCAST_STORE or .hindcast/datasets)")
    .action(async (flags: ServeFlags) => {
      let routing: RoutingSource;
      let loader: PolicyLoader;
      let close = async (): Promise<void> => undefined;
      let registry: Registry | undefined;
      if (flags.routing) {
        const text = readFileSync(flags.routing, "utf8");
        const table = (flags.routing.endsWith(".json") ? JSON.parse(text) : parseYaml(text)) as { deployments?: Record<string, never>; killSwitch?: boolean };
        const token = process.env["HINDCAST_DEPLOYER_TOKEN"];
        routing = new MemoryRoutingSource({ deployments: table.deployments ?? {}, killSwitch: table.killSwitch, tokens: token ? { [token]: "deployer" } : {} });
        loader = artifactLoader();
      } else {
        registry = await openRegistryFromEnv({ registry: flags.registry, token: flags.token });
        const settings = flags.settings && existsSync(flags.settings) ? loadServeSettings(flags.settings) : {};
        routing = new RegistryRoutingSource(registry, settings, { settingsPath: flags.settings });
        loader = registryPolicyLoader(registry);
        const opened = registry;
        close = () => opened.close();
      }
      const service = await createDecisionService({
        routing,
        loader,
        logDir: flags.logDir,
        host: flags.host,
        port: Number(flags.port),
        seed: Number(flags.seed),
        pollIntervalMs: Number(flags.pollMs),
        preallocateLog: flags.preallocateLog ?? true,
        logOverlapAfterMs: flags.logOverlapMs,
        processMetrics: true,
        // The service passes itself to the plugin: the live pages read its status, alerts and log.
        plugins: flags.ui === false ? [] : [{ plugin: dashboardPlugin, options: { prefix: "/ui", registry, store: resolveStoreDir(flags.store) } }],
      });
      service.on("alert", (event: AlertEvent) => process.stderr.write(`hindcast serve: alert ${event.kind} ${event.deployment}: ${event.reason}\n`));
      const { url } = await service.start();
      const dashboard = flags.ui === false ? "" : `  dashboard: ${url}/ui/`;
      process.stdout.write(`serving on ${url}  deployments: ${service.engine.deploymentNames().join(", ") || "(none)"}  log: ${flags.logDir}${dashboard}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await service.stop();
      await close();
    });

  program
    .command("export-decisions")
    .description("join a decision log with its feedback into a data file and schema that `hindcast ingest` reads")
    .requiredOption("--log <dir>", "decision log directory")
    .requiredOption("--out <dir>", "output directory")
    .option("--deployment <name>", "deployment to export (required when the log holds several)")
    .option("--actions <n>", "discrete action count (default: largest logged action + 1)")
    .option("--json", "print the result as JSON")
    .action((flags: { log: string; out: string; deployment?: string; actions?: string; json?: boolean }) => {
      const result = exportDecisionLog({
        logDir: flags.log,
        outDir: flags.out,
        deployment: flags.deployment,
        actionSpace: flags.actions ? { kind: "discrete", n: Number(flags.actions) } : undefined,
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        return;
      }
      process.stdout.write(
        `wrote ${result.rows} rows in ${result.episodes} episodes (${result.withoutFeedback} decisions without feedback left out)\n` +
          `  data   ${result.dataFile}\n  schema ${result.schemaFile}\n` +
          `ingest with: hindcast ingest ${result.dataFile} --schema ${result.schemaFile} --dataset NAME\n`,
      );
    });
}
