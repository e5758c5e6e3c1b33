/**
 * From a dataset to what the update step consumes, and back to what the policy artifact records.
 * Statistics are fitted once on the training data; the observation scaler and the action box travel in the
 * manifest so serving applies the same arithmetic (src/policy/scalers.ts does it on both sides).
 */
import { bootstrapRows, type ActionSpace, type Transitions } from "../data/transitions.js";
import type { ManifestDraft } from "../policy/artifact.js";
import type { ObservationScaler } from "../policy/scalers.js";
import { actionToUnit, fitObservationScaler, fitSupport, identityScaler, standardize } from "../policy/scalers.js";
import type { Batch, PolicyExport } from "./algorithm.js";
import type { CommonConfig } from "./config.js";
import { AlgoError } from "./errors.js";

export interface Preprocessing {
  observationDim: number;
  featureNames: string[];
  actionSpace: ActionSpace;
  observationScaler: ObservationScaler;
  support: { min: number[]; max: number[] };
  /** Training rewards are `reward * rewardScale + rewardShift`. */
  rewardScale: number;
  rewardShift: number;
}

/** The whole dataset, preprocessed once, from which minibatches are gathered by row index. */
export interface TrainingView {
  size: number;
  observationDim: number;
  actionDim: number;
  discrete: boolean;
  observations: Float32Array;
  nextObservations: Float32Array;
  actions: Int32Array | Float32Array;
  rewards: Float32Array;
  terminals: Float32Array;
  /** The rows minibatches are drawn from: those with a logged successor or a terminal end (see bootstrapRows). */
  rows: Int32Array;
}

export function fitPreprocessing(t: Transitions, config: CommonConfig): Preprocessing {
  const dim = t.observationDim;
  let rewardScale = 1;
  if (config.rewardScaling === "standard") {
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < t.size; i++) sum += t.rewards[i];
    const mean = sum / Math.max(t.size, 1);
    for (let i = 0; i < t.size; i++) sumSq += (t.rewards[i] - mean) ** 2;
    const std = Math.sqrt(sumSq / Math.max(t.size, 1));
    rewardScale = std > 1e-8 ? 1 / std : 1;
  } else if (config.rewardScaling === "return_range") {
    let low = Infinity;
    let high = -Infinity;
    for (let e = 0; e + 1 < t.episodeStarts.length; e++) {
      let total = 0;
      for (let i = t.episodeStarts[e]; i < t.episodeStarts[e + 1]; i++) total += t.rewards[i];
      low = Math.min(low, total);
      high = Math.max(high, total);
    }
    rewardScale = high > low ? 1000 / (high - low) : 1;
  }
  return {
    observationDim: dim,
    featureNames: t.featureNames.length === dim ? [...t.featureNames] : Array.from({ length: dim }, (_, j) => `x${j}`),
    actionSpace: t.actionSpace,
    observationScaler: config.observationScaling === "standard" ? fitObservationScaler(t.observations, dim) : identityScaler(dim),
    support: fitSupport(t.observations, dim),
    rewardScale: rewardScale * config.rewardScale,
    rewardShift: config.rewardShift,
  };
}

export function prepareTrainingView(t: Transitions, p: Preprocessing): TrainingView {
  const space = t.actionSpace;
  let actions: Int32Array | Float32Array;
  let actionDim = 1;
  if (space.kind === "discrete") {
    const discrete = t.actions as Int32Array;
    for (let i = 0; i < t.size; i++) {
      const a = discrete[i];
      if (!(Number.isInteger(a) && a >= 0 && a < space.n)) {
        throw new AlgoError("dataset_unsupported", `row ${i}: action ${a} outside 0..${space.n - 1}`, { row: i, field: "action", value: a });
      }
    }
    actions = discrete;
  } else {
    actionDim = space.low.length;
    const unit = actionToUnit(t.actions as Float32Array, space.low, space.high);
    for (let i = 0; i < unit.length; i++) unit[i] = Math.min(1, Math.max(-1, unit[i]));
    actions = unit;
  }
  const rewards = new Float32Array(t.size);
  for (let i = 0; i < t.size; i++) rewards[i] = t.rewards[i] * p.rewardScale + p.rewardShift;
  const terminals = new Float32Array(t.size);
  for (let i = 0; i < t.size; i++) terminals[i] = t.terminals[i];
  return {
    size: t.size,
    observationDim: t.observationDim,
    actionDim,
    discrete: space.kind === "discrete",
    observations: standardize(t.observations, p.observationScaler),
    nextObservations: standardize(t.nextObservations, p.observationScaler),
    actions,
    rewards,
    terminals,
    rows: bootstrapRows(t),
  };
}

export function allocateBatch(view: TrainingView, size: number): Batch {
  return {
    size,
    observations: new Float32Array(size * view.observationDim),
    nextObservations: new Float32Array(size * view.observationDim),
    actions: view.discrete ? new Int32Array(size) : new Float32Array(size * view.actionDim),
    rewards: new Float32Array(size),
    terminals: new Float32Array(size),
  };
}

/** Copies the rows `indices` of the view into `batch` (allocated once by allocateBatch). */
export function gatherBatch(view: TrainingView, indices: Int32Array, batch: Batch): void {
  const dim = view.observationDim;
  const actionDim = view.actionDim;
  for (let b = 0; b < indices.length; b++) {
    const row = indices[b];
    const from = row * dim;
    const to = b * dim;
    for (let j = 0; j < dim; j++) {
      batch.observations[to + j] = view.observations[from + j];
      batch.nextObservations[to + j] = view.nextObservations[from + j];
    }
    if (view.discrete) batch.actions[b] = view.actions[row];
    else for (let j = 0; j < actionDim; j++) batch.actions[b * actionDim + j] = view.actions[row * actionDim + j];
    batch.rewards[b] = view.rewards[row];
    batch.terminals[b] = view.terminals[row];
  }
}

export function policyManifestDraft(
  algorithm: string,
  p: Preprocessing,
  exported: PolicyExport,
  config: object,
  seed: number,
  codeVersion: string,
  metrics: Record<string, number>,
): ManifestDraft {
  return {
    algorithm,
    actionSpace: p.actionSpace,
    observation: {
      dim: p.observationDim,
      featureNames: p.featureNames,
      scaler: p.observationScaler,
      support: p.support,
    },
    onnx: { output: exported.output, outputKind: exported.outputKind },
    config: {
      ...(config as Record<string, unknown>),
      rewardScaleApplied: p.rewardScale,
      rewardShiftApplied: p.rewardShift,
    },
    seed,
    codeVersion,
    metrics: Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v))),
  };
}
