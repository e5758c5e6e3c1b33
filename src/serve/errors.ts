/**
 * The HTTP boundary's one catalogue of coded errors. Every error the decision service sends is
 * `{ error: { code, message, ...details } }` with the status listed here; nothing else invents status codes.
 */
export const serveErrorCatalogue = {
  invalid_request: { status: 400, message: "request does not match the schema" },
  invalid_state: { status: 400, message: "state vector has the wrong length or non-numeric values" },
  invalid_json: { status: 400, message: "body is not valid JSON" },
  invalid_decision_id: { status: 400, message: "decision id is malformed" },
  invalid_config: { status: 400, message: "deployment configuration is invalid" },
  unauthorized: { status: 401, message: "a bearer token is required" },
  forbidden: { status: 403, message: "the token lacks the deployer role" },
  unknown_policy: { status: 404, message: "no deployment with that name" },
  not_found: { status: 404, message: "no such route" },
  nothing_to_rollback: { status: 409, message: "the deployment has nothing to roll back to" },
  nothing_to_promote: { status: 409, message: "the deployment has no canary to promote" },
  registry_refused: { status: 409, message: "the registry refused the change" },
  payload_too_large: { status: 413, message: "request body is too large" },
  unsupported_media_type: { status: 415, message: "content type must be application/json" },
  artifact_refused: { status: 422, message: "policy artifact could not be loaded or is incompatible" },
  no_decider: { status: 503, message: "nothing can decide: no policy and no fallback is available" },
  log_unavailable: { status: 503, message: "the decision log cannot be written" },
  not_ready: { status: 503, message: "the service is not ready" },
  internal_error: { status: 500, message: "internal error" },
} as const;

export type ServeErrorCode = keyof typeof serveErrorCatalogue;

export class ServeError extends Error {
  readonly code: ServeErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: ServeErrorCode, message?: string, details: Record<string, unknown> = {}) {
    super(message ?? serveErrorCatalogue[code].message);
    this.name = "ServeError";
    this.code = code;
    this.status = serveErrorCatalogue[code].status;
    this.details = details;
  }

  toJSON(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

export function isServeError(error: unknown): error is ServeError {
  return error instanceof ServeError;
}
