/**
 * Simulated traffic against a running decision service: each episode is one simulated day of the ops simulator
 * whose controller is the service itself. Every step POSTs the observation to /v1/decide, applies the returned
 * action in the simulator and POSTs the reward to /v1/feedback, over real HTTP on loopback.
 *
 * Routing keys: "decision" (default) gives every decision its own key, so canary and control decisions interleave
 * within the same days; "episode" keeps one key per day (sticky). Rewards within a day are strongly correlated (a busy
 * day is costly under any policy). The canary guard (src/serve/guard.ts) clusters observations by the routing key it
 * is given, but the service does not pass the key to it yet (it batches consecutive decisions instead), and a 10%
 * canary over a few sticky days has too few days for any honest comparison; the demo therefore keeps "decision".
 */
import { makeEnv } from "../envs/registry.js";
import { deriveSeed } from "../random/index.js";
import { PipelineError } from "./errors.js";

export interface TrafficOptions {
  url: string;
  env: string;
  deployment: string;
  /** Episode ids are `${label}-${e}` (unique per phase, so the exported log keeps episodes apart). */
  label: string;
  episodes: number;
  seed: number;
  /** Episodes in flight at once. */
  concurrency: number;
  routingKeys?: "decision" | "episode";
  /** Checked before each new episode starts; true stops launching episodes (running ones finish). */
  stop?: () => boolean;
  onEpisode?: (done: number, total: number) => void;
}

export interface EpisodeOutcome {
  episodeId: string;
  /** Decisions per route (production, canary, fallback, killed). */
  routes: Record<string, number>;
  policyVersions: string[];
  return: number;
  cost: number;
  breaches: number;
  steps: number;
}

export interface TrafficResult {
  episodes: EpisodeOutcome[];
  decisions: number;
  /** Client-side latency of each /v1/decide call in ms (request to response, including the durable log write). */
  latenciesMs: Float64Array;
  routes: Record<string, number>;
  seconds: number;
}

interface DecisionResponse {
  decisionId: string;
  action: number;
  route: string;
  policyVersion: string;
}

async function post<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new PipelineError("traffic_failed", `${url} answered ${response.status}: ${text.slice(0, 300)}`, { url, status: response.status });
  return JSON.parse(text) as T;
}

export async function driveTraffic(options: TrafficOptions): Promise<TrafficResult> {
  const started = performance.now();
  const outcomes: EpisodeOutcome[] = [];
  const latencies: number[] = [];
  const routes: Record<string, number> = {};
  let next = 0;
  let done = 0;

  const runEpisode = async (e: number): Promise<void> => {
    const env = makeEnv(options.env);
    const episodeId = `${options.label}-${e}`;
    let observation = env.reset(deriveSeed(options.seed, 2 * e));
    const outcome: EpisodeOutcome = { episodeId, routes: {}, policyVersions: [], return: 0, cost: 0, breaches: 0, steps: 0 };
    const versions = new Set<string>();
    for (let t = 0; ; t++) {
      const begin = performance.now();
      const decision = await post<DecisionResponse>(`${options.url}/v1/decide`, {
        deployment: options.deployment,
        routingKey: options.routingKeys === "episode" ? episodeId : `${episodeId}/${t}`,
        state: Array.from(observation),
        episodeId,
        step: t,
      });
      latencies.push(performance.now() - begin);
      routes[decision.route] = (routes[decision.route] ?? 0) + 1;
      outcome.routes[decision.route] = (outcome.routes[decision.route] ?? 0) + 1;
      versions.add(decision.policyVersion);
      const result = env.step(decision.action);
      await post(`${options.url}/v1/feedback`, { decisionId: decision.decisionId, reward: result.reward });
      outcome.return += result.reward;
      outcome.cost += result.info["cost"] ?? 0;
      outcome.breaches += result.info["slo_breach"] ?? 0;
      outcome.steps += 1;
      observation = result.observation;
      if (result.terminated || result.truncated) break;
    }
    outcome.policyVersions = [...versions];
    outcomes.push(outcome);
    done += 1;
    options.onEpisode?.(done, options.episodes);
  };

  const worker = async (): Promise<void> => {
    while (next < options.episodes && !(options.stop?.() ?? false)) {
      const e = next++;
      await runEpisode(e);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, options.episodes)) }, worker));
  outcomes.sort((a, b) => Number(a.episodeId.slice(a.episodeId.lastIndexOf("-") + 1)) - Number(b.episodeId.slice(b.episodeId.lastIndexOf("-") + 1)));
  return {
    episodes: outcomes,
    decisions: latencies.length,
    latenciesMs: Float64Array.from(latencies),
    routes,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Mean cost per day, SLO-breach rate (breaching steps / steps) and mean return of a set of episodes. */
export function summarizeEpisodes(episodes: readonly EpisodeOutcome[]): { episodes: number; costPerDay: number; sloBreachRate: number; meanReturn: number } {
  const n = episodes.length;
  if (n === 0) return { episodes: 0, costPerDay: Number.NaN, sloBreachRate: Number.NaN, meanReturn: Number.NaN };
  let cost = 0;
  let breaches = 0;
  let steps = 0;
  let total = 0;
  for (const e of episodes) {
    cost += e.cost;
    breaches += e.breaches;
    steps += e.steps;
    total += e.return;
  }
  return { episodes: n, costPerDay: cost / n, sloBreachRate: steps > 0 ? breaches / steps : 0, meanReturn: total / n };
}

/** Percentile by linear interpolation over a sorted copy. */
export function percentiles(values: Float64Array, qs: number[]): number[] {
  if (values.length === 0) return qs.map(() => Number.NaN);
  const sorted = Float64Array.from(values).sort();
  return qs.map((q) => {
    const position = q * (sorted.length - 1);
    const low = Math.floor(position);
    const high = Math.min(sorted.length - 1, low + 1);
    return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
  });
}
