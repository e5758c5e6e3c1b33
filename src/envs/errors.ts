/**
 * Coded errors of the simulators and behaviour policies. Each carries a stable snake_case `code` plus details
 * (env, policy spec, position, action) so the CLI can print one line and callers can branch on the code.
 */
export interface EnvErrorDetails {
  env?: string;
  spec?: string;
  position?: number;
  action?: unknown;
  [key: string]: unknown;
}

export class EnvError extends Error {
  readonly code: string;
  readonly details: EnvErrorDetails;

  constructor(code: string, message: string, details: EnvErrorDetails = {}) {
    super(message);
    this.name = "EnvError";
    this.code = code;
    this.details = details;
  }
}
