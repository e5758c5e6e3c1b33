// The data commands end to end through the real CLI: exit statuses, one-line coded errors, JSON output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../../bin/hindcast.js", import.meta.url));

function hindcast(args: string[], cwd: string, store: string) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: "utf8", env: { ...process.env, HINDCAST_FROM_SOURCE: "1", HINDCAST_STORE: store } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("ingest, validate, stats, split and datasets through the CLI; a malformed file exits 1 with one line and writes nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-cli-data-"));
  try {
    const store = join(dir, "store");
    writeFileSync(
      join(dir, "schema.yaml"),
      "episode: ep\nstep: t\nobservations: [x, y]\naction: {column: a, kind: discrete, n: 2}\nreward: {column: r, min: -1, max: 1}\n",
    );
    const rows = ["ep,t,x,y,a,r"];
    for (let e = 0; e < 10; e++) for (let t = 0; t < 3; t++) rows.push(`e${e},${t},${e},${t},${(e + t) % 2},${t === 2 ? 1 : 0}`);
    rows.push("e10,0,1,1,5,0"); // action outside the space: quarantined
    writeFileSync(join(dir, "log.csv"), rows.join("\n") + "\n");

    const ingested = hindcast(["ingest", "log.csv", "--schema", "schema.yaml", "--dataset", "toy", "--json"], dir, store);
    assert.equal(ingested.status, 0, ingested.stderr);
    const out = JSON.parse(ingested.stdout);
    assert.equal(out.dataset, "toy@1");
    assert.deepEqual([out.report.read, out.report.accepted, out.report.quarantined], [31, 30, 1]);

    // the human summary says where the quarantined rows went
    const again = hindcast(["ingest", "log.csv", "--schema", "schema.yaml", "--dataset", "toy-human"], dir, store);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(again.stdout.includes(`quarantined rows, with their rule codes: ${join(store, "toy-human", "v1", "quarantine.jsonl")}`), again.stdout);
    // the bad row is data row 31, the 32nd line of the file after the header
    assert.match(again.stdout, /log\.csv row 31 \(line 32\)  action_out_of_space/);
    const strict = hindcast(["ingest", "log.csv", "--schema", "schema.yaml", "--dataset", "toy-strict", "--strict"], dir, store);
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /^hindcast: strict_rejected: 1 of 31 rows failed validation; first: action_out_of_space at .*log\.csv row 31 \(line 32\) /);

    const validated = hindcast(["validate", "toy@latest"], dir, store);
    assert.equal(validated.status, 0, validated.stderr);
    assert.match(validated.stdout, /toy@1: valid/);

    const stats = JSON.parse(hindcast(["stats", "toy@1", "--json"], dir, store).stdout);
    assert.equal(stats.episodes, 10);
    assert.deepEqual(stats.actions.counts, [15, 15]);

    const split = hindcast(["split", "toy@1", "--by", "episode", "--fractions", "0.8,0.1,0.1", "--seed", "1"], dir, store);
    assert.equal(split.status, 0, split.stderr);
    assert.match(split.stdout, /toy-train@1: 24 rows, 8 episodes/);
    const lineage = JSON.parse(hindcast(["datasets", "lineage", "toy-val@1", "--json"], dir, store).stdout);
    assert.deepEqual(lineage.ancestors.map((a: { name: string; version: number }) => `${a.name}@${a.version}`), ["toy@1"]);
    assert.match(hindcast(["datasets", "list"], dir, store).stdout, /toy-test/);

    writeFileSync(join(dir, "ragged.csv"), "ep,t,x,y,a,r\ne0,0,1,1,0,0\ne0,1,1,1\n");
    const bad = hindcast(["ingest", "ragged.csv", "--schema", "schema.yaml", "--dataset", "bad"], dir, store);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^hindcast: malformed_file: .*ragged\.csv \(line 3\)/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
    assert.ok(!existsSync(join(store, "bad", "v1")));

    const escape = hindcast(["ingest", "log.csv", "--schema", "schema.yaml", "--dataset", "../outside"], dir, store);
    assert.equal(escape.status, 1);
    assert.match(escape.stderr, /invalid_dataset_name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
