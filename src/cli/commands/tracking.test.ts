import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openRegistry } from "../../registry/index.js";

const bin = join(fileURLToPath(new URL("../../..", import.meta.url)), "bin", "hindcast.js");

test("from the command line: a tracked training run, its registered policy, recorded OPE and a gated promotion", async () => {
  const dir = await mkdtemp(join(tmpdir(), "hindcast-tracking-"));
  const registryUrl = `sqlite:${join(dir, "registry.db")}`;
  const env = { ...process.env, HINDCAST_FROM_SOURCE: "1", HINDCAST_STORE: join(dir, "store"), HINDCAST_REGISTRY: registryUrl };
  const hindcast = (args: string[]) => {
    const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, cwd: dir });
    assert.equal(result.status, 0, `hindcast ${args.join(" ")}\n${result.stderr}`);
    return result;
  };
  try {
    hindcast(["simulate", "--env", "CartPole-v1", "--behavior", "eps-greedy(heuristic, 0.3)", "--episodes", "40", "--seed", "1", "--out", "logs.parquet"]);
    hindcast(["ingest", "logs.parquet", "--schema", "logs.parquet.schema.json", "--dataset", "cartpole"]);
    hindcast(["split", "cartpole@1", "--by", "episode", "--fractions", "0.75,0.25", "--seed", "1"]);
    const trained = hindcast([
      "train", "--algo", "discrete_bc", "--dataset", "cartpole-train@1", "--steps", "100", "--seed", "3",
      "--set", "hiddenSizes=[16]", "--set", "batchSize=32", "--no-eval", "--no-progress", "--out", "run", "--register", "pole", "--json",
    ]);
    const summary = JSON.parse(trained.stdout) as { runId: number; registered: string };
    assert.equal(summary.registered, "pole@1");

    const registry = await openRegistry(registryUrl);
    try {
      const run = await registry.getRun(summary.runId);
      assert.equal(run.status, "succeeded");
      assert.deepEqual([run.algorithm, run.seed, run.dataset?.name, run.dataset?.version], ["discrete_bc", 3, "cartpole-train", 1]);
      assert.ok(isAbsolute(run.artifacts["policy"]!), run.artifacts["policy"]);
      assert.ok((await registry.getMetrics(run.id, "bc_loss")).length > 0, "metrics streamed into the run");
      const lineage = await registry.policyLineage("pole@1");
      assert.equal(lineage.run?.id, run.id);
      assert.equal(lineage.dataset?.name, "cartpole-train");

      // The shadow gate needs an OPE lower bound on a held-out split; `ope --record` puts it where the gate reads it.
      await assert.rejects(registry.promote("pole@1", "shadow"), /no OPE evaluation/);
    } finally {
      await registry.close();
    }
    hindcast([
      "ope", "--dataset", "cartpole-test@1", "--policy", join(dir, "run", "policy"), "--exploration", '{"kind":"epsilon","epsilon":0.3}',
      "--estimators", "wis,wpdis", "--gamma", "0.99", "--bootstrap", "50", "--seed", "1", "--record", "pole@1",
    ]);
    const after = await openRegistry(registryUrl);
    try {
      const evaluations = await after.listEvaluations("pole@1");
      assert.deepEqual(evaluations.map((e) => e.estimator).sort(), ["wis", "wpdis"]);
      assert.ok(evaluations.every((e) => e.split === "heldout" && e.dataset.name === "cartpole-test"));
      const baseline = await after.listEvaluations(null);
      assert.equal(baseline.length, 1);
      assert.equal(baseline[0]!.estimator, "logged-mean");
      // Whether the gate passes depends on the numbers; either way the registry decides and says why.
      const promoted = await after.promote("pole@1", "shadow").then(
        (p) => `promoted:${p.stage}`,
        (e: Error) => `refused:${e.message}`,
      );
      assert.match(promoted, /^promoted:shadow$|^refused:.*shadow\.opeLowerBound.*lower bound/);
    } finally {
      await after.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
