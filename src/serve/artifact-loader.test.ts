import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePolicyArtifact } from "../policy/artifact.js";
import { artifactLoader } from "./artifact-loader.js";
import { linearOnnx } from "./fixtures/onnx-linear.js";

test("an ONNX artifact serves scores, and a corrupted one is refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-artifact-"));
  try {
    // W columns are actions: q0 = x, q1 = y, q2 = -x - y + 0.5
    const bytes = linearOnnx(2, 3, [1, 0, -1, 0, 1, -1], [0, 0, 0.5]);
    const draft = {
      algorithm: "dqn",
      actionSpace: { kind: "discrete" as const, n: 3 },
      observation: {
        dim: 2,
        featureNames: ["x", "y"],
        scaler: { mean: [1, 0], std: [2, 1] },
        support: { min: [-5, -5], max: [5, 5] },
      },
      onnx: { output: "q", outputKind: "q" as const },
      config: {},
      seed: 1,
      codeVersion: "test",
      metrics: {},
    };
    await writePolicyArtifact(join(dir, "good"), bytes, draft);
    const policy = await artifactLoader()(join(dir, "good"));
    assert.equal(policy.featureNames.join(","), "x,y");
    assert.match(policy.version, /^dqn:[0-9a-f]{12}$/);
    const output = await policy.evaluate(Float32Array.from([3, 0.5]));
    assert.equal(output.kind, "discrete");
    // standardised obs: ((3 - 1) / 2, 0.5) = (1, 0.5); q = (1, 0.5, -1 - 0.5 + 0.5)
    const scores = Array.from((output as { scores: Float32Array }).scores);
    for (const [i, expected] of [1, 0.5, -1].entries()) assert.ok(Math.abs(scores[i] - expected) < 1e-6);
    await policy.dispose?.();

    await writePolicyArtifact(join(dir, "bad"), bytes, draft);
    const corrupted = Buffer.from(bytes);
    corrupted[corrupted.length - 1] ^= 0xff;
    writeFileSync(join(dir, "bad", "policy.onnx"), corrupted);
    await assert.rejects(artifactLoader()(join(dir, "bad")), /sha256/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
