import { test } from "node:test";
import assert from "node:assert/strict";
import { errorRatio, evaluateBurnRates, SRE_BURN_WINDOWS, sliSeries, type SliSeries } from "./slo.js";

/** One bucket a minute for `minutes`, 100 events each, with bad(minute) of them bad. */
function synthetic(minutes: number, bad: (minute: number) => number): SliSeries {
  const series: SliSeries = { start: 0, step: 60, total: new Float64Array(minutes).fill(100), bad: new Float64Array(minutes) };
  for (let m = 0; m < minutes; m++) series.bad[m] = bad(m);
  return series;
}

function firingSeverities(series: SliSeries, at: number, objective: number): string[] {
  return evaluateBurnRates(series, at, objective)
    .filter((e) => e.firing)
    .map((e) => `${e.window.severity}:${e.window.long}`);
}

test("sliSeries buckets events and errorRatio sums the trailing window", () => {
  const series = sliSeries([0, 30, 61, 119, 120, 500], [1, 0, 0, 1, 1, 1], 0, 180, 60);
  assert.deepEqual(Array.from(series.total), [2, 2, 1]);
  assert.deepEqual(Array.from(series.bad), [1, 1, 1]);
  // at t=180 a 120 s window covers buckets 1 and 2: 2 bad of 3
  assert.equal(errorRatio(series, 180, 120), 2 / 3);
  assert.equal(errorRatio(series, 60, 60), 1 / 2);
  assert.equal(errorRatio({ ...series, total: new Float64Array(3), bad: new Float64Array(3) }, 180, 60), null);
});

test("a healthy service at the objective burns at 1x and pages nobody", () => {
  // objective 99%: exactly 1 bad in 100 everywhere -> burn rate 1 in every window (only the 3-day ticket pair at
  // factor 1 sits on the boundary and, being strict, does not fire).
  const series = synthetic(3 * 24 * 60, () => 1);
  const evaluations = evaluateBurnRates(series, 3 * 24 * 3600, 0.99);
  for (const e of evaluations) {
    assert.ok(Math.abs(e.longBurnRate! - 1) < 1e-9);
    assert.equal(e.firing, false);
  }
});

function pages(series: SliSeries, at: number, objective: number): string[] {
  return firingSeverities(series, at, objective).filter((name) => name.startsWith("page"));
}

test("a hard outage pages through the fast pair once both windows are hot", () => {
  const minutes = 8 * 60;
  const outageStart = 6 * 60;
  // 20% bad from minute 360 on: burn rate 20 against a 1% budget.
  const series = synthetic(minutes, (m) => (m >= outageStart ? 20 : 0));
  // 3 minutes in: 5-minute window burns 20 * 3/5 = 12 (< 14.4), 1 h window 1: quiet.
  assert.deepEqual(firingSeverities(series, (outageStart + 3) * 60, 0.99), []);
  // 40 minutes in: 1 h window 20 * 40/60 = 13.3: no page yet
  assert.deepEqual(pages(series, (outageStart + 40) * 60, 0.99), []);
  // 45 minutes in: 1 h window 20 * 45/60 = 15 > 14.4, 5 min window 20: page. 6 h window 20 * 45/360 = 2.5 < 6.
  assert.deepEqual(pages(series, (outageStart + 45) * 60, 0.99), ["page:3600"]);
  // 60 minutes in, the 3 d/6 h ticket pair also fires: the 3 d window holds only 420 minutes of data,
  // 60 * 20 / (420 * 100) / 0.01 = 2.86 > 1 and 6 h: 60 * 20 / (360 * 100) / 0.01 = 3.33 > 1; 1 d pair 2.86 < 3.
  assert.deepEqual(firingSeverities(series, (outageStart + 60) * 60, 0.99), ["page:3600", "ticket:259200"]);
});

test("the short windows reset the page soon after the outage ends", () => {
  const minutes = 4 * 60;
  const series = synthetic(minutes, (m) => (m >= 60 && m < 180 ? 30 : 0));
  assert.deepEqual(pages(series, 180 * 60, 0.99), ["page:3600", "page:21600"]);
  // 10 minutes after recovery: 1 h window still burns 25 but its 5 min window is clean; the 6 h pair's 30 min
  // window (minutes 160-189) still burns 30 * 20/30 / 0.01 = 20 > 6.
  assert.deepEqual(pages(series, 190 * 60, 0.99), ["page:21600"]);
  // 35 minutes after recovery both short windows are clean.
  assert.deepEqual(pages(series, 215 * 60, 0.99), []);
});

test("a slow leak opens a ticket, not a page", () => {
  // 4% bad for 3 days: burn rate 4 everywhere: above 3 (1 d / 2 h) and 1 (3 d / 6 h), below 6 and 14.4.
  const series = synthetic(3 * 24 * 60, () => 4);
  assert.deepEqual(firingSeverities(series, 3 * 24 * 3600, 0.99), ["ticket:86400", "ticket:259200"]);
  assert.equal(SRE_BURN_WINDOWS.filter((w) => w.severity === "page").length, 2);
});
