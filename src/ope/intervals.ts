import { OpeError } from "./errors.js";
import type { PointEstimate } from "./estimate.js";
import { Rng, streamSeed } from "../random/index.js";

/**
 * Uncertainty for off-policy estimates: percentile bootstrap over episodes (seeded) and one-sided high-confidence
 * lower bounds usable as a deployment gate (Student-t on per-episode pseudo-values; Thomas et al. 2015 concentration
 * inequality for importance-weighted returns).
 */
export interface BootstrapOptions {
  resamples: number;
  seed: number;
  /** Two-sided interval level, default 0.95. */
  level?: number;
  /**
   * Estimators normalised per time step (WPDIS, WDR) are recomputed from episode multiplicities, costing one pass
   * over the rows per resample. Above this many row visits in total, they resample first-order pseudo-values instead
   * (a linearised bootstrap), and the interval says so. Default 1e8.
   */
  rowVisitBudget?: number;
}

export interface Interval {
  lower: number;
  upper: number;
  level: number;
  method: string;
}

export interface BootstrapResult extends Interval {
  resamples: number;
  seed: number;
  /** Resampled estimates, sorted ascending. */
  replicates: Float64Array;
}

function quantileSorted(sorted: Float64Array, probability: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = probability * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  const fraction = position - below;
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

/** Mean of values resampled with replacement, B times, for values given per episode. */
function resampleMeans(values: Float64Array, resamples: number, random: Rng): Float64Array {
  const n = values.length;
  const replicates = new Float64Array(resamples);
  const draws = new Int32Array(n);
  for (let b = 0; b < resamples; b++) {
    random.fillInts(n, draws);
    let sum = 0;
    for (let k = 0; k < n; k++) sum += values[draws[k]];
    replicates[b] = sum / n;
  }
  return replicates;
}

export function bootstrap(estimate: PointEstimate, options: BootstrapOptions): BootstrapResult {
  const { resamples, seed } = options;
  const level = options.level ?? 0.95;
  if (!(Number.isInteger(resamples) && resamples >= 2)) {
    throw new OpeError("invalid_bootstrap", `bootstrap resamples must be an integer >= 2, got ${resamples}`, { estimator: estimate.estimator });
  }
  if (!(level > 0 && level < 1)) throw new OpeError("invalid_level", `interval level must be in (0, 1), got ${level}`);
  const n = estimate.episodes;
  if (n < 1) throw new OpeError("no_episodes", "bootstrap needs at least one episode", { estimator: estimate.estimator });
  const random = new Rng(streamSeed(seed, estimate.estimator));
  let replicates: Float64Array;
  let method: string;
  const resample = estimate.resample;
  if (resample.kind === "ratios") {
    method = `percentile bootstrap over episodes (B=${resamples}, seed=${seed})`;
    const terms = resample.terms;
    if (terms.length === 1 && terms[0].denominator === null) {
      replicates = resampleMeans(terms[0].numerator, resamples, random);
    } else {
      replicates = new Float64Array(resamples);
      const numerators = terms.map((t) => t.numerator);
      const denominators = terms.map((t) => t.denominator);
      const sumNumerator = new Float64Array(terms.length);
      const sumDenominator = new Float64Array(terms.length);
      const draws = new Int32Array(n);
      for (let b = 0; b < resamples; b++) {
        sumNumerator.fill(0);
        sumDenominator.fill(0);
        random.fillInts(n, draws);
        for (let k = 0; k < n; k++) {
          const e = draws[k];
          for (let j = 0; j < terms.length; j++) {
            sumNumerator[j] += numerators[j][e];
            const denominator = denominators[j];
            sumDenominator[j] += denominator ? denominator[e] : 1;
          }
        }
        let value = 0;
        for (let j = 0; j < terms.length; j++) value += sumDenominator[j] !== 0 ? sumNumerator[j] / sumDenominator[j] : 0;
        replicates[b] = value;
      }
    }
  } else if (resample.rows * resamples <= (options.rowVisitBudget ?? 1e8)) {
    method = `percentile bootstrap over episodes (B=${resamples}, seed=${seed})`;
    replicates = new Float64Array(resamples);
    const counts = new Int32Array(n);
    const draws = new Int32Array(n);
    for (let b = 0; b < resamples; b++) {
      counts.fill(0);
      random.fillInts(n, draws);
      for (let k = 0; k < n; k++) counts[draws[k]]++;
      replicates[b] = resample.evaluate(counts);
    }
  } else {
    method = `linearised percentile bootstrap over episodes (first-order pseudo-values; B=${resamples}, seed=${seed})`;
    replicates = resampleMeans(estimate.pseudoValues(), resamples, random);
  }
  replicates.sort();
  const tail = (1 - level) / 2;
  return {
    lower: quantileSorted(replicates, tail),
    upper: quantileSorted(replicates, 1 - tail),
    level,
    method,
    resamples,
    seed,
    replicates,
  };
}

export interface LowerBound {
  value: number;
  /** One-sided confidence: the true value is at least `value` with this probability (under the method's assumptions). */
  confidence: number;
  method: string;
}

/** One-sided bootstrap lower bound: the (1 - confidence) quantile of the replicates. */
export function bootstrapLowerBound(result: BootstrapResult, confidence: number): LowerBound {
  return {
    value: quantileSorted(result.replicates, 1 - confidence),
    confidence,
    method: `bootstrap percentile lower bound (B=${result.resamples}, seed=${result.seed})`,
  };
}

// --- Student-t -------------------------------------------------------------------------------------------------

/** log Gamma(x), x > 0 (Lanczos approximation, g = 7). */
export function logGamma(x: number): number {
  const coefficients = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const shifted = x - 1;
  let series = coefficients[0];
  for (let i = 1; i < 9; i++) series += coefficients[i] / (shifted + i);
  const t = shifted + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (shifted + 0.5) * Math.log(t) - t + Math.log(series);
}

/** Continued fraction for the regularised incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let numerator = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + numerator * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + numerator / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    numerator = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + numerator * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + numerator / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** CDF of Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}

/** Quantile of Student's t (bisection on the CDF; p in (0, 1)). */
export function studentTQuantile(p: number, df: number): number {
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let low = 0;
  let high = 1;
  while (studentTCdf(high, df) < p) high *= 2;
  for (let i = 0; i < 200 && high - low > 1e-12 * Math.max(1, high); i++) {
    const middle = (low + high) / 2;
    if (studentTCdf(middle, df) < p) low = middle;
    else high = middle;
  }
  return (low + high) / 2;
}

function meanAndVariance(values: Float64Array): { mean: number; variance: number } {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i] - mean) ** 2;
  return { mean, variance: n > 1 ? squares / (n - 1) : Number.NaN };
}

/**
 * One-sided Student-t lower bound on the mean of per-episode values: mean - t_{confidence, n-1} s / sqrt(n).
 * Assumes the mean is approximately normal; heavy-tailed importance weights make it optimistic.
 */
export function studentTLowerBound(values: Float64Array, confidence: number): LowerBound {
  const n = values.length;
  if (n < 2) return { value: Number.NaN, confidence, method: "student-t (needs at least 2 episodes)" };
  const { mean, variance } = meanAndVariance(values);
  return {
    value: mean - (studentTQuantile(confidence, n - 1) * Math.sqrt(variance)) / Math.sqrt(n),
    confidence,
    method: `student-t on per-episode values (n=${n})`,
  };
}

// --- Thomas, Theocharous & Ghavamzadeh (2015) -------------------------------------------------------------------

/**
 * The concentration inequality of HCOPE (Thomas et al. 2015, Theorem 1) with one threshold c for all X_i >= 0:
 * with probability at least 1 - delta, E[X] >= mean(Y) - 7 c ln(2/delta) / (3 (n - 1)) - sqrt(2 ln(2/delta) s_Y^2 / n),
 * where Y_i = min(X_i, c) and s_Y^2 is the unbiased sample variance of Y.
 */
export function thomasBound(values: Float64Array, threshold: number, delta: number): number {
  const n = values.length;
  if (n < 2) return Number.NEGATIVE_INFINITY;
  const clipped = new Float64Array(n);
  for (let i = 0; i < n; i++) clipped[i] = Math.min(values[i], threshold);
  const { mean, variance } = meanAndVariance(clipped);
  const logTerm = Math.log(2 / delta);
  return mean - (7 * threshold * logTerm) / (3 * (n - 1)) - Math.sqrt((2 * logTerm * variance) / n);
}

/**
 * HCOPE lower bound on the mean of non-negative values (importance-weighted returns scaled to [0, 1]).
 * A seeded 1/20 of the values chooses the threshold c that maximises the bound predicted for the rest; the bound
 * is then computed on the rest (as in the paper), so it stays valid.
 */
export function thomasLowerBound(values: Float64Array, confidence: number, seed: number): LowerBound {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    if (!(values[i] >= 0)) throw new OpeError("negative_value", `the concentration bound needs non-negative values; value ${i} is ${values[i]}`, { episode: i });
  }
  const delta = 1 - confidence;
  const method = "thomas2015 concentration inequality (HCOPE Theorem 1, threshold chosen on a 5% split)";
  if (n < 40) return { value: 0, confidence, method: `${method}: too few episodes (${n}), bound is the trivial 0` };
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const random = new Rng(streamSeed(seed, "thomas2015"));
  for (let i = n - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  const selectionSize = Math.max(2, Math.floor(n / 20));
  const selection = new Float64Array(selectionSize);
  const rest = new Float64Array(n - selectionSize);
  for (let i = 0; i < n; i++) {
    if (i < selectionSize) selection[i] = values[order[i]];
    else rest[i - selectionSize] = values[order[i]];
  }
  // Predicted bound for the rest, from selection statistics: same formula with n = rest size.
  const sortedSelection = selection.slice().sort();
  let bestThreshold = Math.max(sortedSelection[sortedSelection.length - 1], 1e-12);
  let bestPredicted = Number.NEGATIVE_INFINITY;
  const logTerm = Math.log(2 / delta);
  const m = rest.length;
  for (let q = 0; q <= 40; q++) {
    const candidate = Math.max(quantileSorted(sortedSelection, 0.5 + (0.5 * q) / 40) * (q === 40 ? 2 : 1), 1e-12);
    const clipped = new Float64Array(selectionSize);
    for (let i = 0; i < selectionSize; i++) clipped[i] = Math.min(selection[i], candidate);
    const { mean, variance } = meanAndVariance(clipped);
    const predicted = mean - (7 * candidate * logTerm) / (3 * (m - 1)) - Math.sqrt((2 * logTerm * variance) / m);
    if (predicted > bestPredicted) {
      bestPredicted = predicted;
      bestThreshold = candidate;
    }
  }
  return {
    value: Math.max(0, thomasBound(rest, bestThreshold, delta)),
    confidence,
    method: `${method}, c=${bestThreshold.toPrecision(4)}`,
  };
}
