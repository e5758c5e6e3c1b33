/**
 * The one list of metric names the generated alert rules and dashboards may use: what the decision service
 * exports (src/serve/metrics.ts; a test checks the two agree) and what `hindcast monitor` exports itself.
 */
export const SERVICE_METRICS = {
  decisionLatency: "hindcast_serve_decision_latency_seconds",
  decisions: "hindcast_serve_decisions_total",
  fallbacks: "hindcast_serve_fallbacks_total",
  safetyInterventions: "hindcast_serve_safety_interventions_total",
  feedback: "hindcast_serve_feedback_total",
  canaryGuardState: "hindcast_serve_canary_guard_state",
  rollbacks: "hindcast_serve_rollbacks_total",
  shadowAgreement: "hindcast_serve_shadow_agreement_ratio",
  shadowValue: "hindcast_serve_shadow_value_estimate",
  reloads: "hindcast_serve_reloads_total",
  alerts: "hindcast_serve_alerts_total",
  killSwitch: "hindcast_serve_kill_switch",
} as const;

/** Histograms export these series besides their base name. */
export const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"] as const;
export const SERVICE_HISTOGRAMS: readonly string[] = [SERVICE_METRICS.decisionLatency];

/** Gauges `hindcast monitor --metrics-port` exports, labelled by deployment and policy (and feature / shadow). */
export const MONITOR_METRICS = {
  driftIndex: "hindcast_monitor_drift_index",
  featurePsi: "hindcast_monitor_feature_psi",
  featureKl: "hindcast_monitor_feature_kl",
  mmdStatistic: "hindcast_monitor_mmd_statistic",
  mmdPValue: "hindcast_monitor_mmd_p_value",
  rewardProxyGap: "hindcast_monitor_reward_proxy_gap",
  liveReward: "hindcast_monitor_live_reward",
  offlineValueDelta: "hindcast_monitor_offline_value_delta",
  shadowCorrelation: "hindcast_monitor_shadow_correlation",
  actionFailureRatio: "hindcast_monitor_action_failure_ratio",
  safetyViolations: "hindcast_monitor_safety_violations",
  latencyQuantile: "hindcast_monitor_decision_latency_ms",
  retrainIntervalDays: "hindcast_monitor_retrain_interval_days",
  retrainImprovedRatio: "hindcast_monitor_retrain_improved_ratio",
  alertsFiring: "hindcast_monitor_alerts_firing",
} as const;

/** Every series name a rule or panel may reference. */
export function exportedSeriesNames(): Set<string> {
  const names = new Set<string>([...Object.values(SERVICE_METRICS), ...Object.values(MONITOR_METRICS)]);
  for (const histogram of SERVICE_HISTOGRAMS) for (const suffix of HISTOGRAM_SUFFIXES) names.add(histogram + suffix);
  return names;
}

/** Bucket bounds (seconds) of the service's latency histogram: a latency SLO threshold must be one of them. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
