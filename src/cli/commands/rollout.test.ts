// `hindcast rollout` with a real policy artifact: a small behaviour-cloning policy trained on simulated CartPole logs,
// saved to disk, then run by the CLI and checked against a plain reset/act/step loop written here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAlgorithm } from "../../algos/registry.js";
import { makeEnv } from "../../envs/registry.js";
import { deriveSeed } from "../../random/index.js";
import { simulateDataset } from "../../envs/simulate.js";
import { loadPolicy } from "../../policy/runtime.js";

function hindcast(...args: string[]) {
  const result = spawnSync(process.execPath, ["bin/hindcast.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, HINDCAST_FROM_SOURCE: "1" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("hindcast rollout runs a trained policy artifact: returns match a hand-written episode loop; mismatched env and bad paths are coded errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-rollout-cli-"));
  try {
    const logs = simulateDataset({ env: "CartPole-v1", behavior: "eps-greedy(heuristic, 0.2)", episodes: 4, seed: 11, maxEpisodeSteps: 200 });
    const algorithm = createAlgorithm("discrete_bc", { assignments: ["hiddenSizes=[32,32]", "batchSize=64"] });
    await algorithm.fit(logs.transitions, { steps: 300, seed: 3 });
    const artifact = join(dir, "policy");
    await algorithm.save(artifact);
    await algorithm.releasePolicy();

    const episodes = 3;
    const seed = 5;
    const run = hindcast("rollout", "--policy", artifact, "--env", "CartPole-v1", "--episodes", String(episodes), "--seed", String(seed), "--json");
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { policy: string; returns: number[]; lengths: number[]; meanReturn: number; ci95: [number, number] };
    assert.match(result.policy, /discrete_bc/);

    // Reference: episode e starts from reset(deriveSeed(seed, 2e)) (the documented per-episode seed) and acts greedily.
    const policy = await loadPolicy(artifact, { exploration: { kind: "greedy" } });
    const env = makeEnv("CartPole-v1");
    const returns: number[] = [];
    const lengths: number[] = [];
    try {
      for (let e = 0; e < episodes; e++) {
        let observation = env.reset(deriveSeed(seed, 2 * e));
        let total = 0;
        let steps = 0;
        for (;;) {
          const step = env.step((await policy.act(observation)) as number);
          total += step.reward;
          steps++;
          observation = step.observation;
          if (step.terminated || step.truncated) break;
        }
        returns.push(total);
        lengths.push(steps);
      }
    } finally {
      await policy.close();
    }
    assert.deepEqual(result.returns, returns);
    assert.deepEqual(result.lengths, lengths);
    const mean = returns.reduce((a, b) => a + b, 0) / episodes;
    assert.ok(Math.abs(result.meanReturn - mean) < 1e-9);
    assert.ok(result.ci95[0] <= mean && mean <= result.ci95[1]);

    // The cloned controller is far better than chance (uniform random CartPole lasts ~20 steps).
    const uniform = JSON.parse(hindcast("rollout", "--policy", "uniform", "--env", "CartPole-v1", "--episodes", "10", "--seed", String(seed), "--json").stdout) as { meanReturn: number };
    assert.ok(mean > 2 * uniform.meanReturn, `cloned policy ${mean} vs uniform ${uniform.meanReturn}`);

    const mismatch = hindcast("rollout", "--policy", artifact, "--env", "autoscaling", "--episodes", "1", "--seed", "1");
    assert.equal(mismatch.status, 1);
    assert.match(mismatch.stderr, /policy_env_mismatch/);
    const missing = hindcast("rollout", "--policy", join(dir, "no-such-policy"), "--env", "CartPole-v1", "--episodes", "1", "--seed", "1");
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /policy_not_found: .*no such policy artifact directory/);
    writeFileSync(join(dir, "manifest.json"), "{}");
    const file = hindcast("rollout", "--policy", join(dir, "manifest.json"), "--env", "CartPole-v1", "--episodes", "1", "--seed", "1");
    assert.equal(file.status, 1);
    assert.match(file.stderr, /policy_not_found: .*is a file; give the policy artifact directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hindcast rollout runs a continuous artifact on its env and refuses one scaled to other action bounds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-rollout-box-"));
  try {
    const logs = simulateDataset({ env: "Pendulum-v1", behavior: "gaussian(heuristic, 0.5)", episodes: 2, seed: 3, maxEpisodeSteps: 50 });
    const fitSave = async (transitions: typeof logs.transitions, target: string) => {
      const algorithm = createAlgorithm("bc", { assignments: ["hiddenSizes=[16]", "batchSize=32"] });
      await algorithm.fit(transitions, { steps: 20, seed: 1 });
      await algorithm.save(target);
      await algorithm.releasePolicy();
    };
    await fitSave(logs.transitions, join(dir, "same-box"));
    // the same logs declared with a [-1, 1] torque box (actions clipped into it): a policy for another actuator
    const narrow = { ...logs.transitions, actionSpace: { kind: "continuous" as const, low: [-1], high: [1] }, actions: (logs.transitions.actions as Float32Array).map((a) => Math.max(-1, Math.min(1, a))) };
    await fitSave(narrow, join(dir, "narrow-box"));

    const ok = hindcast("rollout", "--policy", join(dir, "same-box"), "--env", "Pendulum-v1", "--episodes", "2", "--seed", "1", "--max-steps", "30", "--json");
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).lengths, [30, 30]);
    const refused = hindcast("rollout", "--policy", join(dir, "narrow-box"), "--env", "Pendulum-v1", "--episodes", "1", "--seed", "1");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /policy_env_mismatch/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hindcast rollout with one episode prints no interval rather than a zero-width one", () => {
  const one = hindcast("rollout", "--policy", "heuristic", "--env", "CartPole-v1", "--episodes", "1", "--seed", "1", "--max-steps", "20");
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /mean return 20\.000  95% CI n\/a \(one episode\)\n/);
  const two = hindcast("rollout", "--policy", "heuristic", "--env", "CartPole-v1", "--episodes", "2", "--seed", "1", "--max-steps", "20");
  assert.match(two.stdout, /mean return 20\.000  95% CI \[20\.000, 20\.000\]  std 0\.000/);
});
