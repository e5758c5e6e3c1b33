/**
 * `hindcast demo`: the whole life of an offline-RL policy on the autoscaling simulator, with embedded defaults only
 * (Parquet dataset store + SQLite registry + decision log under one directory):
 *
 *   1 log a year of days from today's rule-based autoscaler with exploration (propensities logged), a few rows broken
 *   2 ingest + validate (broken rows' episodes land in quarantine)   3 split by episode
 *   4 train candidates (discrete BC, CQL, BCQ), today's policy as an imitation artifact, and a deliberately bad one
 *   5 off-policy evaluation (WDR + FQE, bootstrap intervals) and the high-confidence gate vs the behaviour policy
 *   6 register the winner with lineage (dataset, run, evaluations)
 *   7 serve in-process on loopback: the winner in shadow, then canary at 10%, over HTTP with simulated traffic
 *   8 promote the winner   9 the bad candidate as the next canary: the canary guard rolls it back by itself
 *  10 fold the decision log back into a dataset version (parent: the decision log) and retrain
 *  11 ground truth from simulator rollouts, cost and SLO breaches before/after, rollback time, latency percentiles
 *
 * Serving only runs ONNX artifacts, so "today's policy" in production is a behaviour-cloned artifact of the rule-based
 * autoscaler (registered as autoscaler-today and bootstrapped into production under permissive gates, audited);
 * the demo's real gates are set right after. Results are returned as data; the CLI prints them.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { filterDataset, splitDataset } from "../data/curate.js";
import { ingest, type IngestReport } from "../data/ingest.js";
import { loadTransitions } from "../data/loader.js";
import type { DatasetManifest } from "../data/store.js";
import { driftReport } from "../monitor/drift.js";
import type { EstimateReport } from "../ope/evaluate.js";
import { openRegistry } from "../registry/open.js";
import type { GateConfigInput } from "../registry/gates.js";
import { parseGateConfig } from "../registry/gates.js";
import type { Registry, StageChange } from "../registry/types.js";
import { readDecisionLog, type DecisionRecord } from "../serve/decision-log.js";
import type { AlertEvent } from "../serve/engine.js";
import { exportDecisionLog } from "../serve/log-dataset.js";
import { RegistryRoutingSource, registryPolicyLoader, type ServeSettingsFile } from "../serve/registry-routing.js";
import { createDecisionService, type DecisionService } from "../serve/service.js";
import { PipelineError } from "./errors.js";
import { evaluateOffline, registerDataset, registerTrained, simulateLogs, trainPolicy, trueValue, type OfflineEvaluation, type TrainedPolicy } from "./steps.js";
import { driveTraffic, percentiles, summarizeEpisodes, type TrafficResult } from "./traffic.js";

export const DEMO_ENV = "autoscaling";
export const DEMO_BEHAVIOR = "eps-greedy(heuristic, 0.2)";
export const DEMO_DEPLOYMENT = "autoscaling";
export const DEMO_GAMMA = 0.99;
/** Exploration the service adds to every served policy; offline estimates and rollouts use the same policy. */
export const SERVE_EPSILON = 0.1;
export const CANARY_FRACTION = 0.1;
const DEMO_MARKER = ".hindcast-demo";
const STAGE_TITLES = [
  "generate a year of logs",
  "ingest and validate",
  "split by episode",
  "train candidates",
  "off-policy evaluation and selection",
  "register the winner with lineage",
  "serve: shadow, then canary at 10%",
  "promote the winner",
  "bad candidate as next canary: automatic rollback",
  "fold the decision log back and retrain",
  "ground truth and summary",
] as const;

export interface DemoSizes {
  episodes: number;
  corruptRows: number;
  trainSteps: number;
  hiddenSizes: number[];
  batchSize: number;
  fqeSteps: number;
  resamples: number;
  truthEpisodes: number;
  shadowEpisodes: number;
  /** Canary phase length in days; at 10% of 288 decisions a day it must cover the production gate's `minCanaryDecisions`. */
  canaryEpisodes: number;
  minCanaryDecisions: number;
  /** Upper bound on days with the bad canary; the phase stops as soon as the guard has rolled it back. */
  badCanaryEpisodes: number;
  concurrency: number;
  guardMinSamples: number;
  retrainSteps: number;
}

export const DEMO_SIZES: Record<"full" | "small", DemoSizes> = {
  full: {
    episodes: 365,
    corruptRows: 4,
    trainSteps: 5000,
    hiddenSizes: [64, 64],
    batchSize: 256,
    fqeSteps: 6000,
    resamples: 200,
    truthEpisodes: 30,
    shadowEpisodes: 8,
    canaryEpisodes: 24,
    minCanaryDecisions: 500,
    badCanaryEpisodes: 60,
    concurrency: 8,
    guardMinSamples: 100,
    retrainSteps: 2000,
  },
  // Same year of logs (the high-confidence gate needs the held-out days), less training, FQE and traffic.
  small: {
    episodes: 365,
    corruptRows: 4,
    trainSteps: 2000,
    hiddenSizes: [64, 64],
    batchSize: 128,
    fqeSteps: 1500,
    resamples: 100,
    truthEpisodes: 6,
    shadowEpisodes: 4,
    canaryEpisodes: 5,
    minCanaryDecisions: 100,
    badCanaryEpisodes: 20,
    concurrency: 4,
    guardMinSamples: 50,
    retrainSteps: 500,
  },
};

/** Gates the demo stores in its registry: meaningful (an OPE lower bound, shadow/canary evidence) yet reachable at demo sizes. */
export function demoGates(sizes: DemoSizes): GateConfigInput {
  return {
    shadow: { opeLowerBound: { split: "heldout", estimator: "wdr", margin: 0 } },
    // Shadow actions are the policy's greedy choice; a rare one that the safety rule would have replaced (1% of the
    // required shadow decisions) does not block the canary, a habit of it does.
    canary: {
      minShadowDecisions: Math.floor((sizes.shadowEpisodes * 288) / 2),
      maxShadowSafetyViolations: Math.ceil(0.01 * Math.floor((sizes.shadowEpisodes * 288) / 2)),
      maxFraction: 0.5,
    },
    // Exploration's random scale-downs under load are replaced by the safety rule and count against the policy
    // that explored, so the canary may show a few (2% of the required decisions).
    production: {
      canaryWindowSeconds: 5,
      minCanaryDecisions: sizes.minCanaryDecisions,
      maxCanaryGuardFailures: 0,
      maxCanarySafetyViolations: Math.ceil(0.02 * sizes.minCanaryDecisions),
    },
  };
}

/** Gates under which today's policy is bootstrapped into production (it predates the registry). */
const BOOTSTRAP_GATES: GateConfigInput = {
  shadow: { opeLowerBound: null },
  canary: { minShadowDecisions: 0, maxFraction: 1 },
  production: { canaryWindowSeconds: 0, minCanaryDecisions: 0 },
};

export type DemoEvent =
  | { kind: "stage"; index: number; total: number; title: string; status: "start" }
  | { kind: "stage"; index: number; total: number; title: string; status: "done"; seconds: number; lines: string[] }
  | { kind: "progress"; label: string; done: number; total: number };

export interface DemoOptions {
  dir: string;
  small?: boolean;
  /** Overrides of the chosen size preset (tests). */
  sizes?: Partial<DemoSizes>;
  seed?: number;
  /** Port of the decision service (default 0: any free port). */
  port?: number;
  /** Leave the service running; the caller stops it (`result.service.stop()`). */
  keepServing?: boolean;
  /** Replace DIR even when an earlier demo did not make it (a demo's own directory is always replaced). */
  fresh?: boolean;
  codeVersion?: string;
  onEvent?: (event: DemoEvent) => void;
}

/** What the OPE engine says about one estimate's trustworthiness (src/ope/evaluate.ts diagnostics). */
export interface EstimateFlags {
  /** The estimate leans on actions the logs (almost) never show, or on a model clipped at its value bound. */
  offSupport: boolean;
  lowSupportMass: number | null;
  modelClippedTargetFraction: number | null;
  warnings: string[];
}

function estimateFlags(estimate: EstimateReport): EstimateFlags {
  const d = estimate.diagnostics;
  return { offSupport: d.offSupport, lowSupportMass: d.lowSupportMass, modelClippedTargetFraction: d.modelClippedTargetFraction, warnings: d.warnings };
}

export interface CandidateSummary {
  name: string;
  policy: string;
  algorithm: string;
  role: "candidate" | "today" | "bad" | "retrained";
  wdr: { value: number; lower: number; upper: number; lowerBound: number; flags: EstimateFlags } | null;
  fqe: { value: number; lower: number; upper: number; flags: EstimateFlags } | null;
  /** The WDR lower bound reaches the behaviour value and the WDR estimate is not flagged off-support. */
  beatsBaseline: boolean | null;
  /** Discounted return measured in the simulator (same exploration as served). */
  trueValue: number | null;
  trueInterval: [number, number] | null;
  costPerDay: number | null;
  sloBreachRate: number | null;
}

export interface DemoResult {
  dir: string;
  store: string;
  registryUrl: string;
  logDir: string;
  datasets: { logs: string; train: string; test: string; decisionLog: string; retrain: string };
  ingest: { read: number; accepted: number; quarantined: number; reconciled: boolean; issueCounts: Record<string, number>; quarantineFile: string };
  baseline: { offline: number; lower: number; upper: number; trueValue: number; costPerDay: number; sloBreachRate: number };
  candidates: CandidateSummary[];
  /** The candidate that passed the high-confidence gate with the best lower bound, or null when none did. */
  winner: string | null;
  promoted: string | null;
  /** Gate refusals of the winner on its way to production (empty on the happy path). */
  refusals: string[];
  canaryRolledBack: { policy: string; reason: string; canaryAt: string; rolledBackAt: string; seconds: number; canaryDecisions: number | null } | null;
  /** Per traffic phase: days served, their cost and SLO breaches, and decisions per route. */
  live: Record<string, { episodes: number; costPerDay: number; sloBreachRate: number; meanReturn: number; routes: Record<string, number> }>;
  /** Served states (the decision-log dataset) against the training days (src/monitor drift report). */
  drift: { drifted: boolean; maxPsi: number; topFeature: string | null; mmdPValue: number | null };
  latency: { clientMs: { p50: number; p95: number; p99: number }; serverMs: { p50: number; p95: number; p99: number }; decisions: number };
  gates: GateConfigInput;
  seconds: number;
  commands: string[];
  /** With `keepServing`: the running service, its URL, and `stop()` (stops it and closes the registry). */
  service?: DecisionService;
  url?: string;
  stop?: () => Promise<void>;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const sizes: DemoSizes = { ...DEMO_SIZES[options.small ? "small" : "full"], ...options.sizes };
  const seed = options.seed ?? 7;
  const dir = resolve(options.dir);
  const store = join(dir, "datasets");
  const registryUrl = `sqlite:${join(dir, "registry.db")}`;
  const logDir = join(dir, "decisions");
  const runsDir = join(dir, "runs");
  const codeVersion = options.codeVersion ?? "unknown";
  const emit = options.onEvent ?? (() => undefined);
  // A directory an earlier demo created (it carries the marker file) is replaced; anything else needs --fresh.
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    if (!existsSync(join(dir, DEMO_MARKER)) && !options.fresh) {
      throw new PipelineError("demo_dir_not_empty", `${dir} is not empty and was not made by hindcast demo; pass --fresh to replace it or choose another --dir`, { dir });
    }
    rmSync(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  writeFileSync(join(dir, DEMO_MARKER), "made by hindcast demo; the next demo run replaces this directory\n");

  let stageIndex = 0;
  let stageStarted = 0;
  const begin = (): void => {
    stageIndex += 1;
    stageStarted = performance.now();
    emit({ kind: "stage", index: stageIndex, total: STAGE_TITLES.length, title: STAGE_TITLES[stageIndex - 1]!, status: "start" });
  };
  const end = (lines: string[]): void => {
    emit({ kind: "stage", index: stageIndex, total: STAGE_TITLES.length, title: STAGE_TITLES[stageIndex - 1]!, status: "done", seconds: (performance.now() - stageStarted) / 1000, lines });
  };
  const progress = (label: string) => (done: number, total: number) => emit({ kind: "progress", label, done, total });

  const registry = await openRegistry(registryUrl);
  let service: DecisionService | undefined;
  let keptServing = false;
  try {
    // 1. A year of logs from today's rule-based autoscaler with exploration.
    begin();
    const logs = await simulateLogs({
      env: DEMO_ENV,
      behavior: DEMO_BEHAVIOR,
      episodes: sizes.episodes,
      seed,
      out: join(dir, "incoming", "autoscaling-logs.parquet"),
      corruptRows: sizes.corruptRows,
      onEpisode: (e) => progress("simulate days")(e + 1, sizes.episodes),
    });
    end([
      `${logs.rows} decisions in ${logs.episodes} days from ${logs.behavior} (propensities logged) -> ${logs.dataPath}`,
      `broke ${logs.corrupted.length} rows on purpose: ${logs.corrupted.map((c) => `row ${c.row} ${c.field}=${c.value}`).join(", ")}`,
    ]);

    // 2. Ingest and validate.
    begin();
    const ingested = await ingest({ files: [logs.dataPath], schema: logs.schemaPath, dataset: "autoscaling-logs", store });
    await registerDataset(registry, ingested.manifest);
    const quarantineFile = join(store, "autoscaling-logs", `v${ingested.manifest.version}`, ingested.manifest.files.quarantine);
    end(ingestLines(ingested.report, ingested.manifest, quarantineFile));

    // 3. Split by episode.
    begin();
    const [trainManifest, testManifest] = await splitDataset({
      store,
      ref: ref(ingested.manifest),
      fractions: [0.8, 0.2],
      seed,
      names: ["autoscaling-train", "autoscaling-test"],
    });
    for (const m of [trainManifest!, testManifest!]) await registerDataset(registry, m);
    end([`${ref(trainManifest!)}: ${trainManifest!.counts.episodes} days, ${ref(testManifest!)}: ${testManifest!.counts.episodes} days (held out for OPE)`]);

    // 4. Train: candidates, today's policy (imitation of the rule-based autoscaler) and a deliberately bad one.
    begin();
    const common = { hiddenSizes: sizes.hiddenSizes, batchSize: sizes.batchSize, gamma: DEMO_GAMMA };
    // The bad candidate for the rollback drill imitates only the logged scale-down decisions: it always scales down.
    const scaleDown = await filterDataset({ store, ref: ref(trainManifest!), where: "action = 0", into: "autoscaling-train-scale-down" });
    await registerDataset(registry, scaleDown);
    const specs: Array<{ name: string; role: CandidateSummary["role"]; algorithm: string; config: Record<string, unknown>; seed: number; dataset: string }> = [
      { name: "autoscaler-bc", role: "candidate", algorithm: "discrete_bc", config: common, seed, dataset: ref(trainManifest!) },
      { name: "autoscaler-cql", role: "candidate", algorithm: "discrete_cql", config: common, seed, dataset: ref(trainManifest!) },
      { name: "autoscaler-bcq", role: "candidate", algorithm: "discrete_bcq", config: common, seed, dataset: ref(trainManifest!) },
      { name: "autoscaler-today", role: "today", algorithm: "discrete_bc", config: common, seed: seed + 1000, dataset: ref(trainManifest!) },
      { name: "autoscaler-bad", role: "bad", algorithm: "discrete_bc", config: common, seed, dataset: ref(scaleDown) },
    ];
    const trained = new Map<string, TrainedPolicy>();
    const lines: string[] = [];
    for (const spec of specs) {
      const result = await trainPolicy(
        { algorithm: spec.algorithm, config: spec.config, steps: sizes.trainSteps, seed: spec.seed },
        { store, dataset: spec.dataset, outDir: join(runsDir, spec.name), registry, codeVersion, onProgress: progress(`train ${spec.name}`) },
      );
      trained.set(spec.name, result);
      lines.push(`${spec.name.padEnd(17)} ${spec.algorithm.padEnd(13)} on ${spec.dataset.padEnd(30)} run ${result.runId}  ${sizes.trainSteps} steps in ${result.seconds.toFixed(1)}s`);
    }
    end(lines);

    // 5. OPE on the held-out days, and the high-confidence gate against the behaviour policy.
    begin();
    const test = await loadTransitions(store, ref(testManifest!));
    const evaluations = new Map<string, OfflineEvaluation>();
    for (const spec of specs.filter((s) => s.role !== "today")) {
      const evaluation = await evaluateOffline({
        transitions: test,
        artifactDir: trained.get(spec.name)!.artifactDir,
        exploration: { kind: "epsilon", epsilon: SERVE_EPSILON },
        gamma: DEMO_GAMMA,
        resamples: sizes.resamples,
        fqeSteps: sizes.fqeSteps,
        seed,
        name: spec.name,
      });
      evaluations.set(spec.name, evaluation);
      emit({ kind: "progress", label: "evaluate", done: evaluations.size, total: specs.length - 1 });
    }
    const baseline = evaluations.values().next().value!.baseline;
    const candidates = specs.filter((s) => s.role === "candidate");
    const ranked = candidates
      .map((spec) => ({ spec, evaluation: evaluations.get(spec.name)! }))
      .sort((a, b) => b.evaluation.wdr.lowerBound.value - a.evaluation.wdr.lowerBound.value);
    // An estimate the OPE engine flags as off the logs' support is no evidence (as in selectPolicies).
    const passesGate = (e: OfflineEvaluation): boolean => e.wdr.lowerBound.value >= baseline.value && !e.wdr.diagnostics.offSupport;
    const passing = ranked.filter((r) => passesGate(r.evaluation));
    const winnerSpec = passing[0]?.spec ?? null;
    // Retraining on the decision log uses the winner's algorithm, else the best-ranked candidate's.
    const retrainSpec = winnerSpec ?? ranked[0]!.spec;
    end([
      `behaviour policy (logged, discounted): ${fmt(baseline.value)}`,
      ...[...evaluations].flatMap(([name, e]) => [
        `${name.padEnd(17)} WDR ${fmt(e.wdr.value)} [${fmt(e.wdr.interval?.lower)}, ${fmt(e.wdr.interval?.upper)}] lower bound ${fmt(e.wdr.lowerBound.value)}  FQE ${fmt(e.fqe.value)} [${fmt(e.fqe.interval?.lower)}, ${fmt(e.fqe.interval?.upper)}]` +
          `  ${passesGate(e) ? "beats the behaviour policy with 95% confidence" : e.wdr.lowerBound.value >= baseline.value ? "no evidence: its WDR estimate is off the logs' support" : "not shown to beat it"}`,
        ...[e.wdr, e.fqe]
          .filter((x) => x.diagnostics.offSupport)
          .map((x) => `${" ".repeat(18)}! ${x.estimator.toUpperCase()} not to be trusted: ${flagText(estimateFlags(x))}`),
      ]),
      winnerSpec
        ? `selected ${winnerSpec.name} (highest WDR lower bound among those that pass)`
        : "no candidate is shown to beat the behaviour policy: nothing will be deployed, today's policy keeps serving",
    ]);

    // 6. Register: every trained artifact gets a policy version; evaluations and the baseline go to the registry.
    begin();
    const testRef = { name: testManifest!.name, version: testManifest!.version };
    const labels = new Map<string, string>();
    for (const spec of specs) {
      const record = await registerTrained(registry, spec.name, trained.get(spec.name)!);
      labels.set(spec.name, `${record.name}@${record.version}`);
    }
    await registry.recordEvaluation({
      policy: null,
      estimator: "logged-mean",
      value: baseline.value,
      lower: baseline.interval?.lower ?? baseline.lowerBound.value,
      upper: baseline.interval?.upper ?? baseline.value,
      split: "heldout",
      dataset: testRef,
      diagnostics: { behavior: DEMO_BEHAVIOR },
    });
    for (const [name, e] of evaluations) await recordEstimates(registry, labels.get(name)!, e, testRef);
    const winner = winnerSpec ? labels.get(winnerSpec.name)! : null;
    const today = labels.get("autoscaler-today")!;
    const bad = labels.get("autoscaler-bad")!;
    // Today's policy predates the registry: bootstrap it into production under permissive gates (audited), then
    // store the demo's real gates.
    await registry.setGates(parseGateConfig(BOOTSTRAP_GATES));
    const bootstrapReason = "bootstrap: imitation of today's rule-based autoscaler, already in production before the registry";
    await registry.promote(today, "shadow", { deployment: DEMO_DEPLOYMENT, reason: bootstrapReason });
    await registry.promote(today, "canary", { deployment: DEMO_DEPLOYMENT, fraction: 1, reason: bootstrapReason });
    await registry.promote(today, "production", { deployment: DEMO_DEPLOYMENT, reason: bootstrapReason });
    const gates = demoGates(sizes);
    await registry.setGates(parseGateConfig(gates));
    const lineage = winner ? await registry.policyLineage(winner) : null;
    end([
      lineage
        ? `${winner}: run ${lineage.run?.id} (${lineage.run?.algorithm}, seed ${lineage.run?.seed}) on ${lineage.dataset?.name}@${lineage.dataset?.version} ${lineage.dataset?.hash.slice(0, 19)}..., ${lineage.evaluations.length} evaluations`
        : `no winner; all ${specs.length} artifacts registered with their runs and evaluations`,
      `${today} bootstrapped into production of deployment "${DEMO_DEPLOYMENT}" (audited)`,
      `gates: shadow needs the WDR lower bound on the held-out days >= the behaviour policy's value; canary needs ${gates.canary!.minShadowDecisions} shadow decisions ` +
        `(at most ${gates.canary!.maxShadowSafetyViolations} unsafe); production needs ${gates.production!.minCanaryDecisions} canary decisions (at most ${gates.production!.maxCanarySafetyViolations} unsafe), ` +
        `a ${gates.production!.canaryWindowSeconds}s canary window and no guard failure`,
    ]);

    // 7. Serve in-process: shadow, then canary at 10%.
    begin();
    const settings: ServeSettingsFile = {
      deployments: {
        [DEMO_DEPLOYMENT]: {
          fallback: { action: 1 },
          exploration: { kind: "epsilon", epsilon: SERVE_EPSILON },
          ood: { ranges: true, margin: 0.5, distance: false },
          // An ops safety rule: never scale down a pool that is already more than 80% busy.
          safety: { allowedActions: [{ when: { feature: "utilisation", op: ">", value: 0.8 }, actions: [1, 2] }] },
          // Latency is left out of the guard: both arms share one process on a shared machine. alpha 0.001 bounds a
          // false rollback of an equal canary at 0.1% per canary; the bad canary still trips it within a few days.
          guard: { enabled: true, alpha: 0.001, minSamples: sizes.guardMinSamples, latency: false, errors: true, interventions: true, reward: true, rateEffect: 0.05, rewardEffect: 0.1 },
        },
      },
    };
    service = await createDecisionService({
      routing: new RegistryRoutingSource(registry, settings),
      loader: registryPolicyLoader(registry),
      logDir,
      port: options.port ?? 0,
      seed,
      pollIntervalMs: 100,
      guardIntervalMs: 50,
      trafficIntervalMs: 200,
    });
    const alerts: AlertEvent[] = [];
    service.on("alert", (event: AlertEvent) => alerts.push(event));
    const { url } = await service.start();
    const traffic: Record<string, TrafficResult> = {};
    const drive = async (label: string, episodes: number, extra: { stop?: () => boolean } = {}): Promise<TrafficResult> => {
      const result = await driveTraffic({
        url,
        env: DEMO_ENV,
        deployment: DEMO_DEPLOYMENT,
        label,
        episodes,
        seed: seed + 7919 * (Object.keys(traffic).length + 1),
        concurrency: sizes.concurrency,
        stop: extra.stop,
        onEpisode: progress(`traffic ${label}`),
      });
      traffic[label] = result;
      await sleep(450); // let the service report its traffic counters to the registry (every 200 ms)
      return result;
    };
    const serveLines: string[] = [];
    const refusals: string[] = [];
    let canaryRefusal: string | null = null;
    if (winner) {
      await registry.promote(winner, "shadow", { deployment: DEMO_DEPLOYMENT, reason: "OPE lower bound beats the behaviour policy" });
      await service.reload();
      const shadowTraffic = await drive("shadow", sizes.shadowEpisodes);
      const shadowCounters = await registry.counters(winner, "shadow");
      serveLines.push(
        `service ${url}; shadow: ${shadowTraffic.decisions} decisions over ${shadowTraffic.episodes.length} days in ${shadowTraffic.seconds.toFixed(1)}s, ` +
          `${shadowCounters.decisions} shadow decisions recorded for ${winner} (${shadowCounters.safetyViolations} would have broken the safety rule)`,
      );
      canaryRefusal = await refused(() => registry.promote(winner, "canary", { deployment: DEMO_DEPLOYMENT, fraction: CANARY_FRACTION, reason: "shadow evidence collected" }));
      if (canaryRefusal) {
        refusals.push(canaryRefusal);
        serveLines.push(`the canary gate refused ${winner}: ${canaryRefusal}`);
      } else {
        await service.reload();
        const rolledBack = (): boolean => alerts.some((a) => a.kind === "canary_rollback");
        const canaryTraffic = await drive("canary", sizes.canaryEpisodes, { stop: rolledBack });
        serveLines.push(
          `canary ${CANARY_FRACTION * 100}%: ${canaryTraffic.routes["canary"] ?? 0} of ${canaryTraffic.decisions} decisions on ${winner} over ${canaryTraffic.episodes.length} days in ${canaryTraffic.seconds.toFixed(1)}s`,
        );
      }
    } else {
      // Nothing to shadow: today's policy serves the traffic (the decision log still fills for stage 10).
      const served = await drive("production", sizes.shadowEpisodes);
      serveLines.push(`service ${url}; no candidate to shadow: ${today} served ${served.decisions} decisions over ${served.episodes.length} days`);
    }
    end(serveLines);

    // 8. Promote the winner (production gates: canary window, decisions, no guard failure).
    begin();
    let promoted: string | null = null;
    const promoteLines: string[] = [];
    const canaryNow = (await registry.routing(DEMO_DEPLOYMENT)).canary;
    if (winner && canaryNow && `${canaryNow.policy.name}@${canaryNow.policy.version}` === winner) {
      // The production gate wants the canary to have run for its window; wait out what is left of it.
      const windowMs = (gates.production?.canaryWindowSeconds ?? 0) * 1000;
      const remaining = Date.parse(canaryNow.since) + windowMs - Date.now();
      if (remaining > 0) {
        promoteLines.push(`waited ${(remaining / 1000).toFixed(1)}s for the end of the ${windowMs / 1000}s canary window`);
        await sleep(remaining + 50);
      }
      const productionRefusal = await refused(() => registry.promote(winner, "production", { deployment: DEMO_DEPLOYMENT, reason: "canary window passed with no guard failure" }));
      if (productionRefusal) {
        refusals.push(productionRefusal);
        promoteLines.push(`the production gate refused ${winner}: ${productionRefusal}; production stays ${today}`);
      } else {
        await service.reload();
        promoted = winner;
        promoteLines.push(`${winner} is production; ${today} retired`);
      }
    } else if (!winner) {
      promoteLines.push(`no winner to promote; production stays ${today}`);
    } else if (!canaryRefusal) {
      promoteLines.push(`${winner} is no longer in canary (the guard rolled it back); production stays ${today}`);
    } else {
      promoteLines.push(`${winner} never reached canary; production stays ${today}`);
    }
    end(promoteLines);

    // 9. A deliberately bad candidate as the next canary: the OPE gate refuses it, the drill relaxes that gate
    // (audited), and the canary guard rolls it back on live evidence.
    begin();
    const drillLines: string[] = [];
    const shadowRefusal = await refused(() => registry.promote(bad, "shadow", { deployment: DEMO_DEPLOYMENT, reason: "rollback drill" }));
    const inShadow = shadowRefusal === null;
    drillLines.push(
      inShadow ? `the OPE gate let ${bad} into shadow (its WDR lower bound reached the behaviour value on the held-out days)` : `the OPE gate refused ${bad}: ${shadowRefusal}`,
    );
    // The drill skips the remaining offline and shadow evidence on purpose (audited as a gate change), so that the
    // online guard is what stops the bad candidate; the demo's gates are restored right after.
    await registry.setGates(parseGateConfig({ ...gates, shadow: { opeLowerBound: null }, canary: { ...gates.canary, minShadowDecisions: 0 } }));
    if (!inShadow) await registry.promote(bad, "shadow", { deployment: DEMO_DEPLOYMENT, reason: "rollback drill: gates relaxed on purpose" });
    await registry.promote(bad, "canary", { deployment: DEMO_DEPLOYMENT, fraction: CANARY_FRACTION, reason: "rollback drill: gates relaxed on purpose" });
    await registry.setGates(parseGateConfig(gates));
    await service.reload();
    const alertsBefore = alerts.length;
    const badTraffic = await drive("bad-canary", sizes.badCanaryEpisodes, { stop: () => alerts.slice(alertsBefore).some((a) => a.kind === "canary_rollback") });
    const history = await registry.stageHistory({ deployment: DEMO_DEPLOYMENT });
    const rollback = rollbackOf(history, bad);
    if (rollback) {
      drillLines.push(`rolled back ${rollback.policy} ${rollback.seconds.toFixed(1)}s after it entered canary: ${rollback.reason}`);
    } else {
      drillLines.push(`the guard did not roll ${bad} back within ${badTraffic.episodes.length} days`);
    }
    end(drillLines);

    // 10. Fold the decision log back into a dataset version and retrain.
    begin();
    const exported = exportDecisionLog({ logDir, outDir: join(dir, "exports"), deployment: DEMO_DEPLOYMENT, actionSpace: { kind: "discrete", n: 3 } });
    const decisionLog = await ingest({ files: [exported.dataFile], schema: exported.schemaFile, dataset: "autoscaling-decision-log", store });
    await registerDataset(registry, decisionLog.manifest);
    const retrainManifest = await filterDataset({ store, ref: ref(decisionLog.manifest), where: "route <> 'killed'", into: "autoscaling-retrain" });
    await registerDataset(registry, retrainManifest);
    const retrained = await trainPolicy(
      { algorithm: retrainSpec.algorithm, config: retrainSpec.config, steps: sizes.retrainSteps, seed: seed + 1 },
      { store, dataset: ref(retrainManifest), outDir: join(runsDir, `${retrainSpec.name}-retrain`), registry, codeVersion, onProgress: progress("retrain") },
    );
    const retrainedRecord = await registerTrained(registry, retrainSpec.name, retrained);
    const retrainedLabel = `${retrainedRecord.name}@${retrainedRecord.version}`;
    // Same held-out days and estimators as the first candidates, so the estimates are comparable.
    const retrainedEvaluation = await evaluateOffline({
      transitions: test,
      artifactDir: retrained.artifactDir,
      exploration: { kind: "epsilon", epsilon: SERVE_EPSILON },
      gamma: DEMO_GAMMA,
      resamples: sizes.resamples,
      fqeSteps: sizes.fqeSteps,
      seed,
      name: retrainedLabel,
    });
    await recordEstimates(registry, retrainedLabel, retrainedEvaluation, testRef);
    // Did serving move the state distribution away from the training days? (src/monitor: PSI per feature, MMD test)
    const trainData = await loadTransitions(store, ref(trainManifest!));
    const served = await loadTransitions(store, ref(retrainManifest));
    const driftFound = driftReport(
      { rows: trainData.size, dim: trainData.observationDim, values: trainData.observations },
      { rows: served.size, dim: served.observationDim, values: served.observations },
      { featureNames: trainData.featureNames, mmd: { seed, sampleSize: 300, permutations: 200 } },
    );
    const drift = {
      drifted: driftFound.drifted,
      maxPsi: driftFound.driftIndex,
      topFeature: driftFound.features[0]?.feature ?? null,
      mmdPValue: driftFound.mmd?.pValue ?? null,
    };
    end([
      `decision log: ${exported.rows} decisions with feedback in ${exported.episodes} days -> ${ref(decisionLog.manifest)} (${decisionLog.report.accepted} accepted, ${decisionLog.report.quarantined} quarantined)`,
      `${ref(retrainManifest)} (parent ${retrainManifest.parents.map((p) => `${p.name}@${p.version}`).join(", ")}) -> retrained ${retrainedLabel} (run ${retrained.runId})`,
      `${retrainedLabel} on the held-out days: WDR ${fmt(retrainedEvaluation.wdr.value)} (lower bound ${fmt(retrainedEvaluation.wdr.lowerBound.value)}), FQE ${fmt(retrainedEvaluation.fqe.value)}`,
      `drift of served states vs the training days: max PSI ${fmt(drift.maxPsi, 3)} (${drift.topFeature}), MMD p-value ${fmt(drift.mmdPValue, 3)}: ${drift.drifted ? "drifted" : "no drift"}`,
    ]);

    // 11. Ground truth in the simulator and the summary.
    begin();
    const exploration = { kind: "epsilon" as const, epsilon: SERVE_EPSILON };
    const truthSeed = seed + 104_729;
    const behaviorTruth = await trueValue({ env: DEMO_ENV, behavior: DEMO_BEHAVIOR, episodes: sizes.truthEpisodes, seed: truthSeed, gamma: DEMO_GAMMA });
    const summaries: CandidateSummary[] = [];
    const all = [...specs.map((s) => ({ name: s.name, label: labels.get(s.name)!, algorithm: s.algorithm, role: s.role, dir: trained.get(s.name)!.artifactDir })), { name: retrainSpec.name, label: retrainedLabel, algorithm: retrainSpec.algorithm, role: "retrained" as const, dir: retrained.artifactDir }];
    for (const item of all) {
      const truth = await trueValue({ env: DEMO_ENV, artifactDir: item.dir, exploration, episodes: sizes.truthEpisodes, seed: truthSeed, gamma: DEMO_GAMMA });
      emit({ kind: "progress", label: "rollouts", done: summaries.length + 1, total: all.length });
      const e = item.role === "retrained" ? retrainedEvaluation : evaluations.get(item.name);
      summaries.push({
        name: item.name,
        policy: item.label,
        algorithm: item.algorithm,
        role: item.role,
        wdr: e ? { value: e.wdr.value, lower: e.wdr.interval?.lower ?? Number.NaN, upper: e.wdr.interval?.upper ?? Number.NaN, lowerBound: e.wdr.lowerBound.value, flags: estimateFlags(e.wdr) } : null,
        fqe: e ? { value: e.fqe.value, lower: e.fqe.interval?.lower ?? Number.NaN, upper: e.fqe.interval?.upper ?? Number.NaN, flags: estimateFlags(e.fqe) } : null,
        beatsBaseline: e ? passesGate(e) : null,
        trueValue: truth.discounted?.mean ?? null,
        trueInterval: truth.discounted?.ci95 ?? null,
        costPerDay: truth.figures["cost_per_day"]?.mean ?? null,
        sloBreachRate: truth.figures["slo_breach_rate"]?.mean ?? null,
      });
    }
    const { records } = readDecisionLog(logDir);
    const serverLatencies = Float64Array.from(records.filter((r): r is DecisionRecord => r.kind === "decision").map((r) => r.latencyUs / 1000));
    const clientLatencies = concat(Object.values(traffic).map((t) => t.latenciesMs));
    const [c50, c95, c99] = percentiles(clientLatencies, [0.5, 0.95, 0.99]);
    const [s50, s95, s99] = percentiles(serverLatencies, [0.5, 0.95, 0.99]);
    const live: DemoResult["live"] = {};
    for (const [label, t] of Object.entries(traffic)) live[label] = { ...summarizeEpisodes(t.episodes), routes: t.routes };
    const result: DemoResult = {
      dir,
      store,
      registryUrl,
      logDir,
      datasets: {
        logs: ref(ingested.manifest),
        train: ref(trainManifest!),
        test: ref(testManifest!),
        decisionLog: ref(decisionLog.manifest),
        retrain: ref(retrainManifest),
      },
      ingest: {
        read: ingested.report.read,
        accepted: ingested.report.accepted,
        quarantined: ingested.report.quarantined,
        reconciled: ingested.report.reconciled,
        issueCounts: ingested.report.issueCounts,
        quarantineFile,
      },
      baseline: {
        offline: baseline.value,
        lower: baseline.interval?.lower ?? Number.NaN,
        upper: baseline.interval?.upper ?? Number.NaN,
        trueValue: behaviorTruth.discounted?.mean ?? Number.NaN,
        costPerDay: behaviorTruth.figures["cost_per_day"]?.mean ?? Number.NaN,
        sloBreachRate: behaviorTruth.figures["slo_breach_rate"]?.mean ?? Number.NaN,
      },
      candidates: summaries,
      winner,
      promoted,
      refusals,
      canaryRolledBack: rollback,
      live,
      drift,
      latency: { clientMs: { p50: c50!, p95: c95!, p99: c99! }, serverMs: { p50: s50!, p95: s95!, p99: s99! }, decisions: serverLatencies.length },
      gates,
      seconds: 0,
      commands: [
        `hindcast policies lineage ${promoted ?? winner ?? labels.get(retrainSpec.name)!} --registry ${registryUrl}`,
        `hindcast policies lineage ${retrainedLabel} --registry ${registryUrl}`,
        `hindcast audit --registry ${registryUrl} --action policy.rollback`,
        `hindcast audit --registry ${registryUrl} --subject ${bad}`,
        `hindcast stats ${ref(ingested.manifest)} --store ${store}`,
        `hindcast datasets lineage ${ref(retrainManifest)} --store ${store}`,
        `hindcast policies routing --registry ${registryUrl}`,
      ],
    };
    end([`${summaries.length} policies and the behaviour policy rolled out for ${sizes.truthEpisodes} simulated days each`]);
    result.seconds = (performance.now() - started) / 1000;
    if (options.keepServing) {
      const kept = service;
      keptServing = true;
      result.service = kept;
      result.url = url;
      result.stop = async () => {
        await kept.stop();
        await registry.close();
      };
    }
    return result;
  } finally {
    // With keepServing (and success) the caller stops the service and closes the registry through `result.stop()`.
    if (!keptServing) {
      if (service) await service.stop().catch(() => undefined);
      await registry.close();
    }
  }
}

/** Records a policy's WDR and FQE estimates (lower = the one-sided lower bound the gates use). */
async function recordEstimates(registry: Registry, policy: string, evaluation: OfflineEvaluation, dataset: { name: string; version: number }): Promise<void> {
  for (const estimate of [evaluation.wdr, evaluation.fqe]) {
    await registry.recordEvaluation({
      policy,
      estimator: estimate.estimator,
      value: estimate.value,
      lower: estimate.lowerBound.value,
      upper: estimate.interval?.upper ?? estimate.value,
      confidence: estimate.lowerBound.confidence,
      split: "heldout",
      dataset,
      diagnostics: { ...estimate.diagnostics, interval: estimate.interval, exploration: { kind: "epsilon", epsilon: SERVE_EPSILON } },
    });
  }
}

/** Runs a promotion; a gate refusal (registry code promotion_refused) is a result, returned as its message. */
async function refused(operation: () => Promise<unknown>): Promise<string | null> {
  try {
    await operation();
    return null;
  } catch (error) {
    if ((error as { code?: unknown }).code === "promotion_refused") return (error as Error).message;
    throw error;
  }
}

function ref(manifest: DatasetManifest): string {
  return `${manifest.name}@${manifest.version}`;
}

function ingestLines(report: IngestReport, manifest: DatasetManifest, quarantineFile: string): string[] {
  const findings = Object.entries(report.issueCounts)
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");
  return [
    `${ref(manifest)}: read ${report.read}, accepted ${report.accepted}, quarantined ${report.quarantined} (accepted + quarantined = read: ${report.reconciled ? "yes" : "NO"})`,
    `findings: ${findings || "none"}`,
    ...report.issues.filter((i) => i.code !== "episode_rejected").slice(0, 6).map((i) => `  row ${i.row}  ${i.code}  ${i.message}`),
    `quarantine: ${quarantineFile}`,
  ];
}

/** The bad canary's entry into canary and its rollback, from the registry's stage history. */
function rollbackOf(history: StageChange[], policy: string): DemoResult["canaryRolledBack"] {
  const entered = history.filter((c) => c.policy === policy && c.toStage === "canary").at(-1);
  const rolled = history.filter((c) => c.policy === policy && c.toStage === "rolled_back").at(-1);
  if (!entered || !rolled) return null;
  const match = /over (\d+), control/.exec(rolled.reason);
  return {
    policy,
    reason: rolled.reason,
    canaryAt: entered.at,
    rolledBackAt: rolled.at,
    seconds: (Date.parse(rolled.at) - Date.parse(entered.at)) / 1000,
    canaryDecisions: match ? Number(match[1]) : null,
  };
}

function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One estimate's off-support diagnostics in words (empty when the estimate is not flagged). */
export function flagText(flags: EstimateFlags): string {
  if (!flags.offSupport) return "";
  const parts: string[] = [];
  if (flags.lowSupportMass !== null && flags.lowSupportMass > 0) parts.push(`${(100 * Math.min(1, flags.lowSupportMass)).toFixed(0)}% of the policy's mass is on actions the logs rarely take there`);
  if (flags.modelClippedTargetFraction !== null && flags.modelClippedTargetFraction > 0) parts.push(`${(100 * flags.modelClippedTargetFraction).toFixed(1)}% of the model's targets hit the value bound (it extrapolates)`);
  if (flags.warnings.some((w) => w.includes("never seen in the logs"))) parts.push("it takes actions never seen in the logs");
  return `off the logs' support: ${parts.length > 0 ? parts.join("; ") : "see the OPE warnings"}`;
}

export function fmt(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "-";
  return value.toFixed(digits);
}
