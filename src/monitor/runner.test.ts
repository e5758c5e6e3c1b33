import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { ServeMetrics } from "../serve/metrics.js";
import { DecisionLogTail } from "./decision-log.js";
import { demoDecisionLogText } from "./demo.js";
import { MonitorError } from "./errors.js";
import { MONITOR_METRICS } from "./metric-names.js";
import { parseMonitorRules, type AlertEvent } from "./rules.js";
import { Monitor, MonitorMetrics, auditSink, streamSink, webhookSink } from "./runner.js";
import { openRegistry } from "../registry/index.js";
import { parsePrometheusText } from "./scrape.js";

const T0 = Date.UTC(2026, 0, 1);

test("prometheus text parser reads labels, escapes and special values", () => {
  const samples = parsePrometheusText(
    '# HELP x y\n# TYPE x counter\nx_total{a="1",b="q\\"uote"} 3\nh_bucket{le="+Inf"} 7 1700000000\nplain NaN\ninf +Inf\n',
  );
  assert.deepEqual(samples[0], { name: "x_total", labels: { a: "1", b: 'q"uote' }, value: 3 });
  assert.deepEqual(samples[1], { name: "h_bucket", labels: { le: "+Inf" }, value: 7 });
  assert.ok(Number.isNaN(samples[2]!.value));
  assert.equal(samples[3]!.value, Infinity);
  assert.throws(() => parsePrometheusText("not a sample line at all"), (error: unknown) => error instanceof MonitorError && error.code === "metrics_parse_failed");
});

test("monitor against the service's metrics: a latency spike pages, recovery resolves", async () => {
  const metrics = new ServeMetrics();
  let now = T0;
  const events: AlertEvent[] = [];
  const monitor = new Monitor({
    rules: parseMonitorRules({ coolDownSeconds: 0 }),
    serviceUrl: "http://127.0.0.1:1",
    sinks: [{ name: "memory", send: async (e) => void events.push(e) }],
    now: () => now,
    fetchImpl: (async () => new Response(await metrics.registry.metrics())) as unknown as typeof fetch,
  });
  // 100 decisions a minute: an hour at 2 ms, then 20 minutes with half of them at 200 ms, then healthy again.
  for (let minute = 0; minute < 120; minute++) {
    const slowShare = minute >= 60 && minute < 80 ? 0.5 : 0;
    for (let i = 0; i < 100; i++) {
      metrics.observeDecision("autoscaler", "cql@1", "production", 1, i < 100 * slowShare ? 0.2 : 0.002, undefined, []);
    }
    now = T0 + (minute + 1) * 60_000;
    await monitor.tick();
  }
  const latency = events.filter((e) => e.rule === "DecisionLatencyBudgetBurn" && e.severity === "page");
  assert.deepEqual(latency.map((e) => e.state), ["firing", "resolved"]);
  assert.equal(latency[0]!.deployment, "autoscaler");
  assert.equal(latency[0]!.policy, "cql@1");
  // fires during the spike, resolves within 30 minutes (the 6 h pair's short window) after it
  const fired = Date.parse(latency[0]!.at);
  const resolved = Date.parse(latency[1]!.at);
  assert.ok(fired > T0 + 60 * 60_000 && fired <= T0 + 80 * 60_000, latency[0]!.at);
  assert.ok(resolved > T0 + 80 * 60_000 && resolved <= T0 + 111 * 60_000, latency[1]!.at);
  assert.equal(events.filter((e) => e.rule === "SafetyBudgetBurn").length, 0);
});

test("monitor following a growing log sends events to stdout JSON and a webhook; gauges use the exported names", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-monitor-"));
  const received: AlertEvent[] = [];
  const hook = Fastify();
  hook.post("/hook", async (request) => {
    received.push(request.body as AlertEvent);
    return { ok: true };
  });
  const hookUrl = await hook.listen({ host: "127.0.0.1", port: 0 });
  try {
    const hour = 3_600_000;
    const text = demoDecisionLogText({
      start: T0,
      ratePerMinute: 20,
      minutes: 120,
      seed: 8,
      incidents: [{ kind: "safety", from: T0 + hour, to: T0 + 2 * hour, size: 0.3 }],
    });
    const lines = text.trimEnd().split("\n");
    const file = join(dir, "decisions-0001.jsonl");
    writeFileSync(file, "");
    let now = T0;
    const printed: string[] = [];
    const metrics = new MonitorMetrics();
    const registry = await openRegistry(`sqlite:${join(dir, "registry.db")}`);
    const monitor = new Monitor({
      rules: parseMonitorRules({}),
      logPath: dir,
      sinks: [streamSink((line) => printed.push(line)), webhookSink(`${hookUrl}/hook`), auditSink(registry)],
      metrics,
      now: () => now,
      context: { offlineEstimates: { "cql-autoscaler@1": 1.1 } },
    });
    // Append the log ten minutes at a time, ticking after each append.
    let written = 0;
    for (let minute = 10; minute <= 120; minute += 10) {
      const upTo = lines.findIndex((l) => (JSON.parse(l) as { ts: number }).ts >= T0 + minute * 60_000);
      const end = upTo < 0 ? lines.length : upTo;
      appendFileSync(file, lines.slice(written, end).join("\n") + "\n");
      written = end;
      now = T0 + minute * 60_000;
      await monitor.tick();
    }
    const firing = printed.map((l) => JSON.parse(l) as AlertEvent).filter((e) => e.state === "firing");
    assert.ok(firing.some((e) => e.rule === "SafetyBudgetBurn" && e.severity === "page"), printed.join(""));
    assert.deepEqual(received.map((e) => e.key), printed.map((l) => (JSON.parse(l) as AlertEvent).key));
    const audited = await registry.audit({ action: "alert.fired" });
    assert.deepEqual(audited.map((e) => e.details["key"]), firing.map((e) => e.key), "every firing event is in the audit log");
    await registry.close();
    const exposition = await metrics.registry.metrics();
    const names = new Set(parsePrometheusText(exposition).map((s) => s.name));
    for (const name of names) assert.ok((Object.values(MONITOR_METRICS) as string[]).includes(name), `${name} is not in MONITOR_METRICS`);
    assert.ok(names.has(MONITOR_METRICS.safetyViolations) && names.has(MONITOR_METRICS.rewardProxyGap) && names.has(MONITOR_METRICS.alertsFiring));
  } finally {
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the log tail reads only appended bytes and completes a torn line on the next poll", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-tail-"));
  try {
    const record = (id: string, ts: number) => JSON.stringify({ kind: "decision", id, ts, deployment: "d", route: "production", policyVersion: "p", state: [1], action: 0, probability: 1, latencyUs: 10, safety: [] });
    const file = join(dir, "decisions-1.jsonl");
    const second = record("b", 2);
    writeFileSync(file, record("a", 1) + "\n" + second.slice(0, 10));
    const tail = new DecisionLogTail(dir);
    tail.poll();
    assert.deepEqual(tail.accumulator.window().decisions.map((d) => d.id), ["a"]);
    appendFileSync(file, second.slice(10) + "\n");
    writeFileSync(join(dir, "decisions-2.jsonl"), record("c", 3) + "\n");
    assert.ok(tail.poll() > 0);
    assert.deepEqual(tail.accumulator.window().decisions.map((d) => d.id), ["a", "b", "c"]);
    assert.equal(tail.poll(), 0);
    assert.equal(tail.accumulator.skippedLines, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a monitor without a source is a coded error", () => {
  assert.throws(() => new Monitor({ rules: parseMonitorRules({}), sinks: [] }), (error: unknown) => error instanceof MonitorError && error.code === "monitor_invalid_config");
});

test("run() ticks on its interval until aborted; a failing webhook is reported and does not stop it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-monitor-run-"));
  try {
    writeFileSync(
      join(dir, "decisions-1.jsonl"),
      demoDecisionLogText({ start: T0, ratePerMinute: 60, minutes: 30, seed: 3, incidents: [{ kind: "safety", from: T0, to: T0 + 30 * 60_000, size: 0.5 }] }),
    );
    const errors: unknown[] = [];
    let ticks = 0;
    const controller = new AbortController();
    const monitor = new Monitor({
      rules: parseMonitorRules({}),
      logPath: dir,
      everySeconds: 0.01,
      now: () => T0 + 30 * 60_000,
      sinks: [webhookSink("http://127.0.0.1:9/unreachable")],
      refreshContext: async () => {
        if (++ticks === 3) controller.abort();
        return {};
      },
      onError: (error) => errors.push(error),
    });
    await monitor.run(controller.signal);
    assert.equal(ticks, 3);
    // The safety page fires on the first tick only (deduplicated afterwards): one failed delivery per event.
    assert.ok(errors.length >= 1 && errors.every((e) => e instanceof MonitorError && e.code === "webhook_failed"), String(errors));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
