/**
 * The CLI boundary: every error raised by the modules below carries a stable `code`; here it becomes a one-line
 * message on stderr and a non-zero exit status. Unknown errors keep their stack for bug reports.
 */
export interface CodedError extends Error {
  code: string;
}

export function isCodedError(error: unknown): error is CodedError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string";
}

/** Exit statuses: 1 bad input or refused operation, 2 usage, 3 internal error. */
export function exitCodeFor(error: unknown): number {
  if (!isCodedError(error)) return 3;
  if (error.code.startsWith("commander.")) return 2;
  return 1;
}

export function reportAndExit(error: unknown): never {
  if (isCodedError(error)) {
    if (!error.code.startsWith("commander.")) process.stderr.write(`hindcast: ${error.code}: ${error.message}\n`);
  } else {
    process.stderr.write(`hindcast: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(exitCodeFor(error));
}
