import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "../data/ingest.js";
import { loadTransitions } from "../data/loader.js";
import { exportDecisionLog } from "./log-dataset.js";
import { linearPolicy } from "./policy.js";
import { MemoryRoutingSource } from "./routing.js";
import { createDecisionService } from "./service.js";

test("a decision log exported with its schema is ingested back as a dataset with propensities", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-loop-"));
  try {
    const policy = linearPolicy({ version: "v1", actionSpace: { kind: "discrete", n: 3 }, featureNames: ["x", "y"], weights: [1, 0, 0, 1, -1, -1] });
    const service = await createDecisionService({
      routing: new MemoryRoutingSource({
        deployments: { default: { production: { policy: "v1" }, fallback: { action: 2 }, exploration: { kind: "epsilon", epsilon: 0.3 } } },
      }),
      loader: async () => policy,
      logDir: join(dir, "log"),
      durableLog: false,
    });
    await service.reload(true);
    const expected = new Map<string, { action: number; probability: number; reward: number; state: number[] }>();
    const post = async (url: string, payload: object) => (await service.app.inject({ method: "POST", url, payload })).json();
    for (let i = 0; i < 30; i++) {
      const state = [i % 5, (i % 3) - 1];
      const body: Record<string, unknown> = { routingKey: `u${i}`, state };
      if (i < 12) Object.assign(body, { episodeId: `ep${i % 3}`, step: Math.floor(i / 3) });
      const d = await post("/v1/decide", body);
      if (i % 10 === 9) continue; // no feedback for 3 decisions
      const reward = d.action === 0 ? 1 : i / 100;
      await post("/v1/feedback", { decisionId: d.decisionId, reward });
      if (i % 7 === 0) await post("/v1/feedback", { decisionId: d.decisionId, reward: 99 }); // duplicate: ignored
      expected.set(d.decisionId, { action: d.action, probability: d.probability, reward, state });
    }
    await service.stop();

    const result = exportDecisionLog({ logDir: join(dir, "log"), outDir: join(dir, "export"), actionSpace: { kind: "discrete", n: 3 } });
    assert.equal(result.rows, 27);
    assert.equal(result.withoutFeedback, 3);
    // decisions 0-11 form three episodes; of 12-29, 19 and 29 have no feedback: 16 one-step episodes
    assert.equal(result.episodes, 3 + 16);
    const { report } = await ingest({ files: [result.dataFile], schema: result.schemaFile, dataset: "served", store: join(dir, "store"), strict: true });
    assert.equal(report.accepted, 27);
    const data = await loadTransitions(join(dir, "store"), "served");
    assert.equal(data.size, 27);
    assert.deepEqual(data.featureNames, ["x", "y"]);
    // Every ingested row is one of the served decisions with its action, propensity and first reward.
    const byContent = new Set([...expected.values()].map((e) => `${e.state.join(",")}|${e.action}|${e.probability.toFixed(6)}|${e.reward.toFixed(6)}`));
    for (let i = 0; i < data.size; i++) {
      const key = `${data.observations[2 * i]},${data.observations[2 * i + 1]}|${data.actions[i]}|${data.behaviorProb![i].toFixed(6)}|${data.rewards[i].toFixed(6)}`;
      assert.ok(byContent.has(key), `row ${i}: ${key}`);
    }
    assert.equal(data.episodeStarts.length - 1, 19);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
