import assert from "node:assert/strict";
import { test } from "node:test";
import type { CandidateSummary, DemoResult, EstimateFlags } from "../../pipeline/demo.js";
import { formatSummary } from "./demo.js";

const clean: EstimateFlags = { offSupport: false, lowSupportMass: 0, modelClippedTargetFraction: 0, warnings: [] };
const clipped: EstimateFlags = {
  offSupport: true,
  lowSupportMass: 0.02,
  modelClippedTargetFraction: 0.058,
  warnings: ["5.8% of FQE's bootstrapped targets hit the value bound (the target policy leaves the data's support)"],
};

function candidate(policy: string, role: CandidateSummary["role"], wdrFlags: EstimateFlags, fqeFlags: EstimateFlags): CandidateSummary {
  return {
    name: policy.split("@")[0]!,
    policy,
    algorithm: "discrete_bc",
    role,
    wdr: { value: -15, lower: -17, upper: -14, lowerBound: -16.5, flags: wdrFlags },
    fqe: { value: -8, lower: -8.1, upper: -7.9, flags: fqeFlags },
    beatsBaseline: role === "candidate",
    trueValue: -20,
    trueInterval: [-22, -18],
    costPerDay: 58,
    sloBreachRate: 0.04,
  };
}

// Only the fields formatSummary reads.
const result = {
  dir: "/tmp/demo",
  seconds: 55,
  datasets: { logs: "l@1", train: "t@1", test: "h@1", decisionLog: "d@1", retrain: "r@1" },
  ingest: { read: 10, accepted: 9, quarantined: 1, reconciled: true, issueCounts: {}, quarantineFile: "q" },
  baseline: { offline: -19, lower: -20, upper: -18, trueValue: -21, costPerDay: 61, sloBreachRate: 0.044 },
  candidates: [candidate("good@1", "candidate", clean, clean), candidate("bad@1", "bad", clipped, clipped)],
  winner: "good@1",
  promoted: "good@1",
  refusals: [],
  canaryRolledBack: null,
  live: {},
  drift: { drifted: false, maxPsi: 0.05, topFeature: "x", mmdPValue: 0.3 },
  latency: { clientMs: { p50: 1, p95: 2, p99: 3 }, serverMs: { p50: 0.1, p95: 0.2, p99: 0.3 }, decisions: 10 },
  commands: [],
} as unknown as DemoResult;

test("the summary marks off-support estimates and explains the mark once, in words", () => {
  const text = formatSummary(result);
  const rows = text.split("\n");
  const good = rows.find((line) => line.trimStart().startsWith("good@1"))!;
  const bad = rows.find((line) => line.trimStart().startsWith("bad@1"))!;
  assert.doesNotMatch(good, /!\d/);
  // Both of the bad policy's estimates carry the same diagnostics, so one footnote serves both marks.
  assert.equal(bad.match(/ !1/g)?.length, 2);
  const footnotes = rows.filter((line) => /^\s*!\d/.test(line));
  assert.equal(footnotes.length, 1);
  assert.match(footnotes[0]!, /^\s*!1 not to be trusted/);
  assert.match(footnotes[0]!, /5\.8% of the model's targets hit the value bound/);
  assert.match(footnotes[0]!, /2% of the policy's mass/);
});
