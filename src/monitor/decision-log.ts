/**
 * Reads the decision service's log (format "hindcast.decision-log/v1", see src/serve/decision-log.ts) for the
 * monitor. The monitor keeps its own reader, validated with zod at this edge, so the service can import the
 * monitor's dashboard without an import cycle. Feedback records are joined to their decision (first one wins).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
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

/**
 * Follows a log directory (or file) as it grows: each `poll()` reads only the bytes appended since the last one,
 * keeps an incomplete last line for the next poll, and picks up new segments.
 */
export class DecisionLogTail {
  readonly accumulator = new DecisionAccumulator();
  private readonly files = new Map<string, { offset: number; partial: string; lines: number }>();

  constructor(readonly path: string) {}

  /** Returns how many bytes were read. */
  poll(): number {
    let read = 0;
    for (const file of decisionLogFiles(this.path)) {
      const state = this.files.get(file) ?? { offset: 0, partial: "", lines: 0 };
      this.files.set(file, state);
      const size = statSync(file).size;
      if (size <= state.offset) continue;
      const buffer = Buffer.alloc(size - state.offset);
      const fd = openSync(file, "r");
      try {
        readSync(fd, buffer, 0, buffer.length, state.offset);
      } finally {
        closeSync(fd);
      }
      state.offset = size;
      read += buffer.length;
      const text = state.partial + buffer.toString("utf8");
      const cut = text.lastIndexOf("\n");
      state.partial = text.slice(cut + 1);
      if (cut < 0) continue;
      const complete = text.slice(0, cut);
      this.accumulator.addText(complete, file, state.lines + 1);
      state.lines += complete.split("\n").length;
    }
    return read;
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

/** Reads a log directory (or one JSONL file). */
export function readDecisionWindow(path: string): DecisionWindow {
  return parseDecisionLog(decisionLogFiles(path).map((file) => ({ file, text: readFileSync(file, "utf8") })));
}
