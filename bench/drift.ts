// Drift on 100k reference states vs 100k live states (8 features): per-feature PSI/KL, then MMD with a
// permutation test. Target: the whole report in under 10 s, so it fits comfortably in a once-a-minute schedule.
import { driftReport, type FeatureSample } from "../src/monitor/drift.js";
import { normalSampler, seededRandom } from "../src/monitor/random.js";

const rows = 100_000;
const dim = 8;
const targetSeconds = 10;

function gaussian(seed: number, shift: number): FeatureSample {
  const normal = normalSampler(seededRandom(seed));
  const values = new Float32Array(rows * dim);
  for (let i = 0; i < values.length; i++) values[i] = normal() + (i % dim === 3 ? shift : 0);
  return { rows, dim, values };
}

const reference = gaussian(1, 0);
const live = gaussian(2, 0.1);
for (const mmd of [
  { estimator: "quadratic" as const, sampleSize: 500, permutations: 200, seed: 7 },
  { estimator: "linear" as const, permutations: 100, seed: 7 },
]) {
  const started = performance.now();
  const report = driftReport(reference, live, { mmd });
  const seconds = (performance.now() - started) / 1000;
  const label = `${mmd.estimator} MMD (${report.mmd!.rowsPerSide} rows/side, ${mmd.permutations} permutations)`;
  console.log(
    `drift report, ${rows} vs ${rows} states x ${dim} features, ${label}: ${seconds.toFixed(2)} s ` +
      `(target < ${targetSeconds} s) ${seconds < targetSeconds ? "PASS" : "MISS"}; ` +
      `top feature ${report.features[0]!.feature} psi=${report.features[0]!.psi.toFixed(4)}, mmd p=${report.mmd!.pValue.toFixed(3)}`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (measured under load)`);
