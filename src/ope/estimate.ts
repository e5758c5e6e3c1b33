import type { WeightSummary } from "./weights.js";

/**
 * What every estimator returns: the point value, how to recompute it on a resample of episodes (for bootstrap
 * intervals), per-episode pseudo-values (for Student-t bounds) and the weights it rests on.
 */
export interface PointEstimate {
  estimator: string;
  value: number;
  /** Independent units the estimate averages over (episodes; rows are never split from their episode). */
  episodes: number;
  rows: number;
  resample: Resampler;
  /**
   * Per-episode values whose mean is `value`: exact for plain averages (IS, PDIS, DR, DM), first-order
   * (influence-function) for self-normalised and per-step-normalised estimators. Computed on demand.
   */
  pseudoValues(): Float64Array;
  /** Importance weights the estimate rests on; null for model-only estimators (DM, FQE). */
  weights: WeightSummary | null;
  /** Fraction of weights cut at the clipping level; null when no clipping was asked. */
  clippedFraction: number | null;
  warnings: string[];
}

/** value = sum over terms of (sum of numerator) / (sum of denominator), all per episode. */
export interface RatioTerm {
  numerator: Float64Array;
  /** null: the denominator is 1 per episode (a plain mean over episodes). */
  denominator: Float64Array | null;
}

export type Resampler =
  | { kind: "ratios"; terms: RatioTerm[] }
  /** Estimators normalised per time step need the episode multiplicities; `rows` is the cost of one evaluation. */
  | { kind: "counts"; rows: number; evaluate(counts: Int32Array): number };

export function ratioValue(terms: RatioTerm[]): number {
  let value = 0;
  for (const term of terms) {
    let numerator = 0;
    for (let e = 0; e < term.numerator.length; e++) numerator += term.numerator[e];
    let denominator = term.numerator.length;
    if (term.denominator) {
      denominator = 0;
      for (let e = 0; e < term.denominator.length; e++) denominator += term.denominator[e];
    }
    value += denominator !== 0 ? numerator / denominator : Number.NaN;
  }
  return value;
}

/** Influence-function pseudo-values of a sum of ratios: phi_e = V + sum_k (num_ke - R_k den_ke) / mean(den_k). */
export function ratioPseudoValues(terms: RatioTerm[], value: number): Float64Array {
  const episodes = terms[0]?.numerator.length ?? 0;
  const pseudo = new Float64Array(episodes).fill(value);
  for (const term of terms) {
    const { numerator, denominator } = term;
    if (!denominator) {
      let mean = 0;
      for (let e = 0; e < episodes; e++) mean += numerator[e];
      mean /= episodes;
      for (let e = 0; e < episodes; e++) pseudo[e] += numerator[e] - mean;
      continue;
    }
    let sumNumerator = 0;
    let sumDenominator = 0;
    for (let e = 0; e < episodes; e++) {
      sumNumerator += numerator[e];
      sumDenominator += denominator[e];
    }
    if (sumDenominator === 0) continue;
    const ratio = sumNumerator / sumDenominator;
    const meanDenominator = sumDenominator / episodes;
    for (let e = 0; e < episodes; e++) pseudo[e] += (numerator[e] - ratio * denominator[e]) / meanDenominator;
  }
  return pseudo;
}
