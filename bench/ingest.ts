// Ingest + validate + store 1,000,000 transitions x 20 float features from Parquet (target < 3 s), then load the
// version into typed arrays (target < 0.5 s). Also prints minibatch sampling throughput and peak RSS.
// The source file is generated first; the measurement runs in a fresh child process so that its peak RSS is that of
// ingest + load alone, not of building the input.
// Run: npx tsx bench/ingest.ts [rows]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ingest } from "../src/data/ingest.js";
import { loadTransitions } from "../src/data/loader.js";
import { Rng } from "../src/random/index.js";
import { createSampler } from "../src/data/sampler.js";
import { parseSchema } from "../src/data/schema.js";
import { writeColumns, type ColumnData } from "../src/data/write-columns.js";
import { loadNote } from "./load.js";

const measuring = process.argv[2] === "--measure";
const rows = Number(process.argv[measuring ? 4 : 2] ?? 1_000_000);
const features = 20;
const episodeLength = 100;
if (measuring) await measure(process.argv[3]!);
else await generateThenMeasure();

async function generateThenMeasure(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-bench-ingest-"));
  try {
    await generate(dir);
    const generatorPeakMiB = process.resourceUsage().maxRSS / 1024;
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--measure", dir, String(rows)], { stdio: "inherit" });
    console.log(`(input generation, separate process: peak RSS ${generatorPeakMiB.toFixed(0)} MiB)`);
    if (child.status !== 0) process.exitCode = child.status ?? 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function generate(dir: string): Promise<void> {
  const rng = new Rng(1);
  const random = () => rng.uniform();
  const columns: Record<string, ColumnData> = {};
  const episode = new Int32Array(rows);
  const step = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    episode[i] = Math.floor(i / episodeLength);
    step[i] = i % episodeLength;
  }
  columns.episode_id = episode;
  columns.step = step;
  for (let j = 0; j < features; j++) columns[`f${j}`] = new Float32Array(rows).map(() => random() * 2 - 1);
  columns.action = new Int32Array(rows).map(() => Math.floor(random() * 4));
  columns.reward = new Float32Array(rows).map(() => -random());
  columns.propensity = new Float64Array(rows).fill(0.25);
  await writeColumns(join(dir, "logged.parquet"), columns);
}

async function measure(dir: string): Promise<void> {
  const source = join(dir, "logged.parquet");
  const schema = parseSchema({
    episode: "episode_id",
    step: "step",
    observations: Array.from({ length: features }, (_, j) => `f${j}`),
    action: { column: "action", kind: "discrete", n: 4 },
    reward: { column: "reward", min: -1, max: 0 },
    behaviorProb: { column: "propensity", kind: "probability" },
  });

  const store = join(dir, "store");
  // CPU seconds (all threads, DuckDB's included) are printed beside wall time: on a shared machine they show how
  // much of the wall time was waiting for a core.
  const cpuSeconds = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1e6;
  };
  let start = performance.now();
  let cpu = process.cpuUsage();
  const { report } = await ingest({ files: [source], schema, dataset: "bench", store });
  const ingestSeconds = (performance.now() - start) / 1000;
  const ingestCpu = cpuSeconds(cpu);
  start = performance.now();
  cpu = process.cpuUsage();
  const transitions = await loadTransitions(store, "bench@latest");
  const loadSeconds = (performance.now() - start) / 1000;
  const loadCpu = cpuSeconds(cpu);
  const sampler = createSampler(transitions, 1);
  for (let k = 0; k < 1000; k++) sampler.sample(256); // warm-up (JIT)
  start = performance.now();
  cpu = process.cpuUsage();
  let batches = 0;
  while (performance.now() - start < 500) {
    for (let k = 0; k < 100; k++) sampler.sample(256);
    batches += 100;
  }
  const batchesPerSecond = batches / ((performance.now() - start) / 1000);
  const batchesPerCpuSecond = batches / cpuSeconds(cpu);
  const peakMiB = process.resourceUsage().maxRSS / 1024;

  const verdict = (value: number, target: number) => (value < target ? "PASS" : "MISS");
  console.log(`rows ${rows} x ${features} features (${loadNote()})`);
  console.log(`ingest+validate+store  ${ingestSeconds.toFixed(2)} s   target < 3 s     ${verdict(ingestSeconds, 3)}   cpu ${ingestCpu.toFixed(2)} s   (accepted ${report.accepted}, quarantined ${report.quarantined})`);
  console.log(`load into typed arrays ${loadSeconds.toFixed(2)} s   target < 0.5 s   ${verdict(loadSeconds, 0.5)}   cpu ${loadCpu.toFixed(2)} s   (${transitions.size} rows, ${transitions.episodeStarts.length - 1} episodes)`);
  console.log(`sampler, batch 256     ${batchesPerSecond.toFixed(0)} batches/s   ${batchesPerCpuSecond.toFixed(0)} per cpu-second   (training needs thousands per second)`);
  console.log(`peak RSS               ${peakMiB.toFixed(0)} MiB   (ingest + load + sampling process; the features alone are ${((rows * features * 4) / 2 ** 20).toFixed(0)} MiB as float32)`);
}
