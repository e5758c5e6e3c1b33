import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { ingest } from "../data/ingest.js";
import { parseSchema } from "../data/schema.js";
import { writeColumns } from "../data/write-columns.js";
import { parseGateConfig } from "../registry/gates.js";
import { openRegistry } from "../registry/open.js";
import { datasetReference, registryContext } from "./context.js";
import { dashboardPlugin } from "./ui/plugin.js";

test("reference states come from the dataset store; estimates, baseline and cadence from the registry; the datasets page shows store statistics", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-monitor-context-"));
  const store = join(dir, "store");
  const registry = await openRegistry("sqlite::memory:");
  try {
    // 4 episodes x 3 steps; load = 10 * episode + step, so its mean is 10 * 1.5 + 1 = 16.
    const n = 12;
    const load = Float32Array.from({ length: n }, (_, i) => 10 * Math.floor(i / 3) + (i % 3));
    const path = join(dir, "logs.parquet");
    await writeColumns(path, {
      episode_id: Array.from({ length: n }, (_, i) => `e${Math.floor(i / 3)}`),
      step: Int32Array.from({ length: n }, (_, i) => i % 3),
      load,
      action: Int32Array.from({ length: n }, (_, i) => i % 2),
      reward: new Float32Array(n).fill(0.5),
    });
    const schema = parseSchema({ episode: "episode_id", step: "step", observations: ["load"], action: { column: "action", kind: "discrete", n: 2 }, reward: { column: "reward", min: -1, max: 1 } });
    const { manifest } = await ingest({ files: [path], schema, dataset: "logs", store });

    const reference = await datasetReference(store, "logs@1");
    assert.deepEqual(reference.featureNames, ["load"]);
    assert.equal(reference.sample.rows, n);
    assert.deepEqual(Array.from(reference.sample.values).sort((a, b) => a - b), Array.from(load).sort((a, b) => a - b));

    await registry.registerDatasetVersion({ name: "logs", version: 1, hash: manifest.contentHash, manifest: manifest as unknown as Record<string, unknown> });
    await registry.setGates(parseGateConfig({ shadow: { opeLowerBound: null }, canary: { minShadowDecisions: 0 }, production: { canaryWindowSeconds: 0, minCanaryDecisions: 0 } }));
    const refs: string[] = [];
    for (const [i, value] of [0.4, 0.7].entries()) {
      const policy = await registry.registerPolicy({ name: "p", sha256: String(i + 1).repeat(64), artifactPath: "/x" });
      const ref = `${policy.name}@${policy.version}`;
      refs.push(ref);
      await registry.recordEvaluation({ policy: ref, estimator: "fqe", value: value - 0.1, lower: 0, upper: 1, split: "heldout", dataset: { name: "logs", version: 1 } });
      await registry.recordEvaluation({ policy: ref, estimator: "wdr", value, lower: 0, upper: 1, split: "heldout", dataset: { name: "logs", version: 1 } });
      await registry.promote(ref, "shadow", { deployment: "d" });
      await registry.promote(ref, "canary", { deployment: "d", fraction: 0.1 });
      await registry.promote(ref, "production", { deployment: "d" });
    }
    await registry.recordEvaluation({ policy: null, estimator: "wdr", value: 0.3, lower: 0, upper: 1, split: "heldout", dataset: { name: "logs", version: 1 } });
    const context = await registryContext(registry, { estimator: "wdr" });
    assert.deepEqual(context.offlineEstimates, { [refs[0]!]: 0.4, [refs[1]!]: 0.7 });
    assert.equal(context.baselineValue, 0.3);
    // two promotions to production; the second (0.7) beat the first (0.4)
    assert.equal(context.cadence.retrains, 2);
    assert.equal(context.cadence.improvedFraction, 1);
    const latest = await registryContext(registry);
    assert.equal(latest.offlineEstimates[refs[0]!], 0.4, "without --estimator the latest evaluation wins");

    const app = Fastify();
    await app.register(dashboardPlugin, { registry, store, prefix: "/ui" });
    const page = (await app.inject("/ui/api/datasets")).json() as { datasets: Array<{ stats: { rows: number; features: Array<{ name: string; mean: number; max: number }> } }> };
    const stats = page.datasets[0]!.stats;
    assert.equal(stats.rows, n);
    assert.equal(stats.features[0]!.name, "load");
    assert.ok(Math.abs(stats.features[0]!.mean - 16) < 1e-6);
    assert.equal(stats.features[0]!.max, 32);
    await app.close();
  } finally {
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
