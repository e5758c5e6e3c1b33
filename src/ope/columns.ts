import { join } from "node:path";
import { copyNumericVector, openDuckDB, sqlIdent, sqlString } from "../data/duckdb.js";
import { DATA_FILE, readManifest, resolveStoreDir, resolveVersion, versionDir } from "../data/store.js";
import { OpeError } from "./errors.js";

/**
 * Reads extra numeric columns of a stored dataset version (target probabilities, Q-hat, V-hat computed outside
 * Hindcast) in the row order `loadTransitions` uses (file order), as Float64Arrays.
 */
export async function readDatasetColumns(store: string | undefined, ref: string, columns: string[]): Promise<Record<string, Float64Array>> {
  const storeDir = resolveStoreDir(store);
  const id = resolveVersion(storeDir, ref);
  const manifest = readManifest(storeDir, id);
  const size = manifest.counts.accepted;
  const path = join(versionDir(storeDir, id), DATA_FILE);
  const out: Record<string, Float64Array> = {};
  if (columns.length === 0) return out;
  for (const column of columns) out[column] = new Float64Array(size);
  const db = await openDuckDB();
  try {
    const described = await db.connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`);
    const available = new Set(described.getRowObjects().map((row) => String(row.column_name)));
    for (const column of columns) {
      if (!available.has(column)) {
        throw new OpeError("unknown_column", `${id.name}@${id.version} has no column "${column}"`, { column });
      }
    }
    const result = await db.connection.stream(`SELECT ${columns.map((c) => `CAST(${sqlIdent(c)} AS DOUBLE)`).join(", ")} FROM read_parquet(${sqlString(path)})`);
    let row = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      if (row + chunk.rowCount > size) throw new OpeError("row_count_mismatch", `${id.name}@${id.version} has more rows than its manifest says`);
      columns.forEach((column, c) => {
        const nulls = copyNumericVector(chunk.getColumnVector(c), out[column], row, chunk.rowCount);
        if (nulls > 0) throw new OpeError("missing_values", `column "${column}" has ${nulls} empty values`, { column });
      });
      row += chunk.rowCount;
    }
  } finally {
    db.close();
  }
  return out;
}
