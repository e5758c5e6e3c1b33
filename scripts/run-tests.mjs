#!/usr/bin/env node
// Runs every *.test.ts under src/ (or the files/folders given) with node's test runner through tsx.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === "node_modules" || entry.startsWith(".")) continue;
      collect(join(path, entry), out);
    }
  } else if (path.endsWith(".test.ts")) {
    out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const targets = args.length > 0 ? args : ["src"];
const files = targets.flatMap((t) => collect(t, []));
if (files.length === 0) {
  console.error("no test files found under " + targets.join(", "));
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
  { stdio: "inherit", env: { ...process.env, HINDCAST_TEST: "1" } },
);
process.exit(result.status ?? 1);
