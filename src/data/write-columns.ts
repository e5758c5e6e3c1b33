import { mkdirSync } from "node:fs";
import { dirname, extname } from "node:path";
import {
  DOUBLE,
  DuckDBDataChunk,
  FLOAT,
  INTEGER,
  UTINYINT,
  VARCHAR,
  type DuckDBType,
  type DuckDBConnection,
} from "@duckdb/node-api";
import { openDuckDB, sqlIdent, sqlString } from "./duckdb.js";
import { DataError } from "./errors.js";

export type ColumnData = Float32Array | Float64Array | Int32Array | Uint8Array | string[] | number[];
export type FileFormat = "parquet" | "csv" | "jsonl";

/** The file format implied by a path's extension (a trailing .gz or .zst is looked through), or null. */
export function formatFromPath(path: string): FileFormat | null {
  const ext = extname(path.replace(/\.(gz|zst)$/i, "")).toLowerCase();
  if (ext === ".parquet" || ext === ".pq") return "parquet";
  if (ext === ".csv") return "csv";
  if (ext === ".jsonl" || ext === ".ndjson" || ext === ".json") return "jsonl";
  return null;
}

function duckTypeFor(data: ColumnData): DuckDBType {
  if (data instanceof Float32Array) return FLOAT;
  if (data instanceof Float64Array) return DOUBLE;
  if (data instanceof Int32Array) return INTEGER;
  if (data instanceof Uint8Array) return UTINYINT;
  if (data.length > 0 && typeof data[0] === "string") return VARCHAR;
  return DOUBLE;
}

const CHUNK_ROWS = 2048;

/** Appends the columns to an existing table of matching types, a data chunk at a time. */
export async function appendColumns(connection: DuckDBConnection, table: string, columns: ColumnData[], rows: number): Promise<void> {
  const types = columns.map(duckTypeFor);
  const appender = await connection.createAppender(table);
  try {
    for (let start = 0; start < rows; start += CHUNK_ROWS) {
      const count = Math.min(CHUNK_ROWS, rows - start);
      const chunk = DuckDBDataChunk.create(types, count);
      for (let c = 0; c < columns.length; c++) {
        const data = columns[c]!;
        if (ArrayBuffer.isView(data)) {
          const vector = chunk.getColumnVector(c) as unknown as { items?: ArrayBufferView & { set(a: ArrayLike<number>): void }; flush(): void };
          if (vector.items && vector.items.constructor === data.constructor) {
            vector.items.set(data.subarray(start, start + count));
            vector.flush();
            continue;
          }
          chunk.setColumnValues(c, Array.from(data.subarray(start, start + count)));
        } else {
          const slice = data.slice(start, start + count);
          chunk.setColumnValues(c, types[c] === VARCHAR ? slice.map((v) => (v == null ? null : String(v))) : slice.map((v) => (v == null ? null : Number(v))));
        }
      }
      appender.appendDataChunk(chunk);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/**
 * Writes equal-length columns to a Parquet, CSV (with header) or JSON-lines file; the format comes from the
 * extension when not given. Column types follow the arrays: Float32Array -> FLOAT, Float64Array/number[] -> DOUBLE,
 * Int32Array -> INTEGER, Uint8Array -> UTINYINT (0/1 flags), string[] -> VARCHAR.
 */
export async function writeColumns(path: string, columns: Record<string, ColumnData>, format?: FileFormat): Promise<void> {
  const resolved = format ?? formatFromPath(path);
  if (!resolved) throw new DataError("unknown_format", `cannot tell the format of ${path} from its extension (use .parquet, .csv or .jsonl)`, { file: path });
  const names = Object.keys(columns);
  if (names.length === 0) throw new DataError("no_columns", "writeColumns needs at least one column", { file: path });
  const rows = columns[names[0]!]!.length;
  for (const name of names) {
    if (columns[name]!.length !== rows) {
      throw new DataError("column_length_mismatch", `column ${name} has ${columns[name]!.length} values, expected ${rows}`, { file: path, field: name });
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  const db = await openDuckDB();
  try {
    const data = names.map((n) => columns[n]!);
    const ddl = names.map((n, i) => `${sqlIdent(n)} ${duckTypeFor(data[i]!).toString()}`).join(", ");
    await db.connection.run(`CREATE TABLE out_table (${ddl})`);
    await appendColumns(db.connection, "out_table", data, rows);
    const options = resolved === "parquet" ? "FORMAT parquet" : resolved === "csv" ? "FORMAT csv, HEADER true" : "FORMAT json";
    await db.connection.run(`COPY out_table TO ${sqlString(path)} (${options})`);
  } finally {
    db.close();
  }
}
