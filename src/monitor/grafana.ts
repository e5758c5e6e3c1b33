/**
 * Generated Grafana dashboards for the three views the guide names: executive (value, canaries, safety, retrain
 * cadence), on-call (latency percentiles, failures, canary health, recent safety interventions, burn rates) and
 * debug (feature availability, shadow correlation, per-feature drift, safety rule breakdown).
 * Every query uses the names in metric-names.ts and the recording rules from prometheus.ts.
 */
import { MONITOR_METRICS as M, SERVICE_METRICS as S } from "./metric-names.js";
import { LATENCY_RATIO_RECORD, SAFETY_RATIO_RECORD } from "./prometheus.js";

export interface GrafanaPanel {
  id: number;
  type: "timeseries" | "stat" | "bargauge" | "heatmap" | "table";
  title: string;
  description: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: "prometheus"; uid: string };
  targets: Array<{ refId: string; expr: string; legendFormat: string }>;
  fieldConfig: { defaults: { unit?: string }; overrides: [] };
  options: Record<string, unknown>;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  schemaVersion: number;
  time: { from: string; to: string };
  refresh: string;
  templating: { list: Array<Record<string, unknown>> };
  panels: GrafanaPanel[];
}

type PanelSpec = [type: GrafanaPanel["type"], title: string, description: string, unit: string | undefined, queries: Array<[expr: string, legend: string]>];

const DATASOURCE = { type: "prometheus" as const, uid: "${datasource}" };
const SEL = 'deployment=~"$deployment"';

function dashboard(uid: string, title: string, description: string, refresh: string, from: string, specs: PanelSpec[]): GrafanaDashboard {
  const panels = specs.map(([type, panelTitle, panelDescription, unit, queries], i): GrafanaPanel => ({
    id: i + 1,
    type,
    title: panelTitle,
    description: panelDescription,
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    datasource: DATASOURCE,
    targets: queries.map(([expr, legendFormat], q) => ({ refId: String.fromCharCode(65 + q), expr, legendFormat })),
    fieldConfig: { defaults: unit ? { unit } : {}, overrides: [] },
    options: {},
  }));
  return {
    uid,
    title,
    description,
    tags: ["hindcast"],
    schemaVersion: 39,
    time: { from, to: "now" },
    refresh,
    templating: {
      list: [
        { name: "datasource", type: "datasource", query: "prometheus", label: "Data source" },
        {
          name: "deployment",
          type: "query",
          datasource: DATASOURCE,
          query: `label_values(${S.decisions}, deployment)`,
          includeAll: true,
          multi: true,
          current: { text: "All", value: "$__all" },
        },
      ],
    },
    panels,
  };
}

export function executiveDashboard(): GrafanaDashboard {
  return dashboard("hindcast-executive", "Hindcast: executive", "Is the policy worth it and is it safe? Value, canaries, safety, retraining.", "5m", "now-30d", [
    ["stat", "Offline value vs baseline", "Offline policy value minus the behaviour policy's (registry evaluations).", undefined, [[`max by (deployment, policy) (${M.offlineValueDelta}{${SEL}})`, "{{deployment}} {{policy}}"]]],
    ["stat", "Canary rollbacks (30 d)", "Automatic canary rollbacks over the last 30 days; each one is a canary that failed.", undefined, [[`sum by (deployment) (increase(${S.rollbacks}{${SEL}}[30d]))`, "{{deployment}}"]]],
    ["stat", "Safety violations (30 d)", "Decisions a safety rule had to replace over the last 30 days.", undefined, [[`sum by (deployment) (increase(${S.safetyInterventions}{${SEL}}[30d]))`, "{{deployment}}"]]],
    ["timeseries", "Live reward vs offline estimate", "Mean live reward from feedback against the policy's offline estimate gap.", undefined, [
      [`${M.liveReward}{${SEL}}`, "live {{policy}}"],
      [`${M.rewardProxyGap}{${SEL}}`, "gap {{policy}}"],
    ]],
    ["stat", "Retrain cadence", "Median days between production promotions and the share that improved on their predecessor.", undefined, [
      [`max(${M.retrainIntervalDays})`, "median days between retrains"],
      [`max(${M.retrainImprovedRatio})`, "share improved"],
    ]],
    ["timeseries", "Decisions per second by route", "Traffic served by production, canary and fallback.", "reqps", [[`sum by (route) (rate(${S.decisions}{${SEL}}[5m]))`, "{{route}}"]]],
  ]);
}

export function onCallDashboard(): GrafanaDashboard {
  const q = (quantile: number) =>
    `histogram_quantile(${quantile}, sum by (le, deployment, policy) (rate(${S.decisionLatency}_bucket{${SEL}}[5m])))`;
  return dashboard("hindcast-oncall", "Hindcast: on-call", "Is the decision service healthy right now? Latency, failures, canary health, safety.", "30s", "now-6h", [
    ["timeseries", "Decision latency p50 / p95 / p99", "From the service's latency histogram, per deployment and policy.", "s", [
      [q(0.5), "p50 {{deployment}} {{policy}}"],
      [q(0.95), "p95 {{deployment}} {{policy}}"],
      [q(0.99), "p99 {{deployment}} {{policy}}"],
    ]],
    ["timeseries", "Action failure and fallback rates", "Failed action outcomes (monitor) and share of decisions served by the fallback.", "percentunit", [
      [`${M.actionFailureRatio}{${SEL}}`, "failures {{policy}}"],
      [`sum by (deployment) (rate(${S.fallbacks}{${SEL}}[5m])) / sum by (deployment) (rate(${S.decisions}{${SEL}}[5m]))`, "fallback {{deployment}}"],
    ]],
    ["timeseries", "Canary traffic and guard", "Canary share of traffic and guard state (0 none, 1 collecting, 2 monitoring, 3 breached).", undefined, [
      [`sum by (deployment) (rate(${S.decisions}{${SEL},route="canary"}[5m])) / sum by (deployment) (rate(${S.decisions}{${SEL}}[5m]))`, "canary share {{deployment}}"],
      [`${S.canaryGuardState}{${SEL}}`, "guard {{deployment}}"],
    ]],
    ["stat", "Safety violations (24 h)", "Decisions a safety rule replaced in the last 24 hours.", undefined, [[`sum by (deployment) (increase(${S.safetyInterventions}{${SEL}}[24h]))`, "{{deployment}}"]]],
    ["timeseries", "Error budget burn (1 h)", "Burn rate of the latency and safety SLO budgets over one hour; paging starts at 14.4.", undefined, [
      [`${LATENCY_RATIO_RECORD}1h{${SEL}} / 0.01`, "latency {{deployment}} {{policy}}"],
      [`${SAFETY_RATIO_RECORD}1h{${SEL}} / 0.001`, "safety {{deployment}}"],
    ]],
    ["stat", "Alerts firing", "Alerts the monitor holds open, by severity.", undefined, [[`sum by (severity) (${M.alertsFiring})`, "{{severity}}"]]],
  ]);
}

export function debugDashboard(): GrafanaDashboard {
  return dashboard("hindcast-debug", "Hindcast: debug", "Why is it misbehaving? Feature availability, shadows, drift per feature, safety rules.", "1m", "now-24h", [
    ["heatmap", "Feature availability (fallbacks by reason)", "Fallbacks by reason, e.g. missing features or out-of-distribution states.", undefined, [[`sum by (reason) (rate(${S.fallbacks}{${SEL}}[5m]))`, "{{reason}}"]]],
    ["timeseries", "Shadow policies vs live outcomes", "Shadow agreement, its correlation with live reward, and the shadow's estimated value.", undefined, [
      [`${S.shadowAgreement}{${SEL}}`, "agreement {{shadow}}"],
      [`${M.shadowCorrelation}{${SEL}}`, "correlation {{shadow}}"],
      [`${S.shadowValue}{${SEL}}`, "value {{shadow}}"],
    ]],
    ["bargauge", "Drift per feature (PSI)", "Population stability index per feature: live window vs training data. Above 0.25 is a significant shift.", undefined, [[`max by (feature) (${M.featurePsi}{${SEL}})`, "{{feature}}"]]],
    ["timeseries", "Drift index and MMD p-value", "Largest per-feature PSI and the multivariate MMD permutation p-value.", undefined, [
      [`${M.driftIndex}{${SEL}}`, "drift index {{deployment}}"],
      [`${M.mmdPValue}{${SEL}}`, "MMD p {{deployment}}"],
    ]],
    ["timeseries", "Safety interventions by rule", "Which safety rules replace actions; pair with the decision log to replay them.", undefined, [[`sum by (rule) (rate(${S.safetyInterventions}{${SEL}}[5m]))`, "{{rule}}"]]],
    ["table", "KL divergence per feature", "KL(live || training) per feature on shared bins.", undefined, [[`max by (feature) (${M.featureKl}{${SEL}})`, "{{feature}}"]]],
  ]);
}

export function grafanaDashboards(): Record<"executive" | "oncall" | "debug", GrafanaDashboard> {
  return { executive: executiveDashboard(), oncall: onCallDashboard(), debug: debugDashboard() };
}
