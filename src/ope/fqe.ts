import * as ort from "onnxruntime-node";
import type { Transitions } from "../data/transitions.js";
import { Graph, Rng, adam, compileStep, exportOnnx, mlp, op, polyak, type Tensor } from "../nn/index.js";
import { OpeError } from "./errors.js";
import type { ModelValues, TargetPolicy } from "./evaluate.js";

/**
 * Fitted Q evaluation (Le, Voloshin & Yue 2019): regress Q(s, a) on r + gamma (1 - terminal) E_{a'~pi} Q_target(s', a')
 * with minibatch Adam and a Polyak-averaged target network, all compiled by src/nn into one ONNX step.
 * Discrete actions: the expectation is exact, sum_a pi(a|s') Q(s', a). Continuous actions: the mean over
 * `actionSamples` actions drawn once from the target policy at every s'. Rewards are scaled to [-1, 1] for training
 * and scaled back. The result feeds DM (mean V-hat(s_0)) and DR/WDR (Q-hat of the logged action, V-hat).
 *
 * Off the data's support the bootstrapped targets of actions never logged in a state feed on themselves and FQE can
 * run away to values no policy could reach. Every return lies in [r_min, r_max] * sum_{t<H} gamma^t (H = the horizon,
 * or infinity: 1 / (1 - gamma)), so the targets and the final Q-hat are clipped to that range (SCOPE-RL and d3rlpy
 * leave this to the user; Voloshin et al. 2021 clip for the same reason). The fraction of targets that hit the bound
 * is reported: a large one says the target policy leaves the logs' support.
 */
export interface FqeOptions {
  gamma: number;
  hidden?: number[];
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  /** Polyak rate of the target network. */
  tau?: number;
  /** Continuous actions: samples of a' ~ pi(s') and of a ~ pi(s) for V-hat. Default 4. */
  actionSamples?: number;
  seed?: number;
  /** Declared reward range (the dataset schema's reward.min/max); default: the observed rewards. */
  rewardRange?: { min: number; max: number };
  /** Known maximum episode length; bounds values by r * (1 - gamma^H) / (1 - gamma). Needed when gamma = 1. */
  horizon?: number;
  /** Clip targets and Q-hat to the value range (default true). */
  clipValues?: boolean;
  onProgress?: (step: number, loss: number) => void;
}

export interface FqeResult extends ModelValues {
  /** Mean squared TD error of the last 100 steps (in scaled reward units). */
  finalLoss: number;
  steps: number;
  /** The value range targets and Q-hat were clipped to, and where the reward range came from; null when unclipped. */
  valueBounds: { min: number; max: number; rewardSource: "declared" | "observed" } | null;
  /** Fraction of bootstrapped targets outside the value range over the last 100 steps (0 when unclipped). */
  clippedTargetFraction: number;
  /** Fraction of bootstrapped targets outside the value range over all steps. */
  clippedTargetFractionAll: number;
  /** Fraction of final Q-hat/V-hat values that had to be clipped. */
  clippedOutputFraction: number;
}

/** Bounds of any discounted return from rewards in [rMin, rMax]: null when unbounded (gamma = 1 and no horizon). */
export function valueRange(rMin: number, rMax: number, gamma: number, horizon?: number): { min: number; max: number } | null {
  let factor: number;
  if (horizon !== undefined && Number.isFinite(horizon)) factor = gamma === 1 ? horizon : (1 - gamma ** horizon) / (1 - gamma);
  else if (gamma < 1) factor = 1 / (1 - gamma);
  else return null;
    // An episode may end after one step, so a Q-value is at least one reward: min(r, r * factor), max likewise.
  return { min: Math.min(rMin, rMin * factor), max: Math.max(rMax, rMax * factor) };
}

const INFERENCE_CHUNK = 65_536;

function standardized(observations: Float32Array, dim: number, mean: Float64Array, std: Float64Array): Float32Array {
  const out = new Float32Array(observations.length);
  for (let i = 0; i < observations.length; i++) {
    const j = i % dim;
    out[i] = (observations[i] - mean[j]) / std[j];
  }
  return out;
}

async function runInference(model: Uint8Array, inputName: string, input: Float32Array, width: number, outputName: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const rows = input.length / width;
    let out: Float32Array | null = null;
    let outWidth = 0;
    for (let start = 0; start < rows; start += INFERENCE_CHUNK) {
      const end = Math.min(rows, start + INFERENCE_CHUNK);
      const feeds = { [inputName]: new ort.Tensor("float32", input.subarray(start * width, end * width), [end - start, width]) };
      const result = await session.run(feeds);
      const data = result[outputName].data as Float32Array;
      if (!out) {
        outWidth = data.length / (end - start);
        out = new Float32Array(rows * outWidth);
      }
      out.set(data, start * outWidth);
    }
    return out ?? new Float32Array(0);
  } finally {
    await session.release();
  }
}

export async function fitFqe(transitions: Transitions, policy: TargetPolicy, options: FqeOptions): Promise<FqeResult> {
  const { size, observationDim: dim, observations, nextObservations, rewards, terminals, actionSpace } = transitions;
  const missingNext = transitions.nextObservationMissing;
  if (size === 0) throw new OpeError("no_episodes", "FQE needs at least one transition");
  const gamma = options.gamma;
  const hidden = options.hidden ?? [64, 64];
  const steps = options.steps ?? 3000;
  const batch = Math.min(options.batchSize ?? 256, size);
  const learningRate = options.learningRate ?? 1e-3;
  const tau = options.tau ?? 0.05;
  const seed = options.seed ?? 0;
  const rng = new Rng(seed);

  // Feature standardisation and reward scaling.
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (let i = 0; i < size * dim; i++) mean[i % dim] += observations[i];
  for (let j = 0; j < dim; j++) mean[j] /= size;
  for (let i = 0; i < size * dim; i++) std[i % dim] += (observations[i] - mean[i % dim]) ** 2;
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j] / size) || 1;
  const obs = standardized(observations, dim, mean, std);
  const nextObs = standardized(nextObservations, dim, mean, std);
  let maxAbsReward = 0;
  for (let i = 0; i < size; i++) maxAbsReward = Math.max(maxAbsReward, Math.abs(rewards[i]));
  const rewardScale = maxAbsReward > 0 ? 1 / maxAbsReward : 1;
  let observedMin = Infinity;
  let observedMax = -Infinity;
  for (let i = 0; i < size; i++) {
    if (rewards[i] < observedMin) observedMin = rewards[i];
    if (rewards[i] > observedMax) observedMax = rewards[i];
  }
  const rewardSource = options.rewardRange ? "declared" : "observed";
  const rMin = options.rewardRange ? Math.min(options.rewardRange.min, observedMin) : observedMin;
  const rMax = options.rewardRange ? Math.max(options.rewardRange.max, observedMax) : observedMax;
  const bounds = options.clipValues === false ? null : valueRange(rMin, rMax, gamma, options.horizon);
  // In scaled reward units for the graph.
  const lowScaled = bounds ? bounds.min * rewardScale : -Infinity;
  const highScaled = bounds ? bounds.max * rewardScale : Infinity;

  const g = new Graph({ seed });
  const obsIn = g.input("obs", [batch, dim]);
  const rewardIn = g.input("reward", [batch]);
  const notDoneIn = g.input("not_done", [batch]);
  const discrete = actionSpace.kind === "discrete";
  const samples = discrete ? 1 : Math.max(1, options.actionSamples ?? 4);
  const actionDim = discrete ? 1 : actionSpace.low.length;
  const n = discrete ? actionSpace.n : 1;

  let qTaken: Tensor;
  let nextValue: Tensor;
  let inferenceInput: Tensor;
  let inferenceOutput: Tensor;
  let inferenceWidth: number;
  const q = mlp(g, "q", discrete ? [dim, ...hidden, n] : [dim + actionDim, ...hidden, 1]);
  const qTarget = mlp(g, "q_target", discrete ? [dim, ...hidden, n] : [dim + actionDim, ...hidden, 1], { copyOf: q });
  if (discrete) {
    const actionIn = g.input("action", [batch], "int64");
    const nextObsIn = g.input("next_obs", [batch, dim]);
    const nextProbIn = g.input("next_prob", [batch, n]);
    const qAll = q.apply(obsIn);
    qTaken = op.reshape(op.takeAlongAxis(qAll, op.reshape(actionIn, [batch, 1]), 1), [batch]);
    nextValue = op.sum(op.mul(qTarget.apply(nextObsIn), nextProbIn), [1]);
    inferenceInput = obsIn;
    inferenceOutput = qAll;
    inferenceWidth = dim;
  } else {
    const actionIn = g.input("action", [batch, actionDim]);
    const nextPairIn = g.input("next_pair", [batch * samples, dim + actionDim]);
    const pair = op.concat([obsIn, actionIn], 1);
    qTaken = op.reshape(q.apply(pair), [batch]);
    nextValue = op.mean(op.reshape(qTarget.apply(nextPairIn), [batch, samples]), [1]);
    inferenceInput = pair;
    inferenceOutput = q.apply(pair);
    inferenceWidth = dim + actionDim;
  }
  const rawTarget = op.stopGradient(op.add(rewardIn, op.mul(op.mul(gamma, notDoneIn), nextValue)));
  const target = bounds ? op.clip(rawTarget, lowScaled, highScaled) : rawTarget;
  const loss = op.mean(op.square(op.sub(qTaken, target)));
  if (bounds) g.output("clip_hits", op.mean(op.cast(op.or(op.less(rawTarget, lowScaled), op.greater(rawTarget, highScaled)), "float32")));
  adam(loss, q.params, { lr: learningRate, maxGradNorm: 10 });
  // Soft target update from the freshly updated Q-network, as PyTorch code does after optimizer.step().
  polyak(qTarget.params, q.params, tau, { afterUpdate: true });
  g.output("loss", loss);
  const step = await compileStep(g, { threads: 1 });

  // Target-policy quantities at s' (and s, for V-hat), computed once.
  let nextProb: Float64Array | null = null;
  let nextActions: Float32Array | null = null;
  const low = discrete ? [] : actionSpace.low;
  const high = discrete ? [] : actionSpace.high;
  const toUnit = (value: number, k: number) => (2 * (value - low[k])) / (high[k] - low[k] || 1) - 1;
  if (discrete) {
    if (!policy.actionProbabilitiesBatch) throw new OpeError("policy_kind_mismatch", "FQE on discrete actions needs the target's action probabilities");
    nextProb = await probabilitiesInChunks(policy, nextObservations, dim, size, n);
  } else {
    if (!policy.actBatch) throw new OpeError("policy_kind_mismatch", "FQE on continuous actions needs to sample the target policy");
    nextActions = new Float32Array(samples * size * actionDim);
    for (let k = 0; k < samples; k++) nextActions.set(await actionsInChunks(policy, nextObservations, dim, size), k * size * actionDim);
  }

  const feedObs = new Float32Array(batch * dim);
  const feedReward = new Float32Array(batch);
  const feedNotDone = new Float32Array(batch);
  const feedAction = discrete ? new Int32Array(batch) : new Float32Array(batch * actionDim);
  const feedNextObs = new Float32Array(batch * dim);
  const feedNextProb = new Float32Array(batch * n);
  const feedNextPair = new Float32Array(batch * samples * (dim + actionDim));
  const logged = transitions.actions;
  const recent: number[] = [];
  const recentHits: number[] = [];
  let totalHits = 0;
  for (let s = 0; s < steps; s++) {
    for (let b = 0; b < batch; b++) {
      const row = rng.int(size);
      feedObs.set(obs.subarray(row * dim, (row + 1) * dim), b * dim);
      feedReward[b] = rewards[row] * rewardScale;
      // No logged successor (a cut-off end without next-observation columns): the return stops there, as IS measures it.
      feedNotDone[b] = terminals[row] || missingNext?.[row] ? 0 : 1;
      if (discrete) {
        (feedAction as Int32Array)[b] = (logged as Int32Array)[row];
        feedNextObs.set(nextObs.subarray(row * dim, (row + 1) * dim), b * dim);
        for (let a = 0; a < n; a++) feedNextProb[b * n + a] = (nextProb as Float64Array)[row * n + a];
      } else {
        for (let k = 0; k < actionDim; k++) feedAction[b * actionDim + k] = toUnit((logged as Float32Array)[row * actionDim + k], k);
        for (let m = 0; m < samples; m++) {
          const offset = (b * samples + m) * (dim + actionDim);
          feedNextPair.set(nextObs.subarray(row * dim, (row + 1) * dim), offset);
          for (let k = 0; k < actionDim; k++) {
            feedNextPair[offset + dim + k] = toUnit((nextActions as Float32Array)[(m * size + row) * actionDim + k], k);
          }
        }
      }
    }
    const feeds: Record<string, Float32Array | Int32Array> = discrete
      ? { obs: feedObs, reward: feedReward, not_done: feedNotDone, action: feedAction, next_obs: feedNextObs, next_prob: feedNextProb }
      : { obs: feedObs, reward: feedReward, not_done: feedNotDone, action: feedAction, next_pair: feedNextPair };
    const result = await step.run(feeds);
    const value = result.loss as number;
    if (!Number.isFinite(value)) throw new OpeError("fqe_diverged", `FQE loss became ${value} at step ${s}; lower the learning rate`, { step: s });
    recent.push(value);
    if (recent.length > 100) recent.shift();
    if (bounds) {
      const hits = result.clip_hits as number;
      totalHits += hits;
      recentHits.push(hits);
      if (recentHits.length > 100) recentHits.shift();
    }
    if (options.onProgress && (s % 100 === 0 || s === steps - 1)) options.onProgress(s, value);
  }

  const model = exportOnnx(g, { inputs: { x: inferenceInput }, outputs: { q: inferenceOutput }, params: step });
  const qHat = new Float64Array(size);
  const vHat = new Float64Array(size);
  if (discrete) {
    const qAll = await runInference(model, "x", obs, inferenceWidth, "q");
    const probabilities = await probabilitiesInChunks(policy, observations, dim, size, n);
    const actions = logged as Int32Array;
    for (let i = 0; i < size; i++) {
      qHat[i] = qAll[i * n + actions[i]] / rewardScale;
      let v = 0;
      for (let a = 0; a < n; a++) v += probabilities[i * n + a] * qAll[i * n + a];
      vHat[i] = v / rewardScale;
    }
  } else {
    const width = dim + actionDim;
    const pairs = new Float32Array(size * width);
    const fill = (actions: Float32Array, unit: boolean) => {
      for (let i = 0; i < size; i++) {
        pairs.set(obs.subarray(i * dim, (i + 1) * dim), i * width);
        for (let k = 0; k < actionDim; k++) {
          const a = actions[i * actionDim + k];
          pairs[i * width + dim + k] = unit ? a : toUnit(a, k);
        }
      }
    };
    fill(logged as Float32Array, false);
    const taken = await runInference(model, "x", pairs, width, "q");
    for (let i = 0; i < size; i++) qHat[i] = taken[i] / rewardScale;
    for (let m = 0; m < samples; m++) {
      fill(await actionsInChunks(policy, observations, dim, size), false);
      const sampled = await runInference(model, "x", pairs, width, "q");
      for (let i = 0; i < size; i++) vHat[i] += sampled[i] / rewardScale / samples;
    }
  }
  let clippedOutputs = 0;
  if (bounds) {
    for (const values of [qHat, vHat]) {
      for (let i = 0; i < size; i++) {
        if (values[i] < bounds.min) (values[i] = bounds.min), clippedOutputs++;
        else if (values[i] > bounds.max) (values[i] = bounds.max), clippedOutputs++;
      }
    }
  }
  const finalLoss = recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length);
  const clippedTargetFraction = recentHits.reduce((a, b) => a + b, 0) / Math.max(1, recentHits.length);
  const clipping = bounds
    ? `; values clipped to [${bounds.min.toPrecision(4)}, ${bounds.max.toPrecision(4)}] from the ${rewardSource} reward range, ${(100 * clippedTargetFraction).toFixed(1)}% of targets at the bound`
    : options.clipValues === false
      ? "; values not clipped"
      : "; values not clipped: gamma 1 needs a horizon to bound them";
  return {
    qHat,
    vHat,
    finalLoss,
    steps,
    valueBounds: bounds ? { ...bounds, rewardSource } : null,
    clippedTargetFraction,
    clippedTargetFractionAll: totalHits / steps,
    clippedOutputFraction: clippedOutputs / Math.max(1, 2 * size),
    label: `FQE (${discrete ? "discrete" : `continuous, ${samples} action samples`}; MLP ${hidden.join("x")}; ${steps} Adam steps of ${batch}; final TD loss ${finalLoss.toExponential(2)}${clipping})`,
  };
}

async function probabilitiesInChunks(policy: TargetPolicy, observations: Float32Array, dim: number, size: number, n: number): Promise<Float64Array> {
  const out = new Float64Array(size * n);
  for (let start = 0; start < size; start += INFERENCE_CHUNK) {
    const end = Math.min(size, start + INFERENCE_CHUNK);
    out.set(await (policy.actionProbabilitiesBatch as NonNullable<TargetPolicy["actionProbabilitiesBatch"]>)(observations.subarray(start * dim, end * dim)), start * n);
  }
  return out;
}

async function actionsInChunks(policy: TargetPolicy, observations: Float32Array, dim: number, size: number): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  let total = 0;
  for (let start = 0; start < size; start += INFERENCE_CHUNK) {
    const end = Math.min(size, start + INFERENCE_CHUNK);
    const actions = Float32Array.from(await (policy.actBatch as NonNullable<TargetPolicy["actBatch"]>)(observations.subarray(start * dim, end * dim)));
    parts.push(actions);
    total += actions.length;
  }
  const out = new Float32Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
