import { test } from "node:test";
import assert from "node:assert/strict";
import { deriveSeed, Rng, rngFromState } from "./random.js";

test("xoshiro128** reproduces the reference outputs from state (1, 2, 3, 4)", () => {
  // By hand from the reference C code: rotl(s1 * 5, 7) * 9 with s1 = 2, then 0, then s1 = 1029.
  const rng = rngFromState(1, 2, 3, 4);
  assert.equal(rng.nextUint32(), 11520);
  assert.equal(rng.nextUint32(), 0);
  assert.equal(rng.nextUint32(), 5927040);
});

test("the same seed gives the same stream; different seeds and streams differ", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 8 }, () => a.uniform());
  assert.deepEqual(Array.from({ length: 8 }, () => b.uniform()), xs);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.uniform()), xs);
  assert.equal(deriveSeed(7, 3), deriveSeed(7, 3));
  assert.notEqual(deriveSeed(7, 3), deriveSeed(7, 4));
  assert.notEqual(deriveSeed(7, 3), deriveSeed(8, 3));
  // Seeds above 2^32 are used in full.
  assert.notEqual(new Rng(2 ** 40).nextUint32(), new Rng(0).nextUint32());
});

test("uniform, normal, int and poisson have the right moments", () => {
  const rng = new Rng(1);
  const n = 40000;
  let sum = 0, sumSq = 0, normalSum = 0, normalSq = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    sumSq += u * u;
    const z = rng.normal();
    normalSum += z;
    normalSq += z * z;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01);
  assert.ok(Math.abs(sumSq / n - 1 / 3) < 0.01);
  assert.ok(Math.abs(normalSum / n) < 0.02);
  assert.ok(Math.abs(normalSq / n - 1) < 0.03);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60000; i++) counts[rng.int(6)]++;
  for (const count of counts) assert.ok(Math.abs(count - 10000) < 400, `int(6) count ${count}`);
  for (const mean of [0.5, 4, 100]) {
    let total = 0;
    for (let i = 0; i < 20000; i++) total += rng.poisson(mean);
    assert.ok(Math.abs(total / 20000 - mean) < 0.05 * mean + 0.02, `poisson(${mean}) mean ${total / 20000}`);
  }
  const picks = [0, 0, 0];
  for (let i = 0; i < 30000; i++) picks[rng.categorical([0.2, 0, 0.8])]++;
  assert.equal(picks[1], 0);
  assert.ok(Math.abs(picks[0]! / 30000 - 0.2) < 0.01);
});
