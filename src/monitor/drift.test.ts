import { test } from "node:test";
import assert from "node:assert/strict";
import {
  binCounts,
  binProportions,
  driftReport,
  featureDrift,
  klDivergence,
  mmdTest,
  populationStabilityIndex,
  sharedBinEdges,
  type FeatureSample,
} from "./drift.js";
import { MonitorError } from "./errors.js";
import { Rng } from "../random/index.js";

function close(actual: number, expected: number, tolerance = 1e-6): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `expected ${expected}, got ${actual}`);
}

function sample(rows: number[][]): FeatureSample {
  return { rows: rows.length, dim: rows[0]!.length, values: Float64Array.from(rows.flat()) };
}

/** rows x dim standard normals; feature `shifted` moved by `shift`. */
function gaussian(rows: number, dim: number, seed: number, shifted = -1, shift = 0): FeatureSample {
  const rng = new Rng(seed);
  const values = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) values[r * dim + j] = rng.normal() + (j === shifted ? shift : 0);
  return { rows, dim, values };
}

test("bin edges are reference quantiles and values on an edge go to the upper bin", () => {
  // sorted [1..5], the 1/2 quantile sits at position 2 -> 3.
  assert.deepEqual(Array.from(sharedBinEdges(Float64Array.of(5, 1, 4, 2, 3), 2)), [3]);
  // [0,1,2,3]: position 1.5 interpolates between 1 and 2.
  assert.deepEqual(Array.from(sharedBinEdges(Float64Array.of(0, 1, 2, 3), 2)), [1.5]);
  assert.deepEqual(Array.from(binCounts(Float64Array.of(1, 2, 3, 4, 5), Float64Array.of(3))), [2, 3]);
  // ties collapse duplicate edges: quantile positions 1, 2, 3 of [1,1,1,1,2] all hold 1
  assert.deepEqual(Array.from(sharedBinEdges(Float64Array.of(1, 1, 1, 1, 2), 4)), [1]);
});

test("smoothed proportions add the smoothing to every bin", () => {
  const p = binProportions(Float64Array.of(2, 3), 0.5);
  close(p[0]!, 2.5 / 6);
  close(p[1]!, 3.5 / 6);
});

test("PSI and KL match hand-computed values", () => {
  const reference = Float64Array.of(0.5, 0.5);
  const live = Float64Array.of(0.25, 0.75);
  // PSI = (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5) = 0.1732868 + 0.1013663
  close(populationStabilityIndex(reference, live), 0.2746531);
  // KL = 0.25 ln(0.5) + 0.75 ln(1.5) = -0.1732868 + 0.3040988
  close(klDivergence(reference, live), 0.130812);
  close(populationStabilityIndex(reference, reference), 0);
});

test("featureDrift on a tiny sample: edge 1.5, counts [2,2] vs [1,3]", () => {
  const reference = sample([[0, 7], [1, 7], [2, 7], [3, 7]]);
  const live = sample([[1, 7], [2, 7], [2, 7], [3, 7]]);
  const drift = featureDrift(reference, live, { bins: 2, smoothing: 0, featureNames: ["load", "constant"] });
  assert.equal(drift[0]!.feature, "load");
  assert.equal(drift[0]!.rank, 1);
  close(drift[0]!.psi, 0.2746531);
  close(drift[0]!.kl, 0.130812);
  close(drift[0]!.liveMean, 2);
  assert.equal(drift[0]!.flagged, true);
  assert.equal(drift[1]!.feature, "constant");
  close(drift[1]!.psi, 0);
  assert.equal(drift[1]!.flagged, false);
});

test("quadratic MMD² matches a hand computation", () => {
  // reference [0,2] standardises (mean 1, sd sqrt 2) to [-0.7071, 0.7071]; live [1,3] to [0, 1.4142].
  // bandwidth 1: k = exp(-d²/2). Kxx = Kyy = e^-1; Kxy = e^-0.25 (three pairs) + e^-2.25.
  // MMD²_u = e^-1 + e^-1 - (2/4)(3 e^-0.25 + e^-2.25)
  const expected = 2 * Math.exp(-1) - 0.5 * (3 * Math.exp(-0.25) + Math.exp(-2.25));
  const result = mmdTest(sample([[0], [2]]), sample([[1], [3]]), { bandwidth: 1, permutations: 10, seed: 1 });
  close(result.statistic, expected);
  assert.equal(result.rowsPerSide, 2);
  assert.ok(result.pValue > 0 && result.pValue <= 1);
});

test("the same seed gives the same p-value", () => {
  const a = gaussian(300, 3, 1);
  const b = gaussian(300, 3, 2, 0, 0.3);
  const first = mmdTest(a, b, { seed: 9, sampleSize: 150, permutations: 50 });
  const second = mmdTest(a, b, { seed: 9, sampleSize: 150, permutations: 50 });
  assert.deepEqual(first, second);
});

test("power and false alarms over seeds: quadratic MMD and per-feature PSI", () => {
  const seeds = 30;
  let nullRejections = 0;
  let shiftRejections = 0;
  let shiftedFeatureFlagged = 0;
  let unshiftedFeaturesFlagged = 0;
  for (let s = 0; s < seeds; s++) {
    const reference = gaussian(1000, 3, 1000 + s);
    const same = gaussian(1000, 3, 2000 + s);
    const shifted = gaussian(1000, 3, 3000 + s, 1, 0.8);
    const options = { sampleSize: 150, permutations: 60, seed: s };
    if (mmdTest(reference, same, options).pValue < 0.05) nullRejections++;
    if (mmdTest(reference, shifted, options).pValue < 0.05) shiftRejections++;
    const drift = featureDrift(reference, shifted, { featureNames: ["a", "b", "c"] });
    if (drift[0]!.feature === "b" && drift[0]!.flagged) shiftedFeatureFlagged++;
    unshiftedFeaturesFlagged += drift.filter((f) => f.feature !== "b" && f.flagged).length;
    unshiftedFeaturesFlagged += featureDrift(reference, same).filter((f) => f.flagged).length;
  }
  // nominal 5%: 30 draws, P(X >= 6) under Binomial(30, 0.05) is about 0.016
  assert.ok(nullRejections <= 5, `false alarms ${nullRejections}/${seeds}`);
  assert.ok(shiftRejections >= 27, `detections ${shiftRejections}/${seeds}`);
  assert.equal(shiftedFeatureFlagged, seeds);
  assert.equal(unshiftedFeaturesFlagged, 0);
});

test("linear-time MMD detects a shift and stays quiet without one", () => {
  let nullRejections = 0;
  let shiftRejections = 0;
  for (let s = 0; s < 10; s++) {
    const reference = gaussian(4000, 4, 500 + s);
    const options = { estimator: "linear" as const, permutations: 40, seed: s };
    if (mmdTest(reference, gaussian(4000, 4, 600 + s), options).pValue < 0.05) nullRejections++;
    if (mmdTest(reference, gaussian(4000, 4, 700 + s, 2, 0.8), options).pValue < 0.05) shiftRejections++;
  }
  assert.ok(nullRejections <= 3, `false alarms ${nullRejections}/10`);
  assert.ok(shiftRejections >= 9, `detections ${shiftRejections}/10`);
});

test("driftReport: index is the largest PSI, dimension mismatch is a coded error", () => {
  const reference = gaussian(500, 2, 1);
  const live = gaussian(500, 2, 2, 0, 1.5);
  const report = driftReport(reference, live, { mmd: { sampleSize: 100, permutations: 30 } });
  assert.equal(report.driftIndex, Math.max(...report.features.map((f) => f.psi)));
  assert.equal(report.drifted, true);
  assert.ok(report.mmd !== null && report.mmd.pValue < 0.05);
  assert.throws(
    () => driftReport(reference, gaussian(10, 3, 1)),
    (error: unknown) => error instanceof MonitorError && error.code === "drift_dimension_mismatch",
  );
});
