import { test } from "node:test";
import assert from "node:assert/strict";
import { importanceRatios, summarizeWeights } from "./weights.js";

test("ratios from probabilities and from log-densities", () => {
  assert.deepEqual(Array.from(importanceRatios(new Float64Array([0.5, 0.25]), new Float64Array([1, 0]))), [2, 0]);
  const fromLogs = importanceRatios(new Float64Array([Math.log(0.5), 0]), new Float64Array([0, -Infinity]), "logDensity");
  assert.ok(Math.abs(fromLogs[0] - 2) < 1e-12);
  assert.equal(fromLogs[1], 0);
});

test("impossible propensities are coded errors naming the row", () => {
  const check = (code: string, row: number) => (error: { code?: string; details?: { row?: number } }) => error.code === code && error.details?.row === row;
  assert.throws(() => importanceRatios(new Float64Array([0.5, 0]), new Float64Array([0.5, 0.5])), check("invalid_behavior_probability", 1));
  assert.throws(() => importanceRatios(new Float64Array([0.5]), new Float64Array([1.5])), check("invalid_target_probability", 0));
  assert.throws(() => importanceRatios(new Float64Array([NaN]), new Float64Array([0]), "logDensity"), check("invalid_behavior_probability", 0));
  assert.throws(() => importanceRatios(new Float64Array([0.5]), new Float64Array([0.5, 0.5])), (error: { code?: string }) => error.code === "length_mismatch");
});

test("Kish effective sample size by hand", () => {
  // weights 1, 1, 2: (4)^2 / (1 + 1 + 4) = 16/6; max share 2/4; mean 4/3.
  const summary = summarizeWeights(new Float64Array([1, 1, 2]));
  assert.ok(Math.abs(summary.effectiveSampleSize - 16 / 6) < 1e-12);
  assert.equal(summary.maxWeightShare, 0.5);
  assert.ok(Math.abs(summary.meanWeight - 4 / 3) < 1e-12);
  assert.equal(summarizeWeights(new Float64Array([0, 3])).zeroFraction, 0.5);
});
