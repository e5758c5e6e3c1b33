import { OpeError } from "./errors.js";

/**
 * Importance ratios and weight diagnostics shared by every estimator family.
 * Discrete actions carry probabilities of the logged action; continuous actions carry log-densities.
 */
export type PropensityScale = "probability" | "logDensity";

/**
 * Per-row ratio target(a|s) / behaviour(a|s) of the logged action, in one pass.
 * A logged action the behaviour policy gave probability 0 cannot have been logged: that is an input error.
 */
export function importanceRatios(
  behaviorProb: Float64Array,
  targetProb: Float64Array,
  scale: PropensityScale = "probability",
): Float64Array {
  const size = behaviorProb.length;
  if (targetProb.length !== size) {
    throw new OpeError("length_mismatch", `target probabilities have ${targetProb.length} rows, behaviour ${size}`, {
      column: "targetProb",
    });
  }
  const ratios = new Float64Array(size);
  if (scale === "logDensity") {
    for (let i = 0; i < size; i++) {
      // Log-densities: the behaviour's must be finite (the action was logged); the target's may be -Infinity.
      if (!Number.isFinite(behaviorProb[i])) {
        throw new OpeError("invalid_behavior_probability", `behaviour log-density ${behaviorProb[i]} at row ${i} is not finite`, { row: i, column: "behaviorProb" });
      }
      if (Number.isNaN(targetProb[i]) || targetProb[i] === Infinity) {
        throw new OpeError("invalid_target_probability", `target log-density ${targetProb[i]} at row ${i} is not a log-density`, { row: i, column: "targetProb" });
      }
      ratios[i] = Math.exp(targetProb[i] - behaviorProb[i]);
    }
  } else {
    for (let i = 0; i < size; i++) {
      const behavior = behaviorProb[i];
      const target = targetProb[i];
      if (!(behavior > 0) || behavior > 1 + 1e-9) {
        throw new OpeError("invalid_behavior_probability", `behaviour probability ${behavior} at row ${i} is not in (0, 1]`, {
          row: i,
          column: "behaviorProb",
        });
      }
      if (!(target >= 0) || target > 1 + 1e-9) {
        throw new OpeError("invalid_target_probability", `target probability ${target} at row ${i} is not in [0, 1]`, {
          row: i,
          column: "targetProb",
        });
      }
      ratios[i] = target / behavior;
    }
  }
  return ratios;
}

/** Summary of the importance weights an estimate rests on (Kish effective sample size). */
export interface WeightSummary {
  /** Number of weights summarised (episodes for sequential estimators, rows for one-step ones). */
  count: number;
  effectiveSampleSize: number;
  maxWeight: number;
  meanWeight: number;
  /** Share of the total weight carried by the single largest weight. */
  maxWeightShare: number;
  /** Fraction of weights that are exactly zero (target never takes the logged action). */
  zeroFraction: number;
}

export function summarizeWeights(weights: Float64Array): WeightSummary {
  let sum = 0;
  let sumSquares = 0;
  let max = 0;
  let zeros = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    sum += w;
    sumSquares += w * w;
    if (w > max) max = w;
    if (w === 0) zeros++;
  }
  const count = weights.length;
  return {
    count,
    effectiveSampleSize: sumSquares > 0 ? (sum * sum) / sumSquares : 0,
    maxWeight: max,
    meanWeight: count > 0 ? sum / count : 0,
    maxWeightShare: sum > 0 ? max / sum : 0,
    zeroFraction: count > 0 ? zeros / count : 0,
  };
}

/** Warnings in words when the weights say the estimate is not to be trusted. */
export function weightWarnings(summary: WeightSummary, unit: "episodes" | "rows"): string[] {
  const warnings: string[] = [];
  const { count, effectiveSampleSize: ess } = summary;
  if (count === 0) return [`no ${unit} to evaluate`];
  if (ess < 0.01 * count) {
    warnings.push(
      `effective sample size ${ess.toFixed(1)} is below 1% of ${count} ${unit}: the estimate rests on a handful of ${unit}; do not trust it`,
    );
  } else if (ess < 0.1 * count) {
    warnings.push(`effective sample size ${ess.toFixed(1)} is below 10% of ${count} ${unit}: expect high variance`);
  }
  if (summary.maxWeightShare > 0.5 && count > 1) {
    warnings.push(`a single ${unit === "episodes" ? "episode" : "row"} carries ${(100 * summary.maxWeightShare).toFixed(0)}% of the total weight`);
  }
  if (summary.zeroFraction > 0.9) {
    warnings.push(
      `the target policy gives probability 0 to a logged action in ${(100 * summary.zeroFraction).toFixed(0)}% of ${unit}: it mostly takes actions the logs never show`,
    );
  }
  if (ess >= 0.1 * count && Math.abs(summary.meanWeight - 1) > 0.5) {
    warnings.push(
      `mean importance weight ${summary.meanWeight.toFixed(3)} is far from 1: behaviour propensities may be wrong or the target leaves the logged support`,
    );
  }
  return warnings;
}
