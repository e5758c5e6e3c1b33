import type { Exploration } from "./config.js";
import type { PolicyOutput } from "./policy.js";
import type { Rng } from "../random/index.js";

/**
 * Turns a policy's output into the distribution the service samples from, per the deployment's exploration
 * config. Discrete: a probability vector over actions. Continuous: a mean and a per-dimension std (std 0 means
 * deterministic). Whatever is sampled, its probability (or log-density) is known exactly and is logged.
 */
export function discreteDistribution(scores: ArrayLike<number>, exploration: Exploration): Float64Array {
  const n = scores.length;
  const probs = new Float64Array(n);
  if (exploration.kind === "softmax") {
    let max = -Infinity;
    for (let a = 0; a < n; a++) if (scores[a] > max) max = scores[a];
    let total = 0;
    for (let a = 0; a < n; a++) {
      probs[a] = Math.exp((scores[a] - max) / exploration.temperature);
      total += probs[a];
    }
    for (let a = 0; a < n; a++) probs[a] /= total;
    return probs;
  }
  const greedy = argmax(scores);
  if (exploration.kind === "epsilon") {
    const floor = exploration.epsilon / n;
    probs.fill(floor);
    probs[greedy] += 1 - exploration.epsilon;
    return probs;
  }
  probs[greedy] = 1;
  return probs;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export function sampleDiscrete(probs: Float64Array, random: Rng): number {
  const u = random.uniform();
  let cumulative = 0;
  for (let a = 0; a < probs.length; a++) {
    cumulative += probs[a];
    if (u < cumulative && probs[a] > 0) return a;
  }
  for (let a = probs.length - 1; a >= 0; a--) if (probs[a] > 0) return a;
  return 0;
}

/** Per-dimension exploration std for a continuous output (0 = deterministic). */
export function continuousStd(output: Extract<PolicyOutput, { kind: "continuous" }>, exploration: Exploration): Float64Array {
  const dim = output.mean.length;
  const std = new Float64Array(dim);
  if (exploration.kind === "gaussian") {
    for (let d = 0; d < dim; d++) {
      std[d] = typeof exploration.std === "number" ? exploration.std : (exploration.std[d] ?? exploration.std[0]);
    }
  }
  return std;
}

export function sampleGaussian(mean: ArrayLike<number>, std: Float64Array, random: Rng): Float64Array {
  const action = new Float64Array(mean.length);
  for (let d = 0; d < mean.length; d++) action[d] = std[d] > 0 ? mean[d] + std[d] * random.normal() : mean[d];
  return action;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** Log-density of a diagonal Gaussian at `action`, over the dimensions with std > 0. */
export function gaussianLogDensity(action: ArrayLike<number>, mean: ArrayLike<number>, std: Float64Array): number {
  let logDensity = 0;
  for (let d = 0; d < action.length; d++) {
    if (std[d] <= 0) continue;
    const z = (action[d] - mean[d]) / std[d];
    logDensity += -0.5 * z * z - Math.log(std[d]) - LOG_SQRT_2PI;
  }
  return logDensity;
}

/** Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/**
 * Probability that a diagonal Gaussian (std 0 = point mass) lands inside the box [low, high]:
 * the chance that exploration yields an action the safety rules accept.
 */
export function boxProbability(mean: ArrayLike<number>, std: Float64Array, low: Float64Array, high: Float64Array): number {
  let probability = 1;
  for (let d = 0; d < mean.length; d++) {
    if (std[d] > 0) {
      probability *= Math.max(0, normalCdf((high[d] - mean[d]) / std[d]) - normalCdf((low[d] - mean[d]) / std[d]));
    } else if (mean[d] < low[d] || mean[d] > high[d]) {
      return 0;
    }
  }
  return probability;
}

/**
 * The shortest decimal that rounds to the same float32 as `value` (e.g. 0.10000000149011612 -> 0.1): what a float32
 * runtime's output means, without the binary noise of widening it to float64. Other values come back unchanged.
 */
export function float32Decimal(value: number): number {
  if (!Number.isFinite(value) || Math.fround(value) !== value) return value;
  for (let digits = 1; digits < 9; digits++) {
    const shorter = Number(value.toPrecision(digits));
    if (Math.fround(shorter) === value) return shorter;
  }
  return value;
}
