/**
 * The closed loop's building blocks, shared by `runDemo` and `runPipeline`: log a behaviour policy (optionally with
 * a few deliberately corrupted rows), train one candidate with a registry run around it, evaluate a policy
 * artifact off-policy (WDR + FQE with bootstrap intervals) and measure its true value in the simulator.
 * Everything here only wires the modules below (envs, data, algos, policy, ope, registry) together.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createAlgorithm } from "../algos/registry.js";
import type { DatasetManifest } from "../data/store.js";
import { loadTransitions } from "../data/loader.js";
import type { Transitions } from "../data/transitions.js";
import { writeColumns } from "../data/write-columns.js";
import { parseBehavior } from "../envs/behavior.js";
import { Rng } from "../random/index.js";
import { heuristicController, makeEnv } from "../envs/registry.js";
import { rollout, type RolloutResult } from "../envs/rollout.js";
import { datasetColumns, datasetSchemaFor, simulateDataset } from "../envs/simulate.js";
import { evaluatePolicy, type EstimateReport, type OpeReport } from "../ope/evaluate.js";
import type { PolicyManifest } from "../policy/manifest.js";
import { loadPolicy, type Exploration } from "../policy/runtime.js";
import type { PolicyRecord, Registry } from "../registry/types.js";
import { registerArtifact, trackRun } from "./track-run.js";

/** A stable content hash of any JSON value (object keys sorted), "sha256:<hex>". */
export function contentHash(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export interface CorruptedRow {
  /** 1-based data row in the written file (what the quarantine report names). */
  row: number;
  episode: number;
  field: string;
  value: number;
}

export interface SimulatedLogs {
  dataPath: string;
  schemaPath: string;
  rows: number;
  episodes: number;
  behavior: string;
  /** Mean undiscounted return of the logged episodes. */
  meanReturn: number;
  corrupted: CorruptedRow[];
}

/**
 * Logs `episodes` episodes of a behaviour policy to a Parquet file plus its schema, then (when `corruptRows` > 0)
 * breaks that many rows on purpose, each in a different episode and each a different kind of fault the validator
 * must catch: a NaN reward, an action outside the space, a propensity above 1, a reward outside the declared range.
 */
export async function simulateLogs(options: {
  env: string;
  behavior: string;
  episodes: number;
  seed: number;
  out: string;
  corruptRows?: number;
  onEpisode?: (episode: number) => void;
}): Promise<SimulatedLogs> {
  const dataset = simulateDataset({ env: options.env, behavior: options.behavior, episodes: options.episodes, seed: options.seed, onEpisode: options.onEpisode });
  const columns = datasetColumns(dataset);
  const t = dataset.transitions;
  const corrupted: CorruptedRow[] = [];
  const count = Math.min(options.corruptRows ?? 0, t.episodeStarts.length - 1);
  if (count > 0) {
    const rewards = Float64Array.from(columns.reward as Float64Array);
    const actions = t.actionSpace.kind === "discrete" ? Int32Array.from(columns.action as Int32Array) : null;
    const propensityColumn = t.actionSpace.kind === "discrete" ? "propensity" : "log_density";
    const propensities = Float64Array.from(columns[propensityColumn] as Float64Array);
    const rng = new Rng(options.seed ^ 0x5eed);
    const episodes = t.episodeStarts.length - 1;
    const stride = episodes / count;
    for (let k = 0; k < count; k++) {
      const episode = Math.min(episodes - 1, Math.floor(k * stride + rng.uniform() * stride));
      const start = t.episodeStarts[episode]!;
      const length = t.episodeStarts[episode + 1]! - start;
      const row = start + rng.int(length);
      const kind = actions ? k % 4 : [0, 3][k % 2]!;
      if (kind === 0) {
        rewards[row] = Number.NaN;
        corrupted.push({ row: row + 1, episode, field: "reward", value: Number.NaN });
      } else if (kind === 1) {
        actions![row] = (t.actionSpace as { n: number }).n + 4;
        corrupted.push({ row: row + 1, episode, field: "action", value: actions![row]! });
      } else if (kind === 2) {
        propensities[row] = 1.5;
        corrupted.push({ row: row + 1, episode, field: propensityColumn, value: 1.5 });
      } else {
        rewards[row] = dataset.rewardRange.min - 100;
        corrupted.push({ row: row + 1, episode, field: "reward", value: rewards[row]! });
      }
    }
    columns.reward = rewards;
    if (actions) columns.action = actions;
    columns[propensityColumn] = propensities;
  }
  await mkdir(join(options.out, ".."), { recursive: true });
  await writeColumns(options.out, columns, "parquet");
  const schemaPath = `${options.out}.schema.json`;
  writeFileSync(schemaPath, JSON.stringify(datasetSchemaFor(dataset), null, 2) + "\n");
  const meanReturn = dataset.returns.reduce((a, b) => a + b, 0) / dataset.returns.length;
  return { dataPath: options.out, schemaPath, rows: t.size, episodes: options.episodes, behavior: dataset.behavior, meanReturn, corrupted };
}

/** Records a stored dataset version in the registry (idempotent for the same name, version and hash). */
export async function registerDataset(registry: Registry, manifest: DatasetManifest): Promise<void> {
  await registry.registerDatasetVersion({ name: manifest.name, version: manifest.version, hash: manifest.contentHash, manifest: manifest as unknown as Record<string, unknown> });
}

export interface TrainSpec {
  algorithm: string;
  /** Hyperparameters over the algorithm's defaults (validated by the algorithm's schema). */
  config?: Record<string, unknown>;
  steps: number;
  seed: number;
}

export interface TrainedPolicy {
  runId: number;
  artifactDir: string;
  manifest: PolicyManifest;
  seconds: number;
  /** True when a finished artifact from an earlier (interrupted) attempt was reused. */
  reused: boolean;
  /** The checkpoint step an interrupted run was resumed from, or null. */
  resumedFrom: number | null;
}

/**
 * Trains one candidate on a stored dataset version inside a registry run. A run directory left by a crash is
 * resumed from its last checkpoint; a finished artifact in it is reused.
 */
export async function trainPolicy(
  spec: TrainSpec,
  options: {
    store: string;
    dataset: string;
    outDir: string;
    registry: Registry;
    codeVersion: string;
    onProgress?: (step: number, steps: number) => void;
  },
): Promise<TrainedPolicy> {
  const started = performance.now();
  const artifactDir = join(options.outDir, "policy");
  const algorithm = createAlgorithm(spec.algorithm, { base: spec.config ?? {}, source: `${spec.algorithm} config` });
  const transitions = await loadTransitions(options.store, options.dataset);
  const dataset = { name: transitions.manifest.name, version: transitions.manifest.version, hash: transitions.manifest.contentHash };
  const tracked = await trackRun(
    options.registry,
    {
      algorithm: algorithm.name,
      config: algorithm.config as unknown as Record<string, unknown>,
      seed: spec.seed,
      dataset: transitions.manifest,
      codeVersion: options.codeVersion,
      artifacts: { policy: artifactDir, run: options.outDir },
    },
    async (tracker) => {
      if (existsSync(join(artifactDir, "manifest.json"))) {
        return { manifest: JSON.parse(readFileSync(join(artifactDir, "manifest.json"), "utf8")) as PolicyManifest, reused: true, resumedFrom: null };
      }
      const resume = existsSync(join(options.outDir, "checkpoints", "last", "state.json"));
      // A run killed before its first checkpoint has nothing to resume from: start it again from scratch.
      if (!resume && existsSync(join(options.outDir, "run.json"))) await rm(options.outDir, { recursive: true, force: true });
      const result = await algorithm.fit(transitions, {
        steps: spec.steps,
        seed: spec.seed,
        outDir: options.outDir,
        resume,
        logEvery: Math.max(1, Math.min(100, Math.floor(spec.steps / 10))),
        dataset,
        codeVersion: options.codeVersion,
        onProgress: (event) => {
          tracker.log(event.step, { ...event.losses, ...event.evaluation });
          options.onProgress?.(event.step, event.steps);
        },
      });
      const manifest = await algorithm.save(artifactDir);
      await algorithm.releasePolicy();
      return { manifest, reused: false, resumedFrom: result.startStep > 0 ? result.startStep : null };
    },
  );
  const { manifest, reused, resumedFrom } = tracked.result;
  return { runId: tracked.run.id, artifactDir, manifest, seconds: (performance.now() - started) / 1000, reused, resumedFrom };
}

/** Registers a trained artifact as policy NAME (a new version unless the same artifact is already registered). */
export function registerTrained(registry: Registry, name: string, trained: TrainedPolicy): Promise<PolicyRecord> {
  return registerArtifact(registry, name, trained.artifactDir, trained.manifest, trained.runId);
}

export interface OfflineEvaluation {
  wdr: EstimateReport;
  fqe: EstimateReport;
  baseline: OpeReport["baseline"];
  report: OpeReport;
}

/** WDR and FQE estimates (bootstrap intervals over episodes) of an artifact acting with `exploration`. */
export async function evaluateOffline(options: {
  transitions: Transitions;
  artifactDir: string;
  exploration: Exploration;
  gamma: number;
  resamples: number;
  fqeSteps: number;
  seed: number;
  name?: string;
}): Promise<OfflineEvaluation> {
  const policy = await loadPolicy(options.artifactDir, { exploration: options.exploration, seed: options.seed });
  try {
    const report = await evaluatePolicy({
      transitions: options.transitions,
      policy,
      policyName: options.name,
      estimators: ["wdr", "fqe"],
      gamma: options.gamma,
      bootstrap: { resamples: options.resamples, seed: options.seed },
      fqe: { steps: options.fqeSteps, seed: options.seed },
      seed: options.seed,
    });
    const byName = (name: string) => report.estimates.find((e) => e.estimator === name)!;
    return { wdr: byName("wdr"), fqe: byName("fqe"), baseline: report.baseline, report };
  } finally {
    await policy.close();
  }
}

/** Ground truth: rollouts of an artifact (acting with `exploration`) or of a behaviour spec in the simulator. */
export async function trueValue(options: {
  env: string;
  artifactDir?: string;
  behavior?: string;
  exploration?: Exploration;
  episodes: number;
  seed: number;
  gamma: number;
}): Promise<RolloutResult> {
  const env = makeEnv(options.env);
  if (options.artifactDir) {
    const policy = await loadPolicy(options.artifactDir, { exploration: options.exploration ?? { kind: "greedy" }, seed: options.seed });
    try {
      return await rollout(env, policy, { episodes: options.episodes, seed: options.seed, gamma: options.gamma });
    } finally {
      await policy.close();
    }
  }
  const behavior = parseBehavior(options.behavior ?? "heuristic", env, heuristicController(env.name));
  return rollout(env, behavior, { episodes: options.episodes, seed: options.seed, gamma: options.gamma });
}
