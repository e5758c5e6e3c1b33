/**
 * A small, seeded demo for the dashboard (`hindcast ui --demo` and the browser tests): an in-memory registry with
 * dataset versions, runs with training curves, evaluated policies, promotions and a rollback, plus a decision log
 * with a canary and a few incidents, and a reference sample of training states.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openRegistry } from "../../registry/open.js";
import type { Registry } from "../../registry/types.js";
import { DEMO_FEATURES, demoDecisionLogText } from "../demo.js";
import { Rng } from "../../random/index.js";
import type { DashboardSources } from "./data.js";

export interface DemoSeed extends DashboardSources {
  registry: Registry;
  logPath: string;
}

/** Seeds a demo under `dir` (the decision log goes there); the registry lives in memory. */
export async function seedDashboardDemo(dir: string, now = Date.now()): Promise<DemoSeed> {
  const registry = await openRegistry("sqlite::memory:", { now: () => new Date(now - 7 * 86_400_000) });
  await registry.setGates({
    shadow: { opeLowerBound: null },
    canary: { minShadowDecisions: 0, maxShadowSafetyViolations: 0, maxFraction: 0.5 },
    production: { canaryWindowSeconds: 0, minCanaryDecisions: 0, maxCanaryGuardFailures: 0, maxCanarySafetyViolations: 0 },
  });
  const featureNames = DEMO_FEATURES;
  const manifest = (version: number, accepted: number, quarantined: number, parents: Array<{ name: string; version: number }>) => ({
    format: "hindcast.dataset/v1",
    name: "autoscaler-logs",
    version,
    counts: { read: accepted + quarantined, accepted, quarantined, episodes: Math.round(accepted / 50) },
    featureNames,
    parents,
    transform: { kind: parents.length === 0 ? "ingest" : "filter", params: {} },
  });
  await registry.registerDatasetVersion({ name: "autoscaler-logs", version: 1, hash: "sha256:" + "1a".repeat(32), manifest: manifest(1, 48_000, 310, []) });
  await registry.registerDatasetVersion({
    name: "autoscaler-logs",
    version: 2,
    hash: "sha256:" + "2b".repeat(32),
    manifest: manifest(2, 61_500, 120, [{ name: "autoscaler-logs", version: 1 }]),
  });
  const rng = new Rng(5);
  const policies: string[] = [];
  for (const [i, algorithm] of ["cql", "iql", "awac"].entries()) {
    const run = await registry.createRun({ algorithm, config: { alpha: 1 }, seed: 10 + i, dataset: { name: "autoscaler-logs", version: 2 }, codeVersion: "demo", status: "running" });
    const points = [];
    for (let step = 0; step <= 2000; step += 100) {
      points.push({ name: "loss", step, value: 2 * Math.exp(-step / (600 + 200 * i)) + 0.05 * rng.uniform() });
      points.push({ name: "q_mean", step, value: (1 - Math.exp(-step / 800)) * (1.1 + 0.1 * i) });
    }
    await registry.logMetrics(run.id, points);
    await registry.updateRun(run.id, { status: "succeeded" });
    const policy = await registry.registerPolicy({
      name: `${algorithm}-autoscaler`,
      sha256: String(i + 3).repeat(64),
      artifactPath: `/tmp/demo/${algorithm}`,
      runId: run.id,
      featureNames,
    });
    policies.push(`${policy.name}@${policy.version}`);
    for (const [estimator, value] of [["fqe", 1.12 + 0.06 * i], ["wdr", 1.08 + 0.09 * i]] as const) {
      await registry.recordEvaluation({ policy: `${policy.name}@${policy.version}`, estimator, value, lower: value - 0.08, upper: value + 0.07, confidence: 0.95, split: "heldout", dataset: { name: "autoscaler-logs", version: 2 } });
    }
  }
  for (const [estimator, value] of [["fqe", 1.0], ["wdr", 0.98]] as const) {
    await registry.recordEvaluation({ policy: null, estimator, value, lower: value - 0.05, upper: value + 0.05, confidence: 0.95, split: "heldout", dataset: { name: "autoscaler-logs", version: 2 } });
  }
  const [cql, iql, awac] = policies as [string, string, string];
  await registry.promote(cql, "shadow", { deployment: "autoscaler", reason: "offline lower bound beats baseline" });
  await registry.promote(cql, "canary", { deployment: "autoscaler", fraction: 0.1, reason: "shadow clean" });
  await registry.promote(cql, "production", { deployment: "autoscaler", reason: "canary healthy" });
  await registry.promote(awac, "shadow", { deployment: "autoscaler", reason: "candidate" });
  await registry.promote(awac, "canary", { deployment: "autoscaler", fraction: 0.2, reason: "shadow clean" });
  await registry.rollback({ deployment: "autoscaler", policy: awac, reason: "canary guard: reward below control" });
  await registry.promote(iql, "shadow", { deployment: "autoscaler", reason: "candidate" });
  await registry.promote(iql, "canary", { deployment: "autoscaler", fraction: 0.2, reason: "shadow clean" });

  const logDir = join(dir, "decision-log");
  mkdirSync(logDir, { recursive: true });
  const hour = 3_600_000;
  const start = now - 6 * hour;
  writeFileSync(
    join(logDir, `decisions-${String(start).padStart(13, "0")}-1-0001.jsonl`),
    demoDecisionLogText({
      start,
      ratePerMinute: 12,
      minutes: 6 * 60 - 1,
      seed: 21,
      policyVersion: cql,
      canary: { policyVersion: iql, share: 0.2, rewardShift: 0.05 },
      incidents: [
        { kind: "latency", from: start + 1.5 * hour, to: start + 2 * hour, size: 0.5 },
        { kind: "safety", from: start + 3 * hour, to: start + 3.25 * hour, size: 0.3 },
        { kind: "drift", from: start + 4 * hour, to: start + 6 * hour, size: 1.2 },
      ],
    }),
  );
  const normalRng = new Rng(77);
  const rows = 3000;
  const values = new Float64Array(rows * featureNames.length).map(() => normalRng.normal());
  return {
    registry,
    logPath: logDir,
    reference: { sample: { rows, dim: featureNames.length, values }, featureNames },
    windowSeconds: 6 * 3600,
    now: () => now,
  };
}
