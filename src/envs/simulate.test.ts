import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSchema } from "../data/schema.js";
import { loggedActionLikelihoods, parseBehavior } from "./behavior.js";
import { heuristicController, makeEnv } from "./registry.js";
import { rollout } from "./rollout.js";
import { datasetColumns, simulateDataset, writeSimulatedDataset } from "./simulate.js";

test("simulated transitions are consistent: episodes, steps, next observations, returns", () => {
  const dataset = simulateDataset({ env: "cartpole", behavior: "eps-greedy(heuristic, 0.3)", episodes: 4, seed: 2, maxEpisodeSteps: 60 });
  const t = dataset.transitions;
  assert.equal(t.episodeStarts.length, 5);
  assert.equal(t.episodeStarts[4], t.size);
  for (let e = 0; e < 4; e++) {
    const start = t.episodeStarts[e]!, end = t.episodeStarts[e + 1]!;
    let total = 0;
    for (let i = start; i < end; i++) {
      assert.equal(t.steps[i], i - start);
      total += dataset.rewards[i]!;
      if (i + 1 < end) {
        for (let k = 0; k < t.observationDim; k++) assert.equal(t.nextObservations[i * 4 + k], t.observations[(i + 1) * 4 + k]);
        assert.equal(t.terminals[i]! + t.truncations[i]!, 0);
      } else {
        assert.equal(t.terminals[i]! + t.truncations[i]!, 1, "the last row ends the episode");
      }
      assert.ok(t.behaviorProb![i]! === 0.85 || t.behaviorProb![i]! === 0.15);
    }
    assert.equal(total, dataset.returns[e]);
  }
});

test("simulateDataset and rollout see the same episodes for the same seed", async () => {
  const spec = "mixture(0.7*softmax(heuristic, 0.5), 0.3*uniform)";
  const dataset = simulateDataset({ env: "serverless-prewarm", behavior: spec, episodes: 3, seed: 17 });
  const env = makeEnv("serverless-prewarm");
  const online = await rollout(env, parseBehavior(spec, env, heuristicController(env.name)), { episodes: 3, seed: 17 });
  assert.deepEqual(online.returns, dataset.returns);
});

test("dataset files are byte-for-byte reproducible and come with a valid schema", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-envs-"));
  try {
    for (const [env, behavior, format] of [
      ["autoscaling", "eps-greedy(heuristic, 0.2)", "csv"],
      ["pendulum", "mixture(0.8*gaussian(heuristic, 0.3), 0.2*uniform)", "parquet"],
      ["alert-suppression", "softmax(heuristic, 1)", "jsonl"],
    ] as const) {
      const paths: string[] = [];
      for (const [run, seed] of [[0, 5], [1, 5], [2, 6]] as const) {
        const dataset = simulateDataset({ env, behavior, episodes: 2, seed, maxEpisodeSteps: 50 });
        const path = join(dir, `${env}-${run}.${format}`);
        const { schemaPath } = await writeSimulatedDataset(dataset, path);
        paths.push(path);
        const schema = parseSchema(JSON.parse(readFileSync(schemaPath, "utf8")), schemaPath);
        const columns = datasetColumns(dataset);
        for (const name of [schema.episode, schema.step, schema.reward.column, schema.behaviorProb!.column, ...(schema.metadata ?? [])]) {
          assert.ok(name in columns, `${env}: schema column ${name} is written`);
        }
        const observed = schema.observations as string[];
        assert.deepEqual(observed, makeEnv(env).observationSpace.names);
        for (const reward of dataset.rewards) assert.ok(reward >= schema.reward.min && reward <= schema.reward.max, `${env}: reward ${reward}`);
      }
      assert.ok(readFileSync(paths[0]!).equals(readFileSync(paths[1]!)), `${env} ${format}: same seed, same bytes`);
      assert.ok(!readFileSync(paths[0]!).equals(readFileSync(paths[2]!)), `${env} ${format}: another seed, other bytes`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("re-scoring logged actions with the behaviour policy reproduces the logged propensities", () => {
  for (const [env, spec] of [
    ["alert-suppression", "mixture(0.6*softmax(heuristic, 0.7), 0.4*uniform)"],
    ["autoscaling-target", "eps-greedy(gaussian(heuristic, 1.5), 0.2)"],
  ] as const) {
    const dataset = simulateDataset({ env, behavior: spec, episodes: 2, seed: 12, maxEpisodeSteps: 80 });
    const instance = makeEnv(env);
    const likelihoods = loggedActionLikelihoods(parseBehavior(spec, instance, heuristicController(env)), dataset.transitions);
    assert.deepEqual(likelihoods, dataset.transitions.behaviorProb, env);
  }
  const dataset = simulateDataset({ env: "cartpole", behavior: "uniform", episodes: 1, seed: 1, maxEpisodeSteps: 5 });
  assert.throws(() => loggedActionLikelihoods(parseBehavior("uniform", makeEnv("acrobot"), heuristicController("acrobot")), dataset.transitions), /does not act/);
  assert.throws(() => simulateDataset({ env: "pendulum", behavior: parseBehavior("uniform", makeEnv("acrobot"), heuristicController("acrobot")), episodes: 1, seed: 1 }), /does not act/);
});
