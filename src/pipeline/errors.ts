/**
 * Coded errors of the closed loop (demo and pipeline runs). Each carries a stable snake_case `code` and the details
 * needed to act on it (file, step, field); the CLI prints `code: message`.
 */
export type PipelineErrorCode =
  | "invalid_pipeline"
  | "pipeline_file_unreadable"
  | "demo_dir_not_empty"
  | "step_failed"
  | "traffic_failed"
  | "unsupported_env";

export class PipelineError extends Error {
  readonly code: PipelineErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: PipelineErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "PipelineError";
    this.code = code;
    this.details = details;
  }
}
