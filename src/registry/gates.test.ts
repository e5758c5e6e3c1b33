import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegistryError } from "./errors.js";
import { checkGates, defaultGateConfig, loadGateConfig, parseGateConfig, type GateFacts } from "./gates.js";

const facts = (over: Partial<GateFacts> = {}): GateFacts => ({
  now: new Date("2026-01-01T01:00:00Z"),
  evaluation: null,
  baseline: null,
  shadow: { decisions: 0, safetyViolations: 0 },
  canary: { since: null, decisions: 0, safetyViolations: 0, guardFailures: 0 },
  ...over,
});

test("defaults fill every gate; unknown keys and bad values are refused with their path", () => {
  assert.equal(defaultGateConfig.shadow.opeLowerBound?.split, "heldout");
  assert.equal(defaultGateConfig.canary.minShadowDecisions, 1000);
  assert.equal(defaultGateConfig.production.canaryWindowSeconds, 3600);
  const partial = parseGateConfig({ canary: { minShadowDecisions: 5 } });
  assert.equal(partial.canary.minShadowDecisions, 5);
  assert.equal(partial.canary.maxShadowSafetyViolations, 0);
  assert.equal(parseGateConfig({ shadow: { opeLowerBound: null } }).shadow.opeLowerBound, null);
  assert.throws(
    () => parseGateConfig({ canary: { minShadowDecisions: -1 } }),
    (e: unknown) => e instanceof RegistryError && e.code === "invalid_gate_config" && /canary\.minShadowDecisions/.test(e.message),
  );
  assert.throws(() => parseGateConfig({ canary: { minShadowDecision: 5 } }), /invalid_gate_config|Unrecognized|unrecognized/);
});

test("gate files load from YAML and JSON", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-gates-"));
  try {
    writeFileSync(join(dir, "gates.yaml"), "shadow:\n  opeLowerBound:\n    split: test\n    margin: 0.1\nproduction:\n  canaryWindowSeconds: 60\n");
    const yaml = loadGateConfig(join(dir, "gates.yaml"));
    assert.equal(yaml.shadow.opeLowerBound?.split, "test");
    assert.equal(yaml.shadow.opeLowerBound?.margin, 0.1);
    assert.equal(yaml.production.canaryWindowSeconds, 60);
    writeFileSync(join(dir, "gates.json"), JSON.stringify({ canary: { maxFraction: 0.25 } }));
    assert.equal(loadGateConfig(join(dir, "gates.json")).canary.maxFraction, 0.25);
    writeFileSync(join(dir, "bad.json"), "{");
    assert.throws(() => loadGateConfig(join(dir, "bad.json")), (e: unknown) => (e as RegistryError).code === "invalid_gate_config");
    assert.throws(() => loadGateConfig(join(dir, "missing.yaml")), (e: unknown) => (e as RegistryError).code === "invalid_gate_config");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("shadow gate compares the lower bound with baseline + margin", () => {
  const config = parseGateConfig({ shadow: { opeLowerBound: { margin: 0.05 } } });
  const evaluation = { estimator: "dr", lower: 0.5, dataset: "d@1" };
  // Required 0.4 + 0.05 = 0.45 <= 0.5: passes.
  assert.deepEqual(checkGates("shadow", config, facts({ evaluation, baseline: { estimator: "on_policy", value: 0.4 } })), []);
  // Required 0.5 + 0.05 = 0.55 > 0.5: short by 0.05.
  const [failure] = checkGates("shadow", config, facts({ evaluation, baseline: { estimator: "on_policy", value: 0.5 } }));
  assert.equal(failure?.gate, "shadow.opeLowerBound");
  assert.ok(Math.abs(failure!.shortfall! - 0.05) < 1e-12);
  assert.equal(checkGates("shadow", config, facts())[0]?.shortfall, null);
  assert.match(checkGates("shadow", config, facts({ evaluation }))[0]!.message, /no baseline/);
  assert.deepEqual(checkGates("shadow", parseGateConfig({ shadow: { opeLowerBound: null } }), facts()), []);
  assert.equal(checkGates("shadow", config, facts({ evaluation: { ...evaluation, lower: Number.NaN }, baseline: { estimator: "x", value: 0 } })).length, 1);
});

test("canary and production gates report each shortfall", () => {
  const config = parseGateConfig({
    canary: { minShadowDecisions: 10, maxShadowSafetyViolations: 0 },
    production: { canaryWindowSeconds: 3600, minCanaryDecisions: 10, maxCanaryGuardFailures: 0, maxCanarySafetyViolations: 1 },
  });
  assert.deepEqual(
    checkGates("canary", config, facts({ shadow: { decisions: 4, safetyViolations: 3 } })).map((f) => [f.gate, f.shortfall]),
    [
      ["canary.minShadowDecisions", 6],
      ["canary.maxShadowSafetyViolations", 3],
    ],
  );
  assert.deepEqual(checkGates("canary", config, facts({ shadow: { decisions: 10, safetyViolations: 0 } })), []);
  // Canary began 00:30, now is 01:00: 1800 s of 3600.
  const canary = { since: "2026-01-01T00:30:00Z", decisions: 12, safetyViolations: 2, guardFailures: 1 };
  assert.deepEqual(
    checkGates("production", config, facts({ canary })).map((f) => [f.gate, f.shortfall]),
    [
      ["production.canaryWindowSeconds", 1800],
      ["production.maxCanaryGuardFailures", 1],
      ["production.maxCanarySafetyViolations", 1],
    ],
  );
  const passing = { since: "2026-01-01T00:00:00Z", decisions: 10, safetyViolations: 1, guardFailures: 0 };
  assert.deepEqual(checkGates("production", config, facts({ canary: passing })), []);
});
