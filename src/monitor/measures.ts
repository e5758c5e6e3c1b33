/**
 * The guide's production measures for a policy, computed from the decision log (and, for the offline side, from
 * the registry's evaluations): offline value vs baseline, shadow correlation, decision latency percentiles, action
 * failure rate, drift index, reward-proxy gap, safety violations, retrain cadence.
 */
import type { MonitoredDecision } from "./decision-log.js";

export interface LatencyPercentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface PolicyMeasures {
  deployment: string;
  policy: string;
  decisions: number;
  /** Milliseconds; null without decisions. */
  latencyMs: LatencyPercentiles | null;
  /** Failed outcomes / decisions with feedback; null without feedback. */
  actionFailureRate: number | null;
  fallbackRate: number;
  /** Decisions where at least one safety rule intervened. */
  safetyViolations: number;
  /** Mean live reward from feedback (the live proxy); null without feedback. */
  liveReward: number | null;
  feedbackCount: number;
  /** Offline per-decision value estimate for this policy, when known. */
  offlineEstimate: number | null;
  /** liveReward - offlineEstimate. */
  rewardProxyGap: number | null;
  /** Offline value of this policy minus the behaviour (baseline) policy's, when both are known. */
  offlineValueDelta: number | null;
  /**
   * Per shadow version: Pearson correlation between the shadow agreeing with the served action (1/0) and the live
   * reward. Positive: the shadow sides with the served action when outcomes are good. Null when undefined.
   */
  shadowCorrelation: Record<string, number | null>;
}

export interface MeasureContext {
  /** Offline value per policy version (e.g. from the registry's evaluations). */
  offlineEstimates?: Record<string, number>;
  /** Offline value of the behaviour policy. */
  baselineValue?: number;
}

/** Nearest-rank percentile of an ascending array (q in (0, 1]). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Pearson correlation; null when either side has no variance or fewer than 3 pairs. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  const n = x.length;
  if (n < 3) return null;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

/** Groups decisions by deployment and served policy version, in first-seen order. */
export function groupByPolicy(decisions: readonly MonitoredDecision[]): Map<string, MonitoredDecision[]> {
  const groups = new Map<string, MonitoredDecision[]>();
  for (const d of decisions) {
    const key = `${d.deployment}\u0000${d.policy}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(d);
  }
  return groups;
}

export function measurePolicy(decisions: readonly MonitoredDecision[], context: MeasureContext = {}): PolicyMeasures {
  const first = decisions[0];
  const latencies = Float64Array.from(decisions, (d) => d.latencyMs).sort();
  let failures = 0;
  let fallbacks = 0;
  let safetyViolations = 0;
  let rewardSum = 0;
  let feedbackCount = 0;
  const shadowPairs = new Map<string, { agree: number[]; reward: number[] }>();
  for (const d of decisions) {
    if (d.fallback) fallbacks++;
    if (d.safetyRules.length > 0) safetyViolations++;
    if (d.reward === null) continue;
    feedbackCount++;
    rewardSum += d.reward;
    if (d.failed) failures++;
    for (const shadow of d.shadows) {
      let pairs = shadowPairs.get(shadow.version);
      if (!pairs) shadowPairs.set(shadow.version, (pairs = { agree: [], reward: [] }));
      pairs.agree.push(shadow.agree ? 1 : 0);
      pairs.reward.push(d.reward);
    }
  }
  const policy = first?.policy ?? "";
  const offlineEstimate = context.offlineEstimates?.[policy] ?? null;
  const liveReward = feedbackCount > 0 ? rewardSum / feedbackCount : null;
  const shadowCorrelation: Record<string, number | null> = {};
  for (const [version, pairs] of shadowPairs) shadowCorrelation[version] = pearson(pairs.agree, pairs.reward);
  return {
    deployment: first?.deployment ?? "",
    policy,
    decisions: decisions.length,
    latencyMs:
      latencies.length > 0 ? { p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), p99: percentile(latencies, 0.99) } : null,
    actionFailureRate: feedbackCount > 0 ? failures / feedbackCount : null,
    fallbackRate: decisions.length > 0 ? fallbacks / decisions.length : 0,
    safetyViolations,
    liveReward,
    feedbackCount,
    offlineEstimate,
    rewardProxyGap: liveReward !== null && offlineEstimate !== null ? liveReward - offlineEstimate : null,
    offlineValueDelta: offlineEstimate !== null && context.baselineValue !== undefined ? offlineEstimate - context.baselineValue : null,
    shadowCorrelation,
  };
}

export function measureAll(decisions: readonly MonitoredDecision[], context: MeasureContext = {}): PolicyMeasures[] {
  return [...groupByPolicy(decisions).values()].map((group) => measurePolicy(group, context));
}

export interface RetrainCadence {
  retrains: number;
  /** Median days between consecutive promotions; null with fewer than two. */
  medianIntervalDays: number | null;
  /** Share of promotions whose offline value beat the one it replaced. */
  improvedFraction: number | null;
}

/** Retrain cadence success from the production promotions (time and offline value), oldest first or not. */
export function retrainCadence(promotions: ReadonlyArray<{ at: string | number; value: number | null }>): RetrainCadence {
  const sorted = [...promotions].map((p) => ({ t: new Date(p.at).getTime(), value: p.value })).sort((a, b) => a.t - b.t);
  const intervals = Float64Array.from(sorted.slice(1), (p, i) => (p.t - sorted[i]!.t) / 86_400_000).sort();
  let compared = 0;
  let improved = 0;
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!.value;
    const current = sorted[i]!.value;
    if (previous === null || current === null) continue;
    compared++;
    if (current > previous) improved++;
  }
  let medianIntervalDays: number | null = null;
  if (intervals.length > 0) {
    const mid = intervals.length >> 1;
    medianIntervalDays = intervals.length % 2 ? intervals[mid]! : (intervals[mid - 1]! + intervals[mid]!) / 2;
  }
  return { retrains: sorted.length, medianIntervalDays, improvedFraction: compared > 0 ? improved / compared : null };
}
