/**
 * Training-step throughput of the nn engine on ONNX Runtime (issue 3).
 * - Reference workload: MLP 17-256-256-6 ReLU, batch 256, MSE, Adam: steps/s on 1 and 2 threads, steps per CPU-second.
 *   Target: at least 2x PyTorch's best wall-clock rate. PyTorch runs in the same process tree when
 *   `/usr/bin/python3 -c "import torch"` works (OMP_NUM_THREADS=1, as the engine experiment found best); otherwise
 *   the figure recorded in issue 3 (PyTorch 1.13 on this kind of machine, best setting ~750 steps/s) stands in.
 * - CQL-shaped step: twin critics 2x(256,256) as one ensemble, tanh-Gaussian actor (256,256), target critics, CQL
 *   logsumexp over 10 random + 10 policy actions, critic and actor Adam and Polyak in one graph.
 * Run: npx tsx bench/train-step.ts [seconds-per-measurement]
 */
import { spawnSync } from "node:child_process";
import { Graph, op, mlp, ensembleMlp, adam, polyak, compileStep, tanhGaussian, Rng, type TrainingStep, type Feeds, type Tensor } from "../src/nn/index.js";

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

function torchBaseline(): { rate: number; source: string } {
  const probe = spawnSync("/usr/bin/python3", ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) {
    return { rate: RECORDED_TORCH_BEST, source: `PyTorch not installed here (skipped); using the figure recorded in issue 3 (~${RECORDED_TORCH_BEST} steps/s)` };
  }
  const script = `
import time, torch
torch.set_num_threads(1); torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(17,256), torch.nn.ReLU(), torch.nn.Linear(256,256), torch.nn.ReLU(), torch.nn.Linear(256,6))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
xs = [torch.rand(256,17)*2-1 for _ in range(16)]; ys = [torch.rand(256,6)*2-1 for _ in range(16)]
def step(i):
    opt.zero_grad(set_to_none=True); loss = torch.nn.functional.mse_loss(net(xs[i%16]), ys[i%16]); loss.backward(); opt.step()
for i in range(30): step(i)
t0 = time.perf_counter(); n = 0
while time.perf_counter() - t0 < ${seconds}: step(n); n += 1
print(n / (time.perf_counter() - t0))`;
  const run = spawnSync("/usr/bin/python3", ["-c", script], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" } });
  const rate = Number(run.stdout.trim());
  if (run.status !== 0 || !Number.isFinite(rate)) return { rate: RECORDED_TORCH_BEST, source: `PyTorch run failed (${run.stderr.trim().split("\n").pop()}); using the recorded figure` };
  return { rate, source: "PyTorch, 1 thread (OMP_NUM_THREADS=1), measured in this run" };
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
const torch = torchBaseline();
const best = Math.max(...Object.values(results).map((r) => r.stepsPerSec));
console.log(`measured under load (2 shared cores, load average ${(await import("node:os")).loadavg()[0]!.toFixed(1)}); figures are noisy`);
for (const [key, r] of Object.entries(results)) {
  const [, t, k, spin] = key.split("-");
  const how = (k === "k1" ? "1 step/call" : `${k!.slice(1)} steps/call (ONNX Loop)`) + (spin ? ", spin-waiting threads" : "");
  console.log(`MLP 17-256-256-6 b256 MSE Adam, ORT ${t!.slice(1)} thread(s), ${how}: ${r.stepsPerSec.toFixed(0)} steps/s, ${r.stepsPerCpuSec.toFixed(0)} steps/CPU-s`);
}
console.log(`PyTorch baseline: ${torch.rate.toFixed(0)} steps/s (${torch.source})`);
const target = 2 * torch.rate;
console.log(`best ORT ${best.toFixed(0)} steps/s vs target >= ${target.toFixed(0)} (2x PyTorch): ratio ${(best / torch.rate).toFixed(2)}x ${best >= target ? "PASS" : "MISS"}`);
// Under load, wall-clock rates mostly measure the other tenants; CPU-normalised rates are steadier.
const bestPerCpu = Math.max(...Object.values(results).map((r) => r.stepsPerCpuSec));
const torchPerCpu = torch.source.startsWith("PyTorch not") || torch.source.includes("recorded") ? RECORDED_TORCH_1T : torch.rate;
console.log(`per CPU-second: best ORT ${bestPerCpu.toFixed(0)} steps/CPU-s vs PyTorch 1 thread ~${torchPerCpu.toFixed(0)} steps/CPU-s: ${(bestPerCpu / torchPerCpu).toFixed(2)}x (supplementary)`);

{
  const step = await compileStep(threeMlpStep(), { threads: 1 });
  const r = await measure(step, feeds);
  console.log(`3 MLPs 17-256-256-6 in one graph (experiment's critic x2 + actor shape), ORT 1 thread: ${r.stepsPerSec.toFixed(0)} steps/s, ${r.stepsPerCpuSec.toFixed(0)} steps/CPU-s (recorded in the experiment: PyTorch ~250, ORT ~400)`);
  await step.dispose();
}

const cqlData = cqlFeeds(rng);
for (const threads of [1, 2]) {
  const started = performance.now();
  const step = await compileStep(cqlStep(), { threads });
  const compileMs = performance.now() - started;
  const r = await measure(step, cqlData);
  console.log(`CQL-shaped step (twin critics 2x256, actor 2x256, targets, 10+10 sampled actions), ORT ${threads} thread(s): ${r.stepsPerSec.toFixed(0)} steps/s, ${r.stepsPerCpuSec.toFixed(0)} steps/CPU-s (compile ${compileMs.toFixed(0)} ms)`);
  await step.dispose();
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
