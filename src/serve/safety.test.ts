import { test } from "node:test";
import assert from "node:assert/strict";
import { safetySchema } from "./config.js";
import { ServeError } from "./errors.js";
import { linearPolicy } from "./policy.js";
import { compileOodGuard, compilePredicate, compileSafety } from "./safety.js";

const features = ["speed", "load"];

test("predicates combine with all/any/not", () => {
  const p = compilePredicate({ all: [{ feature: "speed", op: ">", value: 1 }, { not: { feature: "load", op: ">=", value: 5 } }] }, features);
  assert.equal(p(Float32Array.from([2, 4])), true);
  assert.equal(p(Float32Array.from([2, 5])), false);
  assert.equal(p(Float32Array.from([1, 0])), false);
  const q = compilePredicate({ any: [{ feature: "speed", op: "==", value: 0 }, { feature: "load", op: "<", value: 0 }] }, features);
  assert.equal(q(Float32Array.from([0, 3])), true);
  assert.equal(q(Float32Array.from([1, 3])), false);
  assert.throws(() => compilePredicate({ feature: "nope", op: "<", value: 0 }, features), (e: unknown) => e instanceof ServeError && e.code === "invalid_config");
});

test("allowed action sets intersect when several rules hold", () => {
  const safety = compileSafety(
    safetySchema.parse({
      allowedActions: [
        { when: { feature: "speed", op: ">", value: 10 }, actions: [0, 1] },
        { when: { feature: "load", op: ">", value: 0.5 }, actions: [1, 2] },
      ],
    }),
    features,
    { kind: "discrete", n: 3 },
  );
  const allowed = new Uint8Array(3);
  assert.equal(safety.restrictDiscrete(Float32Array.from([0, 0]), allowed), false);
  assert.equal(safety.restrictDiscrete(Float32Array.from([20, 0]), allowed), true);
  assert.deepEqual(Array.from(allowed), [1, 1, 0]);
  assert.equal(safety.restrictDiscrete(Float32Array.from([20, 1]), allowed), true);
  assert.deepEqual(Array.from(allowed), [0, 1, 0]);
});

test("continuous box is the bounds intersected with the rate limit around the last action", () => {
  const safety = compileSafety(
    safetySchema.parse({ bounds: { low: [-1], high: [1] }, rateLimit: { maxDelta: [0.25] } }),
    features,
    { kind: "continuous", low: [-2], high: [2] },
  );
  const low = new Float64Array(1);
  const high = new Float64Array(1);
  assert.equal(safety.continuousBox("k", low, high), true);
  assert.deepEqual([low[0], high[0]], [-1, 1]);
  safety.remember("k", Float64Array.from([0.9]));
  safety.continuousBox("k", low, high);
  assert.ok(Math.abs(low[0] - 0.65) < 1e-12);
  assert.equal(high[0], 1);
  safety.continuousBox("other", low, high);
  assert.deepEqual([low[0], high[0]], [-1, 1]);
});

test("rules that do not fit the action space are refused", () => {
  assert.throws(() => compileSafety(safetySchema.parse({ bounds: { low: [0], high: [1] } }), features, { kind: "discrete", n: 2 }));
  assert.throws(() => compileSafety(safetySchema.parse({ allowedActions: [{ actions: [5] }] }), features, { kind: "discrete", n: 2 }));
  assert.throws(() => compileSafety(safetySchema.parse({ bounds: { low: [0], high: [1] } }), features, { kind: "continuous", low: [0, 0], high: [1, 1] }));
});

test("OOD guard checks ranges (with margin) and the whitened distance", () => {
  const policy = linearPolicy({
    version: "p",
    actionSpace: { kind: "discrete", n: 2 },
    featureNames: features,
    weights: [1, 0, 0, 1],
    scaler: { mean: [0, 10], std: [1, 2] },
    support: { min: [-3, 4], max: [3, 16], whitening: { mean: [0, 0], matrix: [1, 1], threshold: 2 } },
  });
  const rangesOnly = compileOodGuard(policy, { ranges: true, margin: 0, distance: false })!;
  assert.equal(rangesOnly(Float32Array.from([0, 10])), null);
  assert.equal(rangesOnly(Float32Array.from([3.5, 10])), "range:speed");
  assert.equal(rangesOnly(Float32Array.from([0, 17])), "range:load");
  assert.equal(rangesOnly(Float32Array.from([NaN, 10])), "range:speed");
  const widened = compileOodGuard(policy, { ranges: true, margin: 0.1, distance: false })!;
  assert.equal(widened(Float32Array.from([3.5, 10])), null); // width 6, margin 0.6
  const distance = compileOodGuard(policy, { ranges: false, margin: 0, distance: true })!;
  // standardised (1.5, 1) has norm sqrt(3.25) = 1.80 < 2; (1.5, 1.5) has norm 2.12 > 2
  assert.equal(distance(Float32Array.from([1.5, 12])), null);
  assert.equal(distance(Float32Array.from([1.5, 13])), "distance");
  const full = compileOodGuard(
    { ...policy, support: { min: [-3, 4], max: [3, 16], whitening: { mean: [0, 0], matrix: [1, 0, 1, 1], threshold: 2 } } },
    { ranges: false, margin: 0, distance: true },
  )!;
  // rows: (z0), (z0 + z1): z = (1, 1) -> (1, 2), norm sqrt(5) > 2; z = (1, 0) -> (1, 1), norm 1.41
  assert.equal(full(Float32Array.from([1, 12])), "distance");
  assert.equal(full(Float32Array.from([1, 10])), null);
});
