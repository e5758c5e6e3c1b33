/**
 * Alert rules and the alert manager. Pages: multi-window multi-burn-rate rules on the decision-latency SLO (share of
 * decisions slower than a threshold) and the safety SLO (share of decisions where a safety rule intervened).
 * Tickets: the slow burn-rate pairs, drift above threshold, and the reward-proxy gap beyond tolerance.
 * Alerts are keyed by rule + deployment + policy: one event when an alert starts, one when it resolves, and a
 * cool-down after resolution during which the same key does not fire again (flapping suppression).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { MonitoredDecision } from "./decision-log.js";
import type { DriftReport } from "./drift.js";
import { MonitorError } from "./errors.js";
import { groupByPolicy, type MeasureContext } from "./measures.js";
import { evaluateBurnRates, SRE_BURN_WINDOWS, sliSeries, type Severity, type SliSeries } from "./slo.js";

export const monitorRulesSchema = z
  .object({
    latency: z
      .object({ thresholdMs: z.number().positive().default(100), objective: z.number().gt(0).lt(1).default(0.99) })
      .strict()
      .default({ thresholdMs: 100, objective: 0.99 }),
    safety: z.object({ objective: z.number().gt(0).lt(1).default(0.999) }).strict().default({ objective: 0.999 }),
    drift: z
      .object({ psi: z.number().positive().default(0.25), mmdPValue: z.number().gt(0).lt(1).default(0.01) })
      .strict()
      .default({ psi: 0.25, mmdPValue: 0.01 }),
    rewardProxyGap: z
      .object({ max: z.number().positive().default(0.1), minFeedback: z.number().int().positive().default(100) })
      .strict()
      .default({ max: 0.1, minFeedback: 100 }),
    /** Seconds an alert key stays silent after it resolved. */
    coolDownSeconds: z.number().min(0).default(600),
    /** SLI bucket width in seconds. */
    bucketSeconds: z.number().positive().default(60),
  })
  .strict();
export type MonitorRules = z.infer<typeof monitorRulesSchema>;
export type MonitorRulesInput = z.input<typeof monitorRulesSchema>;

export function parseMonitorRules(input: unknown): MonitorRules {
  const parsed = monitorRulesSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MonitorError("monitor_invalid_config", `${issue.path.join(".")}: ${issue.message}`, {
      field: issue.path.join("."),
      expected: issue.message,
    });
  }
  return parsed.data;
}

/** Reads a rules file (YAML or JSON) and validates it. */
export function loadMonitorRules(path: string): MonitorRules {
  let value: unknown;
  try {
    const text = readFileSync(path, "utf8");
    value = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new MonitorError("monitor_invalid_config", `cannot read rules file ${path}: ${(error as Error).message}`, { file: path });
  }
  try {
    return parseMonitorRules(value);
  } catch (error) {
    if (error instanceof MonitorError) throw new MonitorError(error.code, `${path}: ${error.message}`, { ...error.details, file: path });
    throw error;
  }
}

export type RuleName =
  | "DecisionLatencyBudgetBurn"
  | "SafetyBudgetBurn"
  | "FeatureDrift"
  | "RewardProxyGap";

/** The state of one rule for one deployment and policy at one evaluation. */
export interface AlertCandidate {
  rule: RuleName;
  severity: Severity;
  deployment: string;
  policy: string;
  firing: boolean;
  value: number | null;
  threshold: number;
  summary: string;
}

export interface AlertEvent {
  kind: "alert";
  state: "firing" | "resolved";
  rule: RuleName;
  severity: Severity;
  deployment: string;
  policy: string;
  value: number | null;
  threshold: number;
  summary: string;
  /** ISO time of the evaluation that produced the event. */
  at: string;
  /** rule/deployment/policy/severity: the deduplication key. */
  key: string;
}

export function alertKey(c: { rule: string; deployment: string; policy: string }): string {
  return `${c.rule}/${c.deployment}/${c.policy}`;
}

/** Latency and safety SLI series for one group of decisions, bucketed from `start` to `end` (seconds). */
export interface SloSeries {
  deployment: string;
  policy: string;
  latency: SliSeries;
  safety: SliSeries;
}

export function sloSeries(decisions: readonly MonitoredDecision[], rules: MonitorRules, start: number, end: number): SloSeries[] {
  const out: SloSeries[] = [];
  for (const group of groupByPolicy(decisions).values()) {
    const times = Float64Array.from(group, (d) => d.ts / 1000);
    out.push({
      deployment: group[0]!.deployment,
      policy: group[0]!.policy,
      latency: sliSeries(times, group.map((d) => d.latencyMs > rules.latency.thresholdMs), start, end, rules.bucketSeconds),
      safety: sliSeries(times, group.map((d) => d.safetyRules.length > 0), start, end, rules.bucketSeconds),
    });
  }
  return out;
}

/** Burn-rate candidates at `at` seconds: per SLO and severity, firing if any window pair of that severity fires. */
export function burnRateCandidates(series: readonly SloSeries[], at: number, rules: MonitorRules): AlertCandidate[] {
  const out: AlertCandidate[] = [];
  for (const s of series) {
    for (const [rule, sli, objective, what] of [
      ["DecisionLatencyBudgetBurn", s.latency, rules.latency.objective, `decisions slower than ${rules.latency.thresholdMs} ms`],
      ["SafetyBudgetBurn", s.safety, rules.safety.objective, "decisions with a safety intervention"],
    ] as const) {
      const evaluations = evaluateBurnRates(sli, at, objective, SRE_BURN_WINDOWS);
      for (const severity of ["page", "ticket"] as const) {
        const ofSeverity = evaluations.filter((e) => e.window.severity === severity);
        const firing = ofSeverity.find((e) => e.firing);
        const shown = firing ?? ofSeverity[0]!;
        out.push({
          rule,
          severity,
          deployment: s.deployment,
          policy: s.policy,
          firing: firing !== undefined,
          value: shown.longBurnRate,
          threshold: shown.window.factor,
          summary:
            `${what}: error budget burning at ${shown.longBurnRate?.toFixed(1) ?? "n/a"}x over ${shown.window.long / 3600} h ` +
            `and ${shown.shortBurnRate?.toFixed(1) ?? "n/a"}x over ${shown.window.short / 60} min (limit ${shown.window.factor}x, objective ${objective})`,
        });
      }
    }
  }
  return out;
}

/** Drift ticket for a deployment (attributed to the policy serving most of the window). */
export function driftCandidate(report: DriftReport, deployment: string, policy: string, rules: MonitorRules): AlertCandidate {
  const top = report.features[0];
  const mmdDrift = report.mmd !== null && report.mmd.pValue < rules.drift.mmdPValue;
  const psiDrift = report.driftIndex > rules.drift.psi;
  return {
    rule: "FeatureDrift",
    severity: "ticket",
    deployment,
    policy,
    firing: psiDrift || mmdDrift,
    value: report.driftIndex,
    threshold: rules.drift.psi,
    summary:
      `drift index (max PSI) ${report.driftIndex.toFixed(3)}${top ? ` led by ${top.feature}` : ""}` +
      (report.mmd ? `, MMD p=${report.mmd.pValue.toFixed(3)}` : "") +
      ` (limits: PSI ${rules.drift.psi}, p < ${rules.drift.mmdPValue})`,
  };
}

/** Reward-proxy gap tickets per policy with an offline estimate and enough feedback (runs every tick: kept lean). */
export function rewardGapCandidates(decisions: readonly MonitoredDecision[], context: MeasureContext, rules: MonitorRules): AlertCandidate[] {
  const estimates = context.offlineEstimates ?? {};
  const groups = new Map<string, { deployment: string; policy: string; sum: number; count: number }>();
  for (const d of decisions) {
    if (d.reward === null || estimates[d.policy] === undefined) continue;
    const key = `${d.deployment}\u0000${d.policy}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { deployment: d.deployment, policy: d.policy, sum: 0, count: 0 }));
    group.sum += d.reward;
    group.count++;
  }
  const out: AlertCandidate[] = [];
  for (const g of groups.values()) {
    if (g.count < rules.rewardProxyGap.minFeedback) continue;
    const live = g.sum / g.count;
    const offline = estimates[g.policy]!;
    const gap = live - offline;
    out.push({
      rule: "RewardProxyGap",
      severity: "ticket",
      deployment: g.deployment,
      policy: g.policy,
      firing: Math.abs(gap) > rules.rewardProxyGap.max,
      value: gap,
      threshold: rules.rewardProxyGap.max,
      summary: `live reward ${live.toFixed(3)} vs offline estimate ${offline.toFixed(3)} (gap ${gap.toFixed(3)}, tolerance ${rules.rewardProxyGap.max})`,
    });
  }
  return out;
}

/** Turns successive candidate sets into deduplicated firing/resolved events with cool-down. */
export class AlertManager {
  private readonly active = new Map<string, AlertEvent>();
  private readonly resolvedAt = new Map<string, number>();

  constructor(private readonly coolDownSeconds: number) {}

  /** `at` in seconds since the epoch. Returns the events to emit now. */
  update(candidates: readonly AlertCandidate[], at: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    const iso = new Date(at * 1000).toISOString();
    for (const c of candidates) {
      const key = `${alertKey(c)}/${c.severity}`;
      const current = this.active.get(key);
      if (c.firing && !current) {
        const resolved = this.resolvedAt.get(key);
        if (resolved !== undefined && at - resolved < this.coolDownSeconds) continue;
        const event: AlertEvent = { kind: "alert", state: "firing", ...c, at: iso, key };
        delete (event as Partial<AlertCandidate>).firing;
        this.active.set(key, event);
        events.push(event);
      } else if (!c.firing && current) {
        this.active.delete(key);
        this.resolvedAt.set(key, at);
        const event: AlertEvent = { kind: "alert", state: "resolved", ...c, at: iso, key };
        delete (event as Partial<AlertCandidate>).firing;
        events.push(event);
      }
    }
    return events;
  }

  /** Alerts firing now. */
  firing(): AlertEvent[] {
    return [...this.active.values()];
  }
}
