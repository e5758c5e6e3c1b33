import { test } from "node:test";
import assert from "node:assert/strict";
import { deriveSeed, RandomError, Rng, streamSeed } from "./index.js";

// The published reference algorithms, written once more with BigInt arithmetic (no Math.imul, no 32-bit tricks),
// so the known answers below come from an independent implementation rather than from rng.ts.
const MASK = 0xffffffffn;
const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & MASK;

/** xoshiro128** 1.0, transcribed from xoshiro128starstar.c (Blackman & Vigna). */
function referenceXoshiro(state: bigint[]): () => bigint {
  const s = [...state];
  return () => {
    const result = (rotl((s[1]! * 5n) & MASK, 7n) * 9n) & MASK;
    const t = (s[1]! << 9n) & MASK;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
    return result;
  };
}

/** SplitMix32: add the golden-ratio constant, then the murmur3 fmix32 finaliser with (16, 13, 16) shifts. */
function referenceSplitmix(seed: bigint): () => bigint {
  let x = seed & MASK;
  return () => {
    x = (x + 0x9e3779b9n) & MASK;
    let z = x;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & MASK;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & MASK;
    return z ^ (z >> 16n);
  };
}

const toState = (words: bigint[]) => ({ s: words.map(Number) as [number, number, number, number], spareNormal: null });

test("xoshiro128** matches the reference algorithm from state (1, 2, 3, 4)", () => {
  // The first three by hand: rotl(s1 * 5, 7) * 9 with s1 = 2, then s1 = 0, then s1 = 1029.
  const rng = Rng.fromState(toState([1n, 2n, 3n, 4n]));
  assert.equal(rng.nextUint32(), 11520);
  assert.equal(rng.nextUint32(), 0);
  assert.equal(rng.nextUint32(), 5927040);
  const reference = referenceXoshiro([1n, 2n, 3n, 4n]);
  for (let i = 0; i < 3; i++) reference();
  for (let i = 0; i < 1000; i++) assert.equal(rng.nextUint32(), Number(reference()), `output ${i + 3}`);
});

test("seeding is four SplitMix32 outputs of the seed, then xoshiro128**, for 32-bit seeds", () => {
  for (const seed of [0, 1, 42, 123456789, 0xffffffff]) {
    const mix = referenceSplitmix(BigInt(seed));
    const reference = referenceXoshiro([mix(), mix(), mix(), mix()]);
    const rng = new Rng(seed);
    for (let i = 0; i < 200; i++) assert.equal(rng.nextUint32(), Number(reference()), `seed ${seed} output ${i}`);
  }
  // SplitMix32 of 0: by the reference, the first output mixes 0x9e3779b9.
  const mix = referenceSplitmix(0n);
  assert.deepEqual(new Rng(0).state().s, [mix(), mix(), mix(), mix()].map(Number));
});

test("uniform takes 27 + 26 high bits of two outputs; int rejects the biased top block", () => {
  const reference = referenceXoshiro([5n, 6n, 7n, 8n]);
  const rng = Rng.fromState(toState([5n, 6n, 7n, 8n]));
  for (let i = 0; i < 100; i++) {
    const expected = Number(((reference() >> 5n) << 26n) | (reference() >> 6n)) / 2 ** 53;
    assert.equal(rng.uniform(), expected);
  }
  const intRng = Rng.fromState(toState([5n, 6n, 7n, 8n]));
  const intReference = referenceXoshiro([5n, 6n, 7n, 8n]);
  const n = 3_000_000_000; // Large enough that about 30% of outputs fall in the rejected block.
  const limit = 2n ** 32n - (2n ** 32n % BigInt(n));
  for (let i = 0; i < 200; i++) {
    let value = intReference();
    while (value >= limit) value = intReference();
    assert.equal(intRng.int(n), Number(value % BigInt(n)));
  }
});

test("fillInts gives exactly the draws of repeated int(n) and leaves the generator in the same place", () => {
  for (const n of [1, 2, 7, 1000, 3_000_000_000]) {
    const a = new Rng(99), b = new Rng(99);
    const filled = a.fillInts(n, new Int32Array(500));
    const oneByOne = Int32Array.from({ length: 500 }, () => b.int(n));
    assert.deepEqual(filled, oneByOne, `n = ${n}`);
    assert.equal(a.nextUint32(), b.nextUint32());
  }
});

test("fillUniformFloat32 maps each 32-bit output's high 24 bits to (0, 1]: never 0, 1 reachable, mean 1/2", () => {
  const a = new Rng(7), b = new Rng(7);
  const filled = a.fillUniformFloat32(new Float32Array(1000));
  filled.forEach((u, i) => assert.equal(u, ((b.nextUint32() >>> 8) + 1) / 16777216, `draw ${i}`));
  assert.equal(a.nextUint32(), b.nextUint32(), "the generator advanced one output per value");
  const many = new Rng(8).fillUniformFloat32(new Float32Array(200_000));
  let sum = 0, min = 1;
  for (const u of many) {
    sum += u;
    min = Math.min(min, u);
  }
  assert.ok(min > 0);
  assert.ok(Math.abs(sum / many.length - 0.5) < 0.003, `mean ${sum / many.length}`);
});

test("the same seed gives the same stream; different seeds, streams and names differ", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 8 }, () => a.uniform());
  assert.deepEqual(Array.from({ length: 8 }, () => b.uniform()), xs);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.uniform()), xs);
  a.seed(42);
  assert.deepEqual(Array.from({ length: 8 }, () => a.uniform()), xs);
  assert.equal(deriveSeed(7, 3), deriveSeed(7, 3));
  assert.notEqual(deriveSeed(7, 3), deriveSeed(7, 4));
  assert.notEqual(deriveSeed(7, 3), deriveSeed(8, 3));
  assert.equal(streamSeed(7, "bootstrap"), streamSeed(7, "bootstrap"));
  assert.notEqual(streamSeed(7, "bootstrap"), streamSeed(7, "init"));
  assert.notEqual(streamSeed(7, "bootstrap"), streamSeed(8, "bootstrap"));
  // Seeds above 2^32 are used in full.
  assert.notEqual(new Rng(2 ** 40).nextUint32(), new Rng(0).nextUint32());
  assert.notEqual(streamSeed(2 ** 40, "x"), streamSeed(0, "x"));
});

test("state and restore continue the same sequence, including a cached normal spare", () => {
  const rng = new Rng(5);
  rng.normal(); // leaves a spare
  const saved = JSON.parse(JSON.stringify(rng.state()));
  assert.notEqual(saved.spareNormal, null);
  const expected = [rng.normal(), rng.normal(), rng.uniform(), rng.int(10)];
  const other = new Rng(1);
  other.restore(saved);
  assert.deepEqual([other.normal(), other.normal(), other.uniform(), other.int(10)], expected);
  assert.throws(() => other.restore({ s: [0, 0, 0, 0], spareNormal: null }), (e: unknown) => e instanceof RandomError && e.code === "invalid_state");
  assert.throws(() => other.restore({ s: [1, 2, 3] as never, spareNormal: null }), (e: unknown) => e instanceof RandomError && e.code === "invalid_state");
});

test("bad bounds and counts are coded errors", () => {
  const rng = new Rng(1);
  for (const bound of [0, -1, 2.5, NaN, 2 ** 32 + 1]) {
    assert.throws(() => rng.int(bound), (e: unknown) => e instanceof RandomError && e.code === "invalid_bound");
  }
  assert.throws(() => rng.partialShuffle([1, 2], 3), (e: unknown) => e instanceof RandomError && e.code === "invalid_count");
});

test("uniform, normal, int, poisson and categorical have the right moments", () => {
  const rng = new Rng(1);
  const n = 40000;
  let sum = 0, sumSq = 0, normalSum = 0, normalSq = 0, normalCube = 0, normalFourth = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    sumSq += u * u;
    const z = rng.normal();
    normalSum += z;
    normalSq += z * z;
    normalCube += z ** 3;
    normalFourth += z ** 4;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01);
  assert.ok(Math.abs(sumSq / n - 1 / 3) < 0.01);
  assert.ok(Math.abs(normalSum / n) < 0.02);
  assert.ok(Math.abs(normalSq / n - 1) < 0.03);
  assert.ok(Math.abs(normalCube / n) < 0.1, `skewness ${normalCube / n}`);
  assert.ok(Math.abs(normalFourth / n - 3) < 0.2, `fourth moment ${normalFourth / n}`);
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
  const filled = rng.fillNormal(new Float64Array(20000), 3, 2);
  const mean = filled.reduce((a, b) => a + b, 0) / filled.length;
  const variance = filled.reduce((a, b) => a + (b - mean) ** 2, 0) / filled.length;
  assert.ok(Math.abs(mean - 3) < 0.05 && Math.abs(variance - 4) < 0.15, `fillNormal mean ${mean} variance ${variance}`);
  const uniforms = rng.fillUniform(new Float32Array(20000), -2, 2);
  assert.ok(uniforms.every((u) => u >= -2 && u < 2));
});

test("shuffle is a permutation with every ordering of three equally likely; partialShuffle samples uniformly", () => {
  const rng = new Rng(11);
  const orderCounts = new Map<string, number>();
  for (let i = 0; i < 12000; i++) {
    const key = rng.shuffle([0, 1, 2]).join("");
    orderCounts.set(key, (orderCounts.get(key) ?? 0) + 1);
  }
  assert.equal(orderCounts.size, 6);
  for (const [order, count] of orderCounts) assert.ok(Math.abs(count - 2000) < 200, `order ${order}: ${count}`);
  const shuffled = rng.shuffle(Int32Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(Array.from(shuffled).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  const picked = new Array(10).fill(0);
  for (let i = 0; i < 10000; i++) {
    const items = Int32Array.from({ length: 10 }, (_, k) => k);
    rng.partialShuffle(items, 3);
    assert.equal(new Set(items.subarray(0, 3)).size, 3);
    for (const k of items.subarray(0, 3)) picked[k]++;
  }
  for (const count of picked) assert.ok(Math.abs(count - 3000) < 250, `partial pick count ${count}`);
});
