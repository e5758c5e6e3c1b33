import { test } from "node:test";
import type { FastifyInstance } from "fastify";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeploymentInput } from "./config.js";
import { readDecisionLog, type DecisionRecord, type FeedbackRecord } from "./decision-log.js";
import type { AlertEvent } from "./engine.js";
import { linearPolicy, type DecisionPolicy } from "./policy.js";
import { MemoryRoutingSource } from "./routing.js";
import { createDecisionService, type DecisionService } from "./service.js";

const features = ["x", "y"];
const support = { min: [-10, -10], max: [10, 10] };
const space = { kind: "discrete" as const, n: 3 };

/** scores (x, y, -x - y): action 0 when x is largest, 1 when y is, 2 when both are negative enough. */
function policies(): Map<string, DecisionPolicy> {
  const base = { actionSpace: space, featureNames: features, support };
  const v1 = linearPolicy({ ...base, version: "v1", weights: [1, 0, 0, 1, -1, -1] });
  const v2 = linearPolicy({ ...base, version: "v2", weights: [0, 1, 1, 0, -1, -1] });
  const twin = linearPolicy({ ...base, version: "v1-twin", weights: [1, 0, 0, 1, -1, -1] });
  const slow: DecisionPolicy = {
    ...v1,
    version: "slow",
    evaluate: (obs) => new Promise((resolve) => setTimeout(() => resolve(v1.evaluate(obs) as never), 4)),
  };
  const broken: DecisionPolicy = { ...v1, version: "broken", evaluate: () => { throw new Error("boom"); } };
  const other = linearPolicy({ ...base, version: "other", featureNames: ["a", "b"], weights: [1, 0, 0, 1, -1, -1] });
  return new Map(Object.entries({ v1, v2, twin, slow, broken, other }));
}

const loaderFor = (map: Map<string, DecisionPolicy>) => async (ref: string): Promise<DecisionPolicy> => {
  if (ref === "corrupt") throw new Error("policy.onnx sha256 does not match the manifest");
  const policy = map.get(ref);
  if (!policy) throw new Error(`no artifact ${ref}`);
  return policy;
};

function deployment(extra: Partial<DeploymentInput> = {}): DeploymentInput {
  return { production: { policy: "v1" }, fallback: { action: 2 }, ...extra };
}

interface Harness {
  service: DecisionService;
  routing: MemoryRoutingSource;
  dir: string;
  alerts: AlertEvent[];
  decide(body: unknown): Promise<{ status: number; body: any }>;
  post(url: string, body: unknown, token?: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

async function harness(deployments: Record<string, DeploymentInput>, options: { seed?: number; start?: boolean } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-"));
  const routing = new MemoryRoutingSource({ deployments, tokens: { "deploy-token": "deployer", "view-token": "viewer" } });
  const service = await createDecisionService({
    routing,
    loader: loaderFor(policies()),
    logDir: dir,
    seed: options.seed ?? 1,
    durableLog: false,
    bodyLimit: 4096,
  });
  const alerts: AlertEvent[] = [];
  service.on("alert", (event: AlertEvent) => alerts.push(event));
  await service.reload(true);
  const post = async (url: string, body: unknown, token?: string) => {
    const response = await service.app.inject({
      method: "POST",
      url,
      payload: body as object,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: response.statusCode, body: response.json() };
  };
  return {
    service,
    routing,
    dir,
    alerts,
    post,
    decide: (body) => post("/v1/decide", body),
    async close() {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function decisions(dir: string): DecisionRecord[] {
  return readDecisionLog(dir).records.filter((r): r is DecisionRecord => r.kind === "decision");
}

test("decide answers from named features or a vector and logs the decision before answering", async () => {
  const h = await harness({ default: deployment() });
  try {
    const named = await h.decide({ routingKey: "u1", state: { x: 3, y: 1 } });
    assert.equal(named.status, 200);
    assert.equal(named.body.action, 0);
    assert.equal(named.body.probability, 1);
    assert.equal(named.body.policyVersion, "v1");
    assert.equal(named.body.route, "production");
    assert.match(named.body.decisionId, /^[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$/);
    const vector = await h.decide({ deployment: "default", routingKey: "u2", state: [-1, 4] });
    assert.equal(vector.body.action, 1);
    const logged = decisions(h.dir);
    assert.deepEqual(logged.map((r) => r.id), [named.body.decisionId, vector.body.decisionId]);
    assert.deepEqual(logged[1].state, [-1, 4]);
    assert.deepEqual(logged[1].featureNames, features);
    assert.equal(logged[1].probability, 1);
    assert.equal(logged[1].route, "production");
    assert.ok(logged[1].latencyUs >= 0);
  } finally {
    await h.close();
  }
});

test("a vector state is logged as the client wrote it, and the line parses to the numbers the policy saw", async () => {
  const h = await harness({ default: deployment() });
  try {
    const send = (payload: string) =>
      h.service.app.inject({ method: "POST", url: "/v1/decide", payload, headers: { "content-type": "application/json" } });
    assert.equal((await send('{"routingKey":"k1","state":[0.1,1.50]}')).statusCode, 200);
    assert.equal((await send('{"state":[ 2.0, -3 ],"routingKey":"k2"}')).statusCode, 200);
    assert.equal((await send('{"routingKey":"\\"state\\":[9,9]","state":[4E0,-5e-1]}')).statusCode, 200);
    assert.equal((await send('{"routingKey":"k4","state":{"y":0.25,"x":1.0}}')).statusCode, 200);
    const lines = readFileSync(readdirSync(h.dir).filter((name) => name.startsWith("decisions-")).map((name) => join(h.dir, name))[0], "utf8").split("\n");
    const stateText = (key: string) => /"state":(\[[^\]]*\])/.exec(lines.find((line) => line.includes(`"routingKey":${JSON.stringify(key)}`))!)![1];
    assert.equal(stateText("k1"), "[0.1,1.50]", "plain numbers are copied from the body");
    assert.equal(stateText("k2"), "[2,-3]", "with whitespace the numbers are formatted");
    assert.equal(stateText('"state":[9,9]'), "[4E0,-5e-1]");
    assert.equal(stateText("k4"), "[1,0.25]", "named features are logged in feature order");
    assert.deepEqual(decisions(h.dir).map((r) => r.state), [[0.1, 1.5], [2, -3], [4, -0.5], [1, 0.25]]);
    // the decision routes' own JSON parser: an empty body and a "__proto__" member are refused
    const empty = await send("");
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.json().error.code, "invalid_json");
    const proto = await send('{"routingKey":"k5","state":[1,2],"__proto__":{"polluted":true}}');
    assert.equal(proto.statusCode, 400);
    assert.equal(proto.json().error.code, "invalid_request");
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
  } finally {
    await h.close();
  }
});

test("bad requests get coded errors: 400, 404, 413, 415, 503", async () => {
  const h = await harness({ default: deployment(), dead: { production: { policy: "corrupt" }, fallback: { action: 0 } } });
  try {
    const noKey = await h.decide({ state: [1, 2] });
    assert.equal(noKey.status, 400);
    assert.equal(noKey.body.error.code, "invalid_request");
    const extra = await h.decide({ routingKey: "k", state: [1, 2], surprise: true });
    assert.equal(extra.body.error.code, "invalid_request");
    const wrongType = await h.decide({ routingKey: "k", state: ["1", 2] });
    assert.equal(wrongType.body.error.code, "invalid_request");
    const short = await h.decide({ routingKey: "k", state: [1] });
    assert.equal(short.status, 400);
    assert.equal(short.body.error.code, "invalid_state");
    assert.equal(short.body.error.expected, 2);
    const notJson = await h.service.app.inject({ method: "POST", url: "/v1/decide", payload: "{oops", headers: { "content-type": "application/json" } });
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json().error.code, "invalid_json");
    const text = await h.service.app.inject({ method: "POST", url: "/v1/decide", payload: "hi", headers: { "content-type": "text/plain" } });
    assert.equal(text.statusCode, 415);
    assert.equal(text.json().error.code, "unsupported_media_type");
    const unknown = await h.decide({ deployment: "nope", routingKey: "k", state: [1, 2] });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "unknown_policy");
    const huge = await h.decide({ routingKey: "k", state: Array.from({ length: 2000 }, () => 1.2345) });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error.code, "payload_too_large");
    const dead = await h.decide({ deployment: "dead", routingKey: "k", state: [1, 2] });
    assert.equal(dead.status, 503);
    assert.equal(dead.body.error.code, "no_decider");
    const route = await h.service.app.inject({ method: "GET", url: "/v2/nothing" });
    assert.equal(route.statusCode, 404);
    assert.equal(route.json().error.code, "not_found");
    const badFeedback = await h.post("/v1/feedback", { decisionId: "not an id", reward: 1 });
    assert.equal(badFeedback.body.error.code, "invalid_decision_id");
    const noReward = await h.post("/v1/feedback", { decisionId: "abc-def-1" });
    assert.equal(noReward.body.error.code, "invalid_request");
    assert.equal(decisions(h.dir).length, 0);
  } finally {
    await h.close();
  }
});

test("missing features use declared defaults, else the fallback; out-of-support states go to the fallback", async () => {
  const h = await harness({ default: deployment({ defaults: { y: 5 } }), strict: deployment() });
  try {
    const defaulted = await h.decide({ routingKey: "k", state: { x: 1 } });
    assert.equal(defaulted.body.action, 1);
    assert.equal(defaulted.body.route, "production");
    const missing = await h.decide({ deployment: "strict", routingKey: "k", state: { x: 1, y: null } });
    assert.equal(missing.status, 200);
    assert.equal(missing.body.route, "fallback");
    assert.equal(missing.body.action, 2);
    assert.equal(missing.body.fallbackReason, "missing_feature:y");
    const ood = await h.decide({ routingKey: "k", state: [50, 0] });
    assert.equal(ood.body.route, "fallback");
    assert.equal(ood.body.fallbackReason, "ood:range:x");
    assert.equal(ood.body.policyVersion, "fallback");
    const metrics = await h.service.app.inject({ method: "GET", url: "/metrics" });
    assert.match(metrics.body, /hindcast_serve_fallbacks_total\{deployment="default",reason="ood:range"\} 1/);
    assert.match(metrics.body, /hindcast_serve_fallbacks_total\{deployment="strict",reason="missing_feature"\} 1/);
  } finally {
    await h.close();
  }
});

test("safety rules replace forbidden actions with the fallback and log the exact propensity", async () => {
  // When x > 0 only actions 1 and 2 are allowed; v1 prefers action 0 there.
  const safety = { allowedActions: [{ when: { feature: "x", op: ">" as const, value: 0 }, actions: [1, 2] }] };
  const h = await harness({ default: deployment({ safety, exploration: { kind: "epsilon", epsilon: 0.3 } }) });
  try {
    const seen = new Map<number, Set<number>>();
    for (let i = 0; i < 300; i++) {
      const r = await h.decide({ routingKey: `k${i}`, state: [5, 1] });
      assert.equal(r.status, 200);
      assert.notEqual(r.body.action, 0);
      if (!seen.has(r.body.action)) seen.set(r.body.action, new Set());
      seen.get(r.body.action)!.add(r.body.probability);
      if (r.body.action === 2) assert.deepEqual(r.body.safety.length <= 1, true);
    }
    // Greedy is 0 (forbidden). Epsilon 0.3 over 3 actions: p = (0.8, 0.1, 0.1).
    // Served 1 only when 1 is sampled: 0.1. Served 2 (fallback) when 2 or the forbidden 0 is sampled: 0.9.
    assert.deepEqual([...seen.get(1)!].map((p) => p.toFixed(6)), ["0.100000"]);
    assert.deepEqual([...seen.get(2)!].map((p) => p.toFixed(6)), ["0.900000"]);
    const logged = decisions(h.dir);
    const interventions = logged.filter((r) => r.safety.includes("allowed_actions")).length;
    assert.ok(interventions > 150 && interventions < 300, `interventions ${interventions}`);
    const metrics = (await h.service.app.inject({ method: "GET", url: "/metrics" })).body;
    assert.match(metrics, new RegExp(`hindcast_serve_safety_interventions_total\\{deployment="default",rule="allowed_actions"\\} ${interventions}`));
  } finally {
    await h.close();
  }
});

test("canary takes its traffic fraction by stable hash of the routing key", async () => {
  const h = await harness({ default: deployment({ canary: { policy: "v2", fraction: 0.25 } }) });
  try {
    let canary = 0;
    const n = 1200;
    const routes = new Map<string, string>();
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const r = await h.decide({ routingKey: `user-${i}`, state: [3, 1] });
        routes.set(`user-${i}`, r.body.route);
        if (r.body.route === "canary") {
          canary += 1;
          assert.equal(r.body.policyVersion, "v2");
          assert.equal(r.body.action, 1);
        } else {
          assert.equal(r.body.action, 0);
        }
      }),
    );
    assert.ok(Math.abs(canary / n - 0.25) < 0.04, `canary share ${canary / n}`);
    for (let i = 0; i < 50; i++) {
      const again = await h.decide({ routingKey: `user-${i}`, state: [3, 1] });
      assert.equal(again.body.route, routes.get(`user-${i}`));
    }
  } finally {
    await h.close();
  }
});

test("shadows are computed and logged but never change the response", async () => {
  const spec = { exploration: { kind: "epsilon" as const, epsilon: 0.2 } };
  const plain = await harness({ default: deployment(spec) }, { seed: 9 });
  const shadowed = await harness({ default: deployment({ ...spec, shadows: [{ policy: "v2" }, { policy: "twin" }] }) }, { seed: 9 });
  try {
    for (let i = 0; i < 100; i++) {
      const state = [(i % 7) - 3, (i % 5) - 2];
      const a = await plain.decide({ routingKey: `k${i}`, state });
      const b = await shadowed.decide({ routingKey: `k${i}`, state });
      assert.deepEqual([b.body.action, b.body.probability, b.body.policyVersion, b.body.route], [a.body.action, a.body.probability, a.body.policyVersion, a.body.route]);
      const fb = await shadowed.post("/v1/feedback", { decisionId: b.body.decisionId, reward: b.body.action === 0 ? 1 : 0 });
      assert.equal(fb.status, 200);
    }
    const logged = decisions(shadowed.dir);
    assert.equal(logged.length, 100);
    for (const record of logged) {
      assert.equal(record.shadows?.length, 2);
      assert.equal(record.shadows![1].agree, record.action === record.shadows![1].action);
    }
    await shadowed.service.checkGuards();
    const status = (await shadowed.service.app.inject({ method: "GET", url: "/admin/deployments/default", headers: { authorization: "Bearer view-token" } })).json();
    const twin = status.shadows.find((s: { version: string }) => s.version === "v1-twin");
    const agreeing = logged.filter((r) => r.shadows![1].agree).length;
    assert.equal(twin.agreement, agreeing / 100);
    assert.equal(twin.rewarded, 100);
    // IPS by hand: sum over decisions where the twin agrees of reward / propensity, divided by n.
    const ips = logged.reduce((sum, r) => sum + (r.shadows![1].agree ? (r.action === 0 ? 1 : 0) / r.probability : 0), 0) / 100;
    assert.ok(Math.abs(twin.valueEstimate - ips) < 1e-9);
  } finally {
    await plain.close();
    await shadowed.close();
  }
});

test("feedback is joined once: on time, duplicate, and late are told apart and logged", async () => {
  const h = await harness({ default: deployment() });
  try {
    const d = await h.decide({ routingKey: "k", state: [1, 0] });
    const first = await h.post("/v1/feedback", { decisionId: d.body.decisionId, reward: 2.5, outcome: { clicked: true } });
    assert.deepEqual(first.body, { decisionId: d.body.decisionId, accepted: true, late: false, duplicate: false });
    const again = await h.post("/v1/feedback", { decisionId: d.body.decisionId, reward: 2.5 });
    assert.equal(again.body.duplicate, true);
    const old = `${(Date.now() - 3 * 86400_000).toString(36)}-zz-1`;
    const late = await h.post("/v1/feedback", { decisionId: old, reward: 1 });
    assert.equal(late.status, 200);
    assert.equal(late.body.late, true);
    const feedback = readDecisionLog(h.dir).records.filter((r): r is FeedbackRecord => r.kind === "feedback");
    assert.deepEqual(feedback.map((f) => [f.decisionId, f.late, f.duplicate]), [
      [d.body.decisionId, false, false],
      [d.body.decisionId, false, true],
      [old, true, false],
    ]);
    assert.deepEqual(feedback[0].outcome, { clicked: true });
    const metrics = (await h.service.app.inject({ method: "GET", url: "/metrics" })).body;
    assert.match(metrics, /hindcast_serve_feedback_total\{deployment="default",kind="duplicate"\} 1/);
  } finally {
    await h.close();
  }
});

test("admin endpoints need a deployer token; the kill switch sends everything to the fallback", async () => {
  const h = await harness({ default: deployment({ canary: { policy: "v2", fraction: 0.5 } }) });
  try {
    assert.equal((await h.post("/admin/kill", { on: true })).status, 401);
    const viewer = await h.post("/admin/kill", { on: true }, "view-token");
    assert.equal(viewer.status, 403);
    assert.equal(viewer.body.error.code, "forbidden");
    assert.equal((await h.post("/admin/kill", { on: true }, "wrong")).body.error.code, "unauthorized");
    const kill = await h.post("/admin/kill", { on: true, reason: "incident 42" }, "deploy-token");
    assert.equal(kill.status, 200);
    for (let i = 0; i < 20; i++) {
      const r = await h.decide({ routingKey: `k${i}`, state: [3, 1] });
      assert.equal(r.body.route, "killed");
      assert.equal(r.body.action, 2);
      assert.equal(r.body.probability, 1);
    }
    assert.equal(h.routing.table().killSwitch, true);
    assert.equal(h.routing.events.at(-1)?.reason, "incident 42");
    await h.post("/admin/kill", { on: false }, "deploy-token");
    assert.equal((await h.decide({ routingKey: "k", state: [3, 1] })).body.route !== "killed", true);
  } finally {
    await h.close();
  }
});

test("deploy, promote and rollback through the admin API; corrupted artifacts are refused", async () => {
  const h = await harness({ default: deployment() });
  try {
    const refused = await h.service.app.inject({
      method: "PUT", url: "/admin/deployments/default", payload: deployment({ canary: { policy: "corrupt", fraction: 0.5 } }),
      headers: { authorization: "Bearer deploy-token" },
    });
    assert.equal(refused.statusCode, 422);
    assert.equal(refused.json().error.code, "artifact_refused");
    const incompatible = await h.service.app.inject({
      method: "PUT", url: "/admin/deployments/default", payload: deployment({ shadows: [{ policy: "other" }] }),
      headers: { authorization: "Bearer deploy-token" },
    });
    assert.equal(incompatible.statusCode, 422);
    const invalid = await h.service.app.inject({
      method: "PUT", url: "/admin/deployments/default", payload: { production: {} }, headers: { authorization: "Bearer deploy-token" },
    });
    assert.equal(invalid.statusCode, 400);
    assert.equal(invalid.json().error.code, "invalid_config");
    const deployed = await h.service.app.inject({
      method: "PUT", url: "/admin/deployments/default", payload: deployment({ canary: { policy: "v2", fraction: 1 } }),
      headers: { authorization: "Bearer deploy-token" },
    });
    assert.equal(deployed.statusCode, 200);
    assert.equal((await h.decide({ routingKey: "k", state: [3, 1] })).body.policyVersion, "v2");
    const promoted = await h.post("/admin/deployments/default/promote", {}, "deploy-token");
    assert.equal(promoted.body.production, "v2");
    assert.equal((await h.decide({ routingKey: "k", state: [3, 1] })).body.route, "production");
    const rolled = await h.post("/admin/deployments/default/rollback", { reason: "regression" }, "deploy-token");
    assert.equal(rolled.status, 200);
    assert.deepEqual([rolled.body.from, rolled.body.to], ["v2", "v1"]);
    assert.equal((await h.decide({ routingKey: "k", state: [3, 1] })).body.policyVersion, "v1");
    const nothing = await h.post("/admin/deployments/default/rollback", {}, "deploy-token");
    assert.equal(nothing.status, 409);
    assert.equal(nothing.body.error.code, "nothing_to_rollback");
    const noCanary = await h.post("/admin/deployments/default/promote", {}, "deploy-token");
    assert.equal(noCanary.status, 409);
    assert.equal(noCanary.body.error.code, "nothing_to_promote");
    const unknown = await h.post("/admin/deployments/ghost/promote", {}, "deploy-token");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "unknown_policy");
  } finally {
    await h.close();
  }
});

test("hot reload follows the routing source, and a corrupted artifact leaves the old one serving", async () => {
  const h = await harness({ default: deployment() });
  try {
    await h.routing.deploy("default", deployment({ production: { policy: "v2" } }), "test");
    const applied = await h.service.reload();
    assert.deepEqual(applied?.applied, ["default"]);
    assert.equal((await h.decide({ routingKey: "k", state: [3, 1] })).body.policyVersion, "v2");
    await h.routing.deploy("default", deployment({ production: { policy: "corrupt" } }), "test");
    const report = await h.service.reload();
    assert.equal(report?.refused.length, 1);
    assert.match(report!.refused[0].reason, /sha256/);
    const still = await h.decide({ routingKey: "k", state: [3, 1] });
    assert.equal(still.status, 200);
    assert.equal(still.body.policyVersion, "v2");
    assert.equal(h.alerts.at(-1)?.kind, "reload_refused");
    assert.equal(await h.service.reload(), null);
  } finally {
    await h.close();
  }
});

async function drive(h: Harness, count: number, withFeedback?: (action: number, route: string) => number): Promise<void> {
  for (let start = 0; start < count; start += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - start) }, async (_, j) => {
        const i = start + j;
        const r = await h.decide({ routingKey: `user-${i}`, state: [(i % 7) - 3, (i % 5) - 2] });
        if (withFeedback && r.status === 200) {
          await h.post("/v1/feedback", { decisionId: r.body.decisionId, reward: withFeedback(r.body.action, r.body.route) });
        }
      }),
    );
    await h.service.checkGuards();
  }
}

const guard = { minSamples: 100, alpha: 0.01 };

test("the canary guard rolls back a failing canary, records the reason and raises an alert", async () => {
  const h = await harness({ default: deployment({ canary: { policy: "broken", fraction: 0.5 }, guard }) });
  try {
    await drive(h, 800);
    const rollback = h.routing.events.find((e) => e.action === "rollback");
    assert.ok(rollback, "no rollback recorded");
    assert.equal(rollback.actor, "canary-guard");
    assert.match(rollback.reason!, /errors worse on canary broken/);
    assert.equal(h.alerts.find((a) => a.kind === "canary_rollback")?.deployment, "default");
    assert.equal(h.routing.table().deployments.default.canary, undefined);
    for (let i = 0; i < 30; i++) assert.notEqual((await h.decide({ routingKey: `user-${i}`, state: [1, 1] })).body.route, "canary");
    const metrics = (await h.service.app.inject({ method: "GET", url: "/metrics" })).body;
    assert.match(metrics, /hindcast_serve_rollbacks_total\{deployment="default",metric="errors"\} 1/);
  } finally {
    await h.close();
  }
});

test("the canary guard rolls back a slow canary and a low-reward canary", async () => {
  const slow = await harness({ default: deployment({ canary: { policy: "slow", fraction: 0.5 }, guard }) });
  try {
    await drive(slow, 800);
    assert.match(slow.routing.events.find((e) => e.action === "rollback")?.reason ?? "", /latency/);
  } finally {
    await slow.close();
  }
  const poor = await harness({ default: deployment({ canary: { policy: "twin", fraction: 0.5 }, guard }) });
  try {
    await drive(poor, 1600, (_action, route) => (route === "canary" ? 0 : 1) + ((_action * 7) % 3) * 0.1);
    assert.match(poor.routing.events.find((e) => e.action === "rollback")?.reason ?? "", /reward/);
  } finally {
    await poor.close();
  }
});

test("an equal canary is left alone", async () => {
  const h = await harness({ default: deployment({ canary: { policy: "twin", fraction: 0.5 }, guard }) });
  try {
    await drive(h, 1500, (action) => (action === 0 ? 1 : 0));
    assert.equal(h.routing.events.filter((e) => e.action === "rollback").length, 0);
    assert.ok(h.routing.table().deployments.default.canary);
  } finally {
    await h.close();
  }
});

test("health, readiness and metrics endpoints", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-"));
  const service = await createDecisionService({
    routing: new MemoryRoutingSource({ deployments: { default: deployment() } }),
    loader: loaderFor(policies()),
    logDir: dir,
    durableLog: false,
    plugins: [{ plugin: async (app: FastifyInstance, opts: { greeting?: string }) => { app.get("/", async () => ({ hello: opts.greeting })); }, options: { prefix: "/ui", greeting: "hi" } }],
  });
  try {
    assert.equal((await service.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
    const notReady = await service.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(notReady.statusCode, 503);
    assert.equal(notReady.json().error.code, "not_ready");
    const { url } = await service.start();
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { deployments: string[] }).deployments, ["default"]);
    assert.deepEqual(await (await fetch(`${url}/ui`)).json(), { hello: "hi" });
    const decided = await fetch(`${url}/v1/decide`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ routingKey: "k", state: [1, 0] }) });
    assert.equal(decided.status, 200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of [
      "hindcast_serve_decision_latency_seconds_bucket",
      "hindcast_serve_decisions_total",
      "hindcast_serve_canary_guard_state",
      "hindcast_serve_kill_switch",
    ]) assert.ok(metrics.includes(name), name);
    assert.match(metrics, /hindcast_serve_decisions_total\{deployment="default",route="production",action="0"\} 1/);
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("continuous actions: gaussian exploration logs its log-density; bounds and rate limits fall back with the exact mass", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-"));
  const mean = linearPolicy({
    version: "c1",
    actionSpace: { kind: "continuous", low: [-2], high: [2] },
    featureNames: features,
    weights: [1, 0],
  });
  const routing = new MemoryRoutingSource({
    deployments: {
      bounded: {
        production: { policy: "c1" },
        fallback: { action: [0] },
        exploration: { kind: "gaussian", std: 0.5 },
        safety: { bounds: { low: [-1], high: [1] } },
      },
      limited: {
        production: { policy: "c1" },
        fallback: { action: [0] },
        safety: { rateLimit: { maxDelta: [0.5] } },
      },
    },
  });
  const service = await createDecisionService({ routing, loader: async () => mean, logDir: dir, durableLog: false, seed: 3 });
  try {
    await service.reload(true);
    const decide = async (deployment: string, key: string, x: number) =>
      (await service.app.inject({ method: "POST", url: "/v1/decide", payload: { deployment, routingKey: key, state: [x, 0] } })).json();
    let interventions = 0;
    let fallbackProbability = 0;
    const n = 600;
    for (let i = 0; i < n; i++) {
      const d = await decide("bounded", `k${i}`, 0.8); // mean 0.8, bound 1: P(a > 1) = 1 - Phi(0.4) = 0.3446
      if (d.route === "fallback") {
        interventions += 1;
        fallbackProbability = d.probability;
        assert.deepEqual(d.action, [0]);
        assert.deepEqual(d.safety, ["bounds"]);
      } else {
        const a = d.action[0];
        assert.ok(a >= -1 && a <= 1);
        // (the state travels as float32, so the mean is 0.8 to about 1e-8)
        const expected = -0.5 * ((a - 0.8) / 0.5) ** 2 - Math.log(0.5) - 0.5 * Math.log(2 * Math.PI);
        assert.ok(Math.abs(d.logDensity - expected) < 1e-6);
      }
    }
    assert.ok(Math.abs(fallbackProbability - 0.3446) < 0.001, `fallback mass ${fallbackProbability}`);
    assert.ok(Math.abs(interventions / n - 0.3446) < 0.06, `intervention share ${interventions / n}`);

    // Deterministic policy: 0.2 then 1.5 for the same key jumps by 1.3 > 0.5, so the fallback serves with mass 1.
    assert.deepEqual((await decide("limited", "same", 0.2)).action, [Math.fround(0.2)]);
    const jump = await decide("limited", "same", 1.5);
    assert.deepEqual([jump.route, jump.action, jump.probability, jump.safety], ["fallback", [0], 1, ["rate_limit"]]);
    const other = await decide("limited", "fresh", 1.5);
    assert.equal(other.route, "production");
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the guard's own timer rolls a failing canary back within seconds of the evidence", async () => {
  const h = await harness({ default: deployment({ canary: { policy: "broken", fraction: 0.5 }, guard }) });
  try {
    await h.service.start(); // timers: guard checks every 100 ms
    for (let start = 0; start < 600; start += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => h.decide({ routingKey: `user-${start + j}`, state: [1, 1] })));
    }
    const evidenceAt = Date.now();
    while (!h.routing.events.some((e) => e.action === "rollback") && Date.now() - evidenceAt < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const rollback = h.routing.events.find((e) => e.action === "rollback");
    assert.ok(rollback, "no rollback within 5 s");
    assert.ok(Date.now() - evidenceAt < 2000, `rollback took ${Date.now() - evidenceAt} ms`);
  } finally {
    await h.close();
  }
});
