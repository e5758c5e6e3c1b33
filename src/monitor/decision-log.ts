/**
 * Reads the decision service's log (format "hindcast.decision-log/v1", see src/serve/decision-log.ts) for the
 * monitor. The monitor keeps its own reader, validated with zod at this edge, so the service can import the
 * monitor's dashboard without an import cycle. Feedback records are joined to their decision (first one wins).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { MonitorError } from "./errors.js";

const actionSchema = z.union([z.number(), z.array(z.number())]);

const decisionSchema = z.object({
  kind: z.literal("decision"),
  id: z.string(),
  ts: z.number(),
  deployment: z.string(),
  route: z.string(),
  policyVersion: z.string(),
  featureNames: z.array(z.string()).optional(),
  state: z.array(z.number()),
  action: actionSchema,
  latencyUs: z.number().nonnegative(),
  fallbackReason: z.string().optional(),
  safety: z.array(z.string()).default([]),
  shadows: z.array(z.object({ version: z.string(), action: actionSchema, agree: z.boolean() }).loose()).optional(),
}).loose();

const feedbackSchema = z.object({
  kind: z.literal("feedback"),
  decisionId: z.string(),
  ts: z.number(),
  reward: z.number(),
  outcome: z.unknown().optional(),
}).loose();

/** One decision with its first feedback, as the monitor uses it. */
export interface MonitoredDecision {
  id: string;
  /** Milliseconds since the epoch. */
  ts: number;
  deployment: string;
  route: string;
  policy: string;
  state: number[];
  latencyMs: number;
  fallback: boolean;
  safetyRules: string[];
  shadows: Array<{ version: string; agree: boolean }>;
  reward: number | null;
  /** True when the feedback's outcome reports an error: `{error: ...}`, `{ok: false}` or "error"/"failed"/"failure". */
  failed: boolean;
}

export interface DecisionWindow {
  featureNames: string[];
  decisions: MonitoredDecision[];
  skippedLines: number;
}

function outcomeFailed(outcome: unknown): boolean {
  if (typeof outcome === "string") return ["error", "failed", "failure"].includes(outcome.toLowerCase());
  if (outcome && typeof outcome === "object") {
    const o = outcome as Record<string, unknown>;
    return Boolean(o.error) || o.ok === false || o.status === "error" || o.status === "failed";
  }
  return false;
}

/** Segment files of a log directory in name order, or the single file given. */
export function decisionLogFiles(path: string): string[] {
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new MonitorError("decision_log_unreadable", `cannot read decision log ${path}: ${(error as Error).message}`, { file: path });
  }
  if (!stats.isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name.endsWith(".jsonl"))
    .sort()
    .map((name) => join(path, name));
}

/**
 * Accumulates log lines into decisions joined with feedback. A line that is not JSON is skipped and counted (a torn
 * last line after a crash); a JSON record of the wrong shape is a coded error naming file and line.
 */
export class DecisionAccumulator {
  readonly decisions: MonitoredDecision[] = [];
  featureNames: string[] = [];
  skippedLines = 0;
  private readonly byId = new Map<string, MonitoredDecision>();
  private readonly pendingFeedback = new Map<string, { reward: number; outcome: unknown }>();
  private sorted = true;

  addLine(line: string, file: string, lineNumber: number): void {
    if (line.trim().length === 0) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.skippedLines++;
      return;
    }
    if ((raw as { kind?: unknown })?.kind === "feedback") {
      const parsed = feedbackSchema.safeParse(raw);
      if (!parsed.success) throw invalid(file, lineNumber, parsed.error);
      const decision = this.byId.get(parsed.data.decisionId);
      if (decision) {
        if (decision.reward === null) {
          decision.reward = parsed.data.reward;
          decision.failed = outcomeFailed(parsed.data.outcome);
        }
      } else if (!this.pendingFeedback.has(parsed.data.decisionId)) {
        this.pendingFeedback.set(parsed.data.decisionId, { reward: parsed.data.reward, outcome: parsed.data.outcome });
      }
      return;
    }
    const parsed = decisionSchema.safeParse(raw);
    if (!parsed.success) throw invalid(file, lineNumber, parsed.error);
    const record = parsed.data;
    if (record.featureNames) this.featureNames = record.featureNames;
    if (this.byId.has(record.id)) return;
    const early = this.pendingFeedback.get(record.id);
    this.pendingFeedback.delete(record.id);
    const decision: MonitoredDecision = {
      id: record.id,
      ts: record.ts,
      deployment: record.deployment,
      route: record.route,
      policy: record.policyVersion,
      state: record.state,
      latencyMs: record.latencyUs / 1000,
      fallback: record.route === "fallback",
      safetyRules: record.safety,
      shadows: (record.shadows ?? []).map((shadow) => ({ version: shadow.version, agree: shadow.agree })),
      reward: early ? early.reward : null,
      failed: early ? outcomeFailed(early.outcome) : false,
    };
    const last = this.decisions[this.decisions.length - 1];
    if (last && last.ts > decision.ts) this.sorted = false;
    this.byId.set(record.id, decision);
    this.decisions.push(decision);
  }

  addText(text: string, file: string, firstLineNumber = 1): void {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) this.addLine(lines[i]!, file, firstLineNumber + i);
  }

  /** Drops decisions older than `ts` (ms), keeping memory bounded in a long-running monitor. */
  forgetBefore(ts: number): void {
    this.sortByTime();
    let drop = 0;
    while (drop < this.decisions.length && this.decisions[drop]!.ts < ts) this.byId.delete(this.decisions[drop++]!.id);
    if (drop > 0) this.decisions.splice(0, drop);
  }

  sortByTime(): void {
    if (!this.sorted) this.decisions.sort((a, b) => a.ts - b.ts);
    this.sorted = true;
  }

  window(): DecisionWindow {
    this.sortByTime();
    return { featureNames: this.featureNames, decisions: this.decisions, skippedLines: this.skippedLines };
  }
}

/** Parses whole JSONL texts (see DecisionAccumulator). */
export function parseDecisionLog(sources: Array<{ file: string; text: string }>): DecisionWindow {
  const accumulator = new DecisionAccumulator();
  for (const { file, text } of sources) accumulator.addText(text, file);
  return accumulator.window();
}

/** How much of a segment one read takes; a preallocated segment's zero tail is read this far past its records. */
const TAIL_CHUNK = 64 * 1024;

/**
 * Follows a log directory (or file) as it grows: each `poll()` reads only the bytes written since the last one,
 * keeps an incomplete last line for the next poll, and picks up new segments. It works for both segment kinds the
 * service writes: appended ones grow, and preallocated ones keep a constant size with a zero tail that records
 * overwrite in place, so a poll reads up to the first NUL byte (no record holds one) and resumes there. A hole left by
 * a batch that completed before an earlier one is not passed over: the reader waits at its first zero until it is
 * filled. When a segment is cut back (its zero tail at rotation or close, or a torn line by crash recovery), the
 * bytes already read stay read and a torn partial line is dropped.
 */
export class DecisionLogTail {
  readonly accumulator = new DecisionAccumulator();
  private readonly files = new Map<string, { offset: number; partial: Buffer; lines: number }>();

  constructor(readonly path: string) {}

  /** Returns how many record bytes were read (zero tails not counted). */
  poll(): number {
    let read = 0;
    const present = decisionLogFiles(this.path);
    // Segments are never renamed, and a removed one (an unused preallocated segment) does not come back.
    for (const file of this.files.keys()) if (!present.includes(file)) this.files.delete(file);
    for (const file of present) {
      let fd: number;
      try {
        fd = openSync(file, "r");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw new MonitorError("decision_log_unreadable", `cannot read decision log ${file}: ${(error as Error).message}`, { file });
      }
      let bytes: Buffer;
      const state = this.files.get(file) ?? { offset: 0, partial: Buffer.alloc(0), lines: 0 };
      this.files.set(file, state);
      try {
        const size = fstatSync(fd).size;
        if (size < state.offset) {
          // Cut back below what was read: only an incomplete last line can have been cut (complete records stay).
          state.partial = state.partial.subarray(0, Math.max(0, state.partial.length - (state.offset - size)));
          state.offset = size;
        }
        bytes = readUntilZero(fd, state.offset, size);
      } finally {
        closeSync(fd);
      }
      if (bytes.length === 0) continue;
      state.offset += bytes.length;
      read += bytes.length;
      const pending = state.partial.length > 0 ? Buffer.concat([state.partial, bytes]) : bytes;
      const cut = pending.lastIndexOf(0x0a);
      state.partial = Buffer.from(pending.subarray(cut + 1));
      if (cut < 0) continue;
      const complete = pending.toString("utf8", 0, cut);
      this.accumulator.addText(complete, file, state.lines + 1);
      state.lines += complete.split("\n").length;
    }
    return read;
  }
}

/** Bytes of a file from `start` up to `size` or its first NUL byte, whichever comes first. */
function readUntilZero(fd: number, start: number, size: number): Buffer {
  const chunks: Buffer[] = [];
  for (let position = start; position < size; ) {
    const chunk = Buffer.allocUnsafe(Math.min(TAIL_CHUNK, size - position));
    const count = readSync(fd, chunk, 0, chunk.length, position);
    if (count === 0) break;
    const zero = chunk.subarray(0, count).indexOf(0);
    chunks.push(chunk.subarray(0, zero < 0 ? count : zero));
    if (zero >= 0) break;
    position += count;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** A segment's text up to its first NUL byte (a preallocated segment's zero tail is neither a line nor read). */
function recordText(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (error) {
    // Removed since the directory was listed: an unused preallocated segment, which held no record.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new MonitorError("decision_log_unreadable", `cannot read decision log ${file}: ${(error as Error).message}`, { file });
  }
  try {
    return readUntilZero(fd, 0, fstatSync(fd).size).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function invalid(file: string, line: number, error: z.ZodError): MonitorError {
  const issue = error.issues[0]!;
  return new MonitorError("decision_log_invalid_record", `${file}:${line}: ${issue.path.join(".")}: ${issue.message}`, {
    file,
    row: line,
    field: issue.path.join("."),
    expected: issue.message,
  });
}

/** Reads a log directory (or one JSONL file), each segment up to its zero tail if it has one. */
export function readDecisionWindow(path: string): DecisionWindow {
  return parseDecisionLog(decisionLogFiles(path).map((file) => ({ file, text: recordText(file) })));
}
