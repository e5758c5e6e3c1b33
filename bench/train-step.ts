/**
 * Training-step throughput of the nn engine on ONNX Runtime (issue 3).
 * - Reference workload: MLP 17-256-256-6 ReLU, batch 256, MSE, Adam: steps/s on 1 and 2 threads, steps per CPU-second.
 *   Target: at least 2x PyTorch's best wall-clock rate. When `/usr/bin/python3 -c "import torch"` works (Debian's
 *   python3-torch; install libopenblas0-pthread too, else torch runs on the reference BLAS), bench/torch/mlp_step.py
 *   runs the same workload in the same run with OMP_NUM_THREADS=1 and 2; otherwise the figure recorded in issue 3
 *   (~750 steps/s best) stands in.
 * - CQL-shaped step: twin critics 2x(256,256) as one ensemble, tanh-Gaussian actor (256,256), target critics, CQL
 *   logsumexp over 10 random + 10 policy actions, critic and actor Adam and Polyak in one graph; PyTorch runs the
 *   same step (bench/torch/cql_step.py). Target: >= 26 steps/s (1,000 steps in under 38 s).
 * Run: npx tsx bench/train-step.ts [seconds-per-measurement]
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import { Graph, op, mlp, ensembleMlp, adam, polyak, compileStep, tanhGaussian, Rng, type TrainingStep, type Feeds, type Tensor } from "../src/nn/index.js";
import { loadNote } from "./load.js";

const seconds = Number(process.argv[2] ?? 2);
const RECORDED_TORCH_BEST = 750;
/** PyTorch 1 thread (~1 CPU-second per second), recorded in the engine experiment. */
const RECORDED_TORCH_1T = 690;

function mlpStep(): Graph {
  const g = new Graph({ seed: 42 });
  const x = g.input("x", [256, 17]);
  const y = g.input("y", [256, 6]);
  const net = mlp(g, "net", [17, 256, 256, 6]);
  const loss = op.mean(op.square(op.sub(net.apply(x), y)));
  adam(loss, net.params, { lr: 1e-3 });
  g.output("loss", loss);
  return g;
}

/** The 16 minibatches stacked for one 16-steps-per-call (ONNX Loop) run. */
function stackFeeds(feeds: Feeds[]): Feeds[] {
  const out: Record<string, Float32Array> = {};
  for (const name of Object.keys(feeds[0]!)) {
    const parts = feeds.map((f) => f[name] as Float32Array);
    out[name] = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.forEach((p, k) => out[name]!.set(p, k * p.length));
  }
  return [out];
}

/** Three 17-256-256-6 MLPs trained in one graph (the engine experiment's "critic x2 + actor shape"). */
function threeMlpStep(): Graph {
  const g = new Graph({ seed: 43 });
  const x = g.input("x", [256, 17]);
  const y = g.input("y", [256, 6]);
  const nets = [0, 1, 2].map((k) => mlp(g, `net${k}`, [17, 256, 256, 6]));
  const loss = nets.map((net) => op.mean(op.square(op.sub(net.apply(x), y)))).reduce((a, b) => op.add(a, b));
  adam(loss, nets.flatMap((net) => net.params), { lr: 1e-3 });
  g.output("loss", loss);
  return g;
}

function mlpFeeds(rng: Rng): Feeds[] {
  return Array.from({ length: 16 }, () => ({
    x: rng.fillUniform(new Float32Array(256 * 17), -1, 1),
    y: rng.fillUniform(new Float32Array(256 * 6), -1, 1),
  }));
}

const B = 256, OBS = 17, ACT = 6, N = 10;

function cqlStep(): Graph {
  const g = new Graph({ seed: 7 });
  const obs = g.input("obs", [B, OBS]);
  const act = g.input("act", [B, ACT]);
  const reward = g.input("reward", [B]);
  const done = g.input("done", [B]);
  const nextObs = g.input("next_obs", [B, OBS]);
  const noiseNext = g.input("noise_next", [B, ACT]);
  const noisePi = g.input("noise_pi", [B, ACT]);
  const noiseSampled = g.input("noise_sampled", [N * B, ACT]);
  const randomActs = g.input("random_actions", [N * B, ACT]);
  const critic = ensembleMlp(g, "critic", 2, [OBS + ACT, 256, 256, 1]);
  const target = ensembleMlp(g, "critic_target", 2, [OBS + ACT, 256, 256, 1], { copyOf: critic });
  const actor = mlp(g, "actor", [OBS, 256, 256, 2 * ACT]);
  const policy = (o: Tensor, noise: Tensor) => {
    const out = actor.apply(o);
    return tanhGaussian(op.slice(out, 1, 0, ACT), op.clip(op.slice(out, 1, ACT, 2 * ACT), -20, 2), noise);
  };
  const q = (net: typeof critic, o: Tensor, a: Tensor, rows: number) => op.reshape(net.apply(op.concat([o, a], 1)), [2, rows]);
  const next = policy(nextObs, noiseNext);
  const nextV = op.sub(op.min(q(target, nextObs, next.action, B), [0]), op.mul(0.2, next.logProb));
  const y = op.stopGradient(op.add(reward, op.mul(op.mul(0.99, op.sub(1, done)), nextV)));
  const qData = q(critic, obs, act, B);
  const td = op.mean(op.square(op.sub(qData, y)));
  // CQL(H): logsumexp over random and policy actions with importance weights (Kumar et al. 2020, eq. 4 / app. F).
  const tiledObs = op.reshape(op.broadcastTo(op.expandDims(obs, 0), [N, B, OBS]), [N * B, OBS]);
  const sampled = policy(tiledObs, noiseSampled);
  const qRand = op.sub(op.reshape(q(critic, tiledObs, randomActs, N * B), [2, N, B]), ACT * Math.log(0.5));
  const qPi = op.sub(op.reshape(q(critic, tiledObs, sampled.action, N * B), [2, N, B]), op.stopGradient(op.reshape(sampled.logProb, [1, N, B])));
  const cql = op.mean(op.sub(op.logSumExp(op.concat([qRand, qPi], 1), [1]), qData));
  const criticLoss = op.add(td, op.mul(5, cql));
  const pi = policy(obs, noisePi);
  const actorLoss = op.mean(op.sub(op.mul(0.2, pi.logProb), op.min(q(critic, obs, pi.action, B), [0])));
  adam(criticLoss, critic.params, { lr: 3e-4, name: "critic_opt" });
  adam(actorLoss, actor.params, { lr: 1e-4, name: "actor_opt" });
  polyak(target.params, critic.params, 0.005);
  g.output("critic_loss", criticLoss);
  g.output("actor_loss", actorLoss);
  return g;
}

function cqlFeeds(rng: Rng): Feeds[] {
  return Array.from({ length: 4 }, () => ({
    obs: rng.fillNormal(new Float32Array(B * OBS)),
    act: rng.fillUniform(new Float32Array(B * ACT), -1, 1),
    reward: rng.fillNormal(new Float32Array(B)),
    done: new Float32Array(B),
    next_obs: rng.fillNormal(new Float32Array(B * OBS)),
    noise_next: rng.fillNormal(new Float32Array(B * ACT)),
    noise_pi: rng.fillNormal(new Float32Array(B * ACT)),
    noise_sampled: rng.fillNormal(new Float32Array(N * B * ACT)),
    random_actions: rng.fillUniform(new Float32Array(N * B * ACT), -1, 1),
  }));
}

async function measure(step: TrainingStep, feeds: Feeds[]): Promise<{ stepsPerSec: number; stepsPerCpuSec: number }> {
  const perCall = step.stepsPerCall;
  for (let i = 0; i < Math.ceil(20 / perCall); i++) await step.run(feeds[i % feeds.length]!);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await step.run(feeds[n % feeds.length]!);
    n++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { stepsPerSec: (n * perCall) / wall, stepsPerCpuSec: (n * perCall) / ((cpu.user + cpu.system) / 1e6) };
}

interface TorchFigure {
  threads: number;
  stepsPerSec: number;
  stepsPerCpuSec: number;
  version: string;
}

const torchAvailable = spawnSync("/usr/bin/python3", ["-c", "import torch"], { encoding: "utf8" }).status === 0;

/** Run one of bench/torch/*.py with OMP_NUM_THREADS=threads; undefined (with a message) when it fails. */
function runTorch(script: "mlp_step.py" | "cql_step.py", threads: number, duration: number): TorchFigure | undefined {
  if (!torchAvailable) return undefined;
  const path = fileURLToPath(new URL(`./torch/${script}`, import.meta.url));
  const run = spawnSync("/usr/bin/python3", [path, String(threads), String(duration)], {
    encoding: "utf8",
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
  });
  try {
    const parsed = JSON.parse(run.stdout.trim().split("\n").pop()!) as { torch: string; blas: string; stepsPerSec: number; stepsPerCpuSec: number };
    const blas = parsed.blas.includes("openblas") ? "OpenBLAS" : `reference BLAS ${parsed.blas} (slow: apt-get install libopenblas0-pthread)`;
    return { threads, stepsPerSec: parsed.stepsPerSec, stepsPerCpuSec: parsed.stepsPerCpuSec, version: `${parsed.torch} (${blas})` };
  } catch {
    console.log(`PyTorch ${script} (${threads} thread(s)) failed: ${run.stderr.trim().split("\n").pop()}`);
    return undefined;
  }
}

const rng = new Rng(1);
const feeds = mlpFeeds(rng);
const results: Record<string, { stepsPerSec: number; stepsPerCpuSec: number }> = {};
for (const threads of [1, 2]) {
  for (const stepsPerCall of [1, 16]) {
    const step = await compileStep(mlpStep(), { threads, stepsPerCall });
    results[`mlp-t${threads}-k${stepsPerCall}`] = await measure(step, stepsPerCall === 1 ? feeds : stackFeeds(feeds));
    await step.dispose();
  }
}
{
  const step = await compileStep(mlpStep(), { threads: 2, spinWait: true });
  results["mlp-t2-k1-spin"] = await measure(step, feeds);
  await step.dispose();
}
const torchRuns = [1, 2].map((threads) => runTorch("mlp_step.py", threads, seconds)).filter((r): r is TorchFigure => r !== undefined);
const best = Math.max(...Object.values(results).map((r) => r.stepsPerSec));
const bestPerCpu = Math.max(...Object.values(results).map((r) => r.stepsPerCpuSec));
console.log(`${loadNote()}; figures are noisy when other work shares the cores`);
for (const [key, r] of Object.entries(results)) {
  const [, t, k, spin] = key.split("-");
  const how = (k === "k1" ? "1 step/call" : `${k!.slice(1)} steps/call (ONNX Loop)`) + (spin ? ", spin-waiting threads" : "");
  console.log(`MLP 17-256-256-6 b256 MSE Adam, ORT ${t!.slice(1)} thread(s), ${how}: ${r.stepsPerSec.toFixed(0)} steps/s, ${r.stepsPerCpuSec.toFixed(0)} steps/CPU-s`);
}
if (torchRuns.length === 0) {
  console.log(`PyTorch not measured (${torchAvailable ? "its runs failed" : "/usr/bin/python3 cannot import torch; skipped"}); the figure recorded in issue 3 (~${RECORDED_TORCH_BEST} steps/s best, ~${RECORDED_TORCH_1T} on 1 thread) stands in`);
}
for (const r of torchRuns) {
  console.log(`MLP 17-256-256-6 b256 MSE Adam, PyTorch ${r.version} ${r.threads} thread(s) (OMP_NUM_THREADS=${r.threads}), this run: ${r.stepsPerSec.toFixed(0)} steps/s, ${r.stepsPerCpuSec.toFixed(0)} steps/CPU-s`);
}
const torchBest = torchRuns.length > 0 ? Math.max(...torchRuns.map((r) => r.stepsPerSec)) : RECORDED_TORCH_BEST;
const torchBestPerCpu = torchRuns.length > 0 ? Math.max(...torchRuns.map((r) => r.stepsPerCpuSec)) : RECORDED_TORCH_1T;
const source = torchRuns.length > 0 ? "measured in this run" : "recorded";
console.log(`wall: best ORT ${best.toFixed(0)} steps/s vs target >= ${(2 * torchBest).toFixed(0)} (2x PyTorch's best, ${source}): ratio ${(best / torchBest).toFixed(2)}x ${best >= 2 * torchBest ? "PASS" : "MISS"} (the two were timed at different moments; under load the per-CPU-second ratio below is the like-with-like figure)`);
// Under load, wall-clock rates mostly measure the other tenants; CPU-normalised rates are steadier.
console.log(`per CPU-second: best ORT ${bestPerCpu.toFixed(0)} vs best PyTorch ${torchBestPerCpu.toFixed(0)} steps/CPU-s (${source}): ${(bestPerCpu / torchBestPerCpu).toFixed(2)}x (supplementary)`);

{
  const step = await compileStep(threeMlpStep(), { threads: 1 });
  const r = await measure(step, feeds);
  console.log(`3 MLPs 17-256-256-6 in one graph (experiment's critic x2 + actor shape), ORT 1 thread: ${r.stepsPerSec.toFixed(0)} steps/s, ${r.stepsPerCpuSec.toFixed(0)} steps/CPU-s (recorded in the experiment: PyTorch ~250, ORT ~400)`);
  await step.dispose();
}

// The CQL-shaped step needs >= 26 steps/s (1,000 steps in under 38 s; d3rlpy: 115 s per 1,000).
const CQL_TARGET = 1000 / 38;
const cqlData = cqlFeeds(rng);
const cqlOrt: Array<{ stepsPerSec: number; stepsPerCpuSec: number }> = [];
for (const threads of [1, 2]) {
  const started = performance.now();
  const step = await compileStep(cqlStep(), { threads });
  const compileMs = performance.now() - started;
  const r = await measure(step, cqlData);
  cqlOrt.push(r);
  console.log(`CQL-shaped step (twin critics 2x256, actor 2x256, targets, 10+10 sampled actions), ORT ${threads} thread(s): ${r.stepsPerSec.toFixed(1)} steps/s, ${r.stepsPerCpuSec.toFixed(1)} steps/CPU-s (compile ${compileMs.toFixed(0)} ms)`);
  await step.dispose();
}
const cqlTorch = [1, 2].map((threads) => runTorch("cql_step.py", threads, Math.max(seconds, 3))).filter((r): r is TorchFigure => r !== undefined);
for (const r of cqlTorch) {
  console.log(`CQL-shaped step, PyTorch ${r.version} ${r.threads} thread(s), this run: ${r.stepsPerSec.toFixed(1)} steps/s, ${r.stepsPerCpuSec.toFixed(1)} steps/CPU-s`);
}
{
  const bestWall = Math.max(...cqlOrt.map((r) => r.stepsPerSec));
  const bestCpu = Math.max(...cqlOrt.map((r) => r.stepsPerCpuSec));
  console.log(`CQL-shaped step: best ORT ${bestWall.toFixed(1)} steps/s vs target >= ${CQL_TARGET.toFixed(1)} ${bestWall >= CQL_TARGET ? "PASS" : "MISS"}; per CPU-second ${bestCpu.toFixed(1)} ${bestCpu >= CQL_TARGET ? "PASS" : "MISS"} (what one uncontended core would give on 1 thread)`);
  if (cqlTorch.length > 0) {
    const torchWall = Math.max(...cqlTorch.map((r) => r.stepsPerSec));
    const torchCpu = Math.max(...cqlTorch.map((r) => r.stepsPerCpuSec));
    console.log(`CQL-shaped step vs PyTorch (this run): per CPU-second ${(bestCpu / torchCpu).toFixed(2)}x; wall ${(bestWall / torchWall).toFixed(2)}x (timed at different moments, noisy)`);
  }
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
