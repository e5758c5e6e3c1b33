import { test } from "node:test";
import assert from "node:assert/strict";
import { banditDM, banditDR, ips, snips, sndr, switchDR, type BanditInput } from "./bandit.js";
import { importanceRatios } from "./weights.js";

/*
 * Three one-row episodes: rewards 1, 0, 2; behaviour 0.5, 0.25, 0.5; target 0.5, 0.5, 1 -> w = 1, 2, 2.
 * Q-hat(x, a_logged) = 0.5, 0.5, 1; V-hat(x) = 0.8, 0.4, 1.5.
 *   IPS   = (1 + 0 + 4) / 3 = 5/3            SNIPS = 5 / 5 = 1
 *   DM    = 2.7 / 3 = 0.9
 *   DR    = [0.8 + 0.5] + [0.4 - 1] + [1.5 + 2] = 4.2 -> 1.4
 *   SNDR  = 0.9 + (0.5 - 1 + 2) / 5 = 1.2
 *   Switch-DR (threshold 1.5): row 0 keeps its correction, rows 1 and 2 use V-hat: (1.3 + 0.4 + 1.5) / 3 = 3.2 / 3
 */
function tiny(): BanditInput {
  return {
    rewards: new Float32Array([1, 0, 2]),
    episodeStarts: new Int32Array([0, 1, 2, 3]),
    ratios: importanceRatios(new Float64Array([0.5, 0.25, 0.5]), new Float64Array([0.5, 0.5, 1])),
    qHat: new Float64Array([0.5, 0.5, 1]),
    vHat: new Float64Array([0.8, 0.4, 1.5]),
  };
}
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} != ${expected}`);

test("bandit estimators match hand-worked values", () => {
  close(ips(tiny()).value, 5 / 3);
  close(snips(tiny()).value, 1);
  close(banditDM(tiny()).value, 0.9);
  close(banditDR(tiny()).value, 1.4);
  close(sndr(tiny()).value, 1.2);
  const switched = switchDR(tiny(), { switchThreshold: 1.5 });
  close(switched.value, 3.2 / 3);
  assert.ok(switched.warnings.some((w) => w.startsWith("2 of 3 rows")));
});

test("rows of one episode are averaged per row but resampled together", () => {
  // Same rows grouped into one episode of 2 and one of 1: per-row means are unchanged.
  const input = { ...tiny(), episodeStarts: new Int32Array([0, 2, 3]) };
  close(ips(input).value, 5 / 3);
  close(banditDR(input).value, 1.4);
  assert.equal(ips(input).episodes, 2);
  const pseudo = snips(input).pseudoValues();
  close((pseudo[0] + pseudo[1]) / 2, 1);
});

test("clipping in IPS: weights above 1.5 become 1.5", () => {
  // (1*1 + 1.5*0 + 1.5*2) / 3 = 4/3
  const estimate = ips(tiny(), { clip: 1.5 });
  close(estimate.value, 4 / 3);
  close(estimate.clippedFraction ?? -1, 2 / 3);
});
