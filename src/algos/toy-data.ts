/**
 * Small synthetic datasets with known answers, for tests, examples and smoke runs. Seeded; sizes are tiny.
 */
import type { ActionSpace, Transitions } from "../data/transitions.js";
import { Rng } from "../nn/index.js";

/** Transitions from columns, cut into episodes of `episodeLength` rows (no propensities, no truncations). */
export function assemble(
  observationDim: number,
  actionSpace: ActionSpace,
  observations: Float32Array,
  nextObservations: Float32Array,
  actions: Int32Array | Float32Array,
  rewards: Float32Array,
  terminals: Uint8Array,
  episodeLength: number,
): Transitions {
  const size = rewards.length;
  const episodes = Math.ceil(size / episodeLength);
  const episodeStarts = new Int32Array(episodes + 1);
  for (let e = 0; e <= episodes; e++) episodeStarts[e] = Math.min(e * episodeLength, size);
  const steps = new Int32Array(size);
  for (let i = 0; i < size; i++) steps[i] = i % episodeLength;
  return {
    size,
    observationDim,
    featureNames: Array.from({ length: observationDim }, (_, j) => `x${j}`),
    actionSpace,
    observations,
    nextObservations,
    actions,
    rewards,
    terminals,
    truncations: new Uint8Array(size),
    behaviorProb: null,
    episodeStarts,
    steps,
  };
}

/**
 * One-step episodes over 2-d observations in [-1, 1]^2 with two actions. The logged action is
 * `rule(x) = x0 > 0 ? 1 : 0` unless `onlyAction` fixes it; reward 1 when the action matches the rule, else 0.
 */
export function twoActionBandit(size: number, seed: number, onlyAction?: 0 | 1): Transitions {
  const rng = new Rng(seed);
  const observations = new Float32Array(size * 2);
  const actions = new Int32Array(size);
  const rewards = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    observations[2 * i] = 2 * rng.uniform() - 1;
    observations[2 * i + 1] = 2 * rng.uniform() - 1;
    const best = observations[2 * i] > 0 ? 1 : 0;
    actions[i] = onlyAction ?? best;
    rewards[i] = actions[i] === best ? 1 : 0;
  }
  return assemble(2, { kind: "discrete", n: 2 }, observations, new Float32Array(size * 2), actions, rewards, new Uint8Array(size).fill(1), 1);
}

/**
 * A continuous one-step task in the action box [-2, 2]: observation x in [-1, 1]^2, the best action is
 * a*(x) = 2 clip(0.8 x0 - 0.5 x1, -1, 1); the logged action is a* plus uniform noise of half-width `noise`
 * (clipped to the box) and the reward is -(a - a*)^2.
 */
export function linearContinuous(size: number, seed: number, noise = 0.5): Transitions {
  const rng = new Rng(seed);
  const observations = new Float32Array(size * 2);
  const actions = new Float32Array(size);
  const rewards = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const x0 = 2 * rng.uniform() - 1;
    const x1 = 2 * rng.uniform() - 1;
    observations[2 * i] = x0;
    observations[2 * i + 1] = x1;
    const best = bestLinearAction(x0, x1);
    actions[i] = Math.max(-2, Math.min(2, best + noise * (2 * rng.uniform() - 1)));
    rewards[i] = -((actions[i] - best) ** 2);
  }
  return assemble(
    2,
    { kind: "continuous", low: [-2], high: [2] },
    observations,
    new Float32Array(size * 2),
    actions,
    rewards,
    new Uint8Array(size).fill(1),
    1,
  );
}

export function bestLinearAction(x0: number, x1: number): number {
  return 2 * Math.max(-1, Math.min(1, 0.8 * x0 - 0.5 * x1));
}
