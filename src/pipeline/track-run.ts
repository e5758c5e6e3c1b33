import type { DatasetManifest } from "../data/store.js";
import type { PolicyManifest } from "../policy/manifest.js";
import type { MetricPoint, PolicyRecord, Registry, RunRecord } from "../registry/index.js";

/** What a tracked training run tells the registry while it runs. */
export interface RunTracker {
  readonly run: RunRecord;
  /** Queues metric points; they are written in batches (one registry transaction each). */
  log(step: number, values: Record<string, number>): void;
  /** Writes the queued points now. */
  flush(): Promise<void>;
}

export interface TrackRunOptions {
  algorithm: string;
  config: Record<string, unknown>;
  seed: number;
  dataset: DatasetManifest;
  codeVersion: string;
  /** Run directory and anything else worth finding later. */
  artifacts: Record<string, string>;
}

/**
 * Runs `train` as a registry run, MLflow style: the dataset version is registered, the run is created as running,
 * metrics stream in while it trains, and the run ends succeeded (with its artifacts) or failed.
 */
export async function trackRun<T>(registry: Registry, options: TrackRunOptions, train: (tracker: RunTracker) => Promise<T>): Promise<{ run: RunRecord; result: T }> {
  const { dataset } = options;
  await registry.registerDatasetVersion({ name: dataset.name, version: dataset.version, hash: dataset.contentHash, manifest: dataset as unknown as Record<string, unknown> });
  const run = await registry.createRun({
    algorithm: options.algorithm,
    config: options.config,
    seed: options.seed,
    dataset: { name: dataset.name, version: dataset.version },
    codeVersion: options.codeVersion,
    status: "running",
  });
  let queued: MetricPoint[] = [];
  let writing: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    const points = queued;
    queued = [];
    if (points.length > 0) writing = writing.then(() => registry.logMetrics(run.id, points));
    return writing;
  };
  const tracker: RunTracker = {
    run,
    log(step, values) {
      for (const [name, value] of Object.entries(values)) if (Number.isFinite(value)) queued.push({ name, step, value });
      if (queued.length >= 200) void flush();
    },
    flush,
  };
  let result: T;
  try {
    result = await train(tracker);
    await tracker.flush();
  } catch (error) {
    await writing.catch(() => undefined);
    await registry.updateRun(run.id, { status: "failed" }).catch(() => undefined);
    throw error;
  }
  const finished = await registry.updateRun(run.id, { status: "succeeded", artifacts: options.artifacts });
  return { run: finished, result };
}

/** Registers a trained artifact as a new version of policy `name`, linked to the run that made it. */
export function registerArtifact(registry: Registry, name: string, artifactDir: string, manifest: PolicyManifest, runId: number): Promise<PolicyRecord> {
  return registry.registerPolicy({
    name,
    sha256: manifest.onnx.sha256,
    artifactPath: artifactDir,
    runId,
    manifest: manifest as unknown as Record<string, unknown>,
    featureNames: manifest.observation.featureNames,
  });
}
