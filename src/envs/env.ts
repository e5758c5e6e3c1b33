import type { ActionSpace } from "../data/transitions.js";
import { EnvError } from "./errors.js";

/**
 * The simulator contract, close to Gymnasium's: `reset(seed)` starts an episode and returns its first observation,
 * `step(action)` advances one decision. Everything random inside an env flows from the reset seed, so the same seed
 * and the same actions give the same trajectory, bit for bit.
 */

/** Discrete actions are integers in [0, n); continuous actions are vectors inside the action box. */
export type Action = number | ArrayLike<number>;

export interface ObservationSpace {
  dim: number;
  /** Column names used when the env's data is written out, length dim. */
  names: string[];
  /** Bounds of each feature (may be +-Infinity where unbounded). */
  low: number[];
  high: number[];
}

export interface StepResult {
  /** A fresh array owned by the caller. */
  observation: Float32Array;
  reward: number;
  /** The episode reached a true terminal state: no bootstrapping beyond it. */
  terminated: boolean;
  /** The episode was cut off (time limit); the state is not terminal. */
  truncated: boolean;
  /** Numeric side information named by `env.infoFields` (empty for the classic-control tasks). */
  info: Readonly<Record<string, number>>;
}

export interface Env {
  /** Registry name, e.g. "CartPole-v1" or "autoscaling". */
  readonly name: string;
  readonly observationSpace: ObservationSpace;
  readonly actionSpace: ActionSpace;
  /** Time limit: the step at which `truncated` becomes true. */
  readonly maxEpisodeSteps: number;
  /** Bounds on a single step's reward (for dataset schemas and validation). */
  readonly rewardRange: { min: number; max: number };
  /** Names of the numeric `info` entries every step carries; written as metadata columns. */
  readonly infoFields: readonly string[];
  reset(seed: number): Float32Array;
  step(action: Action): StepResult;
  /**
   * Per-episode domain figures from the sums of each info field over an episode (e.g. SLO-breach rate and cost
   * for autoscaling). Absent: the sums themselves are the figures.
   */
  episodeFigures?(infoSums: Readonly<Record<string, number>>, steps: number): Record<string, number>;
}

export const NO_INFO: Readonly<Record<string, number>> = Object.freeze({});

/** The integer action of a discrete env; rejects non-integers and out-of-range values. */
export function discreteAction(action: Action, n: number, envName: string): number {
  const value = typeof action === "number" ? action : action.length === 1 ? action[0]! : Number.NaN;
  if (!Number.isInteger(value) || value < 0 || value >= n) {
    throw new EnvError("invalid_action", `${envName} takes an integer action in [0, ${n}), got ${String(action)}`, { env: envName, action });
  }
  return value;
}

/** The first component of a continuous action (NaN rejected). */
export function continuousAction(action: Action, index: number, envName: string): number {
  const value = typeof action === "number" ? (index === 0 ? action : Number.NaN) : action[index];
  if (value === undefined || Number.isNaN(value)) {
    throw new EnvError("invalid_action", `${envName} needs a numeric action component ${index}, got ${String(action)}`, { env: envName, action });
  }
  return value;
}
