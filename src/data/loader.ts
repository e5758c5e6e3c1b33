import { join } from "node:path";
import { copyNumericVector, openDuckDB, sqlIdent, sqlString } from "./duckdb.js";
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
  const nextNames = schema.nextObservations as string[];
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

  // Column order of the query, each with where its values go.
  const targets: Array<{ column: string; out: Float32Array | Float64Array | Int32Array | Uint8Array; base: number; stride: number }> = [
    { column: EPISODE_INDEX_COLUMN, out: episodeIndex, base: 0, stride: 1 },
    { column: schema.step, out: steps, base: 0, stride: 1 },
    ...featureNames.map((c, j) => ({ column: c, out: observations, base: j, stride: dim })),
    ...nextNames.map((c, j) => ({ column: c, out: nextObservations, base: j, stride: dim })),
    ...actionColumns.map((c, k) => ({ column: c, out: actions, base: k, stride: actionDim })),
    { column: schema.reward.column, out: rewards, base: 0, stride: 1 },
    { column: schema.terminal!, out: terminals, base: 0, stride: 1 },
    { column: schema.truncated!, out: truncations, base: 0, stride: 1 },
    ...(schema.behaviorProb && behaviorProb ? [{ column: schema.behaviorProb.column, out: behaviorProb, base: 0, stride: 1 }] : []),
  ];

  const db = await openDuckDB();
  let row = 0;
  try {
    const result = await db.connection.stream(`SELECT ${targets.map((t) => sqlIdent(t.column)).join(", ")} FROM read_parquet(${sqlString(path)})`);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const count = chunk.rowCount;
      if (row + count > size) throw new DataError("row_count_mismatch", `${id.name}@${id.version}: data.parquet has more rows than the manifest's ${size}`, { file: path });
      for (let c = 0; c < targets.length; c++) {
        const t = targets[c]!;
        copyNumericVector(chunk.getColumnVector(c), t.out, row * t.stride + t.base, count, t.stride);
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
    episodeStarts,
    steps,
    manifest,
  };
}
