/**
 * Batch-1 policy inference latency (issue 3): the 17-256-256-6 MLP policy exported from a training graph with
 * exportOnnx, loaded by onnxruntime-node, one observation per call. Reference: ~9 us measured for this MLP in the
 * engine experiment. Run: npx tsx bench/inference.ts [calls]
 */
import * as ort from "onnxruntime-node";
import { Graph, op, mlp, adam, exportOnnx, Rng } from "../src/nn/index.js";
import { loadNote } from "./load.js";

const calls = Number(process.argv[2] ?? 20000);
/** The README's target: the policy's share of a decision stays well inside the in-process decision budget. */
const TARGET_P99_US = 50;

const g = new Graph({ seed: 3 });
const obs = g.input("obs", [256, 17]);
const target = g.input("target", [256, 6]);
const policy = mlp(g, "policy", [17, 256, 256, 6], { outputActivation: "tanh" });
const action = policy.apply(obs);
adam(op.mean(op.square(op.sub(action, target))), policy.params);
const model = exportOnnx(g, { inputs: { obs }, outputs: { action }, params: g.initialParams() });

const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all", executionMode: "sequential" });
const rng = new Rng(1);
const inputs = Array.from({ length: 64 }, () => new ort.Tensor("float32", rng.fillNormal(new Float32Array(17)) as Float32Array, [1, 17]));
for (let i = 0; i < 2000; i++) await session.run({ obs: inputs[i % 64]! });
const times = new Float64Array(calls);
for (let i = 0; i < calls; i++) {
  const t0 = process.hrtime.bigint();
  await session.run({ obs: inputs[i % 64]! });
  times[i] = Number(process.hrtime.bigint() - t0) / 1000;
}
times.sort();
const p50 = times[Math.floor(calls * 0.5)]!;
const p99 = times[Math.floor(calls * 0.99)]!;
console.log(`${loadNote()}; figures are noisy when other work shares the cores`);
console.log(`policy 17-256-256-6 batch-1 inference via onnxruntime-node (${calls} calls, ${(model.length / 1024).toFixed(0)} KB model): p50 ${p50.toFixed(1)} us, p99 ${p99.toFixed(1)} us (target p99 < ${TARGET_P99_US} us) ${p99 < TARGET_P99_US ? "PASS" : "MISS"}`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
await session.release();
