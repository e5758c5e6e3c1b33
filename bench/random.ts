/**
 * Seeded random numbers on the bootstrap hot path: integer draws into an Int32Array (1,000 resamples of 10,000 indices).
 * Target: `Rng.fillInts` (xoshiro128**, unbiased) no slower than the mulberry32 fast path that the OPE bootstrap used before it
 * (a copy is kept here for the comparison) (ratio <= 1.0), and at least 100 M draws/s. Also prints `int()` one by one and `uniform()` for scale.
 * Run: npx tsx bench/random.ts
 */
import { Rng } from "../src/random/index.js";
import { loadNote } from "./load.js";

/** The mulberry32 fast path src/ope/random.ts used before the switch, copied here as the baseline to beat. */
class Mulberry32Baseline {
  private state: number;
  constructor(seed: number) {
    this.state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }
  fillInts(n: number, out: Int32Array): Int32Array {
    let state = this.state;
    for (let i = 0; i < out.length; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 15), z | 1);
      z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
      out[i] = Math.floor((((z ^ (z >>> 14)) >>> 0) / 4294967296) * n);
    }
    this.state = state;
    return out;
  }
}

const draws = 10_000;
const resamples = 1_000;
const out = new Int32Array(draws);

function time(run: () => number, repeats = 5): { ms: number; check: number } {
  let best = Infinity;
  let check = run(); // warm-up
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    check = run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms: best, check };
}

const sum = (values: Int32Array) => {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
};

const rng = new Rng(1);
const fill = time(() => {
  let check = 0;
  for (let b = 0; b < resamples; b++) check += sum(rng.fillInts(draws, out));
  return check;
});
const oneByOne = time(() => {
  let check = 0;
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < draws; i++) out[i] = rng.int(draws);
    check += sum(out);
  }
  return check;
});
const uniforms = time(() => {
  let check = 0;
  for (let i = 0; i < draws * resamples; i++) check += rng.uniform();
  return check;
});
const legacy = new Mulberry32Baseline(1);
const mulberry = time(() => {
  let check = 0;
  for (let b = 0; b < resamples; b++) check += sum(legacy.fillInts(draws, out));
  return check;
});

const total = draws * resamples;
const rate = (ms: number) => total / (ms / 1000) / 1e6;
const ratio = fill.ms / mulberry.ms;
console.log(`random bench (${loadNote()}), ${resamples} x ${draws} integer draws, best of 5`);
console.log(`  Rng.fillInts           ${fill.ms.toFixed(1).padStart(7)} ms  ${rate(fill.ms).toFixed(0).padStart(5)} M/s  target >= 100 M/s  ${rate(fill.ms) >= 100 ? "PASS" : "MISS"}`);
console.log(`  mulberry32 fillInts    ${mulberry.ms.toFixed(1).padStart(7)} ms  ${rate(mulberry.ms).toFixed(0).padStart(5)} M/s  (old ope fast path, baseline)`);
console.log(`  ratio fillInts/mulberry ${ratio.toFixed(2).padStart(6)}               target <= 1.00     ${ratio <= 1 ? "PASS" : "MISS"}`);
console.log(`  Rng.int one by one     ${oneByOne.ms.toFixed(1).padStart(7)} ms  ${rate(oneByOne.ms).toFixed(0).padStart(5)} M/s`);
console.log(`  Rng.uniform            ${uniforms.ms.toFixed(1).padStart(7)} ms  ${rate(uniforms.ms).toFixed(0).padStart(5)} M/s`);
console.log(`  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
