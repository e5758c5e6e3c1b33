import { test } from "node:test";
import assert from "node:assert/strict";
import { createSampler } from "./sampler.js";
import type { Transitions } from "./transitions.js";

/** 50 rows, 3 features; every value encodes its row so a sampled batch can be checked against its indices. */
function fixture(continuous: boolean): Transitions {
  const size = 50;
  const dim = 3;
  const observations = new Float32Array(size * dim).map((_, k) => Math.floor(k / dim) * 10 + (k % dim));
  const nextObservations = observations.map((x) => x + 0.5);
  return {
    size,
    observationDim: dim,
    featureNames: ["a", "b", "c"],
    actionSpace: continuous ? { kind: "continuous", low: [-1, -1], high: [1, 1] } : { kind: "discrete", n: 4 },
    observations,
    nextObservations,
    actions: continuous ? new Float32Array(size * 2).map((_, k) => Math.floor(k / 2) + (k % 2) / 2) : new Int32Array(size).map((_, i) => i % 4),
    rewards: new Float32Array(size).map((_, i) => -i),
    terminals: new Uint8Array(size).map((_, i) => (i % 10 === 9 ? 1 : 0)),
    truncations: new Uint8Array(size),
    behaviorProb: new Float64Array(size).map((_, i) => 1 / (i + 1)),
    episodeStarts: Int32Array.from([0, 10, 20, 30, 40, 50]),
    steps: new Int32Array(size).map((_, i) => i % 10),
  };
}

test("a batch holds exactly the rows its indices name", () => {
  for (const continuous of [false, true]) {
    const t = fixture(continuous);
    const batch = createSampler(t, 1).sample(64);
    for (let k = 0; k < 64; k++) {
      const i = batch.indices[k]!;
      assert.ok(i >= 0 && i < t.size);
      for (let j = 0; j < 3; j++) {
        assert.equal(batch.observations[k * 3 + j], i * 10 + j);
        assert.equal(batch.nextObservations[k * 3 + j], i * 10 + j + 0.5);
      }
      if (continuous) assert.deepEqual([batch.actions[2 * k], batch.actions[2 * k + 1]], [i, i + 0.5]);
      else assert.equal(batch.actions[k], i % 4);
      assert.equal(batch.rewards[k], -i);
      assert.equal(batch.terminals[k], i % 10 === 9 ? 1 : 0);
      assert.equal(batch.behaviorProb![k], 1 / (i + 1));
    }
  }
});

test("the same seed gives the same batches; another seed does not", () => {
  const t = fixture(false);
  const a = createSampler(t, 7);
  const b = createSampler(t, 7);
  const c = createSampler(t, 8);
  for (let round = 0; round < 5; round++) {
    const ia = Array.from(a.sample(32).indices);
    assert.deepEqual(Array.from(b.sample(32).indices), ia);
    assert.notDeepEqual(Array.from(c.sample(32).indices), ia);
  }
});

test("batches reuse their arrays (no allocation per call) and cover rows uniformly", () => {
  const t = fixture(false);
  const sampler = createSampler(t, 3);
  const first = sampler.sample(100);
  const arrays = [first.indices, first.observations, first.actions, first.rewards];
  const counts = new Array<number>(t.size).fill(0);
  for (let round = 0; round < 200; round++) {
    const batch = sampler.sample(100);
    assert.equal(batch, first);
    assert.deepEqual([batch.indices, batch.observations, batch.actions, batch.rewards], arrays);
    for (const i of batch.indices) counts[i]! += 1;
  }
  // 20,000 draws over 50 rows: 400 expected each; chi-square with 49 dof stays far below 120 for a fair sampler.
  const chi2 = counts.reduce((acc, n) => acc + (n - 400) ** 2 / 400, 0);
  assert.ok(chi2 < 120, `chi-square ${chi2}`);
  assert.throws(() => sampler.sample(0), { code: "invalid_batch_size" });
});
