/**
 * The one surface every algorithm has (d3rlpy-like): a validated config with the paper's defaults,
 * `fit(transitions, options)`, `predict(obs)` and `save(dir)` writing a policy artifact.
 *
 * An algorithm file provides an `AlgorithmDefinition`: its config schema and `build`, which compiles the update
 * step (one nn graph) into a `Learner`. Everything around the update (preprocessing, minibatches, progress,
 * metrics, checkpoints, evaluation) lives once in trainer.ts.
 */
import type { z } from "zod";
import type { ActionSpace, Transitions } from "../data/transitions.js";
import type { Rng } from "../nn/index.js";
import type { PolicyManifest } from "../policy/manifest.js";
import type { Policy } from "../policy/runtime.js";
import { openPolicy } from "../policy/runtime.js";
import { writePolicyArtifact } from "../policy/artifact.js";
import type { CommonConfig } from "./config.js";
import { AlgoError } from "./errors.js";
import type { Preprocessing } from "./preprocessing.js";
import { policyManifestDraft } from "./preprocessing.js";
import type { FitOptions, FitResult } from "./trainer.js";
import { train } from "./trainer.js";

/** A minibatch after preprocessing: standardised observations, scaled rewards, actions in [-1, 1] (continuous). */
export interface Batch {
  size: number;
  observations: Float32Array;
  nextObservations: Float32Array;
  /** Discrete: action indices. Continuous: size * actionDim in [-1, 1]. */
  actions: Int32Array | Float32Array;
  rewards: Float32Array;
  /** 1 where the transition ended in a true terminal state (no bootstrapping), else 0. */
  terminals: Float32Array;
}

export interface LearnerContext {
  observationDim: number;
  actionSpace: ActionSpace;
  /** Seeds the parameter initialisers. */
  seed: number;
  backend: "ort" | "interpreter";
  threads: number;
  /** Let idle ORT threads spin-wait between parallel sections (faster with threads > 1 on otherwise idle cores). */
  spinWait?: boolean;
  /** K gradient steps per ONNX call (an ONNX Loop in nn); the batch then holds K stacked minibatches. */
  stepsPerCall: number;
  /** The run's length in gradient steps (for learning-rate schedules such as IQL's cosine actor decay). */
  totalSteps: number;
}

export interface PolicyExport {
  onnxModel: Uint8Array;
  output: string;
  outputKind: PolicyManifest["onnx"]["outputKind"];
}

/** A compiled update step and its parameters: what `AlgorithmDefinition.build` returns. */
export interface Learner {
  /**
   * Gradient steps firstStep .. firstStep + K - 1 (1-based, stable across resume), K = context.stepsPerCall.
   * `batch` holds K minibatches stacked row-wise (step k's rows are [k B, (k + 1) B)); the noise step k needs is
   * drawn from `rngs[k]`. Returns each step's losses and statistics.
   */
  update(batch: Batch, rngs: readonly Rng[], firstStep: number): Promise<Array<Record<string, number>>>;
  /** The policy network alone as a standalone ONNX model (see src/policy/manifest.ts for the contract). */
  exportPolicy(): PolicyExport;
  /** A copy of one parameter tensor by name (e.g. "q.0.weight"), for inspection and tests. */
  parameter(name: string): Float32Array;
  /** Parameters and optimizer state (safetensors, via nn). */
  saveCheckpoint(path: string): Promise<void>;
  loadCheckpoint(path: string): Promise<void>;
}

export interface AlgorithmDefinition<C extends CommonConfig = CommonConfig> {
  name: string;
  summary: string;
  actionKind: ActionSpace["kind"];
  schema: z.ZodType<C>;
  build(config: C, context: LearnerContext): Promise<Learner>;
  /** Step periods at which the learner acts between calls (e.g. hard target copies); K must divide them. */
  stepPeriods?(config: C): number[];
}

interface Fitted {
  learner: Learner;
  preprocessing: Preprocessing;
  seed: number;
  dataset?: { name: string; version: number; hash: string };
  codeVersion: string;
  metrics: Record<string, number>;
}

export class Algorithm<C extends CommonConfig = CommonConfig> {
  private fitted: Fitted | undefined;
  private cachedPolicy: Policy | undefined;

  constructor(
    readonly definition: AlgorithmDefinition<C>,
    readonly config: C,
  ) {}

  get name(): string {
    return this.definition.name;
  }

  /** Trains for `options.steps` gradient steps (or continues a run with `options.resume`). */
  async fit(transitions: Transitions, options: FitOptions): Promise<FitResult> {
    await this.releasePolicy();
    const result = await train(this.definition, this.config, transitions, options);
    this.fitted = {
      learner: result.learner,
      preprocessing: result.preprocessing,
      seed: options.seed,
      dataset: options.dataset,
      codeVersion: options.codeVersion ?? "unknown",
      metrics: result.finalMetrics,
    };
    return result;
  }

  /** Greedy actions for raw observations (row-major): Int32Array (discrete) or Float32Array in [low, high]. */
  async predict(observations: Float32Array): Promise<Int32Array | Float32Array> {
    const policy = await this.policy();
    return policy.actBatch(observations);
  }

  /** The trained policy through the same runtime serving uses. */
  async policy(): Promise<Policy> {
    if (!this.cachedPolicy) {
      const fitted = this.requireFitted();
      const exported = fitted.learner.exportPolicy();
      const manifest: PolicyManifest = {
        ...policyManifestDraft(this.name, fitted.preprocessing, exported, this.config, fitted.seed, fitted.codeVersion, fitted.metrics),
        format: "hindcast.policy/v1",
        onnx: { file: "policy.onnx", sha256: "0".repeat(64), input: "obs", output: exported.output, outputKind: exported.outputKind },
        createdAt: new Date().toISOString(),
      };
      this.cachedPolicy = await openPolicy(manifest, exported.onnxModel, { verifyIntegrity: false });
    }
    return this.cachedPolicy;
  }

  /** Writes the policy artifact (policy.onnx + manifest.json) into `dir`. */
  async save(dir: string): Promise<PolicyManifest> {
    const fitted = this.requireFitted();
    const exported = fitted.learner.exportPolicy();
    const draft = policyManifestDraft(this.name, fitted.preprocessing, exported, this.config, fitted.seed, fitted.codeVersion, fitted.metrics);
    return writePolicyArtifact(dir, exported.onnxModel, { ...draft, dataset: fitted.dataset });
  }

  async releasePolicy(): Promise<void> {
    const policy = this.cachedPolicy;
    this.cachedPolicy = undefined;
    if (policy) await policy.close();
  }

  private requireFitted(): Fitted {
    if (!this.fitted) throw new AlgoError("not_fitted", `${this.name}: call fit() before predict() or save()`);
    return this.fitted;
  }
}
