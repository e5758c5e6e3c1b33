/**
 * Errors raised by the monitoring module. Each carries a stable snake_case `code` and the details needed to act on
 * it (file, line, field, ...), so the CLI and HTTP boundaries can report them without parsing messages.
 */
export type MonitorErrorCode =
  | "drift_dimension_mismatch"
  | "drift_sample_too_small"
  | "drift_invalid_option"
  | "decision_log_unreadable"
  | "decision_log_invalid_record"
  | "slo_invalid_config"
  | "metrics_scrape_failed"
  | "metrics_parse_failed"
  | "webhook_failed"
  | "monitor_invalid_config";

export class MonitorError extends Error {
  readonly code: MonitorErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: MonitorErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "MonitorError";
    this.code = code;
    this.details = details;
  }
}
