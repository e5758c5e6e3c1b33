import type { DatasetManifest } from "../data/store.js";
import type { OpeReport } from "../ope/evaluate.js";
import type { EvaluationRecord, Registry } from "../registry/index.js";

export interface RecordOpeOptions {
  /** Registry reference of the evaluated policy (`name@version`). */
  policy: string;
  /** The dataset version the report was computed on; registered if the registry does not know it yet. */
  dataset: DatasetManifest;
  /** Which split the version is, as the promotion gates name it (default "heldout"). */
  split?: string;
}

/**
 * Stores an off-policy report where the promotion gates look for it: the behaviour policy's logged value as the
 * baseline (policy null, estimator "logged-mean") and one evaluation per estimate, each with its lower bound and
 * diagnostics. Off-support estimates are stored too, with their warnings, so a reader of the registry sees them.
 */
export async function recordOpeReport(registry: Registry, report: OpeReport, options: RecordOpeOptions): Promise<EvaluationRecord[]> {
  const { dataset: manifest } = options;
  const split = options.split ?? "heldout";
  await registry.registerDatasetVersion({ name: manifest.name, version: manifest.version, hash: manifest.contentHash, manifest: manifest as unknown as Record<string, unknown> });
  const dataset = { name: manifest.name, version: manifest.version };
  const baseline = report.baseline;
  const records = [
    await registry.recordEvaluation({
      policy: null,
      estimator: "logged-mean",
      value: baseline.value,
      lower: baseline.lowerBound.value,
      upper: baseline.interval?.upper ?? baseline.value,
      confidence: baseline.lowerBound.confidence,
      split,
      dataset,
      diagnostics: { episodes: report.episodes, lowerBoundMethod: baseline.lowerBound.method },
    }),
  ];
  for (const estimate of report.estimates) {
    records.push(
      await registry.recordEvaluation({
        policy: options.policy,
        estimator: estimate.estimator,
        value: estimate.value,
        lower: estimate.lowerBound.value,
        upper: estimate.interval?.upper ?? estimate.value,
        confidence: estimate.lowerBound.confidence,
        split,
        dataset,
        diagnostics: { ...estimate.diagnostics, lowerBoundMethod: estimate.lowerBound.method, behavior: report.behavior.label, gamma: report.gamma },
      }),
    );
  }
  return records;
}
