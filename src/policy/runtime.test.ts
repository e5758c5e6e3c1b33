import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Graph, exportOnnx, op } from "../nn/index.js";
import type { ActionSpace } from "../data/transitions.js";
import { writePolicyArtifact, ONNX_FILE, MANIFEST_FILE } from "./artifact.js";
import type { ManifestDraft } from "./artifact.js";
import { loadPolicy } from "./runtime.js";
import { PolicyError } from "./errors.js";

/** A linear model out = obs @ W + b with the given weights, exported through nn as a standalone ONNX policy. */
function linearModel(weights: number[][], bias: number[], outputName: string): Uint8Array {
  const inDim = weights.length;
  const outDim = bias.length;
  const g = new Graph({ seed: 0 });
  const obs = g.input("obs", [1, inDim]);
  const w = g.param("w", [inDim, outDim], Float32Array.from(weights.flat()));
  const b = g.param("b", [outDim], Float32Array.from(bias));
  const out = op.add(op.matmul(obs, w), b);
  return exportOnnx(g, { inputs: { obs }, outputs: { [outputName]: out }, params: g.initialParams() });
}

function draft(actionSpace: ActionSpace, dim: number, output: string, outputKind: ManifestDraft["onnx"]["outputKind"], scaler = { mean: [1, -1], std: [2, 0.5] }): ManifestDraft {
  return {
    algorithm: "test",
    actionSpace,
    observation: { dim, featureNames: ["a", "b"].slice(0, dim), scaler, support: { min: [-5, -5], max: [5, 5] } },
    onnx: { output, outputKind },
    config: {},
    seed: 0,
    codeVersion: "test",
    metrics: {},
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "hindcast-policy-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Discrete fixture: Q = z @ W + b on standardised z = ((x0 - 1) / 2, (x1 + 1) / 0.5).
const W = [
  [1, -1, 0],
  [0, 2, 1],
];
const B = [0, 0, 0.5];
function referenceQ(x: [number, number]): number[] {
  const z = [(x[0] - 1) / 2, (x[1] + 1) / 0.5];
  return [0, 1, 2].map((a) => z[0] * W[0][a] + z[1] * W[1][a] + B[a]);
}

test("discrete policy: greedy action, epsilon and softmax probabilities match a hand computation", async () => {
  await withDir(async (dir) => {
    await writePolicyArtifact(dir, linearModel(W, B, "q"), draft({ kind: "discrete", n: 3 }, 2, "q", "q"));
    const x: [number, number] = [3, -0.5]; // z = (1, 1): Q = (1, 1, 1.5)
    const q = referenceQ(x);
    assert.deepEqual(q, [1, 1, 1.5]);

    const greedy = await loadPolicy(dir);
    assert.equal(await greedy.act(Float32Array.from(x)), 2);
    assert.deepEqual(Array.from(await greedy.actionProbabilities(Float32Array.from(x))), [0, 0, 1]);
    await greedy.close();

    const epsilon = await loadPolicy(dir, { exploration: { kind: "epsilon", epsilon: 0.3 } });
    const probs = await epsilon.actionProbabilities(Float32Array.from(x));
    [0.1, 0.1, 0.8].forEach((p, a) => assert.ok(Math.abs(probs[a] - p) < 1e-12, `epsilon prob ${a}`));
    await epsilon.close();

    const softmax = await loadPolicy(dir, { exploration: { kind: "softmax", temperature: 0.5 } });
    const batch = Float32Array.from([...x, 1, -1]); // second row z = (0, 0): Q = (0, 0, 0.5)
    const rows = await softmax.actionProbabilitiesBatch(batch);
    const expected = [q, referenceQ([1, -1])].flatMap((values) => {
      const e = values.map((v) => Math.exp(v / 0.5));
      const total = e.reduce((s, v) => s + v, 0);
      return e.map((v) => v / total);
    });
    expected.forEach((p, i) => assert.ok(Math.abs(rows[i] - p) < 1e-6, `softmax prob ${i}: ${rows[i]} vs ${p}`));
    assert.deepEqual(Array.from((await softmax.actBatch(batch)) as Int32Array).every((a) => a >= 0 && a < 3), true);
    await softmax.close();
  });
});

test("wrong observation shape and non-finite values are refused with coded errors", async () => {
  await withDir(async (dir) => {
    await writePolicyArtifact(dir, linearModel(W, B, "q"), draft({ kind: "discrete", n: 3 }, 2, "q", "q"));
    const policy = await loadPolicy(dir);
    await assert.rejects(policy.act(new Float32Array([1, 2, 3])), (e: unknown) => e instanceof PolicyError && e.code === "obs_shape_mismatch");
    await assert.rejects(policy.actBatch(new Float32Array([1, 2, 3])), (e: unknown) => e instanceof PolicyError && e.code === "obs_shape_mismatch");
    await assert.rejects(policy.act(new Float32Array([1, NaN])), (e: unknown) => e instanceof PolicyError && e.code === "obs_not_finite" && e.details.index === 1);
    await assert.rejects(policy.actBatch(new Float32Array([1, 2, Infinity, 0])), (e: unknown) => e instanceof PolicyError && e.code === "obs_not_finite" && e.details.row === 1);
    await policy.close();
  });
});

test("a tampered ONNX file fails the sha256 check; a broken manifest is refused", async () => {
  await withDir(async (dir) => {
    await writePolicyArtifact(dir, linearModel(W, B, "q"), draft({ kind: "discrete", n: 3 }, 2, "q", "q"));
    const bytes = await readFile(join(dir, ONNX_FILE));
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(join(dir, ONNX_FILE), bytes);
    await assert.rejects(loadPolicy(dir), (e: unknown) => e instanceof PolicyError && e.code === "policy_integrity_mismatch");

    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8"));
    manifest.observation.scaler.std = [1];
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    await assert.rejects(loadPolicy(dir), (e: unknown) => e instanceof PolicyError && e.code === "policy_manifest_invalid" && e.details.field === "observation.scaler.std");
    await assert.rejects(loadPolicy(join(dir, "missing")), (e: unknown) => e instanceof PolicyError && e.code === "policy_artifact_missing");
  });
});

test("continuous Gaussian policy: mean action in [low, high] and log-density by change of variables", async () => {
  await withDir(async (dir) => {
    // outputs [mean, logStd] = z @ [[0.5, 0], [0, 0.1]] + [0, -0.5], identity scaler, box [0, 4].
    const model = linearModel([[0.5, 0], [0, 0.1]], [0, -0.5], "gaussian");
    const identity = { mean: [0, 0], std: [1, 1] };
    await writePolicyArtifact(dir, model, draft({ kind: "continuous", low: [0], high: [4] }, 2, "gaussian", "gaussian", identity));
    const x = Float32Array.from([1, 2]);
    const mean = 0.5;
    const logStd = 0.2 - 0.5;

    const greedy = await loadPolicy(dir);
    const action = (await greedy.act(x)) as Float32Array;
    assert.ok(Math.abs(action[0] - (2 + 2 * Math.tanh(mean))) < 1e-5);
    await assert.rejects(greedy.logDensity(x, Float32Array.from([1])), (e: unknown) => e instanceof PolicyError && e.code === "exploration_unsupported");
    await greedy.close();

    const stochastic = await loadPolicy(dir, { exploration: { kind: "gaussian" } });
    const a = 3; // unit u = (3 - 0) / 2 - 1 = 0.5
    const u = 0.5;
    const z = 0.5 * Math.log((1 + u) / (1 - u));
    const std = Math.exp(logStd);
    const expected = -0.5 * ((z - mean) / std) ** 2 - Math.log(std) - 0.5 * Math.log(2 * Math.PI) - Math.log(1 - u * u) - Math.log(2);
    const got = await stochastic.logDensity(x, Float32Array.from([a]));
    assert.ok(Math.abs(got - expected) < 1e-5, `${got} vs ${expected}`);
    const sampled = (await stochastic.act(x)) as Float32Array;
    assert.ok(sampled[0] >= 0 && sampled[0] <= 4);
    await stochastic.close();
  });
});

test("deterministic continuous policy maps [-1, 1] to the action box and supports fixed-std exploration densities", async () => {
  await withDir(async (dir) => {
    const identity = { mean: [0, 0], std: [1, 1] };
    await writePolicyArtifact(dir, linearModel([[0.25], [0.25]], [0], "action"), draft({ kind: "continuous", low: [-2], high: [6] }, 2, "action", "action", identity));
    const x = Float32Array.from([1, 1]); // network output 0.5 -> -2 + 0.75 * 8 = 4
    const policy = await loadPolicy(dir, { exploration: { kind: "gaussian", std: 0.1 } });
    const densities = await policy.logDensityBatch(Float32Array.from([1, 1, 1, 1]), Float32Array.from([4, 4.4]));
    // In unit space: N(0.5; 0.5, 0.1) and N(0.6; 0.5, 0.1); the box scale 4 divides the density.
    const base = -Math.log(0.1) - 0.5 * Math.log(2 * Math.PI) - Math.log(4);
    assert.ok(Math.abs(densities[0] - base) < 1e-5);
    assert.ok(Math.abs(densities[1] - (base - 0.5)) < 1e-4);
    await policy.close();
    const greedy = await loadPolicy(dir);
    assert.ok(Math.abs(((await greedy.act(x)) as Float32Array)[0] - 4) < 1e-5);
    await greedy.close();
  });
});
