import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "../../data/ingest.js";
import { writeColumns } from "../../data/write-columns.js";
import { parseBehavior } from "../../envs/behavior.js";
import { heuristicController, makeEnv } from "../../envs/registry.js";
import { datasetColumns, datasetSchemaFor, simulateDataset } from "../../envs/simulate.js";
import { evaluatePolicy } from "../../ope/evaluate.js";

const root = join(import.meta.dirname, "..", "..", "..");

function hindcast(args: string[]) {
  const result = spawnSync(process.execPath, [join(root, "bin", "hindcast.js"), ...args], {
    encoding: "utf8",
    env: { ...process.env, HINDCAST_FROM_SOURCE: "1" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("hindcast ope and select on a stored dataset agree with the library", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-ope-"));
  try {
    // Logged CartPole data plus a column holding a second policy's probability of each logged action.
    const dataset = simulateDataset({ env: "CartPole-v1", behavior: "eps-greedy(heuristic, 0.6)", episodes: 60, seed: 4, maxEpisodeSteps: 30 });
    const t = dataset.transitions;
    const env = makeEnv("CartPole-v1", { maxEpisodeSteps: 30 });
    const target = parseBehavior("eps-greedy(heuristic, 0.3)", env, heuristicController("CartPole-v1"));
    const targetProb = new Float64Array(t.size);
    const probabilities = new Float64Array(2);
    for (let i = 0; i < t.size; i++) {
      if (target.kind !== "discrete") throw new Error("discrete expected");
      target.probabilities(t.observations.subarray(i * t.observationDim, (i + 1) * t.observationDim), probabilities);
      targetProb[i] = probabilities[(t.actions as Int32Array)[i]];
    }
    const file = join(dir, "logs.parquet");
    await writeColumns(file, { ...datasetColumns(dataset), target_prob: targetProb });
    const schema = datasetSchemaFor(dataset);
    schema.metadata = [...(schema.metadata ?? []), "target_prob"];
    const store = join(dir, "store");
    await ingest({ files: [file], schema: schema as Parameters<typeof ingest>[0]["schema"], dataset: "cp", store });

    const expected = await evaluatePolicy({ transitions: t, targetProb, estimators: ["is", "wis", "wpdis"], gamma: 0.95, bootstrap: { resamples: 50, seed: 1 } });

    const byColumn = hindcast(["ope", "--dataset", "cp@1", "--store", store, "--target-prob-column", "target_prob", "--estimators", "is,wis,wpdis", "--gamma", "0.95", "--bootstrap", "50", "--seed", "1", "--json"]);
    assert.equal(byColumn.status, 0, byColumn.stderr);
    const report = JSON.parse(byColumn.stdout) as typeof expected;
    report.estimates.forEach((estimate, k) => {
      assert.ok(Math.abs(estimate.value - expected.estimates[k].value) < 1e-9, `${estimate.estimator}: ${estimate.value} vs ${expected.estimates[k].value}`);
      assert.ok(Math.abs((estimate.interval?.lower ?? 0) - (expected.estimates[k].interval?.lower ?? 1)) < 1e-9);
    });

    const byPolicy = hindcast(["ope", "--dataset", "cp@1", "--store", store, "--policy", "eps-greedy(heuristic, 0.3)", "--env", "CartPole-v1", "--estimators", "wis", "--gamma", "0.95"]);
    assert.equal(byPolicy.status, 0, byPolicy.stderr);
    assert.match(byPolicy.stdout, /estimator\s+value/);
    const wisValue = expected.estimates[1].value.toFixed(4);
    assert.ok(byPolicy.stdout.includes(wisValue), `${byPolicy.stdout} lacks ${wisValue}`);

    const selection = hindcast([
      "select", "--dataset", "cp@1", "--store", store, "--env", "CartPole-v1",
      "--policies", "eps-greedy(heuristic, 0.3);eps-greedy(heuristic, 0.95)", "--by", "value", "--baseline", "behavior", "--estimator", "wpdis", "--gamma", "0.95",
    ]);
    assert.equal(selection.status, 0, selection.stderr);
    assert.match(selection.stdout, /1\s+eps-greedy\(heuristic, 0\.3\)/);
    assert.match(selection.stdout, /baseline/);

    // --refit-model: the FQE interval refits the model on each resample; FQE's value bounds come from the schema.
    const refit = hindcast([
      "ope", "--dataset", "cp@1", "--store", store, "--policy", "eps-greedy(heuristic, 0.3)", "--env", "CartPole-v1",
      "--estimators", "fqe", "--gamma", "0.95", "--bootstrap", "20", "--refit-model", "3", "--fqe-steps", "30", "--json",
    ]);
    assert.equal(refit.status, 0, refit.stderr);
    const refitReport = JSON.parse(refit.stdout) as typeof expected;
    assert.match(refitReport.estimates[0].interval?.method ?? "", /refit/);
    assert.match(refitReport.model ?? "", /from the declared reward range/);
    const refitUsage = hindcast(["ope", "--dataset", "cp@1", "--store", store, "--target-prob-column", "target_prob", "--refit-model", "3"]);
    assert.equal(refitUsage.status, 1);
    assert.match(refitUsage.stderr, /invalid_option: --refit-model needs --bootstrap B/);

    const usage = hindcast(["ope", "--dataset", "cp@1", "--store", store, "--estimators", "wis"]);
    assert.equal(usage.status, 1);
    assert.match(usage.stderr, /invalid_option: give exactly one of --policy and --target-prob-column/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
