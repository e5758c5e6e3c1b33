import type { ActionSpace } from "../data/transitions.js";
import type { PolicyManifest } from "../policy/manifest.js";

/**
 * What the decision service needs from a policy, whatever runtime computes it (ONNX artifact, in-memory model,
 * constant baseline). `evaluate` receives the raw (unstandardised) feature vector in `featureNames` order; any
 * preprocessing is the policy's own business.
 *
 * Discrete policies return per-action scores: `q` values (greedy = argmax) or `logits` (a distribution).
 * Continuous policies return the greedy action in environment units, plus an optional per-dimension
 * standard deviation (environment units) when the policy itself is stochastic.
 */
export type PolicyOutput =
  | { kind: "discrete"; scoreKind: "q" | "logits"; scores: Float32Array | Float64Array }
  | { kind: "continuous"; mean: Float32Array | Float64Array; std?: Float32Array | Float64Array };

export interface DecisionPolicy {
  /** Version id that appears in responses, logs and metrics. */
  version: string;
  actionSpace: ActionSpace;
  featureNames: string[];
  /** Training-data support for the out-of-distribution guard; absent means the guard cannot check this policy. */
  support?: PolicyManifest["observation"]["support"];
  /** Standardisation used by the distance guard (the whitening parameters live in standardised space). */
  scaler?: PolicyManifest["observation"]["scaler"];
  /** Synchronous when possible (the in-process fast path); a Promise for runtimes that only run asynchronously. */
  evaluate(observation: Float32Array): PolicyOutput | Promise<PolicyOutput>;
  /** Releases runtime resources (ONNX sessions). */
  dispose?(): Promise<void> | void;
}

/** Resolves a policy reference from the routing table (an artifact directory or registry id) to a loaded policy. */
export type PolicyLoader = (ref: string) => Promise<DecisionPolicy>;

/**
 * A linear policy computed in-process: scores = W z + b (discrete) or action = clip(W z + b) (continuous), where z
 * is x standardised by `scaler` when one is given, else x itself.
 * Useful as a baseline/fallback policy, in tests and in benchmarks; it needs no runtime at all.
 */
export function linearPolicy(options: {
  version: string;
  actionSpace: ActionSpace;
  featureNames: string[];
  /** Row-major [outputs, features]. */
  weights: ArrayLike<number>;
  bias?: ArrayLike<number>;
  scoreKind?: "q" | "logits";
  support?: PolicyManifest["observation"]["support"];
  scaler?: PolicyManifest["observation"]["scaler"];
}): DecisionPolicy {
  const dim = options.featureNames.length;
  const outputs = options.actionSpace.kind === "discrete" ? options.actionSpace.n : options.actionSpace.low.length;
  if (options.weights.length !== outputs * dim) {
    throw new RangeError(`linearPolicy: weights length ${options.weights.length} != ${outputs} x ${dim}`);
  }
  const weights = Float64Array.from(options.weights);
  const bias = options.bias ? Float64Array.from(options.bias) : new Float64Array(outputs);
  const space = options.actionSpace;
  const scoreKind = options.scoreKind ?? "q";
  // With a scaler the weights apply to standardised features, as in an artifact: z = (x - mean) / std.
  const scaleMean = options.scaler ? Float64Array.from(options.scaler.mean) : null;
  const scaleInv = options.scaler ? Float64Array.from(options.scaler.std, (s) => (s > 0 ? 1 / s : 1)) : null;
  const standardised = new Float64Array(dim);
  return {
    version: options.version,
    actionSpace: space,
    featureNames: options.featureNames,
    support: options.support,
    scaler: options.scaler,
    evaluate(observation: Float32Array): PolicyOutput {
      const out = new Float64Array(outputs);
      for (let j = 0; j < dim; j++) standardised[j] = scaleMean && scaleInv ? (observation[j] - scaleMean[j]) * scaleInv[j] : observation[j];
      for (let o = 0; o < outputs; o++) {
        let sum = bias[o];
        const row = o * dim;
        for (let j = 0; j < dim; j++) sum += weights[row + j] * standardised[j];
        out[o] = sum;
      }
      if (space.kind === "discrete") return { kind: "discrete", scoreKind, scores: out };
      for (let o = 0; o < outputs; o++) out[o] = Math.min(space.high[o], Math.max(space.low[o], out[o]));
      return { kind: "continuous", mean: out };
    },
  };
}

/** A policy that always proposes the same action (the usual baseline fallback). */
export function constantPolicy(options: {
  version: string;
  actionSpace: ActionSpace;
  featureNames: string[];
  action: number | number[];
}): DecisionPolicy {
  const space = options.actionSpace;
  let output: PolicyOutput;
  if (space.kind === "discrete") {
    const action = typeof options.action === "number" ? options.action : options.action[0];
    const scores = new Float64Array(space.n);
    scores[action] = 1;
    output = { kind: "discrete", scoreKind: "q", scores };
  } else {
    const action = typeof options.action === "number" ? [options.action] : options.action;
    output = { kind: "continuous", mean: Float64Array.from(action) };
  }
  return {
    version: options.version,
    actionSpace: space,
    featureNames: options.featureNames,
    evaluate: () => output,
  };
}

/** Policies in one deployment must read the same features and act in the same space. Returns a reason or null. */
export function incompatibility(reference: DecisionPolicy, candidate: DecisionPolicy): string | null {
  if (candidate.featureNames.length !== reference.featureNames.length) {
    return `feature count ${candidate.featureNames.length} != ${reference.featureNames.length}`;
  }
  for (let i = 0; i < reference.featureNames.length; i++) {
    if (candidate.featureNames[i] !== reference.featureNames[i]) {
      return `feature ${i} is "${candidate.featureNames[i]}", expected "${reference.featureNames[i]}"`;
    }
  }
  const a = reference.actionSpace;
  const b = candidate.actionSpace;
  if (a.kind !== b.kind) return `action space ${b.kind} != ${a.kind}`;
  if (a.kind === "discrete" && b.kind === "discrete" && a.n !== b.n) return `action count ${b.n} != ${a.n}`;
  if (a.kind === "continuous" && b.kind === "continuous" && a.low.length !== b.low.length) {
    return `action dimension ${b.low.length} != ${a.low.length}`;
  }
  return null;
}
