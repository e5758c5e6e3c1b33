import type { ActionSpace } from "../data/transitions.js";

/**
 * A policy artifact is a directory holding `policy.onnx` (the network alone) and `manifest.json` (this type).
 * The serving runtime needs nothing else: no training code, no dataset.
 *
 * ONNX contract: one float32 input named "obs" of shape [batch, observationDim], already standardised
 * with `observation.scaler`. One float32 output named by `onnx.output`:
 *   - outputKind "q":      [batch, n] action values (discrete); greedy = argmax
 *   - outputKind "logits": [batch, n] unnormalised log-probabilities (discrete)
 *   - outputKind "action": [batch, actionDim] deterministic action in [-1, 1], mapped to [low, high] by the runtime
 *   - outputKind "gaussian": [batch, 2 * actionDim] tanh-space mean then log-std; the mean is the greedy action
 */
export interface PolicyManifest {
  format: "hindcast.policy/v1";
  algorithm: string;
  actionSpace: ActionSpace;
  observation: {
    dim: number;
    featureNames: string[];
    /** Standardisation applied before the network: (x - mean) / std. */
    scaler: { mean: number[]; std: number[] };
    /** Training-data support, for out-of-distribution guards at serving time. */
    support: {
      min: number[];
      max: number[];
      /** Mahalanobis-style distance parameters on standardised features (diagonal or full whitening). */
      whitening?: { mean: number[]; matrix: number[]; threshold: number };
    };
  };
  onnx: { file: string; sha256: string; input: "obs"; output: string; outputKind: "q" | "logits" | "action" | "gaussian" };
  config: Record<string, unknown>;
  seed: number;
  dataset?: { name: string; version: number; hash: string };
  codeVersion: string;
  metrics: Record<string, number>;
  createdAt: string;
}
