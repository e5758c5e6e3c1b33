/** Every failure raised by src/random carries a stable snake_case `code` plus the offending values. */
export type RandomErrorCode = "invalid_bound" | "invalid_count" | "invalid_state";

export class RandomError extends Error {
  readonly code: RandomErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: RandomErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "RandomError";
    this.code = code;
    this.details = details;
  }
}
