import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function hindcast(...args: string[]) {
  const result = spawnSync(process.execPath, ["bin/hindcast.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, HINDCAST_FROM_SOURCE: "1" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("hindcast simulate writes reproducible data with a schema; rollout reports returns and domain figures", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-simulate-cli-"));
  try {
    // Byte-for-byte reproducibility is checked in src/envs/simulate.test.ts; here, that the CLI writes both files.
    const out = join(dir, "a.csv");
    const run = hindcast("simulate", "--env", "autoscaling", "--behavior", "eps-greedy(heuristic, 0.2)", "--episodes", "2", "--seed", "4", "--out", out);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /wrote 576 transitions in 2 episodes of autoscaling/);
    assert.equal(readFileSync(out, "utf8").trim().split("\n").length, 577, "header + 576 rows");
    assert.ok(existsSync(`${out}.schema.json`));

    const rollout = hindcast("rollout", "--policy", "heuristic", "--env", "autoscaling", "--episodes", "3", "--seed", "1", "--json");
    assert.equal(rollout.status, 0, rollout.stderr);
    const result = JSON.parse(rollout.stdout);
    assert.equal(result.episodes, 3);
    assert.deepEqual(result.lengths, [288, 288, 288]);
    assert.ok(result.ci95[0] <= result.meanReturn && result.meanReturn <= result.ci95[1]);
    assert.ok(result.figures.slo_breach_rate.mean >= 0 && result.figures.slo_breach_rate.mean <= 1);
    assert.ok(result.figures.cost_per_day.mean > 0);

    // ingest reads the format from the extension: a bare name gets one, a contradicting --format is refused
    const bare = hindcast("simulate", "--env", "autoscaling", "--behavior", "heuristic", "--episodes", "1", "--seed", "1", "--out", join(dir, "bare"));
    assert.equal(bare.status, 0, bare.stderr);
    assert.ok(bare.stdout.includes(`to ${join(dir, "bare.parquet")}`), bare.stdout);
    assert.equal(readFileSync(join(dir, "bare.parquet")).subarray(0, 4).toString(), "PAR1");
    assert.ok(existsSync(join(dir, "bare.parquet.schema.json")));
    const clash = hindcast("simulate", "--env", "autoscaling", "--behavior", "heuristic", "--episodes", "1", "--seed", "1", "--out", join(dir, "d.csv"), "--format", "jsonl");
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /out_format_mismatch/);
    assert.ok(!existsSync(join(dir, "d.csv")));

    const bad = hindcast("simulate", "--env", "autoscaling", "--behavior", "gaussian(heuristic, 1)", "--episodes", "1", "--seed", "1", "--out", join(dir, "c.csv"));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid_behavior/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
