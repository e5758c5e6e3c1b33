/**
 * Where the monitor's context comes from: offline estimates, the behaviour baseline and promotion history from the
 * registry, and the reference states from the training dataset version in the dataset store.
 */
import { loadTransitions } from "../data/loader.js";
import type { EvaluationRecord, Registry } from "../registry/types.js";
import type { EvaluationContext } from "./evaluate.js";
import { retrainCadence, type RetrainCadence } from "./measures.js";

export interface RegistryContext {
  offlineEstimates: Record<string, number>;
  baselineValue?: number;
  cadence: RetrainCadence;
}

function latest(evaluations: readonly EvaluationRecord[], estimator?: string): EvaluationRecord | undefined {
  return evaluations
    .filter((e) => estimator === undefined || e.estimator === estimator)
    .reduce<EvaluationRecord | undefined>((best, e) => (best === undefined || e.id > best.id ? e : best), undefined);
}

/**
 * Offline estimates per policy (`name@version`, as the service logs it) from the latest evaluation on `split`
 * (optionally of one estimator). The reward-proxy gap compares them with the mean live reward per decision, so the
 * estimator should estimate per-decision reward.
 */
export async function registryContext(registry: Registry, options: { split?: string; estimator?: string } = {}): Promise<RegistryContext> {
  const split = options.split ?? "heldout";
  const offlineEstimates: Record<string, number> = {};
  for (const policy of await registry.listPolicies()) {
    const ref = `${policy.name}@${policy.version}`;
    const evaluation = latest(await registry.listEvaluations(ref, { split }), options.estimator);
    if (evaluation) offlineEstimates[ref] = evaluation.value;
  }
  const baseline = latest(await registry.listEvaluations(null, { split }), options.estimator);
  const promotions = (await registry.stageHistory()).filter((s) => s.toStage === "production");
  return {
    offlineEstimates,
    ...(baseline ? { baselineValue: baseline.value } : {}),
    cadence: retrainCadence(promotions.map((p) => ({ at: p.at, value: offlineEstimates[p.policy] ?? null }))),
  };
}

/** Training states of a stored dataset version ("NAME@N") as the drift reference. */
export async function datasetReference(store: string | undefined, ref: string): Promise<NonNullable<EvaluationContext["reference"]>> {
  const transitions = await loadTransitions(store, ref);
  return {
    sample: { rows: transitions.size, dim: transitions.observationDim, values: transitions.observations },
    featureNames: transitions.featureNames,
  };
}
