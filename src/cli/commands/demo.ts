import type { Command } from "commander";
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import { DEMO_BEHAVIOR, DEMO_GAMMA, flagText, fmt, runDemo, SERVE_EPSILON, type DemoEvent, type DemoResult, type EstimateFlags } from "../../pipeline/demo.js";
import { PipelineError } from "../../pipeline/errors.js";
import { codeVersion } from "../version.js";

/**
 * `hindcast demo [--dir DIR] [--small] [--fresh] [--keep-serving] [--port P]`: the closed loop end to end on the
 * autoscaling simulator (src/pipeline/demo.ts), with a progress line per stage and a summary table at the end.
 */
export function register(program: Command): void {
  program
    .command("demo")
    .description("the whole life of an offline-RL policy on the autoscaling simulator: logs, validation, training, OPE, registry, serving, rollback, retraining")
    .option("--dir <dir>", "where the dataset store, registry, decision log and runs go", ".hindcast/demo")
    .option("--small", "small sizes (about a minute)")
    .option("--fresh", "replace --dir even if an earlier demo did not make it (a demo's own directory is always replaced)")
    .option("--seed <n>", "random seed", "7")
    .option("--keep-serving", "leave the decision service running after the summary (Ctrl-C stops it)")
    .option("--port <port>", "decision service port (default: any free port)", "0")
    .action(async (flags: { dir: string; small?: boolean; fresh?: boolean; seed: string; keepServing?: boolean; port: string }) => {
      const seed = Number(flags.seed);
      const port = Number(flags.port);
      if (!Number.isInteger(seed)) throw new PipelineError("invalid_pipeline", `--seed must be an integer, got ${flags.seed}`, { field: "seed" });
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PipelineError("invalid_pipeline", `--port must be 0..65535, got ${flags.port}`, { field: "port" });
      const display = stageDisplay();
      let result: DemoResult;
      try {
        result = await runDemo({ dir: flags.dir, small: flags.small, fresh: flags.fresh, seed, port, keepServing: flags.keepServing, codeVersion: codeVersion(), onEvent: display.onEvent });
      } finally {
        display.stop();
      }
      process.stdout.write(formatSummary(result));
      if (result.service) {
        process.stdout.write(`\nthe decision service keeps serving on ${result.url} (POST /v1/decide, /v1/feedback; GET /metrics); Ctrl-C stops it\n`);
        await new Promise<void>((resolve) => {
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        await result.stop?.();
      }
    });
}

/** One line per stage as it starts and ends, with a progress bar for long sub-steps when stderr is a terminal. */
function stageDisplay(): { onEvent: (event: DemoEvent) => void; stop: () => void } {
  const tty = process.stderr.isTTY === true;
  const multi = tty ? new MultiBar({ format: "  {label} |{bar}| {value}/{total}", stream: process.stderr, hideCursor: true, clearOnComplete: true }, Presets.shades_classic) : null;
  let bar: SingleBar | null = null;
  let barLabel = "";
  const write = (text: string): void => {
    if (multi) multi.log(text + "\n");
    else process.stderr.write(text + "\n");
  };
  return {
    onEvent(event) {
      if (event.kind === "progress") {
        if (!multi) return;
        if (!bar || barLabel !== event.label) {
          if (bar) multi.remove(bar);
          bar = multi.create(event.total, event.done, { label: event.label.padEnd(24) });
          barLabel = event.label;
        }
        bar.setTotal(event.total);
        bar.update(event.done, { label: event.label.padEnd(24) });
        return;
      }
      if (bar && multi) {
        multi.remove(bar);
        bar = null;
      }
      const head = `[${String(event.index).padStart(2)}/${event.total}] ${event.title}`;
      if (event.status === "start") {
        write(`${head} ...`);
        return;
      }
      write(`${head}: done in ${event.seconds.toFixed(1)}s`);
      for (const line of event.lines) write(`        ${line}`);
    },
    stop() {
      multi?.stop();
    },
  };
}

export function formatSummary(r: DemoResult): string {
  const lines: string[] = [];
  lines.push("", `Summary (${r.seconds.toFixed(0)}s, everything under ${r.dir})`, "");
  lines.push(`logs   ${r.datasets.logs}: read ${r.ingest.read}, accepted ${r.ingest.accepted}, quarantined ${r.ingest.quarantined} (reconciled: ${r.ingest.reconciled ? "yes" : "NO"})`);
  lines.push("");
  lines.push(`Offline estimates (held-out days, each policy with epsilon ${SERVE_EPSILON} as served) vs true values (simulator rollouts), discounted return, gamma ${DEMO_GAMMA}:`);
  const header = ["policy", "role", "WDR [95% CI]", "WDR lower bd", "FQE [95% CI]", "true [95% CI]", "cost/day", "SLO breach"];
  // Estimates the OPE engine flags as off the logs' support get "!n", explained in footnote n under the table.
  const footnotes: string[] = [];
  const mark = (flags: EstimateFlags): string => {
    if (!flags.offSupport) return "";
    const text = flagText(flags);
    let index = footnotes.indexOf(text);
    if (index < 0) index = footnotes.push(text) - 1;
    return ` !${index + 1}`;
  };
  const rows: string[][] = [
    ["behaviour (logs)", "today's rules", `${fmt(r.baseline.offline)} [${fmt(r.baseline.lower)}, ${fmt(r.baseline.upper)}]`, "-", "-", fmt(r.baseline.trueValue), fmt(r.baseline.costPerDay, 1), pct(r.baseline.sloBreachRate)],
    ...r.candidates.map((c) => [
      c.policy,
      c.role === "candidate" ? (c.policy === r.winner ? "winner" : c.beatsBaseline ? "passes gate" : c.wdr?.flags.offSupport ? "fails (off support)" : "fails gate") : c.role,
      c.wdr ? `${fmt(c.wdr.value)} [${fmt(c.wdr.lower)}, ${fmt(c.wdr.upper)}]${mark(c.wdr.flags)}` : "-",
      c.wdr ? fmt(c.wdr.lowerBound) : "-",
      c.fqe ? `${fmt(c.fqe.value)} [${fmt(c.fqe.lower)}, ${fmt(c.fqe.upper)}]${mark(c.fqe.flags)}` : "-",
      c.trueValue === null ? "-" : `${fmt(c.trueValue)} [${fmt(c.trueInterval?.[0])}, ${fmt(c.trueInterval?.[1])}]`,
      fmt(c.costPerDay, 1),
      pct(c.sloBreachRate),
    ]),
  ];
  lines.push(...table(header, rows));
  for (const [i, text] of footnotes.entries()) lines.push(`  !${i + 1} not to be trusted, ${text}`);
  lines.push("");
  const after = r.candidates.find((c) => c.policy === (r.promoted ?? ""));
  lines.push(
    `Before -> after (simulator, per day): cost ${fmt(r.baseline.costPerDay, 1)} -> ${fmt(after?.costPerDay, 1)}, SLO-breach rate ${pct(r.baseline.sloBreachRate)} -> ${pct(after?.sloBreachRate)}` +
      (r.promoted ? ` (logged ${DEMO_BEHAVIOR} -> ${r.promoted} as served with epsilon ${SERVE_EPSILON})` : " (nothing promoted)"),
  );
  const liveRows = Object.entries(r.live).map(([key, s]) => [
    key,
    String(s.episodes),
    Object.entries(s.routes)
      .map(([route, n]) => `${route} ${n}`)
      .join(", "),
    fmt(s.costPerDay, 1),
    pct(s.sloBreachRate),
    fmt(s.meanReturn, 1),
  ]);
  if (liveRows.length > 0) {
    lines.push("Live traffic through the service (simulated days per phase, decisions per route):");
    lines.push(...table(["phase", "days", "decisions", "cost/day", "SLO breach", "return"], liveRows));
  }
  if (r.canaryRolledBack) {
    const rb = r.canaryRolledBack;
    lines.push(`Rollback: ${rb.policy} rolled back ${rb.seconds.toFixed(1)}s after entering canary (${rb.canaryAt} -> ${rb.rolledBackAt})${rb.canaryDecisions !== null ? `, after ${rb.canaryDecisions} canary observations` : ""}`);
    lines.push(`  reason: ${rb.reason}`);
  } else {
    lines.push("Rollback: the bad canary was not rolled back");
  }
  lines.push(
    `Decision latency over ${r.latency.decisions} decisions (measured under load): client p50 ${fmt(r.latency.clientMs.p50)} ms, p95 ${fmt(r.latency.clientMs.p95)} ms, p99 ${fmt(r.latency.clientMs.p99)} ms;` +
      ` in-service p50 ${fmt(r.latency.serverMs.p50, 3)} ms, p95 ${fmt(r.latency.serverMs.p95, 3)} ms, p99 ${fmt(r.latency.serverMs.p99, 3)} ms`,
  );
  lines.push(
    `Drift of served states vs training days: max PSI ${fmt(r.drift.maxPsi, 3)} (${r.drift.topFeature ?? "-"}), MMD p-value ${fmt(r.drift.mmdPValue, 3)}: ${r.drift.drifted ? "drifted" : "no drift"}`,
  );
  lines.push(`Datasets: ${r.datasets.train}, ${r.datasets.test}; decision log ${r.datasets.decisionLog} -> ${r.datasets.retrain}`);
  lines.push("", "Inspect:", ...r.commands.map((c) => `  ${c}`), "");
  return lines.join("\n");
}

function pct(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "-" : `${(value * 100).toFixed(1)}%`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}
