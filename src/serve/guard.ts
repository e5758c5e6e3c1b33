import type { GuardConfig } from "./config.js";

/**
 * The canary guard: compares canary with control (production) on four metrics with a sequential test that may
 * be checked after every observation without inflating false alarms.
 *
 * Test: the two-sample mixture sequential probability ratio test (mSPRT; Johari, Pekelis & Walsh, "Always Valid
 * Inference", 2017, eq. 11) on the difference of means theta = mean(canary) - mean(control), with a normal
 * mixture N(0, tau^2) over theta and plug-in variance V = V_canary + V_control:
 *     Lambda_n = sqrt(V / (V + tau^2)) * exp(tau^2 * thetaHat^2 / (2 V (V + tau^2)))
 * Under H0 (theta = 0) Lambda_n is a nonnegative martingale, so P(ever Lambda_n >= 1/alpha) <= alpha (Ville).
 * We only act when thetaHat points in the harmful direction, which keeps the bound. The overall alpha is split
 * equally over the enabled metrics (Bonferroni).
 *
 * Correlated observations: decisions under one routing key (one user, one simulated day) share that key's
 * conditions, so they are not independent and the plain s^2/n variance is far too small. Each arm's variance is
 * therefore the cluster-robust (Liang-Zeger, CR1) variance of its mean, with observations clustered by routing key:
 *     V_arm = G/(G-1) * sum_k (S_k - n_k * mean)^2 / n^2        (S_k, n_k: sum and count in cluster k)
 * which is the batch-means variance with one batch per key, valid whatever the correlation inside a key as long
 * as keys are independent. Keys are hashed into CLUSTER_BUCKETS buckets (merging independent clusters keeps the
 * estimate valid), so memory stays fixed and each observation costs O(1). Without a key, consecutive blocks of
 * BATCH_SIZE observations per arm are the clusters (batch means for short-range serial correlation). The plug-in
 * is never below the independent-observation variance, and no test fires before each arm has MIN_CLUSTERS
 * clusters, so a handful of keys cannot stand in for evidence. With any plug-in variance (plain or clustered) the
 * martingale bound holds asymptotically, as the number of clusters grows, not exactly at small counts.
 *
 * Metrics, each a per-decision value averaged per arm:
 *   latency       1 if the decision's latency exceeded control's rolling p95, else 0 (harmful: canary higher)
 *   errors        1 if the policy failed or the decision went to the fallback (harmful: canary higher)
 *   interventions 1 if a safety rule replaced the action (harmful: canary higher)
 *   reward        the feedback reward (harmful: canary lower); variance pooled over the arms, tau scales with its
 *                 standard deviation
 */
export type GuardMetric = "latency" | "errors" | "interventions" | "reward";
export type Arm = "control" | "canary";

/** Cluster buckets per arm and metric (a power of two). */
export const CLUSTER_BUCKETS = 1024;
/** Consecutive observations forming one cluster when no routing key is given. */
export const BATCH_SIZE = 8;
/** Clusters each arm needs before a metric's test may fire. */
export const MIN_CLUSTERS = 8;

/** FNV-1a over the key's UTF-16 code units, reduced to a bucket index. */
function bucketOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) & (CLUSTER_BUCKETS - 1);
}

/** Running mean and variance of one arm's metric, plus the per-cluster sums the cluster-robust variance needs. */
class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  /** Non-empty clusters. */
  clusters = 0;
  private readonly clusterCount = new Float64Array(CLUSTER_BUCKETS);
  private readonly clusterSum = new Float64Array(CLUSTER_BUCKETS);
  /** sum_k S_k^2, sum_k S_k n_k, sum_k n_k^2, kept up to date so the variance costs O(1). */
  private sumSq = 0;
  private sumCross = 0;
  private countSq = 0;

  add(x: number, key: string | undefined): void {
    const bucket = key === undefined ? Math.floor(this.n / BATCH_SIZE) & (CLUSTER_BUCKETS - 1) : bucketOf(key);
    this.n += 1;
    const delta = x - this.mean;
    this.mean += delta / this.n;
    this.m2 += delta * (x - this.mean);
    const count = this.clusterCount[bucket];
    const sum = this.clusterSum[bucket];
    if (count === 0) this.clusters += 1;
    this.sumSq += 2 * sum * x + x * x;
    this.sumCross += sum + x * count + x;
    this.countSq += 2 * count + 1;
    this.clusterCount[bucket] = count + 1;
    this.clusterSum[bucket] = sum + x;
  }

  variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }

  /** CR1 cluster-robust variance of the mean (0 with fewer than two clusters). */
  clusteredVarianceOfMean(): number {
    if (this.clusters < 2) return 0;
    const m = this.mean;
    const spread = Math.max(0, this.sumSq - 2 * m * this.sumCross + m * m * this.countSq);
    return ((this.clusters / (this.clusters - 1)) * spread) / (this.n * this.n);
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

  /**
   * One served decision in an arm. `routingKey` clusters correlated decisions (same key, same cluster); without it
   * consecutive decisions of the arm are batched.
   */
  observeDecision(arm: Arm, latencyMs: number, failed: boolean, intervened: boolean, routingKey?: string): void {
    if (arm === "control") {
      this.controlLatencies[this.controlLatencyCount % LATENCY_WINDOW] = latencyMs;
      this.controlLatencyCount += 1;
      if (this.controlLatencyCount % LATENCY_REFRESH === 0) this.refreshLatencyThreshold();
    }
    if (this.latencyThreshold !== Infinity) this.moments.latency[arm].add(latencyMs > this.latencyThreshold ? 1 : 0, routingKey);
    this.moments.errors[arm].add(failed ? 1 : 0, routingKey);
    this.moments.interventions[arm].add(intervened ? 1 : 0, routingKey);
  }

  /** The reward fed back for a decision in an arm, under the decision's routing key when known. */
  observeReward(arm: Arm, reward: number, routingKey?: string): void {
    this.moments.reward[arm].add(reward, routingKey);
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
      if (control.clusters < MIN_CLUSTERS || canary.clusters < MIN_CLUSTERS) continue;
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
      // Under H0 the arms share one variance (the known common sigma^2 of Johari et al.); pooling it keeps a small
      // canary whose first rewards happen to be nearly constant from looking certain.
      const pooledVariance = ((control.n - 1) * control.variance() + (canary.n - 1) * canary.variance()) / Math.max(1, control.n + canary.n - 2);
      variance =
        Math.max(pooledVariance / control.n, control.clusteredVarianceOfMean()) +
        Math.max(pooledVariance / canary.n, canary.clusteredVarianceOfMean());
      const pooledSd = Math.sqrt(pooledVariance);
      tau = this.config.rewardEffect * (pooledSd > 0 ? pooledSd : 1);
    } else {
      // Bernoulli variance with add-one smoothing, so an arm with no events yet still has a positive variance;
      // the cluster-robust variance takes over when events bunch up under some keys.
      const smoothed = (m: Moments): number => {
        const p = (m.mean * m.n + 1) / (m.n + 2);
        return Math.max((p * (1 - p)) / m.n, m.clusteredVarianceOfMean());
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
