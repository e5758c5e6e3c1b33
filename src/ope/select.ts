import { estimateBehaviorPolicy } from "./behavior.js";
import { OpeError } from "./errors.js";
import { evaluatePolicy, type EstimatorName, type EvaluatePolicyOptions, type OpeReport, type TargetPolicy } from "./evaluate.js";
import type { LowerBound } from "./intervals.js";

/**
 * Model selection from logs: evaluate every candidate with the same estimator, rank them by the point value or by
 * the high-confidence lower bound, and say which (if any) beats the logging policy with confidence: a candidate
 * beats the baseline when its lower bound exceeds the logging policy's observed mean discounted return.
 */
export interface Candidate {
  name: string;
  policy?: TargetPolicy;
  targetProb?: Float64Array;
}

export interface SelectPoliciesOptions extends Omit<EvaluatePolicyOptions, "policy" | "targetProb" | "policyName" | "estimators"> {
  candidates: Candidate[];
  /** Estimator used for ranking; default wdr when model values are available, else wpdis. */
  estimator?: EstimatorName;
  by: "lower-bound" | "value";
  /** Compare against the logging policy's own value. */
  baseline?: "behavior" | null;
}

export interface RankedCandidate {
  rank: number;
  name: string;
  value: number;
  lowerBound: LowerBound;
  interval: OpeReport["estimates"][number]["interval"];
  beatsBaseline: boolean | null;
  /** Its estimate leans on actions the logs (almost) never show, or on a model clipped at the value bound. */
  offSupport: boolean;
  warnings: string[];
}

export interface SelectionResult {
  estimator: EstimatorName;
  by: "lower-bound" | "value";
  ranking: RankedCandidate[];
  baseline: OpeReport["baseline"] | null;
  /** The top-ranked candidate that beats the baseline (or the top-ranked one when no baseline was asked). */
  chosen: string | null;
  statement: string;
  reports: OpeReport[];
}

export async function selectPolicies(options: SelectPoliciesOptions): Promise<SelectionResult> {
  const { candidates, by } = options;
  if (candidates.length === 0) throw new OpeError("no_candidates", "give at least one candidate policy");
  const names = new Set<string>();
  for (const candidate of candidates) {
    if (names.has(candidate.name)) throw new OpeError("duplicate_candidate", `candidate "${candidate.name}" is listed twice`);
    names.add(candidate.name);
  }
  const hasModel = Boolean(options.qHat && options.vHat) || candidates.every((candidate) => candidate.policy);
  const estimator: EstimatorName = options.estimator ?? (hasModel ? "wdr" : "wpdis");
  // Estimated propensities do not depend on the candidate: fit the behaviour model once.
  let behavior = options.behavior;
  if (!behavior && !options.transitions.behaviorProb && options.estimateBehavior) {
    const fitted = estimateBehaviorPolicy(options.transitions, { seed: options.seed ?? 0 });
    behavior = { prob: fitted.behaviorProb, label: fitted.label, estimated: true };
  }
  const reports: OpeReport[] = [];
  for (const candidate of candidates) {
    reports.push(
      await evaluatePolicy({
        ...options,
        behavior,
        policyName: candidate.name,
        policy: candidate.policy,
        targetProb: candidate.targetProb,
        estimators: [estimator],
      }),
    );
  }
  const baseline = options.baseline === "behavior" ? reports[0].baseline : null;
  const rows = reports.map((report) => {
    const estimate = report.estimates[0];
    return {
      rank: 0,
      name: report.policy,
      value: estimate.value,
      lowerBound: estimate.lowerBound,
      interval: estimate.interval,
      beatsBaseline: baseline ? estimate.lowerBound.value > baseline.value : null,
      offSupport: estimate.diagnostics.offSupport,
      warnings: [...report.warnings, ...estimate.diagnostics.warnings],
    };
  });
  const key = (row: RankedCandidate) => {
    const score = by === "lower-bound" ? row.lowerBound.value : row.value;
    return Number.isFinite(score) ? score : -Infinity;
  };
  rows.sort((a, b) => key(b) - key(a) || a.name.localeCompare(b.name));
  rows.forEach((row, index) => (row.rank = index + 1));

  const criterion = by === "lower-bound" ? `${Math.round((options.confidence ?? 0.95) * 100)}% lower bound` : "point value";
  let chosen: string | null;
  let statement: string;
  // A candidate whose estimate rests on off-support extrapolation is never chosen on that estimate; it is named instead.
  const listNames = (list: RankedCandidate[]) => list.map((row) => row.name).join(", ");
  const offSupportNote = (list: RankedCandidate[]) =>
    list.length === 0 ? "" : `; passed over because their ${estimator} estimates lean on actions the logs (almost) never show: ${listNames(list)}`;
  if (baseline) {
    const level = Math.round((options.confidence ?? 0.95) * 100);
    const winner = rows.find((row) => row.beatsBaseline && !row.offSupport);
    const skipped = rows.filter((row) => row.beatsBaseline && row.offSupport);
    chosen = winner?.name ?? null;
    if (winner) {
      statement =
        `${winner.name} beats the logging policy with confidence: its ${estimator} ${level}% lower bound ${winner.lowerBound.value.toFixed(4)} exceeds the logged mean return ${baseline.value.toFixed(4)} (ranked by ${criterion})` +
        offSupportNote(skipped.filter((row) => row.rank < winner.rank));
    } else if (skipped.length > 0) {
      statement = `no candidate beats the logging policy on a trustworthy estimate: the ${estimator} lower bounds above the logged mean return ${baseline.value.toFixed(4)} (${listNames(skipped)}) lean on actions the logs (almost) never show`;
    } else {
      statement = `no candidate beats the logging policy with confidence: every ${estimator} lower bound is at or below the logged mean return ${baseline.value.toFixed(4)}`;
    }
  } else {
    const winner = rows.find((row) => !row.offSupport);
    chosen = winner?.name ?? null;
    statement = winner
      ? `${winner.name} ranks first among trustworthy estimates by ${estimator} ${criterion} (no baseline comparison asked)` + offSupportNote(rows.filter((row) => row.rank < winner.rank))
      : `no candidate has a trustworthy ${estimator} estimate: all lean on actions the logs (almost) never show (no baseline comparison asked)`;
  }
  return { estimator, by, ranking: rows, baseline, chosen, statement, reports };
}
