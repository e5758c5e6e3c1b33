import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../nn/index.js";
import { loadPolicy } from "../policy/runtime.js";
import { allocateBatch, fitPreprocessing, gatherBatch, prepareTrainingView } from "./preprocessing.js";
import { algorithmDefinition, createAlgorithm } from "./registry.js";
import { resolveConfig, readConfigFile } from "./config.js";
import { AlgoError } from "./errors.js";
import { bestLinearAction, linearContinuous, twoActionBandit } from "./toy-data.js";
import type { ProgressEvent } from "./trainer.js";

const SMALL = ["hiddenSizes=[32,32]", "batchSize=32"];

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "hindcast-algos-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fits and returns the per-window losses reported through onProgress. */
async function lossCurve(name: string, data: ReturnType<typeof twoActionBandit>, steps: number, extra: string[] = []) {
  const algorithm = createAlgorithm(name, { assignments: [...SMALL, ...extra] });
  const windows: Array<Record<string, number>> = [];
  await algorithm.fit(data, { steps, seed: 3, logEvery: 25, onProgress: (e: ProgressEvent) => e.evaluation || windows.push(e.losses) });
  return { algorithm, windows };
}

test("discrete BC: cross-entropy falls and the clone reproduces the logged rule", async () => {
  const data = twoActionBandit(1024, 1);
  const { algorithm, windows } = await lossCurve("discrete_bc", data, 300, ["beta=0"]);
  assert.ok(windows.at(-1)!.bc_loss < 0.5 * windows[0].bc_loss, `bc_loss ${windows[0].bc_loss} -> ${windows.at(-1)!.bc_loss}`);
  const obs = Float32Array.from([0.6, 0.3, -0.6, 0.2, 0.9, -0.9, -0.4, -0.8]);
  assert.deepEqual(Array.from(await algorithm.predict(obs)), [1, 0, 1, 0]); // rule: x0 > 0 -> 1
  await algorithm.releasePolicy();
});

for (const name of ["dqn", "double_dqn", "discrete_cql", "discrete_bcq"]) {
  test(`${name}: TD loss decreases on the two-action bandit`, async () => {
    const { windows, algorithm } = await lossCurve(name, twoActionBandit(512, 2), 200, ["learningRate=1e-3"]);
    assert.ok(windows.at(-1)!.td_loss < 0.5 * windows[0].td_loss, `td_loss ${windows[0].td_loss} -> ${windows.at(-1)!.td_loss}`);
    await algorithm.releasePolicy();
  });
}

for (const [name, key, extra] of [
  ["bc", "loss", []],
  ["bc", "loss", ["policyType=gaussian"]],
  ["td3bc", "critic_loss", []],
  ["iql", "critic_loss", ["rewardScaling=none"]],
  ["awac", "critic_loss", []],
  ["cql", "critic_loss", ["nActionSamples=4"]],
] as const) {
  test(`${name} ${extra.join(" ")}: ${key} decreases on the continuous toy task`, async () => {
    const { windows, algorithm } = await lossCurve(name, linearContinuous(512, 4), 200, [...extra, ...(name === "bc" ? [] : ["criticLearningRate=1e-3"])]);
    const first = windows[0][key];
    const last = windows.at(-1)![key];
    assert.ok(last < first - 0.1 * Math.abs(first), `${key} ${first} -> ${last}`);
    await algorithm.releasePolicy();
  });
}

test("deterministic BC recovers the logged linear rule in action units", async () => {
  const { algorithm } = await lossCurve("bc", linearContinuous(1024, 5, 0), 400);
  const points = [[0.5, 0.2], [-0.3, 0.4], [0.1, -0.6]];
  const actions = (await algorithm.predict(Float32Array.from(points.flat()))) as Float32Array;
  points.forEach(([x0, x1], i) => assert.ok(Math.abs(actions[i] - bestLinearAction(x0, x1)) < 0.25, `row ${i}: ${actions[i]} vs ${bestLinearAction(x0, x1)}`));
  await algorithm.releasePolicy();
});

test("discrete CQL pushes down the value of an action the data never shows; DQN does not", async () => {
  const data = twoActionBandit(512, 6, 0); // only action 0 is logged; it earns 1 where x0 <= 0, else 0
  const states = [[0.5, 0.5], [-0.5, -0.5], [0.2, -0.7], [-0.9, 0.1]];
  const reward0 = states.map(([x0]) => (x0 > 0 ? 0 : 1));
  const qValues = async (name: string, extra: string[]) => {
    const algorithm = createAlgorithm(name, { assignments: [...SMALL, "learningRate=1e-3", ...extra] });
    await algorithm.fit(data, { steps: 300, seed: 7 });
    const q = await (await algorithm.policy()).forward(Float32Array.from(states.flat()));
    await algorithm.releasePolicy();
    return states.map((_, r) => ({ seen: q[2 * r], unseen: q[2 * r + 1] }));
  };
  const conservative = await qValues("discrete_cql", ["alpha=1"]);
  const plain = await qValues("double_dqn", []);
  // Both regress Q(s, 0) onto its one-step reward; only CQL's log-sum-exp term acts on the unseen action 1.
  plain.forEach((q, r) => assert.ok(Math.abs(q.seen - reward0[r]) < 0.25, `dqn Q(s${r}, 0) = ${q.seen}, reward ${reward0[r]}`));
  conservative.forEach((q, r) => assert.ok(q.unseen < q.seen - 1, `cql state ${r}: unseen ${q.unseen} vs seen ${q.seen}`));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const cqlUnseen = mean(conservative.map((q) => q.unseen));
  const dqnUnseen = mean(plain.map((q) => q.unseen));
  assert.ok(cqlUnseen < dqnUnseen - 1, `mean unseen Q: cql ${cqlUnseen} vs dqn ${dqnUnseen}`);
});

test("a gathered minibatch holds each row's standardised states, unit-box action, scaled reward and terminal flag", () => {
  for (const data of [linearContinuous(5000, 4), twoActionBandit(5000, 5)]) {
    const config = resolveConfig(algorithmDefinition(data.actionSpace.kind === "discrete" ? "dqn" : "td3bc").schema, { assignments: ["rewardScale=0.5", "rewardShift=1"] });
    const p = fitPreprocessing(data, config);
    const view = prepareTrainingView(data, p);
    const rows = Int32Array.from([4999, 0, 4097, 4095, 17, 17]);
    const batch = allocateBatch(view, rows.length);
    gatherBatch(view, rows, batch);
    const D = data.observationDim;
    const A = data.actionSpace.kind === "continuous" ? data.actionSpace.low.length : 1;
    const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-5 * (1 + Math.abs(want)), `${what}: ${got} vs ${want}`);
    rows.forEach((row, b) => {
      for (let j = 0; j < D; j++) {
        const { mean, std } = p.observationScaler;
        close(batch.observations[b * D + j]!, (data.observations[row * D + j]! - mean[j]!) / std[j]!, `obs[${b}][${j}]`);
        close(batch.nextObservations[b * D + j]!, (data.nextObservations[row * D + j]! - mean[j]!) / std[j]!, `next_obs[${b}][${j}]`);
      }
      for (let j = 0; j < A; j++) {
        const raw = data.actions[row * A + j]!;
        const space = data.actionSpace;
        const want = space.kind === "discrete" ? raw : Math.min(1, Math.max(-1, (2 * (raw - space.low[j]!)) / (space.high[j]! - space.low[j]!) - 1));
        close(batch.actions[b * A + j]!, want, `action[${b}][${j}]`);
      }
      close(batch.rewards[b]!, data.rewards[row]! * p.rewardScale + p.rewardShift, `reward[${b}]`);
      assert.equal(batch.terminals[b], data.terminals[row]);
    });
    assert.ok(batch.actions instanceof (data.actionSpace.kind === "discrete" ? Int32Array : Float32Array));
  }
});

test("target networks: Polyak averaging after the update, and hard copies on schedule", async () => {
  const data = twoActionBandit(64, 8);
  const context = { observationDim: 2, actionSpace: data.actionSpace, seed: 1, backend: "ort" as const, threads: 1, stepsPerCall: 1, totalSteps: 100 };
  const view = prepareTrainingView(data, fitPreprocessing(data, resolveConfig(algorithmDefinition("dqn").schema, { assignments: SMALL })));
  const batch = allocateBatch(view, 32);
  gatherBatch(view, Int32Array.from({ length: 32 }, (_, i) => i), batch);

  const tau = 0.25;
  const soft = await algorithmDefinition("dqn").build(resolveConfig(algorithmDefinition("dqn").schema, { assignments: [...SMALL, `tau=${tau}`] }), context);
  const online0 = soft.parameter("q.0.weight");
  const target0 = soft.parameter("q_target.0.weight");
  assert.deepEqual(target0, online0); // the target starts as a copy
  await soft.update(batch, [new Rng(1)], 1);
  const online1 = soft.parameter("q.0.weight");
  const target1 = soft.parameter("q_target.0.weight");
  assert.ok(online1.some((v, i) => v !== online0[i]), "the online network moved");
  target1.forEach((v, i) => assert.ok(Math.abs(v - ((1 - tau) * target0[i] + tau * online1[i])) < 1e-6, `polyak at ${i}`));

  const hard = await algorithmDefinition("dqn").build(resolveConfig(algorithmDefinition("dqn").schema, { assignments: [...SMALL, "targetUpdateInterval=3"] }), context);
  const start = hard.parameter("q_target.0.weight");
  for (let step = 1; step <= 2; step++) await hard.update(batch, [new Rng(step)], step);
  assert.deepEqual(hard.parameter("q_target.0.weight"), start, "no copy before step 3");
  await hard.update(batch, [new Rng(3)], 3);
  assert.deepEqual(hard.parameter("q_target.0.weight"), hard.parameter("q.0.weight"), "copied at step 3");
});

test("same seed, same data, same config: identical metrics and weights; another seed differs", async () => {
  const data = linearContinuous(256, 9);
  const run = async (seed: number) => {
    const algorithm = createAlgorithm("td3bc", { assignments: SMALL });
    const result = await algorithm.fit(data, { steps: 40, seed, logEvery: 10 });
    const weights = result.learner.exportPolicy().onnxModel;
    return { metrics: result.finalMetrics, weights: Buffer.from(weights).toString("base64") };
  };
  const a = await run(11);
  const b = await run(11);
  const c = await run(12);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.metrics, c.metrics);
});

test("resume from a checkpoint continues bit-for-bit", async () => {
  await withDir(async (dir) => {
    const data = linearContinuous(256, 10);
    // IQL's cosine actor schedule spans the run's length; the interrupted run is simulated by a shorter --steps,
    // so the horizon is fixed explicitly for every run here.
    const IQL = [...SMALL, "actorLrDecaySteps=80"];
    const options = { seed: 5, logEvery: 10, checkpointEvery: 20 };
    const straight = createAlgorithm("iql", { assignments: IQL });
    await straight.fit(data, { ...options, steps: 60, outDir: join(dir, "a") });
    const straightPolicy = await straight.save(join(dir, "a", "policy"));

    const first = createAlgorithm("iql", { assignments: IQL });
    await first.fit(data, { ...options, steps: 40, outDir: join(dir, "b") });
    const resumed = createAlgorithm("iql", { assignments: IQL });
    const result = await resumed.fit(data, { ...options, steps: 60, outDir: join(dir, "b"), resume: true });
    assert.equal(result.startStep, 40);
    const resumedPolicy = await resumed.save(join(dir, "b", "policy"));

    assert.equal(resumedPolicy.onnx.sha256, straightPolicy.onnx.sha256);
    assert.equal(await readFile(join(dir, "b", "metrics.jsonl"), "utf8"), await readFile(join(dir, "a", "metrics.jsonl"), "utf8"));
    assert.deepEqual(
      await readFile(join(dir, "b", "checkpoints", "last", "weights.safetensors")),
      await readFile(join(dir, "a", "checkpoints", "last", "weights.safetensors")),
    );

    // Extending the run: periods default to the recorded ones, so only --steps changes.
    const extended = await createAlgorithm("iql", { assignments: IQL }).fit(data, { seed: 5, steps: 80, outDir: join(dir, "b"), resume: true });
    assert.equal(extended.startStep, 60);
    const lines = (await readFile(join(dir, "b", "metrics.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    assert.deepEqual(lines.map((l) => l.step), [10, 20, 30, 40, 50, 60, 70, 80]);

    await assert.rejects(
      createAlgorithm("iql", { assignments: IQL }).fit(data, { ...options, steps: 60, outDir: join(dir, "b") }),
      (e: unknown) => e instanceof AlgoError && e.code === "run_exists",
    );
    await assert.rejects(
      createAlgorithm("iql", { assignments: [...IQL, "beta=1"] }).fit(data, { ...options, steps: 80, outDir: join(dir, "b"), resume: true }),
      (e: unknown) => e instanceof AlgoError && e.code === "run_not_resumable" && e.details.field === "config",
    );
  });
});

test("artifact round-trip: train -> save -> loadPolicy gives the same actions; the manifest records the run", async () => {
  await withDir(async (dir) => {
    const data = twoActionBandit(256, 12);
    const algorithm = createAlgorithm("discrete_cql", { assignments: SMALL });
    await algorithm.fit(data, { steps: 30, seed: 2, dataset: { name: "toy", version: 3, hash: "sha256:abc" }, codeVersion: "test" });
    const manifest = await algorithm.save(dir);
    const obs = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i));
    const expected = await algorithm.predict(obs);
    const policy = await loadPolicy(dir);
    assert.deepEqual(await policy.actBatch(obs), expected);
    for (let r = 0; r < 20; r++) assert.equal(await policy.act(obs.subarray(2 * r, 2 * r + 2)), expected[r]);
    await policy.close();
    await algorithm.releasePolicy();
    assert.equal(manifest.algorithm, "discrete_cql");
    assert.deepEqual(manifest.dataset, { name: "toy", version: 3, hash: "sha256:abc" });
    assert.equal(manifest.config.alpha, 1);
    assert.equal(manifest.seed, 2);
    assert.equal(manifest.onnx.outputKind, "q");
  });
});

test("configuration: paper defaults, file then --set overrides, unknown keys and wrong action spaces refused", async () => {
  await withDir(async (dir) => {
    assert.equal(createAlgorithm("iql").config.gamma, 0.99);
    const file = join(dir, "iql.yaml");
    await writeFile(file, "expectile: 0.9\nbeta: 10\n");
    const algorithm = createAlgorithm("iql", { base: await readConfigFile(file), assignments: ["beta=1", "hiddenSizes=[64,64]"] });
    assert.equal((algorithm.config as Record<string, unknown>).expectile, 0.9);
    assert.equal((algorithm.config as Record<string, unknown>).beta, 1);
    assert.deepEqual(algorithm.config.hiddenSizes, [64, 64]);
    assert.throws(() => createAlgorithm("iql", { assignments: ["expectil=0.8"] }), (e: unknown) => e instanceof AlgoError && e.code === "config_invalid");
    assert.throws(() => createAlgorithm("iql", { assignments: ["expectile=1.5"] }), (e: unknown) => e instanceof AlgoError && e.code === "config_invalid" && e.details.field === "expectile");
    assert.throws(() => createAlgorithm("nope"), (e: unknown) => e instanceof AlgoError && e.code === "algo_unknown");
    await assert.rejects(createAlgorithm("iql").fit(twoActionBandit(16, 1), { steps: 1, seed: 0 }), (e: unknown) => e instanceof AlgoError && e.code === "dataset_unsupported");
  });
});

test("TD3+BC delays the actor and target updates to every policyFrequency-th step", async () => {
  const data = linearContinuous(64, 13);
  const definition = algorithmDefinition("td3bc");
  const config = resolveConfig(definition.schema, { assignments: [...SMALL, "policyFrequency=2"] });
  const learner = await definition.build(config, { observationDim: 2, actionSpace: data.actionSpace, seed: 1, backend: "ort", threads: 1, stepsPerCall: 1, totalSteps: 100 });
  const view = prepareTrainingView(data, fitPreprocessing(data, config));
  const batch = allocateBatch(view, 32);
  gatherBatch(view, Int32Array.from({ length: 32 }, (_, i) => i), batch);
  const snapshot = () => ({
    actor: learner.parameter("actor.0.weight"),
    actorTarget: learner.parameter("actor_target.0.weight"),
    critic: learner.parameter("critic.0.weight"),
  });
  const before = snapshot();
  await learner.update(batch, [new Rng(1)], 1);
  const odd = snapshot();
  assert.deepEqual(odd.actor, before.actor, "actor untouched on step 1");
  assert.deepEqual(odd.actorTarget, before.actorTarget, "actor target untouched on step 1");
  assert.ok(odd.critic.some((v, i) => v !== before.critic[i]), "critic updated on step 1");
  await learner.update(batch, [new Rng(2)], 2);
  const even = snapshot();
  assert.ok(even.actor.some((v, i) => v !== odd.actor[i]), "actor updated on step 2");
  even.actorTarget.forEach((v, i) => assert.ok(Math.abs(v - (0.995 * odd.actorTarget[i] + 0.005 * even.actor[i])) < 1e-6, `actor target at ${i}`));
});

test("K steps per ONNX call give the same metrics and weights as one step per call", async () => {
  const data = linearContinuous(256, 14);
  const run = async (stepsPerCall: number) => {
    const algorithm = createAlgorithm("td3bc", { assignments: SMALL });
    const result = await algorithm.fit(data, { steps: 40, seed: 4, logEvery: 20, stepsPerCall });
    return { k: result.stepsPerCall, metrics: result.finalMetrics, weights: Buffer.from(result.learner.exportPolicy().onnxModel).toString("base64") };
  };
  const single = await run(1);
  const looped = await run(10);
  assert.equal(single.k, 1);
  assert.equal(looped.k, 10);
  assert.deepEqual(looped.metrics, single.metrics);
  assert.equal(looped.weights, single.weights);
});

test("one or two ONNX Runtime threads train to the same metrics and weights (default network sizes)", async () => {
  const data = linearContinuous(2048, 15);
  const run = async (threads: number) => {
    const algorithm = createAlgorithm("td3bc", { assignments: [] });
    const result = await algorithm.fit(data, { steps: 20, seed: 6, logEvery: 10, threads });
    return { metrics: result.finalMetrics, weights: Buffer.from(result.learner.exportPolicy().onnxModel).toString("base64") };
  };
  const one = await run(1);
  const two = await run(2);
  assert.deepEqual(two.metrics, one.metrics);
  assert.equal(two.weights, one.weights);
});

test("rows without a logged successor are never bootstrapped from: minibatches skip them", async () => {
  const data = twoActionBandit(512, 5);
  const missing = new Uint8Array(data.size);
  const nextObservations = Float32Array.from(data.nextObservations);
  const terminals = Uint8Array.from(data.terminals);
  for (let i = 0; i < data.size; i += 4) {
    // A truncated end whose next observation was never logged: poison it, so any use shows up as a NaN loss.
    missing[i] = 1;
    terminals[i] = 0;
    nextObservations.fill(Number.NaN, i * data.observationDim, (i + 1) * data.observationDim);
  }
  const poisoned = { ...data, nextObservations, terminals, nextObservationMissing: missing };
  const algorithm = createAlgorithm("dqn", { assignments: SMALL });
  const view = prepareTrainingView(poisoned, fitPreprocessing(poisoned, resolveConfig(algorithmDefinition("dqn").schema, { assignments: SMALL })));
  assert.equal(view.rows.length, data.size - data.size / 4);
  assert.ok(Array.from(view.rows).every((row) => row % 4 !== 0));
  const windows: Array<Record<string, number>> = [];
  await algorithm.fit(poisoned, { steps: 60, seed: 2, logEvery: 20, onProgress: (e: ProgressEvent) => e.evaluation || windows.push(e.losses) });
  assert.ok(windows.length > 0 && windows.every((w) => Number.isFinite(w.td_loss)), JSON.stringify(windows));
  await algorithm.releasePolicy();
});
