/** Every failure raised by src/nn carries a stable snake_case `code` plus structured details (op, shapes, names). */
export type NnErrorCode =
  | "shape_mismatch"
  | "dtype_mismatch"
  | "invalid_argument"
  | "duplicate_name"
  | "unknown_name"
  | "not_differentiable"
  | "param_updated_twice"
  | "graph_frozen"
  | "missing_feed"
  | "bad_feed"
  | "export_unsupported"
  | "checkpoint_invalid"
  | "backend_unavailable";

export class NnError extends Error {
  readonly code: NnErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: NnErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "NnError";
    this.code = code;
    this.details = details;
  }
}
