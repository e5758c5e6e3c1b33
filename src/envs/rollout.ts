/**
 * Online evaluation: run a policy in a simulator for a number of episodes and report the mean return with its
 * 95% confidence interval, episode lengths and the env's domain figures. This is the ground truth that
 * off-policy estimates are judged against. Episode e resets the env with deriveSeed(seed, 2e) and draws the
 * policy's randomness from deriveSeed(seed, 2e + 1), so results do not depend on how episodes are scheduled.
 */
import type { BehaviorPolicy } from "./behavior.js";
import type { Action, Env } from "./env.js";
import { EnvError } from "./errors.js";
import type { Controller, Policy } from "./policy.js";
import { deriveSeed, Rng } from "../random/index.js";

export interface Interval {
  mean: number;
  /** Two-sided 95% Student-t interval for the mean over episodes. */
  ci95: [number, number];
}

export interface RolloutResult {
  env: string;
  episodes: number;
  seed: number;
  meanReturn: number;
  ci95: [number, number];
  stdReturn: number;
  returns: number[];
  lengths: number[];
  meanLength: number;
  /** With `gamma`: the mean discounted return sum_t gamma^t r_t from the start state, with its interval. */
  discounted?: Interval & { gamma: number };
  /** Per-episode domain figures (e.g. slo_breach_rate, cost_per_day), averaged over episodes. */
  figures: Record<string, Interval>;
}

export interface RolloutOptions {
  episodes: number;
  seed: number;
  /** Discount factor in [0, 1] for an additional discounted-return summary (what most OPE estimators target). */
  gamma?: number;
  /** Called after each episode (progress reporting). */
  onEpisode?: (episode: number, episodeReturn: number) => void;
}

const T_975 = [
  Number.NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093,
  2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The 97.5% quantile of Student's t with df degrees of freedom (table to 30, Cornish-Fisher expansion above). */
export function tQuantile975(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T_975[Math.floor(df)]!;
  const z = 1.959963984540054;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2) + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3);
}

/** Mean and 95% t-interval; a single value gets a degenerate interval [x, x]. */
export function meanInterval(values: readonly number[]): Interval & { std: number } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, ci95: [Number.NaN, Number.NaN], std: Number.NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, ci95: [mean, mean], std: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  const std = Math.sqrt(variance);
  const half = (tQuantile975(n - 1) * std) / Math.sqrt(n);
  return { mean, ci95: [mean - half, mean + half], std };
}

function isBehavior(policy: object): policy is BehaviorPolicy {
  return "sample" in policy && typeof (policy as BehaviorPolicy).sample === "function" && "spec" in policy;
}

function isThenable(value: unknown): value is Promise<Action> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** Runs any policy (a trained policy, a controller or a behaviour policy) online and summarises its returns. */
export async function rollout(env: Env, policy: Policy | Controller | BehaviorPolicy, options: RolloutOptions): Promise<RolloutResult> {
  if (!Number.isInteger(options.episodes) || options.episodes < 1) {
    throw new EnvError("invalid_episodes", `episodes must be a positive integer, got ${options.episodes}`, { env: env.name });
  }
  const gamma = options.gamma;
  if (gamma !== undefined && !(gamma >= 0 && gamma <= 1)) {
    throw new EnvError("invalid_gamma", `gamma must be in [0, 1], got ${gamma}`, { env: env.name });
  }
  const returns: number[] = [];
  const discountedReturns: number[] = [];
  const lengths: number[] = [];
  const perEpisodeFigures: Record<string, number[]> = {};
  const rng = new Rng(0);
  const behavior = isBehavior(policy) ? policy : null;
  for (let e = 0; e < options.episodes; e++) {
    let observation = env.reset(deriveSeed(options.seed, 2 * e));
    const policySeed = deriveSeed(options.seed, 2 * e + 1);
    rng.seed(policySeed);
    if (!behavior && "reset" in policy && typeof policy.reset === "function") policy.reset(policySeed);
    const sums: Record<string, number> = {};
    for (const field of env.infoFields) sums[field] = 0;
    let episodeReturn = 0;
    let discountedReturn = 0;
    let discount = 1;
    let steps = 0;
    for (;;) {
      let action: Action;
      if (behavior) action = behavior.sample(observation, rng).action;
      else {
        const chosen = (policy as Policy).act(observation);
        action = isThenable(chosen) ? await chosen : chosen;
      }
      const result = env.step(action);
      episodeReturn += result.reward;
      discountedReturn += discount * result.reward;
      discount *= gamma ?? 1;
      steps++;
      for (const field of env.infoFields) sums[field]! += result.info[field] ?? 0;
      observation = result.observation;
      if (result.terminated || result.truncated) break;
    }
    returns.push(episodeReturn);
    discountedReturns.push(discountedReturn);
    lengths.push(steps);
    const figures = env.episodeFigures ? env.episodeFigures(sums, steps) : sums;
    for (const [name, value] of Object.entries(figures)) (perEpisodeFigures[name] ??= []).push(value);
    options.onEpisode?.(e, episodeReturn);
  }
  const summary = meanInterval(returns);
  const figures: Record<string, Interval> = {};
  for (const [name, values] of Object.entries(perEpisodeFigures)) {
    const { mean, ci95 } = meanInterval(values);
    figures[name] = { mean, ci95 };
  }
  const discounted = gamma === undefined ? undefined : (({ mean, ci95 }) => ({ mean, ci95, gamma }))(meanInterval(discountedReturns));
  return {
    env: env.name,
    episodes: options.episodes,
    seed: options.seed,
    meanReturn: summary.mean,
    ci95: summary.ci95,
    stdReturn: summary.std,
    returns,
    lengths,
    meanLength: lengths.reduce((a, b) => a + b, 0) / lengths.length,
    ...(discounted ? { discounted } : {}),
    figures,
  };
}
