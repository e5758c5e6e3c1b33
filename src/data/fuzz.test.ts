// Random corruptions of a valid file: ingest must never crash. Each run ends in a coded DataError with nothing
// written, or in a version whose counts reconcile (accepted + quarantined = read) with its quarantine file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataError } from "./errors.js";
import { ingest } from "./ingest.js";
import { loadTransitions } from "./loader.js";
import { Rng } from "../random/index.js";
import { parseSchema } from "./schema.js";
import { listVersions } from "./store.js";
import { writeColumns } from "./write-columns.js";

const schema = parseSchema({
  episode: "episode_id",
  step: "step",
  observations: ["f1", "f2"],
  action: { column: "action", kind: "discrete", n: 3 },
  reward: { column: "reward", min: -10, max: 0 },
  terminal: "terminal",
  behaviorProb: { column: "propensity", kind: "probability" },
});

const FATAL = new Set(["malformed_file", "missing_column", "all_missing_feature", "no_rows", "no_valid_rows"]);

function validRows(): string[][] {
  const rows: string[][] = [];
  for (let e = 0; e < 6; e++) for (let s = 0; s < 5; s++) rows.push([`ep${e}`, String(s), String(e + s / 10), String((s * 7) % 5), String((e + s) % 3), String(-s), "0.5", s === 4 ? "1" : "0"]);
  return rows;
}
const HEADER = "episode_id,step,f1,f2,action,reward,propensity,terminal";

type Corruption = { name: string; mustFlag: boolean; apply: (rows: string[][], random: () => number) => string[][] | Buffer };
const pick = <T>(items: T[], random: () => number) => items[Math.floor(random() * items.length)]!;
const corruptions: Corruption[] = [
  { name: "garbage cell", mustFlag: true, apply: (rows, rnd) => (((pick(rows, rnd)[1 + Math.floor(rnd() * 6)] = pick(["abc", "nan", "inf", "", "1e400", "-"], rnd)), rows)) },
  { name: "reward out of range", mustFlag: true, apply: (rows, rnd) => ((pick(rows, rnd)[5] = "3"), rows) },
  { name: "action out of space", mustFlag: true, apply: (rows, rnd) => ((pick(rows, rnd)[4] = pick(["3", "-1", "0.5"], rnd)), rows) },
  { name: "propensity out of range", mustFlag: true, apply: (rows, rnd) => ((pick(rows, rnd)[6] = pick(["0", "1.5", "-0.2"], rnd)), rows) },
  { name: "duplicated row", mustFlag: true, apply: (rows, rnd) => (rows.splice(Math.floor(rnd() * rows.length), 0, [...pick(rows, rnd)]), rows) },
  { name: "deleted middle row", mustFlag: true, apply: (rows, rnd) => (rows.splice(5 * Math.floor(rnd() * 6) + 1 + Math.floor(rnd() * 3), 1), rows) },
  { name: "terminal moved early", mustFlag: true, apply: (rows, rnd) => ((rows[5 * Math.floor(rnd() * 6)]![7] = "1"), rows) },
  { name: "shuffled rows", mustFlag: false, apply: (rows, rnd) => rows.sort(() => rnd() - 0.5) },
  { name: "missing episode id", mustFlag: true, apply: (rows, rnd) => ((pick(rows, rnd)[0] = ""), rows) },
  { name: "unbalanced quote", mustFlag: false, apply: (rows, rnd) => ((pick(rows, rnd)[2] = '"1'), rows) },
  { name: "ragged row", mustFlag: false, apply: (rows, rnd) => (pick(rows, rnd).pop(), rows) },
  {
    name: "truncated bytes",
    mustFlag: false,
    apply: (rows, rnd) => {
      const text = Buffer.from([HEADER, ...rows.map((r) => r.join(","))].join("\n") + "\n");
      return text.subarray(0, Math.floor(rnd() * text.length));
    },
  },
  {
    name: "invalid UTF-8",
    mustFlag: false,
    apply: (rows, rnd) => {
      const text = Buffer.from([HEADER, ...rows.map((r) => r.join(","))].join("\n") + "\n");
      const at = Math.floor(rnd() * text.length);
      return Buffer.concat([text.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), text.subarray(at)]);
    },
  },
];

async function attempt(path: string, store: string, label: string, mustFlag: boolean): Promise<"error" | "stored"> {
  const before = listVersions(store, "fuzz").length;
  let result;
  try {
    result = await ingest({ files: [path], schema, dataset: "fuzz", store });
  } catch (error) {
    assert.ok(error instanceof DataError, `${label}: not a coded error: ${(error as Error).stack}`);
    assert.ok(FATAL.has(error.code), `${label}: unexpected code ${error.code}: ${error.message}`);
    assert.ok(!error.message.includes("\n"), `${label}: multi-line message`);
    assert.equal(listVersions(store, "fuzz").length, before, `${label}: a failed ingest wrote a version`);
    return "error";
  }
  const { manifest, report } = result;
  assert.equal(report.accepted + report.quarantined, report.read, label);
  assert.ok(report.reconciled);
  if (mustFlag) assert.ok(report.quarantined > 0, `${label}: corruption went unnoticed`);
  const quarantineLines = readFileSync(join(store, "fuzz", `v${manifest.version}`, "quarantine.jsonl"), "utf8").split("\n").filter((l) => l.length > 0);
  assert.equal(quarantineLines.length, report.quarantined, label);
  for (const line of quarantineLines) assert.match(JSON.parse(line).code, /^[a-z_]+$/);
  const loaded = await loadTransitions(store, `fuzz@${manifest.version}`);
  assert.equal(loaded.size, report.accepted, label);
  return "stored";
}

test("fuzz: random corruptions of a CSV never crash ingest and always reconcile", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-fuzz-"));
  try {
    const rng = new Rng(20261124);
    const random = () => rng.uniform();
    const outcomes = new Set<string>();
    for (let round = 0; round < 30; round++) {
      const corruption = corruptions[round % corruptions.length]!;
      const out = corruption.apply(validRows(), random);
      const path = join(dir, `round-${round}.csv`);
      writeFileSync(path, Buffer.isBuffer(out) ? out : [HEADER, ...out.map((r) => r.join(","))].join("\n") + "\n");
      outcomes.add(await attempt(path, join(dir, "store"), `round ${round} (${corruption.name})`, corruption.mustFlag));
    }
    assert.deepEqual([...outcomes].sort(), ["error", "stored"]); // both paths were exercised
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fuzz: truncated or bit-flipped Parquet gives a coded error or a reconciled version", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-fuzz-pq-"));
  try {
    const rows = validRows();
    const whole = join(dir, "whole.parquet");
    await writeColumns(whole, {
      episode_id: rows.map((r) => r[0]!),
      step: new Int32Array(rows.map((r) => Number(r[1]))),
      f1: new Float32Array(rows.map((r) => Number(r[2]))),
      f2: new Float32Array(rows.map((r) => Number(r[3]))),
      action: new Int32Array(rows.map((r) => Number(r[4]))),
      reward: new Float32Array(rows.map((r) => Number(r[5]))),
      propensity: new Float64Array(rows.map((r) => Number(r[6]))),
      terminal: new Uint8Array(rows.map((r) => Number(r[7]))),
    });
    const bytes = readFileSync(whole);
    const rng = new Rng(7);
    const random = () => rng.uniform();
    const outcomes = new Set<string>();
    for (let round = 0; round < 12; round++) {
      const copy = Buffer.from(bytes);
      let out: Buffer;
      if (round % 2 === 0) {
        out = copy.subarray(0, Math.floor(random() * copy.length));
      } else {
        for (let k = 0; k < 4; k++) copy[Math.floor(random() * copy.length)] ^= 1 << Math.floor(random() * 8);
        out = copy;
      }
      const path = join(dir, `round-${round}.parquet`);
      writeFileSync(path, out);
      outcomes.add(await attempt(path, join(dir, "store"), `parquet round ${round}`, false));
    }
    assert.ok(outcomes.has("error"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
