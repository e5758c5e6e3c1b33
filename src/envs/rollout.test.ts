import { test } from "node:test";
import assert from "node:assert/strict";
import { EnvError } from "./errors.js";
import type { Policy } from "./policy.js";
import { heuristicController, makeEnv } from "./registry.js";
import { meanInterval, rollout, tQuantile975 } from "./rollout.js";

test("t quantiles and the mean interval match tables and hand arithmetic", () => {
  assert.equal(tQuantile975(1), 12.706);
  assert.equal(tQuantile975(30), 2.042);
  // Published two-sided 95% values: df 40 -> 2.021, df 120 -> 1.980.
  assert.ok(Math.abs(tQuantile975(40) - 2.021) < 1e-3);
  assert.ok(Math.abs(tQuantile975(120) - 1.98) < 1e-3);
  // [1, 2, 3, 4]: mean 2.5, sample std sqrt(5/3), half-width 3.182 * sqrt(5/3) / 2.
  const interval = meanInterval([1, 2, 3, 4]);
  const half = (3.182 * Math.sqrt(5 / 3)) / 2;
  assert.equal(interval.mean, 2.5);
  assert.ok(Math.abs(interval.ci95[0] - (2.5 - half)) < 1e-12 && Math.abs(interval.ci95[1] - (2.5 + half)) < 1e-12);
  assert.deepEqual(meanInterval([7]).ci95, [7, 7]);
});

test("rollout takes synchronous and asynchronous policies alike and resets them per episode", async () => {
  const env = makeEnv("MountainCar-v0");
  const controller = heuristicController("MountainCar-v0");
  const resets: number[] = [];
  const asyncPolicy: Policy = {
    act: (obs) => Promise.resolve(controller.act(obs)),
    reset: (seed) => resets.push(seed),
  };
  const direct = await rollout(env, controller, { episodes: 4, seed: 3 });
  const viaPromise = await rollout(env, asyncPolicy, { episodes: 4, seed: 3 });
  assert.deepEqual(viaPromise.returns, direct.returns);
  assert.equal(resets.length, 4);
  assert.equal(new Set(resets).size, 4);
  // MountainCar pays -1 a step, so each return is minus the episode length.
  assert.deepEqual(direct.returns, direct.lengths.map((n) => -n));
  assert.ok(direct.lengths.every((n) => n < 200), "the heuristic reaches the goal before the time limit");
});

test("the discounted return is sum gamma^t r_t", async () => {
  // The heuristic balances CartPole for all 500 steps at +1 each: (1 - gamma^500) / (1 - gamma).
  const result = await rollout(makeEnv("CartPole-v1"), heuristicController("CartPole-v1"), { episodes: 2, seed: 1, gamma: 0.95 });
  assert.deepEqual(result.lengths, [500, 500]);
  assert.ok(Math.abs(result.discounted!.mean - (1 - 0.95 ** 500) / 0.05) < 1e-9);
  assert.equal(result.discounted!.gamma, 0.95);
  await assert.rejects(rollout(makeEnv("CartPole-v1"), heuristicController("CartPole-v1"), { episodes: 1, seed: 1, gamma: 1.5 }), (e: unknown) => e instanceof EnvError && e.code === "invalid_gamma");
  await assert.rejects(rollout(makeEnv("CartPole-v1"), heuristicController("CartPole-v1"), { episodes: 0, seed: 1 }), (e: unknown) => e instanceof EnvError && e.code === "invalid_episodes");
});
