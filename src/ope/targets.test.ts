import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Transitions } from "../data/transitions.js";
import { Graph, exportOnnx, mlp } from "../nn/index.js";
import { writePolicyArtifact } from "../policy/artifact.js";
import { evaluatePolicy } from "./evaluate.js";
import { resolveTargetPolicy } from "./targets.js";

/** A two-action "logits" policy artifact whose weights are all zero: every logit is 0. */
async function zeroLogitPolicy(dir: string): Promise<void> {
  const g = new Graph({ seed: 1 });
  const obs = g.input("obs", [4, 2]);
  const logits = mlp(g, "pi", [2, 2]).apply(obs);
  const model = exportOnnx(g, { inputs: { obs }, outputs: { logits }, params: new Float32Array(g.paramTotal) });
  await writePolicyArtifact(dir, model, {
    algorithm: "test",
    actionSpace: { kind: "discrete", n: 2 },
    observation: { dim: 2, featureNames: ["x", "y"], scaler: { mean: [0, 0], std: [1, 1] }, support: { min: [-10, -10], max: [10, 10] } },
    onnx: { output: "logits", outputKind: "logits" },
    config: {},
    seed: 1,
    codeVersion: "test",
    metrics: {},
  });
}

function logs(): Transitions {
  // Two one-step episodes: action 1 with reward 4 (behaviour 0.8), action 0 with reward 1 (behaviour 0.5).
  return {
    size: 2,
    observationDim: 2,
    featureNames: ["x", "y"],
    actionSpace: { kind: "discrete", n: 2 },
    observations: new Float32Array([0.5, -1, 2, 3]),
    nextObservations: new Float32Array(4),
    actions: new Int32Array([1, 0]),
    rewards: new Float32Array([4, 1]),
    terminals: new Uint8Array([1, 1]),
    truncations: new Uint8Array(2),
    behaviorProb: new Float64Array([0.8, 0.5]),
    episodeStarts: new Int32Array([0, 1, 2]),
    steps: new Int32Array(2),
  };
}

test("a policy artifact is a target: softmax over equal logits is uniform, greedy takes action 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-ope-policy-"));
  try {
    await zeroLogitPolicy(dir);
    const transitions = logs();
    const softmax = await resolveTargetPolicy(dir, { actionSpace: transitions.actionSpace, observationDim: 2, exploration: { kind: "softmax", temperature: 1 } });
    const greedy = await resolveTargetPolicy(dir, { actionSpace: transitions.actionSpace, observationDim: 2, exploration: { kind: "greedy" } });
    try {
      assert.equal(softmax.source, "artifact");
      // Uniform target: weights 0.5/0.8 and 0.5/0.5; IS = (0.625 * 4 + 1 * 1) / 2 = 1.75.
      const uniform = await evaluatePolicy({ transitions, policy: softmax, estimators: ["is"], gamma: 1 });
      assert.ok(Math.abs(uniform.estimates[0].value - 1.75) < 1e-6, String(uniform.estimates[0].value));
      // Greedy target takes action 0: weights 0 and 1 / 0.5 = 2; IS = (0 + 2 * 1) / 2 = 1.
      const zero = await evaluatePolicy({ transitions, policy: greedy, estimators: ["is"], gamma: 1 });
      assert.ok(Math.abs(zero.estimates[0].value - 1) < 1e-6, String(zero.estimates[0].value));
    } finally {
      await softmax.close();
      await greedy.close();
    }
    await assert.rejects(
      resolveTargetPolicy(dir, { actionSpace: { kind: "discrete", n: 2 }, observationDim: 3 }),
      (error: { code?: string }) => error.code === "policy_dataset_mismatch",
    );
    await assert.rejects(
      resolveTargetPolicy("softmax(heuristic, 1)", { actionSpace: { kind: "discrete", n: 2 }, observationDim: 2 }),
      (error: { code?: string }) => error.code === "unknown_policy",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
