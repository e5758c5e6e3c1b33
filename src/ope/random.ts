/**
 * Seeded pseudo-random numbers for resampling (mulberry32: 32-bit state, fast, good enough for bootstrap draws).
 * The same seed always gives the same sequence.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fills `out` with integers in [0, n): the same draws as repeated int(n), in a tight loop (bootstrap hot path). */
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

/** A seed for one named stream, so adding or removing another stream does not change this one's draws. */
export function streamSeed(seed: number, name: string): number {
  let hash = 2166136261 ^ seed;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619);
  return hash >>> 0;
}
