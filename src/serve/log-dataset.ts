import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ActionSpace } from "../data/transitions.js";
import type { DatasetSchemaInput } from "../data/schema.js";
import { readDecisionLog, type DecisionRecord, type FeedbackRecord } from "./decision-log.js";
import { ServeError } from "./errors.js";

/**
 * Closes the loop: turns a decision log into a file plus dataset schema (src/data/schema.ts) that
 * `hindcast ingest` reads back as a dataset. Each decision is joined with its first feedback (later duplicates
 * are ignored); decisions without feedback are left out and counted. Decisions carrying an `episodeId` form
 * episodes in step order (the last logged step is marked truncated: the log cannot know the episode ended);
 * the others are one-step episodes ending in a terminal state (contextual bandit). Killed-switch and fallback
 * decisions are kept: their propensity is exact, so off-policy evaluation may use them.
 */
export interface ExportDecisionLogOptions {
  logDir: string;
  outDir: string;
  /** Only this deployment's decisions (a dataset has one feature layout). Default: the only one in the log. */
  deployment?: string;
  /** The action space; default for discrete logs: n = largest logged action + 1. Continuous logs must give it. */
  actionSpace?: ActionSpace;
}

export interface ExportDecisionLogResult {
  dataFile: string;
  schemaFile: string;
  rows: number;
  episodes: number;
  withoutFeedback: number;
  schema: DatasetSchemaInput;
}

export function exportDecisionLog(options: ExportDecisionLogOptions): ExportDecisionLogResult {
  const { records } = readDecisionLog(options.logDir);
  const decisions = records.filter((r): r is DecisionRecord => r.kind === "decision");
  const deployments = [...new Set(decisions.map((d) => d.deployment))];
  const deployment = options.deployment ?? (deployments.length === 1 ? deployments[0] : undefined);
  if (!deployment) {
    throw new ServeError("invalid_config", `the log holds deployments ${deployments.join(", ") || "(none)"}; choose one`, { deployments });
  }
  const chosen = decisions.filter((d) => d.deployment === deployment);
  if (chosen.length === 0) throw new ServeError("invalid_config", `no decisions for deployment "${deployment}"`, { deployment });
  const rewards = new Map<string, number>();
  for (const record of records) {
    if (record.kind === "feedback" && !rewards.has((record as FeedbackRecord).decisionId)) rewards.set(record.decisionId, record.reward);
  }
  const featureNames = chosen[0].featureNames;
  const continuous = Array.isArray(chosen[0].action);
  let space = options.actionSpace;
  if (!space) {
    if (continuous) throw new ServeError("invalid_config", "continuous logs need the action space (low/high) to export", { deployment });
    space = { kind: "discrete", n: Math.max(...chosen.map((d) => d.action as number)) + 1 };
  }

  interface Row { decision: DecisionRecord; reward: number }
  const episodes = new Map<string, Row[]>();
  let withoutFeedback = 0;
  for (const decision of chosen) {
    const reward = rewards.get(decision.id);
    if (reward === undefined) {
      withoutFeedback += 1;
      continue;
    }
    if (decision.featureNames.join("\u0000") !== featureNames.join("\u0000")) {
      throw new ServeError("invalid_config", `decision ${decision.id} has a different feature layout; export per layout`, { decisionId: decision.id });
    }
    const key = decision.episodeId !== undefined ? `e:${decision.episodeId}` : `d:${decision.id}`;
    const list = episodes.get(key);
    if (list) list.push({ decision, reward });
    else episodes.set(key, [{ decision, reward }]);
  }

  const lines: string[] = [];
  let minReward = Infinity;
  let maxReward = -Infinity;
  for (const [key, rows] of episodes) {
    rows.sort((a, b) => (a.decision.step ?? 0) - (b.decision.step ?? 0) || a.decision.ts - b.decision.ts);
    const grouped = key.startsWith("e:");
    rows.forEach(({ decision, reward }, step) => {
      const last = step === rows.length - 1;
      minReward = Math.min(minReward, reward);
      maxReward = Math.max(maxReward, reward);
      const row: Record<string, unknown> = {
        episode: key.slice(2),
        step,
        state: decision.state,
        reward,
        terminal: last && !grouped ? 1 : 0,
        truncated: last && grouped ? 1 : 0,
        propensity: continuous ? (decision.logDensity ?? null) : decision.probability,
        policy_version: decision.policyVersion,
        route: decision.route,
        decision_id: decision.id,
        ts: decision.ts,
      };
      if (continuous) (decision.action as number[]).forEach((value, k) => (row[`action_${k}`] = value));
      else row.action = decision.action;
      lines.push(JSON.stringify(row));
    });
  }

  const schema: DatasetSchemaInput = {
    episode: "episode",
    step: "step",
    timestamp: "ts",
    observations: { column: "state", size: featureNames.length, names: featureNames },
    action:
      space.kind === "discrete"
        ? { column: "action", kind: "discrete", n: space.n }
        : { columns: space.low.map((_, k) => `action_${k}`), kind: "continuous", low: space.low, high: space.high },
    reward: { column: "reward", min: lines.length > 0 ? minReward : 0, max: lines.length > 0 ? maxReward : 0 },
    terminal: "terminal",
    truncated: "truncated",
    policyVersion: "policy_version",
    metadata: ["route", "decision_id"],
  };
  // A log with Gaussian exploration carries log-densities; a deterministic continuous log has no propensities.
  if (!continuous || chosen.every((d) => d.logDensity !== undefined)) {
    schema.behaviorProb = { column: "propensity", kind: continuous ? "log_density" : "probability" };
  }
  mkdirSync(options.outDir, { recursive: true });
  const dataFile = join(options.outDir, `${deployment}.jsonl`);
  const schemaFile = join(options.outDir, `${deployment}.schema.json`);
  writeFileSync(dataFile, lines.join("\n") + (lines.length > 0 ? "\n" : ""));
  writeFileSync(schemaFile, JSON.stringify(schema, null, 2) + "\n");
  return { dataFile, schemaFile, rows: lines.length, episodes: episodes.size, withoutFeedback, schema };
}
