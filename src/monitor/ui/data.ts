/**
 * The dashboard's JSON API: what each page shows, gathered from the registry (records), the decision log (live
 * behaviour) and, when mounted inside the decision service, the service itself (status, canary guard, alerts).
 * Every answer carries `generatedAt` and, when there is nothing to show, an `empty` hint naming what to run.
 */
import { datasetStats, type DatasetStats } from "../../data/stats.js";
import type { Registry } from "../../registry/types.js";
import { readDecisionWindow, type DecisionWindow, type MonitoredDecision } from "../decision-log.js";
import { driftByDeployment, driftOptions, replayDecisionLog, type EvaluationContext } from "../evaluate.js";
import { percentile } from "../measures.js";
import { parseMonitorRules, type AlertEvent, type MonitorRules } from "../rules.js";

/** What the dashboard needs of the decision service (structural, so the service need not be imported). */
export interface ServiceView {
  engine: {
    deploymentNames(): string[];
    status(name: string): Record<string, unknown>;
    on(event: "alert", listener: (event: { kind: string; deployment: string; at: string; reason: string }) => void): unknown;
  };
  log: { dir: string };
}

export interface DashboardSources {
  registry?: Registry;
  /** Decision log directory or JSONL file; defaults to the service's log when mounted in the service. */
  logPath?: string;
  service?: ServiceView;
  /** Training-data states for the drift page. */
  reference?: EvaluationContext["reference"];
  rules?: MonitorRules;
  /** Dataset store directory: when a registered version is in it, the datasets page shows its statistics. */
  store?: string;
  /** Trailing window the live pages cover (default 6 hours). */
  windowSeconds?: number;
  now?: () => number;
}

export interface EmptyHint {
  what: string;
  run: string;
}

export interface PageData {
  generatedAt: string;
  empty?: EmptyHint;
  [key: string]: unknown;
}

const MINUTE = 60_000;

export class DashboardData {
  private readonly serviceAlerts: Array<{ kind: string; deployment: string; at: string; reason: string }> = [];
  private cache: { key: string; value: unknown; until: number } | null = null;
  /** The drift and alerts pages recompute statistics over the whole window: their answers are kept 30 s. */
  private readonly memo = new Map<string, { value: PageData; until: number }>();
  /** Dataset versions are immutable: their statistics are computed once. */
  private readonly stats = new Map<string, DatasetStats | null>();

  private async versionStats(ref: string): Promise<DatasetStats | null> {
    if (this.sources.store === undefined) return null;
    if (!this.stats.has(ref)) {
      try {
        this.stats.set(ref, await datasetStats(this.sources.store, ref));
      } catch {
        // Registered elsewhere, or the store is not on this machine: the page says statistics are unavailable.
        this.stats.set(ref, null);
      }
    }
    return this.stats.get(ref)!;
  }

  private async memoized(key: string, compute: () => Promise<PageData>): Promise<PageData> {
    const nowMs = this.now();
    const hit = this.memo.get(key);
    if (hit && hit.until > nowMs) return hit.value;
    const value = await compute();
    this.memo.set(key, { value, until: nowMs + 30_000 });
    return value;
  }
  private readonly rules: MonitorRules;

  constructor(private readonly sources: DashboardSources) {
    this.rules = sources.rules ?? parseMonitorRules({});
    sources.service?.engine.on("alert", (event) => {
      this.serviceAlerts.push(event);
      if (this.serviceAlerts.length > 500) this.serviceAlerts.shift();
    });
  }

  private now(): number {
    return this.sources.now?.() ?? Date.now();
  }

  private stamp(): string {
    return new Date(this.now()).toISOString();
  }

  private logPath(): string | undefined {
    return this.sources.logPath ?? this.sources.service?.log.dir;
  }

  /** Decisions in the trailing window; cached for 5 seconds. */
  private window(): DecisionWindow | null {
    const path = this.logPath();
    if (!path) return null;
    const nowMs = this.now();
    if (this.cache && this.cache.key === "window" && this.cache.until > nowMs) return this.cache.value as DecisionWindow;
    let window: DecisionWindow;
    try {
      window = readDecisionWindow(path);
    } catch (error) {
      if ((error as { code?: string }).code === "decision_log_unreadable") return null;
      throw error;
    }
    const from = nowMs - (this.sources.windowSeconds ?? 6 * 3600) * 1000;
    window = { ...window, decisions: window.decisions.filter((d) => d.ts >= from && d.ts <= nowMs) };
    this.cache = { key: "window", value: window, until: nowMs + 5000 };
    return window;
  }

  async overview(): Promise<PageData> {
    const registry = this.sources.registry;
    const window = this.window();
    const perTenMinutes = new Map<number, number>();
    for (const d of window?.decisions ?? []) {
      const bucket = Math.floor(d.ts / 600_000) * 600;
      perTenMinutes.set(bucket, (perTenMinutes.get(bucket) ?? 0) + 1);
    }
    const buckets = [...perTenMinutes.keys()].sort((a, b) => a - b);
    return {
      generatedAt: this.stamp(),
      traffic: { t: buckets, decisions: buckets.map((b) => perTenMinutes.get(b)!) },
      counts: {
        datasets: registry ? (await registry.listDatasetVersions()).length : null,
        runs: registry ? (await registry.listRuns()).length : null,
        policies: registry ? (await registry.listPolicies()).length : null,
        decisions: window ? window.decisions.length : null,
      },
      sources: { registry: registry?.backend ?? null, decisionLog: this.logPath() ?? null, service: this.sources.service !== undefined },
    };
  }

  async datasets(): Promise<PageData> {
    const registry = this.sources.registry;
    if (!registry) return { generatedAt: this.stamp(), datasets: [], empty: noRegistry() };
    const versions = await registry.listDatasetVersions();
    const datasets = [];
    for (const v of versions) {
      const usage = await registry.trainedOn({ name: v.name, version: v.version });
      const manifest = v.manifest as Record<string, unknown>;
      const stats = await this.versionStats(`${v.name}@${v.version}`);
      datasets.push({
        name: v.name,
        version: v.version,
        hash: v.hash,
        createdAt: v.createdAt,
        counts: manifest.counts ?? null,
        featureNames: manifest.featureNames ?? [],
        parents: manifest.parents ?? [],
        transform: manifest.transform ?? null,
        stats: stats && { rows: stats.rows, episodes: stats.episodes, rewards: stats.rewards, returns: stats.returns, features: stats.features, actions: stats.actions },
        sensitiveFeatures: v.sensitiveFeatures,
        runs: usage.runs.map((r) => ({ id: r.id, algorithm: r.algorithm, status: r.status })),
        policies: usage.policies.map((p) => ({ ref: `${p.name}@${p.version}`, stage: p.stage, runId: p.runId })),
      });
    }
    return {
      generatedAt: this.stamp(),
      datasets,
      ...(datasets.length === 0 ? { empty: { what: "No dataset versions are registered yet.", run: "hindcast data ingest ... then hindcast registry datasets register" } } : {}),
    };
  }

  async runs(): Promise<PageData> {
    const registry = this.sources.registry;
    if (!registry) return { generatedAt: this.stamp(), runs: [], empty: noRegistry() };
    const runs = [];
    for (const run of await registry.listRuns({ limit: 50 })) {
      const points = await registry.getMetrics(run.id);
      const curves: Record<string, { steps: number[]; values: number[] }> = {};
      for (const p of points) {
        const curve = (curves[p.name] ??= { steps: [], values: [] });
        curve.steps.push(p.step);
        curve.values.push(p.value);
      }
      runs.push({
        id: run.id,
        algorithm: run.algorithm,
        status: run.status,
        seed: run.seed,
        dataset: run.dataset ? `${run.dataset.name}@${run.dataset.version}` : null,
        createdAt: run.createdAt,
        finishedAt: run.finishedAt,
        curves,
      });
    }
    return {
      generatedAt: this.stamp(),
      runs,
      ...(runs.length === 0 ? { empty: { what: "No training runs are recorded yet.", run: "hindcast train --algo cql --dataset NAME@VERSION" } } : {}),
    };
  }

  async policies(): Promise<PageData> {
    const registry = this.sources.registry;
    if (!registry) return { generatedAt: this.stamp(), policies: [], empty: noRegistry() };
    const baseline = await registry.listEvaluations(null);
    const policies = [];
    for (const p of await registry.listPolicies()) {
      const ref = `${p.name}@${p.version}`;
      const lineage = await registry.policyLineage(ref);
      policies.push({
        ref,
        sha256: p.sha256,
        stage: p.stage,
        deployment: p.deployment,
        fraction: p.fraction,
        createdAt: p.createdAt,
        run: lineage.run ? { id: lineage.run.id, algorithm: lineage.run.algorithm } : null,
        dataset: lineage.dataset ? `${lineage.dataset.name}@${lineage.dataset.version}` : null,
        evaluations: lineage.evaluations.map((e) => ({ estimator: e.estimator, value: e.value, lower: e.lower, upper: e.upper, split: e.split, confidence: e.confidence })),
        stageHistory: lineage.stageHistory.map((s) => ({ from: s.fromStage, to: s.toStage, deployment: s.deployment, reason: s.reason, actor: s.actor, at: s.at })),
      });
    }
    return {
      generatedAt: this.stamp(),
      baseline: baseline.map((e) => ({ estimator: e.estimator, value: e.value, lower: e.lower, upper: e.upper, split: e.split })),
      policies,
      ...(policies.length === 0 ? { empty: { what: "No policies are registered yet.", run: "hindcast train ... then hindcast registry policies register ARTIFACT_DIR" } } : {}),
    };
  }

  async deployments(): Promise<PageData> {
    const registry = this.sources.registry;
    const window = this.window();
    const decisions = window?.decisions ?? [];
    const names = new Set<string>(decisions.map((d) => d.deployment));
    for (const name of this.sources.service?.engine.deploymentNames() ?? []) names.add(name);
    const history = registry ? await registry.stageHistory() : [];
    for (const change of history) names.add(change.deployment);
    const deployments = [];
    for (const name of [...names].sort()) {
      const own = decisions.filter((d) => d.deployment === name);
      let routing = null;
      if (registry) {
        const r = await registry.routing(name);
        routing = {
          production: r.production ? `${r.production.policy.name}@${r.production.policy.version}` : null,
          canary: r.canary ? { policy: `${r.canary.policy.name}@${r.canary.policy.version}`, fraction: r.canary.fraction } : null,
          shadows: r.shadows.map((s) => `${s.policy.name}@${s.policy.version}`),
        };
      }
      let status = null;
      if (this.sources.service?.engine.deploymentNames().includes(name)) status = this.sources.service.engine.status(name);
      deployments.push({
        name,
        routing,
        status,
        series: perMinute(own),
        rollbacks: history
          .filter((h) => h.deployment === name && h.toStage === "rolled_back")
          .map((h) => ({ policy: h.policy, from: h.fromStage, reason: h.reason, actor: h.actor, at: h.at })),
      });
    }
    return {
      generatedAt: this.stamp(),
      windowSeconds: this.sources.windowSeconds ?? 6 * 3600,
      deployments,
      ...(deployments.length === 0
        ? { empty: { what: "No deployment has served decisions or been promoted yet.", run: "hindcast registry promote NAME@VERSION --to production, then hindcast serve" } }
        : {}),
    };
  }

  drift(): Promise<PageData> {
    return this.memoized("drift", () => this.computeDrift());
  }

  alerts(): Promise<PageData> {
    return this.memoized("alerts", () => this.computeAlerts());
  }

  private async computeDrift(): Promise<PageData> {
    const reference = this.sources.reference;
    const window = this.window();
    if (!reference) {
      return { generatedAt: this.stamp(), deployments: [], empty: { what: "No reference dataset is configured, so drift cannot be computed.", run: "hindcast ui --reference NAME@VERSION (the policy's training dataset)" } };
    }
    if (!window || window.decisions.length === 0) {
      return { generatedAt: this.stamp(), deployments: [], empty: { what: "No decisions in the log yet to compare with the training data.", run: "hindcast serve --log DIR, then send decisions to /v1/decide" } };
    }
    const nowMs = this.now();
    const slices = 12;
    const slice = Math.max(MINUTE, Math.floor(((this.sources.windowSeconds ?? 6 * 3600) * 1000) / slices));
    const latest = driftByDeployment(window.decisions, reference, { ...driftOptions(this.rules, {}), mmd: { sampleSize: 300, permutations: 100 } });
    const trend: Record<string, Array<{ at: string; mmd: number | null; pValue: number | null; driftIndex: number }>> = {};
    for (let i = slices - 1; i >= 0; i--) {
      const to = nowMs - i * slice;
      const part = window.decisions.filter((d) => d.ts > to - slice && d.ts <= to);
      for (const d of driftByDeployment(part, reference, { ...driftOptions(this.rules, {}), mmd: { sampleSize: 150, permutations: 50 } })) {
        (trend[d.deployment] ??= []).push({ at: new Date(to).toISOString(), mmd: d.report.mmd?.statistic ?? null, pValue: d.report.mmd?.pValue ?? null, driftIndex: d.report.driftIndex });
      }
    }
    return {
      generatedAt: this.stamp(),
      referenceRows: reference.sample.rows,
      thresholds: { psi: this.rules.drift.psi, mmdPValue: this.rules.drift.mmdPValue },
      deployments: latest.map((d) => ({
        deployment: d.deployment,
        policy: d.policy,
        liveRows: d.report.liveRows,
        driftIndex: d.report.driftIndex,
        drifted: d.report.drifted,
        mmd: d.report.mmd,
        features: d.report.features,
        trend: trend[d.deployment] ?? [],
      })),
    };
  }

  private async computeAlerts(): Promise<PageData> {
    const window = this.window();
    const events: AlertEvent[] = window
      ? replayDecisionLog(window, this.rules, { reference: this.sources.reference, drift: { mmd: { sampleSize: 150, permutations: 50 } } }, { everySeconds: 60, driftEverySeconds: 900 }).events
      : [];
    const firing = new Map<string, AlertEvent>();
    for (const e of events) {
      if (e.state === "firing") firing.set(e.key, e);
      else firing.delete(e.key);
    }
    const service = [...this.serviceAlerts].reverse();
    const none = events.length === 0 && service.length === 0;
    return {
      generatedAt: this.stamp(),
      firing: [...firing.values()],
      events: [...events].reverse(),
      service,
      ...(none
        ? { empty: { what: "No alerts: no rule fired over the decision log window.", run: window ? "nothing; this is good news (hindcast monitor --log DIR evaluates the rules continuously)" : "hindcast serve (or pass --log DIR) so there are decisions to evaluate" } }
        : {}),
    };
  }
}

function noRegistry(): EmptyHint {
  return { what: "No registry is connected.", run: "hindcast ui --registry sqlite:.hindcast/registry.db" };
}

/** Per-minute latency percentiles, traffic by route and mean reward by route (canary vs control). */
function perMinute(decisions: readonly MonitoredDecision[]) {
  const buckets = new Map<number, MonitoredDecision[]>();
  for (const d of decisions) {
    const minute = Math.floor(d.ts / MINUTE) * MINUTE;
    let list = buckets.get(minute);
    if (!list) buckets.set(minute, (list = []));
    list.push(d);
  }
  const minutes = [...buckets.keys()].sort((a, b) => a - b);
  const routes = [...new Set(decisions.map((d) => d.route))].sort();
  const out = {
    t: minutes.map((m) => m / 1000),
    p50: [] as number[],
    p95: [] as number[],
    p99: [] as number[],
    routes,
    traffic: Object.fromEntries(routes.map((r) => [r, [] as number[]])),
    reward: Object.fromEntries(routes.map((r) => [r, [] as Array<number | null>])),
    safety: [] as number[],
  };
  for (const minute of minutes) {
    const list = buckets.get(minute)!;
    const latencies = Float64Array.from(list, (d) => d.latencyMs).sort();
    out.p50.push(percentile(latencies, 0.5));
    out.p95.push(percentile(latencies, 0.95));
    out.p99.push(percentile(latencies, 0.99));
    out.safety.push(list.filter((d) => d.safetyRules.length > 0).length);
    for (const route of routes) {
      const ofRoute = list.filter((d) => d.route === route);
      out.traffic[route]!.push(ofRoute.length);
      const rewarded = ofRoute.filter((d) => d.reward !== null);
      out.reward[route]!.push(rewarded.length > 0 ? rewarded.reduce((s, d) => s + d.reward!, 0) / rewarded.length : null);
    }
  }
  return out;
}
