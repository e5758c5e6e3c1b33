import { test } from "node:test";
import assert from "node:assert/strict";
import type { Transitions } from "../data/transitions.js";
import { evaluatePolicy, type TargetPolicy } from "./evaluate.js";
import { refitBootstrap, resampleEpisodes } from "./refit.js";

/** Episodes of given lengths; reward of row i is i, observation i*10, continuous 2-d action (i, -i). */
function logs(lengths: number[], rewards?: number[]): Transitions {
  const size = lengths.reduce((a, b) => a + b, 0);
  const episodeStarts = new Int32Array(lengths.length + 1);
  lengths.forEach((n, e) => (episodeStarts[e + 1] = episodeStarts[e]! + n));
  return {
    size,
    observationDim: 1,
    featureNames: ["x"],
    actionSpace: { kind: "continuous", low: [-10, -10], high: [10, 10] },
    observations: Float32Array.from({ length: size }, (_, i) => i * 10),
    nextObservations: Float32Array.from({ length: size }, (_, i) => i * 10 + 5),
    actions: Float32Array.from({ length: size * 2 }, (_, k) => (k % 2 === 0 ? 1 : -1) * Math.floor(k / 2) + 0),
    rewards: Float32Array.from(rewards ?? Array.from({ length: size }, (_, i) => i)),
    terminals: Uint8Array.from({ length: size }, (_, i) => (episodeStarts.includes(i + 1) ? 1 : 0)),
    truncations: new Uint8Array(size),
    behaviorProb: Float64Array.from({ length: size }, (_, i) => -i),
    episodeStarts,
    steps: Int32Array.from({ length: size }, (_, i) => i - episodeStarts[[...episodeStarts].findLastIndex((s) => s <= i)]!),
  };
}

test("resampleEpisodes copies the drawn episodes in draw order, with repeats, every per-row column aligned", () => {
  const t = logs([2, 1, 3]); // episode 0: rows 0-1, episode 1: row 2, episode 2: rows 3-5
  const { transitions: r, rows } = resampleEpisodes(t, Int32Array.from([2, 0, 2]));
  assert.deepEqual(Array.from(rows), [3, 4, 5, 0, 1, 3, 4, 5]);
  assert.deepEqual(Array.from(r.episodeStarts), [0, 3, 5, 8]);
  assert.equal(r.size, 8);
  assert.deepEqual(Array.from(r.rewards), [3, 4, 5, 0, 1, 3, 4, 5]);
  assert.deepEqual(Array.from(r.observations), [30, 40, 50, 0, 10, 30, 40, 50]);
  assert.deepEqual(Array.from(r.nextObservations), [35, 45, 55, 5, 15, 35, 45, 55]);
  assert.deepEqual(Array.from(r.actions), [3, -3, 4, -4, 5, -5, 0, 0, 1, -1, 3, -3, 4, -4, 5, -5]);
  assert.deepEqual(Array.from(r.behaviorProb!), [-3, -4, -5, -0, -1, -3, -4, -5]);
  assert.deepEqual(Array.from(r.terminals), [0, 0, 1, 0, 1, 0, 0, 1]);
  assert.deepEqual(Array.from(r.steps), [0, 1, 2, 0, 1, 0, 1, 2]);
  assert.throws(() => resampleEpisodes(t, Int32Array.from([3])), /episode 3 does not exist/);
});

test("model-refit bootstrap: each resample refits the model, so the interval carries the model's variance", async () => {
  // Two one-step episodes with rewards 0 and 1. The model is "V-hat = mean reward of the data it was fitted on",
  // so DM on a resample equals that resample's mean reward: 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4.
  // A 95% percentile interval over 400 resamples is therefore [0, 1] (each end holds ~25% of the replicates),
  // while the fixed-model interval is the single point 0.5 (the model fitted once on both episodes).
  const t = logs([1, 1], [0, 1]);
  let fits = 0;
  const fitModel = async (data: Transitions) => {
    fits++;
    const mean = data.rewards.reduce((a, b) => a + b, 0) / data.size;
    return { qHat: new Float64Array(data.size).fill(mean), vHat: new Float64Array(data.size).fill(mean), label: "mean-reward model" };
  };
  const policy: TargetPolicy = {};
  const common = { transitions: t, policy, targetProb: Float64Array.from([0, -1]), estimators: ["dm" as const, "dr" as const], gamma: 1, fitModel };
  const fixed = await evaluatePolicy({ ...common, bootstrap: { resamples: 400, seed: 3 } });
  assert.equal(fits, 1);
  const dmFixed = fixed.estimates.find((e) => e.estimator === "dm")!;
  assert.equal(dmFixed.value, 0.5);
  assert.deepEqual([dmFixed.interval!.lower, dmFixed.interval!.upper], [0.5, 0.5]);
  assert.ok(fixed.estimates.find((e) => e.estimator === "dr")!.diagnostics.warnings.some((w) => /too narrow/.test(w)));

  fits = 0;
  const refit = await evaluatePolicy({ ...common, bootstrap: { resamples: 400, seed: 3, refitModel: 400 } });
  assert.equal(fits, 1 + 400);
  const dm = refit.estimates.find((e) => e.estimator === "dm")!;
  assert.equal(dm.value, 0.5);
  assert.deepEqual([dm.interval!.lower, dm.interval!.upper], [0, 1]);
  assert.match(dm.interval!.method, /model refitted on each resample/);
  assert.ok(dm.diagnostics.warnings.some((w) => /refits the model on each resample/.test(w)));
  assert.ok(refit.estimates.find((e) => e.estimator === "dr")!.interval!.method.includes("refitted"));
  // Same seed, same interval.
  const again = await evaluatePolicy({ ...common, bootstrap: { resamples: 400, seed: 3, refitModel: 400 } });
  assert.deepEqual(again.estimates.map((e) => e.interval), refit.estimates.map((e) => e.interval));
});

test("model-refit bootstrap of a dataset without episodes is a coded error, and nothing is refitted", async () => {
  let refits = 0;
  await assert.rejects(
    refitBootstrap(logs([]), ["dm"], async () => (refits++, new Map()), { resamples: 10, seed: 1 }),
    (error: unknown) => (error as { code?: string }).code === "no_episodes",
  );
  assert.equal(refits, 0);
});
