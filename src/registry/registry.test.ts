import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RegistryError } from "./errors.js";
import type { GateConfigInput } from "./gates.js";
import { backendNames, makeBackend, postgresUrl, type Backend } from "./test-helpers/harness.js";
import type { Registry } from "./types.js";

const sha = (label: string) => createHash("sha256").update(label).digest("hex");

/** Gates small enough to satisfy in a test; each test states the ones it exercises. */
const easyGates: GateConfigInput = {
  shadow: { opeLowerBound: { split: "heldout", margin: 0 } },
  canary: { minShadowDecisions: 100, maxShadowSafetyViolations: 0, maxFraction: 0.5 },
  production: { canaryWindowSeconds: 600, minCanaryDecisions: 50, maxCanaryGuardFailures: 0, maxCanarySafetyViolations: 0 },
};

/** A clock the tests move by hand. */
function clock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let t = start;
  return { now: () => new Date(t), advance: (seconds: number) => (t += seconds * 1000) };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<RegistryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** A dataset version, a run on it, and `count` policies from that run, each with a passing held-out evaluation. */
async function seed(registry: Registry, count = 2) {
  const dataset = await registry.registerDatasetVersion({
    name: "clicks",
    version: 3,
    hash: "d".repeat(64),
    manifest: { schema: { features: [{ name: "age" }, { name: "zip", sensitive: true }] } },
  });
  const run = await registry.createRun({
    algorithm: "cql",
    config: { alpha: 1, lr: 3e-4 },
    seed: 7,
    dataset: { name: "clicks", version: 3 },
    codeVersion: "0.1.0+abc",
  });
  await registry.recordEvaluation({
    policy: null,
    estimator: "on_policy",
    value: 0.5,
    lower: 0.45,
    upper: 0.55,
    split: "heldout",
    dataset: { name: "clicks", version: 3 },
  });
  const policies = [];
  for (let i = 0; i < count; i++) {
    const policy = await registry.registerPolicy({
      name: "pricing",
      sha256: sha(`artifact-${i}`),
      artifactPath: `/artifacts/${i}`,
      runId: run.id,
      featureNames: ["age"],
    });
    await registry.recordEvaluation({
      policy: `pricing@${policy.version}`,
      estimator: "dr",
      value: 0.7,
      lower: 0.6,
      upper: 0.8,
      split: "heldout",
      dataset: { name: "clicks", version: 3 },
    });
    policies.push(policy);
  }
  return { dataset, run, policies };
}

/** Walks `ref` from registered to production, satisfying each gate, in deployment `deployment`. */
async function toProduction(registry: Registry, ref: string, time: ReturnType<typeof clock>) {
  await registry.promote(ref, "shadow");
  await registry.recordTraffic(ref, { decisions: 100 });
  await registry.promote(ref, "canary", { fraction: 0.1 });
  await registry.recordTraffic(ref, { decisions: 50 });
  time.advance(601);
  return registry.promote(ref, "production");
}

function suite(name: "sqlite" | "postgres") {
  describe(`registry on ${name}`, () => {
    const withRegistry = (title: string, body: (registry: Registry, backend: Backend, time: ReturnType<typeof clock>) => Promise<void>) =>
      test(title, async () => {
        const backend = await makeBackend(name);
        const time = clock();
        const registry = await backend.open({ now: time.now, actor: "tester" });
        try {
          await registry.setGates(easyGates as never);
          await body(registry, backend, time);
        } finally {
          await registry.close();
          await backend.cleanup();
        }
      });

    withRegistry("migrations are recorded once and reopening applies nothing new", async (registry, backend) => {
      const second = await backend.open();
      await second.close();
      const rows = await backend.raw("SELECT version FROM schema_migrations ORDER BY version");
      assert.deepEqual(rows.map((r) => Number(r["version"])), [1, 2]);
      assert.equal(registry.backend, name);
    });

    withRegistry("dataset versions are idempotent by hash and refuse a different hash", async (registry) => {
      const { dataset } = await seed(registry, 0);
      assert.deepEqual(dataset.sensitiveFeatures, ["zip"]);
      const again = await registry.registerDatasetVersion({ name: "clicks", version: 3, hash: "d".repeat(64) });
      assert.equal(again.id, dataset.id);
      const error = await expectCode(registry.registerDatasetVersion({ name: "clicks", version: 3, hash: "e".repeat(64) }), "dataset_version_conflict");
      assert.equal(error.details["registered"], "d".repeat(64));
      assert.equal((await registry.listDatasetVersions("clicks")).length, 1);
    });

    withRegistry("runs keep config, status and a metrics time series", async (registry) => {
      const { run } = await seed(registry, 0);
      assert.equal(run.status, "running");
      await registry.logMetrics(run.id, [
        { name: "loss", step: 0, value: 2 },
        { name: "loss", step: 1, value: 1.5 },
        { name: "q_mean", step: 0, value: 0.1 },
      ]);
      await registry.logMetrics(run.id, [{ name: "loss", step: 1, value: 1.25 }]);
      const loss = await registry.getMetrics(run.id, "loss");
      assert.deepEqual(loss.map((m) => [m.step, m.value]), [[0, 2], [1, 1.25]]);
      const done = await registry.updateRun(run.id, { status: "succeeded", artifacts: { policy: "/artifacts/0" } });
      assert.equal(done.status, "succeeded");
      assert.ok(done.finishedAt);
      assert.deepEqual(done.config, { alpha: 1, lr: 3e-4 });
      assert.deepEqual((await registry.listRuns({ status: "succeeded" })).map((r) => r.id), [run.id]);
      assert.deepEqual(await registry.listRuns({ status: "failed" }), []);
      await expectCode(registry.getRun(run.id + 100), "not_found");
      await expectCode(registry.getRun(Number.NaN), "invalid_input");
      await expectCode(registry.audit({ since: "yesterday" }), "invalid_input");
      assert.equal((await registry.audit({ since: "2100-01-01" })).length, 0);
      assert.ok((await registry.audit({ since: "2000-01-01" })).length > 0);
    });

    withRegistry("policies are content-addressed and resolvable by name@version, name or sha256 prefix", async (registry) => {
      const { policies, run } = await seed(registry, 2);
      assert.deepEqual(policies.map((p) => p.version), [1, 2]);
      const again = await registry.registerPolicy({ name: "pricing", sha256: sha("artifact-0"), artifactPath: "/elsewhere", runId: run.id });
      assert.equal(again.id, policies[0]!.id, "same content, same policy");
      assert.equal((await registry.getPolicy("pricing@1")).sha256, sha("artifact-0"));
      assert.equal((await registry.getPolicy("pricing")).version, 2);
      assert.equal((await registry.getPolicy(sha("artifact-1").slice(0, 10))).version, 2);
      assert.equal((await registry.getPolicy(`sha256:${sha("artifact-0")}`)).version, 1);
      await expectCode(registry.getPolicy("pricing@9"), "not_found");
      await expectCode(registry.registerPolicy({ name: "x", sha256: "nothex", artifactPath: "/x" }), "invalid_input");
    });

    withRegistry("lineage: how a policy was made, what was trained on a dataset, what is in production", async (registry, _b, time) => {
      const { policies, run } = await seed(registry, 2);
      const lineage = await registry.policyLineage("pricing@1");
      assert.equal(lineage.run?.id, run.id);
      assert.deepEqual(lineage.dataset, { name: "clicks", version: 3, hash: "d".repeat(64) });
      assert.deepEqual(lineage.run?.config, { alpha: 1, lr: 3e-4 });
      assert.equal(lineage.run?.codeVersion, "0.1.0+abc");
      assert.equal(lineage.run?.seed, 7);
      assert.deepEqual(lineage.evaluations.map((e) => e.estimator), ["dr"]);
      const usage = await registry.trainedOn({ name: "clicks", version: 3 });
      assert.deepEqual(usage.runs.map((r) => r.id), [run.id]);
      assert.deepEqual(usage.policies.map((p) => p.id), policies.map((p) => p.id));
      assert.deepEqual(await registry.inProduction(), []);
      await toProduction(registry, "pricing@1", time);
      const live = await registry.inProduction();
      assert.equal(live.length, 1);
      assert.equal(live[0]!.policy.id, policies[0]!.id);
      assert.equal(live[0]!.since, time.now().toISOString());
      assert.deepEqual(
        (await registry.policyLineage("pricing@1")).stageHistory.map((h) => h.toStage),
        ["shadow", "canary", "production"],
      );
    });

    withRegistry("shadow gate: refused without an evaluation and when the lower bound is below the baseline", async (registry) => {
      await seed(registry, 0);
      const { id: runId } = (await registry.listRuns())[0]!;
      await registry.registerPolicy({ name: "weak", sha256: sha("weak"), artifactPath: "/w", runId });
      let error = await expectCode(registry.promote("weak", "shadow"), "promotion_refused");
      assert.equal(error.details["gate"], "shadow.opeLowerBound");
      assert.equal(error.details["shortfall"], null);
      await registry.recordEvaluation({ policy: "weak", estimator: "dr", value: 0.48, lower: 0.42, upper: 0.54, split: "heldout", dataset: { name: "clicks", version: 3 } });
      error = await expectCode(registry.promote("weak", "shadow"), "promotion_refused");
      assert.equal(error.details["gate"], "shadow.opeLowerBound");
      // Baseline 0.5 (seeded) minus lower bound 0.42.
      assert.ok(Math.abs((error.details["shortfall"] as number) - 0.08) < 1e-12);
      assert.match(error.message, /shadow\.opeLowerBound/);
      assert.equal((await registry.getPolicy("weak")).stage, "registered");
      // An evaluation on another split does not count.
      await registry.recordEvaluation({ policy: "weak", estimator: "dr", value: 0.9, lower: 0.8, upper: 1, split: "train", dataset: { name: "clicks", version: 3 } });
      await expectCode(registry.promote("weak", "shadow"), "promotion_refused");
      await registry.recordEvaluation({ policy: "weak", estimator: "dr", value: 0.6, lower: 0.5, upper: 0.7, split: "heldout", dataset: { name: "clicks", version: 3 } });
      assert.equal((await registry.promote("weak", "shadow")).stage, "shadow", "lower bound equal to the baseline passes");
    });

    withRegistry("canary gate: shadow decisions and safety violations; fraction and slot checks", async (registry) => {
      await seed(registry, 2);
      await registry.promote("pricing@1", "shadow");
      await registry.recordTraffic("pricing@1", { decisions: 40 });
      let error = await expectCode(registry.promote("pricing@1", "canary", { fraction: 0.1 }), "promotion_refused");
      assert.equal(error.details["gate"], "canary.minShadowDecisions");
      assert.equal(error.details["shortfall"], 60);
      await registry.recordTraffic("pricing@1", { decisions: 60, safetyViolations: 2 });
      error = await expectCode(registry.promote("pricing@1", "canary", { fraction: 0.1 }), "promotion_refused");
      assert.equal(error.details["gate"], "canary.maxShadowSafetyViolations");
      assert.equal(error.details["shortfall"], 2);

      await registry.promote("pricing@2", "shadow");
      await registry.recordTraffic("pricing@2", { decisions: 100 });
      await expectCode(registry.promote("pricing@2", "canary"), "invalid_fraction");
      await expectCode(registry.promote("pricing@2", "canary", { fraction: 0.9 }), "invalid_fraction");
      const canary = await registry.promote("pricing@2", "canary", { fraction: 0.2 });
      assert.equal(canary.fraction, 0.2);
      const adjusted = await registry.promote("pricing@2", "canary", { fraction: 0.3 });
      assert.equal(adjusted.fraction, 0.3);
      assert.equal(adjusted.stageSince, canary.stageSince, "changing the fraction keeps the canary window");
      await expectCode(registry.promote("pricing@1", "production"), "invalid_transition");
    });

    withRegistry("production gate: canary window, decisions and guard; the previous production is retired", async (registry, _b, time) => {
      await seed(registry, 2);
      await toProduction(registry, "pricing@1", time);
      await registry.promote("pricing@2", "shadow");
      await registry.recordTraffic("pricing@2", { decisions: 100 });
      await registry.promote("pricing@2", "canary", { fraction: 0.1 });
      time.advance(200);
      await registry.recordTraffic("pricing@2", { decisions: 20, guardFailures: 1 });
      const error = await expectCode(registry.promote("pricing@2", "production"), "promotion_refused");
      const failures = error.details["failures"] as Array<{ gate: string; shortfall: number }>;
      assert.deepEqual(
        failures.map((f) => [f.gate, f.shortfall]),
        [
          ["production.canaryWindowSeconds", 400],
          ["production.minCanaryDecisions", 30],
          ["production.maxCanaryGuardFailures", 1],
        ],
      );
      const refused = await registry.audit({ action: "policy.promote_refused" });
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.subject, "pricing@2");

      const before = await registry.routing();
      assert.equal(before.production?.policy.version, 1);
      assert.equal(before.canary?.policy.version, 2);
      assert.equal(before.canary?.fraction, 0.1);

      // A fresh canary (rolled back and re-entered is not possible), so clear the guard with a new policy's numbers:
      await registry.rollback({ policy: "pricing@2", reason: "guard tripped" });
      assert.equal((await registry.getPolicy("pricing@2")).stage, "rolled_back");
      assert.equal((await registry.routing()).production?.policy.version, 1, "rolling back a canary leaves production alone");
    });

    withRegistry("routing: shadows, canary and production, and a routing version that only grows on changes", async (registry, _b, time) => {
      await seed(registry, 3);
      const v0 = await registry.routingVersion();
      await toProduction(registry, "pricing@1", time);
      const v1 = await registry.routingVersion();
      assert.equal(v1, v0 + 3);
      await registry.promote("pricing@2", "shadow");
      await registry.promote("pricing@3", "shadow");
      await registry.recordTraffic("pricing@2", { decisions: 5 });
      assert.equal(await registry.routingVersion(), v1 + 2, "counters do not change routing");
      const routing = await registry.routing();
      assert.equal(routing.routingVersion, v1 + 2);
      assert.deepEqual(routing.shadows.map((s) => s.policy.version), [2, 3]);
      assert.equal(routing.canary, null);
      assert.equal(routing.production?.policy.version, 1);
      assert.equal(await registry.killSwitch(), false);
      await registry.setKillSwitch(true, "incident");
      assert.equal(await registry.killSwitch(), true);
      assert.equal(await registry.routingVersion(), v1 + 3, "the kill switch is a routing change");
      await registry.setKillSwitch(false, "resolved");
      const all = await registry.allRouting();
      assert.deepEqual(all.map((r) => [r.deployment, r.production?.policy.version, r.shadows.length]), [["default", 1, 2]]);
      const other = await registry.routing("checkout");
      assert.deepEqual([other.production, other.canary, other.shadows], [null, null, []]);
      await expectCode(registry.promote("pricing@2", "canary", { fraction: 0.1, deployment: "checkout" }), "deployment_mismatch");
    });

    withRegistry("rollback of production restores the policy it replaced; nothing left means nothing_to_roll_back", async (registry, _b, time) => {
      await seed(registry, 2);
      await toProduction(registry, "pricing@1", time);
      await toProduction(registry, "pricing@2", time);
      assert.equal((await registry.getPolicy("pricing@1")).stage, "retired");
      const result = await registry.rollback({ reason: "revenue dropped" });
      assert.equal(result.rolledBack.version, 2);
      assert.equal(result.rolledBack.stage, "rolled_back");
      assert.equal(result.restored?.version, 1);
      assert.equal((await registry.routing()).production?.policy.version, 1);
      const history = await registry.stageHistory({ policy: "pricing@2" });
      assert.deepEqual(history.at(-1), { ...history.at(-1)!, fromStage: "production", toStage: "rolled_back", reason: "revenue dropped", actor: "tester" });
      const second = await registry.rollback({ reason: "again" });
      assert.equal(second.rolledBack.version, 1);
      assert.equal(second.restored, null, "pricing@1 replaced nothing");
      await expectCode(registry.rollback({ reason: "once more" }), "nothing_to_roll_back");
      await expectCode(registry.promote("pricing@1", "shadow"), "invalid_transition");
    });

    withRegistry("every mutation writes exactly one audit row in its transaction; the log is append-only", async (registry, backend, time) => {
      const start = (await registry.audit()).length; // the setGates of the harness
      assert.equal(start, 1);
      await seed(registry, 2); // 1 dataset + 1 run + 1 baseline eval + 2 x (policy + eval) = 7
      await toProduction(registry, "pricing@1", time); // 3 promotes + 2 traffic = 5
      await registry.recordStep({ pipeline: "nightly", name: "train", inputHash: "abc", status: "running" });
      await registry.recordStep({ pipeline: "nightly", name: "train", inputHash: "abc", status: "succeeded", outputs: { run: 1 } });
      await registry.rollback({ reason: "test" });
      await registry.registerDatasetVersion({ name: "clicks", version: 3, hash: "d".repeat(64) }); // no change, no row
      const entries = await registry.audit();
      assert.deepEqual(
        entries.map((e) => e.action),
        [
          "gates.set",
          "dataset.register",
          "run.create",
          "evaluation.record",
          "policy.register",
          "evaluation.record",
          "policy.register",
          "evaluation.record",
          "policy.promote",
          "traffic.record",
          "policy.promote",
          "traffic.record",
          "policy.promote",
          "step.record",
          "step.record",
          "policy.rollback",
        ],
      );
      assert.ok(entries.every((e) => e.actor === "tester" && e.host.length > 0 && e.at.length > 0));
      assert.deepEqual((await registry.findStep("nightly", "train", "abc"))?.outputs, { run: 1 });
      assert.equal(await registry.findStep("nightly", "train", "other"), null);
      // Counting from the database itself, not through the interface.
      assert.equal(Number((await backend.raw("SELECT COUNT(*) AS n FROM audit_log"))[0]!["n"]), entries.length);
      await assert.rejects(backend.raw("UPDATE audit_log SET actor = 'mallory'"), /append-only/);
      await assert.rejects(backend.raw("DELETE FROM audit_log"), /append-only/);
    });

    withRegistry("operational events are appended to the audit log under their own namespaces", async (registry) => {
      const entry = await registry.recordEvent("alert.fired", "deployment:default", { rule: "latency_burn", severity: "page" });
      assert.equal(entry.action, "alert.fired");
      const found = await registry.audit({ action: "alert.fired" });
      assert.deepEqual(found.map((e) => [e.id, e.subject, e.details["rule"]]), [[entry.id, "deployment:default", "latency_burn"]]);
      await expectCode(registry.recordEvent("promote", "pricing@1"), "invalid_input");
      await expectCode(registry.recordEvent("alert.Fired; drop", "x"), "invalid_input");
    });

    withRegistry("each mutating method changes state with exactly one audit row; readers change nothing", async (registry, backend, time) => {
      const tables = ["dataset_versions", "runs", "run_metrics", "policies", "evaluations", "deployments", "stage_history", "stage_counters", "routing_state", "gate_config", "pipeline_steps", "api_tokens"];
      const snapshot = async () => JSON.stringify(await Promise.all(tables.map((t) => backend.raw(`SELECT * FROM ${t} ORDER BY 1`))));
      const auditCount = async () => Number((await backend.raw("SELECT COUNT(*) AS n FROM audit_log"))[0]!["n"]);
      const { run } = await seed(registry, 3);
      await toProduction(registry, "pricing@1", time);
      let adminToken = "";
      const mutations: Array<[string, () => Promise<unknown>]> = [
        ["registerDatasetVersion", () => registry.registerDatasetVersion({ name: "clicks", version: 4, hash: "f".repeat(64) })],
        ["createRun", () => registry.createRun({ algorithm: "iql", config: {}, seed: 1, codeVersion: "x" })],
        ["updateRun", () => registry.updateRun(run.id, { status: "succeeded" })],
        ["logMetrics", () => registry.logMetrics(run.id, [{ name: "loss", step: 0, value: 1 }])],
        ["registerPolicy", () => registry.registerPolicy({ name: "other", sha256: sha("other"), artifactPath: "/o" })],
        ["recordEvaluation", () => registry.recordEvaluation({ policy: "other", estimator: "dr", value: 1, lower: 0.9, upper: 1.1, split: "heldout", dataset: { name: "clicks", version: 3 } })],
        ["promote", () => registry.promote("pricing@2", "shadow")],
        ["recordTraffic", () => registry.recordTraffic("pricing@2", { decisions: 3, safetyViolations: 1 })],
        ["retire", () => registry.retire("pricing@2", "not needed")],
        ["rollback", () => registry.rollback({ reason: "drill", details: { guard: "reward", p: 0.001 } })],
        ["setGates", () => registry.setGates({ ...(easyGates as object), canary: { minShadowDecisions: 7 } } as never)],
        ["setKillSwitch", () => registry.setKillSwitch(true, "incident 42")],
        ["recordStep", () => registry.recordStep({ pipeline: "p", name: "s", inputHash: "h", status: "failed", error: "boom" })],
        ["createToken", async () => (adminToken = (await registry.createToken("first", "admin")).token)],
      ];
      for (const [name, call] of mutations) {
        const [before, count] = [await snapshot(), await auditCount()];
        await call();
        assert.notEqual(await snapshot(), before, `${name} changed nothing`);
        assert.equal(await auditCount(), count + 1, `${name} wrote ${(await auditCount()) - count} audit rows`);
      }
      // createToken ran last, so access control is now on: read as a reader-role token.
      const asAdmin = await backend.open({ token: adminToken });
      const reader = await backend.open({ token: (await asAdmin.createToken("viewer", "reader")).token });
      await asAdmin.close();
      const [before, count] = [await snapshot(), await auditCount()];
      const readers: Array<(registry: Registry) => Promise<unknown>> = [
        (registry) => registry.listRuns(),
        (registry) => registry.getRun(run.id),
        (registry) => registry.getMetrics(run.id),
        (registry) => registry.listPolicies(),
        (registry) => registry.getPolicy("pricing"),
        (registry) => registry.listEvaluations(null),
        (registry) => registry.stageHistory(),
        (registry) => registry.routing(),
        (registry) => registry.allRouting(),
        (registry) => registry.routingVersion(),
        (registry) => registry.killSwitch(),
        (registry) => registry.counters("pricing@2", "shadow"),
        (registry) => registry.gates(),
        (registry) => registry.policyLineage("pricing@1"),
        (registry) => registry.trainedOn({ name: "clicks", version: 3 }),
        (registry) => registry.inProduction(),
        (registry) => registry.listSteps(),
        (registry) => registry.findStep("p", "s", "h"),
        (registry) => registry.listDatasetVersions(),
        (registry) => registry.getDatasetVersion({ name: "clicks", version: 3 }),
        (registry) => registry.audit(),
      ];
      try {
        for (const read of readers) await read(reader);
        const rollbackEntry = (await reader.audit({ action: "policy.rollback" }))[0]!;
        assert.deepEqual(rollbackEntry.details["details"], { guard: "reward", p: 0.001 });
      } finally {
        await reader.close();
      }
      assert.equal(await snapshot(), before);
      assert.equal(await auditCount(), count);
    });

    withRegistry("tokens: hashed at rest, roles enforced, revocation, authenticate for the HTTP API", async (_registry, backend) => {
      const local = await backend.open({ actor: "owner" });
      try {
        await expectCode(local.createToken("ci", "trainer"), "forbidden");
        const admin = await local.createToken("root-admin", "admin");
        await expectCode(local.listRuns(), "auth_required");
        const stored = await backend.raw("SELECT token_hash FROM api_tokens");
        assert.equal(stored[0]!["token_hash"], createHash("sha256").update(admin.token).digest("hex"));
        assert.ok(!JSON.stringify(stored).includes(admin.token));

        const asAdmin = await backend.open({ token: admin.token });
        const reader = await asAdmin.createToken("dash", "reader");
        const deployer = await asAdmin.createToken("ops", "deployer");
        const trainer = await asAdmin.createToken("ci", "trainer");
        assert.deepEqual(await asAdmin.authenticate(deployer.token), { tokenId: deployer.info.id, name: "ops", role: "deployer" });
        await expectCode(asAdmin.authenticate("hct_nope"), "token_invalid");

        const asTrainer = await backend.open({ token: trainer.token });
        const asReader = await backend.open({ token: reader.token });
        const asDeployer = await backend.open({ token: deployer.token });
        try {
          await seed(asTrainer, 1);
          await expectCode(asTrainer.promote("pricing@1", "shadow"), "forbidden");
          await expectCode(asReader.registerDatasetVersion({ name: "x", version: 1, hash: "h" }), "forbidden");
          await expectCode(asDeployer.createToken("sneaky", "admin"), "forbidden");
          assert.equal((await asReader.listPolicies()).length, 1);
          assert.equal((await asDeployer.promote("pricing@1", "shadow")).stage, "shadow");
          const promoted = await asAdmin.audit({ action: "policy.promote" });
          assert.equal(promoted[0]!.actor, "ops");
          await asAdmin.revokeToken(reader.info.id);
          await expectCode(asReader.listPolicies(), "token_invalid");
          assert.deepEqual((await asAdmin.listTokens()).map((t) => [t.name, t.revokedAt !== null]), [
            ["root-admin", false],
            ["dash", true],
            ["ops", false],
            ["ci", false],
          ]);
        } finally {
          await Promise.all([asTrainer.close(), asReader.close(), asDeployer.close(), asAdmin.close()]);
        }
      } finally {
        await local.close();
      }
    });

    withRegistry("sensitive features are refused in a policy artifact unless allowed, and the allowance is audited", async (registry) => {
      const { run } = await seed(registry, 0);
      const error = await expectCode(
        registry.registerPolicy({ name: "leaky", sha256: sha("leaky"), artifactPath: "/l", runId: run.id, manifest: { observation: { featureNames: ["age", "zip"] } } }),
        "sensitive_feature_exported",
      );
      assert.deepEqual(error.details["features"], ["zip"]);
      assert.deepEqual(await registry.listPolicies({ name: "leaky" }), []);
      await registry.registerPolicy({ name: "leaky", sha256: sha("leaky"), artifactPath: "/l", runId: run.id, featureNames: ["age", "zip"], allowSensitive: true });
      const [entry] = await registry.audit({ action: "policy.register" });
      assert.deepEqual(entry!.details["sensitiveFeaturesAllowed"], ["zip"]);
    });

    withRegistry("two connections promoting at once: exactly one wins", async (registry, backend) => {
      await seed(registry, 3);
      for (const ref of ["pricing@1", "pricing@2", "pricing@3"]) {
        await registry.promote(ref, "shadow");
        await registry.recordTraffic(ref, { decisions: 100 });
      }
      const [a, b] = await Promise.all([backend.open(), backend.open()]);
      try {
        // Same policy, same step: one moves it, the other finds it already moved.
        const same = await Promise.allSettled([a.promote("pricing@1", "canary", { fraction: 0.1 }), b.promote("pricing@1", "canary", { fraction: 0.2 })]);
        // Both may "succeed" only if the second merely adjusted the fraction; the history must show one entry into canary.
        const entries = (await registry.stageHistory({ policy: "pricing@1" })).filter((h) => h.fromStage === "shadow" && h.toStage === "canary");
        assert.equal(entries.length, 1);
        assert.ok(same.some((r) => r.status === "fulfilled"));
        await registry.rollback({ policy: "pricing@1", reason: "reset" });
        // Different policies competing for the one canary slot.
        const race = await Promise.allSettled([a.promote("pricing@2", "canary", { fraction: 0.1 }), b.promote("pricing@3", "canary", { fraction: 0.1 })]);
        const won = race.filter((r) => r.status === "fulfilled");
        const lost = race.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        assert.equal(won.length, 1);
        assert.equal(lost.length, 1);
        assert.equal((lost[0]!.reason as RegistryError).code, "canary_slot_taken");
        const canaries = (await registry.listPolicies({ stage: "canary" })).length;
        assert.equal(canaries, 1);
        // Retire and promote into another deployment at once: the outcome must match some serial order, so the
        // stage history replays to the stage the policy is in.
        await registry.registerPolicy({ name: "pricing", sha256: sha("racer"), artifactPath: "/r" });
        await registry.recordEvaluation({ policy: "pricing@4", estimator: "dr", value: 0.7, lower: 0.6, upper: 0.8, split: "heldout", dataset: { name: "clicks", version: 3 } });
        await Promise.allSettled([a.retire("pricing@4", "not needed"), b.promote("pricing@4", "shadow", { deployment: "checkout" })]);
        const racer = await registry.getPolicy("pricing@4");
        const history = await registry.stageHistory({ policy: "pricing@4" });
        if (history.length > 0) assert.equal(history.at(-1)!.toStage, racer.stage);
        else assert.equal(racer.stage, "retired");
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    withRegistry("a writer killed mid-transaction leaves no trace", async (registry, backend) => {
      await seed(registry, 1);
      const versionBefore = await registry.routingVersion();
      const auditBefore = (await registry.audit()).length;
      const child = spawnSync(
        process.execPath,
        ["--import", "tsx", fileURLToPath(new URL("./test-helpers/crash-child.ts", import.meta.url)), backend.url, backend.base.schema ?? "", "pricing@1", "shadow"],
        { encoding: "utf8", timeout: 30_000 },
      );
      assert.equal(child.signal, "SIGKILL", child.stderr);
      assert.equal(child.stdout.trim(), "dying");
      const after = await backend.open();
      try {
        assert.equal((await after.getPolicy("pricing@1")).stage, "registered");
        assert.equal(await after.routingVersion(), versionBefore);
        assert.equal((await after.audit()).length, auditBefore);
        assert.deepEqual(await after.stageHistory(), []);
        assert.equal((await after.promote("pricing@1", "shadow")).stage, "shadow", "and the registry is usable afterwards");
      } finally {
        await after.close();
      }
    });
  });
}

for (const name of backendNames()) suite(name);
if (!postgresUrl) {
  test("registry on postgres", { skip: "HINDCAST_TEST_POSTGRES_URL is not set (run .ci/postgres.sh start)" }, () => {});
}
