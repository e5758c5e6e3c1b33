import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filterDataset, splitDataset } from "./curate.js";
import { ingest } from "./ingest.js";
import { loadTransitions } from "./loader.js";
import { parseSchema } from "./schema.js";
import { lineage } from "./store.js";
import { validateVersion } from "./validate.js";
import { writeColumns } from "./write-columns.js";

const dir = mkdtempSync(join(tmpdir(), "hindcast-curate-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const EPISODES = 40;
const LENGTH = 5;

/** 40 episodes x 5 steps; f1 = 100 * episode + step identifies every row; the second half logged by policy v2. */
async function seed(store: string): Promise<void> {
  const n = EPISODES * LENGTH;
  const episode: string[] = [];
  const step = new Int32Array(n);
  const ts = new Float64Array(n);
  const f1 = new Float32Array(n);
  const policy: string[] = [];
  for (let e = 0; e < EPISODES; e++) {
    for (let s = 0; s < LENGTH; s++) {
      const i = e * LENGTH + s;
      episode.push(`ep${e}`);
      step[i] = s;
      ts[i] = 1000 * e + s;
      f1[i] = 100 * e + s;
      policy.push(e < EPISODES / 2 ? "v1" : "v2");
    }
  }
  const path = join(store, "..", `${store.split("/").pop()}.parquet`);
  await writeColumns(path, { episode_id: episode, step, ts, f1, action: new Int32Array(n), reward: new Float32Array(n), policy_version: policy });
  const schema = parseSchema({
    episode: "episode_id",
    step: "step",
    timestamp: "ts",
    observations: ["f1"],
    action: { column: "action", kind: "discrete", n: 2 },
    reward: { column: "reward", min: -1, max: 1 },
    policyVersion: "policy_version",
  });
  await ingest({ files: [path], schema, dataset: "logs", store });
}

const episodesOf = (observations: Float32Array) => [...new Set(Array.from(observations, (x) => Math.floor(x / 100)))].sort((a, b) => a - b);

test("split by episode: deterministic per seed, disjoint, complete, sized by the fractions, with lineage", async () => {
  const store = join(dir, "split");
  await seed(store);
  const children = await splitDataset({ store, ref: "logs@1", fractions: [0.8, 0.1, 0.1], seed: 42 });
  assert.deepEqual(children.map((c) => `${c.name}@${c.version}`), ["logs-train@1", "logs-val@1", "logs-test@1"]);
  assert.deepEqual(children.map((c) => c.counts.episodes), [32, 4, 4]);
  const parts = await Promise.all(children.map((c) => loadTransitions(store, `${c.name}@${c.version}`)));
  const sets = parts.map((p) => episodesOf(p.observations));
  assert.deepEqual(sets.flat().sort((a, b) => a - b), Array.from({ length: EPISODES }, (_, i) => i));
  for (const p of parts) {
    assert.equal(p.episodeStarts.length - 1, p.size / LENGTH);
    for (let e = 0; e + 1 < p.episodeStarts.length; e++) assert.equal(p.episodeStarts[e + 1]! - p.episodeStarts[e]!, LENGTH);
  }
  // same seed, same split; another seed, another split
  const again = await splitDataset({ store, ref: "logs@1", fractions: [0.8, 0.1, 0.1], seed: 42, names: ["a", "b", "c"] });
  const againSets = await Promise.all(again.map(async (c) => episodesOf((await loadTransitions(store, `${c.name}@1`)).observations)));
  assert.deepEqual(againSets, sets);
  const other = await splitDataset({ store, ref: "logs@1", fractions: [0.5, 0.5], seed: 7, names: ["x", "y"] });
  const otherFirst = episodesOf((await loadTransitions(store, `${other[0]!.name}@1`)).observations);
  assert.notDeepEqual(otherFirst, sets[0]);
  assert.equal(otherFirst.length, 20);

  assert.deepEqual(children[0]!.parents.map((p) => `${p.name}@${p.version}`), ["logs@1"]);
  assert.equal(children[0]!.transform.kind, "split");
  const down = lineage(store, "logs@1").descendants.map((d) => d.name).sort();
  assert.deepEqual(down, ["a", "b", "c", "logs-test", "logs-train", "logs-val", "x", "y"]);
  assert.equal((await validateVersion(store, "logs-train@1")).ok, true);
  await assert.rejects(splitDataset({ store, ref: "logs@1", fractions: [0.8, 0.3], seed: 1 }), { code: "invalid_split" });
  // 40 episodes as 39.2 / 0.4 / 0.4: floors 39, 0, 0; the one left over goes to the first largest remainder (q), so r
  // would be empty, and an empty child version is refused
  await assert.rejects(splitDataset({ store, ref: "logs@1", fractions: [0.98, 0.01, 0.01], seed: 1, names: ["p", "q", "r"] }), { code: "split_too_small", message: /part 3 \(r\)/ });
  assert.throws(() => lineage(store, "p@1"), { code: "dataset_not_found" });
});

test("filters by time window, policy version and expression create child versions that stay valid", async () => {
  const store = join(dir, "filter");
  await seed(store);
  const byPolicy = await filterDataset({ store, ref: "logs@1", policyVersions: ["v2"], into: "logs-v2" });
  assert.equal(byPolicy.counts.accepted, (EPISODES / 2) * LENGTH);
  assert.deepEqual(episodesOf((await loadTransitions(store, "logs-v2@1")).observations), Array.from({ length: EPISODES / 2 }, (_, i) => i + EPISODES / 2));

  const byTime = await filterDataset({ store, ref: "logs@1", since: "5000", until: "7000" });
  assert.equal(byTime.name, "logs");
  assert.equal(byTime.version, 2);
  assert.deepEqual(episodesOf((await loadTransitions(store, "logs@2")).observations), [5, 6]);

  // Dropping step 2 cuts each episode in two runs: steps 0-1 (now ending truncated, next observation kept) and 3-4
  // (ending terminal as before: no flag columns, episodeEnd defaults to terminal).
  const byExpression = await filterDataset({ store, ref: "logs@1", where: "step <> 2 AND f1 < 300", into: "cut" });
  const cut = await loadTransitions(store, "cut@1");
  assert.equal(byExpression.counts.accepted, 3 * 4);
  assert.equal(cut.episodeStarts.length - 1, 6);
  assert.deepEqual(Array.from(cut.steps.slice(0, 4)), [0, 1, 3, 4]);
  assert.deepEqual(Array.from(cut.truncations.slice(0, 4)), [0, 1, 0, 0]);
  assert.deepEqual(Array.from(cut.terminals.slice(0, 4)), [0, 0, 0, 1]);
  assert.equal(cut.nextObservations[1], 2); // the removed step's observation survives as the next observation
  assert.equal((await validateVersion(store, "cut@1")).ok, true);
  assert.deepEqual(lineage(store, "cut@1").ancestors.map((a) => `${a.name}@${a.version}`), ["logs@1"]);

  await assert.rejects(filterDataset({ store, ref: "logs@1", where: "f1 > (SELECT count(*) FROM read_csv('/etc/hostname'))" }), { code: "invalid_filter_expression" });
  await assert.rejects(filterDataset({ store, ref: "logs@1", where: "1=1; DROP TABLE d" }), { code: "invalid_filter_expression" });
  await assert.rejects(filterDataset({ store, ref: "logs@1" }), { code: "invalid_filter" });
  await assert.rejects(filterDataset({ store, ref: "logs@1", since: "yesterday" }), { code: "invalid_time_bound", message: /--since\/--until \(yesterday\) cannot be compared with ts/ });
  await assert.rejects(filterDataset({ store, ref: "logs@1", policyVersions: ["v9"], into: "none" }), { code: "empty_filter_result" });
  assert.throws(() => lineage(store, "none@1"), { code: "dataset_not_found" });
});
