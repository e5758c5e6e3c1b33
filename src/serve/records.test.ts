import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeploymentInput } from "./config.js";
import { readDecisionLog, type DecisionRecord } from "./decision-log.js";
import { float32Decimal } from "./exploration.js";
import { linearPolicy, type DecisionPolicy } from "./policy.js";
import { MemoryRoutingSource } from "./routing.js";
import type { Decision } from "./engine.js";
import { createDecisionService, serializeDecision } from "./service.js";

const featureNames = ["x", "y"];

async function serve(deployments: Record<string, DeploymentInput>, policies: Record<string, DecisionPolicy>) {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-serve-records-"));
  const service = await createDecisionService({
    routing: new MemoryRoutingSource({ deployments }),
    loader: async (ref) => policies[ref]!,
    logDir: dir,
    durableLog: false,
  });
  await service.reload(true);
  return {
    service,
    decide: async (body: unknown) => (await service.app.inject({ method: "POST", url: "/v1/decide", payload: body as object })).json(),
    logged: () => readDecisionLog(dir).records.filter((r): r is DecisionRecord => r.kind === "decision"),
    close: async () => {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("a shadow that fails is logged as a shadow error, not as an action, and never touches the response", async () => {
  const space = { kind: "discrete" as const, n: 3 };
  const v1 = linearPolicy({ version: "v1", actionSpace: space, featureNames, weights: [1, 0, 0, 1, -1, -1] });
  const twin = linearPolicy({ version: "twin", actionSpace: space, featureNames, weights: [1, 0, 0, 1, -1, -1] });
  // fails on negative x only
  const flaky: DecisionPolicy = {
    ...twin,
    version: "flaky",
    evaluate: (obs) => {
      if (obs[0] < 0) throw new Error("runtime lost its session");
      return twin.evaluate(obs);
    },
  };
  const s = await serve({ default: { production: { policy: "v1" }, fallback: { action: 2 }, shadows: [{ policy: "flaky" }, { policy: "twin" }] } }, { v1, twin, flaky });
  try {
    const ok = await s.decide({ routingKey: "a", state: [3, 1] });
    const failing = await s.decide({ routingKey: "b", state: [-3, 1] });
    assert.deepEqual([ok.action, ok.policyVersion, ok.route], [0, "v1", "production"]);
    // scores (x, y, -x - y) = (-3, 1, 2): action 2
    assert.deepEqual([failing.action, failing.policyVersion, failing.route], [2, "v1", "production"]);
    const [first, second] = s.logged();
    assert.deepEqual(first.shadows?.map((x) => [x.version, x.action, x.agree]), [["flaky", 0, true], ["twin", 0, true]]);
    assert.equal(first.shadowErrors, undefined);
    assert.deepEqual(second.shadows?.map((x) => [x.version, x.action]), [["twin", 2]]);
    assert.deepEqual(second.shadowErrors, [{ version: "flaky", error: "runtime lost its session" }]);
    // feedback on both: the flaky shadow's value estimate uses only the decision it acted on (reward 1 / prob 1)
    for (const [decision, reward] of [[ok, 1], [failing, 0]] as const) {
      const response = await s.service.app.inject({ method: "POST", url: "/v1/feedback", payload: { decisionId: decision.decisionId, reward } });
      assert.equal(response.statusCode, 200);
    }
    const status = s.service.engine.status("default") as { shadows: Array<{ version: string; rewarded: number; valueEstimate: number | null; decisions: number }> };
    const flakyStatus = status.shadows.find((x) => x.version === "flaky")!;
    assert.deepEqual([flakyStatus.decisions, flakyStatus.rewarded, flakyStatus.valueEstimate], [1, 1, 1]);
    const twinStatus = status.shadows.find((x) => x.version === "twin")!;
    assert.deepEqual([twinStatus.decisions, twinStatus.rewarded, twinStatus.valueEstimate], [2, 2, 0.5]);
    const metrics = await s.service.metrics.registry.getSingleMetricAsString("hindcast_serve_shadow_errors_total");
    assert.match(metrics, /hindcast_serve_shadow_errors_total\{deployment="default",shadow="flaky"\} 1/);
  } finally {
    await s.close();
  }
});

test("float32 noise: the log keeps the state as sent and a float32 policy's action is the decimal it stands for", async () => {
  // A continuous policy computed in float32, as ONNX runtimes do: action = x (so 0.1 comes out as fround(0.1)).
  const identity: DecisionPolicy = {
    version: "f32",
    actionSpace: { kind: "continuous", low: [-5], high: [5] },
    featureNames,
    evaluate: (obs) => ({ kind: "continuous", mean: Float32Array.of(obs[0]) }),
  };
  const s = await serve({ default: { production: { policy: "f32" }, fallback: { action: [0] }, shadows: [{ policy: "f32" }] } }, { f32: identity });
  try {
    const decision = await s.decide({ routingKey: "a", state: { x: 0.1, y: 2.3 } });
    assert.deepEqual(decision.action, [0.1]);
    const [record] = s.logged();
    assert.deepEqual(record.state, [0.1, 2.3]);
    assert.deepEqual(record.action, [0.1]);
    assert.deepEqual(record.shadows?.[0].action, [0.1]);
  } finally {
    await s.close();
  }
});

test("float32Decimal gives the shortest decimal with the same float32, and leaves other numbers alone", () => {
  assert.equal(float32Decimal(Math.fround(0.1)), 0.1);
  // float32 spacing near 1234 is 2^-13 (0.000122): -1234.568 is another float32, -1234.5677 is the same one
  assert.equal(float32Decimal(Math.fround(-1234.5678)), -1234.5677);
  assert.notEqual(Math.fround(-1234.568), Math.fround(-1234.5678));
  assert.equal(float32Decimal(1.5), 1.5);
  assert.equal(float32Decimal(Math.fround(1 / 3)), 0.33333334);
  assert.equal(float32Decimal(0.1), 0.1); // not a float32 value: unchanged
  assert.equal(float32Decimal(1e-45), 1e-45);
  assert.equal(float32Decimal(Math.fround(1e-45)), 1e-45);
  for (const value of [3.4028234663852886e38, 1.1754943508222875e-38, 16777217, 0, -0.5]) {
    const f = Math.fround(value);
    assert.equal(Math.fround(float32Decimal(f)), f);
  }
});

test("the hand-written decision serialiser gives the same text as JSON.stringify", () => {
  const cases: Decision[] = [
    { decisionId: "mwvd4tzj-4blhv4o1-1", action: 0, probability: 0.9333333333333333, policyVersion: "dqn:6b55945ef421", route: "production", safety: [] },
    {
      decisionId: "a-b-c", action: 2, probability: 1e-7, policyVersion: 'we"ird\\name\u2028', route: "fallback",
      safety: ["allowed_actions"], fallbackReason: "missing_feature:cpu \"load\"",
    },
    { decisionId: "a-b-d", action: [0.1, -2.5e-12, 3], probability: 1, logDensity: -1.2345678901234567, policyVersion: "c1", route: "canary", safety: [] },
    { decisionId: "a-b-e", action: [-0], probability: 0.5, policyVersion: "c1", route: "killed", safety: ["bounds", "rate_limit"], fallbackReason: "kill_switch" },
    // not finite: falls back to JSON.stringify's null
    { decisionId: "a-b-f", action: 1, probability: NaN, policyVersion: "v", route: "production", safety: [] },
  ];
  for (const decision of cases) {
    // the engine builds decisions in this key order; optional keys come last
    const ordered: Record<string, unknown> = {
      decisionId: decision.decisionId, action: decision.action, probability: decision.probability,
      policyVersion: decision.policyVersion, route: decision.route, safety: decision.safety,
    };
    if (decision.logDensity !== undefined) ordered.logDensity = decision.logDensity;
    if (decision.fallbackReason !== undefined) ordered.fallbackReason = decision.fallbackReason;
    assert.equal(serializeDecision(decision), JSON.stringify(ordered));
  }
});
