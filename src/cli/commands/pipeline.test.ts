import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function hindcast(...args: string[]) {
  const result = spawnSync(process.execPath, ["bin/hindcast.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, HINDCAST_FROM_SOURCE: "1" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("hindcast pipeline run twice: the second run reuses every step; status lists them; a bad file is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-pipeline-cli-"));
  try {
    // Relative paths in the file resolve against the file's folder.
    const file = join(dir, "p.yaml");
    writeFileSync(
      file,
      [
        "name: cli-loop",
        "store: data",
        "registry: sqlite:reg.db",
        "workDir: work",
        "source: { simulate: { env: alert-suppression, behavior: 'eps-greedy(heuristic, 0.2)', episodes: 20, seed: 2 } }",
        "dataset: alerts",
        "algorithms: [{ name: discrete_bc, steps: 100, config: { hiddenSizes: [8], batchSize: 32 } }]",
        "ope: { bootstrap: 10, fqeSteps: 50 }",
        "promote: { policy: triage }",
      ].join("\n"),
    );
    const first = hindcast("pipeline", "run", file, "--json");
    assert.equal(first.status, 0, first.stderr);
    const result = JSON.parse(first.stdout) as { steps: Array<{ name: string; outcome: string }> };
    assert.deepEqual(result.steps.map((s) => s.name), ["source", "ingest", "split", "train:discrete_bc:s0", "ope:discrete_bc:s0", "select", "register"]);
    assert.ok(result.steps.every((s) => s.outcome !== "reused"));

    const second = hindcast("pipeline", "run", file);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /7 steps \(0 ran, 7 reused\)/);

    const status = hindcast("pipeline", "status", "cli-loop", "--registry", `sqlite:${join(dir, "reg.db")}`, "--json");
    assert.equal(status.status, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as unknown[]).length, 7);

    writeFileSync(join(dir, "bad.yaml"), "name: x\nsource: { simulate: { env: nowhere, behavior: heuristic, episodes: 1, seed: 0 } }\ndataset: d\nalgorithms: []\npromote: { policy: p }\n");
    const bad = hindcast("pipeline", "run", join(dir, "bad.yaml"));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid_pipeline: .*source/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hindcast demo refuses a non-empty directory it did not make", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-demo-cli-"));
  try {
    mkdirSync(join(dir, "mine"));
    const run = hindcast("demo", "--dir", dir, "--small");
    assert.equal(run.status, 1);
    assert.match(run.stderr, /demo_dir_not_empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
