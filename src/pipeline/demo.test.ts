import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readManifest } from "../data/store.js";
import { openRegistry } from "../registry/open.js";
import type { Registry } from "../registry/types.js";
import { readDecisionLog, type DecisionRecord } from "../serve/decision-log.js";
import { runDemo, type DemoResult } from "./demo.js";

// A shortened demo (small preset, fewer rollouts); every check reads the registry and the files, not the printed text.
describe("hindcast demo (small)", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-demo-"));
  let result: DemoResult;
  let registry: Registry;
  const stages: number[] = [];

  before(async () => {
    result = await runDemo({
      dir,
      small: true,
      // Shorter than --small: fewer FQE steps and resamples, two shadow days, four canary days; the bad canary phase
      // stops at the rollback, so its cap (the same 20 days as --small) only matters if the guard never fires.
      sizes: { fqeSteps: 800, resamples: 40, truthEpisodes: 2, shadowEpisodes: 2, canaryEpisodes: 4, minCanaryDecisions: 60, badCanaryEpisodes: 20, retrainSteps: 300 },
      codeVersion: "test",
      onEvent: (event) => {
        if (event.kind === "stage" && event.status === "done") stages.push(event.index);
      },
    });
    registry = await openRegistry(result.registryUrl);
  });

  after(async () => {
    await registry?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs all eleven stages in order", () => {
    assert.deepEqual(stages, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it("quarantines the broken rows and reconciles the counts", () => {
    const manifest = readManifest(result.store, result.datasets.logs);
    const { read, accepted, quarantined } = manifest.counts;
    assert.ok(quarantined > 0);
    assert.equal(accepted + quarantined, read);
    // 365 simulated days of 288 decisions were written.
    assert.equal(read, 365 * 288);
    const lines = readFileSync(join(result.store, manifest.name, `v${manifest.version}`, manifest.files.quarantine), "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "");
    assert.equal(lines.length, quarantined);
    const codes = new Set(lines.map((line) => (JSON.parse(line) as { code: string }).code));
    // One row of each injected fault; the rest of their days are rejected with them.
    for (const code of ["non_finite", "action_out_of_space", "propensity_out_of_range", "reward_out_of_range", "episode_rejected"]) assert.ok(codes.has(code), code);
    // Four broken rows in four different days: each rejects its whole 288-step day.
    assert.equal(quarantined, 4 * 288);
  });

  it("registers the winner with full lineage and puts it in production", async () => {
    assert.ok(result.winner, "a candidate passed the gate at these sizes and this seed");
    const lineage = await registry.policyLineage(result.winner);
    assert.ok(lineage.run, "run recorded");
    assert.equal(lineage.run.status, "succeeded");
    const train = readManifest(result.store, result.datasets.train);
    assert.deepEqual(lineage.dataset, { name: train.name, version: train.version, hash: train.contentHash });
    assert.deepEqual(train.parents.map((p) => `${p.name}@${p.version}`), [result.datasets.logs]);
    const estimators = lineage.evaluations.map((e) => e.estimator).sort();
    assert.deepEqual(estimators, ["fqe", "wdr"]);
    assert.ok(lineage.evaluations.every((e) => e.split === "heldout" && `${e.dataset.name}@${e.dataset.version}` === result.datasets.test));
    // The registered identity is the artifact's content.
    const onnx = readFileSync(join(lineage.policy.artifactPath, "policy.onnx"));
    assert.equal(lineage.policy.sha256, createHash("sha256").update(onnx).digest("hex"));
    const stagesEntered = lineage.stageHistory.map((c) => c.toStage);
    assert.deepEqual(stagesEntered, ["shadow", "canary", "production"]);
    const routing = await registry.routing("autoscaling");
    assert.equal(`${routing.production?.policy.name}@${routing.production?.policy.version}`, result.winner);
    assert.equal(result.promoted, result.winner);
  });

  it("records the bad canary's automatic rollback with its reason", async () => {
    const history = await registry.stageHistory({ deployment: "autoscaling", policy: "autoscaler-bad@1" });
    const rollback = history.find((c) => c.toStage === "rolled_back");
    assert.ok(rollback, "rolled back");
    assert.equal(rollback.fromStage, "canary");
    assert.match(rollback.reason, /^canary guard: /);
    assert.match(rollback.reason, /by canary-guard/);
    const audit = await registry.audit({ action: "policy.rollback", subject: "autoscaler-bad@1" });
    assert.equal(audit.length, 1);
    assert.equal((audit[0].details as { details?: { metric?: string } }).details?.metric !== undefined, true);
    const entered = history.find((c) => c.toStage === "canary")!;
    assert.ok(Date.parse(rollback.at) >= Date.parse(entered.at));
    assert.equal(result.canaryRolledBack?.seconds, (Date.parse(rollback.at) - Date.parse(entered.at)) / 1000);
    // The gates in force afterwards are the demo's own (the drill restored them).
    const gates = await registry.gates();
    assert.equal(gates.shadow.opeLowerBound?.estimator, "wdr");
  });

  it("folds the decision log back into a dataset whose parent is the decision log, and retrains on it", async () => {
    const retrain = readManifest(result.store, result.datasets.retrain);
    const decisionLog = readManifest(result.store, result.datasets.decisionLog);
    assert.deepEqual(retrain.parents.map((p) => ({ name: p.name, version: p.version, contentHash: p.contentHash })), [
      { name: decisionLog.name, version: decisionLog.version, contentHash: decisionLog.contentHash },
    ]);
    assert.equal(decisionLog.name, "autoscaling-decision-log");
    assert.equal(decisionLog.transform.kind, "ingest");
    // Every served decision got feedback, so the dataset holds exactly the log's decisions.
    const decisions = readDecisionLog(result.logDir).records.filter((r): r is DecisionRecord => r.kind === "decision");
    assert.equal(decisionLog.counts.accepted, decisions.length);
    assert.ok(decisions.some((d) => d.route === "canary" && d.policyVersion === "autoscaler-bad@1"));
    const retrained = result.candidates.find((c) => c.role === "retrained")!;
    const lineage = await registry.policyLineage(retrained.policy);
    assert.equal(lineage.dataset?.name, retrain.name);
    assert.equal(lineage.dataset?.hash, retrain.contentHash);
    assert.deepEqual(lineage.evaluations.map((e) => e.estimator).sort(), ["fqe", "wdr"]);
    assert.ok(existsSync(join(lineage.policy.artifactPath, "manifest.json")));
  });

  it("carries the OPE engine's off-support flags to the summary, and no off-support estimate passes the gate", async () => {
    for (const c of result.candidates) {
      if (!c.wdr || !c.fqe) continue;
      // The flags shown are the ones recorded with the evaluations in the registry.
      const evaluations = (await registry.policyLineage(c.policy)).evaluations;
      for (const [estimator, flags] of [["wdr", c.wdr.flags], ["fqe", c.fqe.flags]] as const) {
        const recorded = evaluations.find((e) => e.estimator === estimator)!;
        assert.equal(flags.offSupport, recorded.diagnostics["offSupport"], `${c.policy} ${estimator}`);
        // A flag always comes with its reason in words.
        if (flags.offSupport) assert.ok(flags.warnings.length > 0, c.policy);
      }
      if (c.beatsBaseline) assert.equal(c.wdr.flags.offSupport, false, c.policy);
    }
    const winner = result.candidates.find((c) => c.policy === result.winner)!;
    assert.equal(winner.wdr!.flags.offSupport, false);
    assert.ok(winner.wdr!.lowerBound >= result.baseline.offline);
  });

  it("reports ground truth, cost, breaches and latency as numbers", () => {
    for (const c of result.candidates) assert.ok(Number.isFinite(c.trueValue), c.policy);
    assert.ok(Number.isFinite(result.baseline.trueValue));
    assert.ok(result.latency.decisions > 0);
    assert.ok(Number.isFinite(result.drift.maxPsi) && result.drift.maxPsi >= 0);
    assert.ok(result.latency.clientMs.p50 <= result.latency.clientMs.p95 && result.latency.clientMs.p95 <= result.latency.clientMs.p99);
  });
});
