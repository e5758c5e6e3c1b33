import { test } from "node:test";
import assert from "node:assert/strict";
import { boxProbability, discreteDistribution, gaussianLogDensity, normalCdf, sampleDiscrete, sampleGaussian } from "./exploration.js";
import { Rng } from "../random/index.js";
import { stableUnit } from "./routing-hash.js";

test("greedy puts all mass on the best action", () => {
  assert.deepEqual(Array.from(discreteDistribution([0.1, 2, -1], { kind: "greedy" })), [0, 1, 0]);
});

test("epsilon-greedy spreads epsilon uniformly", () => {
  const probs = discreteDistribution([0.1, 2, -1, 0], { kind: "epsilon", epsilon: 0.2 });
  // by hand: 0.2 / 4 = 0.05 each, greedy gets 0.05 + 0.8
  const expected = [0.05, 0.85, 0.05, 0.05];
  for (let a = 0; a < 4; a++) assert.ok(Math.abs(probs[a] - expected[a]) < 1e-12);
});

test("softmax with temperature matches the textbook formula", () => {
  const scores = [1, 2, 3];
  const temperature = 0.5;
  const probs = discreteDistribution(scores, { kind: "softmax", temperature });
  const z = scores.map((s) => Math.exp(s / temperature));
  const total = z.reduce((a, b) => a + b, 0);
  for (let a = 0; a < 3; a++) assert.ok(Math.abs(probs[a] - z[a] / total) < 1e-12);
});

test("sampling frequencies follow the distribution, and the same seed repeats", () => {
  const probs = Float64Array.from([0.1, 0.6, 0.3]);
  const random = new Rng(7);
  const counts = [0, 0, 0];
  const draws = 30_000;
  const first: number[] = [];
  for (let i = 0; i < draws; i++) {
    const a = sampleDiscrete(probs, random);
    counts[a] += 1;
    if (i < 20) first.push(a);
  }
  for (let a = 0; a < 3; a++) assert.ok(Math.abs(counts[a] / draws - probs[a]) < 0.015, `action ${a}: ${counts[a] / draws}`);
  const again = new Rng(7);
  assert.deepEqual(first, Array.from({ length: 20 }, () => sampleDiscrete(probs, again)));
});

test("gaussian noise has the configured spread and the log-density is exact", () => {
  const random = new Rng(3);
  const mean = [1, -2];
  const std = Float64Array.from([0.5, 2]);
  let sum = 0;
  let sumSq = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const a = sampleGaussian(mean, std, random);
    sum += a[1];
    sumSq += a[1] * a[1];
  }
  const sampleMean = sum / n;
  assert.ok(Math.abs(sampleMean + 2) < 0.06);
  assert.ok(Math.abs(Math.sqrt(sumSq / n - sampleMean * sampleMean) - 2) < 0.06);
  // density of N(1, 0.5) at 1.5 times N(-2, 2) at -2, by hand
  const expected = Math.log((1 / (0.5 * Math.sqrt(2 * Math.PI))) * Math.exp(-0.5)) + Math.log(1 / (2 * Math.sqrt(2 * Math.PI)));
  assert.ok(Math.abs(gaussianLogDensity([1.5, -2], mean, std) - expected) < 1e-12);
});

test("normal CDF matches table values", () => {
  assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-7);
  assert.ok(Math.abs(normalCdf(1.959964) - 0.975) < 1e-6);
  assert.ok(Math.abs(normalCdf(-1) - 0.158655) < 1e-6);
});

test("box probability agrees with Monte Carlo", () => {
  const mean = [0, 1];
  const std = Float64Array.from([1, 0.5]);
  const low = Float64Array.from([-0.5, 0.8]);
  const high = Float64Array.from([2, 10]);
  const random = new Rng(11);
  let inside = 0;
  const n = 40_000;
  for (let i = 0; i < n; i++) {
    const a = sampleGaussian(mean, std, random);
    if (a[0] >= low[0] && a[0] <= high[0] && a[1] >= low[1] && a[1] <= high[1]) inside += 1;
  }
  assert.ok(Math.abs(boxProbability(mean, std, low, high) - inside / n) < 0.01);
  assert.equal(boxProbability([5], new Float64Array(1), Float64Array.from([0]), Float64Array.from([1])), 0);
  assert.equal(boxProbability([0.5], new Float64Array(1), Float64Array.from([0]), Float64Array.from([1])), 1);
});

test("stable hash splits keys uniformly and is deterministic", () => {
  let below = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) if (stableUnit(`user-${i}`, "deployment") < 0.3) below += 1;
  assert.ok(Math.abs(below / n - 0.3) < 0.015);
  assert.equal(stableUnit("abc", "x"), stableUnit("abc", "x"));
  assert.notEqual(stableUnit("abc", "x"), stableUnit("abc", "y"));
});

test("linear policy standardises with its scaler before the weights", async () => {
  const { linearPolicy } = await import("./policy.js");
  const policy = linearPolicy({
    version: "v",
    actionSpace: { kind: "discrete", n: 2 },
    featureNames: ["a", "b"],
    weights: [1, 0, 0, 2],
    bias: [0.5, 0],
    scaler: { mean: [1, 2], std: [2, 4] },
  });
  const output = policy.evaluate(Float32Array.from([5, 6]));
  // z = ((5 - 1) / 2, (6 - 2) / 4) = (2, 1); scores = (2 + 0.5, 2 * 1)
  assert.deepEqual(Array.from((output as { scores: Float64Array }).scores), [2.5, 2]);
});
