// Decision service benchmark: `npx tsx bench/serve.ts [--duration S] [--only log-safety,in-process]`.
// 0. references on the same machine at the same moment: bare Fastify, and our path without fdatasync
// 1. HTTP decisions/s and p99 with the durable decision log and safety rules on (autocannon, 32 connections, loopback)
//    (default: preallocated log segments; for context, the same with appended segments, --no-preallocate-log)
// 2. the same with one canary (10 %) and two shadows
// 3. in-process decision latency p99 (state parsing, scaling, policy, exploration, OOD guard, safety rules)
// 4. the durable decision log alone (context: how much of the HTTP figure the disk takes)
// The server runs in a child process so the load generator does not share its event loop; its CPU per decision is
// printed whole and split into the event loop and other threads (thread pool, GC helpers).
// Environment: HINDCAST_BENCH_LOG_WRITES=N (log writes in flight), HINDCAST_BENCH_LOG_OVERLAP_MS=MS (0: pipeline at
// once), HINDCAST_BENCH_CPU_PROF=DIR (the server writes a V8 CPU profile there when it stops).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { DeploymentInput } from "../src/serve/config.js";
import { linearPolicy, type DecisionPolicy } from "../src/serve/policy.js";
import { MemoryRoutingSource } from "../src/serve/routing.js";
import { createDecisionService } from "../src/serve/service.js";
import { DecisionLog } from "../src/serve/decision-log.js";
import { loadNote } from "./load.js";

// autocannon ships no type declarations; this is the part of its API used here.
interface AutocannonResult {
  requests: { average: number };
  latency: { p99: number };
  errors: number;
  non2xx: number;
}
type AutocannonRequest = { method?: string; headers?: Record<string, string>; body?: string };
const autocannon = createRequire(import.meta.url)("autocannon") as (options: {
  url: string;
  connections: number;
  duration: number;
  method: string;
  headers: Record<string, string>;
  requests: Array<{ setupRequest: (request: AutocannonRequest) => AutocannonRequest }>;
}) => Promise<AutocannonResult>;

const FEATURES = ["queue", "cpu", "memory", "latency", "errors", "hour", "weekday", "load"];
const ACTIONS = 4;

function benchPolicy(version: string, seed: number): DecisionPolicy {
  const weights = Array.from({ length: ACTIONS * FEATURES.length }, (_, i) => Math.sin(seed * 13 + i * 7.1));
  return linearPolicy({
    version,
    actionSpace: { kind: "discrete", n: ACTIONS },
    featureNames: FEATURES,
    weights,
    scaler: { mean: FEATURES.map((_, j) => 0.1 * j), std: FEATURES.map((_, j) => 1 + 0.05 * j) },
    support: {
      min: FEATURES.map(() => -5),
      max: FEATURES.map(() => 5),
      whitening: { mean: FEATURES.map(() => 0), matrix: FEATURES.map(() => 1), threshold: 10 },
    },
  });
}

const policies = new Map([1, 2, 3, 4].map((i) => [`p${i}`, benchPolicy(`p${i}`, i)]));

function spec(scenario: string): DeploymentInput {
  const base: DeploymentInput = {
    production: { policy: "p1" },
    fallback: { action: 0 },
    exploration: { kind: "epsilon", epsilon: 0.05 },
    safety: {
      allowedActions: [
        { when: { feature: "cpu", op: ">", value: 2 }, actions: [0, 1, 2] },
        { when: { any: [{ feature: "errors", op: ">", value: 3 }, { feature: "queue", op: "<", value: -4 }] }, actions: [0, 1] },
      ],
    },
  };
  if (scenario === "canary-shadows") {
    base.canary = { policy: "p2", fraction: 0.1 };
    base.shadows = [{ policy: "p3" }, { policy: "p4" }];
  }
  return base;
}

async function runServer(scenario: string, logDir: string): Promise<void> {
  if (scenario === "bare-fastify") {
    // Reference point on the same machine at the same moment: Fastify parsing the body and returning a constant.
    const { default: Fastify } = await import("fastify");
    const app = Fastify();
    app.post("/v1/decide", async () => ({ action: 0 }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    process.stdout.write(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}\n`);
    return;
  }
  const service = await createDecisionService({
    routing: new MemoryRoutingSource({ deployments: { default: spec(scenario) } }),
    loader: async (ref) => policies.get(ref)!,
    logDir,
    port: 0,
    // Context only: the same work with the log written but not fdatasync'ed, to separate CPU from disk latency.
    durableLog: scenario !== "log-no-fsync",
    // Preallocated segments are the default; context: appended segments (--no-preallocate-log), slower durable writes.
    preallocateLog: scenario === "log-append" ? false : undefined,
    logWritesInFlight: process.env["HINDCAST_BENCH_LOG_WRITES"] ? Number(process.env["HINDCAST_BENCH_LOG_WRITES"]) : undefined,
    logOverlapAfterMs: process.env["HINDCAST_BENCH_LOG_OVERLAP_MS"] ? Number(process.env["HINDCAST_BENCH_LOG_OVERLAP_MS"]) : undefined,
  });
  const { url } = await service.start();
  process.once("SIGTERM", () => void service.stop().then(() => process.exit(0)));
  process.stdout.write(url + "\n");
}

function startServer(scenario: string, logDir: string): Promise<{ child: ChildProcess; url: string }> {
  const self = fileURLToPath(import.meta.url);
  // HINDCAST_BENCH_CPU_PROF=DIR: the server writes a V8 CPU profile there (node --cpu-prof) when it stops.
  const profileDir = process.env["HINDCAST_BENCH_CPU_PROF"];
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [];
  const child = spawn(process.execPath, [...profile, "--import", "tsx", self, "--server", scenario, logDir], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      if (buffered.includes("\n")) resolve({ child, url: buffered.split("\n")[0].trim() });
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function stateFor(i: number): number[] {
  return FEATURES.map((_, j) => Math.sin(i * 0.37 + j) * 3);
}

// Bodies are built up front (4096 routing keys, 1024 states) so the load generator, which shares the machine,
// spends its CPU on sending rather than on JSON.stringify.
const BODIES = Array.from({ length: 4096 }, (_, i) => JSON.stringify({ routingKey: `user-${i}`, state: stateFor(i & 1023) }));

async function load(url: string, seconds: number): Promise<{ rps: number; p99: number; errors: number; non2xx: number }> {
  let counter = 0;
  const result = await autocannon({
    url: `${url}/v1/decide`,
    connections: 32,
    duration: seconds,
    method: "POST",
    headers: { "content-type": "application/json" },
    requests: [
      {
        setupRequest: (request) => {
          counter += 1;
          return { ...request, body: BODIES[counter & 4095] };
        },
      },
    ],
  });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

/** Mean group-commit batch size and write-to-synced time, from the server's own metrics. */
async function logBatchSummary(url: string): Promise<string> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? NaN);
    const batches = value("hindcast_serve_log_batch_seconds_count");
    if (!(batches > 0)) return "";
    const seconds = value("hindcast_serve_log_batch_seconds_sum") / batches;
    const records = value("hindcast_serve_log_batch_records_sum") / batches;
    return `; log batches: ${records.toFixed(1)} records, ${(seconds * 1000).toFixed(2)} ms to a durable write on average`;
  } catch {
    return "";
  }
}

/**
 * CPU seconds (user + system) the process has used so far, from /proc: all threads, and the main (event-loop)
 * thread alone; the rest is libuv's thread pool (the log's writes), V8's GC helpers and the like. Null where
 * unavailable.
 */
async function cpuSeconds(child: ChildProcess): Promise<{ total: number; main: number } | null> {
  try {
    const { readFileSync } = await import("node:fs");
    const ticks = (path: string): number => {
      const stat = readFileSync(path, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the command name), in clock ticks
      return (Number(fields[11]) + Number(fields[12])) / 100;
    };
    return { total: ticks(`/proc/${child.pid}/stat`), main: ticks(`/proc/${child.pid}/task/${child.pid}/stat`) };
  } catch {
    return null;
  }
}

async function peakRss(child: ChildProcess): Promise<number | null> {
  try {
    const { readFileSync } = await import("node:fs");
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function httpScenario(scenario: string, seconds: number, target: { rps: number; p99?: number } | { reference: string }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-bench-serve-"));
  const { child, url } = await startServer(scenario, dir);
  try {
    await load(url, 2); // warm-up
    const cpuBefore = await cpuSeconds(child);
    const r = await load(url, seconds);
    const cpuAfter = await cpuSeconds(child);
    // The machine is shared, so wall-clock rates say little. CPU time per decision says what the server costs:
    // on an idle 2-core machine the server has one core (the load generator the other), so 1 s / (CPU per
    // decision) is its CPU ceiling; with the durable log, throughput is also bounded by connections / latency.
    const served = r.rps * seconds;
    const measured = cpuBefore !== null && cpuAfter !== null && served > 0;
    const cpuUs = measured ? ((cpuAfter.total - cpuBefore.total) / served) * 1e6 : null;
    const mainUs = measured ? ((cpuAfter.main - cpuBefore.main) / served) * 1e6 : null;
    const cpuPart =
      cpuUs !== null && mainUs !== null
        ? `; server CPU ${cpuUs.toFixed(1)} us/decision (event loop ${mainUs.toFixed(1)}, other threads ${(cpuUs - mainUs).toFixed(1)}; one-core ceiling ${Math.round(1e6 / cpuUs)}/s)`
        : "";
    const rss = await peakRss(child);
    const batch = await logBatchSummary(url);
    let verdict: string;
    let p99Part = `, p99 ${r.p99} ms`;
    if ("reference" in target) {
      verdict = `(${target.reference})`;
    } else {
      verdict = `(target >= ${target.rps}: ${r.rps >= target.rps ? "PASS" : "MISS"})`;
      if (target.p99 !== undefined) p99Part = `, p99 ${r.p99} ms (target < ${target.p99} ms: ${r.p99 < target.p99 ? "PASS" : "MISS"})`;
    }
    console.log(
      `${scenario.padEnd(15)} ${Math.round(r.rps)} decisions/s ${verdict}${p99Part}; ` +
        `errors ${r.errors}, non-2xx ${r.non2xx}${cpuPart}; server peak RSS ${rss?.toFixed(0) ?? "?"} MB${batch}`,
    );
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inProcess(iterations: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-bench-serve-"));
  const service = await createDecisionService({
    routing: new MemoryRoutingSource({ deployments: { default: spec("log-safety") } }),
    loader: async (ref) => policies.get(ref)!,
    logDir: dir,
  });
  try {
    await service.reload(true);
    const samples = new Float64Array(iterations);
    const states = Array.from({ length: 1024 }, (_, i) => stateFor(i));
    for (let i = -2000; i < iterations; i++) {
      const started = performance.now();
      await service.engine.decide({ deployment: "default", routingKey: `user-${i}`, state: states[i & 1023] });
      const elapsed = performance.now() - started;
      if (i >= 0) samples[i] = elapsed;
      // Let the log flush between bursts, as the HTTP server's event loop would.
      if ((i & 1023) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    samples.sort();
    const p50 = samples[Math.floor(0.5 * iterations)] * 1000;
    const p99 = samples[Math.floor(0.99 * iterations)] * 1000;
    console.log(`in-process      p50 ${p50.toFixed(1)} us, p99 ${p99.toFixed(1)} us (target p99 < 50 us: ${p99 < 50 ? "PASS" : "MISS"}) over ${iterations} decisions`);
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The durable decision log alone: 32 concurrent appenders, no HTTP (context for the HTTP figures). */
async function logOnly(seconds: number, maxWritesInFlight: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-bench-serve-"));
  const batchSeconds: number[] = [];
  const log = new DecisionLog({ dir, maxWritesInFlight, onBatch: (_records, s) => batchSeconds.push(s) });
  const record = { kind: "decision", id: "mwvbyqvw-1ryaz91-1", state: stateFor(1), action: 1, probability: 0.95, pad: "x".repeat(150) };
  let appended = 0;
  const end = performance.now() + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < end) {
          await log.append(record);
          appended += 1;
        }
      }),
    );
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
  batchSeconds.sort((a, b) => a - b);
  const median = batchSeconds[batchSeconds.length >> 1] * 1000;
  console.log(
    `log-only ${String(maxWritesInFlight).padEnd(6)} ${Math.round(appended / seconds)} durable records/s with 32 concurrent appenders, ` +
      `${maxWritesInFlight} write(s) in flight (context: the disk's share), median batch write ${median.toFixed(3)} ms over ${batchSeconds.length} batches`,
  );
}

if (process.argv[2] === "--server") {
  await runServer(process.argv[3], process.argv[4]);
} else {
  const durationFlag = process.argv.indexOf("--duration");
  const seconds = durationFlag > 0 ? Number(process.argv[durationFlag + 1]) : 8;
  console.log(`decision service bench, loopback, 32 connections, ${seconds} s per scenario (${loadNote()})`);
  // --only NAME[,NAME]: run just those parts (bare-fastify, log-no-fsync, log-safety, log-append, canary-shadows, in-process, log-only)
  const onlyFlag = process.argv.indexOf("--only");
  const only = onlyFlag > 0 ? new Set(process.argv[onlyFlag + 1].split(",")) : null;
  const run = (name: string) => !only || only.has(name);
  if (run("bare-fastify")) await httpScenario("bare-fastify", seconds, { reference: "reference: Fastify returning a constant, 62,000-74,000/s on an idle machine" });
  if (run("log-no-fsync")) await httpScenario("log-no-fsync", seconds, { reference: "context: log and safety on, fdatasync off; not a shipped mode" });
  if (run("log-safety")) await httpScenario("log-safety", seconds, { rps: 26_000, p99: 3 });
  if (run("log-append")) await httpScenario("log-append", seconds, { reference: "context: log-safety with appended segments (--no-preallocate-log), not the default" });
  if (run("canary-shadows")) await httpScenario("canary-shadows", seconds, { rps: 13_000 });
  if (run("in-process")) await inProcess(50_000);
  if (run("log-only")) for (const writes of [1, 2, 4]) await logOnly(3, writes);
}
