import { actionDim, type Transitions } from "../data/transitions.js";
import { OpeError } from "./errors.js";
import type { BootstrapResult } from "./intervals.js";
import { Rng, streamSeed } from "../random/index.js";

/**
 * Model-refit bootstrap for model-based estimators (FQE/DM, DR, WDR, bandit DM/DR): each resample of episodes gets
 * its own Q-hat/V-hat, fitted on that resample only, so the interval includes the model's variance. The ordinary
 * episode bootstrap keeps one model fitted on all the data and is too narrow for these estimators. Costs one model
 * fit per resample, shared by every model-based estimator of the call.
 */

/** The drawn episodes (with repetition) as a new dataset, rows in draw order; `rows` maps new rows to original rows. */
export function resampleEpisodes(transitions: Transitions, episodes: Int32Array): { transitions: Transitions; rows: Int32Array } {
  const starts = transitions.episodeStarts;
  const count = starts.length - 1;
  let size = 0;
  for (const e of episodes) {
    if (e < 0 || e >= count) throw new OpeError("invalid_resample", `episode ${e} does not exist (${count} episodes)`, { episode: e });
    size += starts[e + 1] - starts[e];
  }
  const rows = new Int32Array(size);
  const episodeStarts = new Int32Array(episodes.length + 1);
  let cursor = 0;
  episodes.forEach((e, k) => {
    episodeStarts[k] = cursor;
    for (let i = starts[e]; i < starts[e + 1]; i++) rows[cursor++] = i;
  });
  episodeStarts[episodes.length] = size;
  const dim = transitions.observationDim;
  const width = actionDim(transitions.actionSpace);
  const gatherRows = <T extends Float32Array | Float64Array | Int32Array | Uint8Array>(source: T, per: number, make: (n: number) => T): T => {
    const out = make(size * per);
    for (let r = 0; r < size; r++) out.set(source.subarray(rows[r] * per, (rows[r] + 1) * per), r * per);
    return out;
  };
  const actions = transitions.actions instanceof Int32Array
    ? gatherRows(transitions.actions, 1, (n) => new Int32Array(n))
    : gatherRows(transitions.actions, width, (n) => new Float32Array(n));
  return {
    rows,
    transitions: {
      ...transitions,
      size,
      observations: gatherRows(transitions.observations, dim, (n) => new Float32Array(n)),
      nextObservations: gatherRows(transitions.nextObservations, dim, (n) => new Float32Array(n)),
      actions,
      rewards: gatherRows(transitions.rewards, 1, (n) => new Float32Array(n)),
      terminals: gatherRows(transitions.terminals, 1, (n) => new Uint8Array(n)),
      truncations: gatherRows(transitions.truncations, 1, (n) => new Uint8Array(n)),
      behaviorProb: transitions.behaviorProb ? gatherRows(transitions.behaviorProb, 1, (n) => new Float64Array(n)) : null,
      episodeStarts,
      steps: gatherRows(transitions.steps, 1, (n) => new Int32Array(n)),
    },
  };
}

export interface RefitBootstrapOptions {
  resamples: number;
  seed: number;
  level?: number;
}

/**
 * For each resample: draw episodes, `refit(resampled, rows)` returns one value per estimator (the caller fits the
 * model on the resample and runs the estimators on it). Returns percentile intervals per estimator.
 */
export async function refitBootstrap(
  transitions: Transitions,
  estimators: readonly string[],
  refit: (resampled: Transitions, rows: Int32Array) => Promise<Map<string, number>>,
  options: RefitBootstrapOptions,
): Promise<Map<string, BootstrapResult>> {
  const { resamples, seed } = options;
  const level = options.level ?? 0.95;
  if (!(Number.isInteger(resamples) && resamples >= 2)) {
    throw new OpeError("invalid_bootstrap", `model-refit bootstrap resamples must be an integer >= 2, got ${resamples}`);
  }
  if (!(level > 0 && level < 1)) throw new OpeError("invalid_level", `interval level must be in (0, 1), got ${level}`);
  const episodes = transitions.episodeStarts.length - 1;
  if (episodes < 1) throw new OpeError("no_episodes", "the model-refit bootstrap needs at least one episode");
  const random = new Rng(streamSeed(seed, "model-refit"));
  const draws = new Int32Array(episodes);
  const replicates = new Map(estimators.map((name) => [name, new Float64Array(resamples)]));
  for (let b = 0; b < resamples; b++) {
    random.fillInts(episodes, draws);
    const resampled = resampleEpisodes(transitions, draws);
    const values = await refit(resampled.transitions, resampled.rows);
    for (const name of estimators) replicates.get(name)![b] = values.get(name) ?? Number.NaN;
  }
  const method = `percentile bootstrap over episodes, model refitted on each resample (B=${resamples}, seed=${seed})`;
  const out = new Map<string, BootstrapResult>();
  for (const [name, values] of replicates) {
    const sorted = values.sort();
    out.set(name, { lower: quantile(sorted, (1 - level) / 2), upper: quantile(sorted, (1 + level) / 2), level, method, resamples, seed, replicates: sorted });
  }
  return out;
}

function quantile(sorted: Float64Array, probability: number): number {
  const position = probability * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
}
