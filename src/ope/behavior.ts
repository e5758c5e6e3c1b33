import type { Transitions } from "../data/transitions.js";
import { OpeError } from "./errors.js";
import { Rng } from "../random/index.js";

/**
 * An estimated behaviour policy for logs without propensities (behaviour cloning). Discrete actions: multinomial
 * logistic regression on standardised features; continuous actions: a linear-Gaussian model per action dimension.
 * The result is labelled so every estimate built on it says that its propensities are estimated, not logged.
 */
export interface EstimatedBehavior {
  /** Probability (discrete) or log-density (continuous) of each logged action under the fitted model. */
  behaviorProb: Float64Array;
  label: string;
  /** Mean log-likelihood of the logged actions under the model (training fit). */
  meanLogLikelihood: number;
}

export interface BehaviorCloningOptions {
  /** Rows used for fitting (a seeded subsample above this), default 100,000. */
  maxRows?: number;
  iterations?: number;
  learningRate?: number;
  l2?: number;
  seed?: number;
}

function standardization(observations: Float32Array, dim: number, rows: Int32Array) {
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (const row of rows) for (let j = 0; j < dim; j++) mean[j] += observations[row * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= rows.length;
  for (const row of rows) for (let j = 0; j < dim; j++) std[j] += (observations[row * dim + j] - mean[j]) ** 2;
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j] / rows.length) || 1;
  return { mean, std };
}

function sampleRows(size: number, maxRows: number, seed: number): Int32Array {
  if (size <= maxRows) return Int32Array.from({ length: size }, (_, i) => i);
  const random = new Rng(seed);
  const rows = new Int32Array(maxRows);
  for (let i = 0; i < maxRows; i++) rows[i] = random.int(size);
  return rows;
}

export function estimateBehaviorPolicy(transitions: Transitions, options: BehaviorCloningOptions = {}): EstimatedBehavior {
  const { observations, observationDim: dim, size } = transitions;
  if (size === 0) throw new OpeError("no_episodes", "cannot estimate a behaviour policy from an empty dataset");
  const rows = sampleRows(size, options.maxRows ?? 100_000, options.seed ?? 0);
  const { mean, std } = standardization(observations, dim, rows);
  const features = dim + 1;
  const feature = (row: number, out: Float64Array) => {
    for (let j = 0; j < dim; j++) out[j] = (observations[row * dim + j] - mean[j]) / std[j];
    out[dim] = 1;
  };
  const x = new Float64Array(features);
  const space = transitions.actionSpace;

  if (space.kind === "discrete") {
    const actions = transitions.actions as Int32Array;
    const n = space.n;
    const weights = new Float64Array(n * features);
    const gradient = new Float64Array(n * features);
    const logits = new Float64Array(n);
    const iterations = options.iterations ?? 200;
    /** Fills `logits` with the model's scores for `row`'s features (in `x`); returns their maximum. */
    const scores = (row: number): number => {
      feature(row, x);
      let max = -Infinity;
      for (let a = 0; a < n; a++) {
        let z = 0;
        for (let j = 0; j < features; j++) z += weights[a * features + j] * x[j];
        logits[a] = z;
        if (z > max) max = z;
      }
      return max;
    };
    const learningRate = options.learningRate ?? 0.5;
    const l2 = options.l2 ?? 1e-4;
    // Full-batch gradient descent on the mean cross-entropy (convex; zero initialisation, so deterministic).
    for (let iteration = 0; iteration < iterations; iteration++) {
      gradient.fill(0);
      for (const row of rows) {
        const max = scores(row);
        let total = 0;
        for (let a = 0; a < n; a++) total += (logits[a] = Math.exp(logits[a] - max));
        for (let a = 0; a < n; a++) {
          const residual = logits[a] / total - (a === actions[row] ? 1 : 0);
          for (let j = 0; j < features; j++) gradient[a * features + j] += residual * x[j];
        }
      }
      for (let k = 0; k < weights.length; k++) weights[k] -= learningRate * (gradient[k] / rows.length + l2 * weights[k]);
    }
    const behaviorProb = new Float64Array(size);
    let logLikelihood = 0;
    for (let row = 0; row < size; row++) {
      const max = scores(row);
      let total = 0;
      for (let a = 0; a < n; a++) total += Math.exp(logits[a] - max);
      // Floor keeps weights finite where the model is overconfident.
      const probability = Math.max(1e-3, Math.exp(logits[actions[row]] - max) / total);
      behaviorProb[row] = probability;
      logLikelihood += Math.log(probability);
    }
    return {
      behaviorProb,
      label: "estimated behaviour policy (behaviour cloning: multinomial logistic regression; propensities floored at 0.001)",
      meanLogLikelihood: logLikelihood / size,
    };
  }

  // Continuous: per action dimension, least squares a_k ~ x (normal equations) and a residual variance.
  const actions = transitions.actions as Float32Array;
  const actionDim = space.low.length;
  const gram = new Float64Array(features * features);
  for (const row of rows) {
    feature(row, x);
    for (let i = 0; i < features; i++) for (let j = 0; j < features; j++) gram[i * features + j] += x[i] * x[j];
  }
  for (let i = 0; i < features; i++) gram[i * features + i] += 1e-6 * rows.length;
  const coefficients: Float64Array[] = [];
  const variances: number[] = [];
  for (let k = 0; k < actionDim; k++) {
    const rhs = new Float64Array(features);
    for (const row of rows) {
      feature(row, x);
      for (let i = 0; i < features; i++) rhs[i] += x[i] * actions[row * actionDim + k];
    }
    const beta = solveSymmetric(gram, rhs, features);
    let squares = 0;
    for (const row of rows) {
      feature(row, x);
      let prediction = 0;
      for (let i = 0; i < features; i++) prediction += beta[i] * x[i];
      squares += (actions[row * actionDim + k] - prediction) ** 2;
    }
    coefficients.push(beta);
    variances.push(Math.max(squares / rows.length, 1e-8));
  }
  const behaviorProb = new Float64Array(size);
  let logLikelihood = 0;
  for (let row = 0; row < size; row++) {
    feature(row, x);
    let logDensity = 0;
    for (let k = 0; k < actionDim; k++) {
      let prediction = 0;
      for (let i = 0; i < features; i++) prediction += coefficients[k][i] * x[i];
      const residual = actions[row * actionDim + k] - prediction;
      logDensity += -0.5 * Math.log(2 * Math.PI * variances[k]) - (residual * residual) / (2 * variances[k]);
    }
    behaviorProb[row] = logDensity;
    logLikelihood += logDensity;
  }
  return {
    behaviorProb,
    label: "estimated behaviour policy (behaviour cloning: linear-Gaussian regression per action dimension)",
    meanLogLikelihood: logLikelihood / size,
  };
}

/** Solves A x = b for a small symmetric positive-definite A (Cholesky). */
function solveSymmetric(matrix: Float64Array, rhs: Float64Array, n: number): Float64Array {
  const lower = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = matrix[i * n + j];
      for (let k = 0; k < j; k++) sum -= lower[i * n + k] * lower[j * n + k];
      lower[i * n + j] = i === j ? Math.sqrt(Math.max(sum, 1e-12)) : sum / lower[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = rhs[i];
    for (let k = 0; k < i; k++) sum -= lower[i * n + k] * y[k];
    y[i] = sum / lower[i * n + i];
  }
  const solution = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < n; k++) sum -= lower[k * n + i] * solution[k];
    solution[i] = sum / lower[i * n + i];
  }
  return solution;
}
