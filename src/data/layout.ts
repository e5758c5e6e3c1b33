import type { DatasetSchema } from "./schema.js";
import { featureNamesOf } from "./schema.js";
import { DataError } from "./errors.js";

/**
 * How a dataset schema maps onto the columns of a stored version's data.parquet. A stored version always has
 * scalar observation columns (next-observation columns only when the schema gives them) and explicit terminal/truncated flags, plus
 * `episode_index` (0-based, rows of an episode contiguous and ordered by step).
 */
export const EPISODE_INDEX_COLUMN = "episode_index";

export interface StoredLayout {
  schema: DatasetSchema;
  featureNames: string[];
  /** Stored next-observation columns; empty when the schema leaves them to be derived at load time. */
  nextNames: string[];
  actionColumns: string[];
}

export function storedLayout(input: DatasetSchema): StoredLayout {
  const featureNames = featureNamesOf(input.observations);
  const nextNames = input.nextObservations
    ? Array.isArray(input.nextObservations)
      ? [...input.nextObservations]
      : Array.from({ length: input.nextObservations.size }, (_, i) => `${(input.nextObservations as { column: string }).column}_${i}`)
    : [];
  const actionColumns = input.action.kind === "discrete" ? [input.action.column] : [...input.action.columns];
  const schema: DatasetSchema = {
    ...input,
    observations: featureNames,
    nextObservations: nextNames.length > 0 ? nextNames : undefined,
    terminal: input.terminal ?? "terminal",
    truncated: input.truncated ?? "truncated",
  };
  const names = [
    EPISODE_INDEX_COLUMN,
    schema.episode,
    schema.step,
    ...(schema.timestamp ? [schema.timestamp] : []),
    ...featureNames,
    ...nextNames,
    ...actionColumns,
    schema.reward.column,
    schema.terminal!,
    schema.truncated!,
    ...(schema.behaviorProb ? [schema.behaviorProb.column] : []),
    ...(schema.policyVersion ? [schema.policyVersion] : []),
    ...(schema.metadata ?? []),
  ];
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new DataError("column_name_collision", `column name ${name} would be used twice in the stored dataset; rename it in the schema`, { field: name });
    }
    seen.add(name);
  }
  return { schema, featureNames, nextNames, actionColumns };
}
