/**
 * Preprocessing shared by training and serving, so both apply exactly the same arithmetic:
 * observation standardisation (statistics from the training data, stored in the manifest) and the min-max map
 * between a bounded action box [low, high] and the network's [-1, 1].
 * Reward scaling is training-only (it changes the targets, not the policy's inputs) and lives in src/algos.
 */
export interface ObservationScaler {
  mean: number[];
  std: number[];
}

/** Features with a spread below this are left unscaled (std 1) instead of blowing up. */
const MIN_STD = 1e-6;

/** Mean and (population) standard deviation per feature, accumulated in float64. */
export function fitObservationScaler(observations: Float32Array, dim: number): ObservationScaler {
  const rows = dim === 0 ? 0 : observations.length / dim;
  const sum = new Float64Array(dim);
  const sumSq = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    for (let j = 0; j < dim; j++) sum[j] += observations[base + j];
  }
  const mean = Array.from(sum, (s) => (rows > 0 ? s / rows : 0));
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    for (let j = 0; j < dim; j++) {
      const d = observations[base + j] - mean[j];
      sumSq[j] += d * d;
    }
  }
  const std = Array.from(sumSq, (s) => {
    const sd = rows > 0 ? Math.sqrt(s / rows) : 1;
    return sd < MIN_STD ? 1 : sd;
  });
  return { mean, std };
}

export function identityScaler(dim: number): ObservationScaler {
  return { mean: new Array<number>(dim).fill(0), std: new Array<number>(dim).fill(1) };
}

/** Per-feature minimum and maximum of the training observations (the support the OOD guard checks). */
export function fitSupport(observations: Float32Array, dim: number): { min: number[]; max: number[] } {
  const min = new Array<number>(dim).fill(Infinity);
  const max = new Array<number>(dim).fill(-Infinity);
  for (let i = 0; i < observations.length; i++) {
    const j = i % dim;
    const v = observations[i];
    if (v < min[j]) min[j] = v;
    if (v > max[j]) max[j] = v;
  }
  return { min, max };
}

/** (x - mean) / std, row-major, any number of rows. Writes into `out` when given. */
export function standardize(observations: Float32Array, scaler: ObservationScaler, out?: Float32Array): Float32Array {
  const dim = scaler.mean.length;
  const result = out ?? new Float32Array(observations.length);
  for (let i = 0; i < observations.length; i++) {
    const j = i % dim;
    result[i] = (observations[i] - scaler.mean[j]) / scaler.std[j];
  }
  return result;
}

/** [low, high] -> [-1, 1] per dimension (training targets for bounded actions). */
export function actionToUnit(actions: Float32Array, low: number[], high: number[], out?: Float32Array): Float32Array {
  const dim = low.length;
  const result = out ?? new Float32Array(actions.length);
  for (let i = 0; i < actions.length; i++) {
    const j = i % dim;
    result[i] = (2 * (actions[i] - low[j])) / (high[j] - low[j]) - 1;
  }
  return result;
}

/** [-1, 1] -> [low, high] per dimension (what the runtime returns to callers). */
export function actionFromUnit(unit: Float32Array, low: number[], high: number[], out?: Float32Array): Float32Array {
  const dim = low.length;
  const result = out ?? new Float32Array(unit.length);
  for (let i = 0; i < unit.length; i++) {
    const j = i % dim;
    result[i] = low[j] + ((unit[i] + 1) / 2) * (high[j] - low[j]);
  }
  return result;
}

/** log |d action / d unit| summed over dimensions: converts a density on [-1, 1] into one on [low, high]. */
export function actionLogJacobian(low: number[], high: number[]): number {
  let total = 0;
  for (let j = 0; j < low.length; j++) total += Math.log((high[j] - low[j]) / 2);
  return total;
}
