/**
 * Coded errors of off-policy evaluation. Each carries a stable snake_case `code` and the details needed to find
 * the cause (row, episode, estimator, column); the CLI turns them into one-line messages.
 */
export interface OpeErrorDetails {
  row?: number;
  episode?: number;
  estimator?: string;
  column?: string;
  [key: string]: unknown;
}

export class OpeError extends Error {
  readonly code: string;
  readonly details: OpeErrorDetails;

  constructor(code: string, message: string, details: OpeErrorDetails = {}) {
    super(message);
    this.name = "OpeError";
    this.code = code;
    this.details = details;
  }
}
