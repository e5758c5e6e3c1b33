import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { demoDecisionLogText } from "../../monitor/demo.js";

function hindcast(...args: string[]) {
  const result = spawnSync(process.execPath, ["bin/hindcast.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, HINDCAST_FROM_SOURCE: "1", HINDCAST_REGISTRY: "" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("hindcast monitor export writes rules and dashboards; --replay and --once emit alert events as JSON lines", () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-monitor-cli-"));
  try {
    const exported = hindcast("monitor", "export", "--out", join(dir, "ops"));
    assert.equal(exported.status, 0, exported.stderr);
    const rules = parse(readFileSync(join(dir, "ops", "prometheus-rules.yaml"), "utf8")) as { groups: unknown[] };
    assert.equal(rules.groups.length, 2);
    for (const name of ["executive", "oncall", "debug"]) assert.ok(existsSync(join(dir, "ops", "grafana", `${name}.json`)));

    const log = join(dir, "log");
    mkdirSync(log);
    const start = Date.UTC(2026, 0, 1);
    writeFileSync(
      join(log, "decisions-0001.jsonl"),
      demoDecisionLogText({ start, ratePerMinute: 20, minutes: 150, seed: 2, incidents: [{ kind: "safety", from: start + 3_600_000, to: start + 5_400_000, size: 0.3 }] }),
    );
    const replay = hindcast("monitor", "--replay", "--log", log);
    assert.equal(replay.status, 0, replay.stderr);
    const events = replay.stdout.trim().split("\n").map((line) => JSON.parse(line) as { rule: string; state: string; severity: string });
    assert.ok(events.some((e) => e.rule === "SafetyBudgetBurn" && e.state === "firing" && e.severity === "page"), replay.stdout);
    assert.match(replay.stderr, /replayed \d+ evaluations/);

    // --once evaluates at the current time: this log is long over, so nothing fires.
    const once = hindcast("monitor", "--once", "--log", log);
    assert.equal(once.status, 0, once.stderr);
    assert.equal(once.stdout, "");

    const missing = hindcast("monitor", "--once", "--log", join(dir, "nope"));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /decision_log_unreadable/);
    const badRules = join(dir, "rules.yaml");
    writeFileSync(badRules, "latency:\n  objective: 3\n");
    const refused = hindcast("monitor", "export", "--out", join(dir, "x"), "--rules", badRules);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /monitor_invalid_config: .*latency\.objective/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
