import { test } from "node:test";
import assert from "node:assert/strict";
import { Histogram, Registry } from "prom-client";
import { BucketHistogram, ServeMetrics } from "./metrics.js";

test("BucketHistogram renders exactly what prom-client's Histogram renders for the same observations", async () => {
  const buckets = [0.00001, 0.000025, 0.0001, 0.001, 0.1];
  const config = { name: "t_latency_seconds", help: 'latency "help" \\ text', labelNames: ["deployment", "route"] as const, buckets };
  const reference = new Registry();
  const fast = new Registry();
  const promHistogram = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [reference] });
  const ours = new BucketHistogram({ ...config, registers: [fast] });
  // values below, on and between bounds, above the last bound; label values that need escaping; two children
  const values = [0, 0.000001, 0.00001, 0.000011, 0.000025, 0.00005, 0.0001, 0.00099, 0.001, 0.05, 0.1, 0.2, 3];
  const children: Array<[string, string]> = [["default", "production"], ['we"ird\\name', "canary"]];
  for (let round = 0; round < 3; round++) {
    for (const [i, value] of values.entries()) {
      const [deployment, route] = children[(i + round) % 2];
      promHistogram.labels(deployment, route).observe(value * (round + 1));
      ours.labels(deployment, route).observe(value * (round + 1));
    }
  }
  assert.equal(await fast.metrics(), await reference.metrics());
  assert.deepEqual(await fast.getMetricsAsJSON(), await reference.getMetricsAsJSON());
  assert.throws(() => ours.labels("default", "production").observe(NaN), TypeError);
});

test("fallbacks and safety interventions are counted per deployment and label, and shown at every scrape", async () => {
  const metrics = new ServeMetrics();
  const decide = (deployment: string, reason: string | undefined, safety: string[]) =>
    metrics.observeDecision(deployment, "p@1", "fallback", 0, 0.00002, reason, safety);
  decide("a", "ood:range:cpu", []);
  decide("a", "ood:range:memory", []);
  decide("a", "missing_feature:cpu", []);
  decide("b", "safety", ["allowed_actions"]);
  decide("b", undefined, []);
  const first = await metrics.registry.metrics();
  assert.match(first, /^hindcast_serve_fallbacks_total\{deployment="a",reason="ood:range"\} 2$/m);
  assert.match(first, /^hindcast_serve_fallbacks_total\{deployment="a",reason="missing_feature"\} 1$/m);
  assert.match(first, /^hindcast_serve_fallbacks_total\{deployment="b",reason="safety"\} 1$/m);
  assert.match(first, /^hindcast_serve_safety_interventions_total\{deployment="b",rule="allowed_actions"\} 1$/m);
  decide("b", "safety", ["allowed_actions", "rate_limit"]);
  const second = await metrics.registry.metrics();
  assert.match(second, /^hindcast_serve_fallbacks_total\{deployment="b",reason="safety"\} 2$/m);
  assert.match(second, /^hindcast_serve_safety_interventions_total\{deployment="b",rule="allowed_actions"\} 2$/m);
  assert.match(second, /^hindcast_serve_safety_interventions_total\{deployment="b",rule="rate_limit"\} 1$/m);
  assert.match(second, /^hindcast_serve_fallbacks_total\{deployment="a",reason="ood:range"\} 2$/m);
  assert.match(second, /^hindcast_serve_decision_latency_seconds_count\{deployment="b",policy="p@1",route="fallback"\} 3$/m);
});
