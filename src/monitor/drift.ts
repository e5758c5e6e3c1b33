/**
 * Drift between a reference sample (the training dataset version's states) and a live window (decision-log states).
 *
 * Per feature: PSI and KL divergence on bins shared by both samples (edges from reference quantiles).
 * Multivariate: maximum mean discrepancy with a Gaussian RBF kernel, bandwidth by the median heuristic, and a
 * seeded permutation-test p-value (Gretton et al., "A Kernel Two-Sample Test", JMLR 2012: eq. 3 for the unbiased
 * quadratic MMD², section 6 for the linear-time estimator).
 */
import { MonitorError } from "./errors.js";
import { Rng } from "../random/index.js";

/** Row-major samples: row r, feature j is values[r * dim + j]. */
export interface FeatureSample {
  rows: number;
  dim: number;
  values: Float32Array | Float64Array;
}

export interface BinOptions {
  /** Number of quantile bins built from the reference (default 10). */
  bins?: number;
  /** Additive smoothing per bin so empty bins do not give infinite divergences (default 0.5). */
  smoothing?: number;
}

export interface FeatureDrift {
  feature: string;
  index: number;
  psi: number;
  /** KL(live || reference) on the shared bins, in nats. */
  kl: number;
  referenceMean: number;
  liveMean: number;
  /** Live mean shift in reference standard deviations. */
  meanShift: number;
  flagged: boolean;
  /** 1 = drifted the most (by PSI). */
  rank: number;
}

export interface MmdOptions {
  /** "quadratic": unbiased MMD² on a seeded subsample; "linear": Gretton's linear-time estimator on all rows. */
  estimator?: "quadratic" | "linear";
  /** Rows drawn from each side for the quadratic estimator (default 500). */
  sampleSize?: number;
  /** Rows used from each side by the linear estimator (default 100000). */
  maxRows?: number;
  permutations?: number;
  seed?: number;
  /** Kernel bandwidth in standardised units; default: median pairwise distance of a pooled subsample. */
  bandwidth?: number;
}

export interface MmdResult {
  estimator: "quadratic" | "linear";
  /** MMD² estimate on features standardised by the reference mean and standard deviation. */
  statistic: number;
  pValue: number;
  bandwidth: number;
  rowsPerSide: number;
  permutations: number;
}

export interface DriftOptions extends BinOptions {
  featureNames?: string[];
  /** A feature is flagged when its PSI exceeds this (default 0.2; 0.1-0.25 is the usual "moderate" band). */
  psiThreshold?: number;
  mmd?: MmdOptions | false;
  /** MMD drift is declared when the permutation p-value is below this (default 0.01). */
  alpha?: number;
}

export interface DriftReport {
  referenceRows: number;
  liveRows: number;
  /** Sorted by rank: the most drifted feature first. */
  features: FeatureDrift[];
  /** The drift index: the largest per-feature PSI. */
  driftIndex: number;
  mmd: MmdResult | null;
  drifted: boolean;
}

export function column(sample: FeatureSample, feature: number): Float64Array {
  const out = new Float64Array(sample.rows);
  for (let r = 0, k = feature; r < sample.rows; r++, k += sample.dim) out[r] = sample.values[k]!;
  return out;
}

/** Interior bin edges at the reference quantiles k/bins, duplicates removed (ties collapse bins). */
export function sharedBinEdges(reference: Float64Array, bins = 10): Float64Array {
  if (!Number.isInteger(bins) || bins < 2) {
    throw new MonitorError("drift_invalid_option", `bins must be an integer >= 2, got ${bins}`, { field: "bins", value: bins });
  }
  if (reference.length === 0) throw new MonitorError("drift_sample_too_small", "reference sample is empty", { rows: 0 });
  const sorted = Float64Array.from(reference).sort();
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const position = (k / bins) * (sorted.length - 1);
    const low = Math.floor(position);
    const high = Math.min(low + 1, sorted.length - 1);
    const edge = sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return Float64Array.from(edges);
}

/** Counts per bin: bin 0 is (-inf, e0), bin i is [e(i-1), e(i)), the last is [e(last), inf). */
export function binCounts(values: Float64Array, edges: Float64Array): Float64Array {
  const counts = new Float64Array(edges.length + 1);
  for (let r = 0; r < values.length; r++) {
    const v = values[r]!;
    let low = 0;
    let high = edges.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (v >= edges[mid]!) low = mid + 1;
      else high = mid;
    }
    counts[low]! += 1;
  }
  return counts;
}

/** Smoothed proportions: (count + smoothing) / (total + smoothing * bins). */
export function binProportions(counts: Float64Array, smoothing = 0.5): Float64Array {
  let total = 0;
  for (const c of counts) total += c;
  const out = new Float64Array(counts.length);
  const denominator = total + smoothing * counts.length;
  for (let i = 0; i < counts.length; i++) out[i] = (counts[i]! + smoothing) / denominator;
  return out;
}

/** Population stability index: sum over bins of (live - reference) * ln(live / reference). */
export function populationStabilityIndex(reference: Float64Array, live: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    if (live[i] !== reference[i]) sum += (live[i]! - reference[i]!) * Math.log(live[i]! / reference[i]!);
  }
  return sum;
}

/** KL(live || reference) in nats. */
export function klDivergence(reference: Float64Array, live: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < reference.length; i++) if (live[i]! > 0) sum += live[i]! * Math.log(live[i]! / reference[i]!);
  return sum;
}

function meanAndStd(values: Float64Array): { mean: number; std: number } {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let variance = 0;
  for (const v of values) variance += (v - mean) * (v - mean);
  variance /= Math.max(1, values.length - 1);
  return { mean, std: Math.sqrt(variance) };
}

function checkSamples(reference: FeatureSample, live: FeatureSample, minimumRows: number): void {
  if (reference.dim !== live.dim) {
    throw new MonitorError("drift_dimension_mismatch", `reference has ${reference.dim} features, live window has ${live.dim}`, {
      expected: reference.dim,
      value: live.dim,
    });
  }
  for (const [name, sample] of [["reference", reference], ["live", live]] as const) {
    if (sample.rows < minimumRows) {
      throw new MonitorError("drift_sample_too_small", `${name} sample has ${sample.rows} rows, need at least ${minimumRows}`, {
        field: name,
        value: sample.rows,
        expected: minimumRows,
      });
    }
  }
}

/** PSI and KL per feature on reference-quantile bins, ranked by PSI (largest first). */
export function featureDrift(reference: FeatureSample, live: FeatureSample, options: DriftOptions = {}): FeatureDrift[] {
  checkSamples(reference, live, 1);
  const threshold = options.psiThreshold ?? 0.2;
  const result: FeatureDrift[] = [];
  for (let j = 0; j < reference.dim; j++) {
    const referenceColumn = column(reference, j);
    const liveColumn = column(live, j);
    const edges = sharedBinEdges(referenceColumn, options.bins ?? 10);
    const referenceProportions = binProportions(binCounts(referenceColumn, edges), options.smoothing ?? 0.5);
    const liveProportions = binProportions(binCounts(liveColumn, edges), options.smoothing ?? 0.5);
    const psi = populationStabilityIndex(referenceProportions, liveProportions);
    const referenceStats = meanAndStd(referenceColumn);
    const liveStats = meanAndStd(liveColumn);
    result.push({
      feature: options.featureNames?.[j] ?? `f${j}`,
      index: j,
      psi,
      kl: klDivergence(referenceProportions, liveProportions),
      referenceMean: referenceStats.mean,
      liveMean: liveStats.mean,
      meanShift: (liveStats.mean - referenceStats.mean) / (referenceStats.std > 0 ? referenceStats.std : 1),
      flagged: psi > threshold,
      rank: 0,
    });
  }
  result.sort((a, b) => b.psi - a.psi || a.index - b.index);
  result.forEach((f, i) => (f.rank = i + 1));
  return result;
}

/** Selected rows of both samples, standardised by the reference mean/std, packed as one pool (reference first). */
function standardisedPool(reference: FeatureSample, referenceRows: Int32Array, live: FeatureSample, liveRows: Int32Array): Float64Array {
  const dim = reference.dim;
  const shift = new Float64Array(dim);
  const scale = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const stats = meanAndStd(column(reference, j));
    shift[j] = stats.mean;
    scale[j] = stats.std > 0 ? 1 / stats.std : 1;
  }
  const pool = new Float64Array((referenceRows.length + liveRows.length) * dim);
  let k = 0;
  for (const [sample, rows] of [[reference, referenceRows], [live, liveRows]] as const) {
    for (const r of rows) for (let j = 0; j < dim; j++) pool[k++] = (sample.values[r * dim + j]! - shift[j]!) * scale[j]!;
  }
  return pool;
}

function squaredDistance(pool: Float64Array, a: number, b: number, dim: number): number {
  let sum = 0;
  const oa = a * dim;
  const ob = b * dim;
  for (let j = 0; j < dim; j++) {
    const d = pool[oa + j]! - pool[ob + j]!;
    sum += d * d;
  }
  return sum;
}

/** Median pairwise Euclidean distance over (up to) the first 400 points of a seeded pool order. */
function medianHeuristic(pool: Float64Array, order: Int32Array, dim: number): number {
  const n = Math.min(order.length, 400);
  const distances = new Float64Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) distances[k++] = Math.sqrt(squaredDistance(pool, order[i]!, order[j]!, dim));
  distances.sort();
  const median = distances.length > 0 ? distances[distances.length >> 1]! : 1;
  return median > 0 ? median : 1;
}

function sampleRows(rows: number, count: number, rng: Rng): Int32Array {
  const all = new Int32Array(rows);
  for (let i = 0; i < rows; i++) all[i] = i;
  if (count >= rows) return all;
  rng.partialShuffle(all, count);
  return all.slice(0, count);
}

/** Unbiased MMD² of a labelled pool from a precomputed kernel matrix (isX[i] = 1 for the reference side). */
function quadraticStatistic(kernel: Float64Array, n: number, isX: Uint8Array, nx: number, ny: number): number {
  let sumXX = 0;
  let sumYY = 0;
  let sumXY = 0;
  for (let i = 0; i < n; i++) {
    const row = i * n;
    const xi = isX[i]!;
    for (let j = i + 1; j < n; j++) {
      const k = kernel[row + j]!;
      const xj = isX[j]!;
      if (xi & xj) sumXX += k;
      else if (xi | xj) sumXY += k;
      else sumYY += k;
    }
  }
  return (2 * sumXX) / (nx * (nx - 1)) + (2 * sumYY) / (ny * (ny - 1)) - (2 * sumXY) / (nx * ny);
}

/** Linear-time MMD²: mean over disjoint quadruples (x1, x2, y1, y2) of k(x1,x2) + k(y1,y2) - k(x1,y2) - k(x2,y1). */
function linearStatistic(pool: Float64Array, order: Int32Array, half: number, dim: number, gamma: number): number {
  const pairs = half >> 1;
  let sum = 0;
  for (let p = 0; p < pairs; p++) {
    const x1 = order[2 * p]!;
    const x2 = order[2 * p + 1]!;
    const y1 = order[half + 2 * p]!;
    const y2 = order[half + 2 * p + 1]!;
    sum +=
      Math.exp(-gamma * squaredDistance(pool, x1, x2, dim)) +
      Math.exp(-gamma * squaredDistance(pool, y1, y2, dim)) -
      Math.exp(-gamma * squaredDistance(pool, x1, y2, dim)) -
      Math.exp(-gamma * squaredDistance(pool, x2, y1, dim));
  }
  return sum / pairs;
}

/** Multivariate two-sample test: MMD² with an RBF kernel and a seeded permutation p-value. */
export function mmdTest(reference: FeatureSample, live: FeatureSample, options: MmdOptions = {}): MmdResult {
  const estimator = options.estimator ?? "quadratic";
  const permutations = options.permutations ?? 200;
  if (!Number.isInteger(permutations) || permutations < 1) {
    throw new MonitorError("drift_invalid_option", `permutations must be a positive integer, got ${permutations}`, {
      field: "permutations",
      value: permutations,
    });
  }
  checkSamples(reference, live, estimator === "linear" ? 4 : 2);
  const rng = new Rng(options.seed ?? 0);
  const dim = reference.dim;
  const perSide =
    estimator === "quadratic"
      ? Math.min(options.sampleSize ?? 500, reference.rows, live.rows)
      : 2 * (Math.min(options.maxRows ?? 100_000, reference.rows, live.rows) >> 1);
  const pool = standardisedPool(reference, sampleRows(reference.rows, perSide, rng), live, sampleRows(live.rows, perSide, rng));
  const total = 2 * perSide;
  const order = new Int32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  const bandwidthOrder = order.slice();
  rng.partialShuffle(bandwidthOrder, Math.min(400, total));
  const bandwidth = options.bandwidth ?? medianHeuristic(pool, bandwidthOrder, dim);
  const gamma = 1 / (2 * bandwidth * bandwidth);

  let statistic: number;
  let atLeastAsExtreme = 0;
  if (estimator === "quadratic") {
    const kernel = new Float64Array(total * total);
    for (let i = 0; i < total; i++) {
      for (let j = i + 1; j < total; j++) kernel[i * total + j] = Math.exp(-gamma * squaredDistance(pool, i, j, dim));
    }
    const labels = new Uint8Array(total);
    labels.fill(1, 0, perSide);
    statistic = quadraticStatistic(kernel, total, labels, perSide, perSide);
    for (let b = 0; b < permutations; b++) {
      rng.shuffle(order);
      labels.fill(0);
      for (let i = 0; i < perSide; i++) labels[order[i]!] = 1;
      if (quadraticStatistic(kernel, total, labels, perSide, perSide) >= statistic) atLeastAsExtreme++;
    }
  } else {
    statistic = linearStatistic(pool, order, perSide, dim, gamma);
    for (let b = 0; b < permutations; b++) {
      rng.shuffle(order);
      if (linearStatistic(pool, order, perSide, dim, gamma) >= statistic) atLeastAsExtreme++;
    }
  }
  return {
    estimator,
    statistic,
    pValue: (1 + atLeastAsExtreme) / (1 + permutations),
    bandwidth,
    rowsPerSide: perSide,
    permutations,
  };
}

/** Everything the monitor reports about drift for one live window. */
export function driftReport(reference: FeatureSample, live: FeatureSample, options: DriftOptions = {}): DriftReport {
  const features = featureDrift(reference, live, options);
  const mmd = options.mmd === false ? null : mmdTest(reference, live, options.mmd ?? {});
  const driftIndex = features.reduce((max, f) => Math.max(max, f.psi), 0);
  return {
    referenceRows: reference.rows,
    liveRows: live.rows,
    features,
    driftIndex,
    mmd,
    drifted: features.some((f) => f.flagged) || (mmd !== null && mmd.pValue < (options.alpha ?? 0.01)),
  };
}
