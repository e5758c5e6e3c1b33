import { test } from "node:test";
import assert from "node:assert/strict";
import type { Transitions } from "../data/transitions.js";
import type { TargetPolicy } from "./evaluate.js";
import { evaluatePolicy } from "./evaluate.js";
import { fitFqe } from "./fqe.js";
import { Rng } from "../random/index.js";

/*
 * Two-step episodes: s0 has feature 0, s1 has feature 1 (terminal after s1). Two actions, reward = action index,
 * behaviour uniform. Target takes action 1 with probability 0.8. With gamma = 0.5, by hand:
 *   Q(s1, a) = a,  V(s1) = 0.8;  Q(s0, a) = a + 0.5 * 0.8 = a + 0.4,  V(s0) = 0.8 + 0.4 = 1.2.
 */
function twoStepLogs(episodes: number): Transitions {
  const random = new Rng(3);
  const size = 2 * episodes;
  const actions = Int32Array.from({ length: size }, () => (random.uniform() < 0.5 ? 1 : 0));
  const observations = Float32Array.from({ length: size }, (_, i) => i % 2);
  const nextObservations = Float32Array.from({ length: size }, (_, i) => (i % 2 === 0 ? 1 : 0));
  return {
    size,
    observationDim: 1,
    featureNames: ["phase"],
    actionSpace: { kind: "discrete", n: 2 },
    observations,
    nextObservations,
    actions,
    rewards: Float32Array.from(actions),
    terminals: Uint8Array.from({ length: size }, (_, i) => i % 2),
    truncations: new Uint8Array(size),
    behaviorProb: new Float64Array(size).fill(0.5),
    episodeStarts: Int32Array.from({ length: episodes + 1 }, (_, e) => 2 * e),
    steps: Int32Array.from({ length: size }, (_, i) => i % 2),
  };
}

const target: TargetPolicy = {
  async actionProbabilitiesBatch(observations) {
    const out = new Float64Array(observations.length * 2);
    for (let i = 0; i < observations.length; i++) {
      out[2 * i] = 0.2;
      out[2 * i + 1] = 0.8;
    }
    return out;
  },
};

test("discrete FQE recovers hand-computed Q and V on a two-step chain, and feeds DM/DR", async () => {
  const transitions = twoStepLogs(200);
  const fit = await fitFqe(transitions, target, { gamma: 0.5, steps: 600, batchSize: 64, learningRate: 3e-3, hidden: [32], seed: 1 });
  for (let i = 0; i < 4; i++) {
    const phase = transitions.observations[i];
    const action = (transitions.actions as Int32Array)[i];
    const expectedQ = phase === 1 ? action : action + 0.4;
    const expectedV = phase === 1 ? 0.8 : 1.2;
    assert.ok(Math.abs(fit.qHat[i] - expectedQ) < 0.08, `row ${i}: Q ${fit.qHat[i]} vs ${expectedQ}`);
    assert.ok(Math.abs(fit.vHat[i] - expectedV) < 0.08, `row ${i}: V ${fit.vHat[i]} vs ${expectedV}`);
  }
  const report = await evaluatePolicy({
    transitions,
    policy: target,
    estimators: ["fqe", "dr", "wdr"],
    gamma: 0.5,
    fitModel: async () => fit,
  });
  for (const estimate of report.estimates) assert.ok(Math.abs(estimate.value - 1.2) < 0.1, `${estimate.estimator} ${estimate.value}`);
  assert.match(report.model ?? "", /^FQE/);
});

test("a cut-off last step without a logged successor is not bootstrapped from its zero placeholder", async () => {
  // The same chain, but episodes end by truncation and the logs carry no next observations: the loader leaves a
  // zero row there, which here looks exactly like s0. Bootstrapping from it would give V(s1) = V(s0) = 1.6;
  // the cut-off return stops at s1, so the hand-computed values above hold.
  const logs = twoStepLogs(200);
  const cut = Uint8Array.from({ length: logs.size }, (_, i) => i % 2);
  const nextObservations = Float32Array.from(logs.nextObservations, (v, i) => (i % 2 === 1 ? 0 : v));
  const transitions = { ...logs, nextObservations, terminals: new Uint8Array(logs.size), truncations: cut, nextObservationMissing: cut };
  const fit = await fitFqe(transitions, target, { gamma: 0.5, steps: 600, batchSize: 64, learningRate: 3e-3, hidden: [32], seed: 1 });
  for (let i = 0; i < 4; i++) {
    const expectedV = transitions.observations[i] === 1 ? 0.8 : 1.2;
    assert.ok(Math.abs(fit.vHat[i] - expectedV) < 0.08, `row ${i}: V ${fit.vHat[i]} vs ${expectedV}`);
  }
});

test("continuous FQE: one-step reward = action, deterministic target 0.5", async () => {
  const random = new Rng(4);
  const size = 300;
  const actions = Float32Array.from({ length: size }, () => 2 * random.uniform() - 1);
  const transitions: Transitions = {
    size,
    observationDim: 1,
    featureNames: ["x"],
    actionSpace: { kind: "continuous", low: [-1], high: [1] },
    observations: Float32Array.from({ length: size }, () => random.uniform()),
    nextObservations: new Float32Array(size),
    actions,
    rewards: Float32Array.from(actions),
    terminals: new Uint8Array(size).fill(1),
    truncations: new Uint8Array(size),
    behaviorProb: new Float64Array(size).fill(Math.log(0.5)),
    episodeStarts: Int32Array.from({ length: size + 1 }, (_, i) => i),
    steps: new Int32Array(size),
  };
  const policy: TargetPolicy = { actBatch: async (observations) => new Float32Array(observations.length).fill(0.5) };
  const fit = await fitFqe(transitions, policy, { gamma: 0.9, steps: 600, batchSize: 64, learningRate: 3e-3, hidden: [32], seed: 2, actionSamples: 1 });
  let vError = 0;
  let qError = 0;
  for (let i = 0; i < size; i++) {
    vError = Math.max(vError, Math.abs(fit.vHat[i] - 0.5));
    qError += Math.abs(fit.qHat[i] - actions[i]) / size;
  }
  assert.ok(vError < 0.1, `max |V - 0.5| = ${vError}`);
  assert.ok(qError < 0.08, `mean |Q - a| = ${qError}`);
});
