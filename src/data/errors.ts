/**
 * Coded errors of the data layer. Every failure a user can cause carries a stable snake_case `code` and the
 * details needed to find it (file, row, field, position); the CLI turns them into one-line messages.
 */
export interface DataErrorDetails {
  file?: string;
  row?: number;
  field?: string;
  position?: string;
  [key: string]: unknown;
}

export class DataError extends Error {
  readonly code: string;
  readonly details: DataErrorDetails;

  constructor(code: string, message: string, details: DataErrorDetails = {}) {
    super(message);
    this.name = "DataError";
    this.code = code;
    this.details = details;
  }
}
