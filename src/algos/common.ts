/**
 * Pieces the algorithm files share: turning a built nn graph into a Learner (feeds from the minibatch and the
 * step's noise, checkpoints, policy export) and a few loss helpers. Algorithm files keep the maths; this keeps
 * the plumbing.
 */
import { compileStep, exportOnnx, op } from "../nn/index.js";
import { ensembleMlp, mlp } from "../nn/index.js";
import { Graph } from "../nn/index.js";
import type { EnsembleMlp, Rng, Tensor, TrainingStep } from "../nn/index.js";
import type { Batch, Learner, LearnerContext, PolicyExport } from "./algorithm.js";
import { AlgoError } from "./errors.js";

/** Names of the graph inputs fed from the minibatch; a graph declares only those it uses. */
export const BATCH_INPUTS = {
  observations: "obs",
  actions: "action",
  rewards: "reward",
  nextObservations: "next_obs",
  terminals: "done",
} as const;

export interface NoiseInput {
  name: string;
  /**
   * "uniform": U(-1, 1] (e.g. CQL's uniformly sampled actions in the [-1, 1] box); "boxMuller": U(0, 1] draws that
   * `normalNoise` turns into N(0, 1) inside the step (normal noise is always drawn that way). Both take one 32-bit
   * output per value (24 random bits, Rng.fillUniformFloat32).
   */
  distribution: "uniform" | "boxMuller";
}

export interface LearnerSpec {
  graph: Graph;
  context: LearnerContext;
  /** Graph inputs filled from the step's generator, in this order, before every update. */
  noise?: NoiseInput[];
  /** The policy sub-graph exported for serving: input `obs` -> output `name`. */
  policy: { obs: Tensor; output: Tensor; name: string; kind: PolicyExport["outputKind"] };
  /** Hard target copies (DQN-style) every `every` steps: target parameter name -> source parameter name. */
  hardTargets?: { every: number; pairs: Array<[string, string]> };
  /** Scalar float inputs fed 1 on steps divisible by `every`, else 0 (delayed updates through nn's `when`). */
  schedules?: Array<{ name: string; every: number }>;
  /**
   * Outputs computed only on the steps a schedule fires (built with nn's `gated`): output name -> schedule name.
   * Other steps' records leave them out, so metrics average them over the steps that computed them.
   */
  gatedOutputs?: Record<string, string>;
  /** Scalar float inputs fed `value(step)` for each 1-based gradient step (e.g. a learning-rate schedule). */
  perStepValues?: Array<{ name: string; value: (step: number) => number }>;
}

/** Longest schedule period built into the compiled step (the Loop body holds one copy of the step per position). */
const MAX_FOLDED_PERIOD = 4;

/** Compiles the graph once into a training step (K steps per call) and wraps it as a Learner. */
export async function compileLearner(spec: LearnerSpec): Promise<Learner> {
  const { graph, context } = spec;
  const K = context.stepsPerCall;
  if (spec.hardTargets && spec.hardTargets.every % K !== 0) {
    throw new Error(`hard target period ${spec.hardTargets.every} is not a multiple of stepsPerCall ${K}`);
  }
  // A short schedule that divides K repeats identically in every call (calls start on step 1 + a multiple of K), so
  // the engine builds its values into the compiled step.
  const periodicInputs = Object.fromEntries(
    (spec.schedules ?? []).filter((s) => K % s.every === 0 && s.every <= MAX_FOLDED_PERIOD).map((s) => [s.name, Array.from({ length: s.every }, (_, k) => (k === s.every - 1 ? 1 : 0))]),
  );
  const step = await compileStep(graph, { backend: context.backend, threads: context.threads, spinWait: context.spinWait, stepsPerCall: K, periodicInputs });
  const noiseBuffers = (spec.noise ?? []).map((noise) => {
    const input = graph.inputs.get(noise.name);
    if (!input) throw new Error(`noise input ${noise.name} is not declared in the graph`);
    return { ...noise, perStep: input.size, buffer: new Float32Array(input.size * K) };
  });
  const schedules = [
    ...(spec.schedules ?? []).map((s) => ({ name: s.name, buffer: new Float32Array(K), value: (step: number) => (step % s.every === 0 ? 1 : 0) })),
    ...(spec.perStepValues ?? []).map((s) => ({ ...s, buffer: new Float32Array(K) })),
  ];
  const gatedBy = new Map(
    Object.entries(spec.gatedOutputs ?? {}).map(([output, scheduleName]) => {
      const schedule = schedules.find((s) => s.name === scheduleName);
      if (!schedule) throw new Error(`gated output ${output} names no schedule ${scheduleName}`);
      return [output, schedule] as const;
    }),
  );
  const batchInputs = Object.entries(BATCH_INPUTS).filter(([, name]) => graph.inputs.has(name)) as Array<
    [keyof typeof BATCH_INPUTS, string]
  >;
  return {
    async update(batch: Batch, rngs: readonly Rng[], firstStep: number): Promise<Array<Record<string, number>>> {
      const feeds: Record<string, Float32Array | Int32Array> = {};
      for (const [field, name] of batchInputs) feeds[name] = batch[field];
      for (const noise of noiseBuffers) {
        for (let k = 0; k < K; k++) {
          const slice = noise.buffer.subarray(k * noise.perStep, (k + 1) * noise.perStep);
          rngs[k].fillUniformFloat32(slice);
          if (noise.distribution === "uniform") for (let i = 0; i < slice.length; i++) slice[i] = 2 * slice[i] - 1;
        }
        feeds[noise.name] = noise.buffer;
      }
      for (const schedule of schedules) {
        for (let k = 0; k < K; k++) schedule.buffer[k] = schedule.value(firstStep + k);
        feeds[schedule.name] = schedule.buffer;
      }
      const outputs = await step.run(feeds);
      const lastStep = firstStep + K - 1;
      if (spec.hardTargets && lastStep % spec.hardTargets.every === 0) copyParams(step, spec.hardTargets.pairs);
      const perStep: Array<Record<string, number>> = Array.from({ length: K }, () => ({}));
      for (const [name, value] of Object.entries(outputs)) {
        const gate = gatedBy.get(name);
        const computed = (k: number) => gate === undefined || gate.buffer[k] === 1;
        if (typeof value === "number") {
          if (computed(0)) perStep[0][name] = value;
        } else if (value instanceof Float32Array && value.length === K) {
          for (let k = 0; k < K; k++) if (computed(k)) perStep[k][name] = value[k];
        }
      }
      return perStep;
    },
    exportPolicy(): PolicyExport {
      const onnxModel = exportOnnx(graph, { inputs: { obs: spec.policy.obs }, outputs: { [spec.policy.name]: spec.policy.output }, params: step });
      return { onnxModel, output: spec.policy.name, outputKind: spec.policy.kind };
    },
    parameter: (name: string) => step.getParam(name),
    saveCheckpoint: (path: string) => step.saveCheckpoint(path),
    async loadCheckpoint(path: string): Promise<void> {
      await step.loadCheckpoint(path);
    },
  };
}

function copyParams(step: TrainingStep, pairs: Array<[string, string]>): void {
  for (const [target, source] of pairs) step.setParam(target, step.getParam(source));
}

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR (eta_min 0, T_max = totalSteps) stepped once after every optimizer step,
 * as CORL and the IQL paper's code do: the learning rate of 1-based gradient step `step`.
 */
/**
 * The graph and the minibatch inputs every learner starts from, after checking the dataset's action space.
 * Input names match the trainer's feeds; discrete actions are int64 indices, continuous ones [B, A] in [-1, 1].
 */
export function batchInputs(algorithm: string, kind: "discrete" | "continuous", context: LearnerContext, batchSize: number) {
  if (context.actionSpace.kind !== kind) {
    throw new AlgoError("dataset_unsupported", `${algorithm} needs a ${kind} action space; the dataset's is ${context.actionSpace.kind}`, { algorithm });
  }
  const B = batchSize;
  const D = context.observationDim;
  const space = context.actionSpace;
  /** Continuous: action dimensions. */
  const A = space.kind === "continuous" ? space.low.length : 1;
  /** Discrete: number of actions. */
  const n = space.kind === "discrete" ? space.n : 0;
  const g = new Graph({ seed: context.seed });
  const obs = g.input("obs", [B, D]);
  const action = kind === "discrete" ? g.input("action", [B], "int64") : g.input("action", [B, A]);
  return { g, B, D, A, n, obs, action };
}

/** Reward, next observation and done flag of each minibatch row: what a temporal-difference target reads. */
export function transitionInputs(g: Graph, B: number, D: number) {
  return { reward: g.input("reward", [B]), nextObs: g.input("next_obs", [B, D]), done: g.input("done", [B]) };
}

export function cosineLearningRate(initial: number, totalSteps: number, step: number): number {
  return 0.5 * initial * (1 + Math.cos((Math.PI * (step - 1)) / totalSteps));
}

/**
 * Standard normal noise of `shape` computed inside the step (Box-Muller) from the graph input `name`, which takes
 * U(0, 1] draws: declare it as a "boxMuller" noise input. Drawing normals in JavaScript costs ~27 ns each (a log, a
 * square root, a sine and a cosine per pair) while ONNX Runtime waits; in the graph they are a few vector ops.
 */
export function normalNoise(g: Graph, name: string, shape: readonly number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const half = Math.ceil(size / 2);
  const u = g.input(name, [2 * half]);
  const radius = op.sqrt(op.mul(-2, op.log(op.slice(u, 0, 0, half))));
  const angle = op.mul(2 * Math.PI, op.slice(u, 0, half, 2 * half));
  const z = op.concat([op.mul(radius, op.cos(angle)), op.mul(radius, op.sin(angle))], 0);
  return op.reshape(2 * half === size ? z : op.slice(z, 0, 0, size), [...shape]);
}

/** Q(s, a) for the logged actions: qAll [B, n], action [B] (int64) -> [B]. */
export function valueOfAction(qAll: Tensor, action: Tensor): Tensor {
  const batch = qAll.shape[0];
  return op.reshape(op.takeAlongAxis(qAll, op.reshape(action, [batch, 1]), 1), [batch]);
}

/** Huber loss (smooth L1, delta 1) elementwise: the DQN paper's error clipping. */
export function huber(error: Tensor): Tensor {
  const magnitude = op.abs(error);
  return op.where(op.less(magnitude, 1), op.mul(0.5, op.square(error)), op.sub(magnitude, 0.5));
}

/** y = r + gamma * (1 - done) * next, with gradients stopped (a regression target). */
export function bellmanTarget(reward: Tensor, done: Tensor, next: Tensor, gamma: number): Tensor {
  return op.stopGradient(op.add(reward, op.mul(op.mul(gamma, op.sub(1, done)), next)));
}

/** Twin Q(s, a) critics as one ensemble ("critic") and their Polyak target ("critic_target", a copy at start). */
export function twinCritics(g: Graph, observationDim: number, actionDim: number, hiddenSizes: readonly number[]): { critic: EnsembleMlp; criticTarget: EnsembleMlp } {
  const sizes = [observationDim + actionDim, ...hiddenSizes, 1];
  const critic = ensembleMlp(g, "critic", 2, sizes);
  return { critic, criticTarget: ensembleMlp(g, "critic_target", 2, sizes, { copyOf: critic }) };
}

/** Q values of a twin (ensemble) critic for state-action pairs: critic.apply([B, D + A]) -> [members, B]. */
export function criticValues(critic: EnsembleMlp, obs: Tensor, action: Tensor): Tensor {
  const out = critic.apply(op.concat([obs, action], 1)); // [members, B, 1]
  return op.reshape(out, [out.shape[0], out.shape[1]]);
}

/** Q values of one member of an ensemble critic: [B]. Cheaper than criticValues + slice (no wasted member). */
export function criticMemberValues(critic: CriticWeights, member: number, obs: Tensor, action: Tensor): Tensor {
  let h = op.concat([obs, action], 1);
  const layers = critic.weights.length;
  critic.weights.forEach((weight, i) => {
    const w = op.reshape(op.slice(weight, 0, member, member + 1), [weight.shape[1], weight.shape[2]]);
    const b = op.reshape(op.slice(critic.biases[i], 0, member, member + 1), [weight.shape[2]]);
    h = op.add(op.matmul(h, w), b);
    if (i + 1 < layers) h = op.relu(h);
  });
  return op.reshape(h, [h.shape[0]]);
}

/** An ensemble critic's weights as plain tensors: the live parameters, or their values after this step's update. */
export interface CriticWeights {
  weights: Tensor[];
  biases: Tensor[];
}

/**
 * The critic's weights after this step's optimizer update (declare the critic's `adam` first), gradients stopped.
 * For actor losses that the reference code computes after `critic_optimizer.step()` (CORL TD3+BC and AWAC), so the
 * actor climbs the freshly updated critic rather than the one the critic loss saw.
 */
export function updatedCritic(g: Graph, critic: EnsembleMlp): CriticWeights {
  const updated = (param: Tensor) => op.stopGradient(op.reshape(g.updatedFlatView([param]), param.shape));
  return { weights: critic.weights.map(updated), biases: critic.biases.map(updated) };
}

/** Q values of every ensemble member from explicit weights: [members, B] (ReLU hidden layers, linear output). */
export function criticValuesWith(critic: CriticWeights, obs: Tensor, action: Tensor): Tensor {
  let h = op.concat([obs, action], 1);
  const layers = critic.weights.length;
  critic.weights.forEach((weight, i) => {
    h = op.add(op.matmul(h, weight), critic.biases[i]);
    if (i + 1 < layers) h = op.relu(h);
  });
  return op.reshape(h, [h.shape[0], h.shape[1]]);
}

/** The pessimistic value min_i Q_i: [members, B] -> [B] (clipped double Q-learning, TD3 eq. 10). */
export function minOverCritics(values: Tensor): Tensor {
  return op.min(values, [0]);
}

/** A policy head producing a tanh-squashed Gaussian: pre-tanh mean and log-std, each [B, A]. */
export interface GaussianHead {
  params: Tensor[];
  distribution(obs: Tensor): { mean: Tensor; logStd: Tensor };
  /** The artifact's "gaussian" output: [B, 2A] = mean then log-std (batch dimension stays dynamic). */
  exportOutput(obs: Tensor): Tensor;
}

/**
 * Gaussian policy head. "state": the network outputs mean and log-std (SAC, CQL; log-std clipped to [-20, 2]);
 * "parameter": the network outputs the mean and the log-std is a learned vector (IQL, AWAC; clipped to [-5, 2]).
 */
export function gaussianHead(g: Graph, name: string, sizes: { obs: number; hidden: number[]; action: number }, std: "state" | "parameter"): GaussianHead {
  const A = sizes.action;
  if (std === "state") {
    const net = mlp(g, name, [sizes.obs, ...sizes.hidden, 2 * A]);
    const distribution = (obs: Tensor) => {
      const out = net.apply(obs);
      return { mean: op.slice(out, 1, 0, A), logStd: op.clip(op.slice(out, 1, A, 2 * A), -20, 2) };
    };
    return {
      params: net.params,
      distribution,
      exportOutput: (obs) => {
        const d = distribution(obs);
        return op.concat([d.mean, d.logStd], 1);
      },
    };
  }
  const net = mlp(g, name, [sizes.obs, ...sizes.hidden, A]);
  const logStd = g.param(`${name}.log_std`, [A], new Float32Array(A));
  const distribution = (obs: Tensor) => {
    const mean = net.apply(obs);
    // mean * 0 + logStd broadcasts the vector over the batch without fixing the batch size in the graph.
    return { mean, logStd: op.add(op.mul(mean, 0), op.clip(logStd, -5, 2)) };
  };
  return {
    params: [...net.params, logStd],
    distribution,
    exportOutput: (obs) => {
      const d = distribution(obs);
      return op.concat([d.mean, d.logStd], 1);
    },
  };
}
