import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writePolicyArtifact } from "../../policy/artifact.js";
import { openRegistry } from "../../registry/index.js";

const bin = fileURLToPath(new URL("../../../bin/hindcast.js", import.meta.url));

/** The registry commands end to end against a throwaway SQLite registry: register, gated promote, lineage, rollback, audit, tokens. */
test("registry commands: register, refused and accepted promote, lineage, rollback, audit, tokens", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-cli-registry-"));
  const url = `sqlite:${join(dir, "registry.db")}`;
  const cli = (args: string[], token?: string) => {
    const result = spawnSync(process.execPath, [bin, ...args, "--registry", url], {
      encoding: "utf8",
      cwd: dir,
      env: { ...process.env, HINDCAST_FROM_SOURCE: "1", HINDCAST_REGISTRY: "", HINDCAST_TOKEN: token ?? "" },
      timeout: 60_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, json: () => JSON.parse(result.stdout) as Record<string, any> };
  };
  try {
    const artifact = join(dir, "artifact");
    await writePolicyArtifact(artifact, new Uint8Array([1, 2, 3]), {
      algorithm: "cql",
      actionSpace: { kind: "discrete", n: 2 },
      observation: { dim: 1, featureNames: ["age"], scaler: { mean: [0], std: [1] }, support: { min: [0], max: [1] } },
      onnx: { output: "q", outputKind: "q" },
      config: {},
      seed: 1,
      codeVersion: "test",
      metrics: {},
    });
    const registry = await openRegistry(url);
    await registry.setGates({ shadow: { opeLowerBound: { split: "heldout", margin: 0 } } } as never);
    await registry.registerDatasetVersion({ name: "clicks", version: 1, hash: "sha256:" + "c".repeat(64) });
    const run = await registry.createRun({ algorithm: "cql", config: { alpha: 2 }, seed: 1, dataset: { name: "clicks", version: 1 }, codeVersion: "test" });
    await registry.recordEvaluation({ policy: null, estimator: "on_policy", value: 0.5, lower: 0.5, upper: 0.5, split: "heldout", dataset: { name: "clicks", version: 1 } });

    const registered = cli(["policies", "register", artifact, "--name", "pricing", "--run", String(run.id), "--json"]);
    assert.equal(registered.status, 0, registered.stderr);
    const expectedSha = createHash("sha256").update(readFileSync(join(artifact, "manifest.json"))).digest("hex");
    assert.equal(registered.json()["sha256"], expectedSha);

    await registry.recordEvaluation({ policy: "pricing", estimator: "dr", value: 0.45, lower: 0.4, upper: 0.5, split: "heldout", dataset: { name: "clicks", version: 1 } });
    const refused = cli(["promote", "pricing", "--to", "shadow"]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /promotion_refused: .*shadow\.opeLowerBound: .*0\.1(000)? below/);

    await registry.recordEvaluation({ policy: "pricing", estimator: "dr", value: 0.7, lower: 0.6, upper: 0.8, split: "heldout", dataset: { name: "clicks", version: 1 } });
    await registry.close();
    const promoted = cli(["promote", "pricing@1", "--to", "shadow", "--reason", "ope passed", "--json"]);
    assert.equal(promoted.status, 0, promoted.stderr);
    assert.equal(promoted.json()["stage"], "shadow");

    const lineage = cli(["policies", "lineage", expectedSha.slice(0, 12), "--json"]).json();
    assert.deepEqual(lineage["dataset"], { name: "clicks", version: 1, hash: "sha256:" + "c".repeat(64) });
    assert.deepEqual(lineage["run"]["config"], { alpha: 2 });
    assert.deepEqual(lineage["stageHistory"].map((h: { reason: string }) => h.reason), ["ope passed"]);

    const rolledBack = cli(["rollback", "--policy", "pricing", "--reason", "latency", "--json"]);
    assert.equal(rolledBack.status, 0, rolledBack.stderr);
    assert.equal(rolledBack.json()["rolledBack"]["stage"], "rolled_back");

    const token = cli(["tokens", "create", "boss", "--role", "admin", "--json"]).json()["token"] as string;
    const denied = cli(["audit"]);
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /auth_required/);
    const audit = cli(["audit", "--json"], token);
    assert.equal(audit.status, 0, audit.stderr);
    assert.deepEqual(
      audit.json().map((e: { action: string }) => e.action),
      ["gates.set", "dataset.register", "run.create", "evaluation.record", "policy.register", "evaluation.record", "policy.promote_refused", "evaluation.record", "policy.promote", "policy.rollback", "token.create"],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
