import { join } from "node:path";
import { openDuckDB, sqlIdent, sqlString } from "./duckdb.js";
import { DATA_FILE, readManifest, resolveStoreDir, resolveVersion, versionDir, type DatasetManifest } from "./store.js";
import { EPISODE_INDEX_COLUMN } from "./layout.js";

export interface Summary {
  min: number;
  p25: number;
  median: number;
  p75: number;
  max: number;
  mean: number;
  std: number;
}

export interface FeatureSummary extends Summary {
  name: string;
  sensitive: boolean;
}

export interface DatasetStats {
  dataset: { name: string; version: number; contentHash: string };
  rows: number;
  episodes: number;
  quarantined: number;
  episodeLength: Summary;
  returns: Summary;
  rewards: Summary;
  terminals: number;
  truncations: number;
  actions:
    | { kind: "discrete"; n: number; counts: number[] }
    | { kind: "continuous"; dimensions: Array<{ name: string; low: number; high: number } & Summary> };
  features: FeatureSummary[];
  /**
   * Behaviour propensities. `effectiveSampleSize` is (sum w)^2 / sum w^2 with w = 1/p (log-density: w = exp(-l)),
   * the ESS an importance-sampling estimate keeps when the target always picks the logged action; a small
   * `effectiveSampleFraction` warns that off-policy estimates will lean on few rows.
   */
  propensity: null | ({ kind: "probability" | "log_density"; belowOnePercent: number; effectiveSampleSize: number; effectiveSampleFraction: number } & Summary);
}

const summarySql = (x: string) =>
  `struct_pack(min := min(${x}), p25 := quantile_cont(${x}, 0.25), median := quantile_cont(${x}, 0.5), p75 := quantile_cont(${x}, 0.75), max := max(${x}), mean := avg(${x}), std := coalesce(stddev_pop(${x}), 0))`;

function toSummary(value: unknown): Summary {
  const s = (value ?? {}) as Record<string, unknown>;
  const n = (k: string) => (s[k] === null || s[k] === undefined ? NaN : Number(s[k]));
  return { min: n("min"), p25: n("p25"), median: n("median"), p75: n("p75"), max: n("max"), mean: n("mean"), std: n("std") };
}

/** Counts, episodes, return and length distributions, action coverage, per-feature and propensity summaries. */
export async function datasetStats(store: string | undefined, ref: string): Promise<DatasetStats> {
  const storeDir = resolveStoreDir(store);
  const id = resolveVersion(storeDir, ref);
  const manifest: DatasetManifest = readManifest(storeDir, id);
  const schema = manifest.schema;
  const data = `read_parquet(${sqlString(join(versionDir(storeDir, id), DATA_FILE))})`;
  const q = sqlIdent;
  const db = await openDuckDB();
  try {
    const one = async (sql: string) => (await db.connection.runAndReadAll(sql)).getRowsJS()[0]!;
    const reward = q(schema.reward.column);
    const [rows, terminals, truncations, rewards] = await one(
      `SELECT count(*), coalesce(sum(${q(schema.terminal!)}), 0), coalesce(sum(${q(schema.truncated!)}), 0), ${summarySql(reward)} FROM ${data}`,
    );
    const [episodes, lengths, returns] = await one(
      `SELECT count(*), ${summarySql("len")}, ${summarySql("ret")} FROM (SELECT count(*) AS len, sum(${reward}) AS ret FROM ${data} GROUP BY ${q(EPISODE_INDEX_COLUMN)})`,
    );
    const features: FeatureSummary[] = [];
    const featureRow = manifest.featureNames.length > 0 ? await one(`SELECT ${manifest.featureNames.map((f) => summarySql(q(f))).join(", ")} FROM ${data}`) : [];
    manifest.featureNames.forEach((name, j) => features.push({ name, sensitive: schema.features?.[name]?.sensitive === true, ...toSummary(featureRow[j]) }));

    let actions: DatasetStats["actions"];
    if (schema.action.kind === "discrete") {
      const counts = new Array<number>(schema.action.n).fill(0);
      for (const [a, n] of (await db.connection.runAndReadAll(`SELECT ${q(schema.action.column)}, count(*) FROM ${data} GROUP BY 1`)).getRowsJS()) {
        counts[Number(a)] = Number(n);
      }
      actions = { kind: "discrete", n: schema.action.n, counts };
    } else {
      const action = schema.action;
      const row = await one(`SELECT ${action.columns.map((c) => summarySql(q(c))).join(", ")} FROM ${data}`);
      actions = { kind: "continuous", dimensions: action.columns.map((name, k) => ({ name, low: action.low[k]!, high: action.high[k]!, ...toSummary(row[k]) })) };
    }

    let propensity: DatasetStats["propensity"] = null;
    if (schema.behaviorProb) {
      const p = q(schema.behaviorProb.column);
      const weight = schema.behaviorProb.kind === "probability" ? `1.0 / ${p}` : `exp(min(${p}) OVER () - ${p})`;
      const [summary, below, sumW, sumW2] = await one(
        `SELECT ${summarySql("p")}, count(*) FILTER (WHERE p < 0.01), sum(w), sum(w * w) FROM (SELECT ${p} AS p, ${weight} AS w FROM ${data})`,
      );
      const ess = Number(sumW2) > 0 ? (Number(sumW) * Number(sumW)) / Number(sumW2) : 0;
      propensity = {
        kind: schema.behaviorProb.kind,
        ...toSummary(summary),
        belowOnePercent: schema.behaviorProb.kind === "probability" ? Number(below) : 0,
        effectiveSampleSize: ess,
        effectiveSampleFraction: Number(rows) > 0 ? ess / Number(rows) : 0,
      };
    }
    return {
      dataset: { name: manifest.name, version: manifest.version, contentHash: manifest.contentHash },
      rows: Number(rows),
      episodes: Number(episodes),
      quarantined: manifest.counts.quarantined,
      episodeLength: toSummary(lengths),
      returns: toSummary(returns),
      rewards: toSummary(rewards),
      terminals: Number(terminals),
      truncations: Number(truncations),
      actions,
      features,
      propensity,
    };
  } finally {
    db.close();
  }
}

const fmt = (x: number) => (Number.isNaN(x) ? "-" : Number.isInteger(x) ? String(x) : Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential(3) : x.toFixed(4));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const summaryCells = (s: Summary) => [s.min, s.p25, s.median, s.p75, s.max, s.mean, s.std].map(fmt);
const SUMMARY_HEADER = ["min", "p25", "median", "p75", "max", "mean", "std"];

/** The human-readable form of `datasetStats`. */
export function formatStats(stats: DatasetStats): string {
  const out: string[] = [];
  out.push(`${stats.dataset.name}@${stats.dataset.version}  ${stats.dataset.contentHash}`);
  out.push(`rows ${stats.rows}  episodes ${stats.episodes}  quarantined at ingest ${stats.quarantined}  terminal ends ${stats.terminals}  truncated ends ${stats.truncations}`);
  out.push("");
  out.push(table(["", ...SUMMARY_HEADER], [["episode length", ...summaryCells(stats.episodeLength)], ["return", ...summaryCells(stats.returns)], ["reward", ...summaryCells(stats.rewards)]]));
  out.push("");
  if (stats.actions.kind === "discrete") {
    const total = stats.actions.counts.reduce((a, b) => a + b, 0);
    out.push(table(["action", "count", "share"], stats.actions.counts.map((n, a) => [String(a), String(n), total > 0 ? `${((100 * n) / total).toFixed(1)}%` : "-"])));
  } else {
    out.push(table(["action dim", "low", "high", ...SUMMARY_HEADER], stats.actions.dimensions.map((d) => [d.name, fmt(d.low), fmt(d.high), ...summaryCells(d)])));
  }
  out.push("");
  out.push(table(["feature", ...SUMMARY_HEADER, "flags"], stats.features.map((f) => [f.name, ...summaryCells(f), f.sensitive ? "sensitive" : ""])));
  if (stats.propensity) {
    const p = stats.propensity;
    out.push("");
    out.push(table([p.kind === "probability" ? "propensity" : "log-density", ...SUMMARY_HEADER], [["", ...summaryCells(p)]]));
    out.push(
      `effective sample size (w = ${p.kind === "probability" ? "1/p" : "exp(-log-density)"}) ${fmt(p.effectiveSampleSize)} of ${stats.rows} (${(100 * p.effectiveSampleFraction).toFixed(1)}%)` +
        (p.kind === "probability" ? `; rows with p < 0.01: ${p.belowOnePercent}` : ""),
    );
  }
  return out.join("\n");
}
