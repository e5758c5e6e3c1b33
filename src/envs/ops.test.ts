import { test } from "node:test";
import assert from "node:assert/strict";
import { AlertSuppression } from "./alert-suppression.js";
import { Autoscaling, latencyP95 } from "./autoscaling.js";
import { parseBehavior } from "./behavior.js";
import { heuristicController, makeEnv } from "./registry.js";
import { Rng } from "../random/index.js";
import { rollout } from "./rollout.js";
import { ServerlessPrewarm } from "./serverless.js";

const OPS_ENVS = ["autoscaling", "autoscaling-target", "serverless-prewarm", "alert-suppression"];

test("the heuristic controller beats the uniform-random policy by a clear margin in each ops simulator", async () => {
  for (const name of OPS_ENVS) {
    const env = makeEnv(name);
    const heuristic = await rollout(env, heuristicController(name), { episodes: 8, seed: 21 });
    const random = await rollout(env, parseBehavior("uniform", env, heuristicController(name)), { episodes: 8, seed: 21 });
    assert.ok(heuristic.ci95[0] > random.ci95[1], `${name}: heuristic ${heuristic.meanReturn} vs random ${random.meanReturn}`);
    assert.ok(heuristic.meanReturn - random.meanReturn > 0.3 * Math.abs(random.meanReturn), `${name}: margin too small`);
  }
});

test("episodes are deterministic given the seed and the actions", () => {
  for (const name of OPS_ENVS) {
    const run = (seed: number) => {
      const env = makeEnv(name);
      const rng = new Rng(4);
      const trace: number[] = [...env.reset(seed)];
      for (let t = 0; t < 50; t++) {
        const space = env.actionSpace;
        const result = env.step(space.kind === "discrete" ? rng.int(space.n) : [rng.uniformRange(space.low[0]!, space.high[0]!)]);
        trace.push(result.reward, ...result.observation, ...Object.values(result.info));
      }
      return trace;
    };
    assert.deepEqual(run(8), run(8), name);
    assert.notDeepEqual(run(8), run(9), name);
  }
});

test("autoscaling: replicas serve two steps after the request; cost and SLO penalty make the reward", () => {
  const env = new Autoscaling();
  let obs = env.reset(3);
  const ready = obs[2]!;
  let result = env.step(2); // request 2 replicas
  assert.equal(result.observation[2], ready);
  assert.equal(result.observation[3], 2);
  result = env.step(1);
  assert.equal(result.observation[2], ready, "still starting after one step");
  assert.equal(result.observation[3], 2);
  result = env.step(1);
  assert.equal(result.observation[2], ready + 2, "serving after two steps");
  assert.equal(result.observation[3], 0);
  const replicas = ready + 2;
  assert.equal(result.info.replicas, replicas);
  const utilisation = result.info.requests! / (replicas * 100);
  const latency = Math.min(40 / Math.max(1 - utilisation, 0.04), 1000);
  assert.ok(Math.abs(result.info.latency_ms! - latency) < 1e-9);
  assert.equal(result.info.slo_breach, latency > 250 ? 1 : 0);
  assert.ok(Math.abs(result.reward - (-0.02 * replicas - (latency > 250 ? 1 : 0))) < 1e-12);
  // Scaling down cancels a pending start-up before stopping a ready replica.
  env.step(2);
  result = env.step(0);
  assert.equal(result.observation[2], replicas);
  assert.equal(result.observation[3], 1);
  assert.equal(latencyP95(0.5), 80);
  assert.equal(latencyP95(2), 1000);
  // A day is 288 five-minute steps, ending in truncation, not termination.
  obs = env.reset(4);
  let steps = 0;
  for (;;) {
    result = env.step(1);
    steps++;
    assert.equal(result.terminated, false);
    if (result.truncated) break;
  }
  assert.equal(steps, 288);
});

test("autoscaling-target: a target count starts or stops replicas in one go", () => {
  const env = makeEnv("autoscaling-target");
  assert.deepEqual(env.actionSpace, { kind: "continuous", low: [1], high: [40] });
  const ready = env.reset(3)[2]!;
  let result = env.step([ready + 4.4]); // rounds to ready + 4
  assert.equal(result.observation[2], ready);
  assert.equal(result.observation[3], 4);
  result = env.step([ready + 1]); // cancels three of the four start-ups
  assert.equal(result.observation[3], 1);
  result = env.step([ready + 1]);
  assert.equal(result.observation[2], ready + 1, "the remaining start-up serves two steps after its request");
  result = env.step([-5]); // clipped to 1 replica
  assert.equal(result.observation[2], 1);
  assert.equal(result.info.replicas, 1);
});

test("serverless: pools grow a minute late, shrink at once; reward = -cold starts - 0.15 idle", () => {
  const env = new ServerlessPrewarm();
  env.reset(2);
  let result = env.step(4); // pool level 4 (4 instances)
  assert.equal(result.observation[3], 0, "nothing warm yet");
  assert.equal(result.observation[4], 4, "four provisioning");
  assert.equal(result.info.cold_start_count, result.info.invocation_count);
  assert.equal(result.info.idle_instances, 4);
  result = env.step(4);
  assert.equal(result.observation[3], 4);
  assert.equal(result.observation[4], 0);
  const served = Math.min(result.info.invocation_count!, 4);
  assert.equal(result.info.cold_start_count, result.info.invocation_count! - served);
  assert.equal(result.info.idle_instances, 4 - served);
  assert.ok(Math.abs(result.reward - (-result.info.cold_start_count! - 0.15 * result.info.idle_instances!)) < 1e-12);
  result = env.step(0);
  assert.equal(result.observation[3], 0, "shrinking is immediate");
  assert.equal(result.info.cold_start_count, result.info.invocation_count);
});

test("alert suppression: rewards are sparse and delayed, and add up to outages and toil", async () => {
  const env = new AlertSuppression();
  const rng = new Rng(6);
  let nonZero = 0, steps = 0;
  for (let episode = 0; episode < 10; episode++) {
    env.reset(episode);
    let total = 0, outages = 0, toil = 0;
    for (;;) {
      const result = env.step(rng.int(2));
      steps++;
      total += result.reward;
      outages += result.info.outages!;
      toil += result.info.toil_page!;
      if (result.reward !== 0) nonZero++;
      if (result.terminated) {
        assert.equal(steps % 100, 0, "a shift is 100 alerts");
        break;
      }
      // Outages land 3..15 alerts after the decision, so the first three steps carry no reward.
      if (steps % 100 <= 3) assert.equal(result.reward, 0);
    }
    assert.ok(Math.abs(total - (-10 * outages - 0.3 * toil)) < 1e-9);
  }
  assert.ok(nonZero / steps < 0.15, `non-zero reward fraction ${nonZero / steps}`);
  const figures = (await rollout(env, heuristicController("alert-suppression"), { episodes: 4, seed: 1 })).figures;
  assert.ok(figures.page_precision!.mean > 0.5);
});
