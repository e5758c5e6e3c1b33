/**
 * Coded errors of the policy runtime: loading an artifact and running it on observations.
 * `code` is stable (callers and the HTTP layer match on it); details say which file, field or index was wrong.
 */
export type PolicyErrorCode =
  | "policy_artifact_missing"
  | "policy_manifest_invalid"
  | "policy_integrity_mismatch"
  | "policy_onnx_invalid"
  | "obs_shape_mismatch"
  | "obs_not_finite"
  | "action_invalid"
  | "exploration_unsupported";

export class PolicyError extends Error {
  override name = "PolicyError";
  constructor(
    readonly code: PolicyErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
