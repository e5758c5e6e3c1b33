#!/usr/bin/env node
// Runs the benchmarks one after another (each prints its figures against its targets): `npm run bench` for the fast
// hot-path set, `npm run bench -- NAME...` for chosen ones (file names under bench/ without .ts), `--all` for every one.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

const HOT_PATHS = ["ingest", "train-step", "inference", "algos", "ope", "envs", "serve", "drift", "registry", "random"];
const args = process.argv.slice(2);
const available = readdirSync(new URL("../bench/", import.meta.url))
  .filter((f) => f.endsWith(".ts") && f !== "load.ts") // load.ts: the shared load-average note, not a benchmark
  .map((f) => f.slice(0, -3));
const chosen = args.includes("--all") ? available : args.length > 0 ? args : HOT_PATHS;
const unknown = chosen.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const name of chosen) {
  console.log(`\n=== bench/${name}.ts`);
  const result = spawnSync(process.execPath, ["--import", "tsx", `bench/${name}.ts`], { stdio: "inherit" });
  if (result.status !== 0) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);
