/**
 * Pieces the algorithm files share: turning a built nn graph into a Learner (feeds from the minibatch and the
 * step's noise, checkpoints, policy export) and a few loss helpers. Algorithm files keep the maths; this keeps
 * the plumbing.
 */
import { compileStep, exportOnnx, op } from "../nn/index.js";
import type { Graph, Rng, Tensor, TrainingStep } from "../nn/index.js";
import type { Batch, Learner, LearnerContext, PolicyExport } from "./algorithm.js";

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
  /** "normal": N(0, 1); "uniform": U(-1, 1) (e.g. CQL's uniformly sampled actions in the [-1, 1] box). */
  distribution: "normal" | "uniform";
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
}

/** Compiles the graph once into a training step and wraps it as a Learner. */
export async function compileLearner(spec: LearnerSpec): Promise<Learner> {
  const { graph, context } = spec;
  const step = await compileStep(graph, { backend: context.backend, threads: context.threads });
  const noiseBuffers = (spec.noise ?? []).map((noise) => {
    const input = graph.inputs.get(noise.name);
    if (!input) throw new Error(`noise input ${noise.name} is not declared in the graph`);
    return { ...noise, buffer: new Float32Array(input.size) };
  });
  const batchInputs = Object.entries(BATCH_INPUTS).filter(([, name]) => graph.inputs.has(name)) as Array<
    [keyof typeof BATCH_INPUTS, string]
  >;
  return {
    async update(batch: Batch, rng: Rng, stepNumber: number): Promise<Record<string, number>> {
      const feeds: Record<string, Float32Array | Int32Array> = {};
      for (const [field, name] of batchInputs) feeds[name] = batch[field];
      for (const noise of noiseBuffers) {
        if (noise.distribution === "normal") rng.fillNormal(noise.buffer);
        else rng.fillUniform(noise.buffer, -1, 1);
        feeds[noise.name] = noise.buffer;
      }
      const outputs = await step.run(feeds);
      if (spec.hardTargets && stepNumber % spec.hardTargets.every === 0) copyParams(step, spec.hardTargets.pairs);
      const losses: Record<string, number> = {};
      for (const [name, value] of Object.entries(outputs)) if (typeof value === "number") losses[name] = value;
      return losses;
    },
    exportPolicy(): PolicyExport {
      const onnxModel = exportOnnx(graph, { inputs: { obs: spec.policy.obs }, outputs: { [spec.policy.name]: spec.policy.output }, params: step });
      return { onnxModel, output: spec.policy.name, outputKind: spec.policy.kind };
    },
    saveCheckpoint: (path: string) => step.saveCheckpoint(path),
    async loadCheckpoint(path: string): Promise<void> {
      await step.loadCheckpoint(path);
    },
  };
}

function copyParams(step: TrainingStep, pairs: Array<[string, string]>): void {
  for (const [target, source] of pairs) step.setParam(target, step.getParam(source));
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
