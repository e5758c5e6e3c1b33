import type { GuardConfig } from "./config.js";

/**
 * The canary guard: compares canary with control (production) on four metrics with a sequential test that may
 * be checked after every observation without inflating false alarms.
 *
 * Test: the two-sample mixture sequential probability ratio test (mSPRT; Johari, Pekelis & Walsh, "Always Valid
 * Inference", 2017, eq. 11) on the difference of means theta = mean(canary) - mean(control), with a normal
 * mixture N(0, tau^2) over theta and plug-in variance V = s_c^2/n_c + s_t^2/n_t:
 *     Lambda_n = sqrt(V / (V + tau^2)) * exp(tau^2 * thetaHat^2 / (2 V (V + tau^2)))
 * Under H0 (theta = 0) Lambda_n is a nonnegative martingale, so P(ever Lambda_n >= 1/alpha) <= alpha (Ville).
 * We only act when thetaHat points in the harmful direction, which keeps the bound. The overall alpha is split
 * equally over the enabled metrics (Bonferroni).
 *
 * Metrics, each a per-decision value averaged per arm:
 *   latency       1 if the decision's latency exceeded control's rolling p95, else 0 (harmful: canary higher)
 *   errors        1 if the policy failed or the decision went to the fallback (harmful: canary higher)
 *   interventions 1 if a safety rule replaced the action (harmful: canary higher)
 *   reward        the feedback reward (harmful: canary lower); tau scales with the pooled standard deviation
 */
export type GuardMetric = "latency" | "errors" | "interventions" | "reward";
export type Arm = "control" | "canary";

class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  add(x: number): void {
    this.n += 1;
    const delta = x - this.mean;
    this.mean += delta / this.n;
    this.m2 += delta * (x - this.mean);
  }
  variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }
}

export interface GuardBreach {
  metric: GuardMetric;
  canaryMean: number;
  controlMean: number;
  canaryCount: number;
  controlCount: number;
  /** The mixture likelihood ratio that crossed 1/alpha. */
  statistic: number;
  threshold: number;
}

export type GuardState = "collecting" | "monitoring" | "breached";

const LATENCY_WINDOW = 1024;
const LATENCY_REFRESH = 128;

export class CanaryGuard {
  readonly config: GuardConfig;
  private readonly moments: Record<GuardMetric, Record<Arm, Moments>>;
  private readonly enabled: GuardMetric[];
  private readonly threshold: number;
  private readonly controlLatencies = new Float64Array(LATENCY_WINDOW);
  private controlLatencyCount = 0;
  private latencyThreshold = Infinity;
  state: GuardState = "collecting";
  breach: GuardBreach | null = null;

  constructor(config: GuardConfig) {
    this.config = config;
    const pair = (): Record<Arm, Moments> => ({ control: new Moments(), canary: new Moments() });
    this.moments = { latency: pair(), errors: pair(), interventions: pair(), reward: pair() };
    this.enabled = (["latency", "errors", "interventions", "reward"] as const).filter((metric) => config[metric]);
    this.threshold = this.enabled.length > 0 ? this.enabled.length / config.alpha : Infinity;
  }

  /** One served decision in an arm. */
  observeDecision(arm: Arm, latencyMs: number, failed: boolean, intervened: boolean): void {
    if (arm === "control") {
      this.controlLatencies[this.controlLatencyCount % LATENCY_WINDOW] = latencyMs;
      this.controlLatencyCount += 1;
      if (this.controlLatencyCount % LATENCY_REFRESH === 0) this.refreshLatencyThreshold();
    }
    if (this.latencyThreshold !== Infinity) this.moments.latency[arm].add(latencyMs > this.latencyThreshold ? 1 : 0);
    this.moments.errors[arm].add(failed ? 1 : 0);
    this.moments.interventions[arm].add(intervened ? 1 : 0);
  }

  observeReward(arm: Arm, reward: number): void {
    this.moments.reward[arm].add(reward);
  }

  private refreshLatencyThreshold(): void {
    const count = Math.min(this.controlLatencyCount, LATENCY_WINDOW);
    const sorted = this.controlLatencies.slice(0, count).sort();
    this.latencyThreshold = sorted[Math.min(count - 1, Math.floor(0.95 * count))];
  }

  /** Runs the tests; returns the first breach (and latches it) or null. */
  check(): GuardBreach | null {
    if (this.breach) return this.breach;
    let ready = false;
    for (const metric of this.enabled) {
      const control = this.moments[metric].control;
      const canary = this.moments[metric].canary;
      if (control.n < this.config.minSamples || canary.n < this.config.minSamples) continue;
      ready = true;
      const statistic = this.statistic(metric, control, canary);
      if (statistic >= this.threshold) {
        this.breach = {
          metric,
          canaryMean: canary.mean,
          controlMean: control.mean,
          canaryCount: canary.n,
          controlCount: control.n,
          statistic,
          threshold: this.threshold,
        };
        this.state = "breached";
        return this.breach;
      }
    }
    if (ready) this.state = "monitoring";
    return null;
  }

  private statistic(metric: GuardMetric, control: Moments, canary: Moments): number {
    const difference = canary.mean - control.mean;
    const harmful = metric === "reward" ? difference < 0 : difference > 0;
    if (!harmful) return 0;
    let variance: number;
    let tau: number;
    if (metric === "reward") {
      variance = control.variance() / control.n + canary.variance() / canary.n;
      const pooledSd = Math.sqrt((control.variance() + canary.variance()) / 2);
      tau = this.config.rewardEffect * (pooledSd > 0 ? pooledSd : 1);
    } else {
      // Bernoulli variance with add-one smoothing, so an arm with no events yet still has a positive variance.
      const smoothed = (m: Moments): number => {
        const p = (m.mean * m.n + 1) / (m.n + 2);
        return (p * (1 - p)) / m.n;
      };
      variance = smoothed(control) + smoothed(canary);
      tau = this.config.rateEffect;
    }
    if (!(variance > 0)) return difference !== 0 ? Infinity : 0;
    const tau2 = tau * tau;
    const exponent = (tau2 * difference * difference) / (2 * variance * (variance + tau2));
    return Math.sqrt(variance / (variance + tau2)) * Math.exp(Math.min(exponent, 700));
  }

  /** Per-arm means and counts, for metrics and the admin view. */
  summary(): Record<GuardMetric, Record<Arm, { n: number; mean: number }>> {
    const view = (m: Moments): { n: number; mean: number } => ({ n: m.n, mean: m.mean });
    const out = {} as Record<GuardMetric, Record<Arm, { n: number; mean: number }>>;
    for (const metric of ["latency", "errors", "interventions", "reward"] as const) {
      out[metric] = { control: view(this.moments[metric].control), canary: view(this.moments[metric].canary) };
    }
    return out;
  }
}
