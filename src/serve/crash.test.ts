import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decisionLogSegments, readDecisionLog } from "./decision-log.js";

const server = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "crash-server.ts");

function startServer(logDir: string, preallocate: boolean): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", server, logDir, preallocate ? "prealloc" : "append"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split("\n")[0];
      if (buffered.includes("\n")) resolve({ child, url: line.trim() });
    });
    child.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
  });
}

for (const preallocate of [false, true]) test(`kill -9 under load loses no answered decision, and a restart keeps logging (${preallocate ? "preallocated" : "appended"} segments)`, { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-crash-"));
  try {
    const { child, url } = await startServer(dir, preallocate);
    const answered: string[] = [];
    let stop = false;
    let failures = 0;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const response = await fetch(`${url}/v1/decide`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ routingKey: `w${w}-${i}`, state: [(i % 19) - 9, (i % 7) - 3] }),
          });
          if (response.status === 200) answered.push(((await response.json()) as { decisionId: string }).decisionId);
        } catch {
          failures += 1;
          if (stop) return;
        }
      }
    };
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    // Kill once a good number of decisions are answered, mid-stream.
    while (answered.length < 1500) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill("SIGKILL");
    await exited;
    stop = true;
    await Promise.all(workers);
    const { records } = readDecisionLog(dir);
    const logged = new Set(records.filter((r) => r.kind === "decision").map((r) => (r.kind === "decision" ? r.id : "")));
    const lost = answered.filter((id) => !logged.has(id));
    assert.equal(lost.length, 0, `${lost.length} answered decisions missing from the log`);
    assert.ok(answered.length >= 1500);
    assert.ok(failures > 0 || logged.size >= answered.length);

    const segmentsBefore = new Set(decisionLogSegments(dir));
    const restarted = await startServer(dir, preallocate);
    const again = await fetch(`${restarted.url}/v1/decide`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ routingKey: "after-restart", state: [1, 2] }),
    });
    assert.equal(again.status, 200);
    const id = ((await again.json()) as { decisionId: string }).decisionId;
    const restartedExit = new Promise<void>((resolve) => restarted.child.once("exit", () => resolve()));
    restarted.child.kill("SIGKILL");
    await restartedExit;
    // The restart repaired the crashed segments (no zero tail, no torn line) and wrote to a new one.
    const crashedSegments = decisionLogSegments(dir).filter((path) => segmentsBefore.has(path));
    assert.ok(crashedSegments.length > 0);
    for (const path of crashedSegments) {
      const bytes = readFileSync(path);
      assert.equal(bytes.indexOf(0), -1, `${path} still has a zero tail`);
      assert.equal(bytes[bytes.length - 1], 0x0a);
    }
    assert.ok(decisionLogSegments(dir).some((path) => !segmentsBefore.has(path)));
    const after = readDecisionLog(dir).records.filter((r) => r.kind === "decision").map((r) => (r.kind === "decision" ? r.id : ""));
    assert.ok(after.includes(id));
    for (const answeredId of answered) assert.ok(after.includes(answeredId));

    // Restarts do not pile up zero-filled segments: each one repairs (or removes) what the previous run left.
    const segmentsSecondRun = decisionLogSegments(dir).filter((path) => !segmentsBefore.has(path));
    const third = await startServer(dir, preallocate);
    const thirdExit = new Promise<void>((resolve) => third.child.once("exit", () => resolve()));
    third.child.kill("SIGKILL");
    await thirdExit;
    const zeroTailed = decisionLogSegments(dir).filter((path) => readFileSync(path).indexOf(0) >= 0);
    assert.ok(zeroTailed.every((path) => !segmentsBefore.has(path) && !segmentsSecondRun.includes(path)), zeroTailed.join(", "));
    assert.ok(zeroTailed.length <= (preallocate ? 2 : 0), zeroTailed.join(", "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
