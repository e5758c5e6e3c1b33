/**
 * Every failure the registry reports carries a stable snake_case `code` and structured `details`, so the CLI can
 * print it and the HTTP admin API can map it to a status without parsing messages.
 */
export type RegistryErrorCode =
  | "invalid_registry_url"
  | "invalid_input"
  | "not_found"
  | "ambiguous_reference"
  | "dataset_version_conflict"
  | "invalid_transition"
  | "canary_slot_taken"
  | "deployment_mismatch"
  | "invalid_fraction"
  | "promotion_refused"
  | "nothing_to_roll_back"
  | "auth_required"
  | "token_invalid"
  | "forbidden"
  | "sensitive_feature_exported"
  | "invalid_gate_config"
  | "registry_busy"
  | "schema_too_new"
  | "audit_log_append_only";

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: RegistryErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "RegistryError";
    this.code = code;
    this.details = details;
  }
}

/** HTTP status for each code, for the admin API. */
export const registryErrorStatus: Record<RegistryErrorCode, number> = {
  invalid_registry_url: 400,
  invalid_input: 400,
  not_found: 404,
  ambiguous_reference: 400,
  dataset_version_conflict: 409,
  invalid_transition: 409,
  canary_slot_taken: 409,
  deployment_mismatch: 409,
  invalid_fraction: 400,
  promotion_refused: 409,
  nothing_to_roll_back: 409,
  auth_required: 401,
  token_invalid: 401,
  forbidden: 403,
  sensitive_feature_exported: 422,
  invalid_gate_config: 400,
  registry_busy: 503,
  schema_too_new: 500,
  audit_log_append_only: 500,
};
