import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRegistry } from "../registry/open.js";
import { writeLinearArtifact } from "./fixtures/onnx-linear.js";
import { loadServeSettings, RegistryRoutingSource, registryPolicyLoader } from "./registry-routing.js";
import { createDecisionService } from "./service.js";

test("serving from the registry: routing, hot reload, rollback records, tokens, traffic reports", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-registry-"));
  const url = `sqlite:${join(dir, "registry.db")}`;
  try {
    const owner = await openRegistry(url);
    const admin = await owner.createToken("serve", "admin");
    await owner.close();
    const registry = await openRegistry(url, { token: admin.token });
    const deployer = await registry.createToken("ops", "deployer");
    const reader = await registry.createToken("analyst", "reader");
    await registry.setGates({
      shadow: { opeLowerBound: null },
      canary: { minShadowDecisions: 0, maxShadowSafetyViolations: 1000, maxFraction: 1 },
      production: { canaryWindowSeconds: 0, minCanaryDecisions: 0, maxCanaryGuardFailures: 1000, maxCanarySafetyViolations: 1000 },
    });
    const register = async (name: string, weights: number[]) => {
      const manifest = await writeLinearArtifact(join(dir, name), weights);
      return registry.registerPolicy({ name, sha256: manifest.onnx.sha256, artifactPath: join(dir, name), manifest: manifest as unknown as Record<string, unknown> });
    };
    await register("p1", [1, 0, -1, 0, 1, -1]); // action 0 when x is largest
    await register("p2", [0, 1, -1, 1, 0, -1]); // action 1 when x is largest
    await register("p3", [1, 0, -1, 0, 1, -0.5]);
    for (const to of ["shadow", "canary", "production"] as const) await registry.promote("p1@1", to, { deployment: "default", fraction: 0.5 });

    const routing = new RegistryRoutingSource(registry, { defaults: { fallback: { action: 2 } } });
    const service = await createDecisionService({ routing, loader: registryPolicyLoader(registry), logDir: join(dir, "log"), durableLog: false });
    const decide = async (key: string) =>
      (await service.app.inject({ method: "POST", url: "/v1/decide", payload: { routingKey: key, state: [3, 1] } })).json();
    try {
      await service.reload(true);
      const first = await decide("k");
      assert.deepEqual([first.policyVersion, first.action, first.route], ["p1@1", 0, "production"]);

      await registry.promote("p2@1", "shadow", { deployment: "default" });
      await registry.promote("p2@1", "canary", { deployment: "default", fraction: 0.5 });
      assert.ok(await service.reload());
      const routes = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const d = await decide(`user-${i}`);
        routes.add(`${d.route}:${d.policyVersion}:${d.action}`);
      }
      assert.deepEqual([...routes].sort(), ["canary:p2@1:1", "production:p1@1:0"]);

      // A corrupted artifact entering as a shadow is left out; everything else keeps serving.
      const onnxPath = join(dir, "p3", "policy.onnx");
      const bytes = readFileSync(onnxPath);
      bytes[bytes.length - 1] ^= 0xff;
      writeFileSync(onnxPath, bytes);
      await registry.promote("p3@1", "shadow", { deployment: "default" });
      const report = await service.reload();
      assert.deepEqual(report?.skipped.map((s) => s.policy), ["p3@1"]);
      assert.match(report!.skipped[0].reason, /sha256/);
      // the alert is in the registry's audit log too (recorded without blocking the reload)
      await new Promise((resolve) => setTimeout(resolve, 50));
      const alerts = await registry.audit({ action: "alert.shadow_skipped" });
      assert.equal(alerts[0]?.subject, "deployment:default");
      assert.deepEqual([alerts[0]?.details["kind"], alerts[0]?.details["details"]], ["shadow_skipped", { policy: "p3@1" }]);
      const stillServing = new Set<string>();
      for (let i = 0; i < 40; i++) stillServing.add((await decide(`user-${i}`)).policyVersion);
      assert.deepEqual([...stillServing].sort(), ["p1@1", "p2@1"]);

      const viewer = await service.app.inject({
        method: "POST", url: "/admin/deployments/default/rollback", payload: { reason: "x" }, headers: { authorization: `Bearer ${reader.token}` },
      });
      assert.equal(viewer.statusCode, 403);
      const rolled = await service.app.inject({
        method: "POST", url: "/admin/deployments/default/rollback", payload: { reason: "canary looks wrong" }, headers: { authorization: `Bearer ${deployer.token}` },
      });
      assert.equal(rolled.statusCode, 200);
      assert.deepEqual([rolled.json().from, rolled.json().to], ["p2@1", "p1@1"]);
      const history = await registry.stageHistory({ deployment: "default" });
      const rollback = history.find((h) => h.toStage === "rolled_back");
      assert.equal(rollback?.policy, "p2@1");
      assert.match(rollback!.reason, /canary looks wrong/);
      for (let i = 0; i < 20; i++) assert.equal((await decide(`user-${i}`)).route, "production");
    } finally {
      await service.stop();
    }
    const counters = await registry.counters("p1@1");
    assert.ok(counters.decisions > 0, `p1 decisions ${counters.decisions}`);
    await registry.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the kill switch lives in the registry (replicas and restarts see it); admin settings persist in the settings file", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-kill-"));
  const url = `sqlite:${join(dir, "registry.db")}`;
  try {
    const owner = await openRegistry(url);
    const admin = await owner.createToken("serve", "admin");
    await owner.close();
    const registry = await openRegistry(url, { token: admin.token });
    const deployer = await registry.createToken("ops", "deployer");
    const manifest = await writeLinearArtifact(join(dir, "p1"), [1, 0, -1, 0, 1, -1]); // action 0 for state [3, 1]
    await registry.registerPolicy({ name: "p1", sha256: manifest.onnx.sha256, artifactPath: join(dir, "p1"), manifest: manifest as unknown as Record<string, unknown> });
    await registry.setGates({
      shadow: { opeLowerBound: null },
      canary: { minShadowDecisions: 0, maxShadowSafetyViolations: 1000, maxFraction: 1 },
      production: { canaryWindowSeconds: 0, minCanaryDecisions: 0, maxCanaryGuardFailures: 1000, maxCanarySafetyViolations: 1000 },
    });
    for (const to of ["shadow", "canary", "production"] as const) await registry.promote("p1@1", to, { deployment: "default", fraction: 0.5 });
    const settingsPath = join(dir, "serve.yaml");
    writeFileSync(settingsPath, "deployments:\n  default:\n    fallback: { action: 2 }\n");

    const replica = async (log: string) => {
      const routing = new RegistryRoutingSource(registry, loadServeSettings(settingsPath), { settingsPath });
      const service = await createDecisionService({ routing, loader: registryPolicyLoader(registry), logDir: join(dir, log), durableLog: false });
      await service.reload(true);
      return service;
    };
    const decide = async (service: Awaited<ReturnType<typeof replica>>) =>
      (await service.app.inject({ method: "POST", url: "/v1/decide", payload: { routingKey: "k", state: [3, 1] } })).json();
    const a = await replica("log-a");
    const b = await replica("log-b");
    try {
      assert.equal((await decide(b)).action, 0);
      const killed = await a.app.inject({ method: "POST", url: "/admin/kill", payload: { on: true, reason: "incident 7" }, headers: { authorization: `Bearer ${deployer.token}` } });
      assert.equal(killed.statusCode, 200);
      assert.equal(await registry.killSwitch(), true);
      const audit = await registry.audit({ action: "kill_switch.on" });
      assert.match(String(audit[0]?.details["reason"]), /incident 7/);
      // the other replica follows at its next poll
      assert.ok(await b.reload());
      assert.deepEqual([(await decide(b)).route, (await decide(b)).action], ["killed", 2]);

      // serving settings changed through the admin API are written to the settings file ...
      const deployed = await a.app.inject({
        method: "PUT", url: "/admin/deployments/default", headers: { authorization: `Bearer ${deployer.token}` },
        payload: { production: { policy: "p1@1" }, fallback: { action: 1 }, safety: { allowedActions: [{ actions: [1, 2] }] } },
      });
      assert.equal(deployed.statusCode, 200, deployed.body);
      const written = loadServeSettings(settingsPath);
      assert.deepEqual(written.deployments?.["default"]?.fallback, { action: 1 });
      await a.app.inject({ method: "POST", url: "/admin/kill", payload: { on: false }, headers: { authorization: `Bearer ${deployer.token}` } });
      // ... so the other replica serves them after its next poll: action 0 is not allowed, the fallback serves 1
      assert.ok(await b.reload());
      const safe = await decide(b);
      assert.deepEqual([safe.action, safe.safety], [1, ["allowed_actions"]]);
    } finally {
      await a.stop();
      await b.stop();
    }
    // a restarted service starts killed if the switch is on
    await registry.setKillSwitch(true, "still broken");
    const restarted = await replica("log-c");
    try {
      assert.equal((await decide(restarted)).route, "killed");
    } finally {
      await restarted.stop();
    }
    await registry.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
