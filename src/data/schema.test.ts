import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSchema, loadSchema, featureNamesOf } from "./schema.js";

const base = {
  episode: "episode_id",
  step: "step",
  observations: ["f1", "f2"],
  action: { column: "action", kind: "discrete", n: 3 },
  reward: { column: "reward", min: -10, max: 0 },
};

test("a minimal schema parses and defaults episodeEnd to terminal", () => {
  const s = parseSchema(base);
  assert.equal(s.episodeEnd, "terminal");
  assert.deepEqual(featureNamesOf(s.observations), ["f1", "f2"]);
});

test("the list-column observation form names its features", () => {
  assert.deepEqual(featureNamesOf(parseSchema({ ...base, observations: { column: "obs", size: 2 } }).observations), ["obs_0", "obs_1"]);
  assert.deepEqual(featureNamesOf(parseSchema({ ...base, observations: { column: "obs", size: 2, names: ["a", "b"] } }).observations), ["a", "b"]);
});

test("bad schemas fail with invalid_schema naming the path", () => {
  assert.throws(() => parseSchema({ ...base, reward: { column: "r", min: 1, max: 0 } }), { code: "invalid_schema", message: /reward/ });
  assert.throws(() => parseSchema({ ...base, action: { columns: ["a"], kind: "continuous", low: [-1], high: [1, 2] } }), { code: "invalid_schema", message: /action/ });
  assert.throws(() => parseSchema({ ...base, nextObservations: ["n1"] }), { code: "invalid_schema", message: /nextObservations/ });
  assert.throws(() => parseSchema({ ...base, unknownField: 1 }), { code: "invalid_schema" });
  assert.throws(() => parseSchema({ ...base, features: { f3: { sensitive: true } } }), { code: "invalid_schema", message: /features\.f3/ });
  assert.equal(parseSchema({ ...base, features: { f2: { sensitive: true } } }).features?.f2?.sensitive, true);
  assert.throws(() => parseSchema({ ...base, behaviorProb: { column: "p", kind: "log_density" } }), { code: "invalid_schema", message: /behaviorProb/ });
});

test("loadSchema reads JSON and YAML and reports syntax errors with the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-schema-"));
  try {
    writeFileSync(join(dir, "s.json"), JSON.stringify(base));
    writeFileSync(join(dir, "s.yaml"), "episode: episode_id\nstep: step\nobservations: [f1, f2]\naction: {column: action, kind: discrete, n: 3}\nreward: {column: reward, min: -10, max: 0}\n");
    writeFileSync(join(dir, "bad.json"), "{ nope");
    assert.deepEqual(loadSchema(join(dir, "s.json")), loadSchema(join(dir, "s.yaml")));
    assert.throws(() => loadSchema(join(dir, "bad.json")), { code: "invalid_schema", message: /bad\.json/ });
    assert.throws(() => loadSchema(join(dir, "missing.json")), { code: "schema_unreadable" });
    // the YAML parser's message carries a code excerpt over several lines; the error stays on one line with the position
    writeFileSync(join(dir, "bad.yaml"), "episode: e\nstep: [\n");
    assert.throws(() => loadSchema(join(dir, "bad.yaml")), (e: Error & { code?: string }) => e.code === "invalid_schema" && /bad\.yaml: not valid YAML: .*line \d+/.test(e.message) && !e.message.includes("\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
