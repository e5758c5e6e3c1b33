import { test } from "node:test";
import assert from "node:assert/strict";
import {
  directMethod,
  doublyRobust,
  perDecisionIS,
  trajectoryIS,
  weightedDoublyRobust,
  weightedIS,
  weightedPerDecisionIS,
  type SequentialInput,
} from "./sequential.js";
import { importanceRatios } from "./weights.js";

/*
 * Two episodes, gamma = 0.5.
 *   A: rows 0,1  rewards 1, 2   behaviour 0.5, 0.5   target 1.0, 0.25  -> rho 2, 0.5 -> w 2, 1
 *   B: row 2     reward 3       behaviour 0.5        target 0.25       -> rho 0.5      -> w 0.5
 *   Q-hat = 1.5, 1, 2    V-hat = 1, 0.5, 2.5
 * Worked by hand:
 *   IS    = (W_A G_A + W_B G_B) / 2 = (1 * (1 + 0.5 * 2) + 0.5 * 3) / 2 = (2 + 1.5) / 2 = 1.75
 *   WIS   = 3.5 / (1 + 0.5) = 2.3333...
 *   PDIS  = ((2 * 1 + 0.5 * 1 * 2) + 0.5 * 3) / 2 = (3 + 1.5) / 2 = 2.25
 *   WPDIS = t0: (2*1 + 0.5*3) / (2 + 0.5) = 1.4;  t1: (1*2) / (1 + 0.5 padded) = 4/3;  1.4 + 0.5 * 4/3 = 2.0667
 *   DR    = A: [2(1 - 1.5) + 1*1] + 0.5 [1(2 - 1) + 2*0.5] = 0 + 1 = 1;  B: 0.5(3 - 2) + 2.5 = 3;  mean = 2
 *   WDR   = t0: (2(-0.5) + 0.5(1)) / 2.5 + (1*1 + 1*2.5) / 2 = -0.2 + 1.75 = 1.55
 *           t1: (1(2 - 1)) / 1.5 + (2 * 0.5) / 2.5 = 0.6667 + 0.4 = 1.0667;  1.55 + 0.5 * 1.0667 = 2.0833
 *   DM    = (1 + 2.5) / 2 = 1.75
 */
function tiny(): SequentialInput {
  return {
    rewards: new Float32Array([1, 2, 3]),
    episodeStarts: new Int32Array([0, 2, 3]),
    ratios: importanceRatios(new Float64Array([0.5, 0.5, 0.5]), new Float64Array([1, 0.25, 0.25])),
    qHat: new Float64Array([1.5, 1, 2]),
    vHat: new Float64Array([1, 0.5, 2.5]),
  };
}
const options = { gamma: 0.5 };
const close = (actual: number, expected: number, tolerance = 1e-9) =>
  assert.ok(Math.abs(actual - expected) < tolerance, `${actual} != ${expected}`);

test("sequential estimators match hand-worked values on a two-episode case", () => {
  close(trajectoryIS(tiny(), options).value, 1.75);
  close(weightedIS(tiny(), options).value, 3.5 / 1.5);
  close(perDecisionIS(tiny(), options).value, 2.25);
  close(weightedPerDecisionIS(tiny(), options).value, 1.4 + 0.5 * (4 / 3));
  close(doublyRobust(tiny(), options).value, 2);
  close(weightedDoublyRobust(tiny(), options).value, 1.55 + 0.5 * (1 / 1.5 + 1 / 2.5));
  close(directMethod(tiny(), options).value, 1.75);
});

test("clipping cuts the cumulative weight and reports the clipped fraction", () => {
  // PDIS with clip 1.5: A: 1.5*1 + 0.5*1*2 = 2.5, B: 0.5*3 = 1.5 -> 2; one of three rows clipped.
  const estimate = perDecisionIS(tiny(), { gamma: 0.5, clip: 1.5 });
  close(estimate.value, 2);
  close(estimate.clippedFraction ?? -1, 1 / 3);
  assert.equal(perDecisionIS(tiny(), options).clippedFraction, null);
});

test("on-policy data: every IS-family estimator returns the mean discounted return", () => {
  const input: SequentialInput = {
    rewards: new Float32Array([1, 1, 0, 2, 5]),
    episodeStarts: new Int32Array([0, 3, 5]),
    ratios: new Float64Array(5).fill(1),
  };
  // returns with gamma 0.9: 1 + 0.9 = 1.9 and 2 + 0.9 * 5 = 6.5
  const expected = (1.9 + 6.5) / 2;
  for (const estimator of [trajectoryIS, weightedIS, perDecisionIS, weightedPerDecisionIS]) {
    close(estimator(input, { gamma: 0.9 }).value, expected, 1e-6);
  }
  const weights = trajectoryIS(input, { gamma: 0.9 }).weights;
  assert.ok(weights);
  close(weights.effectiveSampleSize, 2);
  close(weights.maxWeight, 1);
});

test("DR with an exact model has no importance-sampling noise", () => {
  // One-step episodes, two actions, reward = action index; target always picks action 1, so the true value is 1.
  // Q-hat(s, a_logged) = reward, V-hat = 1: every episode contributes w (r - r) + 1 = 1 whatever the weights.
  const actions = [0, 1, 1, 0, 1];
  const rewards = new Float32Array(actions);
  const input: SequentialInput = {
    rewards,
    episodeStarts: new Int32Array([0, 1, 2, 3, 4, 5]),
    ratios: importanceRatios(new Float64Array(5).fill(0.5), new Float64Array(actions.map((a) => (a === 1 ? 1 : 0)))),
    qHat: Float64Array.from(actions),
    vHat: new Float64Array(5).fill(1),
  };
  close(doublyRobust(input, { gamma: 1 }).value, 1);
  close(weightedDoublyRobust(input, { gamma: 1 }).value, 1);
});

test("self-normalised pseudo-values average to the estimate and track the jackknife", () => {
  const episodes = 400;
  const starts = new Int32Array(episodes + 1);
  let seed = 12345;
  const uniform = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const lengths = Array.from({ length: episodes }, () => 2 + Math.floor(uniform() * 4));
  for (let e = 0; e < episodes; e++) starts[e + 1] = starts[e] + lengths[e];
  const rows = starts[episodes];
  const input: SequentialInput = {
    rewards: Float32Array.from({ length: rows }, () => uniform()),
    episodeStarts: starts,
    ratios: Float64Array.from({ length: rows }, () => 0.5 + uniform()),
    qHat: Float64Array.from({ length: rows }, () => uniform()),
    vHat: Float64Array.from({ length: rows }, () => uniform()),
  };
  for (const estimator of [weightedPerDecisionIS, weightedDoublyRobust, weightedIS]) {
    const estimate = estimator(input, { gamma: 0.9 });
    const pseudo = estimate.pseudoValues();
    close(pseudo.reduce((a, b) => a + b, 0) / episodes, estimate.value, 1e-9);
    if (estimate.resample.kind !== "counts") continue;
    // Jackknife pseudo-value n V - (n - 1) V_{-e}, with V_{-e} recomputed from scratch by leaving episode e out.
    const counts = new Int32Array(episodes).fill(1);
    for (const e of [0, 17, 250]) {
      counts[e] = 0;
      const leftOut = estimate.resample.evaluate(counts);
      counts[e] = 1;
      const jackknife = episodes * estimate.value - (episodes - 1) * leftOut;
      close(pseudo[e], jackknife, 0.05 * (1 + Math.abs(jackknife)));
    }
    assert.equal(estimate.resample.evaluate(new Int32Array(episodes).fill(1)), estimate.value);
  }
});

test("DR refuses to run without a model, with a coded error", () => {
  const input = tiny();
  input.qHat = null;
  assert.throws(() => doublyRobust(input, options), (error: { code?: string }) => error.code === "missing_model");
  assert.throws(() => trajectoryIS(tiny(), { gamma: 1.5 }), (error: { code?: string }) => error.code === "invalid_gamma");
});

test("warnings in words when one episode carries the weight", () => {
  const episodes = 200;
  const ratios = new Float64Array(episodes).fill(0.01);
  ratios[3] = 150;
  const input: SequentialInput = {
    rewards: new Float32Array(episodes).fill(1),
    episodeStarts: Int32Array.from({ length: episodes + 1 }, (_, i) => i),
    ratios,
  };
  const estimate = weightedIS(input, { gamma: 1 });
  assert.ok(estimate.warnings.some((w) => w.includes("below 1%")), estimate.warnings.join("; "));
  assert.ok(estimate.warnings.some((w) => w.includes("single episode")), estimate.warnings.join("; "));
});
