import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecisionLogTail, readDecisionWindow } from "./decision-log.js";

const record = (id: string, ts: number) =>
  JSON.stringify({ kind: "decision", id, ts, deployment: "d", route: "production", policyVersion: "p", state: [ts], action: 0, probability: 1, latencyUs: 10, safety: [] }) + "\n";

function ids(tail: DecisionLogTail): string[] {
  return tail.accumulator.window().decisions.map((d) => d.id);
}

/** Writes `text` at `position` of a file, in place (as the service writes a preallocated segment). */
function writeAt(file: string, text: string, position: number): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Buffer.from(text), 0, Buffer.byteLength(text), position);
  } finally {
    closeSync(fd);
  }
}

test("the tail follows a preallocated segment up to its first zero, waits at a hole, and survives the cut at rotation", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-tail-prealloc-"));
  try {
    const file = join(dir, "decisions-0000000000001-1-0001.jsonl");
    writeFileSync(file, Buffer.alloc(4096));
    const [a, b, c, d] = [record("a", 1), record("b", 2), record("c", 3), record("d", 4)];
    const tail = new DecisionLogTail(dir);
    assert.equal(tail.poll(), 0);
    writeAt(file, a, 0);
    assert.equal(tail.poll(), a.length);
    assert.deepEqual(ids(tail), ["a"]);
    // c's batch finished before b's: the zeros between them are a hole the tail must not pass over
    writeAt(file, c, a.length + b.length);
    assert.equal(tail.poll(), 0);
    assert.deepEqual(ids(tail), ["a"]);
    writeAt(file, b, a.length);
    assert.equal(tail.poll(), b.length + c.length);
    assert.deepEqual(ids(tail), ["a", "b", "c"]);
    // half of d visible: kept as a partial line, not counted as skipped
    const dAt = a.length + b.length + c.length;
    writeAt(file, d.slice(0, 9), dAt);
    tail.poll();
    assert.deepEqual(ids(tail), ["a", "b", "c"]);
    writeAt(file, d.slice(9), dAt + 9);
    tail.poll();
    assert.deepEqual(ids(tail), ["a", "b", "c", "d"]);
    // rotation cuts the zero tail off: nothing new, nothing read twice
    const written = dAt + d.length;
    const fd = openSync(file, "r+");
    ftruncateSync(fd, written);
    closeSync(fd);
    assert.equal(tail.poll(), 0);
    const next = join(dir, "decisions-0000000000002-1-0002.jsonl");
    writeFileSync(next, Buffer.alloc(4096));
    writeAt(next, record("e", 5), 0);
    tail.poll();
    assert.deepEqual(ids(tail), ["a", "b", "c", "d", "e"]);
    assert.equal(tail.accumulator.skippedLines, 0);
    assert.equal(statSync(file).size, written);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a torn last line cut off by crash recovery is dropped, and a segment removed meanwhile is forgotten", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-tail-cut-"));
  try {
    const file = join(dir, "decisions-0000000000001-1-0001.jsonl");
    const a = record("a", 1);
    writeFileSync(file, a + record("torn", 2).slice(0, 15));
    const unused = join(dir, "decisions-0000000000002-1-0002.jsonl");
    writeFileSync(unused, Buffer.alloc(1024));
    const tail = new DecisionLogTail(dir);
    tail.poll();
    assert.deepEqual(ids(tail), ["a"]);
    // recovery: back to the last complete record, the unused preallocated segment removed
    const fd = openSync(file, "r+");
    ftruncateSync(fd, a.length);
    closeSync(fd);
    rmSync(unused);
    assert.equal(tail.poll(), 0);
    const restarted = join(dir, "decisions-0000000000003-2-0001.jsonl");
    writeFileSync(restarted, record("b", 3));
    tail.poll();
    assert.deepEqual(ids(tail), ["a", "b"]);
    assert.equal(tail.accumulator.skippedLines, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("reading a whole log stops at each segment's zero tail without counting it as a skipped line", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-window-prealloc-"));
  try {
    const text = record("a", 1) + record("b", 2);
    writeFileSync(join(dir, "decisions-0000000000001-1-0001.jsonl"), Buffer.concat([Buffer.from(text), Buffer.alloc(2048)]));
    const window = readDecisionWindow(dir);
    assert.deepEqual(window.decisions.map((d) => d.id), ["a", "b"]);
    assert.equal(window.skippedLines, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
