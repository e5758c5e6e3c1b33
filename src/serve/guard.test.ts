import { test } from "node:test";
import assert from "node:assert/strict";
import { guardSchema } from "./config.js";
import { CanaryGuard } from "./guard.js";
import { Rng } from "../random/index.js";

const config = guardSchema.parse({ alpha: 0.05, minSamples: 100 });

/** Feeds both arms draw by draw, checking after every pair (continuous monitoring); returns the breach or null. */
function run(
  seed: number,
  steps: number,
  draw: (random: Rng, arm: "control" | "canary") => { latency: number; failed: boolean; intervened: boolean; reward: number },
) {
  const random = new Rng(seed);
  const guard = new CanaryGuard(config);
  for (let i = 0; i < steps; i++) {
    for (const arm of ["control", "canary"] as const) {
      const obs = draw(random, arm);
      guard.observeDecision(arm, obs.latency, obs.failed, obs.intervened);
      guard.observeReward(arm, obs.reward);
    }
    const breach = guard.check();
    if (breach) return { breach, step: i };
  }
  return null;
}

const healthy = (random: Rng) => ({
  latency: 0.2 + 0.1 * random.uniform() + (random.uniform() < 0.03 ? 2 : 0),
  failed: random.uniform() < 0.02,
  intervened: random.uniform() < 0.05,
  reward: random.normal(),
});

test("equal arms rarely raise a false alarm under continuous monitoring", () => {
  const runs = 200;
  let alarms = 0;
  for (let seed = 1; seed <= runs; seed++) if (run(seed, 1500, healthy)) alarms += 1;
  // alpha = 0.05 bounds the false-alarm rate over the whole run; allow binomial slack (mean 10, sd ~3.1).
  assert.ok(alarms <= 18, `false alarms: ${alarms} of ${runs}`);
});

test("a slow canary is caught on latency", () => {
  const result = run(5, 3000, (random, arm) => ({ ...healthy(random), latency: arm === "canary" ? 1 + random.uniform() : healthy(random).latency }));
  assert.ok(result);
  assert.equal(result.breach.metric, "latency");
  assert.ok(result.breach.canaryMean > result.breach.controlMean);
});

test("a failing canary is caught on errors, a low-reward canary on reward", () => {
  const failing = run(6, 3000, (random, arm) => ({ ...healthy(random), failed: random.uniform() < (arm === "canary" ? 0.3 : 0.02) }));
  assert.equal(failing?.breach.metric, "errors");
  const poor = run(7, 3000, (random, arm) => ({ ...healthy(random), reward: random.normal() - (arm === "canary" ? 0.5 : 0) }));
  assert.equal(poor?.breach.metric, "reward");
  const unsafe = run(8, 3000, (random, arm) => ({ ...healthy(random), intervened: random.uniform() < (arm === "canary" ? 0.3 : 0.05) }));
  assert.equal(unsafe?.breach.metric, "interventions");
});

test("a better canary never trips the one-sided test", () => {
  const better = run(9, 3000, (random, arm) => ({ ...healthy(random), reward: random.normal() + (arm === "canary" ? 1 : 0), failed: arm === "control" && random.uniform() < 0.2 }));
  assert.equal(better, null);
});

test("nothing fires before the minimum sample size", () => {
  const guard = new CanaryGuard(config);
  for (let i = 0; i < 99; i++) {
    guard.observeDecision("control", 1, false, false);
    guard.observeDecision("canary", 1, true, true);
  }
  assert.equal(guard.check(), null);
  guard.observeDecision("control", 1, false, false);
  guard.observeDecision("canary", 1, true, true);
  assert.ok(guard.check());
  assert.equal(guard.state, "breached");
});

/**
 * Equal arms, but decisions under one routing key share a per-key reward offset and a per-key failure rate (a busy
 * day is costly and error-prone under any policy). Keys are sticky to an arm (as the canary split routes them) and
 * four keys are in flight at once, their decisions interleaved. Returns the number of runs that raised an alarm.
 */
function correlatedAlarms(runs: number, passKeys: boolean): number {
  const keys = 60;
  const perKey = 40;
  const active = 4;
  let alarms = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const random = new Rng(1000 + seed);
    const guard = new CanaryGuard(config);
    const arms = Array.from({ length: keys }, () => (random.uniform() < 0.5 ? "canary" : "control") as "canary" | "control");
    const offsets = Array.from({ length: keys }, () => 2 * random.normal());
    const failRates = Array.from({ length: keys }, () => (random.uniform() < 0.15 ? 0.3 : 0.01));
    const remaining = new Array<number>(keys).fill(perKey);
    let next = active;
    const inFlight = Array.from({ length: active }, (_, k) => k);
    let alarm = false;
    while (inFlight.length > 0 && !alarm) {
      const slot = Math.floor(random.uniform() * inFlight.length);
      const k = inFlight[slot]!;
      const key = passKeys ? `day-${k}` : undefined;
      guard.observeDecision(arms[k]!, 0.3, random.uniform() < failRates[k]!, false, key);
      guard.observeReward(arms[k]!, offsets[k]! + random.normal(), key);
      remaining[k] -= 1;
      if (remaining[k] === 0) {
        if (next < keys) inFlight[slot] = next++;
        else inFlight.splice(slot, 1);
      }
      if (guard.check()) alarm = true;
    }
    if (alarm) alarms += 1;
  }
  return alarms;
}

test("decisions correlated within a routing key: clustering by key keeps false alarms at alpha", () => {
  const runs = 100;
  // Treating the decisions as independent (what the guard does without keys when keys interleave) alarms often.
  const naive = correlatedAlarms(runs, false);
  assert.ok(naive >= 30, `without keys: ${naive} of ${runs} runs alarmed (the data must be hard for an independence test)`);
  const clustered = correlatedAlarms(runs, true);
  // alpha = 0.05 over the whole run; binomial slack as above (mean 5, sd ~2.2).
  assert.ok(clustered <= 10, `with keys: ${clustered} of ${runs} runs alarmed`);
});

test("clustering by key still catches a failing and a low-reward canary quickly", () => {
  for (const kind of ["failing", "poor"] as const) {
    const random = new Rng(kind === "failing" ? 11 : 12);
    const guard = new CanaryGuard(config);
    let caught: number | null = null;
    for (let i = 0; i < 4000 && caught === null; i++) {
      const key = `day-${Math.floor(i / 40)}`;
      for (const arm of ["control", "canary"] as const) {
        const bad = arm === "canary";
        guard.observeDecision(arm, 0.3, random.uniform() < (bad && kind === "failing" ? 0.3 : 0.02), false, `${arm}/${key}`);
        guard.observeReward(arm, random.normal() - (bad && kind === "poor" ? 1 : 0), `${arm}/${key}`);
      }
      if (guard.check()) caught = i;
    }
    assert.ok(caught !== null, kind);
    assert.equal(guard.breach?.metric, kind === "failing" ? "errors" : "reward");
  }
});
