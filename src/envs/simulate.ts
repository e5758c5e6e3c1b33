/**
 * Logged datasets from a simulator and a behaviour policy: in memory as `Transitions` (for tests and demos) and as
 * files in the ingest format (Parquet/CSV/JSONL) with a matching `FILE.schema.json`, ready for `hindcast ingest`.
 * Episode e uses the same seeds as `rollout` (env: deriveSeed(seed, 2e), policy: deriveSeed(seed, 2e + 1)), so a
 * dataset and an online evaluation with the same seed see the same episodes.
 */
import { writeFileSync } from "node:fs";
import { formatFromPath, writeColumns, type ColumnData, type FileFormat } from "../data/write-columns.js";
import type { DatasetSchemaInput } from "../data/schema.js";
import type { Transitions } from "../data/transitions.js";
import { parseBehavior, type BehaviorPolicy } from "./behavior.js";
import type { Env } from "./env.js";
import { EnvError } from "./errors.js";
import { heuristicController, makeEnv, type EnvOptions } from "./registry.js";
import { deriveSeed, Rng } from "../random/index.js";

export interface SimulateOptions extends EnvOptions {
  /** A built-in env name or an env instance. */
  env: string | Env;
  /** A behaviour spec such as "eps-greedy(heuristic, 0.2)" or a built behaviour policy. */
  behavior: string | BehaviorPolicy;
  episodes: number;
  seed: number;
  onEpisode?: (episode: number, episodeReturn: number) => void;
}

export interface SimulatedDataset {
  env: string;
  behavior: string;
  seed: number;
  /** The env's bounds on a single reward, copied into the schema file. */
  rewardRange: { min: number; max: number };
  transitions: Transitions;
  /** Rewards at full precision (transitions.rewards holds them as float32). */
  rewards: Float64Array;
  /** Numeric info of every step, one column per `env.infoFields` entry. */
  info: Record<string, Float64Array>;
  /** Undiscounted return of each episode. */
  returns: number[];
}

/** Growable typed-array column. */
class Column<T extends Float32Array | Float64Array | Int32Array | Uint8Array> {
  length = 0;
  constructor(private data: T) {}
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new (this.data.constructor as new (n: number) => T)(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  pushAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.push(values[i]!);
  }
  finish(): T {
    return this.data.slice(0, this.length) as T;
  }
}

/** Runs the behaviour policy in the env for `episodes` episodes and returns the logged transitions. */
export function simulateDataset(options: SimulateOptions): SimulatedDataset {
  if (!Number.isInteger(options.episodes) || options.episodes < 1) {
    throw new EnvError("invalid_episodes", `episodes must be a positive integer, got ${options.episodes}`);
  }
  if (!Number.isFinite(options.seed)) throw new EnvError("invalid_seed", `seed must be a finite number, got ${options.seed}`);
  const env = typeof options.env === "string" ? makeEnv(options.env, { maxEpisodeSteps: options.maxEpisodeSteps }) : options.env;
  const behavior = typeof options.behavior === "string" ? parseBehavior(options.behavior, env, heuristicController(env.name)) : options.behavior;
  const dim = env.observationSpace.dim;
  const space = env.actionSpace;
  const fits =
    behavior.kind === space.kind &&
    (behavior.kind === "discrete" ? space.kind === "discrete" && behavior.n === space.n : behavior.low.length === (space.kind === "continuous" ? space.low.length : -1));
  if (!fits) throw new EnvError("policy_space_mismatch", `behaviour ${behavior.spec} does not act in ${env.name}'s action space`, { env: env.name, spec: behavior.spec });
  const actionDim = space.kind === "discrete" ? 1 : space.low.length;
  const initial = 1024;
  const observations = new Column(new Float32Array(initial * dim));
  const nextObservations = new Column(new Float32Array(initial * dim));
  const actions = space.kind === "discrete" ? new Column(new Int32Array(initial)) : new Column(new Float32Array(initial * actionDim));
  const rewards = new Column(new Float64Array(initial));
  const terminals = new Column(new Uint8Array(initial));
  const truncations = new Column(new Uint8Array(initial));
  const behaviorProb = new Column(new Float64Array(initial));
  const steps = new Column(new Int32Array(initial));
  const episodeStarts = new Column(new Int32Array(options.episodes + 1));
  const info = env.infoFields.map(() => new Column(new Float64Array(initial)));
  const returns: number[] = [];
  const rng = new Rng(0);
  let size = 0;
  for (let e = 0; e < options.episodes; e++) {
    episodeStarts.push(size);
    let observation = env.reset(deriveSeed(options.seed, 2 * e));
    rng.seed(deriveSeed(options.seed, 2 * e + 1));
    let episodeReturn = 0;
    for (let t = 0; ; t++) {
      const { action, behaviorProb: prob } = behavior.sample(observation, rng);
      const result = env.step(action);
      observations.pushAll(observation);
      nextObservations.pushAll(result.observation);
      if (typeof action === "number") actions.push(action);
      else actions.pushAll(action);
      rewards.push(result.reward);
      terminals.push(result.terminated ? 1 : 0);
      truncations.push(result.truncated && !result.terminated ? 1 : 0);
      behaviorProb.push(prob);
      steps.push(t);
      env.infoFields.forEach((field, i) => info[i]!.push(result.info[field] ?? 0));
      episodeReturn += result.reward;
      size++;
      observation = result.observation;
      if (result.terminated || result.truncated) break;
    }
    returns.push(episodeReturn);
    options.onEpisode?.(e, episodeReturn);
  }
  episodeStarts.push(size);
  const exactRewards = rewards.finish();
  const transitions: Transitions = {
    size,
    observationDim: dim,
    featureNames: [...env.observationSpace.names],
    actionSpace: space.kind === "discrete" ? { kind: "discrete", n: space.n } : { kind: "continuous", low: [...space.low], high: [...space.high] },
    observations: observations.finish(),
    nextObservations: nextObservations.finish(),
    actions: actions.finish(),
    rewards: Float32Array.from(exactRewards),
    terminals: terminals.finish(),
    truncations: truncations.finish(),
    behaviorProb: behaviorProb.finish(),
    episodeStarts: episodeStarts.finish(),
    steps: steps.finish(),
  };
  return {
    env: env.name,
    behavior: behavior.spec,
    seed: options.seed,
    rewardRange: { ...env.rewardRange },
    transitions,
    rewards: exactRewards,
    info: Object.fromEntries(env.infoFields.map((field, i) => [field, info[i]!.finish()])),
    returns,
  };
}

/** Column names of a dataset file: next-observation columns are the feature names prefixed with "next_". */
export function datasetSchemaFor(dataset: SimulatedDataset): DatasetSchemaInput {
  const t = dataset.transitions;
  const space = t.actionSpace;
  return {
    episode: "episode_id",
    step: "step",
    observations: [...t.featureNames],
    nextObservations: t.featureNames.map((name) => `next_${name}`),
    action:
      space.kind === "discrete"
        ? { column: "action", kind: "discrete", n: space.n }
        : { columns: space.low.map((_, d) => `a${d}`), kind: "continuous", low: [...space.low], high: [...space.high] },
    reward: { column: "reward", min: dataset.rewardRange.min, max: dataset.rewardRange.max },
    terminal: "terminal",
    truncated: "truncated",
    episodeEnd: "terminal",
    behaviorProb: space.kind === "discrete" ? { column: "propensity", kind: "probability" } : { column: "log_density", kind: "log_density" },
    policyVersion: "policy_version",
    metadata: Object.keys(dataset.info),
  };
}

/** The dataset as named columns in schema order (observations as FLOAT, rewards and propensities as DOUBLE). */
export function datasetColumns(dataset: SimulatedDataset): Record<string, ColumnData> {
  const t = dataset.transitions;
  const columns: Record<string, ColumnData> = {};
  const episodeIds = new Int32Array(t.size);
  for (let e = 0; e + 1 < t.episodeStarts.length; e++) episodeIds.fill(e, t.episodeStarts[e]!, t.episodeStarts[e + 1]!);
  columns.episode_id = episodeIds;
  columns.step = t.steps;
  const dim = t.observationDim;
  const strided = (source: Float32Array, offset: number, stride: number) => {
    const out = new Float32Array(t.size);
    for (let i = 0; i < t.size; i++) out[i] = source[i * stride + offset]!;
    return out;
  };
  t.featureNames.forEach((name, k) => (columns[name] = strided(t.observations, k, dim)));
  t.featureNames.forEach((name, k) => (columns[`next_${name}`] = strided(t.nextObservations, k, dim)));
  if (t.actionSpace.kind === "discrete") columns.action = t.actions as Int32Array;
  else {
    const actionDim = t.actionSpace.low.length;
    for (let d = 0; d < actionDim; d++) columns[`a${d}`] = strided(t.actions as Float32Array, d, actionDim);
  }
  columns.reward = dataset.rewards;
  columns.terminal = t.terminals;
  columns.truncated = t.truncations;
  columns[t.actionSpace.kind === "discrete" ? "propensity" : "log_density"] = t.behaviorProb!;
  columns.policy_version = new Array<string>(t.size).fill(dataset.behavior);
  for (const [field, values] of Object.entries(dataset.info)) {
    if (field in columns) throw new EnvError("column_name_clash", `info field ${field} clashes with a dataset column`, { env: dataset.env });
    columns[field] = values;
  }
  return columns;
}

/** Writes the dataset to `path` (format from the extension unless given) and its schema to `path.schema.json`. */
/**
 * Where and in which format to write. `hindcast ingest` tells a file's format from its extension, so the file always
 * gets one: a path without a known extension gets `.parquet` (or that of `format`) appended; an extension that
 * disagrees with `format` is EnvError `out_format_mismatch`, raised before anything is simulated or written.
 */
export function outputTarget(path: string, format?: FileFormat): { path: string; format: FileFormat } {
  const implied = formatFromPath(path);
  if (implied === null) {
    const chosen = format ?? "parquet";
    return { path: `${path}.${chosen}`, format: chosen };
  }
  if (format !== undefined && format !== implied) {
    throw new EnvError("out_format_mismatch", `${path}: the extension says ${implied} but the format asked for is ${format}; ingest would misread it`, { file: path, format });
  }
  return { path, format: implied };
}

export async function writeSimulatedDataset(
  dataset: SimulatedDataset,
  path: string,
  format?: FileFormat,
): Promise<{ dataPath: string; schemaPath: string }> {
  const target = outputTarget(path, format);
  await writeColumns(target.path, datasetColumns(dataset), target.format);
  const schemaPath = `${target.path}.schema.json`;
  writeFileSync(schemaPath, JSON.stringify(datasetSchemaFor(dataset), null, 2) + "\n");
  return { dataPath: target.path, schemaPath };
}
