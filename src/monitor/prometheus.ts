/**
 * Generated Prometheus alerting rules (the rule-file format `promtool check rules` reads): recording rules for the
 * SLI error ratios over every burn-rate window, multi-window multi-burn-rate alerts for the latency and safety
 * SLOs, threshold alerts on the monitor's drift and reward-proxy gauges, pages for rollbacks and the kill switch,
 * and an Alertmanager route that groups by policy and deployment.
 */
import { stringify } from "yaml";
import { MonitorError } from "./errors.js";
import { LATENCY_BUCKETS_SECONDS, MONITOR_METRICS, SERVICE_METRICS } from "./metric-names.js";
import type { MonitorRules } from "./rules.js";
import { SRE_BURN_WINDOWS, type BurnWindow } from "./slo.js";

interface RecordingRule {
  record: string;
  expr: string;
}

interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PrometheusRuleFile {
  groups: Array<{ name: string; interval?: string; rules: Array<RecordingRule | AlertingRule> }>;
}

function duration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Histogram bucket bound as prom-client prints it (the `le` label); the threshold must be a bucket bound. */
function leLabel(seconds: number): string {
  const bound = LATENCY_BUCKETS_SECONDS.find((b) => Math.abs(b - seconds) < 1e-12);
  if (bound === undefined) {
    throw new MonitorError("slo_invalid_config", `latency threshold ${seconds * 1000} ms is not a bucket bound of the service's histogram`, {
      field: "latency.thresholdMs",
      value: seconds * 1000,
      expected: LATENCY_BUCKETS_SECONDS.map((b) => b * 1000),
    });
  }
  return String(bound);
}

function windows(): string[] {
  return [...new Set(SRE_BURN_WINDOWS.flatMap((w) => [w.long, w.short]))].sort((a, b) => a - b).map(duration);
}

export const LATENCY_RATIO_RECORD = "hindcast:decision_latency_slow:ratio_rate";
export const SAFETY_RATIO_RECORD = "hindcast:safety_intervention:ratio_rate";

function burnExpr(record: string, objective: number, pairs: readonly BurnWindow[]): string {
  const budget = Number((1 - objective).toPrecision(12));
  return pairs
    .map(
      (w) =>
        `(${record}${duration(w.long)} > (${w.factor} * ${budget}) and ${record}${duration(w.short)} > (${w.factor} * ${budget}))`,
    )
    .join("\nor\n");
}

export function prometheusRules(rules: MonitorRules): PrometheusRuleFile {
  const latency = SERVICE_METRICS.decisionLatency;
  const le = leLabel(rules.latency.thresholdMs / 1000);
  const recordings: RecordingRule[] = [];
  for (const w of windows()) {
    recordings.push({
      record: `${LATENCY_RATIO_RECORD}${w}`,
      expr:
        `1 - (sum by (deployment, policy) (rate(${latency}_bucket{le="${le}"}[${w}]))` +
        ` / sum by (deployment, policy) (rate(${latency}_count[${w}])))`,
    });
    // Interventions carry no policy label: the safety SLO is per deployment. A decision broken by two rules counts twice.
    recordings.push({
      record: `${SAFETY_RATIO_RECORD}${w}`,
      expr:
        `sum by (deployment) (rate(${SERVICE_METRICS.safetyInterventions}[${w}]))` +
        ` / sum by (deployment) (rate(${SERVICE_METRICS.decisions}[${w}]))`,
    });
  }
  const alerts: AlertingRule[] = [];
  for (const severity of ["page", "ticket"] as const) {
    const pairs = SRE_BURN_WINDOWS.filter((w) => w.severity === severity);
    alerts.push({
      alert: "HindcastDecisionLatencyBudgetBurn",
      expr: burnExpr(LATENCY_RATIO_RECORD, rules.latency.objective, pairs),
      labels: { severity, slo: "decision_latency" },
      annotations: {
        summary: "Decision latency error budget burning fast for {{ $labels.deployment }} / {{ $labels.policy }}",
        description:
          `Share of decisions slower than ${rules.latency.thresholdMs} ms is {{ $value | humanizePercentage }}; ` +
          `objective ${rules.latency.objective}. Check the on-call dashboard's latency panels.`,
      },
    });
    alerts.push({
      alert: "HindcastSafetyBudgetBurn",
      expr: burnExpr(SAFETY_RATIO_RECORD, rules.safety.objective, pairs),
      labels: { severity, slo: "safety" },
      annotations: {
        summary: "Safety interventions burning the error budget for {{ $labels.deployment }}",
        description: `Share of decisions a safety rule replaced is {{ $value | humanizePercentage }}; objective ${rules.safety.objective}.`,
      },
    });
  }
  alerts.push(
    {
      alert: "HindcastRollback",
      expr: `increase(${SERVICE_METRICS.rollbacks}[10m]) > 0`,
      labels: { severity: "page" },
      annotations: { summary: "A canary was rolled back on {{ $labels.deployment }} ({{ $labels.metric }} breached)", description: "Review the deployment's canary guard and the policy's offline evaluation." },
    },
    {
      alert: "HindcastKillSwitchOn",
      expr: `${SERVICE_METRICS.killSwitch} > 0`,
      for: "5m",
      labels: { severity: "page" },
      annotations: { summary: "The kill switch has been on for 5 minutes: every decision goes to the fallback", description: "Turn it off once the incident is handled." },
    },
    {
      alert: "HindcastFeatureDrift",
      expr: `max by (deployment, policy) (${MONITOR_METRICS.driftIndex}) > ${rules.drift.psi} or max by (deployment, policy) (${MONITOR_METRICS.mmdPValue} < ${rules.drift.mmdPValue})`,
      for: "15m",
      labels: { severity: "ticket" },
      annotations: { summary: "Live states drifted from the training data on {{ $labels.deployment }}", description: `Drift index (max PSI) above ${rules.drift.psi} or MMD p-value below ${rules.drift.mmdPValue}; see the debug dashboard's per-feature drift.` },
    },
    {
      alert: "HindcastRewardProxyGap",
      expr: `abs(${MONITOR_METRICS.rewardProxyGap}) > ${rules.rewardProxyGap.max}`,
      for: "30m",
      labels: { severity: "ticket" },
      annotations: { summary: "Live reward departs from the offline estimate for {{ $labels.policy }}", description: `Gap {{ $value }} beyond ${rules.rewardProxyGap.max}; the offline evaluation no longer predicts production.` },
    },
  );
  return {
    groups: [
      { name: "hindcast-slo-ratios", interval: "30s", rules: recordings },
      { name: "hindcast-alerts", rules: alerts },
    ],
  };
}

export function prometheusRulesYaml(rules: MonitorRules): string {
  return "# Generated by `hindcast monitor export`; check with `promtool check rules`.\n" + stringify(prometheusRules(rules), { lineWidth: 0 });
}

/** Alertmanager route: one notification per alert, policy and deployment; repeat pages hourly, tickets daily. */
export function alertmanagerRouteYaml(coolDownSeconds: number): string {
  const route = {
    route: {
      group_by: ["alertname", "deployment", "policy"],
      group_wait: "30s",
      group_interval: duration(Math.max(60, coolDownSeconds)),
      repeat_interval: "1h",
      receiver: "hindcast-ticket",
      routes: [{ matchers: ['severity="page"'], receiver: "hindcast-page", repeat_interval: "1h" }, { matchers: ['severity="ticket"'], receiver: "hindcast-ticket", repeat_interval: "1d" }],
    },
    receivers: [{ name: "hindcast-page" }, { name: "hindcast-ticket" }],
  };
  return "# Generated by `hindcast monitor export`: fill in the receivers.\n" + stringify(route, { lineWidth: 0 });
}
