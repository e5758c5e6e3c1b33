// `hindcast serve --routing FILE` end to end: a real process on loopback serving a hand-built ONNX artifact, the
// admin kill switch, a clean stop on SIGTERM (log cut to its records), then `hindcast export-decisions`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decisionLogSegments, readDecisionLog } from "../../serve/decision-log.js";
import { writeLinearArtifact } from "../../serve/fixtures/onnx-linear.js";

const env = { ...process.env, HINDCAST_FROM_SOURCE: "1", HINDCAST_DEPLOYER_TOKEN: "cli-test-token" };

test("hindcast serve answers, logs, obeys the kill switch and stops cleanly; export-decisions reads the log back", { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-cli-"));
  try {
    await writeLinearArtifact(join(dir, "p1"), [1, 0, -1, 0, 1, -1]); // action 0 when x is largest
    writeFileSync(join(dir, "routing.yaml"), `deployments:\n  default:\n    production: { policy: ${join(dir, "p1")} }\n    fallback: { action: 2 }\n`);
    const logDir = join(dir, "log");
    // --log-overlap-ms 0: the second durable write may start at once (the default waits 1 ms); every guarantee holds.
    const child = spawn(process.execPath, ["bin/hindcast.js", "serve", "--routing", join(dir, "routing.yaml"), "--port", "0", "--log-dir", logDir, "--log-overlap-ms", "0"], {
      env, stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /serving on (http:\/\/\S+)/.exec(out);
        if (match) resolve(match[1]);
      });
      child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const post = async (path: string, body: unknown, token?: string) => {
      const response = await fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    try {
      const first = await post("/v1/decide", { routingKey: "a", state: { x: 3, y: 1 }, episodeId: "e1", step: 0 });
      assert.equal(first.status, 200);
      assert.deepEqual([first.body.action, first.body.route, first.body.probability], [0, "production", 1]);
      assert.equal((await post("/v1/feedback", { decisionId: first.body.decisionId, reward: 0.5 })).status, 200);
      // the dashboard is mounted in the service: its pages answer, and its live API sees this service's deployment
      const page = await fetch(`${url}/ui/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<h1>[^<]+<\/h1>[\s\S]*Last updated/);
      const deployments = (await (await fetch(`${url}/ui/api/deployments`)).json()) as { deployments: Array<{ name: string }> };
      assert.deepEqual(deployments.deployments.map((d) => d.name), ["default"]);
      assert.equal((await post("/v1/decide", { routingKey: "a", state: [1] })).body.error.code, "invalid_state");
      assert.equal((await post("/admin/kill", { on: true })).status, 401);
      assert.equal((await post("/admin/kill", { on: true }, "cli-test-token")).status, 200);
      const killed = await post("/v1/decide", { routingKey: "b", state: [3, 1] });
      assert.deepEqual([killed.body.action, killed.body.route], [2, "killed"]);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0);
    const segments = decisionLogSegments(logDir);
    assert.equal(segments.length, 1);
    const bytes = readFileSync(segments[0]);
    assert.equal(bytes[bytes.length - 1], 0x0a);
    const records = readDecisionLog(logDir).records;
    assert.deepEqual(records.map((r) => r.kind), ["decision", "feedback", "decision"]);

    const exported = spawnSync(process.execPath, ["bin/hindcast.js", "export-decisions", "--log", logDir, "--out", join(dir, "out"), "--json"], { env, encoding: "utf8" });
    assert.equal(exported.status, 0, exported.stderr);
    const result = JSON.parse(exported.stdout) as { rows: number; withoutFeedback: number; dataFile: string };
    // the killed decision has no feedback and is left out; the first one becomes a one-row episode
    assert.deepEqual([result.rows, result.withoutFeedback], [1, 1]);
    const row = JSON.parse(readFileSync(result.dataFile, "utf8").trim()) as Record<string, unknown>;
    assert.deepEqual([row["state"], row["action"], row["reward"], row["episode"]], [[3, 1], 0, 0.5, "e1"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hindcast serve refuses a negative or non-numeric --log-overlap-ms before it starts", () => {
  for (const value of ["-1", "soon"]) {
    const run = spawnSync(process.execPath, ["bin/hindcast.js", "serve", "--routing", "unused.yaml", "--log-overlap-ms", value], { env, encoding: "utf8" });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /--log-overlap-ms <ms>' argument '.*' is invalid\. expected a number of milliseconds >= 0/);
  }
});
