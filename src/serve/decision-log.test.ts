import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecisionLog, decisionLogSegments, readDecisionLog } from "./decision-log.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "hindcast-log-"));
}

test("appends resolve only after their batch is written, and batches group concurrent records", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir, maxSegmentBytes: 1 << 20 });
    const promises = Array.from({ length: 500 }, (_, i) => log.append({ kind: "feedback", decisionId: `d${i}`, ts: i, reward: i, late: false, duplicate: false }));
    await Promise.all(promises);
    // every record is in the file once the promises resolved, before close
    const text = readFileSync(log.segmentPath, "utf8");
    // preallocated: the records, then zeros up to the segment size
    assert.equal(text.length, 1 << 20);
    const lines = text.slice(0, text.indexOf("\u0000")).trim().split("\n");
    assert.equal(lines.length, 500);
    assert.ok(log.stats.batches < 500, `batches ${log.stats.batches}`);
    await log.close();
    const { records } = readDecisionLog(dir);
    assert.deepEqual(records.map((r) => (r.kind === "feedback" ? r.reward : -1)), Array.from({ length: 500 }, (_, i) => i));
    assert.ok(JSON.parse(readFileSync(join(dir, "schema.json"), "utf8")).format.startsWith("hindcast.decision-log"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("segments rotate by size and the reader keeps their order", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir, maxSegmentBytes: 2000 });
    // (2000-byte segments fill after ~20 records: many rotations, some while the next segment is being prepared)
    for (let i = 0; i < 200; i++) await log.append({ kind: "feedback", decisionId: `d${i}`, ts: i, reward: i, late: false, duplicate: false });
    await log.close();
    assert.ok(decisionLogSegments(dir).length > 3);
    const { records } = readDecisionLog(dir);
    assert.equal(records.length, 200);
    assert.deepEqual(records.map((r) => (r.kind === "feedback" ? r.ts : -1)), Array.from({ length: 200 }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a torn trailing line is skipped and a reopened log starts a new segment", async () => {
  const dir = tempDir();
  try {
    const first = new DecisionLog({ dir, maxSegmentBytes: 4096 });
    await first.append({ kind: "feedback", decisionId: "a", ts: 1, reward: 1, late: false, duplicate: false });
    await first.close();
    // A crash mid-write leaves part of a line in place, followed by the preallocated zeros.
    const end = readFileSync(first.segmentPath, "utf8").indexOf("\u0000");
    const fd = openSync(first.segmentPath, "r+");
    writeSync(fd, '{"kind":"feedback","decisionId":"b","ts"', end);
    closeSync(fd);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const second = new DecisionLog({ dir, preallocate: false });
    await second.append({ kind: "feedback", decisionId: "c", ts: 3, reward: 3, late: false, duplicate: false });
    await second.close();
    assert.notEqual(first.segmentPath, second.segmentPath);
    const { records, tornLines } = readDecisionLog(dir);
    assert.equal(tornLines, 1);
    assert.deepEqual(records.map((r) => (r.kind === "feedback" ? r.decisionId : "")), ["a", "c"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("appending after close is refused with a coded error", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir, maxSegmentBytes: 4096 });
    await log.close();
    await assert.rejects(log.append({}), { code: "log_unavailable" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
