// One test per validation rule: a row (or file) that breaks it, and a borderline one that does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateFiles, type IngestReport } from "./ingest.js";
import { parseSchema, type DatasetSchemaInput } from "./schema.js";

const HEADER = ["episode_id", "step", "f1", "f2", "nf1", "nf2", "action", "reward", "propensity", "terminal", "truncated"];

/** 3 episodes x 3 steps; ep0 and ep1 end terminal, ep2 truncated; next observations consistent. */
function baseRows(): string[][] {
  const rows: string[][] = [];
  for (let e = 0; e < 3; e++) {
    for (let s = 0; s < 3; s++) {
      const last = s === 2;
      const f1 = 10 * e + s;
      rows.push([`ep${e}`, String(s), String(f1), String(s), last ? "0" : String(f1 + 1), last ? "0" : String(s + 1), String(s % 3), String(-s), "0.5", last && e < 2 ? "1" : "0", last && e === 2 ? "1" : "0"]);
    }
  }
  return rows;
}

const discreteSchema: DatasetSchemaInput = {
  episode: "episode_id",
  step: "step",
  observations: ["f1", "f2"],
  nextObservations: ["nf1", "nf2"],
  action: { column: "action", kind: "discrete", n: 3 },
  reward: { column: "reward", min: -10, max: 0 },
  terminal: "terminal",
  truncated: "truncated",
  behaviorProb: { column: "propensity", kind: "probability" },
};

const dir = mkdtempSync(join(tmpdir(), "hindcast-rules-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;

function csv(header: string[], rows: string[][]): string {
  const path = join(dir, `input-${fileCounter++}.csv`);
  writeFileSync(path, [header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n");
  return path;
}

async function validate(mutate: (rows: string[][], header: string[]) => void, schema: DatasetSchemaInput = discreteSchema): Promise<IngestReport> {
  const rows = baseRows();
  const header = [...HEADER];
  mutate(rows, header);
  return validateFiles([csv(header, rows)], parseSchema(schema));
}

const col = (name: string) => HEADER.indexOf(name);

function assertIssue(report: IngestReport, code: string, row: number, field: string): void {
  const found = report.issues.find((i) => i.code === code && i.row === row && i.field === field);
  assert.ok(found, `expected ${code} at row ${row} field ${field}; got ${JSON.stringify(report.issues.map((i) => [i.code, i.row, i.field]))}`);
  assert.equal(report.accepted + report.quarantined, report.read);
}

function assertNoIssue(report: IngestReport, code: string): void {
  assert.equal(report.issues.filter((i) => i.code === code).length, 0, `unexpected ${code}: ${JSON.stringify(report.issues)}`);
  assert.equal(report.accepted + report.quarantined, report.read);
}

test("the untouched base file passes every rule", async () => {
  const report = await validate(() => {});
  assert.deepEqual(report.issues, []);
  assert.deepEqual(report.warnings, []);
  assert.equal(report.read, 9);
  assert.equal(report.accepted, 9);
});

// [rule, breaking mutation, expected data row (1-based), field, passing mutation]
type Case = [string, (rows: string[][]) => void, number, string, (rows: string[][]) => void];
const cases: Case[] = [
  ["wrong_type", (r) => (r[1]![col("f1")] = "abc"), 2, "f1", (r) => (r[1]![col("f1")] = "1e0")],
  ["missing_value", (r) => (r[3]![col("reward")] = ""), 4, "reward", (r) => (r[3]![col("reward")] = "0")],
  ["non_finite", (r) => (r[4]![col("f2")] = "nan"), 5, "f2", (r) => (r[4]![col("f2")] = "3e38")],
  ["non_finite", (r) => (r[4]![col("f2")] = "1e39"), 5, "f2", (r) => (r[4]![col("f2")] = "-3e38")], // float32 overflow
  ["non_finite", (r) => (r[4]![col("reward")] = "-inf"), 5, "reward", (r) => (r[4]![col("reward")] = "-1e-30")],
  ["invalid_step", (r) => (r[2]![col("step")] = "1.5"), 3, "step", (r) => (r[2]![col("step")] = "2.0")],
  ["missing_episode_id", (r) => (r[8]![col("episode_id")] = ""), 9, "episode_id", (r) => (r[8]![col("episode_id")] = "solo")],
  ["reward_out_of_range", (r) => (r[0]![col("reward")] = "0.5"), 1, "reward", (r) => (r[0]![col("reward")] = "-10")],
  ["action_out_of_space", (r) => (r[0]![col("action")] = "3"), 1, "action", (r) => (r[0]![col("action")] = "2")],
  ["action_out_of_space", (r) => (r[0]![col("action")] = "-1"), 1, "action", (r) => (r[0]![col("action")] = "0")],
  ["action_out_of_space", (r) => (r[0]![col("action")] = "1.5"), 1, "action", (r) => (r[0]![col("action")] = "1.0")],
  ["propensity_out_of_range", (r) => (r[5]![col("propensity")] = "0"), 6, "propensity", (r) => (r[5]![col("propensity")] = "1")],
  ["propensity_out_of_range", (r) => (r[5]![col("propensity")] = "1.2"), 6, "propensity", (r) => (r[5]![col("propensity")] = "1e-9")],
  ["duplicate_step", (r) => r.splice(2, 0, [...r[1]!]), 3, "step", (r) => r.slice(3, 6).forEach((row) => (row[col("episode_id")] = "ep0-again"))],
  // a twin that comes back after a higher step (steps 0 1 2 1) is a duplicate, not only a disorder
  ["duplicate_step", (r) => r.splice(3, 0, [...r[1]!]), 4, "step", () => {}],
  ["step_disorder", (r) => ([r[1], r[2]] = [r[2]!, r[1]!]), 3, "step", () => {}],
  ["step_gap", (r) => r.splice(1, 1), 2, "step", () => {}],
  ["terminal_not_last", (r) => (r[0]![col("terminal")] = "1"), 1, "terminal", (r) => (r[2]![col("terminal")] = "1")],
  ["truncated_not_last", (r) => (r[6]![col("truncated")] = "1"), 7, "truncated", (r) => (r[8]![col("truncated")] = "1")],
  ["next_observation_mismatch", (r) => (r[0]![col("nf1")] = "999"), 1, "nf1", (r) => (r[2]![col("nf1")] = "999")],
];

for (const [code, breaking, row, field, passing] of cases) {
  test(`${code}: a breaking ${field} at row ${row} is reported, a borderline value passes`, async () => {
    const bad = await validate(breaking);
    assertIssue(bad, code, row, field);
    assert.ok(bad.quarantined >= 1);
    const good = await validate(passing);
    assertNoIssue(good, code);
  });
}

test("a rejected row takes its whole episode to quarantine (episode_rejected) and leaves an empty_episode warning", async () => {
  const report = await validate((r) => (r[4]![col("reward")] = "5"));
  assert.equal(report.quarantined, 3);
  assert.equal(report.accepted, 6);
  assert.equal(report.issueCounts.episode_rejected, 2);
  assert.deepEqual(report.episodes, { read: 3, accepted: 2, rejected: 1 });
  assert.ok(report.warnings.some((w) => w.code === "empty_episode" && w.value === "ep1"));
});

test("missing_column fails the file with the column named; extra_column is a warning", async () => {
  await assert.rejects(
    validate((rows, header) => {
      header.splice(col("f2"), 1);
      for (const r of rows) r.splice(col("f2"), 1);
    }),
    (error: unknown) => (error as { code?: string }).code === "missing_column" && (error as { details: { field?: string } }).details.field === "f2",
  );
  // a schema/file name mismatch shows what the file does have
  await assert.rejects(
    validate((rows, header) => {
      header[col("reward")] = "rew";
    }),
    (error: unknown) => /missing column\(s\) reward named by the schema; the file has episode_id, step, f1, f2, nf1, nf2, action, rew \(\+3 more\)/.test((error as Error).message),
  );
  // semicolon-separated: one column named "episode_id;step;...", reported as the separator it is
  await assert.rejects(
    validateFiles([csv([HEADER.join(";")], baseRows().map((r) => [r.join(";")]))], parseSchema(discreteSchema)),
    (error: unknown) =>
      (error as { code?: string }).code === "malformed_file" &&
      /\(line 1\): the header reads as one column; fields are separated by ';', not ',' \(ingest with --delimiter ';'\)/.test((error as Error).message),
  );
  const extra = await validate((rows, header) => {
    header.push("junk");
    for (const r of rows) r.push("x");
  });
  assert.ok(extra.warnings.some((w) => w.code === "extra_column" && w.field === "junk"));
  assert.equal(extra.quarantined, 0);
});

test("a CSV separated by semicolons or tabs reads with its delimiter to the same report as the comma file", async () => {
  const schema = parseSchema(discreteSchema);
  const comma = await validateFiles([csv(HEADER, baseRows())], schema);
  for (const delimiter of [";", "\t"]) {
    const path = join(dir, `input-${fileCounter++}.csv`);
    writeFileSync(path, [HEADER.join(delimiter), ...baseRows().map((r) => r.join(delimiter))].join("\n") + "\n");
    const report = await validateFiles([path], schema, { delimiter });
    assert.deepEqual({ ...report, sources: undefined }, { ...comma, sources: undefined }, JSON.stringify(delimiter));
    // Read as comma-separated it is one column, and the error names the delimiter to use.
    await assert.rejects(validateFiles([path], schema), (e: unknown) => /--delimiter (';'|tab)\)$/.test((e as Error).message));
  }
  for (const bad of ["", ";;", '"', "x", "\n"]) {
    await assert.rejects(validateFiles([csv(HEADER, baseRows())], schema, { delimiter: bad }), { code: "invalid_delimiter" });
  }
});

test("all_missing_feature is fatal; constant_feature is a warning; a varying feature is neither", async () => {
  await assert.rejects(validate((rows) => rows.forEach((r) => (r[col("f2")] = ""))), { code: "all_missing_feature", details: { field: "f2" } });
  const constant = await validate((rows) => rows.forEach((r) => (r[col("f2")] = "7")), { ...discreteSchema, nextObservations: undefined });
  assert.ok(constant.warnings.some((w) => w.code === "constant_feature" && w.field === "f2"));
  assert.ok(!constant.warnings.some((w) => w.code === "constant_feature" && w.field === "f1"));
});

const continuousSchema: DatasetSchemaInput = {
  episode: "episode_id",
  step: "step",
  observations: ["f1", "f2"],
  action: { columns: ["a0", "a1"], kind: "continuous", low: [-1, -2], high: [1, 2] },
  reward: { column: "reward", min: -10, max: 0 },
  behaviorProb: { column: "logp", kind: "log_density" },
};

async function validateContinuous(mutate: (rows: string[][]) => void): Promise<IngestReport> {
  const rows = baseRows().map((r) => [r[0]!, r[1]!, r[2]!, r[3]!, "0.5", "-1.5", r[col("reward")]!, "-1.2"]);
  mutate(rows);
  return validateFiles([csv(["episode_id", "step", "f1", "f2", "a0", "a1", "reward", "logp"], rows)], parseSchema(continuousSchema));
}

test("continuous action_out_of_space checks each dimension against its own bounds", async () => {
  assertIssue(await validateContinuous((r) => (r[3]![5] = "-2.5")), "action_out_of_space", 4, "a1");
  assertIssue(await validateContinuous((r) => (r[3]![4] = "1.01")), "action_out_of_space", 4, "a0");
  assertNoIssue(await validateContinuous((r) => ((r[3]![4] = "1"), (r[3]![5] = "-2"))), "action_out_of_space");
});

test("log_density_not_finite: an infinite log-density is reported, a very negative finite one passes", async () => {
  assertIssue(await validateContinuous((r) => (r[7]![7] = "-inf")), "log_density_not_finite", 8, "logp");
  assertNoIssue(await validateContinuous((r) => (r[7]![7] = "-700")), "log_density_not_finite");
});

test("a NaN in a column does not hide an out-of-range value elsewhere in it (the clean-data shortcut stays conservative)", async () => {
  // NaN sorts above every number, so the column's max is NaN; the out-of-range rows must still be reported
  const report = await validate((r) => {
    r[0]![col("reward")] = "nan";
    r[4]![col("reward")] = "5";
    r[6]![col("propensity")] = "nan";
    r[7]![col("propensity")] = "1.5";
  });
  assertIssue(report, "non_finite", 1, "reward");
  assertIssue(report, "reward_out_of_range", 5, "reward");
  assertIssue(report, "non_finite", 7, "propensity");
  assertIssue(report, "propensity_out_of_range", 8, "propensity");
});
