import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The service's Prometheus metrics on a registry of its own (several services may share a process in tests).
 * Label children are cached per combination so the per-decision cost is a few map lookups and adds: decision,
 * fallback and intervention counts are summed in place and handed to prom-client at scrape, and the latency
 * histogram is a `BucketHistogram` (prom-client's exposition, typed-array buckets).
 */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly latency: BucketHistogram<"deployment" | "policy" | "route">;
  readonly decisions: Counter<"deployment" | "route" | "action">;
  readonly fallbacks: Counter<"deployment" | "reason">;
  readonly interventions: Counter<"deployment" | "rule">;
  readonly feedback: Counter<"deployment" | "kind">;
  readonly guardState: Gauge<"deployment">;
  readonly rollbacks: Counter<"deployment" | "metric">;
  readonly shadowAgreement: Gauge<"deployment" | "shadow">;
  readonly shadowValue: Gauge<"deployment" | "shadow">;
  readonly shadowErrors: Counter<"deployment" | "shadow">;
  readonly reloads: Counter<"outcome">;
  readonly alerts: Counter<"kind">;
  readonly killSwitch: Gauge;
  readonly logBatchSeconds: Histogram;
  readonly logBatchRecords: Histogram;
  /** Latency children by deployment, then policy, then route: lookups by strings the engine keeps, no key building. */
  private readonly latencyChildren = new Map<string, Map<string, Map<string, { observe(value: number): void }>>>();
  /**
   * Decisions counted since the last scrape, per label combination: the hot path adds to a plain number, and the
   * counter's `collect` (run by every scrape and by `get()`) hands the sums to prom-client, whose child `inc`
   * validates and hashes its labels on every call.
   */
  private readonly decisionCounts = new Map<string, Map<string, Map<number | string, DecisionCount>>>();
  private readonly decisionCountList: DecisionCount[] = [];
  /** Fallbacks by deployment then reason label, and interventions by deployment then rule: counted the same way. */
  private readonly fallbackCounts = new Map<string, Map<string, DecisionCount>>();
  private readonly interventionCounts = new Map<string, Map<string, DecisionCount>>();
  private readonly fallbackCountList: DecisionCount[] = [];
  private readonly interventionCountList: DecisionCount[] = [];

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.latency = new BucketHistogram({
      name: "hindcast_serve_decision_latency_seconds",
      help: "Time to compute a decision (state parsing, policy, exploration, safety, shadows), by policy and route",
      labelNames: ["deployment", "policy", "route"],
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
      registers,
    });
    this.decisions = new Counter({
      name: "hindcast_serve_decisions_total",
      help: "Decisions served, by route and action (continuous actions are labelled 'continuous')",
      labelNames: ["deployment", "route", "action"],
      registers,
      collect: () => flushCounts(this.decisionCountList),
    });
    this.fallbacks = new Counter({
      name: "hindcast_serve_fallbacks_total",
      help: "Decisions served by the fallback, by reason",
      labelNames: ["deployment", "reason"],
      registers,
      collect: () => flushCounts(this.fallbackCountList),
    });
    this.interventions = new Counter({
      name: "hindcast_serve_safety_interventions_total",
      help: "Actions replaced by the fallback because a safety rule was broken, by rule",
      labelNames: ["deployment", "rule"],
      registers,
      collect: () => flushCounts(this.interventionCountList),
    });
    this.feedback = new Counter({
      name: "hindcast_serve_feedback_total",
      help: "Feedback received, by kind (on_time, late, duplicate)",
      labelNames: ["deployment", "kind"],
      registers,
    });
    this.guardState = new Gauge({
      name: "hindcast_serve_canary_guard_state",
      help: "Canary guard state: 0 no canary, 1 collecting, 2 monitoring, 3 breached",
      labelNames: ["deployment"],
      registers,
    });
    this.rollbacks = new Counter({
      name: "hindcast_serve_rollbacks_total",
      help: "Automatic canary rollbacks, by the metric that breached",
      labelNames: ["deployment", "metric"],
      registers,
    });
    this.shadowAgreement = new Gauge({
      name: "hindcast_serve_shadow_agreement_ratio",
      help: "Share of decisions where the shadow policy chose the served action",
      labelNames: ["deployment", "shadow"],
      registers,
    });
    this.shadowValue = new Gauge({
      name: "hindcast_serve_shadow_value_estimate",
      help: "Inverse-propensity estimate of the shadow policy's mean reward from production feedback",
      labelNames: ["deployment", "shadow"],
      registers,
    });
    this.shadowErrors = new Counter({
      name: "hindcast_serve_shadow_errors_total",
      help: "Shadow evaluations that failed (logged as shadowErrors, never acted on)",
      labelNames: ["deployment", "shadow"],
      registers,
    });
    this.reloads = new Counter({
      name: "hindcast_serve_reloads_total",
      help: "Deployment reloads, by outcome (applied, refused)",
      labelNames: ["outcome"],
      registers,
    });
    this.alerts = new Counter({ name: "hindcast_serve_alerts_total", help: "Alert events raised, by kind", labelNames: ["kind"], registers });
    this.killSwitch = new Gauge({ name: "hindcast_serve_kill_switch", help: "1 while the kill switch is on", registers });
    this.logBatchSeconds = new Histogram({
      name: "hindcast_serve_log_batch_seconds",
      help: "Decision-log group commit: time from issuing a batch write to it being durable",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.logBatchRecords = new Histogram({
      name: "hindcast_serve_log_batch_records",
      help: "Decision-log group commit: records per synced batch",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers,
    });
  }

  observeDecision(
    deployment: string,
    policy: string,
    route: string,
    action: number | number[],
    latencySeconds: number,
    fallbackReason: string | undefined,
    safety: string[],
  ): void {
    let byPolicy = this.latencyChildren.get(deployment);
    if (!byPolicy) this.latencyChildren.set(deployment, (byPolicy = new Map()));
    let byRoute = byPolicy.get(policy);
    if (!byRoute) byPolicy.set(policy, (byRoute = new Map()));
    let latency = byRoute.get(route);
    if (!latency) {
      latency = this.latency.labels(deployment, policy, route);
      byRoute.set(route, latency);
    }
    latency.observe(latencySeconds);
    const actionKey = typeof action === "number" ? action : "continuous";
    let byRouteCount = this.decisionCounts.get(deployment);
    if (!byRouteCount) this.decisionCounts.set(deployment, (byRouteCount = new Map()));
    let byAction = byRouteCount.get(route);
    if (!byAction) byRouteCount.set(route, (byAction = new Map()));
    let counter = byAction.get(actionKey);
    if (!counter) {
      counter = { child: this.decisions.labels(deployment, route, String(actionKey)), pending: 0 };
      byAction.set(actionKey, counter);
      this.decisionCountList.push(counter);
    }
    counter.pending += 1;
    if (fallbackReason) {
      const reason = fallbackReasonLabel(fallbackReason);
      pendingCount(this.fallbackCounts, this.fallbackCountList, this.fallbacks, deployment, reason).pending += 1;
    }
    for (const rule of safety) pendingCount(this.interventionCounts, this.interventionCountList, this.interventions, deployment, rule).pending += 1;
  }
}

/** The pending count of one (deployment, label) child of `counter`, made on first use. */
function pendingCount(
  byDeployment: Map<string, Map<string, DecisionCount>>,
  list: DecisionCount[],
  counter: Counter<"deployment" | "reason"> | Counter<"deployment" | "rule">,
  deployment: string,
  label: string,
): DecisionCount {
  let byLabel = byDeployment.get(deployment);
  if (!byLabel) byDeployment.set(deployment, (byLabel = new Map()));
  let count = byLabel.get(label);
  if (!count) {
    count = { child: (counter as Counter<string>).labels(deployment, label), pending: 0 };
    byLabel.set(label, count);
    list.push(count);
  }
  return count;
}

/** Hands the counts summed since the last scrape to prom-client (run by the counter's `collect`, at every scrape). */
function flushCounts(list: DecisionCount[]): void {
  for (const counter of list) {
    if (counter.pending === 0) continue;
    const pending = counter.pending;
    counter.pending = 0;
    counter.child.inc(pending);
  }
}

interface DecisionCount {
  child: { inc(value?: number): void };
  pending: number;
}

/**
 * Bounded label values: "missing_feature:<name>" -> "missing_feature", "ood:range:<name>" -> "ood:range",
 * "ood:distance", "safety", "policy_error", "kill_switch" unchanged.
 */
export function fallbackReasonLabel(reason: string): string {
  const parts = reason.split(":");
  return parts[0] === "ood" ? `ood:${parts[1]}` : parts[0];
}

interface BucketChild {
  readonly labels: Record<string, string>;
  /** Observations per bucket (not cumulative); above the last bound only `count` grows (the +Inf bucket). */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  observe(value: number): void;
}

type ExportedValue = {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
};

/**
 * A labelled histogram that prom-client's registry exposes exactly like its own `Histogram` (same lines in the same
 * order), whose children count into typed arrays: `observe` is a bucket search and three adds, without the label
 * validation, label hashing and string-keyed bucket lookup prom-client's child `observe` does on every call.
 */
export class BucketHistogram<L extends string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly upperBounds: readonly number[];
  private readonly children = new Map<string, BucketChild>();

  constructor(config: { name: string; help: string; labelNames: readonly L[]; buckets: number[]; registers: Registry[] }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.upperBounds = [...config.buckets].sort((a, b) => a - b);
    for (const registry of config.registers) registry.registerMetric(this as unknown as Histogram);
  }

  /** The child for these label values (in `labelNames` order), made on first use. */
  labels(...values: string[]): { observe(value: number): void } {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    }
    const key = values.join("\u0000");
    let child = this.children.get(key);
    if (!child) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      const bounds = this.upperBounds;
      const made: BucketChild = {
        labels,
        counts: new Float64Array(bounds.length),
        sum: 0,
        count: 0,
        observe(value: number): void {
          if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
          let bucket = 0;
          while (bucket < bounds.length && value > bounds[bucket]) bucket++;
          if (bucket < bounds.length) made.counts[bucket] += 1;
          made.sum += value;
          made.count += 1;
        },
      };
      child = made;
      this.children.set(key, child);
    }
    return child;
  }

  /** Zeroes every child (children stay listed, at zero). */
  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }

  /** What the registry renders: cumulative buckets, +Inf, sum and count per child, as prom-client lays them out. */
  getForPromString(): { name: string; help: string; type: "histogram"; values: ExportedValue[]; aggregator: "sum" } {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const child of this.children.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        cumulative += child.counts[i];
        values.push({ labels: { le: this.upperBounds[i] }, sharedLabels: child.labels, value: cumulative, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: child.labels, value: child.count, metricName: bucketName, exemplar: null });
      values.push({ labels: {}, sharedLabels: child.labels, value: child.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: child.labels, value: child.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same values with each child's labels merged into each line's labels (prom-client's `get()` shape). */
  get(): ReturnType<BucketHistogram<L>["getForPromString"]> {
    const data = this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
