import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDecisionLog } from "./decision-log.js";
import { demoDecisionLogText, DEMO_FEATURES } from "./demo.js";
import { MonitorError } from "./errors.js";
import { measurePolicy, pearson, percentile, retrainCadence } from "./measures.js";
import { AlertManager, parseMonitorRules, type AlertCandidate } from "./rules.js";
import { replayDecisionLog } from "./evaluate.js";
import { Rng } from "../random/index.js";

const T0 = Date.UTC(2026, 0, 1);

test("decision log: feedback joins its decision, torn lines are skipped, bad records are coded errors", () => {
  const lines = [
    JSON.stringify({ kind: "decision", id: "a", ts: 2000, deployment: "d", route: "production", policyVersion: "p@1", featureNames: ["x"], state: [1], action: 0, probability: 1, latencyUs: 4000, safety: [] }),
    JSON.stringify({ kind: "feedback", decisionId: "b", ts: 900, reward: 3, late: false, duplicate: false }),
    JSON.stringify({ kind: "decision", id: "b", ts: 1000, deployment: "d", route: "fallback", policyVersion: "p@1", state: [2], action: 1, probability: 1, latencyUs: 1000, safety: ["bounds"] }),
    JSON.stringify({ kind: "feedback", decisionId: "a", ts: 2100, reward: 1, outcome: { error: "timeout" }, late: false, duplicate: false }),
    JSON.stringify({ kind: "feedback", decisionId: "a", ts: 2200, reward: 9, late: false, duplicate: true }),
    '{"kind":"decis',
  ];
  const window = parseDecisionLog([{ file: "x.jsonl", text: lines.join("\n") }]);
  assert.deepEqual(window.featureNames, ["x"]);
  assert.equal(window.skippedLines, 1);
  assert.deepEqual(window.decisions.map((d) => [d.id, d.reward, d.failed, d.fallback, d.latencyMs]), [
    ["b", 3, false, true, 1],
    ["a", 1, true, false, 4],
  ]);
  assert.throws(
    () => parseDecisionLog([{ file: "y.jsonl", text: '{"kind":"decision","id":"c"}\n' }]),
    (error: unknown) => error instanceof MonitorError && error.code === "decision_log_invalid_record" && error.details.row === 1,
  );
});

test("percentiles, correlation and retrain cadence against hand values", () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 0.5), 50);
  assert.equal(percentile(sorted, 0.95), 95);
  assert.equal(percentile(sorted, 0.99), 99);
  assert.equal(percentile(Float64Array.of(7), 0.99), 7);
  // y = 2x + 1 exactly: r = 1; y = -x: r = -1
  assert.equal(pearson([1, 2, 3, 4], [3, 5, 7, 9]), 1);
  assert.equal(pearson([1, 2, 3], [-1, -2, -3]), -1);
  assert.equal(pearson([1, 1, 1], [1, 2, 3]), null);
  // promotions on days 0, 10, 30, 31; values 1, 2, 1.5, 3: improved 2 of 3; intervals 10, 20, 1 -> median 10
  const day = 86_400_000;
  const cadence = retrainCadence([
    { at: T0 + 30 * day, value: 1.5 },
    { at: T0, value: 1 },
    { at: T0 + 10 * day, value: 2 },
    { at: T0 + 31 * day, value: 3 },
  ]);
  assert.deepEqual(cadence, { retrains: 4, medianIntervalDays: 10, improvedFraction: 2 / 3 });
});

test("measurePolicy on a hand-built window", () => {
  const base = { deployment: "d", route: "production", policy: "p@1", state: [0], fallback: false, failed: false };
  const decisions = [
    { ...base, id: "1", ts: 1, latencyMs: 5, safetyRules: [], reward: 1, shadows: [{ version: "s", agree: true }] },
    { ...base, id: "2", ts: 2, latencyMs: 50, safetyRules: ["bounds"], reward: 0, shadows: [{ version: "s", agree: false }], failed: true },
    { ...base, id: "3", ts: 3, latencyMs: 10, safetyRules: [], reward: 2, shadows: [{ version: "s", agree: true }] },
    { ...base, id: "4", ts: 4, latencyMs: 20, safetyRules: [], reward: null, shadows: [], fallback: true },
  ];
  const m = measurePolicy(decisions, { offlineEstimates: { "p@1": 0.5 }, baselineValue: 0.25 });
  assert.equal(m.decisions, 4);
  assert.deepEqual(m.latencyMs, { p50: 10, p95: 50, p99: 50 });
  assert.equal(m.actionFailureRate, 1 / 3);
  assert.equal(m.fallbackRate, 1 / 4);
  assert.equal(m.safetyViolations, 1);
  assert.equal(m.liveReward, 1);
  assert.equal(m.rewardProxyGap, 0.5);
  assert.equal(m.offlineValueDelta, 0.25);
  // agree (1,0,1) vs reward (1,0,2): means 2/3 and 1; cov sum = (1/3)(0) + (-2/3)(-1) + (1/3)(1) = 1;
  // sxx = 2/3, syy = 2: r = 1 / sqrt(4/3)
  assert.ok(Math.abs(m.shadowCorrelation.s! - 1 / Math.sqrt(4 / 3)) < 1e-12);
});

test("alert manager: one event per start and end, keyed by rule/deployment/policy, cool-down suppresses flapping", () => {
  const manager = new AlertManager(600);
  const candidate = (firing: boolean, policy = "p@1"): AlertCandidate => ({
    rule: "SafetyBudgetBurn", severity: "page", deployment: "d", policy, firing, value: 20, threshold: 14.4, summary: "",
  });
  assert.deepEqual(manager.update([candidate(true), candidate(true, "p@2")], 0).map((e) => [e.state, e.policy]), [["firing", "p@1"], ["firing", "p@2"]]);
  assert.deepEqual(manager.update([candidate(true), candidate(true, "p@2")], 60), []);
  assert.deepEqual(manager.update([candidate(false)], 120).map((e) => e.state), ["resolved"]);
  assert.deepEqual(manager.update([candidate(true)], 300), [], "within cool-down");
  assert.deepEqual(manager.update([candidate(true)], 720).map((e) => e.state), ["firing"]);
  assert.equal(manager.firing().length, 2);
});

test("rules config is validated with coded errors", () => {
  assert.equal(parseMonitorRules({}).latency.thresholdMs, 100);
  assert.throws(
    () => parseMonitorRules({ latency: { objective: 2 } }),
    (error: unknown) => error instanceof MonitorError && error.code === "monitor_invalid_config" && error.details.field === "latency.objective",
  );
});

test("replay of a synthetic log: the latency and safety incidents page, a quiet log stays quiet", () => {
  const rules = parseMonitorRules({ coolDownSeconds: 600 });
  const hour = 3_600_000;
  const quiet = parseDecisionLog([{ file: "q", text: demoDecisionLogText({ start: T0, ratePerMinute: 20, minutes: 180, seed: 3 }) }]);
  assert.deepEqual(replayDecisionLog(quiet, rules, {}, { everySeconds: 300 }).events, []);

  const incident = parseDecisionLog([
    {
      file: "i",
      text: demoDecisionLogText({
        start: T0,
        ratePerMinute: 20,
        minutes: 240,
        seed: 4,
        incidents: [
          { kind: "latency", from: T0 + hour, to: T0 + 2 * hour, size: 0.5 },
          { kind: "safety", from: T0 + 3 * hour, to: T0 + 3.5 * hour, size: 0.2 },
        ],
      }),
    },
  ]);
  const { events } = replayDecisionLog(incident, rules, {}, { everySeconds: 60 });
  const pages = events.filter((e) => e.severity === "page");
  const latencyFiring = pages.filter((e) => e.rule === "DecisionLatencyBudgetBurn" && e.state === "firing");
  const safetyFiring = pages.filter((e) => e.rule === "SafetyBudgetBurn" && e.state === "firing");
  assert.equal(latencyFiring.length, 1, JSON.stringify(pages));
  assert.equal(safetyFiring.length, 1, JSON.stringify(pages));
  // 50% slow against a 1% budget. The 1 h/5 min pair needs t * 0.5 / 60 > 0.144, t > 17 min; the 6 h/30 min pair
  // sees only the log's 60 + t minutes, so it needs t * 0.5 / (60 + t) > 0.06: t > 7.6 min. The page comes first
  // from the 6 h pair, 8-10 minutes in (the share of slow decisions is random around 50%).
  const latencyStart = Date.parse(latencyFiring[0]!.at);
  assert.ok(latencyStart >= T0 + hour + 7 * 60_000 && latencyStart <= T0 + hour + 10 * 60_000, latencyFiring[0]!.at);
  assert.ok(Date.parse(safetyFiring[0]!.at) >= T0 + 3 * hour);
  assert.ok(pages.some((e) => e.rule === "DecisionLatencyBudgetBurn" && e.state === "resolved"));
});

test("replay with a reference: drifted states and a reward drop open tickets", () => {
  const rng = new Rng(11);
  const rows = 2000;
  const values = new Float64Array(rows * DEMO_FEATURES.length).map(() => rng.normal());
  const hour = 3_600_000;
  const window = parseDecisionLog([
    {
      file: "d",
      text: demoDecisionLogText({
        start: T0,
        ratePerMinute: 20,
        minutes: 180,
        seed: 5,
        incidents: [
          { kind: "drift", from: T0 + 1.5 * hour, to: T0 + 3 * hour, size: 1.5 },
          { kind: "reward", from: T0 + 1.5 * hour, to: T0 + 3 * hour, size: 0.5 },
        ],
      }),
    },
  ]);
  const rules = parseMonitorRules({ rewardProxyGap: { max: 0.2, minFeedback: 100 } });
  // Live reward: 1 + 0.2 * agreement share, so the offline estimate is set near the quiet-period level.
  const context = {
    reference: { sample: { rows, dim: DEMO_FEATURES.length, values }, featureNames: DEMO_FEATURES },
    offlineEstimates: { "cql-autoscaler@1": 1.15 },
    drift: { mmd: { sampleSize: 150, permutations: 50 } },
    windowSeconds: 1800,
  };
  const { events } = replayDecisionLog(window, rules, context, { everySeconds: 600 });
  const firing = events.filter((e) => e.state === "firing");
  const drift = firing.filter((e) => e.rule === "FeatureDrift");
  const gap = firing.filter((e) => e.rule === "RewardProxyGap");
  assert.equal(drift.length, 1, JSON.stringify(events));
  assert.ok(Date.parse(drift[0]!.at) > T0 + 1.5 * hour);
  assert.match(drift[0]!.summary, /queue_depth/);
  assert.equal(gap.length, 1, JSON.stringify(events));
  assert.ok(Date.parse(gap[0]!.at) > T0 + 1.5 * hour);
  assert.ok(gap[0]!.value! < -0.2);
});
