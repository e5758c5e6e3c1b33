import { test } from "node:test";
import assert from "node:assert/strict";
import { RegistryError } from "./errors.js";
import { assertNoSensitiveFeatures, sensitiveFeaturesOf, stripSensitive } from "./sensitive.js";

test("sensitive flags are read from a dataset manifest's schema", () => {
  const manifest = { schema: { features: [{ name: "age" }, { name: "zip", sensitive: true }, { name: "income", sensitive: true }] } };
  assert.deepEqual(sensitiveFeaturesOf(manifest), ["zip", "income"]);
  assert.deepEqual(sensitiveFeaturesOf({ features: [{ name: "a", sensitive: false }] }), []);
  assert.deepEqual(sensitiveFeaturesOf(undefined), []);
  // The dataset store's form: a record keyed by feature name.
  assert.deepEqual(sensitiveFeaturesOf({ schema: { features: { age: {}, zip: { sensitive: true }, tenure: { sensitive: false } } } }), ["zip"]);
});

test("stripSensitive drops sensitive keys and the matching columns of per-feature arrays", () => {
  const exported = {
    observation: {
      featureNames: ["age", "zip", "tenure"],
      scaler: { mean: [1, 2, 3], std: [4, 5, 6] },
      whitening: { matrix: [11, 12, 13, 21, 22, 23, 31, 32, 33] },
    },
    lastDecision: { features: { age: 30, zip: "94110", tenure: 2 }, action: 1 },
    note: ["zip", "kept as a value, not a key"],
  };
  const stripped = stripSensitive(exported, ["zip"]);
  // Column 1 (zip) removed by hand: from the vectors position 1, from the 3x3 matrix row 1 and column 1.
  assert.deepEqual(stripped, {
    observation: {
      featureNames: ["age", "tenure"],
      scaler: { mean: [1, 3], std: [4, 6] },
      whitening: { matrix: [11, 13, 31, 33] },
    },
    lastDecision: { features: { age: 30, tenure: 2 }, action: 1 },
    note: ["zip", "kept as a value, not a key"],
  });
  assert.equal(exported.observation.featureNames.length, 3, "input untouched");
  assert.deepEqual(stripSensitive(exported, ["zip"], { allow: true }), exported);
  assert.deepEqual(stripSensitive({ zip: 1, income: 2 }, ["zip", "income"], { allow: ["income"] }), { income: 2 });
});

test("assertNoSensitiveFeatures names the offending features", () => {
  assert.throws(
    () => assertNoSensitiveFeatures(["age", "zip"], ["zip"], { context: "decision log" }),
    (e: unknown) => e instanceof RegistryError && e.code === "sensitive_feature_exported" && (e.details["features"] as string[])[0] === "zip",
  );
  assert.doesNotThrow(() => assertNoSensitiveFeatures(["age", "zip"], ["zip"], { allow: ["zip"] }));
  assert.doesNotThrow(() => assertNoSensitiveFeatures(["age"], ["zip"]));
});
