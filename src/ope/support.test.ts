import { test } from "node:test";
import assert from "node:assert/strict";
import type { Transitions } from "../data/transitions.js";
import { evaluatePolicy, lowSupportMass, type TargetPolicy } from "./evaluate.js";
import { fitFqe, valueRange } from "./fqe.js";
import { formatSelection } from "./report.js";
import { Rng } from "../random/index.js";
import { selectPolicies } from "./select.js";

test("valueRange: infinite and finite horizon bounds worked out by hand", () => {
  // r in [-1, 2], gamma 0.5: 1 / (1 - 0.5) = 2 -> [-2, 4].
  const near = (got: { min: number; max: number } | null, min: number, max: number) =>
    assert.ok(got && Math.abs(got.min - min) < 1e-12 && Math.abs(got.max - max) < 1e-12, JSON.stringify(got));
  near(valueRange(-1, 2, 0.5), -2, 4);
  // Horizon 3: 1 + 0.5 + 0.25 = 1.75 -> [-1.75, 3.5].
  near(valueRange(-1, 2, 0.5, 3), -1.75, 3.5);
  // gamma 1 needs a horizon: 4 steps -> [-4, 8]; without one there is no bound.
  near(valueRange(-1, 2, 1, 4), -4, 8);
  assert.equal(valueRange(-1, 2, 1), null);
  // Positive rewards: an episode may stop after one step, so the least value is one reward (0.5), not 0.5 * 2.
  near(valueRange(0.5, 1, 0.5), 0.5, 2);
});

/*
 * A chain FQE cannot fit without leaving the data: states x in [0.5, 1], next state 3x (never seen as a state),
 * never terminal, reward 1 every step, one action taken. The true value is 1 / (1 - 0.9) = 10 everywhere. A network
 * extrapolates Q(3x) from Q(x); with 0.9 * 3 > 1 the bootstrapped targets feed on themselves and FQE runs away.
 */
function runawayChain(size: number): Transitions {
  const random = new Rng(5);
  const observations = Float32Array.from({ length: size }, () => 0.5 + 0.5 * random.uniform());
  return {
    size,
    observationDim: 1,
    featureNames: ["x"],
    actionSpace: { kind: "discrete", n: 2 },
    observations,
    nextObservations: Float32Array.from(observations, (x) => 3 * x),
    actions: new Int32Array(size),
    rewards: new Float32Array(size).fill(1),
    terminals: new Uint8Array(size),
    truncations: new Uint8Array(size),
    behaviorProb: new Float64Array(size).fill(0.9),
    episodeStarts: Int32Array.from({ length: size + 1 }, (_, i) => i),
    steps: new Int32Array(size),
  };
}

const alwaysAction0: TargetPolicy = {
  async actionProbabilitiesBatch(observations) {
    const out = new Float64Array(observations.length * 2);
    for (let i = 0; i < observations.length; i++) out[2 * i] = 1;
    return out;
  },
};

const fqeSettings = { steps: 400, batchSize: 64, learningRate: 3e-3, hidden: [32], seed: 1 };

test("unclipped FQE runs away on the chain; clipped FQE stays in [r_min, r_max] / (1 - gamma) and says so", async () => {
  const transitions = runawayChain(300);
  const outside = (values: Float64Array) => values.filter((v) => v < 1 - 1e-9 || v > 10 + 1e-9).length / values.length;
  const unclipped = await fitFqe(transitions, alwaysAction0, { ...fqeSettings, gamma: 0.9, clipValues: false });
  assert.ok(outside(unclipped.vHat) > 0.5, `unclipped FQE should leave [1, 10]: ${unclipped.vHat.slice(0, 3).join(", ")}`);
  assert.equal(unclipped.valueBounds, null);

  const clipped = await fitFqe(transitions, alwaysAction0, { ...fqeSettings, gamma: 0.9 });
  assert.equal(outside(clipped.vHat), 0);
  assert.equal(clipped.valueBounds?.rewardSource, "observed");
  assert.ok(Math.abs(clipped.valueBounds!.min - 1) < 1e-9 && Math.abs(clipped.valueBounds!.max - 10) < 1e-9, JSON.stringify(clipped.valueBounds));
  // Every target 1 + 0.9 * Q(3x) overshoots: the bound is hit, and the value sits at the true 10.
  assert.ok(clipped.clippedTargetFraction > 0.5, String(clipped.clippedTargetFraction));
  for (const v of clipped.vHat) assert.ok(Math.abs(v - 10) < 0.5, String(v));
  assert.match(clipped.label, /values clipped to \[1\.000, 10\.00\] from the observed reward range/);
});

test("evaluatePolicy takes the declared reward range from the manifest and warns on every model-based estimate", async () => {
  const transitions = Object.assign(runawayChain(300), { manifest: { schema: { reward: { column: "r", min: 0, max: 2 } } } });
  const report = await evaluatePolicy({ transitions, policy: alwaysAction0, estimators: ["fqe", "wdr", "wis"], gamma: 0.9, fqe: fqeSettings });
  assert.match(report.model ?? "", /values clipped to \[0\.000, 20\.00\] from the declared reward range/);
  const [fqe, wdr, wis] = report.estimates;
  for (const estimate of [fqe, wdr]) {
    assert.ok(estimate.value >= 0 && estimate.value <= 20, `${estimate.estimator} ${estimate.value}`);
    assert.ok((estimate.diagnostics.modelClippedTargetFraction ?? 0) > 0.01);
    assert.equal(estimate.diagnostics.offSupport, true);
    assert.ok(estimate.diagnostics.warnings.some((w) => /hit the value bound/.test(w)), estimate.diagnostics.warnings.join("; "));
  }
  // WIS uses no model: no model warning, no clip fraction.
  assert.equal(wis.diagnostics.modelClippedTargetFraction, null);
  assert.equal(wis.diagnostics.offSupport, false);
});

test("lowSupportMass: target mass on rarely logged actions, by hand", () => {
  // Rows with behaviour propensity below 0.05: 0.02 (target 0.5) and 0.04 (target 0.2): (0.5 / 0.02 + 0.2 / 0.04) / 4.
  const behavior = Float64Array.from([0.5, 0.02, 0.04, 0.9]);
  const target = Float64Array.from([1, 0.5, 0.2, 0]);
  assert.ok(Math.abs(lowSupportMass(behavior, target, 0.05) - (25 + 5) / 4) < 1e-12);
  assert.equal(lowSupportMass(behavior, target, 0.01), 0);
});

/*
 * One-step episodes, three actions, reward 0 for action 0 and 1 for actions 1 and 2; behaviour takes them with
 * probabilities 0.78, 0.2, 0.02 (logged mean return about 0.22). "rare" always takes action 2, which the logs take 2%
 * of the time; "ok" takes action 1 with probability 0.8 (true value 0.8); "zero" always takes action 0 (value 0).
 */
function threeArmLogs(episodes: number): Transitions {
  const random = new Rng(11);
  const behavior = [0.78, 0.2, 0.02];
  const actions = Int32Array.from({ length: episodes }, () => {
    const u = random.uniform();
    return u < behavior[0] ? 0 : u < behavior[0] + behavior[1] ? 1 : 2;
  });
  return {
    size: episodes,
    observationDim: 1,
    featureNames: ["x"],
    actionSpace: { kind: "discrete", n: 3 },
    observations: new Float32Array(episodes),
    nextObservations: new Float32Array(episodes),
    actions,
    rewards: Float32Array.from(actions, (a) => (a === 0 ? 0 : 1)),
    terminals: new Uint8Array(episodes).fill(1),
    truncations: new Uint8Array(episodes),
    behaviorProb: Float64Array.from(actions, (a) => behavior[a]),
    episodeStarts: Int32Array.from({ length: episodes + 1 }, (_, i) => i),
    steps: new Int32Array(episodes),
  };
}

test("select passes over a candidate whose estimate rests on rarely logged actions, and says so", async () => {
  const transitions = threeArmLogs(3000);
  const column = (probabilities: number[]) => Float64Array.from(transitions.actions as Int32Array, (a) => probabilities[a]);
  const rare = { name: "rare", targetProb: column([0, 0, 1]) };
  const ok = { name: "ok", targetProb: column([0.2, 0.8, 0]) };
  const zero = { name: "zero", targetProb: column([1, 0, 0]) };
  const result = await selectPolicies({ transitions, candidates: [rare, ok, zero], by: "value", baseline: "behavior", gamma: 1, estimator: "wis" });
  assert.deepEqual(result.ranking.map((r) => r.name), ["rare", "ok", "zero"]);
  assert.deepEqual(result.ranking.map((r) => r.offSupport), [true, false, false]);
  assert.equal(result.ranking[0].beatsBaseline, true);
  assert.equal(result.chosen, "ok");
  assert.match(result.statement, /^ok beats the logging policy.*passed over.*: rare$/);
  // "rare" puts all its mass on action 2 (logged with probability 0.02): the estimated share is (count of action 2 /
  // episodes) / 0.02, about 100% but sampled (3,000 episodes: about 60 +- 8 logged action-2 steps).
  const mass = result.ranking[0].warnings
    .map((w) => /about (\d+)% of its mass on actions the logging policy takes with probability below 0\.05/.exec(w))
    .find((m) => m !== null);
  assert.ok(mass, `no low-support warning in ${JSON.stringify(result.ranking[0].warnings)}`);
  assert.ok(Number(mass[1]) >= 70 && Number(mass[1]) <= 100, `low-support mass ${mass[1]}%`);
  assert.match(formatSelection(result), /yes \(off-support, not trusted\)/);

  const only = await selectPolicies({ transitions, candidates: [rare, zero], by: "value", baseline: "behavior", gamma: 1, estimator: "wis" });
  assert.equal(only.chosen, null);
  assert.match(only.statement, /no candidate beats the logging policy on a trustworthy estimate.*\(rare\) lean on actions the logs \(almost\) never show/);
});
