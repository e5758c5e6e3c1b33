import { join } from "node:path";
import { copyArrayVector, copyNumericVector, openDuckDB, sqlIdent, sqlString } from "./duckdb.js";
import { DataError } from "./errors.js";
import { EPISODE_INDEX_COLUMN } from "./layout.js";
import { DATA_FILE, hashFile, readManifest, resolveStoreDir, resolveVersion, versionDir, type DatasetManifest } from "./store.js";
import type { ActionSpace, Transitions } from "./transitions.js";

export interface LoadOptions {
  /** Re-hash data.parquet and compare with the manifest's content hash (costs one read of the file). */
  verify?: boolean;
}

/** The action space declared by a stored version's schema. */
export function actionSpaceOf(manifest: DatasetManifest): ActionSpace {
  const action = manifest.schema.action;
  return action.kind === "discrete" ? { kind: "discrete", n: action.n } : { kind: "continuous", low: [...action.low], high: [...action.high] };
}

/**
 * Loads a stored version ("NAME@N" or "NAME@latest") into columnar typed arrays. `store` defaults like the CLI:
 * $HINDCAST_STORE, else ./.hindcast/datasets.
 */
export async function loadTransitions(store: string | undefined, ref: string, options: LoadOptions = {}): Promise<Transitions & { manifest: DatasetManifest }> {
  const storeDir = resolveStoreDir(store);
  const id = resolveVersion(storeDir, ref);
  const manifest = readManifest(storeDir, id);
  const path = join(versionDir(storeDir, id), DATA_FILE);
  if (options.verify) {
    const hash = `sha256:${await hashFile(path)}`;
    if (hash !== manifest.contentHash) {
      throw new DataError("content_hash_mismatch", `${id.name}@${id.version}: data.parquet hashes to ${hash}, manifest says ${manifest.contentHash}`, { file: path });
    }
  }
  const schema = manifest.schema;
  const featureNames = [...manifest.featureNames];
  const nextNames = (schema.nextObservations as string[] | undefined) ?? [];
  const dim = featureNames.length;
  const actionSpace = actionSpaceOf(manifest);
  const actionColumns = schema.action.kind === "discrete" ? [schema.action.column] : schema.action.columns;
  const actionDim = actionColumns.length;
  const size = manifest.counts.accepted;

  const observations = new Float32Array(size * dim);
  const nextObservations = new Float32Array(size * dim);
  const actions = actionSpace.kind === "discrete" ? new Int32Array(size) : new Float32Array(size * actionDim);
  const rewards = new Float32Array(size);
  const terminals = new Uint8Array(size);
  const truncations = new Uint8Array(size);
  const behaviorProb = schema.behaviorProb ? new Float64Array(size) : null;
  const steps = new Int32Array(size);
  const episodeIndex = new Int32Array(size);

  // Query columns in order, each with where its values go. Observation-like groups are read as one FLOAT[width]
  // array column: its child vector is row-major already, so a chunk is one block copy.
  type Target = { sql: string; out: Float32Array | Float64Array | Int32Array | Uint8Array; width: number; array?: true };
  const group = (columns: string[]) => `[${columns.map(sqlIdent).join(", ")}]::FLOAT[${columns.length}]`;
  const targets: Target[] = [
    { sql: sqlIdent(EPISODE_INDEX_COLUMN), out: episodeIndex, width: 1 },
    { sql: sqlIdent(schema.step), out: steps, width: 1 },
    ...(dim > 0 ? [{ sql: group(featureNames), out: observations, width: dim, array: true as const }] : []),
    ...(nextNames.length > 0 ? [{ sql: group(nextNames), out: nextObservations, width: dim, array: true as const }] : []),
    actionSpace.kind === "discrete" ? { sql: sqlIdent(actionColumns[0]!), out: actions, width: 1 } : { sql: group(actionColumns), out: actions, width: actionDim, array: true },
    { sql: sqlIdent(schema.reward.column), out: rewards, width: 1 },
    { sql: sqlIdent(schema.terminal!), out: terminals, width: 1 },
    { sql: sqlIdent(schema.truncated!), out: truncations, width: 1 },
    ...(schema.behaviorProb && behaviorProb ? [{ sql: sqlIdent(schema.behaviorProb.column), out: behaviorProb, width: 1 }] : []),
  ];

  const db = await openDuckDB();
  let row = 0;
  try {
    const result = await db.connection.stream(`SELECT ${targets.map((t) => t.sql).join(", ")} FROM read_parquet(${sqlString(path)})`);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const count = chunk.rowCount;
      if (row + count > size) throw new DataError("row_count_mismatch", `${id.name}@${id.version}: data.parquet has more rows than the manifest's ${size}`, { file: path });
      for (let c = 0; c < targets.length; c++) {
        const t = targets[c]!;
        const vector = chunk.getColumnVector(c);
        if (!t.array) copyNumericVector(vector, t.out, row, count);
        else copyArrayVector(vector, t.out as Float32Array, row * t.width, count, t.width);
      }
      row += count;
    }
  } finally {
    db.close();
  }
  if (row !== size) throw new DataError("row_count_mismatch", `${id.name}@${id.version}: data.parquet has ${row} rows, the manifest says ${size}`, { file: path });

  let episodes = size > 0 ? 1 : 0;
  for (let i = 1; i < size; i++) if (episodeIndex[i] !== episodeIndex[i - 1]) episodes++;
  const episodeStarts = new Int32Array(episodes + 1);
  for (let i = 1, e = 1; i < size; i++) if (episodeIndex[i] !== episodeIndex[i - 1]) episodeStarts[e++] = i;
  episodeStarts[episodes] = size;
  let nextObservationMissing: Uint8Array | null = null;
  if (nextNames.length === 0) {
    // Derived next observations: the following row of the same episode; an episode's last step has none logged.
    nextObservationMissing = new Uint8Array(size);
    for (let e = 0; e < episodes; e++) {
      const start = episodeStarts[e]!;
      const end = episodeStarts[e + 1]!;
      nextObservations.set(observations.subarray((start + 1) * dim, end * dim), start * dim);
      if (end > start && !terminals[end - 1]) nextObservationMissing[end - 1] = 1;
    }
  }

  return {
    size,
    observationDim: dim,
    featureNames,
    actionSpace,
    observations,
    nextObservations,
    actions,
    rewards,
    terminals,
    truncations,
    behaviorProb,
    nextObservationMissing,
    episodeStarts,
    steps,
    manifest,
  };
}
