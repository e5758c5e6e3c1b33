/**
 * Burn-rate input from the decision service's /metrics instead of its log: each scrape's counter increases since
 * the previous scrape become one bucket of an SLI series (a counter that went down was reset: its new value is the
 * increase). Latency SLI per deployment and policy from the latency histogram (slow = count - bucket{le=threshold});
 * safety SLI per deployment from interventions / decisions.
 */
import { MonitorError } from "./errors.js";
import { SERVICE_METRICS } from "./metric-names.js";
import type { MonitorRules, SloSeries } from "./rules.js";
import type { SliSeries } from "./slo.js";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (what prom-client serves); comments and blank lines are skipped. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!match) throw new MonitorError("metrics_parse_failed", `line ${i + 1} is not a Prometheus sample: ${line.slice(0, 120)}`, { row: i + 1 });
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const raw = match[4]!;
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

interface Counter {
  last: { total: number; bad: number } | null;
  buckets: Map<number, { total: number; bad: number }>;
  deployment: string;
  policy: string;
}

export class ScrapedSlis {
  private readonly latency = new Map<string, Counter>();
  private readonly safety = new Map<string, Counter>();

  constructor(private readonly rules: MonitorRules) {}

  /** Adds one scrape taken at `at` seconds since the epoch. */
  observe(samples: readonly Sample[], at: number): void {
    const le = String(this.rules.latency.thresholdMs / 1000);
    const latency = new Map<string, { deployment: string; policy: string; total: number; fast: number }>();
    const safety = new Map<string, { total: number; bad: number }>();
    for (const s of samples) {
      const deployment = s.labels.deployment ?? "";
      if (s.name === `${SERVICE_METRICS.decisionLatency}_count` || (s.name === `${SERVICE_METRICS.decisionLatency}_bucket` && s.labels.le === le)) {
        const policy = s.labels.policy ?? "";
        const key = `${deployment}\u0000${policy}`;
        const entry = latency.get(key) ?? { deployment, policy, total: 0, fast: 0 };
        if (s.name.endsWith("_count")) entry.total += s.value;
        else entry.fast += s.value;
        latency.set(key, entry);
      } else if (s.name === SERVICE_METRICS.decisions || s.name === SERVICE_METRICS.safetyInterventions) {
        const entry = safety.get(deployment) ?? { total: 0, bad: 0 };
        if (s.name === SERVICE_METRICS.decisions) entry.total += s.value;
        else entry.bad += s.value;
        safety.set(deployment, entry);
      }
    }
    for (const [key, e] of latency) this.add(this.latency, key, e.deployment, e.policy, e.total, e.total - e.fast, at);
    for (const [deployment, e] of safety) this.add(this.safety, deployment, deployment, "*", e.total, e.bad, at);
  }

  private add(map: Map<string, Counter>, key: string, deployment: string, policy: string, total: number, bad: number, at: number): void {
    let counter = map.get(key);
    if (!counter) map.set(key, (counter = { last: null, buckets: new Map(), deployment, policy }));
    if (counter.last) {
      const dTotal = total >= counter.last.total ? total - counter.last.total : total;
      const dBad = bad >= counter.last.bad ? bad - counter.last.bad : bad;
      const index = Math.floor(at / this.rules.bucketSeconds);
      const bucket = counter.buckets.get(index) ?? { total: 0, bad: 0 };
      bucket.total += dTotal;
      bucket.bad += Math.min(dBad, dTotal);
      counter.buckets.set(index, bucket);
    }
    counter.last = { total, bad };
  }

  /** SLI series ending at `at` covering `span` seconds, for burnRateCandidates; old buckets are dropped. */
  series(at: number, span: number): SloSeries[] {
    const step = this.rules.bucketSeconds;
    const first = Math.floor((at - span) / step);
    const last = Math.floor(at / step);
    const build = (counter: Counter): SliSeries => {
      const series: SliSeries = { start: first * step, step, total: new Float64Array(last - first + 1), bad: new Float64Array(last - first + 1) };
      for (const [index, bucket] of counter.buckets) {
        if (index < first) counter.buckets.delete(index);
        else if (index <= last) {
          series.total[index - first] = bucket.total;
          series.bad[index - first] = bucket.bad;
        }
      }
      return series;
    };
    const empty = (): SliSeries => ({ start: first * step, step, total: new Float64Array(last - first + 1), bad: new Float64Array(last - first + 1) });
    const out: SloSeries[] = [];
    for (const c of this.latency.values()) out.push({ deployment: c.deployment, policy: c.policy, latency: build(c), safety: empty() });
    for (const c of this.safety.values()) out.push({ deployment: c.deployment, policy: c.policy, latency: empty(), safety: build(c) });
    return out;
  }
}

/** Fetches and parses `${url}/metrics`. */
export async function scrapeService(url: string, fetchImpl: typeof fetch = fetch): Promise<Sample[]> {
  const target = url.replace(/\/+$/, "") + "/metrics";
  let response: Response;
  try {
    response = await fetchImpl(target, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new MonitorError("metrics_scrape_failed", `cannot reach ${target}: ${(error as Error).message}`, { url: target });
  }
  if (!response.ok) throw new MonitorError("metrics_scrape_failed", `${target} answered ${response.status}`, { url: target, value: response.status });
  return parsePrometheusText(await response.text());
}
