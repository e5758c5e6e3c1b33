/**
 * The training loop every algorithm shares: preprocessing, seeded minibatches, the progress bar, metrics JSONL,
 * periodic checkpoints (labelled "last" and "best"), periodic evaluation, and bit-for-bit resume.
 *
 * Reproducibility: the minibatch rows and the step's noise at step t come from `new Rng(stepSeed(seed, t))`, so a
 * step's randomness depends only on (seed, t), never on how many steps ran in this process. Resuming therefore
 * needs only the parameters and optimizer state (safetensors via nn) and the step counter.
 *
 * Run directory (`outDir`):
 *   run.json                      algorithm, resolved config, seed, dataset, schedule (checked on --resume)
 *   metrics.jsonl                 one line per logging window: {step, kind: "train", losses...} and
 *                                 {step, kind: "eval", evaluator, score, ...}
 *   checkpoints/last/             weights.safetensors + state.json (step, best so far)
 *   checkpoints/best/             the same for the best evaluation score, plus policy/ (a policy artifact)
 */
import { appendFile, cp, mkdir, readFile, rename, rm, truncate, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SingleBar } from "cli-progress";
import type { Transitions } from "../data/transitions.js";
import { Rng } from "../nn/index.js";
import type { PolicyManifest } from "../policy/manifest.js";
import type { Exploration, Policy } from "../policy/runtime.js";
import { openPolicy } from "../policy/runtime.js";
import { writePolicyArtifact } from "../policy/artifact.js";
import type { AlgorithmDefinition, Learner } from "./algorithm.js";
import type { CommonConfig } from "./config.js";
import { AlgoError } from "./errors.js";
import type { Preprocessing } from "./preprocessing.js";
import { allocateBatch, fitPreprocessing, gatherBatch, policyManifestDraft, prepareTrainingView } from "./preprocessing.js";

/** Periodic evaluation of the current policy. `score` (higher is better) decides the best checkpoint. */
export interface Evaluator {
  /** "online": rollouts in a simulator; "offline": an estimate from logged data only. */
  kind: "online" | "offline";
  name: string;
  /** How the evaluated policy explores (default greedy); e.g. Gaussian when an estimator needs densities. */
  exploration?: Exploration;
  evaluate(policy: Policy, step: number): Promise<{ score: number } & Record<string, number>>;
}

export interface ProgressEvent {
  step: number;
  steps: number;
  stepsPerSecond: number;
  /** Mean of each loss over the latest logging window. */
  losses: Record<string, number>;
  evaluation?: Record<string, number>;
}

export interface FitOptions {
  steps: number;
  seed: number;
  /** Run directory for metrics and checkpoints; without it nothing is written and resume is impossible. */
  outDir?: string;
  resume?: boolean;
  /** Checkpoint period in steps (default: steps / 10, at least 100). The final step is always checkpointed. */
  checkpointEvery?: number;
  /** Evaluation period in steps (default: checkpointEvery). */
  evaluateEvery?: number;
  /** Metrics line period in steps (default 100); windows also close at checkpoints and at the end. */
  logEvery?: number;
  evaluate?: Evaluator;
  onProgress?: (event: ProgressEvent) => void;
  /** Draw a cli-progress bar on stderr. */
  progressBar?: boolean;
  dataset?: { name: string; version: number; hash: string };
  codeVersion?: string;
  backend?: "ort" | "interpreter";
  threads?: number;
  /** ORT threads spin-wait between parallel sections (see LearnerContext.spinWait). */
  spinWait?: boolean;
  /**
   * Gradient steps per ONNX call (default 10). The trainer uses the largest divisor of this that also divides the
   * run length, the logging/checkpoint/evaluation periods and the resume point, so results do not depend on it.
   */
  stepsPerCall?: number;
}

export interface FitResult {
  learner: Learner;
  /** The K actually used (see FitOptions.stepsPerCall). */
  stepsPerCall: number;
  preprocessing: Preprocessing;
  /** Step the run started from (0, or the checkpoint's step when resumed). */
  startStep: number;
  steps: number;
  finalMetrics: Record<string, number>;
  best?: { step: number; score: number };
  runDir?: string;
}

interface CheckpointState {
  label: "last" | "best";
  step: number;
  best?: { step: number; score: number };
  metrics: Record<string, number>;
}

const RUN_FILE = "run.json";
const METRICS_FILE = "metrics.jsonl";
const WEIGHTS_FILE = "weights.safetensors";
const STATE_FILE = "state.json";

/** A 32-bit seed for step t of a run seeded with `seed` (murmur3 finaliser over both). */
export function stepSeed(seed: number, step: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(step >>> 0, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export async function train<C extends CommonConfig>(
  definition: AlgorithmDefinition<C>,
  config: C,
  transitions: Transitions,
  options: FitOptions,
): Promise<FitResult> {
  if (transitions.actionSpace.kind !== definition.actionKind) {
    throw new AlgoError(
      "dataset_unsupported",
      `${definition.name} needs ${definition.actionKind} actions; the dataset's are ${transitions.actionSpace.kind}`,
      { field: "actionSpace", value: transitions.actionSpace.kind, expected: definition.actionKind },
    );
  }
  if (transitions.size === 0) throw new AlgoError("dataset_unsupported", "the dataset has no transitions", { value: 0 });
  if (!Number.isInteger(options.steps) || options.steps < 1) {
    throw new AlgoError("config_invalid", `steps must be a positive integer, got ${options.steps}`, { field: "steps", value: options.steps });
  }
  const steps = options.steps;
  // On resume, periods not given explicitly are the recorded run's (so a run can be extended with a larger --steps).
  const recorded = options.resume && options.outDir ? await recordedSchedule(options.outDir) : undefined;
  const checkpointEvery = options.checkpointEvery ?? recorded?.checkpointEvery ?? Math.max(100, Math.floor(steps / 10));
  const evaluateEvery = options.evaluateEvery ?? recorded?.evaluateEvery ?? checkpointEvery;
  const logEvery = options.logEvery ?? recorded?.logEvery ?? 100;
  for (const [field, value] of Object.entries({ checkpointEvery, evaluateEvery, logEvery })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new AlgoError("config_invalid", `${field} must be a positive integer, got ${value}`, { field, value });
    }
  }

  const preprocessing = fitPreprocessing(transitions, config);
  const view = prepareTrainingView(transitions, preprocessing);
  const runDir = options.outDir;
  const run = {
    algorithm: definition.name,
    config,
    seed: options.seed,
    dataset: options.dataset ?? null,
    schedule: { checkpointEvery, evaluateEvery, logEvery },
    evaluator: options.evaluate ? { kind: options.evaluate.kind, name: options.evaluate.name } : null,
  };
  let startStep = 0;
  let best: { step: number; score: number } | undefined;
  let lastMetrics: Record<string, number> = {};
  if (runDir) {
    const runFile = join(runDir, RUN_FILE);
    if (options.resume) {
      const resumed = await readLastCheckpoint(runDir, run);
      startStep = resumed.step;
      best = resumed.best;
      lastMetrics = resumed.metrics;
    } else {
      if (existsSync(runFile)) {
        throw new AlgoError("run_exists", `${runDir} already holds a run; pass --resume to continue it or choose another --out`, {
          file: runFile,
        });
      }
      await mkdir(join(runDir, "checkpoints"), { recursive: true });
      await writeFile(runFile, JSON.stringify({ ...run, codeVersion: options.codeVersion ?? "unknown", createdAt: new Date().toISOString() }, null, 2) + "\n");
      await writeFile(join(runDir, METRICS_FILE), "");
    }
  } else if (options.resume) {
    throw new AlgoError("run_not_resumable", "resume needs the run directory (outDir)", { field: "outDir" });
  }

  const stepsPerCall = [steps, logEvery, checkpointEvery, evaluateEvery, startStep, ...(definition.stepPeriods?.(config) ?? [])]
    .filter((period) => period > 0)
    .reduce(greatestCommonDivisor, options.stepsPerCall ?? 10);
  const learner = await definition.build(config, {
    observationDim: transitions.observationDim,
    actionSpace: transitions.actionSpace,
    seed: options.seed,
    backend: options.backend ?? "ort",
    threads: options.threads ?? 1,
    spinWait: options.spinWait,
    stepsPerCall,
    totalSteps: steps,
  });
  if (runDir && options.resume) {
    await learner.loadCheckpoint(join(runDir, "checkpoints", "last", WEIGHTS_FILE));
    await truncateMetrics(join(runDir, METRICS_FILE), startStep);
  }

  const bar = options.progressBar
    ? new SingleBar(
        {
          format: `${definition.name} |{bar}| {value}/{total} steps | {rate} steps/s | {losses}`,
          hideCursor: true,
          stream: process.stderr,
          etaBuffer: 50,
          fps: 5,
        },
        undefined,
      )
    : undefined;
  bar?.start(steps, startStep, { rate: "-", losses: "" });

  const batchSize = config.batchSize;
  const batch = allocateBatch(view, batchSize * stepsPerCall);
  const indices = new Int32Array(batchSize * stepsPerCall);
  const rngs: Rng[] = new Array(stepsPerCall);
  const sums: Record<string, number> = {};
  // Per metric: some (e.g. TD3+BC's actor loss) are only computed on some steps.
  const counts: Record<string, number> = {};
  let windowSteps = 0;
  let windowStart = performance.now();
  let rate = 0;

  const closeWindow = async (step: number): Promise<Record<string, number>> => {
    const now = performance.now();
    rate = (windowSteps * 1000) / Math.max(now - windowStart, 1e-6);
    const losses: Record<string, number> = {};
    for (const key of Object.keys(sums)) {
      losses[key] = sums[key] / counts[key];
      delete sums[key];
      delete counts[key];
    }
    windowSteps = 0;
    windowStart = now;
    lastMetrics = { ...lastMetrics, ...losses };
    if (runDir) await appendFile(join(runDir, METRICS_FILE), JSON.stringify({ step, kind: "train", ...losses }) + "\n");
    options.onProgress?.({ step, steps, stepsPerSecond: rate, losses });
    bar?.update(step, { rate: rate.toFixed(0), losses: formatLosses(losses) });
    return losses;
  };

  // Each call runs steps firstStep .. firstStep + K - 1; K divides every period, so events fall on call boundaries.
  for (let firstStep = startStep + 1; firstStep <= steps; firstStep += stepsPerCall) {
    for (let k = 0; k < stepsPerCall; k++) {
      const rng = new Rng(stepSeed(options.seed, firstStep + k));
      const rows = rng.fillInts(view.rows.length, indices.subarray(k * batchSize, (k + 1) * batchSize));
      for (let b = 0; b < batchSize; b++) rows[b] = view.rows[rows[b]!]!;
      rngs[k] = rng;
    }
    gatherBatch(view, indices, batch);
    const perStep = await learner.update(batch, rngs, firstStep);
    for (let k = 0; k < stepsPerCall; k++) {
      const losses = perStep[k];
      for (const key in losses) {
        const value = losses[key];
        if (!Number.isFinite(value)) {
          bar?.stop();
          const at = firstStep + k;
          throw new AlgoError("training_diverged", `${definition.name}: ${key} became ${value} at step ${at}`, { field: key, step: at, value: String(value) });
        }
        sums[key] = (sums[key] ?? 0) + value;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }
    windowSteps += stepsPerCall;
    const step = firstStep + stepsPerCall - 1;

    const isLast = step === steps;
    const checkpointNow = isLast || step % checkpointEvery === 0;
    if (step % logEvery === 0 || checkpointNow) await closeWindow(step);
    else bar?.update(step);

    if (options.evaluate && (isLast || step % evaluateEvery === 0)) {
      const evaluation = await evaluateNow(definition, config, options, preprocessing, learner, step);
      lastMetrics = { ...lastMetrics, ...prefixKeys("eval_", evaluation) };
      if (runDir) {
        await appendFile(join(runDir, METRICS_FILE), JSON.stringify({ step, kind: "eval", evaluator: options.evaluate.name, ...evaluation }) + "\n");
      }
      options.onProgress?.({ step, steps, stepsPerSecond: rate, losses: {}, evaluation });
      if (!best || evaluation.score > best.score) {
        best = { step, score: evaluation.score };
        if (runDir) await saveBest(runDir, definition, config, options, preprocessing, learner, step, best, lastMetrics);
      }
    }
    if (runDir && checkpointNow) {
      await saveCheckpoint(join(runDir, "checkpoints", "last"), learner, { label: "last", step, best, metrics: lastMetrics });
    }
  }
  bar?.stop();
  return { learner, stepsPerCall, preprocessing, startStep, steps, finalMetrics: lastMetrics, best, runDir };
}

async function evaluateNow<C extends CommonConfig>(
  definition: AlgorithmDefinition<C>,
  config: C,
  options: FitOptions,
  preprocessing: Preprocessing,
  learner: Learner,
  step: number,
): Promise<{ score: number } & Record<string, number>> {
  const exported = learner.exportPolicy();
  const draft = policyManifestDraft(definition.name, preprocessing, exported, config, options.seed, options.codeVersion ?? "unknown", {});
  const manifest: PolicyManifest = {
    ...draft,
    format: "hindcast.policy/v1",
    onnx: { file: "policy.onnx", sha256: "0".repeat(64), input: "obs", ...draft.onnx },
    createdAt: new Date().toISOString(),
  };
  const policy = await openPolicy(manifest, exported.onnxModel, { verifyIntegrity: false, seed: options.seed, exploration: options.evaluate!.exploration });
  try {
    return await options.evaluate!.evaluate(policy, step);
  } finally {
    await policy.close();
  }
}

async function saveCheckpoint(dir: string, learner: Learner, state: CheckpointState): Promise<void> {
  // Write into a sibling folder and swap it in, so a crash mid-write leaves the previous checkpoint intact.
  const staging = `${dir}.writing`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await learner.saveCheckpoint(join(staging, WEIGHTS_FILE));
  await writeFile(join(staging, STATE_FILE), JSON.stringify(state, null, 2) + "\n");
  const previous = `${dir}.previous`;
  await rm(previous, { recursive: true, force: true });
  if (existsSync(dir)) await rename(dir, previous);
  await rename(staging, dir);
  await rm(previous, { recursive: true, force: true });
}

async function saveBest<C extends CommonConfig>(
  runDir: string,
  definition: AlgorithmDefinition<C>,
  config: C,
  options: FitOptions,
  preprocessing: Preprocessing,
  learner: Learner,
  step: number,
  best: { step: number; score: number },
  metrics: Record<string, number>,
): Promise<void> {
  const dir = join(runDir, "checkpoints", "best");
  await saveCheckpoint(dir, learner, { label: "best", step, best, metrics });
  const exported = learner.exportPolicy();
  const draft = policyManifestDraft(definition.name, preprocessing, exported, config, options.seed, options.codeVersion ?? "unknown", metrics);
  await writePolicyArtifact(join(dir, "policy"), exported.onnxModel, { ...draft, dataset: options.dataset });
}

async function recordedSchedule(runDir: string): Promise<{ checkpointEvery?: number; evaluateEvery?: number; logEvery?: number } | undefined> {
  try {
    const recorded = JSON.parse(await readFile(join(runDir, RUN_FILE), "utf8")) as { schedule?: Record<string, number> };
    return recorded.schedule;
  } catch {
    return undefined; // reported with its own error by readLastCheckpoint
  }
}

/** Checks the recorded run matches this one and reads the last checkpoint's state (weights are loaded later). */
async function readLastCheckpoint(runDir: string, run: Record<string, unknown>): Promise<CheckpointState> {
  const runFile = join(runDir, RUN_FILE);
  let recorded: Record<string, unknown>;
  try {
    recorded = JSON.parse(await readFile(runFile, "utf8")) as Record<string, unknown>;
  } catch {
    throw new AlgoError("run_not_resumable", `${runDir} holds no run to resume (${RUN_FILE} missing or unreadable)`, { file: runFile });
  }
  for (const key of ["algorithm", "config", "seed", "dataset", "schedule", "evaluator"]) {
    if (JSON.stringify(recorded[key] ?? null) !== JSON.stringify(run[key] ?? null)) {
      throw new AlgoError("run_not_resumable", `cannot resume ${runDir}: ${key} differs from the recorded run`, {
        file: runFile,
        field: key,
        value: run[key],
        expected: recorded[key],
      });
    }
  }
  const dir = join(runDir, "checkpoints", "last");
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(dir, STATE_FILE), "utf8")) as CheckpointState;
  } catch {
    throw new AlgoError("run_not_resumable", `${runDir} has no checkpoint yet`, { file: join(dir, STATE_FILE) });
  }
  return state;
}

/** Drops metric lines written after the checkpoint we resume from (they will be recomputed identically). */
async function truncateMetrics(file: string, step: number): Promise<void> {
  if (!existsSync(file)) return;
  const text = await readFile(file, "utf8");
  let keep = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") break;
    const record = JSON.parse(line) as { step: number };
    if (record.step > step) break;
    keep += Buffer.byteLength(line, "utf8") + 1;
  }
  await truncate(file, keep);
}

/** Copies a labelled checkpoint's policy artifact (e.g. best) to `target`. */
export async function copyBestPolicy(runDir: string, target: string): Promise<boolean> {
  const source = join(runDir, "checkpoints", "best", "policy");
  if (!existsSync(source)) return false;
  await cp(source, target, { recursive: true });
  return true;
}

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

function prefixKeys(prefix: string, record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [prefix + k, v]));
}

function formatLosses(losses: Record<string, number>): string {
  return Object.entries(losses)
    .filter(([key]) => key.endsWith("loss"))
    .slice(0, 4)
    .map(([key, value]) => `${key} ${Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : value.toFixed(4)}`)
    .join("  ");
}
