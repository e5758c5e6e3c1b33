/**
 * Coded errors of the training side: unknown algorithms, invalid configuration, a dataset the algorithm cannot
 * learn from, and runs that cannot be resumed. `code` is stable; details name the field, file or value.
 */
export type AlgoErrorCode =
  | "algo_unknown"
  | "config_invalid"
  | "dataset_unsupported"
  | "run_not_resumable"
  | "run_exists"
  | "not_fitted"
  | "training_diverged";

export class AlgoError extends Error {
  override name = "AlgoError";
  constructor(
    readonly code: AlgoErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
