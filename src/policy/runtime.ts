/**
 * The policy runtime: what serving and off-policy evaluation use to run a trained policy, with no training code.
 * `loadPolicy(dir)` reads the artifact (manifest + ONNX, sha256-checked), opens one ONNX Runtime session with a
 * single intra-op thread, and applies the manifest's preprocessing exactly as training did.
 *
 * Exploration decides what `act` samples and what `actionProbabilities` / `logDensity` report:
 *   discrete:   greedy (argmax, ties to the lowest index), epsilon-greedy, or softmax with a temperature
 *               (over Q values for "q" outputs, over logits for "logits" outputs);
 *   continuous: greedy (the deterministic action or the Gaussian's mean), or gaussian: for "gaussian" outputs the
 *               network's own tanh-squashed Gaussian; for "action" outputs N(action, std^2) in the [-1, 1] space.
 *               Sampled actions are clipped to [low, high]; densities are those of the unclipped distribution.
 * All densities are with respect to the caller's action units ([low, high]), not the network's [-1, 1].
 */
import * as ort from "onnxruntime-node";
import type { PolicyManifest } from "./manifest.js";
import { PolicyError } from "./errors.js";
import { Rng } from "../random/index.js";
import { readPolicyArtifact } from "./artifact.js";
import { actionFromUnit, actionLogJacobian, actionToUnit, standardize } from "./scalers.js";

export type Exploration =
  | { kind: "greedy" }
  | { kind: "epsilon"; epsilon: number }
  | { kind: "softmax"; temperature: number }
  | { kind: "gaussian"; std?: number };

export interface LoadPolicyOptions {
  /** Defaults to `manifest.config.exploration` when it is valid, else greedy. */
  exploration?: Exploration;
  /** Seed of the generator used by `act` when the exploration samples. */
  seed?: number;
  /** Check the ONNX file's sha256 against the manifest (default true). */
  verifyIntegrity?: boolean;
}

export interface Policy {
  readonly manifest: PolicyManifest;
  readonly exploration: Exploration;
  readonly observationDim: number;
  /** Discrete: the action index. Continuous: the action vector in [low, high]. */
  act(obs: Float32Array): Promise<number | Float32Array>;
  /** Row-major observations; discrete -> Int32Array(rows), continuous -> Float32Array(rows * actionDim). */
  actBatch(obs: Float32Array): Promise<Int32Array | Float32Array>;
  /** Discrete only: the exploration policy's probability of each action. */
  actionProbabilities(obs: Float32Array): Promise<Float64Array>;
  actionProbabilitiesBatch(obs: Float32Array): Promise<Float64Array>;
  /** Continuous only: log-density of `action` (in [low, high] units) under the exploration policy. */
  logDensity(obs: Float32Array, action: Float32Array): Promise<number>;
  logDensityBatch(obs: Float32Array, actions: Float32Array): Promise<Float64Array>;
  /** The network's raw output for raw (unstandardised) observations: rows * outputWidth. */
  forward(obs: Float32Array): Promise<Float32Array>;
  close(): Promise<void>;
}

const LOG_STD_MIN = -20;
const LOG_STD_MAX = 2;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);
/** Keeps atanh finite at the box edges, as SAC implementations do. */
const TANH_EDGE = 1 - 1e-6;

export async function loadPolicy(dir: string, options: LoadPolicyOptions = {}): Promise<Policy> {
  const { manifest, onnxModel } = await readPolicyArtifact(dir, { verifyIntegrity: options.verifyIntegrity });
  return openPolicy(manifest, onnxModel, options, dir);
}

/** The same runtime over an in-memory artifact (training uses it to evaluate the current policy). */
export async function openPolicy(
  manifest: PolicyManifest,
  onnxModel: Uint8Array,
  options: LoadPolicyOptions = {},
  source = "policy",
): Promise<Policy> {
  const dir = source;
  const exploration = resolveExploration(manifest, options.exploration);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(onnxModel, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
  } catch (error) {
    throw new PolicyError("policy_onnx_invalid", `${dir}: ONNX Runtime cannot load the model: ${(error as Error).message}`, {
      file: manifest.onnx.file,
    });
  }
  if (!session.inputNames.includes("obs") || !session.outputNames.includes(manifest.onnx.output)) {
    throw new PolicyError("policy_onnx_invalid", `${dir}: model must take "obs" and produce "${manifest.onnx.output}"`, {
      file: manifest.onnx.file,
      value: { inputs: session.inputNames, outputs: session.outputNames },
    });
  }
  return new OnnxPolicy(manifest, session, exploration, options.seed ?? 0);
}

function resolveExploration(manifest: PolicyManifest, requested: Exploration | undefined): Exploration {
  const fromManifest = manifest.config.exploration as Exploration | undefined;
  const exploration = requested ?? (isExploration(fromManifest) ? fromManifest : { kind: "greedy" as const });
  const discrete = manifest.actionSpace.kind === "discrete";
  const fits =
    exploration.kind === "greedy" ||
    (discrete && exploration.kind === "epsilon" && exploration.epsilon >= 0 && exploration.epsilon <= 1) ||
    (discrete && exploration.kind === "softmax" && exploration.temperature > 0) ||
    (!discrete &&
      exploration.kind === "gaussian" &&
      (manifest.onnx.outputKind === "gaussian" || (exploration.std !== undefined && exploration.std > 0)));
  if (!fits) {
    throw new PolicyError(
      "exploration_unsupported",
      `exploration ${JSON.stringify(exploration)} does not fit a ${manifest.actionSpace.kind} policy with ${manifest.onnx.outputKind} output`,
      { field: "exploration", value: exploration },
    );
  }
  return exploration;
}

function isExploration(value: unknown): value is Exploration {
  if (typeof value !== "object" || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === "greedy" || kind === "epsilon" || kind === "softmax" || kind === "gaussian";
}

class OnnxPolicy implements Policy {
  readonly observationDim: number;
  private readonly outputWidth: number;
  private readonly actionDim: number;
  private readonly rng: Rng;

  constructor(
    readonly manifest: PolicyManifest,
    private readonly session: ort.InferenceSession,
    readonly exploration: Exploration,
    seed: number,
  ) {
    this.observationDim = manifest.observation.dim;
    const space = manifest.actionSpace;
    this.actionDim = space.kind === "discrete" ? 1 : space.low.length;
    this.outputWidth =
      space.kind === "discrete" ? space.n : manifest.onnx.outputKind === "gaussian" ? 2 * this.actionDim : this.actionDim;
    this.rng = new Rng(seed);
  }

  /** Checks shape and finiteness; returns the number of rows. */
  private checkObservations(obs: Float32Array, single: boolean): number {
    const dim = this.observationDim;
    if (single ? obs.length !== dim : obs.length === 0 || obs.length % dim !== 0) {
      throw new PolicyError(
        "obs_shape_mismatch",
        single
          ? `observation has ${obs.length} values, the policy expects ${dim}`
          : `observation batch has ${obs.length} values, not a positive multiple of ${dim}`,
        { field: "obs", value: obs.length, expected: dim },
      );
    }
    for (let i = 0; i < obs.length; i++) {
      if (!Number.isFinite(obs[i])) {
        throw new PolicyError("obs_not_finite", `observation value ${obs[i]} at row ${Math.floor(i / dim)}, feature ${this.manifest.observation.featureNames[i % dim] ?? i % dim} is not finite`, {
          field: "obs",
          row: Math.floor(i / dim),
          index: i % dim,
          value: String(obs[i]),
        });
      }
    }
    return obs.length / dim;
  }

  private async run(obs: Float32Array, rows: number): Promise<Float32Array> {
    const input = standardize(obs, this.manifest.observation.scaler);
    const feeds = { obs: new ort.Tensor("float32", input, [rows, this.observationDim]) };
    const results = await this.session.run(feeds);
    const output = results[this.manifest.onnx.output];
    const data = output.data as Float32Array;
    if (data.length !== rows * this.outputWidth) {
      throw new PolicyError("policy_onnx_invalid", `model output has ${data.length} values, expected ${rows * this.outputWidth}`, {
        value: data.length,
        expected: rows * this.outputWidth,
      });
    }
    return data;
  }

  async forward(obs: Float32Array): Promise<Float32Array> {
    const rows = this.checkObservations(obs, false);
    return this.run(obs, rows);
  }

  async act(obs: Float32Array): Promise<number | Float32Array> {
    this.checkObservations(obs, true);
    const output = await this.run(obs, 1);
    if (this.manifest.actionSpace.kind === "discrete") return this.chooseDiscrete(output, 0);
    return this.chooseContinuous(output, 0, new Float32Array(this.actionDim));
  }

  async actBatch(obs: Float32Array): Promise<Int32Array | Float32Array> {
    const rows = this.checkObservations(obs, false);
    const output = await this.run(obs, rows);
    if (this.manifest.actionSpace.kind === "discrete") {
      const actions = new Int32Array(rows);
      for (let r = 0; r < rows; r++) actions[r] = this.chooseDiscrete(output, r);
      return actions;
    }
    const actions = new Float32Array(rows * this.actionDim);
    for (let r = 0; r < rows; r++) this.chooseContinuous(output, r, actions.subarray(r * this.actionDim, (r + 1) * this.actionDim));
    return actions;
  }

  async actionProbabilities(obs: Float32Array): Promise<Float64Array> {
    this.requireDiscrete("actionProbabilities");
    this.checkObservations(obs, true);
    return this.probabilities(await this.run(obs, 1), 1);
  }

  async actionProbabilitiesBatch(obs: Float32Array): Promise<Float64Array> {
    this.requireDiscrete("actionProbabilitiesBatch");
    const rows = this.checkObservations(obs, false);
    return this.probabilities(await this.run(obs, rows), rows);
  }

  async logDensity(obs: Float32Array, action: Float32Array): Promise<number> {
    this.requireContinuous("logDensity");
    this.checkObservations(obs, true);
    return this.logDensities(await this.run(obs, 1), this.checkActions(action, 1), 1)[0];
  }

  async logDensityBatch(obs: Float32Array, actions: Float32Array): Promise<Float64Array> {
    this.requireContinuous("logDensityBatch");
    const rows = this.checkObservations(obs, false);
    return this.logDensities(await this.run(obs, rows), this.checkActions(actions, rows), rows);
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  private requireDiscrete(method: string): void {
    if (this.manifest.actionSpace.kind !== "discrete") {
      throw new PolicyError("exploration_unsupported", `${method} needs a discrete policy; use logDensity`, { field: method });
    }
  }

  private requireContinuous(method: string): void {
    if (this.manifest.actionSpace.kind !== "continuous") {
      throw new PolicyError("exploration_unsupported", `${method} needs a continuous policy; use actionProbabilities`, { field: method });
    }
    if (this.exploration.kind === "greedy") {
      throw new PolicyError("exploration_unsupported", `${method}: a greedy continuous policy has no density; load it with gaussian exploration`, {
        field: "exploration",
      });
    }
  }

  private checkActions(actions: Float32Array, rows: number): Float32Array {
    if (actions.length !== rows * this.actionDim) {
      throw new PolicyError("action_invalid", `action has ${actions.length} values, expected ${rows * this.actionDim}`, {
        field: "action",
        value: actions.length,
        expected: rows * this.actionDim,
      });
    }
    for (let i = 0; i < actions.length; i++) {
      if (!Number.isFinite(actions[i])) {
        throw new PolicyError("action_invalid", `action value at ${i} is not finite`, { field: "action", index: i });
      }
    }
    return actions;
  }

  /** Row r of the exploration policy's action distribution, written into out (length n). */
  private distributionRow(output: Float32Array, r: number, out: Float64Array): void {
    const n = this.outputWidth;
    const base = r * n;
    const exploration = this.exploration;
    if (exploration.kind === "softmax") {
      let max = -Infinity;
      for (let a = 0; a < n; a++) max = Math.max(max, output[base + a] / exploration.temperature);
      let total = 0;
      for (let a = 0; a < n; a++) {
        out[a] = Math.exp(output[base + a] / exploration.temperature - max);
        total += out[a];
      }
      for (let a = 0; a < n; a++) out[a] /= total;
      return;
    }
    const best = argmax(output, base, n);
    const epsilon = exploration.kind === "epsilon" ? exploration.epsilon : 0;
    for (let a = 0; a < n; a++) out[a] = epsilon / n + (a === best ? 1 - epsilon : 0);
  }

  private probabilities(output: Float32Array, rows: number): Float64Array {
    const n = this.outputWidth;
    const probabilities = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) this.distributionRow(output, r, probabilities.subarray(r * n, (r + 1) * n));
    return probabilities;
  }

  private chooseDiscrete(output: Float32Array, r: number): number {
    const n = this.outputWidth;
    if (this.exploration.kind === "greedy") return argmax(output, r * n, n);
    const distribution = new Float64Array(n);
    this.distributionRow(output, r, distribution);
    const u = this.rng.uniform();
    let cumulative = 0;
    for (let a = 0; a < n; a++) {
      cumulative += distribution[a];
      if (u < cumulative) return a;
    }
    return n - 1;
  }

  private chooseContinuous(output: Float32Array, r: number, out: Float32Array): Float32Array {
    const space = this.manifest.actionSpace as { kind: "continuous"; low: number[]; high: number[] };
    const d = this.actionDim;
    const unit = new Float32Array(d);
    const gaussianOutput = this.manifest.onnx.outputKind === "gaussian";
    const base = r * (gaussianOutput ? 2 * d : d);
    for (let j = 0; j < d; j++) {
      const center = output[base + j];
      if (gaussianOutput) {
        const std = Math.exp(clamp(output[base + d + j], LOG_STD_MIN, LOG_STD_MAX));
        unit[j] = Math.tanh(this.exploration.kind === "gaussian" ? center + std * this.rng.normal() : center);
      } else {
        const std = this.exploration.kind === "gaussian" ? (this.exploration.std ?? 0) : 0;
        unit[j] = clamp(center + (std > 0 ? std * this.rng.normal() : 0), -1, 1);
      }
    }
    actionFromUnit(unit, space.low, space.high, out);
    for (let j = 0; j < d; j++) out[j] = clamp(out[j], space.low[j], space.high[j]);
    return out;
  }

  private logDensities(output: Float32Array, actions: Float32Array, rows: number): Float64Array {
    const space = this.manifest.actionSpace as { kind: "continuous"; low: number[]; high: number[] };
    const d = this.actionDim;
    const unit = actionToUnit(actions, space.low, space.high);
    const logJacobian = actionLogJacobian(space.low, space.high);
    const gaussianOutput = this.manifest.onnx.outputKind === "gaussian";
    const fixedStd = this.exploration.kind === "gaussian" ? (this.exploration.std ?? 0) : 0;
    const densities = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let total = 0;
      for (let j = 0; j < d; j++) {
        const u = unit[r * d + j];
        if (gaussianOutput) {
          const mean = output[r * 2 * d + j];
          const logStd = clamp(output[r * 2 * d + d + j], LOG_STD_MIN, LOG_STD_MAX);
          const squashed = clamp(u, -TANH_EDGE, TANH_EDGE);
          const z = Math.atanh(squashed);
          const standard = (z - mean) / Math.exp(logStd);
          // Change of variables through tanh: log p(u) = log N(z) - log(1 - u^2).
          total += -0.5 * standard * standard - logStd - HALF_LOG_2PI - Math.log(1 - squashed * squashed);
        } else {
          const standard = (u - output[r * d + j]) / fixedStd;
          total += -0.5 * standard * standard - Math.log(fixedStd) - HALF_LOG_2PI;
        }
      }
      densities[r] = total - logJacobian;
    }
    return densities;
  }
}

function argmax(values: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let a = 1; a < n; a++) if (values[offset + a] > values[offset + best]) best = a;
  return best;
}

function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}
