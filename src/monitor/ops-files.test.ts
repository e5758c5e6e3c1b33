import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServeMetrics } from "../serve/metrics.js";
import { MonitorError } from "./errors.js";
import { grafanaDashboards } from "./grafana.js";
import { exportedSeriesNames, LATENCY_BUCKETS_SECONDS, SERVICE_METRICS } from "./metric-names.js";
import { alertmanagerRouteYaml, prometheusRulesYaml } from "./prometheus.js";
import { parseMonitorRules } from "./rules.js";

/** Metric-like identifiers in a PromQL expression, minus label names inside braces and `by (...)` lists. */
function seriesReferenced(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, "").replace(/\b(by|without)\s*\([^)]*\)/g, "");
  return [...withoutLabels.matchAll(/\bhindcast[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
}

function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  for (const ch of expr.replace(/"[^"]*"/g, "")) {
    if ("([{".includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}

test("the metric-name list matches what the decision service registers", async () => {
  const metrics = new ServeMetrics();
  const registered = new Map((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, m]));
  for (const name of Object.values(SERVICE_METRICS)) assert.ok(registered.has(name), `service does not export ${name}`);
  // The latency thresholds the rules may use are the histogram's bucket bounds.
  metrics.latency.labels("d", "p", "production").observe(0.001);
  const text = await metrics.registry.metrics();
  const bounds = [...text.matchAll(/hindcast_serve_decision_latency_seconds_bucket\{le="([^"]+)"/g)].map((m) => m[1]).filter((le) => le !== "+Inf");
  assert.deepEqual(bounds.map(Number), [...LATENCY_BUCKETS_SECONDS]);
});

test("generated Prometheus rules parse and reference only exported series or their own recording rules", () => {
  const yamlText = prometheusRulesYaml(parseMonitorRules({}));
  const file = parse(yamlText) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> };
  assert.ok(Array.isArray(file.groups) && file.groups.length === 2);
  const recorded = new Set(file.groups.flatMap((g) => g.rules.map((r) => r.record)).filter((r): r is string => typeof r === "string"));
  const exported = exportedSeriesNames();
  const alerts = file.groups.flatMap((g) => g.rules).filter((r) => typeof r.alert === "string");
  for (const rule of file.groups.flatMap((g) => g.rules)) {
    assert.equal(typeof rule.expr, "string");
    assert.ok(balanced(rule.expr as string), `unbalanced: ${rule.expr}`);
    assert.ok((typeof rule.alert === "string") !== (typeof rule.record === "string"), "each rule is an alert or a recording");
    for (const name of seriesReferenced(rule.expr as string)) {
      assert.ok(exported.has(name) || recorded.has(name), `${name} in ${rule.alert ?? rule.record} is neither exported nor recorded`);
    }
  }
  for (const alert of alerts) {
    const labels = alert.labels as Record<string, string>;
    assert.ok(["page", "ticket"].includes(labels.severity!), `${alert.alert} severity`);
    assert.equal(typeof (alert.annotations as Record<string, string>).summary, "string");
  }
  // Pages for the latency and safety fast burns, tickets for drift and the reward gap.
  const severity = (name: string) => alerts.filter((a) => a.alert === name).map((a) => (a.labels as Record<string, string>).severity).sort();
  assert.deepEqual(severity("HindcastDecisionLatencyBudgetBurn"), ["page", "ticket"]);
  assert.deepEqual(severity("HindcastSafetyBudgetBurn"), ["page", "ticket"]);
  assert.deepEqual(severity("HindcastFeatureDrift"), ["ticket"]);
  assert.deepEqual(severity("HindcastRewardProxyGap"), ["ticket"]);
  // The page expression holds the workbook's two fast pairs: 14.4x over 1h and 5m, 6x over 6h and 30m.
  const page = alerts.find((a) => a.alert === "HindcastDecisionLatencyBudgetBurn" && (a.labels as Record<string, string>).severity === "page")!;
  assert.match(page.expr as string, /ratio_rate1h > \(14\.4 \* 0\.01\d*\) and \S+ratio_rate5m > \(14\.4 \* 0\.01\d*\)/);
  assert.match(page.expr as string, /ratio_rate6h > \(6 \* 0\.01\d*\) and \S+ratio_rate30m/);
  // The latency SLI uses the 100 ms bucket.
  assert.ok(file.groups[0]!.rules.some((r) => String(r.expr).includes('le="0.1"')));
  const route = parse(alertmanagerRouteYaml(600)) as { route: { group_by: string[] } };
  assert.deepEqual(route.route.group_by, ["alertname", "deployment", "policy"]);
});

test("a latency threshold between bucket bounds is refused", () => {
  assert.throws(
    () => prometheusRulesYaml(parseMonitorRules({ latency: { thresholdMs: 42 } })),
    (error: unknown) => error instanceof MonitorError && error.code === "slo_invalid_config",
  );
});

test("generated Grafana dashboards parse and reference only exported series or recording rules", () => {
  const rulesFile = parse(prometheusRulesYaml(parseMonitorRules({}))) as { groups: Array<{ rules: Array<{ record?: string }> }> };
  const recorded = new Set(rulesFile.groups.flatMap((g) => g.rules.map((r) => r.record)).filter((r): r is string => r !== undefined));
  const exported = exportedSeriesNames();
  const dashboards = grafanaDashboards();
  assert.deepEqual(Object.keys(dashboards).sort(), ["debug", "executive", "oncall"]);
  for (const dashboard of Object.values(dashboards)) {
    const reparsed = JSON.parse(JSON.stringify(dashboard)) as typeof dashboard;
    assert.ok(reparsed.panels.length >= 5, dashboard.title);
    assert.equal(new Set(reparsed.panels.map((p) => p.id)).size, reparsed.panels.length);
    for (const panel of reparsed.panels) {
      assert.ok(panel.targets.length > 0 && panel.title.length > 0 && panel.description.length > 0);
      for (const target of panel.targets) {
        assert.ok(balanced(target.expr), target.expr);
        const names = seriesReferenced(target.expr);
        assert.ok(names.length > 0, `${panel.title}: no metric`);
        for (const name of names) assert.ok(exported.has(name) || recorded.has(name), `${name} in ${dashboard.title} / ${panel.title}`);
      }
    }
  }
  const debugTitles = dashboards.debug.panels.map((p) => p.title).join(" | ");
  assert.match(debugTitles, /Drift per feature/);
  assert.match(dashboards.oncall.panels.map((p) => p.title).join(" | "), /p50 \/ p95 \/ p99/);
});

const PROMTOOL = "/usr/bin/promtool";

test("promtool accepts the generated rules", { skip: !existsSync(PROMTOOL) && `promtool check skipped: ${PROMTOOL} is absent (apt-get install prometheus)` }, () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-rules-"));
  try {
    const file = join(dir, "hindcast-rules.yaml");
    writeFileSync(file, prometheusRulesYaml(parseMonitorRules({})));
    const result = spawnSync(PROMTOOL, ["check", "rules", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
