/**
 * Seeded pseudo-random numbers for everything in Hindcast that needs randomness.
 * Generator: xoshiro128** 1.0 (Blackman & Vigna, 2018), 128-bit state, 32-bit outputs, seeded through SplitMix32
 * so that nearby seeds give unrelated streams. Normals come from the Box-Muller transform (one cached spare).
 * Not cryptographic. The same seed always gives the same sequence on every platform.
 */

function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes a seed and a stream index into a new 32-bit seed: per-episode or per-worker seeds. */
export function deriveSeed(seed: number, stream: number): number {
  const mixer = { x: (Math.floor(seed) ^ Math.imul(Math.floor(seed / 0x100000000) | 0, 0x27d4eb2d)) | 0 };
  splitmix32(mixer);
  mixer.x = (mixer.x ^ Math.imul(stream | 0, 0x165667b1)) | 0;
  return splitmix32(mixer);
}

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

  seed(seed: number): void {
    const low = seed >>> 0;
    const high = Math.floor(seed / 0x100000000) >>> 0;
    const mixer = { x: low ^ Math.imul(high, 0x9e3779b1) };
    this.s0 = splitmix32(mixer);
    this.s1 = splitmix32(mixer);
    this.s2 = splitmix32(mixer);
    this.s3 = splitmix32(mixer);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.hasSpare = false;
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

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform double in [low, high). */
  uniformRange(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1) || n > 0x100000000) throw new RangeError(`Rng.int needs 1 <= n <= 2^32, got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    let value = this.nextUint32();
    while (value >= limit) value = this.nextUint32();
    return value % n;
  }

  /** Standard normal N(0, 1) by Box-Muller. */
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
}

/** A generator started from an explicit xoshiro128** state (tests against the reference sequence). */
export function rngFromState(s0: number, s1: number, s2: number, s3: number): Rng {
  const rng = new Rng(0);
  Object.assign(rng, { s0: s0 | 0, s1: s1 | 0, s2: s2 | 0, s3: s3 | 0 });
  return rng;
}
