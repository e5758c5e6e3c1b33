/**
 * The in-memory, columnar form of a dataset version: what training and off-policy evaluation consume.
 * Row i is one logged decision. Episodes are contiguous runs of rows: episode e spans
 * rows [episodeStarts[e], episodeStarts[e + 1]).
 */
export type ActionSpace =
  | { kind: "discrete"; n: number }
  | { kind: "continuous"; low: number[]; high: number[] };

export interface Transitions {
  /** Number of transitions (rows). */
  size: number;
  observationDim: number;
  /** Feature names, length observationDim. */
  featureNames: string[];
  actionSpace: ActionSpace;
  /** size * observationDim, row-major. */
  observations: Float32Array;
  /** size * observationDim; the observation after the action (zeros where unknown at a truncated end). */
  nextObservations: Float32Array;
  /** Discrete: Int32Array of length size. Continuous: Float32Array of size * actionDim. */
  actions: Int32Array | Float32Array;
  rewards: Float32Array;
  /** 1 where the episode ended in a true terminal state (no bootstrapping), else 0. */
  terminals: Uint8Array;
  /** 1 where the episode was cut off (time limit) at this step, else 0. */
  truncations: Uint8Array;
  /**
   * Behaviour policy's probability of the logged action (discrete) or its log-density (continuous);
   * null when the logs carry no propensities.
   */
  behaviorProb: Float64Array | null;
  /**
   * 1 where the row's next observation was not logged: an episode's last step that is not terminal, in data without
   * next-observation columns. Its `nextObservations` row is zeros; learners must not bootstrap from it.
   * Absent or null when every successor is known.
   */
  nextObservationMissing?: Uint8Array | null;
  /** Offsets of episode starts, length episodeCount + 1, last entry equals size. */
  episodeStarts: Int32Array;
  /** Step index within its episode. */
  steps: Int32Array;
}

export function episodeCount(t: Transitions): number {
  return t.episodeStarts.length - 1;
}

export function actionDim(space: ActionSpace): number {
  return space.kind === "discrete" ? 1 : space.low.length;
}

/** Rows a temporal-difference learner may use: every row whose successor is known or that ends in a terminal state. */
export function bootstrapRows(t: Transitions): Int32Array {
  const missing = t.nextObservationMissing;
  if (!missing) return Int32Array.from({ length: t.size }, (_, i) => i);
  let count = 0;
  for (let i = 0; i < t.size; i++) if (!missing[i] || t.terminals[i]) count++;
  const rows = new Int32Array(count);
  for (let i = 0, k = 0; i < t.size; i++) if (!missing[i] || t.terminals[i]) rows[k++] = i;
  return rows;
}
