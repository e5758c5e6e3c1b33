import type { Action } from "./env.js";

/**
 * Anything that chooses actions from observations. Trained policies (from the algorithms or a loaded artifact)
 * implement this; `act` may return a promise (e.g. an ONNX session). Optional `reset(seed)` runs before each episode.
 */
export interface Policy {
  act(observation: Float32Array): Action | Promise<Action>;
  reset?(seed: number): void;
}

/**
 * A deterministic, hand-written controller for one env. Discrete controllers also expose a preference score per
 * action (higher is better; `act` is the argmax) so a softmax behaviour policy can be built over them.
 */
export interface Controller {
  readonly name: string;
  act(observation: Float32Array): Action;
  scores?(observation: Float32Array, out: Float64Array): void;
}

/** Scores that prefer the controller's own action and fall off with distance from it: -|a - a*|. */
export function distanceScores(preferred: number, out: Float64Array): void {
  for (let a = 0; a < out.length; a++) out[a] = -Math.abs(a - preferred);
}
