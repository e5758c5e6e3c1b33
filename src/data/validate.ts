import { join } from "node:path";
import { DataError } from "./errors.js";
import { validateFiles, type IngestReport } from "./ingest.js";
import { EPISODE_INDEX_COLUMN } from "./layout.js";
import { DATA_FILE, hashFile, readManifest, resolveStoreDir, resolveVersion, versionDir } from "./store.js";

export interface VersionValidation {
  dataset: { name: string; version: number };
  ok: boolean;
  /** data.parquet still hashes to the manifest's content hash. */
  hashMatches: boolean;
  /** The stored row count equals the manifest's accepted count. */
  countMatches: boolean;
  /** The validation report; null when the stored file could not be read at all (see `error`). */
  report: IngestReport | null;
  error: { code: string; message: string } | null;
}

/** Re-checks a stored version: content hash, row count, and every validation rule against its stored schema. */
export async function validateVersion(store: string | undefined, ref: string): Promise<VersionValidation> {
  const storeDir = resolveStoreDir(store);
  const id = resolveVersion(storeDir, ref);
  const manifest = readManifest(storeDir, id);
  const path = join(versionDir(storeDir, id), DATA_FILE);
  const hashMatches = `sha256:${await hashFile(path)}` === manifest.contentHash;
  let report: IngestReport;
  try {
    report = await validateFiles([path], manifest.schema, { ignoreColumns: [EPISODE_INDEX_COLUMN] });
  } catch (error) {
    if (!(error instanceof DataError)) throw error;
    return { dataset: id, ok: false, hashMatches, countMatches: false, report: null, error: { code: error.code, message: error.message } };
  }
  const countMatches = report.read === manifest.counts.accepted;
  return { dataset: id, ok: hashMatches && countMatches && report.quarantined === 0, hashMatches, countMatches, report, error: null };
}
