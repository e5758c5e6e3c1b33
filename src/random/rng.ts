/**
 * Seeded pseudo-random numbers for everything in Hindcast that needs randomness.
 * Generator: xoshiro128** 1.0 (Blackman & Vigna, 2018; https://prng.di.unimi.it/xoshiro128starstar.c), 128-bit state,
 * 32-bit outputs, seeded through SplitMix32 so that nearby seeds give unrelated streams. Normals come from the
 * Box-Muller transform with one cached spare. Not cryptographic. The same seed gives the same sequence everywhere.
 */
import { RandomError } from "./errors.js";

const TWO_32 = 0x100000000;

/** One SplitMix32 step on a mutable 32-bit counter (golden-ratio increment, murmur3-style finaliser). */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes a seed and a stream index into a new 32-bit seed: per-episode or per-worker seeds. */
export function deriveSeed(seed: number, stream: number): number {
  const mixer = { x: (Math.floor(seed) ^ Math.imul(Math.floor(seed / TWO_32) | 0, 0x27d4eb2d)) | 0 };
  splitmix32(mixer);
  mixer.x = (mixer.x ^ Math.imul(stream | 0, 0x165667b1)) | 0;
  return splitmix32(mixer);
}

/**
 * A seed for one named stream ("bootstrap", "init", ...), so adding or removing another stream does not change this
 * one's draws. FNV-1a over the name, started from the seed, then one SplitMix32 step to spread nearby results.
 */
export function streamSeed(seed: number, name: string): number {
  let hash = (0x811c9dc5 ^ Math.floor(seed) ^ Math.imul(Math.floor(seed / TWO_32) | 0, 0x27d4eb2d)) | 0;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return splitmix32({ x: hash });
}

/** The complete generator state, plain numbers only: JSON-safe, for checkpoints. */
export interface RngState {
  s: [number, number, number, number];
  spareNormal: number | null;
}

const TWO_MINUS_24 = 1 / 16777216;

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal = 0;
  private hasSpare = false;

  /** Any finite number is a valid seed; integers up to 2^53 are used in full. */
  constructor(seed: number) {
    this.seed(seed);
  }

  /** Restarts the generator as if it had just been constructed with `seed`. */
  seed(seed: number): void {
    const low = seed >>> 0;
    const high = Math.floor(seed / TWO_32) >>> 0;
    const mixer = { x: low ^ Math.imul(high, 0x9e3779b1) };
    this.s0 = splitmix32(mixer);
    this.s1 = splitmix32(mixer);
    this.s2 = splitmix32(mixer);
    this.s3 = splitmix32(mixer);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.hasSpare = false;
  }

  /** A generator started from an explicit xoshiro128** state (reference vectors, restored checkpoints). */
  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.restore(state);
    return rng;
  }

  /** Snapshot of the full state; `restore` of it continues the exact same sequence. */
  state(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spareNormal: this.hasSpare ? this.spareNormal : null };
  }

  restore(state: RngState): void {
    const words = state?.s;
    if (!Array.isArray(words) || words.length !== 4 || !words.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_32)) {
      throw new RandomError("invalid_state", "an Rng state needs s: four unsigned 32-bit integers", { state });
    }
    if ((words[0] | words[1] | words[2] | words[3]) === 0) {
      throw new RandomError("invalid_state", "the all-zero state is not a valid xoshiro128** state", { state });
    }
    if (state.spareNormal !== null && !Number.isFinite(state.spareNormal)) {
      throw new RandomError("invalid_state", "spareNormal must be a finite number or null", { state });
    }
    this.s0 = words[0] | 0;
    this.s1 = words[1] | 0;
    this.s2 = words[2] | 0;
    this.s3 = words[3] | 0;
    this.hasSpare = state.spareNormal !== null;
    this.spareNormal = state.spareNormal ?? 0;
  }

  /** Next raw 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9);
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return result >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits (two outputs: the high 27 and 26 bits of each). */
  uniform(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform double in [low, high). */
  uniformRange(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Uniform integer in [0, n), without modulo bias (rejection of the top partial block). */
  int(n: number): number {
    checkBound(n);
    const limit = TWO_32 - (TWO_32 % n);
    let value = this.nextUint32();
    while (value >= limit) value = this.nextUint32();
    return value % n;
  }

  /**
   * Fills `out` with integers in [0, n): exactly the draws of repeated `int(n)`, with the generator inlined in one
   * loop over local state (bootstrap resampling and minibatch indices).
   */
  fillInts(n: number, out: Int32Array): Int32Array {
    checkBound(n);
    const limit = TWO_32 - (TWO_32 % n);
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      let value: number;
      do {
        const x = Math.imul(s1, 5);
        value = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
        const t = s1 << 9;
        const n2 = s2 ^ s0;
        const n3 = s3 ^ s1;
        s1 = s1 ^ n2;
        s0 = s0 ^ n3;
        s2 = n2 ^ t;
        s3 = (n3 << 11) | (n3 >>> 21);
      } while (value >= limit);
      out[i] = value % n;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /**
   * Fills `out` with uniform draws in (0, 1], one 32-bit output each: its high 24 bits, all a float32 in that range
   * can hold. Never 0, so log(u) is finite (Box-Muller noise computed inside a float32 training step).
   */
  fillUniformFloat32(out: Float32Array): Float32Array {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      const x = Math.imul(s1, 5);
      const value = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s1 = s1 ^ n2;
      s0 = s0 ^ n3;
      s2 = n2 ^ t;
      s3 = (n3 << 11) | (n3 >>> 21);
      out[i] = ((value >>> 8) + 1) * TWO_MINUS_24;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /** Standard normal N(0, 1) by Box-Muller; every second call returns the cached spare. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spareNormal;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * v;
    this.spareNormal = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }

  /** Fills `out` with N(mean, std^2) draws. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** Fills `out` with uniform draws in [low, high). */
  fillUniform<T extends Float32Array | Float64Array>(out: T, low = 0, high = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  /** Poisson(mean) count: Knuth's product method for small means, a rounded normal approximation above 60. */
  poisson(mean: number): number {
    if (!(mean > 0)) return 0;
    if (mean > 60) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let count = 0;
    let product = this.uniform();
    while (product > limit) {
      count++;
      product *= this.uniform();
    }
    return count;
  }

  /** Index drawn from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i]!;
    let threshold = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      threshold -= weights[i]!;
      if (threshold < 0) return i;
    }
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
    return weights.length - 1;
  }

  /** Fisher-Yates shuffle in place: every permutation equally likely. */
  shuffle<T extends { length: number; [index: number]: unknown }>(items: T): T {
    return this.partialShuffle(items, items.length);
  }

  /**
   * Partial Fisher-Yates: afterwards the first `count` positions hold a uniform random sample without replacement,
   * in random order (the rest holds the other items). Costs `count` draws, not `length`.
   */
  partialShuffle<T extends { length: number; [index: number]: unknown }>(items: T, count: number): T {
    const n = items.length;
    if (!Number.isInteger(count) || count < 0 || count > n) {
      throw new RandomError("invalid_count", `partialShuffle needs 0 <= count <= ${n}, got ${count}`, { count, length: n });
    }
    for (let i = 0; i < Math.min(count, n - 1); i++) {
      const j = i + this.int(n - i);
      const held = items[i];
      items[i] = items[j];
      items[j] = held;
    }
    return items;
  }
}

function checkBound(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
    throw new RandomError("invalid_bound", `integer draws need an integer bound 1 <= n <= 2^32, got ${n}`, { bound: n });
  }
}
