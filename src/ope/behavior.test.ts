import { test } from "node:test";
import assert from "node:assert/strict";
import type { Transitions } from "../data/transitions.js";
import { estimateBehaviorPolicy } from "./behavior.js";
import { Rng } from "../random/index.js";

function logs(size: number, actions: Int32Array | Float32Array, observations: Float32Array, space: Transitions["actionSpace"]): Transitions {
  return {
    size,
    observationDim: 1,
    featureNames: ["x"],
    actionSpace: space,
    observations,
    nextObservations: new Float32Array(size),
    actions,
    rewards: new Float32Array(size),
    terminals: new Uint8Array(size).fill(1),
    truncations: new Uint8Array(size),
    behaviorProb: null,
    episodeStarts: Int32Array.from({ length: size + 1 }, (_, i) => i),
    steps: new Int32Array(size),
  };
}

test("behaviour cloning recovers a state-dependent discrete policy", () => {
  // P(a = 1 | x) = 0.9 when x > 0, 0.2 otherwise.
  const random = new Rng(1);
  const size = 4000;
  const observations = Float32Array.from({ length: size }, () => (random.uniform() < 0.5 ? 1 : -1));
  const actions = Int32Array.from(observations, (x) => (random.uniform() < (x > 0 ? 0.9 : 0.2) ? 1 : 0));
  const fitted = estimateBehaviorPolicy(logs(size, actions, observations, { kind: "discrete", n: 2 }), { iterations: 400 });
  for (let i = 0; i < 50; i++) {
    const truth = observations[i] > 0 ? (actions[i] === 1 ? 0.9 : 0.1) : actions[i] === 1 ? 0.2 : 0.8;
    assert.ok(Math.abs(fitted.behaviorProb[i] - truth) < 0.05, `row ${i}: ${fitted.behaviorProb[i]} vs ${truth}`);
  }
  assert.match(fitted.label, /behaviour cloning/);
});

test("behaviour cloning fits a linear-Gaussian continuous policy", () => {
  // a = 2x + N(0, 0.5^2): log-density of the logged action = -0.5 log(2 pi 0.25) - (a - 2x)^2 / 0.5.
  const random = new Rng(2);
  const size = 4000;
  const observations = Float32Array.from({ length: size }, () => random.uniform() * 2 - 1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
  const actions = Float32Array.from(observations, (x) => 2 * x + 0.5 * normal());
  const fitted = estimateBehaviorPolicy(logs(size, actions, observations, { kind: "continuous", low: [-5], high: [5] }));
  // Sampling error of the fitted variance (about 2% with 4000 rows) grows with the squared residual in the tails.
  let meanError = 0;
  for (let i = 0; i < size; i++) {
    const residual = actions[i] - 2 * observations[i];
    const truth = -0.5 * Math.log(2 * Math.PI * 0.25) - (residual * residual) / 0.5;
    const error = Math.abs(fitted.behaviorProb[i] - truth);
    assert.ok(error < 0.05 + 0.05 * (residual / 0.5) ** 2, `row ${i}: ${fitted.behaviorProb[i]} vs ${truth}`);
    meanError += error / size;
  }
  assert.ok(meanError < 0.05, `mean error ${meanError}`);
});
