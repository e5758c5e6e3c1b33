import { existsSync, statSync } from "node:fs";
import type { ActionSpace } from "../data/transitions.js";
import { parseBehaviorSpec, type BehaviorPolicy } from "../envs/behavior.js";
import { Rng } from "../random/index.js";
import { heuristicController } from "../envs/registry.js";
import { loadPolicy, type Exploration } from "../policy/runtime.js";
import { OpeError } from "./errors.js";
import type { TargetPolicy } from "./evaluate.js";

/**
 * Where a target policy comes from: a policy artifact directory (src/policy runtime, with its exploration), or a
 * built-in behaviour-policy spec of a simulator (src/envs), e.g. "softmax(heuristic, 0.5)" for --env CartPole-v1.
 */
export interface ResolvedTarget extends TargetPolicy {
  name: string;
  source: "artifact" | "builtin";
  close(): Promise<void>;
}

/** A built-in behaviour policy as a batched target policy (probabilities / log-densities / seeded samples). */
export function behaviorAsTarget(behavior: BehaviorPolicy, observationDim: number, seed = 0): TargetPolicy {
  const rng = new Rng(seed);
  const rowsOf = (observations: Float32Array) => observations.length / observationDim;
  if (behavior.kind === "discrete") {
    return {
      async actionProbabilitiesBatch(observations) {
        const rows = rowsOf(observations);
        const out = new Float64Array(rows * behavior.n);
        for (let row = 0; row < rows; row++) {
          behavior.probabilities(observations.subarray(row * observationDim, (row + 1) * observationDim), out.subarray(row * behavior.n, (row + 1) * behavior.n));
        }
        return out;
      },
      async actBatch(observations) {
        const rows = rowsOf(observations);
        const out = new Int32Array(rows);
        for (let row = 0; row < rows; row++) out[row] = behavior.sample(observations.subarray(row * observationDim, (row + 1) * observationDim), rng).action as number;
        return out;
      },
    };
  }
  const actionDim = behavior.low.length;
  return {
    async logDensityBatch(observations, actions) {
      const rows = rowsOf(observations);
      const out = new Float64Array(rows);
      for (let row = 0; row < rows; row++) {
        out[row] = behavior.logDensity(observations.subarray(row * observationDim, (row + 1) * observationDim), actions.subarray(row * actionDim, (row + 1) * actionDim));
      }
      return out;
    },
    async actBatch(observations) {
      const rows = rowsOf(observations);
      const out = new Float32Array(rows * actionDim);
      for (let row = 0; row < rows; row++) {
        out.set(behavior.sample(observations.subarray(row * observationDim, (row + 1) * observationDim), rng).action as Float32Array, row * actionDim);
      }
      return out;
    },
  };
}

export interface ResolveTargetOptions {
  actionSpace: ActionSpace;
  observationDim: number;
  /** Simulator whose heuristic controller built-in specs refer to. */
  env?: string;
  exploration?: Exploration;
  seed?: number;
}

export async function resolveTargetPolicy(spec: string, options: ResolveTargetOptions): Promise<ResolvedTarget> {
  if (existsSync(spec) && statSync(spec).isDirectory()) {
    const policy = await loadPolicy(spec, { exploration: options.exploration, seed: options.seed });
    if (policy.observationDim !== options.observationDim) {
      await policy.close();
      throw new OpeError("policy_dataset_mismatch", `policy ${spec} reads ${policy.observationDim} features, the dataset has ${options.observationDim}`);
    }
    if (policy.manifest.actionSpace.kind !== options.actionSpace.kind) {
      await policy.close();
      throw new OpeError("policy_dataset_mismatch", `policy ${spec} has ${policy.manifest.actionSpace.kind} actions, the dataset ${options.actionSpace.kind}`);
    }
    return {
      name: spec,
      source: "artifact",
      actionProbabilitiesBatch: policy.manifest.actionSpace.kind === "discrete" ? (obs) => policy.actionProbabilitiesBatch(obs) : undefined,
      logDensityBatch: policy.manifest.actionSpace.kind === "continuous" ? (obs, actions) => policy.logDensityBatch(obs, actions) : undefined,
      actBatch: (obs) => policy.actBatch(obs),
      close: () => policy.close(),
    };
  }
  if (!options.env) {
    throw new OpeError("unknown_policy", `"${spec}" is not a policy artifact directory; for a built-in policy spec also give --env NAME`);
  }
  const behavior = parseBehaviorSpec(spec, { actionSpace: options.actionSpace, controllers: { heuristic: heuristicController(options.env) } });
  return { name: spec, source: "builtin", ...behaviorAsTarget(behavior, options.observationDim, options.seed), close: async () => {} };
}
