import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bootstrap,
  bootstrapLowerBound,
  studentTCdf,
  studentTLowerBound,
  studentTQuantile,
  thomasBound,
  thomasLowerBound,
} from "./intervals.js";
import { perDecisionIS, trajectoryIS, weightedDoublyRobust, weightedIS, type SequentialInput } from "./sequential.js";
import { Rng } from "../random/index.js";

function syntheticEpisodes(episodes: number, seed: number): SequentialInput {
  const random = new Rng(seed);
  const starts = new Int32Array(episodes + 1);
  for (let e = 0; e < episodes; e++) starts[e + 1] = starts[e] + 3 + random.int(3);
  const rows = starts[episodes];
  return {
    rewards: Float32Array.from({ length: rows }, () => random.uniform()),
    episodeStarts: starts,
    ratios: Float64Array.from({ length: rows }, () => 0.6 + 0.8 * random.uniform()),
    qHat: Float64Array.from({ length: rows }, () => random.uniform()),
    vHat: Float64Array.from({ length: rows }, () => random.uniform()),
  };
}

test("Student-t quantiles agree with printed tables", () => {
  // Standard t-table values.
  assert.ok(Math.abs(studentTQuantile(0.95, 9) - 1.833) < 1e-3);
  assert.ok(Math.abs(studentTQuantile(0.975, 10) - 2.228) < 1e-3);
  assert.ok(Math.abs(studentTQuantile(0.95, 1) - 6.314) < 1e-3);
  assert.ok(Math.abs(studentTQuantile(0.95, 100000) - 1.645) < 1e-3);
  assert.ok(Math.abs(studentTCdf(0, 5) - 0.5) < 1e-12);
});

test("Student-t lower bound by hand: values 1..5 at 95%", () => {
  // mean 3, s^2 = 2.5, t_{0.95,4} = 2.1318: 3 - 2.1318 * sqrt(2.5) / sqrt(5) = 1.4926
  const bound = studentTLowerBound(new Float64Array([1, 2, 3, 4, 5]), 0.95);
  assert.ok(Math.abs(bound.value - (3 - 2.1318 * Math.sqrt(0.5))) < 1e-3, String(bound.value));
  assert.match(bound.method, /student-t/);
});

test("Thomas et al. 2015 bound by hand", () => {
  // values 0,1,0,1, c = 1, delta = 0.1: mean 0.5, s^2 = 1/3;
  // 0.5 - 7 ln(20) / 9 - sqrt(2 ln(20) (1/3) / 4)
  const expected = 0.5 - (7 * Math.log(20)) / 9 - Math.sqrt((2 * Math.log(20) * (1 / 3)) / 4);
  assert.ok(Math.abs(thomasBound(new Float64Array([0, 1, 0, 1]), 1, 0.1) - expected) < 1e-12);
  // Values above c count as c: [0, 5] with c = 1 behaves like [0, 1].
  assert.equal(thomasBound(new Float64Array([0, 5, 0, 5]), 1, 0.1), thomasBound(new Float64Array([0, 1, 0, 1]), 1, 0.1));
});

test("lower bounds sit below the estimate and tighten with more data", () => {
  const gaps: number[] = [];
  const thomasGaps: number[] = [];
  for (const episodes of [200, 5000]) {
    const estimate = perDecisionIS(syntheticEpisodes(episodes, 7), { gamma: 0.95 });
    const tBound = studentTLowerBound(estimate.pseudoValues(), 0.95);
    const boot = bootstrap(estimate, { resamples: 200, seed: 3 });
    const bootBound = bootstrapLowerBound(boot, 0.95);
    assert.ok(tBound.value <= estimate.value);
    assert.ok(bootBound.value <= estimate.value);
    assert.ok(boot.lower <= estimate.value && estimate.value <= boot.upper);
    gaps.push(estimate.value - tBound.value);
    // Concentration bound on non-negative per-episode values.
    const values = estimate.pseudoValues();
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const thomas = thomasLowerBound(values, 0.95, 11);
    assert.ok(thomas.value <= mean);
    thomasGaps.push(mean - thomas.value);
  }
  assert.ok(gaps[1] < gaps[0] / 3, `t gap ${gaps[1]} not much below ${gaps[0]}`);
  assert.ok(thomasGaps[1] < thomasGaps[0], `thomas gap ${thomasGaps[1]} not below ${thomasGaps[0]}`);
});

test("bootstrap is deterministic under a seed and changes with it", () => {
  const estimate = weightedIS(syntheticEpisodes(300, 1), { gamma: 0.9 });
  const first = bootstrap(estimate, { resamples: 100, seed: 42 });
  const second = bootstrap(estimate, { resamples: 100, seed: 42 });
  const other = bootstrap(estimate, { resamples: 100, seed: 43 });
  assert.deepEqual(Array.from(first.replicates), Array.from(second.replicates));
  assert.notDeepEqual(Array.from(first.replicates), Array.from(other.replicates));
  assert.equal(first.lower, second.lower);
});

test("bootstrap of a plain mean matches the textbook standard error", () => {
  // Replicates of a mean have sd ~ s / sqrt(n); check within 20% on 400 episodes, 2000 resamples.
  const estimate = trajectoryIS(syntheticEpisodes(400, 5), { gamma: 0.9 });
  const values = estimate.pseudoValues();
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const standardError = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) / n);
  const boot = bootstrap(estimate, { resamples: 2000, seed: 9 });
  const replicateMean = boot.replicates.reduce((a, b) => a + b, 0) / boot.replicates.length;
  const replicateSd = Math.sqrt(boot.replicates.reduce((a, v) => a + (v - replicateMean) ** 2, 0) / (boot.replicates.length - 1));
  assert.ok(Math.abs(replicateSd / standardError - 1) < 0.2, `${replicateSd} vs ${standardError}`);
});

test("exact per-step bootstrap and its linearised fallback agree on a moderate dataset", () => {
  const estimate = weightedDoublyRobust(syntheticEpisodes(1000, 2), { gamma: 0.9 });
  const exact = bootstrap(estimate, { resamples: 300, seed: 1 });
  const linearised = bootstrap(estimate, { resamples: 300, seed: 1, rowVisitBudget: 0 });
  assert.match(exact.method, /^percentile bootstrap/);
  assert.match(linearised.method, /linearised/);
  const width = exact.upper - exact.lower;
  assert.ok(Math.abs(linearised.upper - linearised.lower - width) < 0.3 * width, `${linearised.upper - linearised.lower} vs ${width}`);
});
