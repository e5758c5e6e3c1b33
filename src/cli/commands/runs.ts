import type { Command } from "commander";
import { openRegistryFromEnv, type Registry, type RunStatus } from "../../registry/index.js";

/**
 * `hindcast runs list|show`. Also home of the small helpers the registry commands share (promote, rollback,
 * policies, audit, tokens): the registry/token options, opening and closing the registry, and printing.
 */
export interface RegistryFlags {
  registry?: string;
  token?: string;
  json?: boolean;
}

export function registryOptions(command: Command): Command {
  return command
    .option("--registry <url>", "registry URL: sqlite:PATH or postgres://... (default $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
    .option("--token <token>", "API token for a shared registry (default $HINDCAST_TOKEN)")
    .option("--json", "print JSON");
}

export async function withRegistry<T>(flags: RegistryFlags, fn: (registry: Registry) => Promise<T>): Promise<T> {
  const registry = await openRegistryFromEnv(flags);
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

/** Prints `value` as JSON with --json, else as an aligned table of `rows` (or `key: value` lines for one object). */
export function output(flags: RegistryFlags, value: unknown, rows: Array<Record<string, unknown>> | Record<string, unknown>): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(value, null, 2) + "\n");
    return;
  }
  if (!Array.isArray(rows)) {
    const width = Math.max(0, ...Object.keys(rows).map((k) => k.length));
    for (const [key, cell] of Object.entries(rows)) process.stdout.write(`${key.padEnd(width)}  ${text(cell)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write("(none)\n");
    return;
  }
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd() + "\n";
  process.stdout.write(line(columns));
  for (const row of rows) process.stdout.write(line(columns.map((c) => text(row[c]))));
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function register(program: Command): void {
  const runs = program.command("runs").description("Training runs recorded in the registry");

  registryOptions(
    runs
      .command("list")
      .description("List runs, newest first")
      .option("--status <status>", "queued, running, succeeded, failed or cancelled")
      .option("--algorithm <name>", "only runs of this algorithm")
      .option("--limit <n>", "at most this many", "50"),
  ).action(async (flags: RegistryFlags & { status?: RunStatus; algorithm?: string; limit: string }) => {
    await withRegistry(flags, async (registry) => {
      const list = await registry.listRuns({
        ...(flags.status ? { status: flags.status } : {}),
        ...(flags.algorithm ? { algorithm: flags.algorithm } : {}),
        limit: Number(flags.limit),
      });
      output(
        flags,
        list,
        list.map((r) => ({
          id: r.id,
          algorithm: r.algorithm,
          status: r.status,
          dataset: r.dataset ? `${r.dataset.name}@${r.dataset.version}` : null,
          seed: r.seed,
          code: r.codeVersion,
          created: r.createdAt,
        })),
      );
    });
  });

  registryOptions(
    runs.command("show").description("Show one run: config, dataset, artifacts and its latest metrics").argument("<id>", "run id"),
  ).action(async (id: string, flags: RegistryFlags) => {
    await withRegistry(flags, async (registry) => {
      const run = await registry.getRun(Number(id));
      const metrics = await registry.getMetrics(run.id);
      if (flags.json) return output(flags, { ...run, metrics }, {});
      const latest = new Map<string, { step: number; value: number }>();
      for (const m of metrics) latest.set(m.name, { step: m.step, value: m.value });
      output(flags, run, {
        id: run.id,
        algorithm: run.algorithm,
        status: run.status,
        seed: run.seed,
        dataset: run.dataset ? `${run.dataset.name}@${run.dataset.version} (${run.dataset.hash})` : null,
        code: run.codeVersion,
        created: `${run.createdAt} by ${run.createdBy}`,
        finished: run.finishedAt,
        config: run.config,
        artifacts: run.artifacts,
        ...Object.fromEntries([...latest].map(([name, m]) => [`metric ${name}`, `${m.value} (step ${m.step})`])),
      });
    });
  });
}
