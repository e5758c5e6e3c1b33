import { test } from "node:test";
import assert from "node:assert/strict";
import type { Transitions } from "../data/transitions.js";
import { evaluatePolicy } from "./evaluate.js";
import { formatReport, formatSelection } from "./report.js";
import { selectPolicies } from "./select.js";
import { Rng } from "../random/index.js";

/**
 * One-step episodes, two actions, reward = the action index, behaviour uniform (0.5 each).
 * A target that takes action 1 with probability p has true value p.
 */
function coinLogs(episodes: number, seed: number, withPropensities = true): Transitions {
  const random = new Rng(seed);
  const actions = Int32Array.from({ length: episodes }, () => (random.uniform() < 0.5 ? 1 : 0));
  return {
    size: episodes,
    observationDim: 1,
    featureNames: ["x"],
    actionSpace: { kind: "discrete", n: 2 },
    observations: Float32Array.from({ length: episodes }, () => random.uniform()),
    nextObservations: new Float32Array(episodes),
    actions,
    rewards: Float32Array.from(actions),
    terminals: new Uint8Array(episodes).fill(1),
    truncations: new Uint8Array(episodes),
    behaviorProb: withPropensities ? new Float64Array(episodes).fill(0.5) : null,
    episodeStarts: Int32Array.from({ length: episodes + 1 }, (_, i) => i),
    steps: new Int32Array(episodes),
  };
}

const targetColumn = (t: Transitions, p: number) => Float64Array.from(t.actions as Int32Array, (a) => (a === 1 ? p : 1 - p));

test("evaluatePolicy: estimates near the true value, intervals, bound and diagnostics", async () => {
  const transitions = coinLogs(4000, 1);
  const report = await evaluatePolicy({
    transitions,
    targetProb: targetColumn(transitions, 0.8),
    estimators: ["is", "pdis", "wis", "wpdis", "ips", "snips"],
    gamma: 1,
    bootstrap: { resamples: 200, seed: 5 },
  });
  assert.equal(report.behavior.source, "logged");
  // Logged mean reward is about 0.5 (the behaviour's value).
  assert.ok(Math.abs(report.baseline.value - 0.5) < 0.05);
  for (const estimate of report.estimates) {
    assert.ok(Math.abs(estimate.value - 0.8) < 0.05, `${estimate.estimator} ${estimate.value}`);
    assert.ok(estimate.interval && estimate.interval.lower <= estimate.value && estimate.value <= estimate.interval.upper);
    assert.ok(estimate.lowerBound.value <= estimate.value);
    assert.match(estimate.lowerBound.method, /bootstrap/);
    assert.equal(estimate.diagnostics.episodes, 4000);
    // Weights are 1.6 or 0.4 with equal frequency: max 1.6, mean about 1.
    assert.ok(Math.abs((estimate.diagnostics.maxWeight ?? 0) - 1.6) < 1e-9);
    assert.ok(Math.abs((estimate.diagnostics.meanWeight ?? 0) - 1) < 0.05);
  }
  const text = formatReport(report);
  assert.match(text, /estimator\s+value/);
  assert.match(text, /wpdis/);
});

test("missing propensities: a coded refusal, or a labelled estimate when asked", async () => {
  const transitions = coinLogs(2000, 2, false);
  const targetProb = targetColumn(transitions, 0.8);
  await assert.rejects(
    evaluatePolicy({ transitions, targetProb, estimators: ["wis"], gamma: 1 }),
    (error: { code?: string; message: string }) => error.code === "missing_propensities" && /--estimate-behavior/.test(error.message),
  );
  const report = await evaluatePolicy({ transitions, targetProb, estimators: ["wis"], gamma: 1, estimateBehavior: true });
  assert.equal(report.behavior.source, "estimated");
  assert.match(report.behavior.label, /behaviour cloning/);
  assert.ok(report.warnings.some((w) => w.includes("ESTIMATED")));
  assert.ok(Math.abs(report.estimates[0].value - 0.8) < 0.06, String(report.estimates[0].value));
});

test("DR without Q-hat/V-hat says what to supply", async () => {
  const transitions = coinLogs(50, 3);
  await assert.rejects(
    evaluatePolicy({ transitions, targetProb: targetColumn(transitions, 0.5), estimators: ["dr"], gamma: 1 }),
    (error: { code?: string }) => error.code === "missing_model",
  );
});

test("supplied Q-hat/V-hat columns feed DR and WDR", async () => {
  const transitions = coinLogs(1000, 4);
  const p = 0.7;
  // An exact reward model: Q(x, a) = a, V(x) = p.
  const report = await evaluatePolicy({
    transitions,
    targetProb: targetColumn(transitions, p),
    estimators: ["dr", "wdr", "dm"],
    gamma: 1,
    qHat: Float64Array.from(transitions.actions as Int32Array),
    vHat: new Float64Array(transitions.size).fill(p),
  });
  for (const estimate of report.estimates) assert.ok(Math.abs(estimate.value - p) < 1e-9, `${estimate.estimator} ${estimate.value}`);
});

test("selectPolicies ranks candidates and names the one that beats the logging policy", async () => {
  const transitions = coinLogs(3000, 6);
  const candidates = [0.2, 0.8, 0.5].map((p) => ({ name: `p${p}`, targetProb: targetColumn(transitions, p) }));
  const result = await selectPolicies({ transitions, candidates, by: "lower-bound", baseline: "behavior", gamma: 1 });
  assert.deepEqual(result.ranking.map((r) => r.name), ["p0.8", "p0.5", "p0.2"]);
  assert.equal(result.chosen, "p0.8");
  assert.deepEqual(result.ranking.map((r) => r.beatsBaseline), [true, false, false]);
  assert.match(result.statement, /p0\.8 beats the logging policy/);
  assert.match(formatSelection(result), /beats baseline/);
  const worse = await selectPolicies({ transitions, candidates: candidates.filter((c) => c.name !== "p0.8"), by: "value", baseline: "behavior", gamma: 1 });
  assert.equal(worse.chosen, null);
  assert.match(worse.statement, /no candidate beats/);
});

test("thomas2015 bound is named, valid and below the IS estimate", async () => {
  const transitions = coinLogs(2000, 7);
  const report = await evaluatePolicy({
    transitions,
    targetProb: targetColumn(transitions, 0.8),
    estimators: ["is", "wis"],
    gamma: 1,
    bound: "thomas2015",
    returnRange: { min: 0, max: 1 },
  });
  const [is, wis] = report.estimates;
  assert.match(is.lowerBound.method, /thomas2015/);
  assert.ok(is.lowerBound.value <= is.value && is.lowerBound.value > 0.5, String(is.lowerBound.value));
  assert.match(wis.lowerBound.method, /student-t.*trajectory IS only/);
});

test("selection with estimated propensities labels every report", async () => {
  const transitions = coinLogs(1500, 8, false);
  const candidates = [0.3, 0.7].map((p) => ({ name: `p${p}`, targetProb: targetColumn(transitions, p) }));
  const result = await selectPolicies({ transitions, candidates, by: "value", gamma: 1, estimateBehavior: true, estimator: "wis" });
  assert.deepEqual(result.ranking.map((r) => r.name), ["p0.7", "p0.3"]);
  for (const report of result.reports) {
    assert.equal(report.behavior.source, "estimated");
    assert.ok(report.warnings.some((w) => w.includes("ESTIMATED")));
  }
});

test("a target action the logs never show is named in words", async () => {
  // Logged actions are only 0 and 1 of three; the target puts 30% on action 2.
  const transitions = { ...coinLogs(200, 9), actionSpace: { kind: "discrete" as const, n: 3 } };
  const policy = {
    async actionProbabilitiesBatch(observations: Float32Array) {
      const out = new Float64Array(observations.length * 3);
      for (let i = 0; i < observations.length; i++) out.set([0.3, 0.4, 0.3], 3 * i);
      return out;
    },
  };
  const report = await evaluatePolicy({ transitions, policy, estimators: ["wis"], gamma: 1 });
  assert.ok(report.warnings.some((w) => /action 2 with mean probability 0\.300, but the logs never show it/.test(w)), report.warnings.join("; "));
});
