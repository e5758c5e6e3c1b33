import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createAlgorithm } from "../../algos/registry.js";
import { twoActionBandit } from "../../algos/toy-data.js";

const bin = join(fileURLToPath(new URL("../../..", import.meta.url)), "bin", "hindcast.js");

function hindcast(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, HINDCAST_FROM_SOURCE: "1" } });
}

test("hindcast predict runs an artifact and refuses a wrong shape or non-finite values with a clear error", async () => {
  const dir = await mkdtemp(join(tmpdir(), "hindcast-predict-"));
  try {
    const algorithm = createAlgorithm("discrete_bc", { assignments: ["hiddenSizes=[16]", "batchSize=32"] });
    await algorithm.fit(twoActionBandit(256, 1), { steps: 200, seed: 1 });
    await algorithm.save(dir);
    const expected = await algorithm.predict(Float32Array.from([0.7, 0.1]));
    await algorithm.releasePolicy();

    const ok = hindcast(["predict", "--policy", dir, "--obs", "0.7,0.1", "--json"]);
    assert.equal(ok.status, 0, ok.stderr);
    const result = JSON.parse(ok.stdout) as { action: number; probabilities: number[] };
    assert.equal(result.action, expected[0]);
    assert.equal(result.probabilities.length, 2);

    const short = hindcast(["predict", "--policy", dir, "--obs", "0.7"]);
    assert.equal(short.status, 1);
    assert.match(short.stderr, /obs_shape_mismatch: observation has 1 values, the policy expects 2/);

    const nan = hindcast(["predict", "--policy", dir, "--obs", "0.7,NaN"]);
    assert.equal(nan.status, 1);
    assert.match(nan.stderr, /obs_not_finite: .*x1 is not finite/);

    const text = hindcast(["predict", "--policy", dir, "--obs", "0.7,abc"]);
    assert.equal(text.status, 1);
    assert.match(text.stderr, /obs_not_finite: --obs field 2 \("abc"\) is not a number/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
