// Drift on 100k reference states vs 100k live states (8 features): per-feature PSI/KL, then MMD with a
// permutation test. Target: the whole report in under 10 s, so it fits comfortably in a once-a-minute schedule.
import type { MonitoredDecision } from "../src/monitor/decision-log.js";
import { driftReport, type FeatureSample } from "../src/monitor/drift.js";
import { evaluateAt } from "../src/monitor/evaluate.js";
import { parseMonitorRules } from "../src/monitor/rules.js";
import { Rng } from "../src/random/index.js";
import { loadNote } from "./load.js";

const rows = 100_000;
const dim = 8;
const targetSeconds = 10;

function gaussian(seed: number, shift: number): FeatureSample {
  const rng = new Rng(seed);
  const values = new Float32Array(rows * dim);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() + (i % dim === 3 ? shift : 0);
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
// One tick of the continuous monitor: every rule (burn rates over 3 days of SLI buckets, reward gap, drift with the
// default quadratic MMD) on a one-hour window of 100k decisions.
{
  const start = Date.UTC(2026, 0, 1);
  const decisions: MonitoredDecision[] = [];
  for (let r = 0; r < rows; r++) {
    decisions.push({
      id: String(r), ts: start + Math.floor((r * 3_600_000) / rows), deployment: "autoscaler", route: "production", policy: "cql@1",
      state: Array.from(live.values.subarray(r * dim, (r + 1) * dim)), latencyMs: 2 + (r % 7), fallback: false,
      safetyRules: [], shadows: [], reward: 1, failed: false,
    });
  }
  const featureNames = Array.from({ length: dim }, (_, j) => `f${j}`);
  const started = performance.now();
  const evaluation = evaluateAt(decisions, start + 3_600_000, parseMonitorRules({}), {
    reference: { sample: reference, featureNames },
    offlineEstimates: { "cql@1": 1 },
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `monitor tick, all rules on a 1 h window of ${rows} decisions (${evaluation.candidates.length} rule states): ${seconds.toFixed(2)} s ` +
      `(target < ${targetSeconds} s) ${seconds < targetSeconds ? "PASS" : "MISS"}`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (${loadNote()})`);
