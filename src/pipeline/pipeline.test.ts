import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { listVersions } from "../data/store.js";
import { openRegistry } from "../registry/open.js";
import { expandCandidates, parsePipeline, runPipeline, type PipelineInput } from "./pipeline.js";

const root = mkdtempSync(join(tmpdir(), "hindcast-pipeline-"));
after(() => rmSync(root, { recursive: true, force: true }));

function config(name: string, dir: string): PipelineInput {
  return {
    name,
    store: join(dir, "datasets"),
    registry: `sqlite:${join(dir, "registry.db")}`,
    workDir: join(dir, "work"),
    source: { simulate: { env: "autoscaling", behavior: "eps-greedy(heuristic, 0.2)", episodes: 30, seed: 3, corruptRows: 1 } },
    dataset: "logs",
    validation: { maxQuarantineFraction: 0.1 },
    split: { fractions: [0.7, 0.3], seed: 1 },
    algorithms: [{ name: "discrete_bc", steps: 400, seeds: [5], config: { hiddenSizes: [16], batchSize: 64 } }],
    ope: { bootstrap: 20, fqeSteps: 100 },
    promote: { policy: "scaler", deployment: "autoscaling", to: "registered" },
  };
}

const STEP_NAMES = ["source", "ingest", "split", "train:discrete_bc:s5", "ope:discrete_bc:s5", "select", "register"];

describe("pipeline", { timeout: 120_000 }, () => {
  it("expands sweeps and seeds into one candidate per combination", () => {
    const parsed = parsePipeline({
      ...config("grid", root),
      algorithms: [{ name: "discrete_cql", steps: 10, seeds: [1, 2], sweep: { alpha: [0.5, 1, 2], batchSize: [32, 64] } }],
    });
    const candidates = expandCandidates(parsed);
    assert.equal(candidates.length, 3 * 2 * 2);
    assert.equal(new Set(candidates.map((c) => c.label)).size, 12);
    assert.deepEqual(candidates[0], { label: 'discrete_cql[alpha=0.5,batchSize=32]:s1', algorithm: "discrete_cql", config: { alpha: 0.5, batchSize: 32 }, steps: 10, seed: 1 });
  });

  it("refuses an invalid file with the field named", () => {
    assert.throws(() => parsePipeline({ ...config("bad", root), split: { fractions: [0.8, -0.2] } }), (error: Error & { code?: string; details?: { field?: string } }) => {
      assert.equal(error.code, "invalid_pipeline");
      assert.equal(error.details?.field, "split.fractions.1");
      return true;
    });
  });

  it("fails the ingest step when more rows are quarantined than the validation policy allows", async () => {
    const dir = join(root, "strict");
    // 3 broken rows in 30 days of 288 rows: 3 whole days, 10% of the rows, against a 5% limit.
    const input: PipelineInput = { ...config("strict", dir), source: { simulate: { env: "autoscaling", behavior: "eps-greedy(heuristic, 0.2)", episodes: 30, seed: 3, corruptRows: 3 } }, validation: { maxQuarantineFraction: 0.05 } };
    await assert.rejects(runPipeline(parsePipeline(input), { codeVersion: "test" }), (error: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(error.code, "step_failed");
      assert.equal(error.details?.quarantined, 3 * 288);
      assert.equal(error.details?.read, 30 * 288);
      return true;
    });
    const registry = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    const steps = await registry.listSteps("strict");
    await registry.close();
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [["source", "succeeded"], ["ingest", "failed"]]);
    assert.match(steps[1]!.error ?? "", /^step_failed: 10\.0% of rows were quarantined/);
  });

  it("ingests a files source with its CSV delimiter", async () => {
    const dir = join(root, "semicolons");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "schema.json"), JSON.stringify({ episode: "episode_id", step: "step", observations: ["f1"], action: { column: "action", kind: "discrete", n: 2 }, reward: { column: "reward", min: 0, max: 1 }, terminal: "terminal" }));
    writeFileSync(join(dir, "logs.csv"), "episode_id;step;f1;action;reward;terminal\ne1;0;0.5;1;1;0\ne1;1;0.2;0;0;1\ne2;0;0.1;1;7;1\n");
    // Episode e2's reward is out of range: 1 row of 3 quarantined against a 10% limit stops the run at ingest.
    const input: PipelineInput = { ...config("semicolons", dir), source: { files: [join(dir, "logs.csv")], schema: join(dir, "schema.json"), delimiter: ";" } };
    await assert.rejects(runPipeline(parsePipeline(input), { codeVersion: "test" }), (error: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(error.code, "step_failed", error.message);
      assert.equal(error.details?.read, 3);
      assert.equal(error.details?.quarantined, 1);
      return true;
    });
  });

  it("reuses every finished step when rerun with the same inputs", async () => {
    const dir = join(root, "idempotent");
    const parsed = parsePipeline(config("idem", dir));
    const first = await runPipeline(parsed, { codeVersion: "test" });
    assert.deepEqual(first.steps.map((s) => s.name), STEP_NAMES);
    assert.ok(first.steps.every((s) => s.outcome !== "reused"));
    const registry = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    const runsBefore = (await registry.listRuns()).length;
    await registry.close();
    const versionsBefore = listVersions(join(dir, "datasets"), "logs").length;

    const second = await runPipeline(parsed, { codeVersion: "test" });
    assert.ok(second.steps.every((s) => s.outcome === "reused"), JSON.stringify(second.steps.map((s) => [s.name, s.outcome])));
    assert.deepEqual(second.steps.map((s) => s.outputs), first.steps.map((s) => s.outputs));
    assert.equal(listVersions(join(dir, "datasets"), "logs").length, versionsBefore);
    const after = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    assert.equal((await after.listRuns()).length, runsBefore);
    const steps = await after.listSteps("idem");
    assert.deepEqual(steps.map((s) => s.name), STEP_NAMES);
    assert.ok(steps.every((s) => s.status === "succeeded" || (s.name === "register" && s.status === "skipped")));
    await after.close();

    // A crash after ingest and split wrote their versions but before their steps were recorded as finished: the
    // rerun takes those versions up again instead of storing duplicates.
    const marker = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    for (const name of ["ingest", "split"]) {
      const record = second.steps.find((s) => s.name === name)!;
      await marker.recordStep({ pipeline: "idem", name, inputHash: record.inputHash, status: "running" });
    }
    await marker.close();
    const trainVersions = listVersions(join(dir, "datasets"), "logs-train").length;
    const third = await runPipeline(parsed, { codeVersion: "test" });
    assert.deepEqual(third.steps.map((s) => s.outcome), ["reused", "ran", "ran", "reused", "reused", "reused", "reused"]);
    assert.equal(third.steps[1]!.outputs.recovered, true);
    assert.equal(third.steps[1]!.outputs.dataset, first.steps[1]!.outputs.dataset);
    assert.deepEqual(third.steps[2]!.outputs, first.steps[2]!.outputs);
    assert.equal(listVersions(join(dir, "datasets"), "logs").length, versionsBefore);
    assert.equal(listVersions(join(dir, "datasets"), "logs-train").length, trainVersions);

    // A changed input (another split seed) reruns the split and everything after it, not the steps before.
    const changed = await runPipeline(parsePipeline({ ...config("idem", dir), split: { fractions: [0.7, 0.3], seed: 2 } }), { codeVersion: "test" });
    assert.deepEqual(changed.steps.map((s) => s.outcome).slice(0, 3), ["reused", "reused", "ran"]);
    assert.ok(changed.steps.slice(3).every((s) => s.outcome !== "reused"));
  });

  it("resumes after a crash mid-training from the run's checkpoint, to the same artifact", async () => {
    const dir = join(root, "crash");
    const parsed = parsePipeline(config("crashy", dir));
    const crash = new Error("simulated crash");
    await assert.rejects(
      runPipeline(parsed, {
        codeVersion: "test",
        onEvent: (event) => {
          if (event.kind === "progress" && event.name.startsWith("train:") && event.done >= 200) throw crash;
        },
      }),
      (error) => error === crash,
    );
    const registry = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    const recorded = Object.fromEntries((await registry.listSteps("crashy")).map((s) => [s.name, s.status]));
    assert.deepEqual(recorded, { source: "succeeded", ingest: "succeeded", split: "succeeded", "train:discrete_bc:s5": "failed" });
    await registry.close();

    const resumed = await runPipeline(parsed, { codeVersion: "test" });
    assert.deepEqual(resumed.steps.map((s) => s.outcome).slice(0, 4), ["reused", "reused", "reused", "ran"]);
    const train = resumed.steps[3]!.outputs;
    // Checkpoints every 100 steps; the crash came at step 200 before that step's checkpoint was written.
    assert.equal(train.resumedFrom, 100);

    // An uninterrupted run of the same pipeline elsewhere yields the same policy, bit for bit.
    const clean = await runPipeline(parsePipeline(config("clean", join(root, "clean"))), { codeVersion: "test" });
    assert.equal(clean.steps[3]!.outputs.resumedFrom, null);
    assert.equal(train.sha256, clean.steps[3]!.outputs.sha256);
  });

  it("resumes after the process is killed mid-training (step left running, run directory checkpointed)", async () => {
    const dir = join(root, "killed");
    const input: PipelineInput = { ...config("killed", dir), algorithms: [{ name: "discrete_bc", steps: 6000, seeds: [5], config: { hiddenSizes: [8], batchSize: 32 } }] };
    const file = join(root, "killed.json");
    writeFileSync(file, JSON.stringify(input));
    const bin = fileURLToPath(new URL("../../bin/hindcast.js", import.meta.url));
    const child = spawn(process.execPath, [bin, "pipeline", "run", file, "--json"], { env: { ...process.env, HINDCAST_FROM_SOURCE: "1" }, stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const runs = join(dir, "work", "runs");
    const checkpointed = (): boolean =>
      existsSync(runs) && readdirSync(runs).some((run) => existsSync(join(runs, run, "checkpoints", "last", "state.json")));
    const deadline = Date.now() + 60_000;
    while (!checkpointed() && child.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    child.kill("SIGKILL");
    await exited;
    assert.ok(checkpointed(), "the child reached a checkpoint before it was killed");

    const registry = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    const recorded = Object.fromEntries((await registry.listSteps("killed")).map((s) => [s.name, s.status]));
    await registry.close();
    assert.equal(recorded["train:discrete_bc:s5"], "running");

    const resumed = await runPipeline(parsePipeline(input), { codeVersion: "test" });
    assert.deepEqual(resumed.steps.map((s) => s.outcome).slice(0, 4), ["reused", "reused", "reused", "ran"]);
    const resumedFrom = resumed.steps[3]!.outputs.resumedFrom as number;
    assert.ok(resumedFrom >= 600 && resumedFrom < 6000 && resumedFrom % 600 === 0, `resumed from ${resumedFrom}`);
  });
});
