/**
 * Evaluates the alert rules over a decision log: at each evaluation time, burn rates from the SLI series, drift of
 * the trailing window's states against the reference, and the reward-proxy gap of the trailing window.
 * `replayDecisionLog` walks a whole log as the live monitor would have (offline mode); `evaluateAt` is one tick of
 * the continuous monitor.
 */
import type { DecisionWindow, MonitoredDecision } from "./decision-log.js";
import { driftReport, type DriftOptions, type DriftReport, type FeatureSample } from "./drift.js";
import { MonitorError } from "./errors.js";
import { measureAll, type MeasureContext, type PolicyMeasures } from "./measures.js";
import {
  AlertManager,
  burnRateCandidates,
  driftCandidate,
  rewardGapCandidates,
  sloSeries,
  type AlertCandidate,
  type AlertEvent,
  type MonitorRules,
} from "./rules.js";
import { SRE_BURN_WINDOWS } from "./slo.js";

export interface EvaluationContext extends MeasureContext {
  /** Training-data states to compare live states with; no drift rule without it. */
  reference?: { sample: FeatureSample; featureNames: string[] };
  drift?: Omit<DriftOptions, "featureNames">;
  /** Trailing window for drift and the reward-proxy gap, seconds (default 3600). */
  windowSeconds?: number;
}

export interface Evaluation {
  at: string;
  candidates: AlertCandidate[];
  measures: PolicyMeasures[];
  drift: Array<{ deployment: string; report: DriftReport }>;
}

/** The rules' thresholds decide what a drift report calls flagged and drifted, unless the context overrides them. */
export function driftOptions(rules: MonitorRules, context: EvaluationContext): EvaluationContext["drift"] {
  return { psiThreshold: rules.drift.psi, alpha: rules.drift.mmdPValue, ...context.drift };
}

/** First index with ts >= value (decisions sorted by ts). */
function lowerBound(decisions: readonly MonitoredDecision[], tsMs: number): number {
  let low = 0;
  let high = decisions.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (decisions[mid]!.ts < tsMs) low = mid + 1;
    else high = mid;
  }
  return low;
}

function statesOf(decisions: readonly MonitoredDecision[], dim: number): FeatureSample {
  const rows = decisions.filter((d) => d.state.length === dim);
  const values = new Float64Array(rows.length * dim);
  rows.forEach((d, r) => values.set(d.state, r * dim));
  return { rows: rows.length, dim, values };
}

/** Drift per deployment for the given decisions (deployments with fewer than 20 states are skipped). */
export function driftByDeployment(
  decisions: readonly MonitoredDecision[],
  reference: NonNullable<EvaluationContext["reference"]>,
  options: EvaluationContext["drift"] = {},
): Array<{ deployment: string; policy: string; report: DriftReport }> {
  const byDeployment = new Map<string, MonitoredDecision[]>();
  for (const d of decisions) {
    let list = byDeployment.get(d.deployment);
    if (!list) byDeployment.set(d.deployment, (list = []));
    list.push(d);
  }
  const out: Array<{ deployment: string; policy: string; report: DriftReport }> = [];
  for (const [deployment, list] of byDeployment) {
    const live = statesOf(list, reference.sample.dim);
    if (live.rows < 20) continue;
    const counts = new Map<string, number>();
    for (const d of list) counts.set(d.policy, (counts.get(d.policy) ?? 0) + 1);
    const policy = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    out.push({ deployment, policy, report: driftReport(reference.sample, live, { ...options, featureNames: reference.featureNames }) });
  }
  return out;
}

/** Evaluates every rule at `atMs` using decisions up to that time. */
export function evaluateAt(decisions: readonly MonitoredDecision[], atMs: number, rules: MonitorRules, context: EvaluationContext = {}): Evaluation {
  const end = lowerBound(decisions, atMs + 1);
  const longest = Math.max(...SRE_BURN_WINDOWS.map((w) => w.long));
  const sloStart = lowerBound(decisions, atMs - longest * 1000);
  const at = atMs / 1000;
  const series = sloSeries(decisions.slice(sloStart, end), rules, at - longest, at);
  const windowDecisions = decisions.slice(lowerBound(decisions, atMs - (context.windowSeconds ?? 3600) * 1000), end);
  const candidates = burnRateCandidates(series, at, rules);
  candidates.push(...rewardGapCandidates(windowDecisions, context, rules));
  const drift = context.reference ? driftByDeployment(windowDecisions, context.reference, driftOptions(rules, context)) : [];
  for (const d of drift) candidates.push(driftCandidate(d.report, d.deployment, d.policy, rules));
  return {
    at: new Date(atMs).toISOString(),
    candidates,
    measures: measureAll(windowDecisions, context),
    drift: drift.map(({ deployment, report }) => ({ deployment, report })),
  };
}

export interface ReplayResult {
  events: AlertEvent[];
  evaluations: number;
  last: Evaluation | null;
}

/**
 * Walks the log from its first to its last decision, evaluating every `everySeconds` (drift only every
 * `driftEverySeconds`, default the same), and returns the alert events the continuous monitor would have emitted.
 */
export function replayDecisionLog(
  window: DecisionWindow,
  rules: MonitorRules,
  context: EvaluationContext = {},
  options: { everySeconds?: number; driftEverySeconds?: number; onEvent?: (event: AlertEvent) => void } = {},
): ReplayResult {
  const every = options.everySeconds ?? 60;
  if (!(every > 0)) throw new MonitorError("monitor_invalid_config", `evaluation interval must be positive, got ${every}`, { field: "every", value: every });
  const decisions = window.decisions;
  const manager = new AlertManager(rules.coolDownSeconds);
  const events: AlertEvent[] = [];
  if (decisions.length === 0) return { events, evaluations: 0, last: null };
  const driftEvery = options.driftEverySeconds ?? every;
  const firstMs = Math.ceil(decisions[0]!.ts / (every * 1000)) * every * 1000;
  const lastMs = decisions[decisions.length - 1]!.ts;
  const longest = Math.max(...SRE_BURN_WINDOWS.map((w) => w.long));
  // The SLI series are built once for the whole log; each tick only sums its windows.
  const series = sloSeries(decisions, rules, Math.floor(decisions[0]!.ts / 1000) - longest, lastMs / 1000 + 2 * every);
  const windowMs = (context.windowSeconds ?? 3600) * 1000;
  let evaluations = 0;
  let nextDriftMs = firstMs;
  let lastTickMs = firstMs;
  for (let atMs = firstMs; atMs <= lastMs + every * 1000; atMs += every * 1000) {
    const end = lowerBound(decisions, atMs + 1);
    const windowDecisions = decisions.slice(lowerBound(decisions, atMs - windowMs), end);
    const candidates = burnRateCandidates(series, atMs / 1000, rules);
    candidates.push(...rewardGapCandidates(windowDecisions, context, rules));
    if (context.reference !== undefined && atMs >= nextDriftMs) {
      nextDriftMs = atMs + driftEvery * 1000;
      for (const d of driftByDeployment(windowDecisions, context.reference, driftOptions(rules, context))) candidates.push(driftCandidate(d.report, d.deployment, d.policy, rules));
    } else {
      // Without a drift evaluation this tick, drift alerts stay as they were.
      candidates.push(...heldDrift(manager));
    }
    for (const event of manager.update(candidates, atMs / 1000)) {
      events.push(event);
      options.onEvent?.(event);
    }
    evaluations++;
    lastTickMs = atMs;
  }
  return { events, evaluations, last: evaluateAt(decisions, lastTickMs, rules, context) };
}

function heldDrift(manager: AlertManager): AlertCandidate[] {
  return manager
    .firing()
    .filter((e) => e.rule === "FeatureDrift")
    .map((e) => ({ rule: e.rule, severity: e.severity, deployment: e.deployment, policy: e.policy, firing: true, value: e.value, threshold: e.threshold, summary: e.summary }));
}
