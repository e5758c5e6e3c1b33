// Registry hot paths the decision service and pipeline hit: polling routingVersion(), reading routing(),
// batching traffic counters, and a gated promotion (with its audit row) — on SQLite, and PostgreSQL when
// HINDCAST_TEST_POSTGRES_URL is set. Prints p50/p99 per operation against its target.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRegistry, type Registry } from "../src/registry/index.js";
import { loadNote } from "./load.js";

const targets = { routingVersion: 1, routing: 3, recordTraffic: 5, promote: 20 }; // p50 milliseconds

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await fn(i);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(n * 0.5)]!, p99: samples[Math.min(n - 1, Math.floor(n * 0.99))]! };
}

async function bench(label: string, registry: Registry): Promise<void> {
  await registry.setGates({ shadow: { opeLowerBound: null }, canary: { minShadowDecisions: 0 }, production: { canaryWindowSeconds: 0, minCanaryDecisions: 0 } } as never);
  const policies = 60;
  for (let i = 0; i < policies; i++) {
    await registry.registerPolicy({ name: "bench", sha256: createHash("sha256").update(`${label}-${i}`).digest("hex"), artifactPath: `/b/${i}` });
  }
  const results: Record<string, { p50: number; p99: number }> = {};
  results["promote"] = await time(policies, async (i) => {
    const ref = `bench@${i + 1}`;
    await registry.promote(ref, "shadow");
    await registry.promote(ref, "canary", { fraction: 0.1 });
    await registry.promote(ref, "production");
  });
  // promote timed a whole three-step cycle; report per promotion.
  results["promote"] = { p50: results["promote"].p50 / 3, p99: results["promote"].p99 / 3 };
  results["routingVersion"] = await time(500, () => registry.routingVersion());
  results["routing"] = await time(200, () => registry.routing());
  results["recordTraffic"] = await time(200, () => registry.recordTraffic(`bench@${policies}`, { decisions: 100, safetyViolations: 0 }));
  for (const [name, { p50, p99 }] of Object.entries(results)) {
    const target = targets[name as keyof typeof targets];
    console.log(
      `${label.padEnd(8)} ${name.padEnd(15)} p50 ${p50.toFixed(3).padStart(8)} ms  p99 ${p99.toFixed(3).padStart(8)} ms  target p50 <= ${target} ms  ${p50 <= target ? "PASS" : "MISS"}`,
    );
  }
}

const dir = mkdtempSync(join(tmpdir(), "hindcast-bench-registry-"));
try {
  const sqlite = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
  await bench("sqlite", sqlite);
  await sqlite.close();
  const url = process.env["HINDCAST_TEST_POSTGRES_URL"];
  if (url) {
    const schema = `hc_bench_${process.pid}`;
    const pg = await openRegistry(url, { schema });
    try {
      await bench("postgres", pg);
    } finally {
      await pg.close();
      const { default: pgLib } = await import("pg");
      const client = new pgLib.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    }
  } else {
    console.log("postgres: skipped (HINDCAST_TEST_POSTGRES_URL not set)");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (${loadNote()})`);
