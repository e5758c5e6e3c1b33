/**
 * SLO burn rates over event-count series, after the Google SRE workbook ("Alerting on SLOs", multiwindow,
 * multi-burn-rate alerts): an alert fires when the error budget burns faster than `factor` times the sustainable
 * rate over both a long window (it matters) and a short window (it is still happening).
 * burn rate = (bad / total over the window) / (1 - objective).
 */
import { MonitorError } from "./errors.js";

export type Severity = "page" | "ticket";

export interface BurnWindow {
  /** Seconds. */
  long: number;
  short: number;
  factor: number;
  severity: Severity;
}

/** The workbook's table for a 30-day budget: 2% in 1 h, 5% in 6 h (page); 10% in 1 d, 10% in 3 d (ticket). */
export const SRE_BURN_WINDOWS: readonly BurnWindow[] = [
  { long: 3600, short: 300, factor: 14.4, severity: "page" },
  { long: 6 * 3600, short: 1800, factor: 6, severity: "page" },
  { long: 24 * 3600, short: 2 * 3600, factor: 3, severity: "ticket" },
  { long: 3 * 24 * 3600, short: 6 * 3600, factor: 1, severity: "ticket" },
];

/**
 * Bucketed counts: bucket i covers [start + i*step, start + (i+1)*step) seconds. `total` counts events, `bad` the
 * ones that broke the SLO.
 */
export interface SliSeries {
  start: number;
  step: number;
  total: Float64Array;
  bad: Float64Array;
}

/** Buckets events (times in seconds) into an SLI series starting at `start`. */
export function sliSeries(times: ArrayLike<number>, bad: ArrayLike<boolean | number>, start: number, end: number, step: number): SliSeries {
  if (!(step > 0) || !(end >= start)) {
    throw new MonitorError("slo_invalid_config", `need step > 0 and end >= start, got step ${step}, start ${start}, end ${end}`, {
      field: "step",
      value: step,
    });
  }
  const buckets = Math.max(1, Math.ceil((end - start) / step));
  const series: SliSeries = { start, step, total: new Float64Array(buckets), bad: new Float64Array(buckets) };
  for (let i = 0; i < times.length; i++) {
    const bucket = Math.floor((times[i]! - start) / step);
    if (bucket < 0 || bucket >= buckets) continue;
    series.total[bucket]! += 1;
    if (bad[i]) series.bad[bucket]! += 1;
  }
  return series;
}

/** Bad/total over the buckets that end in (at - window, at]; null when the window holds no events. */
export function errorRatio(series: SliSeries, at: number, window: number): number | null {
  const lastBucket = Math.floor((at - series.start) / series.step) - 1;
  const firstBucket = lastBucket - Math.round(window / series.step) + 1;
  let total = 0;
  let bad = 0;
  for (let i = Math.max(0, firstBucket); i <= Math.min(lastBucket, series.total.length - 1); i++) {
    total += series.total[i]!;
    bad += series.bad[i]!;
  }
  return total > 0 ? bad / total : null;
}

export interface BurnEvaluation {
  window: BurnWindow;
  longBurnRate: number | null;
  shortBurnRate: number | null;
  firing: boolean;
}

function checkObjective(objective: number): void {
  if (!(objective > 0 && objective < 1)) {
    throw new MonitorError("slo_invalid_config", `SLO objective must be in (0, 1), got ${objective}`, { field: "objective", value: objective });
  }
}

export function burnRate(series: SliSeries, at: number, window: number, objective: number): number | null {
  checkObjective(objective);
  const ratio = errorRatio(series, at, window);
  return ratio === null ? null : ratio / (1 - objective);
}

/** Every window pair at time `at` (seconds): fires when both burn rates exceed the pair's factor. */
export function evaluateBurnRates(
  series: SliSeries,
  at: number,
  objective: number,
  windows: readonly BurnWindow[] = SRE_BURN_WINDOWS,
): BurnEvaluation[] {
  return windows.map((window) => {
    const longBurnRate = burnRate(series, at, window.long, objective);
    const shortBurnRate = burnRate(series, at, window.short, objective);
    return {
      window,
      longBurnRate,
      shortBurnRate,
      firing: longBurnRate !== null && shortBurnRate !== null && longBurnRate > window.factor && shortBurnRate > window.factor,
    };
  });
}
