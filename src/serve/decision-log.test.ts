import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecisionLogTail, readDecisionWindow } from "../monitor/decision-log.js";
import { exportDecisionLog } from "./log-dataset.js";
import { DecisionLog, decisionLogSegments, readDecisionLog, recoverDecisionLog, serializeDecisionRecord, type DecisionRecord } from "./decision-log.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "hindcast-log-"));
}

test("appends resolve only after their batch is written, and batches group concurrent records", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir, maxSegmentBytes: 1 << 20, preallocate: true });
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
    // closing cuts the zero tail off: the file is exactly the records
    assert.equal(readFileSync(log.segmentPath, "utf8"), lines.join("\n") + "\n");
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
    const log = new DecisionLog({ dir, maxSegmentBytes: 2000, preallocate: true });
    // (2000-byte segments fill after ~20 records: many rotations, some while the next segment is being prepared)
    for (let i = 0; i < 200; i++) await log.append({ kind: "feedback", decisionId: `d${i}`, ts: i, reward: i, late: false, duplicate: false });
    await log.close();
    assert.ok(decisionLogSegments(dir).length > 3);
    // every rotated segment was truncated to its records: no zero byte anywhere, each ends with a newline
    for (const path of decisionLogSegments(dir)) {
      const bytes = readFileSync(path);
      assert.equal(bytes.indexOf(0), -1, path);
      assert.equal(bytes[bytes.length - 1], 0x0a, path);
    }
    const { records } = readDecisionLog(dir);
    assert.equal(records.length, 200);
    assert.deepEqual(records.map((r) => (r.kind === "feedback" ? r.ts : -1)), Array.from({ length: 200 }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a torn trailing line is cut off on reopen and a reopened log starts a new segment", async () => {
  const dir = tempDir();
  try {
    const first = new DecisionLog({ dir, maxSegmentBytes: 4096, preallocate: true });
    await first.append({ kind: "feedback", decisionId: "a", ts: 1, reward: 1, late: false, duplicate: false });
    await first.close();
    // A crash mid-write leaves part of a line at the end (closed segments are truncated to their records).
    const end = readFileSync(first.segmentPath).length;
    const fd = openSync(first.segmentPath, "r+");
    writeSync(fd, '{"kind":"feedback","decisionId":"b","ts"', end);
    closeSync(fd);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const second = new DecisionLog({ dir, preallocate: false });
    await second.append({ kind: "feedback", decisionId: "c", ts: 3, reward: 3, late: false, duplicate: false });
    await second.close();
    assert.notEqual(first.segmentPath, second.segmentPath);
    assert.deepEqual(second.recovered.segments, [first.segmentPath]);
    assert.equal(readFileSync(first.segmentPath, "utf8"), '{"kind":"feedback","decisionId":"a","ts":1,"reward":1,"late":false,"duplicate":false}\n');
    const { records, tornLines } = readDecisionLog(dir);
    assert.equal(tornLines, 0);
    assert.deepEqual(records.map((r) => (r.kind === "feedback" ? r.decisionId : "")), ["a", "c"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("appending after close is refused with a coded error; a log closed without records leaves no segment", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir, maxSegmentBytes: 4096 });
    await log.close();
    assert.deepEqual(decisionLogSegments(dir), []);
    await assert.rejects(log.append({}), { code: "log_unavailable" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("recovery cuts crashed segments at their last complete record, removes empty ones, spares live writers", () => {
  const dir = tempDir();
  try {
    const line = (id: string) => JSON.stringify({ kind: "feedback", decisionId: id, ts: 1, reward: 1, late: false, duplicate: false }) + "\n";
    const crashed = join(dir, `decisions-0000000000001-${process.pid}-0001.jsonl`);
    const prepared = join(dir, `decisions-0000000000002-${process.pid}-0002.jsonl`);
    const otherLive = join(dir, `decisions-0000000000003-${process.ppid}-0001.jsonl`);
    const complete = line("a") + line("b");
    // two batches on disk, a torn third, a zero gap, then a later batch written ahead of the gap (never answered)
    const crashedBytes = Buffer.concat([Buffer.from(complete + line("c").slice(0, 10)), Buffer.alloc(64), Buffer.from(line("d")), Buffer.alloc(4000)]);
    writeFileSync(crashed, crashedBytes);
    writeFileSync(prepared, Buffer.alloc(4096));
    const liveBytes = Buffer.concat([Buffer.from(line("x")), Buffer.alloc(100)]);
    writeFileSync(otherLive, liveBytes);
    const report = recoverDecisionLog(dir);
    assert.deepEqual(report.segments, [crashed]);
    assert.deepEqual(report.removed, [prepared]);
    assert.equal(report.bytesDropped, crashedBytes.length - Buffer.byteLength(complete) + 4096);
    assert.equal(readFileSync(crashed, "utf8"), complete);
    assert.equal(existsSync(prepared), false);
    assert.deepEqual(readFileSync(otherLive), liveBytes);
    // a second pass finds nothing to do
    assert.deepEqual(recoverDecisionLog(dir), { segments: [], removed: [], bytesDropped: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a clean restart leaves no zero-filled segment behind, even within the same millisecond", async () => {
  const dir = tempDir();
  const realNow = Date.now;
  // Every restart inside one millisecond: segment names must still differ.
  const frozen = realNow();
  Date.now = () => frozen;
  try {
    for (let run = 0; run < 3; run++) {
      const log = new DecisionLog({ dir, maxSegmentBytes: 1 << 16, preallocate: true });
      await log.append({ kind: "feedback", decisionId: `r${run}`, ts: run, reward: run, late: false, duplicate: false });
      await log.close();
    }
    const sizes = decisionLogSegments(dir).map((path) => statSync(path).size);
    assert.equal(sizes.length, 3);
    const expected = Buffer.byteLength(JSON.stringify({ kind: "feedback", decisionId: "r0", ts: 0, reward: 0, late: false, duplicate: false }) + "\n");
    assert.deepEqual(sizes, [expected, expected, expected]);
  } finally {
    Date.now = realNow;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("opening a second log on a directory leaves the first one's live segment alone", async () => {
  const dir = tempDir();
  try {
    const first = new DecisionLog({ dir, maxSegmentBytes: 4096, preallocate: true });
    await first.append({ kind: "feedback", decisionId: "a", ts: 1, reward: 1, late: false, duplicate: false });
    const second = new DecisionLog({ dir, maxSegmentBytes: 4096, preallocate: true });
    assert.deepEqual(second.recovered, { segments: [], removed: [], bytesDropped: 0 });
    assert.equal(readFileSync(first.segmentPath).length, 4096); // still preallocated, not cut
    await first.append({ kind: "feedback", decisionId: "b", ts: 2, reward: 2, late: false, duplicate: false });
    await first.close();
    await second.close();
    assert.deepEqual(readDecisionLog(dir).records.map((r) => (r.kind === "feedback" ? r.decisionId : "")), ["a", "b"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the decision-record serialiser writes exactly what JSON.stringify writes", () => {
  const featureNames = ["cpu", 'lo"ad'];
  const base: DecisionRecord = {
    kind: "decision", id: "mwvd4tzj-4blhv4o1-1", ts: 1795565146648, deployment: "default", routingKey: "user-1",
    route: "production", policyVersion: "p1@3", featureNames, state: [0.1, -2], action: 2, probability: 0.9666666666666667,
    latencyUs: 17, safety: [],
  };
  const records: DecisionRecord[] = [
    base,
    { ...base, routingKey: "ключ\n\u2028\"x\"", state: [null as unknown as number, 1e-300], route: "fallback", safety: ["allowed_actions"], fallbackReason: "missing_feature:cpu" },
    { ...base, action: [0.1, -3.5], probability: 1, episodeId: "ep-1", step: 4, logDensity: -0.91893853320467 },
    { ...base, shadows: [{ version: "p2@1", action: 1, agree: false, probability: 0 }], shadowErrors: [{ version: "p3@1", error: "boom \"x\"" }] },
    { ...base, state: [NaN, Infinity], probability: NaN },
  ];
  for (const record of records) assert.equal(serializeDecisionRecord(record), JSON.stringify(record));
});

test("with preallocation off a live segment's size is its records, so a reader following the size sees each batch", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir, preallocate: false });
    const line = (id: string) => JSON.stringify({ kind: "feedback", decisionId: id, ts: 1, reward: 1, late: false, duplicate: false }) + "\n";
    await log.append(JSON.parse(line("a")));
    assert.equal(statSync(log.segmentPath).size, Buffer.byteLength(line("a")));
    await log.append(JSON.parse(line("b")));
    assert.equal(readFileSync(log.segmentPath, "utf8"), line("a") + line("b"));
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("appended segments never show a hole to a reader following the file, even when batch writes finish out of order", async () => {
  const dir = tempDir();
  // Hold back the first batch write so the second one completes first (a slow thread-pool write).
  const fs = createRequire(import.meta.url)("node:fs") as { write: unknown };
  const realWrite = fs.write;
  let held = false;
  fs.write = (...args: unknown[]) => {
    if (!held) {
      held = true;
      setTimeout(() => (realWrite as (...a: unknown[]) => void)(...args), 100);
      return;
    }
    return (realWrite as (...a: unknown[]) => void)(...args);
  };
  syncBuiltinESMExports();
  try {
    const log = new DecisionLog({ dir, maxWritesInFlight: 2, preallocate: false });
    const first = log.append({ kind: "feedback", decisionId: "first", ts: 1, reward: 1, late: false, duplicate: false });
    await new Promise((resolve) => setImmediate(resolve));
    const second = log.append({ kind: "feedback", decisionId: "second", ts: 2, reward: 2, late: false, duplicate: false });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // the second batch is on disk, the first is not: a reader sees only complete records, no zeros before them
    const midway = readFileSync(log.segmentPath);
    assert.equal(midway.indexOf(0), -1, "a hole of zeros is visible to readers");
    assert.deepEqual(midway.toString("utf8").trim().split("\n").map((line) => JSON.parse(line).decisionId), ["second"]);
    await Promise.all([first, second]);
    await log.close();
    assert.deepEqual(readDecisionLog(dir).records.map((r) => (r.kind === "feedback" ? r.decisionId : "")).sort(), ["first", "second"]);
  } finally {
    fs.write = realWrite;
    syncBuiltinESMExports();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a second batch write waits until the first has been in flight for overlapAfterMs, then pipelines", async () => {
  const dir = tempDir();
  // Every batch write is counted; the first is held back 400 ms (a stalled disk).
  const fs = createRequire(import.meta.url)("node:fs") as { write: unknown };
  const realWrite = fs.write;
  let writes = 0;
  fs.write = (...args: unknown[]) => {
    writes += 1;
    if (writes === 1) {
      setTimeout(() => (realWrite as (...a: unknown[]) => void)(...args), 400);
      return;
    }
    return (realWrite as (...a: unknown[]) => void)(...args);
  };
  syncBuiltinESMExports();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const feedback = (id: string) => ({ kind: "feedback" as const, decisionId: id, ts: 1, reward: 1, late: false, duplicate: false });
  try {
    const log = new DecisionLog({ dir, maxWritesInFlight: 2, overlapAfterMs: 200 });
    const resolved: string[] = [];
    const append = (id: string) => log.append(feedback(id)).then(() => void resolved.push(id));
    const pending = [append("a")];
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes, 1);
    // Appended in later turns while the first write is young: they wait, and grow one batch.
    pending.push(append("b"));
    await sleep(20);
    pending.push(append("c"));
    await sleep(30);
    assert.equal(writes, 1, "a second write started while the first was young");
    // Past overlapAfterMs the queued batch is written although the first write is still out.
    await sleep(250);
    assert.equal(writes, 2, "the queued batch was not pipelined behind the stalled write");
    assert.deepEqual(resolved, [], "a batch resolved before the batch ahead of it was written");
    await Promise.all(pending);
    assert.deepEqual(resolved, ["a", "b", "c"]);
    assert.equal(log.stats.batches, 2);
    await log.close();
    assert.deepEqual(readDecisionLog(dir).records.map((r) => (r.kind === "feedback" ? r.decisionId : "")), ["a", "b", "c"]);
  } finally {
    fs.write = realWrite;
    syncBuiltinESMExports();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the monitor's live tail sees every record of the default preallocated log exactly once, across rotations and a restart", async () => {
  const dir = tempDir();
  try {
    const decision = (n: number): DecisionRecord => ({
      kind: "decision", id: `d${n}`, ts: n, deployment: "default", routingKey: `k${n}`, route: "production", policyVersion: "p@1",
      featureNames: ["x"], state: [n], action: n % 3, probability: 0.5, latencyUs: 20, safety: [],
    });
    const tail = new DecisionLogTail(dir);
    const expected: string[] = [];
    let n = 0;
    const run = async (log: DecisionLog, rounds: number): Promise<void> => {
      for (let round = 0; round < rounds; round++) {
        const batch = Array.from({ length: 1 + (round % 4) }, () => decision(n++));
        const pending = batch.map((record) => log.appendLine(serializeDecisionRecord(record)));
        tail.poll(); // while the batch is queued or in flight
        await new Promise((resolve) => setImmediate(resolve));
        tail.poll();
        await Promise.all(pending);
        expected.push(...batch.map((record) => record.id));
        tail.poll();
        // every answered record is seen, none twice (ids are in ts order)
        assert.deepEqual(tail.accumulator.window().decisions.map((d) => d.id), expected);
      }
    };
    const first = new DecisionLog({ dir, maxSegmentBytes: 2048 });
    await run(first, 40);
    const live = readFileSync(first.segmentPath);
    assert.equal(live.length, 2048, "the live segment is preallocated");
    assert.equal(readDecisionWindow(dir).skippedLines, 0);
    const segments = decisionLogSegments(dir);
    assert.ok(segments.length >= 3, `rotated ${segments.length} segments`);
    await first.close();
    tail.poll();
    const second = new DecisionLog({ dir, maxSegmentBytes: 2048 });
    await run(second, 10);
    await second.close();
    tail.poll();
    assert.deepEqual(tail.accumulator.window().decisions.map((d) => d.id), expected);
    assert.equal(tail.accumulator.skippedLines, 0);
    for (const path of decisionLogSegments(dir)) assert.equal(readFileSync(path).indexOf(0), -1, `${path} keeps a zero tail after close`);
    assert.deepEqual(readDecisionLog(dir).records.map((r) => (r.kind === "decision" ? r.id : "")), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a restart reuses a zero-filled segment a crashed process never wrote to, instead of zero-filling another", async () => {
  const dir = tempDir();
  try {
    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid; // exited: its segments are a crashed writer's
    const line = JSON.stringify({ kind: "feedback", decisionId: "a", ts: 1, reward: 1, late: false, duplicate: false }) + "\n";
    const unused = join(dir, `decisions-0000000000001-${deadPid}-0001.jsonl`);
    const torn = join(dir, `decisions-0000000000002-${deadPid}-0002.jsonl`);
    const otherSize = join(dir, `decisions-0000000000003-${deadPid}-0003.jsonl`);
    writeFileSync(unused, Buffer.alloc(4096));
    writeFileSync(torn, Buffer.concat([Buffer.from(line.slice(0, 12)), Buffer.alloc(4096 - 12)])); // no complete record
    writeFileSync(otherSize, Buffer.alloc(2048));
    const inode = statSync(unused).ino;
    const log = new DecisionLog({ dir, maxSegmentBytes: 4096 });
    assert.deepEqual(log.recovered.removed, [torn, otherSize]);
    assert.equal(statSync(log.segmentPath).ino, inode, "the unused segment is taken over");
    assert.equal(statSync(log.segmentPath).size, 4096);
    assert.deepEqual(decisionLogSegments(dir), [log.segmentPath]);
    await log.append(JSON.parse(line));
    await log.close();
    assert.equal(readFileSync(log.segmentPath, "utf8"), line);
    // with preallocation off nothing is reused: an unused zero-filled segment is removed
    writeFileSync(unused, Buffer.alloc(4096));
    const appended = new DecisionLog({ dir, maxSegmentBytes: 4096, preallocate: false });
    assert.deepEqual(appended.recovered.removed, [unused]);
    await appended.close();
    assert.deepEqual(readDecisionLog(dir).records.map((r) => (r.kind === "feedback" ? r.decisionId : "")), ["a"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a live preallocated log is exported for ingest without its zero tail", async () => {
  const dir = tempDir();
  try {
    const log = new DecisionLog({ dir: join(dir, "log"), maxSegmentBytes: 1 << 16 });
    for (let n = 0; n < 5; n++) {
      const decision: DecisionRecord = {
        kind: "decision", id: `d${n}`, ts: n, deployment: "default", routingKey: `k${n}`, route: "production", policyVersion: "p@1",
        featureNames: ["x"], state: [n], action: n % 2, probability: 0.75, latencyUs: 20, safety: [],
      };
      await log.appendLine(serializeDecisionRecord(decision));
      if (n !== 3) await log.append({ kind: "feedback", decisionId: `d${n}`, ts: n + 0.5, reward: n * 10, late: false, duplicate: false });
    }
    assert.equal(statSync(log.segmentPath).size, 1 << 16);
    const result = exportDecisionLog({ logDir: join(dir, "log"), outDir: join(dir, "out"), actionSpace: { kind: "discrete", n: 2 } });
    assert.deepEqual([result.rows, result.withoutFeedback], [4, 1]);
    const rows = readFileSync(result.dataFile, "utf8").trim().split("\n").map((text) => JSON.parse(text) as { state: number[]; reward: number });
    assert.deepEqual(rows.map((row) => [row.state[0], row.reward]), [[0, 0], [1, 10], [2, 20], [4, 40]]);
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
