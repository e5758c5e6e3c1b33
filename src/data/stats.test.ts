import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "./ingest.js";
import { parseSchema } from "./schema.js";
import { datasetStats, formatStats } from "./stats.js";

test("stats: counts, returns, action histogram, feature and propensity summaries match hand-computed values", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-stats-"));
  try {
    // episode a: rewards -1, -2 (return -3); episode b: rewards 0, -1, -1 (return -2)
    const path = join(dir, "s.csv");
    writeFileSync(
      path,
      "ep,t,x,y,act,r,p\n" + ["a,0,1,5,0,-1,0.5", "a,1,2,5,1,-2,0.25", "b,0,3,5,1,0,1", "b,1,4,6,1,-1,0.5", "b,2,5,6,2,-1,0.5"].join("\n") + "\n",
    );
    const store = join(dir, "store");
    await ingest({
      files: [path],
      schema: parseSchema({
        episode: "ep",
        step: "t",
        observations: ["x", "y"],
        action: { column: "act", kind: "discrete", n: 4 },
        reward: { column: "r", min: -5, max: 0 },
        behaviorProb: { column: "p", kind: "probability" },
        features: { y: { sensitive: true } },
      }),
      dataset: "s",
      store,
    });
    const stats = await datasetStats(store, "s@1");
    assert.equal(stats.rows, 5);
    assert.equal(stats.episodes, 2);
    assert.equal(stats.terminals, 2);
    assert.deepEqual([stats.returns.min, stats.returns.max, stats.returns.mean], [-3, -2, -2.5]);
    assert.deepEqual([stats.episodeLength.min, stats.episodeLength.max], [2, 3]);
    assert.deepEqual(stats.actions, { kind: "discrete", n: 4, counts: [1, 3, 1, 0] });
    const x = stats.features[0]!;
    assert.deepEqual([x.name, x.min, x.max, x.mean, x.median], ["x", 1, 5, 3, 3]);
    assert.ok(Math.abs(x.std - Math.sqrt(2)) < 1e-6); // population std of 1..5
    assert.equal(stats.features[1]!.sensitive, true);
    // weights 1/p = 2, 4, 1, 2, 2: ESS = 11^2 / 29
    assert.ok(Math.abs(stats.propensity!.effectiveSampleSize - 121 / 29) < 1e-9);
    assert.equal(stats.propensity!.min, 0.25);
    const text = formatStats(stats);
    assert.match(text, /s@1/);
    assert.match(text, /sensitive/);
    assert.match(text, /effective sample size \(w = 1\/p\) 4\.17/);
    // a log-density column is labelled with its own weight, exp(-log-density); same ESS formula
    const continuous = formatStats({ ...stats, propensity: { ...stats.propensity!, kind: "log_density" } });
    assert.match(continuous, /effective sample size \(w = exp\(-log-density\)\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
