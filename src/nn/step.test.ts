import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import { Graph, type Tensor } from "./graph.js";
import { evaluate } from "./interpreter.js";
import * as op from "./ops.js";
import { mlp, ensembleMlp, linear } from "./layers.js";
import { adam, gated, adamW, sgd, polyak } from "./optim.js";
import { buildProgram, compileStep, programToOnnx, type TrainingStep } from "./step.js";
import type { onnx as OnnxNs } from "onnx-proto";
import { exportOnnx } from "./export.js";
import { compileForward } from "./forward.js";
import { readSafetensors } from "./safetensors.js";
import { tanhGaussian } from "./distributions.js";
import { Rng } from "../random/index.js";
import { NnError } from "./errors.js";

const { onnx: onnxProto } = createRequire(import.meta.url)("onnx-proto") as { onnx: typeof OnnxNs };

function regressionBatch(rng: Rng, batch: number): { x: Float32Array; y: Float32Array } {
  const x = rng.fillUniform(new Float32Array(batch * 3), -1, 1) as Float32Array;
  const y = new Float32Array(batch);
  for (let b = 0; b < batch; b++) y[b] = Math.sin(2 * x[b * 3]!) + x[b * 3 + 1]! * x[b * 3 + 2]!;
  return { x, y };
}

function regressionGraph(seed: number, batch: number) {
  const g = new Graph({ seed });
  const x = g.input("x", [batch, 3]);
  const y = g.input("y", [batch, 1]);
  const net = mlp(g, "net", [3, 32, 32, 1]);
  const prediction = net.apply(x);
  const loss = op.mean(op.square(op.sub(prediction, y)));
  adam(loss, net.params, { lr: 1e-2 });
  g.output("loss", loss);
  return { g, x, prediction, net };
}

test("an MLP regression trains to low loss on ONNX Runtime", async () => {
  const { g } = regressionGraph(1, 64);
  const step = await compileStep(g);
  const rng = new Rng(5);
  // Variance of the target (sin(2u) + vw with u, v, w ~ U(-1,1)) is about 0.41 + 1/9.
  let first = 0;
  let last = 0;
  for (let i = 0; i < 400; i++) {
    const out = await step.run(regressionBatch(rng, 64));
    if (i === 0) first = out.loss as number;
    last = out.loss as number;
  }
  assert.ok(first > 0.2, `initial loss ${first}`);
  assert.ok(last < 0.02, `final loss ${last}`);
  await step.dispose();
});

test("the same seed gives the same initial weights and the same losses; another seed does not", async () => {
  const run = async (seed: number) => {
    const step = await compileStep(regressionGraph(seed, 16).g);
    const rng = new Rng(9);
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) losses.push((await step.run(regressionBatch(rng, 16))).loss as number);
    return { init: Array.from(step.graph.initialParams()), losses };
  };
  const a = await run(3);
  const b = await run(3);
  const c = await run(4);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.init, c.init);
});

/** Naive float64 Adam/AdamW/SGD for y = x w + b with MSE, written out by hand (torch.optim semantics). */
function referenceLinear(kind: "adam" | "adamw" | "sgd", x: number[][], y: number[], w0: number[], b0: number, steps: number, opts: { lr: number; wd?: number; momentum?: number; clip?: number }) {
  const p = [...w0, b0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const buf = p.map(() => 0);
  const n = y.length;
  for (let t = 1; t <= steps; t++) {
    const grad = p.map(() => 0);
    for (let i = 0; i < n; i++) {
      let pred = p[p.length - 1]!;
      for (let j = 0; j < w0.length; j++) pred += x[i]![j]! * p[j]!;
      const d = (2 / n) * (pred - y[i]!);
      for (let j = 0; j < w0.length; j++) grad[j]! += d * x[i]![j]!;
      grad[p.length - 1]! += d;
    }
    if (opts.clip !== undefined) {
      const norm = Math.sqrt(grad.reduce((a, gr) => a + gr * gr, 0));
      const coef = Math.min(1, opts.clip / (norm + 1e-6));
      for (let j = 0; j < grad.length; j++) grad[j]! *= coef;
    }
    for (let j = 0; j < p.length; j++) {
      if (kind === "sgd") {
        let gj = grad[j]! + (opts.wd ?? 0) * p[j]!;
        buf[j] = (opts.momentum ?? 0) * buf[j]! + gj;
        if (opts.momentum) gj = buf[j]!;
        p[j]! -= opts.lr * gj;
        continue;
      }
      let gj = grad[j]!;
      if (kind === "adam" && opts.wd) gj += opts.wd * p[j]!;
      if (kind === "adamw") p[j]! *= 1 - opts.lr * (opts.wd ?? 0.01);
      m[j] = 0.9 * m[j]! + 0.1 * gj;
      v[j] = 0.999 * v[j]! + 0.001 * gj * gj;
      const mHat = m[j]! / (1 - 0.9 ** t);
      const vHat = v[j]! / (1 - 0.999 ** t);
      p[j]! -= (opts.lr * mHat) / (Math.sqrt(vHat) + 1e-8);
    }
  }
  return p;
}

for (const [kind, opts] of [
  ["adam", { lr: 0.05 }],
  ["adam", { lr: 0.05, wd: 0.1, clip: 0.5 }],
  ["adamw", { lr: 0.05, wd: 0.2 }],
  ["sgd", { lr: 0.1, momentum: 0.9, wd: 0.01 }],
] as const) {
  test(`${kind} ${JSON.stringify(opts)} matches a hand-written reference`, async () => {
    const xs = [[0.5, -1], [1.5, 0.25], [-0.75, 2], [0.1, 0.3]];
    const ys = [1, -0.5, 2, 0.25];
    const g = new Graph({ seed: 2 });
    const x = g.input("x", [4, 2]);
    const y = g.input("y", [4, 1]);
    const layer = linear(g, "lin", 2, 1);
    const loss = op.mean(op.square(op.sub(layer.apply(x), y)));
    const common = { lr: opts.lr, weightDecay: "wd" in opts ? opts.wd : undefined, maxGradNorm: "clip" in opts ? opts.clip : undefined };
    if (kind === "adam") adam(loss, layer.params, common);
    else if (kind === "adamw") adamW(loss, layer.params, common);
    else sgd(loss, layer.params, { ...common, momentum: opts.momentum });
    const init = g.initialParams();
    const expected = referenceLinear(kind, xs, ys, [init[0]!, init[1]!], init[2]!, 3, opts);
    for (const backend of ["ort", "interpreter"] as const) {
      const step = await compileStep(g, { backend });
      for (let i = 0; i < 3; i++) await step.run({ x: xs.flat(), y: ys });
      Array.from(step.params).forEach((value, j) => assert.ok(Math.abs(value - expected[j]!) < 1e-5, `${backend} param ${j}: ${value} vs ${expected[j]}`));
      await step.dispose();
    }
  });
}

test("polyak averages targets from pre-step or post-update sources", async () => {
  const g = new Graph({ seed: 3 });
  const x = g.input("x", [2, 2]);
  const source = linear(g, "src", 2, 2);
  const before = linear(g, "tgt_before", 2, 2);
  const after = linear(g, "tgt_after", 2, 2);
  const loss = op.sum(source.apply(x));
  sgd(loss, source.params, { lr: 0.5 });
  polyak(before.params, source.params, 0.25);
  polyak(after.params, source.params, 0.25, { afterUpdate: true });
  const init = g.initialParams();
  const step = await compileStep(g);
  const xs = [1, 2, 3, -1];
  await step.run({ x: xs });
  // d loss / dW[i][j] = sum_b x[b][i]; d loss / db[j] = batch size.
  const srcOld = Array.from(init.subarray(0, 6));
  const grad = [4, 4, 1, 1, 2, 2];
  const srcNew = srcOld.map((v, i) => v - 0.5 * grad[i]!);
  const mix = (t: number[], s: number[]) => t.map((v, i) => 0.75 * v + 0.25 * s[i]!);
  const expect = [...srcNew, ...mix(Array.from(init.subarray(6, 12)), srcOld), ...mix(Array.from(init.subarray(12, 18)), srcNew)];
  Array.from(step.params).forEach((v, i) => assert.ok(Math.abs(v - expect[i]!) < 1e-6, `param ${i}: ${v} vs ${expect[i]}`));
  assert.throws(() => polyak(before.params, source.params, 0.1), (e: unknown) => e instanceof NnError && e.code === "graph_frozen");
});

test("a parameter updated twice in one step is refused", () => {
  const g = new Graph();
  const x = g.input("x", [2, 2]);
  const net = linear(g, "net", 2, 1);
  const loss = op.sum(net.apply(x));
  adam(loss, net.params);
  assert.throws(() => sgd(loss, [net.weight]), (e: unknown) => e instanceof NnError && e.code === "param_updated_twice" && /net\.weight/.test(e.message));
});

/** A CQL/SAC-shaped step: twin critics (ensemble), actor with tanh-Gaussian, targets, logsumexp over sampled actions. */
function actorCriticGraph(batch: number, obsDim: number, actDim: number, samples: number) {
  const g = new Graph({ seed: 11 });
  const obs = g.input("obs", [batch, obsDim]);
  const act = g.input("act", [batch, actDim]);
  const reward = g.input("reward", [batch]);
  const nextObs = g.input("next_obs", [batch, obsDim]);
  const noise = g.input("noise", [batch, actDim]);
  const randomActs = g.input("random_actions", [samples, batch, actDim]);
  const critic = ensembleMlp(g, "critic", 2, [obsDim + actDim, 16, 16, 1]);
  const target = ensembleMlp(g, "critic_target", 2, [obsDim + actDim, 16, 16, 1], { copyOf: critic });
  const actor = mlp(g, "actor", [obsDim, 16, 2 * actDim]);
  const policy = (o: Tensor) => {
    const out = actor.apply(o);
    return tanhGaussian(op.slice(out, 1, 0, actDim), op.clip(op.slice(out, 1, actDim, 2 * actDim), -5, 2), noise);
  };
  type Tensor = ReturnType<typeof op.add>;
  const q = (net: typeof critic, o: Tensor, a: Tensor) => op.reshape(net.apply(op.concat([o, a], 1)), [2, batch]);
  const nextPi = policy(nextObs);
  const targetQ = op.stopGradient(op.add(reward, op.mul(0.99, op.min(q(target, nextObs, nextPi.action), [0]))));
  const qData = q(critic, obs, act);
  const td = op.mean(op.square(op.sub(qData, targetQ)));
  const qRandom = op.concat(Array.from({ length: samples }, (_, k) => op.expandDims(q(critic, obs, op.reshape(op.slice(randomActs, 0, k, k + 1), [batch, actDim])), 0)), 0);
  const cql = op.mean(op.sub(op.logSumExp(qRandom, [0]), qData));
  const criticLoss = op.add(td, op.mul(5, cql));
  const pi = policy(obs);
  const actorLoss = op.mean(op.sub(op.mul(0.2, pi.logProb), op.min(q(critic, obs, pi.action), [0])));
  adam(criticLoss, critic.params, { lr: 3e-3, name: "critic_opt" });
  adam(actorLoss, actor.params, { lr: 1e-3, name: "actor_opt", maxGradNorm: 1 });
  polyak(target.params, critic.params, 0.05);
  g.output("critic_loss", criticLoss);
  g.output("actor_loss", actorLoss);
  g.output("action", pi.action);
  return { g, obs, actor, pi };
}

function actorCriticFeeds(rng: Rng, batch: number, obsDim: number, actDim: number, samples: number) {
  return {
    obs: rng.fillNormal(new Float32Array(batch * obsDim)),
    act: rng.fillUniform(new Float32Array(batch * actDim), -1, 1),
    reward: rng.fillNormal(new Float32Array(batch)),
    next_obs: rng.fillNormal(new Float32Array(batch * obsDim)),
    noise: rng.fillNormal(new Float32Array(batch * actDim)),
    random_actions: rng.fillUniform(new Float32Array(samples * batch * actDim), -1, 1),
  };
}

test("a full actor-critic training step gives the same numbers on ONNX Runtime and the interpreter", async () => {
  const dims = [8, 5, 2, 3] as const;
  const results: Array<Record<string, Float32Array>> = [];
  const losses: number[][] = [];
  for (const backend of ["ort", "interpreter"] as const) {
    const { g } = actorCriticGraph(...dims);
    const step = await compileStep(g, { backend });
    const rng = new Rng(21);
    const trace: number[] = [];
    for (let i = 0; i < 4; i++) {
      const out = await step.run(actorCriticFeeds(rng, ...dims));
      trace.push(out.critic_loss as number, out.actor_loss as number);
    }
    results.push(step.state());
    losses.push(trace);
    await step.dispose();
  }
  losses[0]!.forEach((v, i) => assert.ok(Math.abs(v - losses[1]![i]!) <= 1e-4 * (1 + Math.abs(v)), `loss ${i}: ${v} vs ${losses[1]![i]}`));
  for (const [name, ortValue] of Object.entries(results[0]!)) {
    const ref = results[1]![name]!;
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ortValue[i]! - ref[i]!) / (1e-3 + Math.abs(ref[i]!)));
    assert.ok(worst < 1e-3, `state ${name}: worst relative difference ${worst}`);
  }
});

test("checkpoints round-trip through safetensors and training continues identically", async () => {
  const dims = [8, 5, 2, 3] as const;
  const dir = await mkdtemp(join(tmpdir(), "hindcast-nn-"));
  try {
    const make = async () => compileStep(actorCriticGraph(...dims).g);
    const a: TrainingStep = await make();
    const rng = new Rng(4);
    for (let i = 0; i < 3; i++) await a.run(actorCriticFeeds(rng, ...dims));
    const path = join(dir, "ckpt.safetensors");
    await a.saveCheckpoint(path, { algorithm: "test" });
    const { tensors, metadata } = readSafetensors(new Uint8Array(await readFile(path)));
    assert.equal(metadata.algorithm, "test");
    assert.deepEqual(tensors.get("actor.0.weight")!.shape, [5, 16]);
    assert.deepEqual(Array.from(tensors.get("critic_opt.step")!.data), [3]);
    assert.ok(tensors.has("actor_opt.exp_avg_sq.actor.1.bias"));
    assert.deepEqual(Array.from(tensors.get("critic.0.bias")!.data), Array.from(a.getParam("critic.0.bias")));

    const b = await make();
    await b.loadCheckpoint(path);
    assert.deepEqual(b.state(), a.state());
    const feeds = actorCriticFeeds(rng, ...dims);
    const outA = await a.run(feeds);
    const outB = await b.run(feeds);
    assert.equal(outA.critic_loss, outB.critic_loss);
    assert.deepEqual(b.state(), a.state());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an exported policy loads in onnxruntime-node and matches the training graph's forward pass", async () => {
  const batch = 6;
  const g = new Graph({ seed: 8 });
  const obs = g.input("obs", [batch, 4]);
  const target = g.input("target", [batch, 2]);
  const actor = mlp(g, "actor", [4, 16, 2], { outputActivation: "tanh" });
  const action = actor.apply(obs);
  const loss = op.mean(op.square(op.sub(action, target)));
  adam(loss, actor.params, { lr: 1e-2 });
  g.output("action", action);
  const step = await compileStep(g);
  const rng = new Rng(2);
  for (let i = 0; i < 3; i++) await step.run({ obs: rng.fillNormal(new Float32Array(batch * 4)), target: rng.fillUniform(new Float32Array(batch * 2), -1, 1) });
  const probe = rng.fillNormal(new Float32Array(batch * 4)) as Float32Array;
  const paramsBefore = Float32Array.from(step.params);
  const model = exportOnnx(g, { inputs: { obs }, outputs: { action }, params: step });
  const session = await ort.InferenceSession.create(model);
  assert.deepEqual(session.inputNames, ["obs"]);
  const full = (await session.run({ obs: new ort.Tensor("float32", probe, [batch, 4]) })).action!.data as Float32Array;
  const single = (await session.run({ obs: new ort.Tensor("float32", probe.slice(4, 8), [1, 4]) })).action!.data as Float32Array;
  // Training graph forward pass on the same parameters: `action` is computed before this step's update.
  const trained = (await step.run({ obs: probe, target: new Float32Array(batch * 2) })).action as Float32Array;
  Array.from(full).forEach((v, i) => assert.ok(Math.abs(v - trained[i]!) < 1e-6, `row-batch ${i}: ${v} vs ${trained[i]}`));
  Array.from(single).forEach((v, i) => assert.ok(Math.abs(v - trained[2 + i]!) < 1e-6));
  assert.notDeepEqual(Array.from(step.params), Array.from(paramsBefore));
  await session.release();
});

test("an export keeps the batch symbolic through constants whose leading axis is the batch (filled or tiled rows)", async () => {
  const g = new Graph({ seed: 3 });
  const obs = g.input("obs", [4, 3]);
  const w = g.param("w", [5, 2], Float32Array.from([0.5, -1, 2, 0.25, -0.75, 1.5, 1, -2, 0.125, 3]));
  const filled = g.constant(0.5, [4, 2]);
  const tiledRows = g.constant([1, 2, 1, 2, 1, 2, 1, 2], [4, 2]);
  const y = op.add(op.matmul(op.concat([obs, filled], 1), w), tiledRows);
  const model = exportOnnx(g, { inputs: { obs }, outputs: { y }, params: g.initialParams() });
  const session = await ort.InferenceSession.create(model);
  const W = [[0.5, -1], [2, 0.25], [-0.75, 1.5], [1, -2], [0.125, 3]];
  for (const rows of [7, 1]) {
    const x = Float32Array.from({ length: rows * 3 }, (_, i) => ((i * 37) % 11) / 5 - 1);
    const got = (await session.run({ obs: new ort.Tensor("float32", x, [rows, 3]) })).y!;
    assert.deepEqual(got.dims, [rows, 2]);
    for (let b = 0; b < rows; b++) {
      for (let j = 0; j < 2; j++) {
        // By hand: the three observed features, then the two constant 0.5 features, then the tiled row [1, 2].
        const want = x[b * 3]! * W[0]![j]! + x[b * 3 + 1]! * W[1]![j]! + x[b * 3 + 2]! * W[2]![j]! + 0.5 * (W[3]![j]! + W[4]![j]!) + (j + 1);
        assert.ok(Math.abs((got.data as Float32Array)[b * 2 + j]! - want) < 1e-5, `row ${b} col ${j}`);
      }
    }
  }
  await session.release();
});

test("feeds are checked: missing, wrong length, unknown", async () => {
  const { g } = regressionGraph(1, 4);
  const step = await compileStep(g, { backend: "interpreter" });
  await assert.rejects(step.run({ x: new Float32Array(12) }), (e: unknown) => e instanceof NnError && e.code === "missing_feed");
  await assert.rejects(step.run({ x: new Float32Array(11), y: new Float32Array(4) }), (e: unknown) => e instanceof NnError && e.code === "bad_feed");
  await assert.rejects(step.run({ x: new Float32Array(12), y: new Float32Array(4), z: [1] }), (e: unknown) => e instanceof NnError && e.code === "unknown_name");
  const pending = step.run({ x: new Float32Array(12), y: new Float32Array(4) });
  await assert.rejects(step.run({ x: new Float32Array(12), y: new Float32Array(4) }), (e: unknown) => e instanceof NnError && /previous call/.test(e.message));
  await pending;
});

/** The README's worked example (DQN + CQL term), run on both backends. */
function dqnGraph(B: number, obsDim: number, nActions: number) {
  const g = new Graph({ seed: 7 });
  const obs = g.input("obs", [B, obsDim]);
  const action = g.input("action", [B], "int64");
  const reward = g.input("reward", [B]);
  const nextObs = g.input("next_obs", [B, obsDim]);
  const done = g.input("done", [B]);
  const q = mlp(g, "q", [obsDim, 32, 32, nActions]);
  const qTarget = mlp(g, "q_target", [obsDim, 32, 32, nActions], { copyOf: q });
  const qAll = q.apply(obs);
  const qTaken = op.reshape(op.takeAlongAxis(qAll, op.reshape(action, [B, 1]), 1), [B]);
  const nextMax = op.max(qTarget.apply(nextObs), [1]);
  const target = op.stopGradient(op.add(reward, op.mul(op.mul(0.99, op.sub(1, done)), nextMax)));
  const tdLoss = op.mean(op.square(op.sub(qTaken, target)));
  const cql = op.mean(op.sub(op.logSumExp(qAll, [1]), qTaken));
  const loss = op.add(tdLoss, op.mul(1.0, cql));
  adam(loss, q.params, { lr: 3e-4, maxGradNorm: 10 });
  polyak(qTarget.params, q.params, 0.005);
  g.output("loss", loss);
  g.output("td_loss", tdLoss);
  g.output("q", qAll);
  g.output("greedy", op.argMax(qAll, 1));
  return { g, obs, qAll };
}

test("the README's DQN/CQL step runs identically on both backends; a forward function serves any batch size", async () => {
  const [B, obsDim, nActions] = [8, 5, 3];
  const rng = new Rng(13);
  const batches = Array.from({ length: 3 }, () => ({
    obs: rng.fillNormal(new Float32Array(B * obsDim)),
    action: Int32Array.from({ length: B }, () => rng.int(nActions)),
    reward: rng.fillNormal(new Float32Array(B)),
    next_obs: rng.fillNormal(new Float32Array(B * obsDim)),
    done: Float32Array.from({ length: B }, () => (rng.uniform() < 0.2 ? 1 : 0)),
  }));
  const traces: number[][] = [];
  let ortStep: TrainingStep | undefined;
  let built: ReturnType<typeof dqnGraph> | undefined;
  for (const backend of ["ort", "interpreter"] as const) {
    built = dqnGraph(B, obsDim, nActions);
    const step = await compileStep(built.g, { backend });
    const trace: number[] = [];
    for (const batch of batches) {
      const out = await step.run(batch);
      trace.push(out.loss as number, out.td_loss as number);
      const q = out.q as Float32Array;
      const greedy = out.greedy as Int32Array;
      for (let b = 0; b < B; b++) {
        const row = Array.from(q.subarray(b * nActions, (b + 1) * nActions));
        assert.equal(greedy[b], row.indexOf(Math.max(...row)));
      }
    }
    traces.push(trace);
    if (backend === "ort") ortStep = step;
  }
  traces[0]!.forEach((v, i) => assert.ok(Math.abs(v - traces[1]![i]!) < 1e-4 * (1 + Math.abs(v)), `${v} vs ${traces[1]![i]}`));

  // Q-values for 3 rows with the trained parameters vs the training graph's output on a full batch.
  const { g, obs, qAll } = dqnGraph(B, obsDim, nActions);
  const forward = await compileForward(g, { inputs: { obs }, outputs: { q: qAll } });
  const probe = batches[0]!.obs;
  const few = await forward.run({ obs: probe.slice(0, 3 * obsDim) }, ortStep!.params);
  const full = (await ortStep!.run(batches[0]!)).q as Float32Array;
  Array.from(few.q!).forEach((v, i) => assert.ok(Math.abs(v - full[i]!) < 1e-5, `${v} vs ${full[i]}`));
  await forward.dispose();
});

test("a gated optimizer and Polyak update leave everything unchanged when the gate is false (delayed updates)", async () => {
  for (const backend of ["ort", "interpreter"] as const) {
    const g = new Graph({ seed: 5 });
    const x = g.input("x", [3, 2]);
    const update = backend === "ort" ? g.input("update", [], "bool") : g.input("update", [1]);
    const net = linear(g, "net", 2, 2);
    const tgt = linear(g, "tgt", 2, 2);
    adam(op.sum(op.square(net.apply(x))), net.params, { lr: 0.1, when: update });
    polyak(tgt.params, net.params, 0.5, { when: update });
    const step = await compileStep(g, { backend });
    const before = step.state();
    const xs = [1, 2, -1, 0.5, 3, 1];
    await step.run({ x: xs, update: [0] });
    assert.deepEqual(step.state(), before, backend);
    await step.run({ x: xs, update: [1] });
    const after = step.state();
    assert.deepEqual(Array.from(after["adam0.step"]!), [1]);
    assert.ok(after.params!.some((v, i) => v !== before.params![i]));
    await step.dispose();
  }
});

test("K steps per call (ONNX Loop) equal K single steps, on ONNX Runtime and the interpreter", async () => {
  const dims = [8, 5, 2, 3] as const;
  const K = 3;
  const rng = new Rng(17);
  const batches = Array.from({ length: K }, () => actorCriticFeeds(rng, ...dims));
  const stacked: Record<string, Float32Array> = {};
  for (const name of Object.keys(batches[0]!)) {
    const parts = batches.map((b) => (b as Record<string, Float32Array>)[name]!);
    stacked[name] = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.forEach((p, k) => stacked[name]!.set(p, k * p.length));
  }
  const single = await compileStep(actorCriticGraph(...dims).g);
  const expectedLosses: number[] = [];
  for (const b of batches) expectedLosses.push((await single.run(b)).critic_loss as number);
  for (const backend of ["ort", "interpreter"] as const) {
    const looped = await compileStep(actorCriticGraph(...dims).g, { backend, stepsPerCall: K });
    const out = await looped.run(stacked);
    const losses = Array.from(out.critic_loss as Float32Array);
    assert.equal(losses.length, K);
    losses.forEach((v, i) => assert.ok(Math.abs(v - expectedLosses[i]!) < 1e-4 * (1 + Math.abs(v)), `${backend} step ${i}: ${v} vs ${expectedLosses[i]}`));
    assert.equal((out.action as Float32Array).length, K * dims[0] * dims[2]);
    const want = single.state();
    for (const [name, value] of Object.entries(looped.state())) {
      value.forEach((v, i) => assert.ok(Math.abs(v - want[name]![i]!) < 1e-4 * (1 + Math.abs(v)), `${backend} ${name}[${i}]`));
    }
    await assert.rejects(looped.run(batches[0]!), (e: unknown) => e instanceof NnError && e.code === "bad_feed");
    await looped.dispose();
  }
});

test("asking for CUDA either runs or fails with backend_unavailable (never silently wrong)", async () => {
  const g = new Graph();
  const x = g.input("x", [2]);
  g.output("y", op.exp(x));
  try {
    const step = await compileStep(g, { executionProvider: "cuda" });
    const y = (await step.run({ x: [0, 1] })).y as Float32Array;
    assert.ok(Math.abs(y[1]! - Math.E) < 1e-5);
    await step.dispose();
  } catch (error) {
    assert.ok(error instanceof NnError && error.code === "backend_unavailable", String(error));
  }
});

test("an exported Gaussian policy with reshapes and broadcasts keeps a symbolic batch", async () => {
  const batch = 5;
  const g = new Graph({ seed: 12 });
  const obs = g.input("obs", [batch, 3]);
  const actor = mlp(g, "actor", [3, 8, 4]);
  const raw = op.reshape(actor.apply(obs), [batch, 2, 2]);
  const mean = op.tanh(op.reshape(op.slice(raw, 1, 0, 1), [batch, 2]));
  const logStd = op.clip(op.reshape(op.slice(raw, 1, 1, 2), [batch, 2]), -5, 2);
  const bias = op.broadcastTo(g.constant([0.1, -0.2], [1, 2]), [batch, 2]);
  const output = op.concat([op.add(mean, bias), logStd], 1);
  const model = exportOnnx(g, { inputs: { obs }, outputs: { gaussian: output }, params: g.initialParams() });
  const session = await ort.InferenceSession.create(model);
  const probe = new Rng(3).fillNormal(new Float32Array(batch * 3));
  const reference = evaluateForward(g, output, probe);
  for (const rows of [1, 3]) {
    const got = (await session.run({ obs: new ort.Tensor("float32", probe.slice(0, rows * 3), [rows, 3]) })).gaussian!;
    assert.deepEqual(got.dims, [rows, 4]);
    Array.from(got.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - reference[i]!) < 1e-6, `${rows} rows [${i}]: ${v} vs ${reference[i]}`));
  }
  await session.release();
});

function evaluateForward(g: Graph, output: Tensor, obs: Float32Array): Float64Array | Float32Array {
  return evaluate([output], { inputs: { obs }, states: { params: g.initialParams() } })[0]!;
}

test("a learning rate fed as an input: lr 0 leaves the parameters unchanged, lr > 0 moves them", async () => {
  const g = new Graph({ seed: 6 });
  const x = g.input("x", [2, 2]);
  const lr = g.input("lr", []);
  const net = linear(g, "net", 2, 1);
  adam(op.sum(op.square(net.apply(x))), net.params, { lr });
  const step = await compileStep(g);
  const init = Float32Array.from(step.params);
  await step.run({ x: [1, 2, 3, 4], lr: [0] });
  assert.deepEqual(Array.from(step.params), Array.from(init));
  await step.run({ x: [1, 2, 3, 4], lr: [0.1] });
  // Adam's first effective step moves every parameter by about lr (the bias-corrected m/sqrt(v) is +-1).
  Array.from(step.params).forEach((v, i) => assert.ok(Math.abs(Math.abs(v - init[i]!) - 0.1) < 0.01, `param ${i} moved ${v - init[i]!}`));
});

/**
 * A critic updated every step, an actor on the float gate `update_actor` and its Polyak target on the bool gate
 * `update_target`; outputs the critic loss and the target's mean output.
 */
function gatedActorCritic(seed: number): Graph {
  const g = new Graph({ seed });
  const x = g.input("x", [4, 3]);
  const y = g.input("y", [4, 2]);
  const updateActor = g.input("update_actor", [1]);
  const updateTarget = g.input("update_target", [], "bool");
  const critic = mlp(g, "critic", [3, 5, 2]);
  const actor = mlp(g, "actor", [3, 5, 2]);
  const target = mlp(g, "target", [3, 5, 2], { copyOf: actor });
  const criticLoss = op.mean(op.square(op.sub(critic.apply(x), y)));
  adam(criticLoss, critic.params, { lr: 0.05 });
  adam(op.mean(op.square(op.sub(actor.apply(x), op.stopGradient(critic.apply(x))))), actor.params, { lr: 0.05, when: updateActor });
  // The target's branch reads the actor's gated update (the other branch's output).
  polyak(target.params, actor.params, 0.3, { afterUpdate: true, when: updateTarget });
  g.output("critic_loss", criticLoss);
  g.output("target_mean", op.mean(target.apply(x)));
  return g;
}

test("gated updates run inside one ONNX If per gate, so an off step skips their work, and match the interpreter step by step", async () => {
  const build = () => gatedActorCritic(9);
  const g = build();
  const model = onnxProto.ModelProto.decode(programToOnnx(buildProgram(g)));
  const ifs = model.graph!.node!.filter((n) => n.opType === "If");
  assert.equal(ifs.length, 2, "one If per gate condition");
  const thenOps = (n: (typeof ifs)[number]) => n.attribute!.find((a) => a.name === "then_branch")!.g!.node!.map((x) => x.opType ?? "");
  const products = (ops: string[]) => ops.filter((o) => o === "MatMul" || o === "Gemm").length;
  // The actor's loss feeds only its gated update: its forward (2 layers) and backward (3 products) sit in the branch.
  assert.ok(products(thenOps(ifs[0]!)) >= 5, "the actor's forward and backward passes are inside its branch");
  assert.equal(products(thenOps(ifs[1]!)), 0, "the Polyak branch is elementwise only");

  const gates = [[0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [1, 1]] as const;
  const rng = new Rng(3);
  const feeds = gates.map(([a, t]) => {
    const x = new Float32Array(12);
    const y = new Float32Array(8);
    rng.fillNormal(x);
    rng.fillNormal(y);
    return { x, y, update_actor: [a], update_target: [t] };
  });
  const ortStep = await compileStep(g);
  const reference = await compileStep(build(), { backend: "interpreter" });
  for (const [i, f] of feeds.entries()) {
    const before = ortStep.state();
    await ortStep.run(f);
    await reference.run(f);
    const got = ortStep.state();
    const want = reference.state();
    for (const name of Object.keys(want)) {
      want[name]!.forEach((v, j) => assert.ok(Math.abs(got[name]![j]! - v) < 1e-5 * (1 + Math.abs(v)), `step ${i} ${name}[${j}]`));
    }
    if (gates[i]![0] === 0) assert.deepEqual(got["adam1.exp_avg"], before["adam1.exp_avg"], `step ${i}: actor Adam untouched`);
  }
  assert.deepEqual(Array.from(ortStep.state()["adam1.step"]!), [gates.filter(([a]) => a === 1).length]);
  assert.deepEqual(Array.from(ortStep.state()["adam0.step"]!), [gates.length]);
  await ortStep.dispose();
});

test("a gated output is computed inside its gate's If: the value on on-steps, the fallback on off-steps", async () => {
  const build = () => {
    const g = new Graph({ seed: 4 });
    const x = g.input("x", [4, 3]);
    const y = g.input("y", [4, 2]);
    const updateActor = g.input("update_actor", [1]);
    const actor = mlp(g, "actor", [3, 5, 2]);
    const actorLoss = op.mean(op.square(op.sub(actor.apply(x), y)));
    adam(actorLoss, actor.params, { lr: 0.05, when: updateActor });
    g.output("actor_loss", gated(updateActor, actorLoss, Number.NaN));
    return g;
  };
  const model = onnxProto.ModelProto.decode(programToOnnx(buildProgram(build())));
  const outer = model.graph!.node!.map((n) => n.opType ?? "");
  assert.equal(outer.filter((o) => o === "Gemm" || o === "MatMul").length, 0, `the actor's forward runs only inside the If: ${outer.join(" ")}`);
  const ortStep = await compileStep(build());
  const reference = await compileStep(build(), { backend: "interpreter" });
  const rng = new Rng(8);
  for (const on of [1, 0, 1, 0]) {
    const x = rng.fillNormal(new Float32Array(12)) as Float32Array;
    const y = rng.fillNormal(new Float32Array(8)) as Float32Array;
    const got = (await ortStep.run({ x, y, update_actor: [on] })).actor_loss as number;
    const want = (await reference.run({ x, y, update_actor: [on] })).actor_loss as number;
    if (on) assert.ok(Number.isFinite(got) && Math.abs(got - want) < 1e-5 * (1 + Math.abs(want)), `${got} vs ${want}`);
    else assert.ok(Number.isNaN(got) && Number.isNaN(want), `off step: ${got}, ${want}`);
  }
  await ortStep.dispose();
});

test("a layer's product and bias add lower to one Gemm with a C input (no separate Add)", () => {
  const g = new Graph({ seed: 2 });
  const x = g.input("x", [4, 3]);
  const net = mlp(g, "net", [3, 5, 2]);
  g.output("y", net.apply(x));
  const ops = onnxProto.ModelProto.decode(programToOnnx(buildProgram(g))).graph!.node!;
  const gemms = ops.filter((n) => n.opType === "Gemm");
  assert.equal(gemms.length, 2);
  assert.ok(gemms.every((n) => n.input!.length === 3), "bias as Gemm's C");
  assert.equal(ops.filter((n) => n.opType === "Add").length, 0);
});

test("the K-step Loop body hands its updated state out without Identity copies", () => {
  const g = new Graph({ seed: 1 });
  const x = g.input("x", [4, 3]);
  const net = mlp(g, "net", [3, 5, 1]);
  const loss = op.mean(op.square(net.apply(x)));
  adam(loss, net.params, { lr: 0.01 });
  g.output("loss", loss);
  g.output("same_loss", loss);
  const model = onnxProto.ModelProto.decode(programToOnnx(buildProgram(g), 3));
  const body = model.graph!.node!.find((n) => n.opType === "Loop")!.attribute!.find((a) => a.name === "body")!.g!;
  const identities = body.node!.filter((n) => n.opType === "Identity").map((n) => n.output![0]);
  // The loop condition, and the second output naming a value already handed out; no state vector is copied.
  assert.deepEqual(identities.sort(), ["b_cond_out", "b_out_same_loss"]);
  const produced = new Set(body.node!.flatMap((n) => n.output ?? []));
  for (const out of body.output!) assert.ok(produced.has(out.name!), `${out.name} is produced in the body`);
});

test("a sum of two products (x W + y V) keeps both terms when lowered to Gemm", async () => {
  const build = () => {
    const g = new Graph({ seed: 6 });
    const x = g.input("x", [3, 4]);
    const y = g.input("y", [3, 2]);
    const w = g.param("w", [4, 5], (rng, n) => rng.fillNormal(new Float32Array(n)) as Float32Array);
    const v = g.param("v", [2, 5], (rng, n) => rng.fillNormal(new Float32Array(n)) as Float32Array);
    g.output("z", op.add(op.matmul(x, w), op.matmul(y, v)));
    return g;
  };
  const feeds = { x: Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), y: Float32Array.from({ length: 6 }, (_, i) => Math.cos(i)) };
  const got = (await (await compileStep(build())).run(feeds)).z as Float32Array;
  const want = (await (await compileStep(build(), { backend: "interpreter" })).run(feeds)).z as Float32Array;
  want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-5, `z[${i}] ${got[i]} vs ${v}`));
});

test("periodic gate inputs are built into the K-step Loop: no If, the same numbers as feeding them, wrong feeds refused", async () => {
  const build = () => {
    const g = new Graph({ seed: 12 });
    const x = g.input("x", [4, 3]);
    const y = g.input("y", [4, 2]);
    const updateActor = g.input("update_actor", [1]);
    const critic = mlp(g, "critic", [3, 5, 2]);
    const actor = mlp(g, "actor", [3, 5, 2]);
    const target = mlp(g, "target", [3, 5, 2], { copyOf: actor });
    const criticLoss = op.mean(op.square(op.sub(critic.apply(x), y)));
    adam(criticLoss, critic.params, { lr: 0.05 });
    const actorLoss = op.mean(op.square(op.sub(actor.apply(x), op.stopGradient(critic.apply(x)))));
    adam(actorLoss, actor.params, { lr: 0.05, when: updateActor });
    polyak(target.params, actor.params, 0.3, { afterUpdate: true, when: updateActor });
    g.output("critic_loss", criticLoss);
    g.output("actor_loss", gated(updateActor, actorLoss, Number.NaN));
    return g;
  };
  const K = 4;
  const periodicInputs = { update_actor: [0, 1] };
  const model = onnxProto.ModelProto.decode(programToOnnx(buildProgram(build()), K, periodicInputs));
  const loop = model.graph!.node!.find((n) => n.opType === "Loop")!;
  const body = loop.attribute!.find((a) => a.name === "body")!.g!;
  assert.equal(body.node!.filter((n) => n.opType === "If").length, 0, "no If in the body");
  // Two critic updates and one actor update per iteration: each Adam step raises beta1 and beta2 to the power t.
  assert.equal(body.node!.filter((n) => n.opType === "Pow").length, 6);

  const rng = new Rng(5);
  const feeds = {
    x: rng.fillNormal(new Float32Array(12 * K)) as Float32Array,
    y: rng.fillNormal(new Float32Array(8 * K)) as Float32Array,
    update_actor: Float32Array.from({ length: K }, (_, k) => k % 2),
  };
  const folded = await compileStep(build(), { stepsPerCall: K, periodicInputs });
  const fed = await compileStep(build(), { stepsPerCall: K });
  const reference = await compileStep(build(), { backend: "interpreter", stepsPerCall: K, periodicInputs });
  for (let call = 0; call < 2; call++) {
    const got = await folded.run(feeds);
    const same = await fed.run(feeds);
    const want = await reference.run(feeds);
    for (const name of ["critic_loss", "actor_loss"]) {
      const g = got[name] as Float32Array;
      assert.deepEqual(Array.from(g), Array.from(same[name] as Float32Array), `${name}: folded and fed gates agree exactly`);
      (want[name] as Float32Array).forEach((v, k) => {
        if (name === "actor_loss" && k % 2 === 0) assert.ok(Number.isNaN(g[k]!) && Number.isNaN(v), `${name}[${k}] off step`);
        else assert.ok(Math.abs(g[k]! - v) < 1e-5 * (1 + Math.abs(v)), `${name}[${k}] ${g[k]} vs ${v}`);
      });
    }
    for (const [name, values] of Object.entries(folded.state())) assert.deepEqual(Array.from(values), Array.from(fed.state()[name]!), `state ${name}`);
  }
  assert.deepEqual(Array.from(folded.state()["adam1.step"]!), [4]);

  await assert.rejects(folded.run({ ...feeds, update_actor: Float32Array.from([1, 0, 1, 0]) }), (e: unknown) => e instanceof NnError && e.code === "bad_feed");
  await assert.rejects(compileStep(build(), { stepsPerCall: 3, periodicInputs }), (e: unknown) => e instanceof NnError && e.code === "invalid_argument");
  await Promise.all([folded.dispose(), fed.dispose()]);
});

test("a group's values after its update, read back whole, are the update's result itself (no slice-and-concat copy)", () => {
  const g = new Graph({ seed: 3 });
  const x = g.input("x", [4, 3]);
  const net = mlp(g, "net", [3, 5, 2]);
  const target = mlp(g, "target", [3, 5, 2], { copyOf: net });
  adam(op.mean(op.square(net.apply(x))), net.params, { lr: 0.01 });
  const whole = g.updatedFlatView(net.params);
  assert.notEqual(whole.op, "concat");
  assert.equal(whole.size, net.params.reduce((n, p) => n + p.size, 0));
  // Part of the group: one slice of the update; parameters nothing updates come from the pool.
  assert.equal(g.updatedFlatView(net.params.slice(1, 3)).op, "slice");
  const mixed = g.updatedFlatView([...net.params, ...target.params]);
  assert.equal(mixed.op, "concat");
  assert.deepEqual(mixed.inputs.map((t) => t.op), [whole.op, "slice"]);
});

test("two periodic gates of different periods (float and bool) fold over their least common multiple", async () => {
  const build = () => gatedActorCritic(13);
  const K = 6;
  const periodicInputs = { update_actor: [0, 1], update_target: [0, 0, 1] };
  const body = onnxProto.ModelProto.decode(programToOnnx(buildProgram(build()), K, periodicInputs)).graph!.node!.find((n) => n.opType === "Loop")!.attribute![0]!.g!;
  assert.equal(body.node!.filter((n) => n.opType === "If").length, 0);
  const rng = new Rng(6);
  const feeds = {
    x: rng.fillNormal(new Float32Array(12 * K)) as Float32Array,
    y: rng.fillNormal(new Float32Array(8 * K)) as Float32Array,
    update_actor: Float32Array.from({ length: K }, (_, k) => k % 2),
    update_target: Uint8Array.from({ length: K }, (_, k) => (k % 3 === 2 ? 1 : 0)),
  };
  const folded = await compileStep(build(), { stepsPerCall: K, periodicInputs });
  const fed = await compileStep(build(), { stepsPerCall: K });
  for (let call = 0; call < 2; call++) {
    assert.deepEqual(Array.from((await folded.run(feeds)).target_mean as Float32Array), Array.from((await fed.run(feeds)).target_mean as Float32Array));
  }
  for (const [name, values] of Object.entries(folded.state())) assert.deepEqual(Array.from(values), Array.from(fed.state()[name]!), `state ${name}`);
  assert.deepEqual(Array.from(folded.state()["adam1.step"]!), [6], "three actor updates per call");
  await Promise.all([folded.dispose(), fed.dispose()]);
});
