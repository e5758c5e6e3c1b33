import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecisionLog, decisionLogSegments, readDecisionLog } from "./decision-log.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "hindcast-log-"));
}

test("appends resolve only after their batch is written, and batches group concurrent records", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir });
    const promises = Array.from({ length: 500 }, (_, i) => log.append({ kind: "feedback", decisionId: `d${i}`, ts: i, reward: i, late: false, duplicate: false }));
    await Promise.all(promises);
    // every record is in the file once the promises resolved, before close
    const lines = readFileSync(log.segmentPath, "utf8").trim().split("\n");
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
    const first = new DecisionLog({ dir });
    await first.append({ kind: "feedback", decisionId: "a", ts: 1, reward: 1, late: false, duplicate: false });
    await first.close();
    appendFileSync(first.segmentPath, '{"kind":"feedback","decisionId":"b","ts"');
    await new Promise((resolve) => setTimeout(resolve, 2));
    const second = new DecisionLog({ dir });
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
    const log = new DecisionLog({ dir });
    await log.close();
    await assert.rejects(log.append({}), { code: "log_unavailable" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
