/**
 * The continuous monitor: every tick it reads what is new in the decision log and/or scrapes the service, evaluates
 * the rules at the current time, sends the alert events that result to its sinks (stdout JSON lines, a webhook) and
 * updates the gauges it exports for Prometheus.
 */
import { Gauge, Registry as PromRegistry } from "prom-client";
import { DecisionLogTail } from "./decision-log.js";
import { MonitorError } from "./errors.js";
import { evaluateAt, type Evaluation, type EvaluationContext } from "./evaluate.js";
import { MONITOR_METRICS } from "./metric-names.js";
import { AlertManager, burnRateCandidates, type AlertCandidate, type AlertEvent, type MonitorRules } from "./rules.js";
import { ScrapedSlis, scrapeService } from "./scrape.js";
import { SRE_BURN_WINDOWS } from "./slo.js";
import type { Registry } from "../registry/index.js";

export interface AlertSink {
  name: string;
  send(event: AlertEvent): Promise<void>;
}

/** One JSON object per line. */
export function streamSink(write: (line: string) => void = (line) => process.stdout.write(line)): AlertSink {
  return { name: "stdout", send: async (event) => write(JSON.stringify(event) + "\n") };
}

/** POSTs each event as JSON; a non-2xx answer or a network failure is a `webhook_failed` error. */
export function webhookSink(url: string, fetchImpl: typeof fetch = fetch): AlertSink {
  return {
    name: `webhook ${url}`,
    async send(event) {
      let response: Response;
      try {
        response = await fetchImpl(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (error) {
        throw new MonitorError("webhook_failed", `POST ${url}: ${(error as Error).message}`, { url });
      }
      if (!response.ok) throw new MonitorError("webhook_failed", `POST ${url} answered ${response.status}`, { url, value: response.status });
    },
  };
}

/** Records each event in the registry's audit log, beside the promotions and rollbacks it may explain. */
export function auditSink(registry: Pick<Registry, "recordEvent">): AlertSink {
  return {
    name: "registry audit log",
    async send(event) {
      await registry.recordEvent(event.state === "firing" ? "alert.fired" : "alert.resolved", `deployment:${event.deployment}`, { ...event });
    },
  };
}

/** The gauges `hindcast monitor --metrics-port` serves (names in metric-names.ts). */
export class MonitorMetrics {
  readonly registry = new PromRegistry();
  private readonly gauges = new Map<string, Gauge<string>>();

  private gauge(name: string, help: string, labelNames: string[]): Gauge<string> {
    let gauge = this.gauges.get(name);
    if (!gauge) {
      gauge = new Gauge({ name, help, labelNames, registers: [this.registry] });
      this.gauges.set(name, gauge);
    }
    return gauge;
  }

  update(evaluation: Evaluation, firing: readonly AlertEvent[]): void {
    const M = MONITOR_METRICS;
    for (const [name, gauge] of this.gauges) {
      if (name !== MONITOR_METRICS.retrainIntervalDays && name !== MONITOR_METRICS.retrainImprovedRatio) gauge.reset();
    }
    for (const m of evaluation.measures) {
      const labels = { deployment: m.deployment, policy: m.policy };
      if (m.latencyMs) {
        for (const q of ["p50", "p95", "p99"] as const) this.gauge(M.latencyQuantile, "Decision latency percentile over the monitor window (ms)", ["deployment", "policy", "quantile"]).set({ ...labels, quantile: q }, m.latencyMs[q]);
      }
      if (m.actionFailureRate !== null) this.gauge(M.actionFailureRatio, "Failed action outcomes / decisions with feedback", ["deployment", "policy"]).set(labels, m.actionFailureRate);
      this.gauge(M.safetyViolations, "Decisions with a safety intervention in the monitor window", ["deployment", "policy"]).set(labels, m.safetyViolations);
      if (m.liveReward !== null) this.gauge(M.liveReward, "Mean live reward from feedback", ["deployment", "policy"]).set(labels, m.liveReward);
      if (m.rewardProxyGap !== null) this.gauge(M.rewardProxyGap, "Live reward minus the offline estimate", ["deployment", "policy"]).set(labels, m.rewardProxyGap);
      if (m.offlineValueDelta !== null) this.gauge(M.offlineValueDelta, "Offline value minus the behaviour baseline", ["deployment", "policy"]).set(labels, m.offlineValueDelta);
      for (const [shadow, r] of Object.entries(m.shadowCorrelation)) {
        if (r !== null) this.gauge(M.shadowCorrelation, "Correlation of shadow agreement with live reward", ["deployment", "policy", "shadow"]).set({ ...labels, shadow }, r);
      }
    }
    for (const d of evaluation.drift) {
      const policy = evaluation.candidates.find((c) => c.rule === "FeatureDrift" && c.deployment === d.deployment)?.policy ?? "";
      const labels = { deployment: d.deployment, policy };
      this.gauge(M.driftIndex, "Largest per-feature PSI, live window vs training data", ["deployment", "policy"]).set(labels, d.report.driftIndex);
      if (d.report.mmd) {
        this.gauge(M.mmdStatistic, "MMD² (RBF kernel) live window vs training data", ["deployment", "policy"]).set(labels, d.report.mmd.statistic);
        this.gauge(M.mmdPValue, "Permutation p-value of the MMD test", ["deployment", "policy"]).set(labels, d.report.mmd.pValue);
      }
      for (const f of d.report.features) {
        this.gauge(M.featurePsi, "PSI per feature", ["deployment", "policy", "feature"]).set({ ...labels, feature: f.feature }, f.psi);
        this.gauge(M.featureKl, "KL(live || training) per feature", ["deployment", "policy", "feature"]).set({ ...labels, feature: f.feature }, f.kl);
      }
    }
    const counts = new Map<string, number>();
    for (const e of firing) counts.set(e.severity, (counts.get(e.severity) ?? 0) + 1);
    const alerts = this.gauge(M.alertsFiring, "Alerts the monitor holds open", ["severity"]);
    for (const severity of ["page", "ticket"]) alerts.set({ severity }, counts.get(severity) ?? 0);
  }

  setRetrainCadence(medianIntervalDays: number | null, improvedFraction: number | null): void {
    if (medianIntervalDays !== null) this.gauge(MONITOR_METRICS.retrainIntervalDays, "Median days between production promotions", []).set(medianIntervalDays);
    if (improvedFraction !== null) this.gauge(MONITOR_METRICS.retrainImprovedRatio, "Share of promotions that beat their predecessor offline", []).set(improvedFraction);
  }
}

export interface MonitorRunOptions {
  rules: MonitorRules;
  context?: EvaluationContext;
  /** Decision log directory or file to follow. */
  logPath?: string;
  /** Decision service base URL to scrape for the burn-rate SLIs. */
  serviceUrl?: string;
  sinks: AlertSink[];
  metrics?: MonitorMetrics;
  everySeconds?: number;
  /** Refreshes context (offline estimates, ...) before each tick, e.g. from the registry. */
  refreshContext?: () => Promise<Partial<EvaluationContext>>;
  now?: () => number;
  /** Sink failures and tick errors are reported here and do not stop the monitor. */
  onError?: (error: unknown) => void;
  fetchImpl?: typeof fetch;
}

export class Monitor {
  private readonly manager: AlertManager;
  private readonly tail: DecisionLogTail | null;
  private readonly scraped: ScrapedSlis | null;
  private context: EvaluationContext;

  constructor(private readonly options: MonitorRunOptions) {
    if (!options.logPath && !options.serviceUrl) {
      throw new MonitorError("monitor_invalid_config", "give a decision log (--log) or a service URL (--url) to monitor", { field: "source" });
    }
    this.manager = new AlertManager(options.rules.coolDownSeconds);
    this.tail = options.logPath ? new DecisionLogTail(options.logPath) : null;
    this.scraped = options.serviceUrl ? new ScrapedSlis(options.rules) : null;
    this.context = options.context ?? {};
  }

  /** One evaluation at the current time; returns the events sent. */
  async tick(): Promise<AlertEvent[]> {
    const nowMs = this.options.now?.() ?? Date.now();
    if (this.options.refreshContext) this.context = { ...this.context, ...(await this.options.refreshContext()) };
    let candidates: AlertCandidate[] = [];
    let evaluation: Evaluation | null = null;
    const longest = Math.max(...SRE_BURN_WINDOWS.map((w) => w.long));
    if (this.tail) {
      this.tail.poll();
      this.tail.accumulator.forgetBefore(nowMs - longest * 1000);
      evaluation = evaluateAt(this.tail.accumulator.window().decisions, nowMs, this.options.rules, this.context);
      candidates = evaluation.candidates;
    }
    if (this.scraped) {
      this.scraped.observe(await scrapeService(this.options.serviceUrl!, this.options.fetchImpl), nowMs / 1000);
      const fromMetrics = burnRateCandidates(this.scraped.series(nowMs / 1000, longest), nowMs / 1000, this.options.rules);
      // The service's counters are the authority on burn rates when both sources are given.
      candidates = candidates.filter((c) => c.rule !== "DecisionLatencyBudgetBurn" && c.rule !== "SafetyBudgetBurn").concat(fromMetrics);
    }
    const events = this.manager.update(candidates, nowMs / 1000);
    for (const event of events) {
      for (const sink of this.options.sinks) {
        try {
          await sink.send(event);
        } catch (error) {
          this.options.onError?.(error);
        }
      }
    }
    if (this.options.metrics && evaluation) this.options.metrics.update(evaluation, this.manager.firing());
    return events;
  }

  /** Ticks every `everySeconds` until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const every = (this.options.everySeconds ?? 60) * 1000;
    while (!signal.aborted) {
      try {
        await this.tick();
      } catch (error) {
        this.options.onError?.(error);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, every);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }
}
