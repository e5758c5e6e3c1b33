/**
 * Reads the decision service's log (format "hindcast.decision-log/v1", see src/serve/decision-log.ts) for the
 * monitor. The monitor keeps its own reader, validated with zod at this edge, so the service can import the
 * monitor's dashboard without an import cycle. Feedback records are joined to their decision (first one wins).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
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
 * Parses JSONL text lines into decisions joined with feedback. A line that is not JSON is skipped and counted (a
 * torn last line after a crash); a JSON record of the wrong shape is a coded error naming file and line.
 */
export function parseDecisionLog(sources: Array<{ file: string; text: string }>): DecisionWindow {
  const decisions: MonitoredDecision[] = [];
  const byId = new Map<string, MonitoredDecision>();
  const pendingFeedback = new Map<string, { reward: number; outcome: unknown }>();
  let featureNames: string[] = [];
  let skippedLines = 0;
  for (const { file, text } of sources) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim().length === 0) continue;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        skippedLines++;
        continue;
      }
      const kind = (raw as { kind?: unknown })?.kind;
      if (kind === "feedback") {
        const parsed = feedbackSchema.safeParse(raw);
        if (!parsed.success) throw invalid(file, i + 1, parsed.error);
        const decision = byId.get(parsed.data.decisionId);
        if (decision) {
          if (decision.reward === null) {
            decision.reward = parsed.data.reward;
            decision.failed = outcomeFailed(parsed.data.outcome);
          }
        } else if (!pendingFeedback.has(parsed.data.decisionId)) {
          pendingFeedback.set(parsed.data.decisionId, { reward: parsed.data.reward, outcome: parsed.data.outcome });
        }
        continue;
      }
      const parsed = decisionSchema.safeParse(raw);
      if (!parsed.success) throw invalid(file, i + 1, parsed.error);
      const record = parsed.data;
      if (record.featureNames) featureNames = record.featureNames;
      const early = pendingFeedback.get(record.id);
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
        shadows: (record.shadows ?? []).map((s) => ({ version: s.version, agree: s.agree })),
        reward: early ? early.reward : null,
        failed: early ? outcomeFailed(early.outcome) : false,
      };
      if (!byId.has(record.id)) {
        byId.set(record.id, decision);
        decisions.push(decision);
      }
    }
  }
  decisions.sort((a, b) => a.ts - b.ts);
  return { featureNames, decisions, skippedLines };
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
