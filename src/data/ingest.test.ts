import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "./ingest.js";
import { loadTransitions } from "./loader.js";
import { parseSchema, type DatasetSchemaInput } from "./schema.js";
import { writeColumns, type FileFormat } from "./write-columns.js";
import { listVersions } from "./store.js";
import { openDuckDB } from "./duckdb.js";

const dir = mkdtempSync(join(tmpdir(), "hindcast-ingest-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** Episodes of lengths 3, 1, 4, logged interleaved (as a decision log would be) to exercise reordering. */
const lengths = [3, 1, 4];
interface Row {
  episode: string;
  step: number;
  f1: number;
  f2: number;
  action: number;
  reward: number;
  propensity: number;
}
function logged(): Row[] {
  const rows: Row[] = [];
  const maxLength = Math.max(...lengths);
  for (let s = 0; s < maxLength; s++) {
    for (let e = 0; e < lengths.length; e++) {
      if (s < lengths[e]!) rows.push({ episode: `user-${e}`, step: s, f1: e + s / 4, f2: -s, action: (e + s) % 3, reward: -(s + e) / 2, propensity: 0.25 * (1 + ((e + s) % 3)) });
    }
  }
  return rows;
}

const schemaInput: DatasetSchemaInput = {
  episode: "episode_id",
  step: "step",
  observations: ["f1", "f2"],
  action: { column: "action", kind: "discrete", n: 3 },
  reward: { column: "reward", min: -10, max: 0 },
  behaviorProb: { column: "propensity", kind: "probability" },
  episodeEnd: "truncated",
};

for (const format of ["csv", "jsonl", "parquet"] as FileFormat[]) {
  test(`round trip through ${format}: ingest then load gives the logged values, episodes contiguous and derived fields filled`, async () => {
    const rows = logged();
    const path = join(dir, `log.${format}`);
    await writeColumns(path, {
      episode_id: rows.map((r) => r.episode),
      step: new Int32Array(rows.map((r) => r.step)),
      f1: new Float32Array(rows.map((r) => r.f1)),
      f2: new Float32Array(rows.map((r) => r.f2)),
      action: new Int32Array(rows.map((r) => r.action)),
      reward: new Float32Array(rows.map((r) => r.reward)),
      propensity: new Float64Array(rows.map((r) => r.propensity)),
    });
    const store = join(dir, `store-${format}`);
    const { manifest, report } = await ingest({ files: [path], schema: parseSchema(schemaInput), dataset: "log", store });
    assert.equal(report.read, 8);
    assert.equal(report.accepted, 8);
    assert.equal(manifest.version, 1);
    assert.equal(manifest.counts.episodes, 3);
    assert.match(manifest.contentHash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(manifest.sources[0]!.sha256.length, 64);

    const t = await loadTransitions(store, "log@latest", { verify: true });
    assert.equal(t.size, 8);
    assert.deepEqual(Array.from(t.episodeStarts), [0, 3, 4, 8]); // order of first appearance: user-0, user-1, user-2
    // Naive reference: sort the logged rows by (first appearance of episode, step).
    const expected = [...rows].sort((a, b) => a.episode.localeCompare(b.episode) || a.step - b.step);
    for (let i = 0; i < 8; i++) {
      const r = expected[i]!;
      assert.equal(t.steps[i], r.step);
      assert.equal(t.observations[2 * i], Math.fround(r.f1));
      assert.equal(t.observations[2 * i + 1], Math.fround(r.f2));
      assert.equal(t.actions[i], r.action);
      assert.equal(t.rewards[i], Math.fround(r.reward));
      assert.equal(t.behaviorProb![i], r.propensity);
      const next = expected[i + 1];
      const last = !next || next.episode !== r.episode;
      // episodeEnd "truncated": the last step of each episode is truncated, never terminal
      assert.equal(t.truncations[i], last ? 1 : 0);
      assert.equal(t.terminals[i], 0);
      assert.equal(t.nextObservations[2 * i], last ? 0 : Math.fround(next!.f1));
      assert.equal(t.nextObservations[2 * i + 1], last ? 0 : Math.fround(next!.f2));
      assert.equal(t.nextObservationMissing![i], last ? 1 : 0, "a truncated last step has no logged successor");
    }
    assert.deepEqual(t.actionSpace, { kind: "discrete", n: 3 });
    assert.deepEqual(t.featureNames, ["f1", "f2"]);
  });
}

test("list-column observations (JSONL arrays), explicit next observations, flags and metadata round-trip", async () => {
  const lines = [
    { ep: "a", t: 0, obs: [1, 2, 3], next: [4, 5, 6], act: [0.5, -0.5], r: -1, logp: -1.5, done: false, region: "eu", pv: "p1" },
    { ep: "a", t: 1, obs: [4, 5, 6], next: [7, 8, 9], act: [1, -1], r: -2, logp: -0.5, done: true, region: "eu", pv: "p1" },
    { ep: "b", t: 0, obs: [0, 0, 1], next: [0, 1, 0], act: [0, 0], r: 0, logp: -2, done: false, region: "us", pv: "p2" },
  ];
  const path = join(dir, "list.jsonl");
  writeFileSync(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const store = join(dir, "store-list");
  const schema = parseSchema({
    episode: "ep",
    step: "t",
    observations: { column: "obs", size: 3, names: ["x", "y", "z"] },
    nextObservations: { column: "next", size: 3 },
    action: { columns: ["act0", "act1"], kind: "continuous", low: [-1, -1], high: [1, 1] },
    reward: { column: "r", min: -5, max: 0 },
    terminal: "done",
    behaviorProb: { column: "logp", kind: "log_density" },
    policyVersion: "pv",
    metadata: ["region"],
    features: { x: { sensitive: true } },
  });
  // continuous actions are given as two scalar columns, so split the array first
  writeFileSync(path, lines.map(({ act, ...l }) => JSON.stringify({ ...l, act0: act[0], act1: act[1] })).join("\n") + "\n");
  const { manifest } = await ingest({ files: [path], schema, dataset: "cont", store });
  assert.deepEqual(manifest.featureNames, ["x", "y", "z"]);
  assert.deepEqual(manifest.schema.nextObservations, ["next_0", "next_1", "next_2"]);
  const t = await loadTransitions(store, "cont@1");
  assert.deepEqual(Array.from(t.observations), [1, 2, 3, 4, 5, 6, 0, 0, 1]);
  assert.deepEqual(Array.from(t.nextObservations), [4, 5, 6, 7, 8, 9, 0, 1, 0]);
  assert.ok(t.actions instanceof Float32Array);
  assert.deepEqual(Array.from(t.actions), [0.5, -0.5, 1, -1, 0, 0]);
  assert.deepEqual(Array.from(t.terminals), [0, 1, 0]);
  // episode b's last step is not marked terminal although the logs carry terminal flags: it was cut off
  assert.deepEqual(Array.from(t.truncations), [0, 0, 1]);
  assert.deepEqual(Array.from(t.behaviorProb!), [-1.5, -0.5, -2]);
  assert.deepEqual(t.actionSpace, { kind: "continuous", low: [-1, -1], high: [1, 1] });
});

test("a malformed file fails with file and position and writes nothing", async () => {
  const store = join(dir, "store-malformed");
  const good = join(dir, "good.csv");
  writeFileSync(good, "episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\na,1,2,3,1,0,0.5\n");
  const ragged = join(dir, "ragged.csv");
  writeFileSync(ragged, "episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\na,1,2,3,1,0\n");
  const unbalanced = join(dir, "quote.csv");
  writeFileSync(unbalanced, 'episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\na,1,"2,3,1,0,0.5\na,2,2,3,1,0,0.5\n');
  const notUtf8 = join(dir, "latin1.csv");
  writeFileSync(notUtf8, Buffer.concat([Buffer.from("episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\n"), Buffer.from([0xe9, 0xff]), Buffer.from(",1,2,3,1,0,0.5\n")]));
  const truncatedParquet = join(dir, "cut.parquet");
  await writeColumns(join(dir, "whole.parquet"), { episode_id: ["a"], step: [0], f1: [1], f2: [2], action: [0], reward: [0], propensity: [0.5] });
  writeFileSync(truncatedParquet, readFileSync(join(dir, "whole.parquet")).subarray(0, 200));
  const empty = join(dir, "empty.jsonl");
  writeFileSync(empty, "");
  const brokenJson = join(dir, "broken.jsonl");
  // line 2 is cut short; DuckDB's reader runs on into line 3 and would name it
  writeFileSync(
    brokenJson,
    '{"episode_id":"a","step":0,"f1":1,"f2":2,"action":0,"reward":0,"propensity":0.5}\n{"episode_id":"a","step":1,\n{"episode_id":"a","step":2,"f1":1,"f2":2,"action":0,"reward":0,"propensity":0.5}\n',
  );
  // a JSON array document: the position is the line and column where parsing stops (here the doubled comma)
  const brokenArray = join(dir, "broken.json");
  writeFileSync(brokenArray, '[\n {"episode_id":"a","step":0,"f1":1,"f2":2,"action":0,"reward":0,"propensity":0.5},\n {"episode_id":"a","step":1,,"f1":1}\n]\n');
  const linesInJson = join(dir, "lines.json");
  writeFileSync(linesInJson, '{"episode_id":"a","step":0,"f1":1,"f2":2,"action":0,"reward":0,"propensity":0.5}\n{"episode_id":"a","step":1,\n{"episode_id":"a","step":2}\n');
  const utf16 = join(dir, "utf16.csv");
  writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\n", "utf16le")]));
  const cases: Array<[string, RegExp]> = [
    [ragged, /line 3/],
    [unbalanced, /line 3/],
    [notUtf8, /line 3/],
    [truncatedParquet, /end of file/],
    [empty, /byte 0/],
    [brokenJson, /\(line 2\)/],
    [utf16, /\(byte 0\): text is UTF-16LE, not UTF-8/],
    [brokenArray, /\(line 3, column 29\): not valid JSON/],
    [linesInJson, /\(line 2\): not a JSON value/],
  ];
  for (const [file, position] of cases) {
    await assert.rejects(ingest({ files: [good, file], schema: parseSchema(schemaInput), dataset: "bad", store }), (error: unknown) => {
      const e = error as { code: string; message: string; details: { file: string } };
      assert.equal(e.code, "malformed_file", `${file}: ${e.message}`);
      assert.equal(e.details.file, file);
      assert.match(e.message, position, e.message);
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    });
  }
  assert.deepEqual(listVersions(store, "bad"), []);
});

test("--strict rejects the whole ingest when any row fails; without it the row is quarantined with its code", async () => {
  const store = join(dir, "store-strict");
  const path = join(dir, "one-bad.csv");
  writeFileSync(path, "episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\na,1,2,3,7,0,0.5\nb,0,1,2,0,0,0.5\n");
  await assert.rejects(ingest({ files: [path], schema: parseSchema(schemaInput), dataset: "s", store, strict: true }), { code: "strict_rejected" });
  assert.deepEqual(listVersions(store, "s"), []);
  const { manifest, report } = await ingest({ files: [path], schema: parseSchema(schemaInput), dataset: "s", store });
  assert.deepEqual([report.read, report.accepted, report.quarantined], [3, 1, 2]);
  assert.deepEqual(manifest.counts, { read: 3, accepted: 1, quarantined: 2, episodes: 1 });
  const quarantine = readFileSync(join(store, "s", "v1", "quarantine.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(quarantine.map((q) => [q.row, q.code]), [[1, "episode_rejected"], [2, "action_out_of_space"]]);
  assert.equal(quarantine[1].file, path);
  assert.match(quarantine[1].message, /action/);
  assert.equal(Number(quarantine[1].values.action), 7); // the row as read, for repair
  assert.equal(quarantine[1].values.episode_id, "a");
});

test("gzip-compressed CSV and JSONL are read through their inner extension", async () => {
  const { gzipSync } = await import("node:zlib");
  const store = join(dir, "store-gz");
  const text = "episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\na,1,2,3,1,0,0.5\n";
  writeFileSync(join(dir, "log.csv.gz"), gzipSync(text));
  const lines = '{"episode_id":"b","step":0,"f1":1,"f2":2,"action":2,"reward":-1,"propensity":0.25}\n';
  writeFileSync(join(dir, "log.jsonl.gz"), gzipSync(lines));
  const { report } = await ingest({ files: [join(dir, "log.csv.gz"), join(dir, "log.jsonl.gz")], schema: parseSchema(schemaInput), dataset: "gz", store });
  assert.deepEqual([report.read, report.accepted], [3, 3]);
});

test("several files are read as one dataset, with rows reported per file", async () => {
  const store = join(dir, "store-multi");
  const first = join(dir, "part1.csv");
  const second = join(dir, "part2.csv");
  writeFileSync(first, "episode_id,step,f1,f2,action,reward,propensity\na,0,1,2,0,0,0.5\na,1,2,3,1,0,0.5\n");
  writeFileSync(second, "episode_id,step,f1,f2,action,reward,propensity\na,2,3,4,0,0,0.5\nb,0,1,2,0,99,0.5\n");
  const { report } = await ingest({ files: [first, second], schema: parseSchema(schemaInput), dataset: "m", store });
  assert.deepEqual(report.sources.map((s) => s.rows), [2, 2]);
  assert.equal(report.issues[0]!.file, second);
  assert.equal(report.issues[0]!.row, 2);
  const t = await loadTransitions(store, "m@1");
  assert.deepEqual(Array.from(t.steps), [0, 1, 2]);
});

test("logs already in episode order are stored exactly as interleaved logs of the same rows (two files, many chunks)", async () => {
  // 60 episodes x 200 steps over two files, so the staging table spans many DuckDB vectors and row groups.
  const episodes = 60;
  const length = 200;
  const columnsOf = (order: Array<[number, number]>) => ({
    episode_id: order.map(([e]) => `ep-${e}`),
    step: new Int32Array(order.map(([, s]) => s)),
    f1: new Float32Array(order.map(([e, s]) => e * 1000 + s)),
    f2: new Float32Array(order.map(([e, s]) => Math.sin(e + s))),
    action: new Int32Array(order.map(([e, s]) => (e * 7 + s) % 3)),
    reward: new Float32Array(order.map(([e, s]) => -((e + s) % 10) / 2)),
    propensity: new Float64Array(order.map(([e, s]) => 0.25 * (1 + ((e + s) % 3)))),
  });
  const sorted: Array<[number, number]> = [];
  for (let e = 0; e < episodes; e++) for (let s = 0; s < length; s++) sorted.push([e, s]);
  // the same rows with episodes 2k and 2k+1 interleaved step by step (first appearance order unchanged)
  const interleaved: Array<[number, number]> = [];
  for (let e = 0; e < episodes; e += 2) for (let s = 0; s < length; s++) interleaved.push([e, s], [e + 1, s]);
  const half = (episodes / 2) * length;
  const write = async (name: string, order: Array<[number, number]>) => {
    const files = [join(dir, `${name}-a.parquet`), join(dir, `${name}-b.parquet`)];
    await writeColumns(files[0]!, columnsOf(order.slice(0, half)));
    await writeColumns(files[1]!, columnsOf(order.slice(half)));
    return files;
  };
  const store = join(dir, "store-order");
  const inOrder = await ingest({ files: await write("sorted", sorted), schema: parseSchema(schemaInput), dataset: "in-order", store });
  const mixed = await ingest({ files: await write("mixed", interleaved), schema: parseSchema(schemaInput), dataset: "mixed", store });
  assert.equal(inOrder.report.accepted, episodes * length);
  assert.equal(inOrder.manifest.contentHash, mixed.manifest.contentHash);

  const t = await loadTransitions(store, "in-order@1", { verify: true });
  assert.deepEqual(Array.from(t.episodeStarts), Array.from({ length: episodes + 1 }, (_, e) => e * length));
  for (let i = 0; i < t.size; i++) {
    const e = Math.floor(i / length);
    const s = i % length;
    assert.equal(t.steps[i], s);
    assert.equal(t.observations[2 * i], e * 1000 + s);
    assert.equal(t.truncations[i], s === length - 1 ? 1 : 0);
  }
});

test("float32 Parquet observations: NaN and infinity are still non_finite; a float64 file beside them still catches float32 overflow", async () => {
  const base = {
    episode_id: ["a", "a", "a"],
    step: new Int32Array([0, 1, 2]),
    action: new Int32Array([0, 1, 2]),
    reward: new Float32Array([0, -1, -2]),
    propensity: new Float64Array([0.5, 0.5, 0.5]),
  };
  const floats = join(dir, "float32.parquet");
  await writeColumns(floats, { ...base, f1: new Float32Array([1, Number.NaN, 3]), f2: new Float32Array([0, 1, Number.POSITIVE_INFINITY]) });
  const report = (await ingest({ files: [floats], schema: parseSchema(schemaInput), dataset: "f32", store: join(dir, "store-f32"), strict: false }).catch((e) => e)) as { code?: string; details?: unknown };
  // every row of the one episode is rejected: the ingest refuses with the rule counts
  assert.equal(report.code, "no_valid_rows");
  assert.deepEqual((report.details as { issueCounts: Record<string, number> }).issueCounts, { non_finite: 2, episode_rejected: 1 });

  const clean = join(dir, "float32-clean.parquet");
  await writeColumns(clean, { ...base, episode_id: ["b", "b", "b"], f1: new Float32Array([1, 2, 3]), f2: new Float32Array([0, 1, 2]) });
  const wide = join(dir, "float64.parquet");
  await writeColumns(wide, { ...base, f1: new Float64Array([1, 1e39, 3]), f2: new Float64Array([0, 1, 2]) });
  const { report: mixed } = await ingest({ files: [clean, wide], schema: parseSchema(schemaInput), dataset: "mixed-width", store: join(dir, "store-f32") });
  assert.equal(mixed.accepted, 3);
  assert.equal(mixed.quarantined, 3);
  assert.ok(mixed.issues.some((i) => i.code === "non_finite" && i.file === wide && i.row === 2 && i.field === "f1"), JSON.stringify(mixed.issues));
  const t = await loadTransitions(join(dir, "store-f32"), "mixed-width@1");
  assert.deepEqual(Array.from(t.observations), [1, 0, 2, 1, 3, 2]);
});

test("a Parquet file with a corrupted column chunk names the column; a corrupted footer says so", async () => {
  const n = 5000;
  const path = join(dir, "chunks.parquet");
  // repetitive values so every column chunk is compressed (corrupted bytes then fail to decompress or decode)
  await writeColumns(path, {
    episode_id: Array.from({ length: n }, (_, i) => `ep-${Math.floor(i / 50)}`),
    step: new Int32Array(n).map((_, i) => i % 50),
    f1: new Float32Array(n).map((_, i) => (i % 7) / 7),
    f2: new Float32Array(n).map((_, i) => (i % 5) / 5),
    action: new Int32Array(n).map((_, i) => i % 3),
    reward: new Float32Array(n).map((_, i) => -(i % 4) / 4),
    propensity: new Float64Array(n).fill(0.5),
  });
  const db = await openDuckDB();
  let chunk: { offset: number; size: number };
  try {
    const rows = (await db.connection.runAndReadAll(`SELECT data_page_offset, total_compressed_size FROM parquet_metadata('${path}') WHERE path_in_schema = 'reward'`)).getRows();
    chunk = { offset: Number(rows[0]![0]), size: Number(rows[0]![1]) };
  } finally {
    db.close();
  }
  const bytes = readFileSync(path);
  const broken = Buffer.from(bytes);
  for (let i = chunk.offset + 8; i < chunk.offset + chunk.size; i++) broken[i] = (i * 131) & 0xff;
  const brokenPath = join(dir, "chunks-broken.parquet");
  writeFileSync(brokenPath, broken);
  const footer = Buffer.from(bytes);
  const footerLength = footer.readUInt32LE(footer.length - 8);
  for (let i = footer.length - 8 - footerLength; i < footer.length - 8; i++) footer[i] = (i * 37) & 0xff;
  const footerPath = join(dir, "footer-broken.parquet");
  writeFileSync(footerPath, footer);
  const store = join(dir, "store-broken-parquet");
  await assert.rejects(ingest({ files: [brokenPath], schema: parseSchema(schemaInput), dataset: "b", store }), (e: Error & { code?: string; details?: { field?: string } }) => {
    assert.equal(e.code, "malformed_file", e.message);
    assert.match(e.message, /chunks-broken\.parquet \(column reward\): /);
    assert.equal(e.details?.field, "reward");
    return true;
  });
  await assert.rejects(ingest({ files: [footerPath], schema: parseSchema(schemaInput), dataset: "b", store }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "malformed_file", e.message);
    assert.match(e.message, /footer-broken\.parquet \(footer metadata\): /);
    return true;
  });
  assert.deepEqual(listVersions(store, "b"), []);
});
