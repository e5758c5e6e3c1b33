import { closeSync, createReadStream, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import type { DuckDBConnection } from "@duckdb/node-api";
import { openDuckDB, sqlIdent, sqlString } from "./duckdb.js";
import { DataError } from "./errors.js";
import { EPISODE_INDEX_COLUMN, storedLayout, type StoredLayout } from "./layout.js";
import { issueMessage, RULES, type ValidationIssue } from "./rules.js";
import { loadSchema, type DatasetSchema } from "./schema.js";
import { createVersion, DATA_FILE, hashFile, QUARANTINE_FILE, REPORT_FILE, resolveStoreDir, type DatasetManifest, type ParentRef, type SourceFile } from "./store.js";
import { formatFromPath } from "./write-columns.js";

/*
 * Ingest in four steps, all inside one in-memory DuckDB:
 *   1. stage: every file is read (CSV/JSONL/Parquet) into one typed table with its file index and 1-based row;
 *      values that do not cast to the declared type are recorded per row rather than failing the read.
 *   2. rules: each validation rule is a query adding (file, row, code, field, value, expected) findings.
 *   3. quarantine: rows with a finding, and the other rows of their episodes, are set aside with their first code.
 *   4. write: accepted rows go, episode by episode and in step order, to data.parquet inside an atomic version.
 */

export interface IngestReport {
  read: number;
  accepted: number;
  quarantined: number;
  /** accepted + quarantined === read; checked before anything is written. */
  reconciled: boolean;
  episodes: { read: number; accepted: number; rejected: number };
  /** Number of findings per rule code (complete, unlike `issues`). */
  issueCounts: Record<string, number>;
  /** Row findings, the first `maxIssues` in file/row order. */
  issues: ValidationIssue[];
  /** File- and dataset-level findings that did not reject rows. */
  warnings: ValidationIssue[];
  sources: SourceFile[];
}

export type ProgressEvent = { stage: "read" | "validate" | "write" | "done"; file?: string; rows?: number };

export interface ValidateOptions {
  /** Columns present in the files that are expected and not reported as extra. */
  ignoreColumns?: string[];
  /** CSV field separator, one character (default ","; e.g. ";" or "\t"). Quoting stays RFC 4180 (double quotes). */
  delimiter?: string;
  maxIssues?: number;
  onProgress?: (event: ProgressEvent) => void;
}

export interface IngestOptions extends ValidateOptions {
  files: string[];
  /** A parsed schema or the path of a schema file. */
  schema: DatasetSchema | string;
  dataset: string;
  store?: string;
  /** Reject the whole ingest when any row fails, instead of quarantining. */
  strict?: boolean;
  parents?: ParentRef[];
}

/** Internal column names of the staging table. */
const S = {
  file: "__file",
  row: "__row",
  episode: "s_episode",
  step: "s_step",
  ts: "s_ts",
  obs: (j: number) => `s_o${j}`,
  next: (j: number) => `s_n${j}`,
  action: (k: number) => `s_a${k}`,
  reward: "s_reward",
  terminal: "s_terminal",
  truncated: "s_truncated",
  prob: "s_prob",
  policy: "s_policy",
  meta: (k: number) => `s_m${k}`,
  typeErrors: "s_type_errors",
};

const NUMERIC_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*|BOOLEAN)$/;

/** RFC 4180 CSV (comma-separated unless told otherwise), double-quoted, header row; strict so that broken quoting is an error. */
const csvDialect = (delimiter: string) => `header = true, delim = ${sqlString(delimiter)}, quote = '"', escape = '"', strict_mode = true`;

/** The delimiter as a user reads it in a message. */
const delimiterName = (delimiter: string) => (delimiter === "\t" ? "tab" : `'${delimiter}'`);

/** A valid CSV delimiter: one character that is not a quote, a line break or a letter/digit. */
function checkDelimiter(delimiter: string): string {
  if ([...delimiter].length !== 1 || /["\r\n\p{L}\p{N}]/u.test(delimiter)) {
    throw new DataError("invalid_delimiter", `the CSV delimiter must be one character other than a double quote, a line break, a letter or a digit; got ${JSON.stringify(delimiter)}`, { value: delimiter });
  }
  return delimiter;
}

function readerFor(path: string, delimiter: string): string {
  const format = formatFromPath(path);
  const literal = sqlString(path);
  if (format === "parquet") return `read_parquet(${literal})`;
  if (format === "csv") return `read_csv(${literal}, ${csvDialect(delimiter)})`;
  if (format === "jsonl") return `read_json(${literal}, format = ${/\.json(\.(gz|zst))?$/i.test(path) ? "'auto'" : "'newline_delimited'"})`;
  throw new DataError("unknown_format", `cannot tell the format of ${path} from its extension (use .csv, .jsonl, .json or .parquet)`, { file: path });
}

/** Turns a DuckDB read failure into a one-line coded error naming the file and, when known, the position. */
function malformed(path: string, error: unknown, diagnosedLine?: number, diagnosis?: string): DataError {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split("\n").map((l) => l.trim());
  const line = /on line:?\s*(\d+)|in line (\d+)/i.exec(text);
  const byte = /at byte (\d+)/i.exec(text);
  const lineNumber = diagnosedLine ?? (line ? Number(line[1] ?? line[2]) : undefined);
  const position =
    lineNumber !== undefined ? `line ${lineNumber}${byte && diagnosedLine === undefined ? `, byte ${byte[1]}` : ""}` : byte ? `byte ${byte[1]}` : /magic bytes|footer|end of file/i.test(text) ? "end of file" : "unknown position";
  // DuckDB messages carry the reason in the first lines, then hints, settings and the SQL; keep the reason.
  const reason = lines
    .filter((l) => l.length > 0 && !/^(Original Line|Possible|LINE \d|\^|\*|file =|The search space|Delimiter Candidates|Quote\/Escape|Comment Candidates|Encoding:)/.test(l) && !/ = .*\(/.test(l))
    .slice(0, 2)
    .join(" ")
    .replace(/^Invalid Input Error: /, "");
  return new DataError("malformed_file", `${path} (${position}): ${diagnosis ?? reason}`, { file: path, position });
}

/** For a CSV the sniffer rejects, a lenient pass that records rejected lines tells where the file breaks. */
async function diagnoseCsv(connection: DuckDBConnection, path: string, delimiter: string): Promise<{ line: number; message: string } | null> {
  try {
    await connection.run(`SELECT count(*) FROM read_csv(${sqlString(path)}, header = true, delim = ${sqlString(delimiter)}, quote = '"', escape = '"', store_rejects = true, sample_size = 1)`);
    const rows = (await connection.runAndReadAll(`SELECT line, error_message FROM reject_errors ORDER BY line LIMIT 1`)).getRows();
    await connection.run(`DELETE FROM reject_errors`);
    return rows.length > 0 ? { line: Number(rows[0]![0]), message: String(rows[0]![1]) } : null;
  } catch {
    return null;
  }
}

/** The first line with an odd number of double quotes (a quote opened and never closed), for small files. */
async function findUnbalancedQuote(connection: DuckDBConnection, path: string): Promise<{ line: number; message: string } | null> {
  if (statSync(path).size > 64 << 20) return null;
  try {
    const rows = (
      await connection.runAndReadAll(
        `SELECT i FROM (SELECT unnest(lines) AS line, unnest(generate_series(1, len(lines))) AS i FROM (SELECT string_split(content, chr(10)) AS lines FROM read_text(${sqlString(path)}))) ` +
          `WHERE (length(line) - length(replace(line, '"', ''))) % 2 = 1 ORDER BY i LIMIT 1`,
      )
    ).getRows();
    return rows.length > 0 ? { line: Number(rows[0]![0]), message: "unterminated quoted field" } : null;
  } catch {
    return null;
  }
}

/**
 * For newline-delimited JSON the first line that is not one JSON value. DuckDB's reader lets an object run on past
 * its newline, so its own position names the line after the broken one. Plain and gzip files up to 64 MiB.
 */
async function diagnoseJsonl(path: string): Promise<{ line: number; message: string } | null> {
  if (!/\.(jsonl|ndjson)(\.gz)?$/i.test(path) || statSync(path).size > 64 << 20) return null;
  const input = createReadStream(path);
  const lines = createInterface({ input: /\.gz$/i.test(path) ? input.pipe(createGunzip()) : input, crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const line of lines) {
      number++;
      if (line.trim() === "") continue;
      try {
        JSON.parse(line);
      } catch (error) {
        return { line: number, message: `not a JSON value: ${(error as Error).message}` };
      }
    }
  } catch {
    return null;
  } finally {
    lines.close();
    input.destroy();
  }
  return null;
}

/** A text file that is not UTF-8: a UTF-16/32 byte-order mark, or NUL bytes in the first 4 KiB (uncompressed files). */
function detectWrongEncoding(path: string): string | null {
  const format = formatFromPath(path);
  if ((format !== "csv" && format !== "jsonl") || /\.(gz|zst)$/i.test(path)) return null;
  const head = Buffer.alloc(4096);
  const fd = openSync(path, "r");
  let size: number;
  try {
    size = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const bytes = head.subarray(0, size);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes[2] === 0 && bytes[3] === 0 ? "UTF-32LE" : "UTF-16LE";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "UTF-16BE";
  if (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0xfe && bytes[3] === 0xff) return "UTF-32BE";
  const nul = bytes.indexOf(0);
  return nul >= 0 ? `binary or UTF-16/32 (NUL byte at offset ${nul})` : null;
}

/**
 * Where a Parquet file DuckDB cannot read is broken: "footer" when its metadata does not parse, else the first
 * column that fails to decode (DuckDB's message names neither column nor row group); null when all of it reads.
 */
async function diagnoseParquet(connection: DuckDBConnection, path: string): Promise<string | null> {
  let columns: string[];
  try {
    columns = (await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`)).getRows().map((r) => String(r[0]));
  } catch {
    return "footer"; // the file metadata itself does not parse
  }
  for (const column of columns) {
    try {
      // hash() makes DuckDB decode every value (a count could be answered from the footer)
      await connection.run(`SELECT max(hash(${sqlIdent(column)})) FROM read_parquet(${sqlString(path)})`);
    } catch {
      return column;
    }
  }
  return null;
}

/**
 * For a whole-document .json file (an array of records) up to 64 MiB: where JSON.parse stops, as line and column
 * (or, for a .json file holding one record per line, the first line that is not a JSON value).
 * DuckDB's own position counts bytes from the start of a record it numbers, which is hard to find in an editor.
 */
function diagnoseJsonDocument(path: string): DataError | null {
  if (!/\.json$/i.test(path) || statSync(path).size > 64 << 20) return null;
  const text = readFileSync(path, "utf8");
  try {
    JSON.parse(text);
    return null;
  } catch (error) {
    // DuckDB also reads a .json file of one record per line: then the first line that is not a JSON value
    const lines = text.split("\n");
    const parses = (line: string) => {
      try {
        JSON.parse(line);
        return true;
      } catch {
        return false;
      }
    };
    if (lines.filter((l) => l.trim() !== "").length > 1 && parses(lines.find((l) => l.trim() !== "")!)) {
      const bad = lines.findIndex((l) => l.trim() !== "" && !parses(l));
      if (bad < 0) return null;
      return new DataError("malformed_file", `${path} (line ${bad + 1}): not a JSON value`, { file: path, position: `line ${bad + 1}` });
    }
    const message = (error as Error).message;
    const at = /at position (\d+)/.exec(message);
    const offset = at ? Number(at[1]) : text.length;
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    const position = at ? `line ${line}, column ${column}` : "end of file";
    return new DataError("malformed_file", `${path} (${position}): not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, "")}`, { file: path, position });
  }
}

async function readFailure(connection: DuckDBConnection, path: string, error: unknown, delimiter: string): Promise<DataError> {
  const text = error instanceof Error ? error.message : String(error);
  if (formatFromPath(path) === "parquet" && !/magic bytes/i.test(text)) {
    const found = await diagnoseParquet(connection, path);
    if (found !== null) {
      const position = found === "footer" ? "footer metadata" : `column ${found}`;
      const reason = malformed(path, error).message.replace(/^.*?\): /, "");
      return new DataError("malformed_file", `${path} (${position}): ${reason}`, { file: path, position, ...(found === "footer" ? {} : { field: found }) });
    }
  }
  if (formatFromPath(path) === "jsonl") {
    const found = await diagnoseJsonl(path);
    if (found) return malformed(path, error, found.line, found.message);
    const document = diagnoseJsonDocument(path);
    if (document) return document;
  }
  if (formatFromPath(path) === "csv" && /sniffing/i.test(text)) {
    const found = (await diagnoseCsv(connection, path, delimiter)) ?? (await findUnbalancedQuote(connection, path));
    if (found) return malformed(path, error, found.line, found.message);
    return malformed(path, error, undefined, `cannot parse as CSV separated by ${delimiterName(delimiter)} with a header (unbalanced quotes or inconsistent column counts?)`);
  }
  return malformed(path, error);
}

interface Projection {
  /** SQL expression over the raw column, cast to the staging type. */
  value: string;
  /** SQL boolean: the raw value is present but not readable as the type (null when the type needs no check). */
  typeError: string | null;
  raw: string;
  field: string;
}

function numberOf(raw: string, type: string, field: string): Projection {
  if (NUMERIC_TYPES.test(type)) return { value: `CAST(${raw} AS DOUBLE)`, typeError: null, raw, field };
  return { value: `TRY_CAST(${raw} AS DOUBLE)`, typeError: `(${raw} IS NOT NULL AND TRY_CAST(${raw} AS DOUBLE) IS NULL)`, raw, field };
}

function flagOf(raw: string, type: string, field: string): Projection {
  if (NUMERIC_TYPES.test(type)) return { value: `CAST(${raw} AS BOOLEAN)`, typeError: null, raw, field };
  return { value: `TRY_CAST(${raw} AS BOOLEAN)`, typeError: `(${raw} IS NOT NULL AND TRY_CAST(${raw} AS BOOLEAN) IS NULL)`, raw, field };
}

function castTo(raw: string, type: string, target: string, field: string): Projection {
  if (type === target) return { value: raw, typeError: null, raw, field };
  return { value: `TRY_CAST(${raw} AS ${target})`, typeError: `(${raw} IS NOT NULL AND TRY_CAST(${raw} AS ${target}) IS NULL)`, raw, field };
}

/** One observation spec's projections: scalar columns, or elements of a list column. */
function observationProjections(spec: DatasetSchema["observations"], names: string[], types: Map<string, string>): Projection[] {
  if (Array.isArray(spec)) return spec.map((column, j) => numberOf(sqlIdent(column), types.get(column)!, names[j] ?? column));
  const raw = sqlIdent(spec.column);
  const list = `TRY_CAST(${raw} AS DOUBLE[])`;
  const shapeError = `(${raw} IS NOT NULL AND (${list} IS NULL OR len(${list}) <> ${spec.size}))`;
  return Array.from({ length: spec.size }, (_, j) => ({
    value: `${list}[${j + 1}]`,
    typeError: j === 0 ? shapeError : null,
    raw,
    field: j === 0 ? spec.column : names[j]!,
  }));
}

function specColumns(spec: DatasetSchema["observations"]): string[] {
  return Array.isArray(spec) ? [...spec] : [spec.column];
}

function requiredColumns(schema: DatasetSchema): string[] {
  const columns = [schema.episode, schema.step];
  if (schema.timestamp) columns.push(schema.timestamp);
  columns.push(...specColumns(schema.observations));
  if (schema.nextObservations) columns.push(...specColumns(schema.nextObservations));
  columns.push(...(schema.action.kind === "discrete" ? [schema.action.column] : schema.action.columns));
  columns.push(schema.reward.column);
  if (schema.terminal) columns.push(schema.terminal);
  if (schema.truncated) columns.push(schema.truncated);
  if (schema.behaviorProb) columns.push(schema.behaviorProb.column);
  if (schema.policyVersion) columns.push(schema.policyVersion);
  columns.push(...(schema.metadata ?? []));
  return [...new Set(columns)];
}

interface StageResult {
  sources: Array<{ path: string; bytes: number; rows: number }>;
  warnings: ValidationIssue[];
  tsType: string | null;
  metaTypes: string[];
}

/** Reads every file into one typed staging table with file/row positions; throws on malformed files. */
async function stage(connection: DuckDBConnection, files: string[], schema: DatasetSchema, layout: StoredLayout, options: ValidateOptions): Promise<StageResult> {
  const dim = layout.featureNames.length;
  const actionDim = layout.actionColumns.length;
  const metadata = schema.metadata ?? [];
  const required = requiredColumns(schema);
  const ignored = new Set(options.ignoreColumns ?? []);
  const delimiter = checkDelimiter(options.delimiter ?? ",");
  const warnings: ValidationIssue[] = [];
  const sources: StageResult["sources"] = [];
  let tsType: string | null = null;
  let metaTypes: string[] = [];

  // First every file's columns and types (a bad file fails before anything is staged), then the rows.
  const described: Array<{ path: string; bytes: number; reader: string; types: Map<string, string> }> = [];
  for (let i = 0; i < files.length; i++) {
    const path = files[i]!;
    if (!existsSync(path)) throw new DataError("source_not_found", `${path}: no such file`, { file: path });
    const bytes = statSync(path).size;
    if (bytes === 0) throw new DataError("malformed_file", `${path} (byte 0): empty file`, { file: path, position: "byte 0" });
    const reader = readerFor(path, delimiter);
    const encoding = detectWrongEncoding(path);
    if (encoding) throw new DataError("malformed_file", `${path} (byte 0): text is ${encoding}, not UTF-8; convert it to UTF-8`, { file: path, position: "byte 0" });
    let columns: Array<[string, string]>;
    try {
      const result = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${reader}`);
      columns = result.getRows().map((r) => [String(r[0]), String(r[1])]);
    } catch (error) {
      throw await readFailure(connection, path, error, delimiter);
    }
    const types = new Map(columns);
    const missing = required.filter((c) => !types.has(c));
    if (missing.length > 0) {
      const only = columns.length === 1 ? columns[0]![0] : null;
      const separator = only !== null && formatFromPath(path) === "csv" ? [",", ";", "\t", "|"].find((c) => c !== delimiter && only.includes(c)) : undefined;
      if (separator !== undefined) {
        const flag = separator === "\t" ? "tab" : separator;
        throw new DataError(
          "malformed_file",
          `${path} (line 1): the header reads as one column; fields are separated by ${delimiterName(separator)}, not ${delimiterName(delimiter)} (ingest with --delimiter ${flag === ";" || flag === "|" ? `'${flag}'` : flag})`,
          { file: path, position: "line 1" },
        );
      }
      const list = (names: string[]) => (names.length > 8 ? `${names.slice(0, 8).join(", ")} (+${names.length - 8} more)` : names.join(", "));
      throw new DataError("missing_column", `${path}: missing column(s) ${list(missing)} named by the schema; the file has ${list(columns.map(([c]) => c))}`, {
        file: path,
        field: missing[0]!,
        missing,
      });
    }
    for (const [column] of columns) {
      if (!required.includes(column) && !ignored.has(column)) {
        warnings.push({ code: "extra_column", file: path, row: null, field: column, value: null, expected: null, message: issueMessage("extra_column", column, null, null) });
      }
    }
    described.push({ path, bytes, reader, types });
  }
  // Scalar observation columns that are FLOAT in every file are staged as FLOAT: they are stored as float32 anyway,
  // cannot overflow it, and this halves the largest part of the staging table (e.g. Parquet written from Float32Array).
  const floatIn = (spec: DatasetSchema["observations"] | undefined) =>
    Array.isArray(spec) ? spec.map((column) => described.every((d) => d.types.get(column) === "FLOAT")) : Array.from({ length: dim }, () => false);
  const obsFloat = floatIn(schema.observations);
  const nextFloat = floatIn(schema.nextObservations);

  for (let i = 0; i < described.length; i++) {
    const { path, bytes, reader, types } = described[i]!;
    options.onProgress?.({ stage: "read", file: path });
    if (i === 0) {
      tsType = schema.timestamp ? (NUMERIC_TYPES.test(types.get(schema.timestamp)!) ? "DOUBLE" : /^TIMESTAMP/.test(types.get(schema.timestamp)!) ? types.get(schema.timestamp)! : "TIMESTAMP") : null;
      metaTypes = metadata.map((m) => (/^(VARCHAR|JSON)$/.test(types.get(m)!) ? "VARCHAR" : types.get(m)!));
      const ddl = [
        `${S.file} INTEGER`,
        `${S.row} BIGINT`,
        `${S.episode} VARCHAR`,
        `${S.step} DOUBLE`,
        ...(tsType ? [`${S.ts} ${tsType}`] : []),
        ...Array.from({ length: dim }, (_, j) => `${S.obs(j)} ${obsFloat[j] ? "FLOAT" : "DOUBLE"}`),
        ...(schema.nextObservations ? Array.from({ length: dim }, (_, j) => `${S.next(j)} ${nextFloat[j] ? "FLOAT" : "DOUBLE"}`) : []),
        ...Array.from({ length: actionDim }, (_, k) => `${S.action(k)} DOUBLE`),
        `${S.reward} DOUBLE`,
        ...(schema.terminal ? [`${S.terminal} BOOLEAN`] : []),
        ...(schema.truncated ? [`${S.truncated} BOOLEAN`] : []),
        ...(schema.behaviorProb ? [`${S.prob} DOUBLE`] : []),
        ...(schema.policyVersion ? [`${S.policy} VARCHAR`] : []),
        ...metaTypes.map((t, k) => `${S.meta(k)} ${t}`),
        `${S.typeErrors} STRUCT(field VARCHAR, value VARCHAR)[]`,
      ];
      await connection.run(`CREATE TABLE staged (${ddl.join(", ")})`);
    }
    const projections: Array<[string, Projection]> = [];
    const col = (name: string) => sqlIdent(name);
    projections.push([S.episode, { value: `CAST(${col(schema.episode)} AS VARCHAR)`, typeError: null, raw: col(schema.episode), field: schema.episode }]);
    projections.push([S.step, numberOf(col(schema.step), types.get(schema.step)!, schema.step)]);
    if (schema.timestamp) {
      const type = types.get(schema.timestamp)!;
      projections.push([S.ts, tsType === "DOUBLE" ? numberOf(col(schema.timestamp), type, schema.timestamp) : castTo(col(schema.timestamp), type, tsType!, schema.timestamp)]);
    }
    // a FLOAT staging column takes the FLOAT source value as it is
    const asIs = (p: Projection, float: boolean | undefined): Projection => (float ? { ...p, value: p.raw } : p);
    observationProjections(schema.observations, layout.featureNames, types).forEach((p, j) => projections.push([S.obs(j), asIs(p, obsFloat[j])]));
    if (schema.nextObservations) observationProjections(schema.nextObservations, layout.nextNames, types).forEach((p, j) => projections.push([S.next(j), asIs(p, nextFloat[j])]));
    layout.actionColumns.forEach((c, k) => projections.push([S.action(k), numberOf(col(c), types.get(c)!, c)]));
    projections.push([S.reward, numberOf(col(schema.reward.column), types.get(schema.reward.column)!, schema.reward.column)]);
    if (schema.terminal) projections.push([S.terminal, flagOf(col(schema.terminal), types.get(schema.terminal)!, schema.terminal)]);
    if (schema.truncated) projections.push([S.truncated, flagOf(col(schema.truncated), types.get(schema.truncated)!, schema.truncated)]);
    if (schema.behaviorProb) projections.push([S.prob, numberOf(col(schema.behaviorProb.column), types.get(schema.behaviorProb.column)!, schema.behaviorProb.column)]);
    if (schema.policyVersion) projections.push([S.policy, { value: `CAST(${col(schema.policyVersion)} AS VARCHAR)`, typeError: null, raw: col(schema.policyVersion), field: schema.policyVersion }]);
    metadata.forEach((m, k) => projections.push([S.meta(k), castTo(col(m), /^(VARCHAR|JSON)$/.test(types.get(m)!) ? "VARCHAR" : types.get(m)!, metaTypes[k]!, m)]));
    const checks = projections
      .filter(([, p]) => p.typeError !== null)
      .map(([, p]) => `CASE WHEN ${p.typeError} THEN {'field': ${sqlString(p.field)}, 'value': CAST(${p.raw} AS VARCHAR)} END`);
    const typeErrors = checks.length > 0 ? `list_filter([${checks.join(", ")}], x -> x IS NOT NULL)` : `[]::STRUCT(field VARCHAR, value VARCHAR)[]`;
    const sql =
      `INSERT INTO staged (${S.file}, ${S.row}, ${projections.map(([name]) => name).join(", ")}, ${S.typeErrors}) ` +
      `SELECT ${i}, __rn, ${projections.map(([, p]) => p.value).join(", ")}, ${typeErrors} ` +
      `FROM (SELECT row_number() OVER () AS __rn, * FROM ${reader})`;
    let rows: number;
    try {
      const result = await connection.run(sql);
      rows = Number(result.rowsChanged);
    } catch (error) {
      throw await readFailure(connection, path, error, delimiter);
    }
    sources.push({ path, bytes, rows });
    options.onProgress?.({ stage: "read", file: path, rows });
  }
  return { sources, warnings, tsType, metaTypes };
}

/** Count of non-null values, min and max of one staged column, and the table's row count. */
interface ColumnStats {
  rows: number;
  count: number;
  min: number | null;
  max: number | null;
}

const FLOAT32_MAX = 3.4028234663852886e38;

/** Builds the `issues` table: one row per (row, rule, field) finding, in rule order. */
/**
 * Builds the `issues` and `quarantine` tables. `aggregates` (SQL aggregate expressions over `staged`) ride along
 * in the one counting scan of the staging table; their values are returned.
 */
async function runRules(connection: DuckDBConnection, schema: DatasetSchema, layout: StoredLayout, aggregates: string[]): Promise<unknown[]> {
  const dim = layout.featureNames.length;
  // Each check is a query of findings; `where` and `from` let clean data skip it after one counting scan. A check on
  // one staged column may instead carry a `gate` over that column's count/min/max (plain aggregates, much cheaper
  // than a filtered count each): it must be conservative, true whenever some row could break the rule. NaN sorts
  // above every number in DuckDB, so a NaN makes max NaN and every range gate below true.
  type Gate = { column: string; mayFail: (stats: ColumnStats) => boolean };
  const checks: Array<{ sql: string; where: string; from: string; gate?: Gate }> = [];
  const select = (code: string, field: string, value: string, expected: string | null, where: string, from = "staged", gate?: Gate) =>
    checks.push({
      sql: `SELECT ${S.file} AS file, ${S.row} AS row, ${sqlString(code)} AS code, ${sqlString(field)} AS field, CAST(${value} AS VARCHAR) AS value, ${expected === null ? "NULL" : sqlString(expected)} AS expected FROM ${from} WHERE ${where}`,
      where,
      from,
      gate,
    });
  const within = (column: string, low: number, high: number, lowOpen = false): Gate => ({
    column,
    mayFail: (s) => s.count > 0 && !((lowOpen ? s.min! > low : s.min! >= low) && s.max! <= high),
  });
  const finite = (column: string): Gate => ({ column, mayFail: (s) => s.count > 0 && !(Number.isFinite(s.min) && Number.isFinite(s.max)) });
  checks.push({
    sql: `SELECT ${S.file} AS file, ${S.row} AS row, 'wrong_type' AS code, e.field AS field, e.value AS value, NULL AS expected FROM (SELECT ${S.file}, ${S.row}, unnest(${S.typeErrors}) AS e FROM staged WHERE len(${S.typeErrors}) > 0)`,
    where: `len(${S.typeErrors}) > 0`,
    from: "staged",
  });
  select("missing_episode_id", schema.episode, S.episode, "a non-empty id", `${S.episode} IS NULL OR ${S.episode} = ''`);
  const numeric: Array<[string, string]> = [
    [S.step, schema.step],
    ...layout.featureNames.map((f, j): [string, string] => [S.obs(j), f]),
    ...(schema.nextObservations ? layout.nextNames.map((f, j): [string, string] => [S.next(j), f]) : []),
    ...layout.actionColumns.map((c, k): [string, string] => [S.action(k), c]),
    [S.reward, schema.reward.column],
    ...(schema.behaviorProb ? [[S.prob, schema.behaviorProb.column] as [string, string]] : []),
  ];
  for (const [column, field] of numeric) select("missing_value", field, "NULL", "a value", `${column} IS NULL`, "staged", { column, mayFail: (s) => s.count < s.rows });
  for (const [column, field] of numeric) {
    if (column === S.prob && schema.behaviorProb?.kind === "log_density") select("log_density_not_finite", field, column, "a finite log-density", `NOT isfinite(${column})`, "staged", finite(column));
    // stored as float32 (all but the propensity): beyond its range a value would be stored as infinity
    else if (column === S.prob || column === S.step) select("non_finite", field, column, "a finite number", `NOT isfinite(${column})`, "staged", finite(column));
    else select("non_finite", field, column, "a finite float32 (|x| <= 3.4e38)", `NOT isfinite(${column}) OR abs(${column}) > 3.4028234663852886e38`, "staged", within(column, -FLOAT32_MAX, FLOAT32_MAX));
  }
  select("invalid_step", schema.step, S.step, "an integer >= 0", `isfinite(${S.step}) AND (${S.step} < 0 OR ${S.step} <> floor(${S.step}) OR ${S.step} > 2147483647)`);
  const r = schema.reward;
  select("reward_out_of_range", r.column, S.reward, `[${r.min}, ${r.max}]`, `isfinite(${S.reward}) AND (${S.reward} < ${r.min} OR ${S.reward} > ${r.max})`, "staged", within(S.reward, r.min, r.max));
  if (schema.action.kind === "discrete") {
    const n = schema.action.n;
    select("action_out_of_space", schema.action.column, S.action(0), `an integer in [0, ${n - 1}]`, `isfinite(${S.action(0)}) AND (${S.action(0)} < 0 OR ${S.action(0)} >= ${n} OR ${S.action(0)} <> floor(${S.action(0)}))`);
  } else {
    const { low, high } = schema.action;
    layout.actionColumns.forEach((c, k) =>
      select("action_out_of_space", c, S.action(k), `[${low[k]}, ${high[k]}]`, `isfinite(${S.action(k)}) AND (${S.action(k)} < ${low[k]} OR ${S.action(k)} > ${high[k]})`, "staged", within(S.action(k), low[k]!, high[k]!)),
    );
  }
  if (schema.behaviorProb?.kind === "probability") {
    select("propensity_out_of_range", schema.behaviorProb.column, S.prob, "(0, 1]", `isfinite(${S.prob}) AND (${S.prob} <= 0 OR ${S.prob} > 1)`, "staged", within(S.prob, 0, 1, true));
  }
  const pos = `(CAST(${S.file} AS BIGINT) * 4294967296 + ${S.row})`;
  const keyed = `${S.episode} IS NOT NULL AND ${S.episode} <> '' AND isfinite(${S.step})`;
  // Per-episode facts by hash aggregation (no sort): last step and first position in the files.
  await connection.run(
    // spread = 0 when the episode's rows sit next to each other in one file (positions first_pos .. first_pos + n - 1)
    `CREATE TEMP TABLE episode_info AS SELECT ${S.episode}, max(${S.step}) AS last_step, min(${pos}) AS first_pos, max(${pos}) - min(${pos}) + 1 - count(*) AS spread ` +
      `FROM staged WHERE ${keyed} GROUP BY ${S.episode}`,
  );
  // The one sort: each row's previous step of its episode in file order.
  await connection.run(
    `CREATE TEMP TABLE ordered AS SELECT ${S.file}, ${S.row}, ${S.step}, lag(${S.step}) OVER (PARTITION BY ${S.episode} ORDER BY ${S.file}, ${S.row}) AS prev_step FROM staged WHERE ${keyed}`,
  );
  // In file order a repeated step is either right after its twin or after a higher step (then also step_disorder).
  // Rows in either position gate the check; the query itself numbers the occurrences of each (episode, step), so a
  // twin after a reversal (steps 0 1 2 1) is a duplicate too. Clean data never pays for that second window.
  checks.push({
    sql:
      `SELECT ${S.file} AS file, ${S.row} AS row, 'duplicate_step' AS code, ${sqlString(schema.step)} AS field, CAST(${S.step} AS VARCHAR) AS value, 'one row per (episode, step)' AS expected ` +
      `FROM (SELECT ${S.file}, ${S.row}, ${S.step}, row_number() OVER (PARTITION BY ${S.episode}, ${S.step} ORDER BY ${S.file}, ${S.row}) AS occurrence FROM staged WHERE ${keyed}) WHERE occurrence > 1`,
    where: `prev_step IS NOT NULL AND ${S.step} <= prev_step`,
    from: "ordered",
  });
  select("step_disorder", schema.step, S.step, "a step after the previous one", `prev_step IS NOT NULL AND ${S.step} < prev_step`, "ordered");
  select("step_gap", schema.step, S.step, "previous step + 1", `prev_step IS NOT NULL AND ${S.step} > prev_step + 1`, "ordered");
  const ended = `(SELECT s.*, e.last_step FROM staged s JOIN episode_info e ON s.${S.episode} = e.${S.episode} WHERE ${schema.terminal ? `coalesce(s.${S.terminal}, false)` : "false"} OR ${schema.truncated ? `coalesce(s.${S.truncated}, false)` : "false"})`;
  if (schema.terminal) select("terminal_not_last", schema.terminal, S.step, "the last step of the episode", `coalesce(${S.terminal}, false) AND ${S.step} < last_step`, ended);
  if (schema.truncated) select("truncated_not_last", schema.truncated, S.step, "the last step of the episode", `coalesce(${S.truncated}, false) AND ${S.step} < last_step`, ended);
  if (schema.nextObservations) {
    const leads = layout.featureNames.map((_, j) => `lead(${S.obs(j)}) OVER byStep AS lead_${j}`).join(", ");
    const byStep = `(SELECT ${S.file}, ${S.row}, ${S.step}, ${layout.featureNames.map((_, j) => S.next(j)).join(", ")}, ${leads}, lead(${S.step}) OVER byStep AS next_step ` +
      `FROM staged WHERE ${keyed} WINDOW byStep AS (PARTITION BY ${S.episode} ORDER BY ${S.step}, ${S.file}, ${S.row}))`;
    for (let j = 0; j < dim; j++) {
      select(
        "next_observation_mismatch",
        layout.nextNames[j]!,
        S.next(j),
        `the next step's ${layout.featureNames[j]}`,
        `next_step = ${S.step} + 1 AND abs(${S.next(j)} - lead_${j}) > 1e-5 * (1 + abs(lead_${j}))`,
        byStep,
      );
    }
  }
  // One counting scan per table; only checks that match some row run as row queries.
  const parts: string[] = checks.filter((c) => c.from !== "staged" && c.from !== "ordered").map((c) => c.sql);
  let aggregated: unknown[] = [];
  for (const from of ["staged", "ordered"]) {
    const group = checks.filter((c) => c.from === from && !c.gate);
    const gated = checks.filter((c) => c.from === from && c.gate);
    const gateColumns = [...new Set(gated.map((c) => c.gate!.column))];
    const extra = from === "staged" ? aggregates : [];
    if (group.length + gated.length + extra.length === 0) continue;
    const select = [
      ...extra,
      "count(*)",
      ...gateColumns.flatMap((c) => [`count(${c})`, `min(${c})`, `max(${c})`]),
      ...group.map((c) => `count(*) FILTER (WHERE ${c.where})`),
    ];
    const row = (await connection.runAndReadAll(`SELECT ${select.join(", ")} FROM ${from}`)).getRows()[0]!;
    if (from === "staged") aggregated = row.slice(0, extra.length);
    const rows = Number(row[extra.length]);
    const number = (v: unknown) => (v === null ? null : Number(v));
    const stats = new Map(gateColumns.map((c, k): [string, ColumnStats] => {
      const at = extra.length + 1 + 3 * k;
      return [c, { rows, count: Number(row[at]), min: number(row[at + 1]), max: number(row[at + 2]) }];
    }));
    for (const c of gated) if (c.gate!.mayFail(stats.get(c.gate!.column)!)) parts.push(c.sql);
    const offset = extra.length + 1 + 3 * gateColumns.length;
    group.forEach((c, i) => {
      if (Number(row[offset + i]) > 0) parts.push(c.sql);
    });
  }
  if (parts.length === 0) parts.push(`SELECT NULL::INTEGER AS file, NULL::BIGINT AS row, NULL::VARCHAR AS code, NULL::VARCHAR AS field, NULL::VARCHAR AS value, NULL::VARCHAR AS expected WHERE false`);
  const codes = `[${Object.keys(RULES).map(sqlString).join(", ")}]`;
  await connection.run(
    `CREATE TEMP TABLE issues AS SELECT *, list_position(${codes}, code) AS rule_rank FROM (${parts.map((p) => `(${p})`).join(" UNION ALL ")}) AS all_issues ` +
      // a value that failed its type check also reads as null: keep only the wrong_type finding for that row
      `WHERE NOT (code = 'missing_value' AND CAST(file AS BIGINT) * 4294967296 + row IN ` +
      `(SELECT CAST(${S.file} AS BIGINT) * 4294967296 + ${S.row} FROM staged WHERE len(${S.typeErrors}) > 0))`,
  );
  // Rows with a finding, and every row of an episode that has one, go to quarantine.
  await connection.run(
    `CREATE TEMP TABLE quarantine AS ` +
      `WITH first_issue AS (SELECT DISTINCT ON (file, row) file, row, code, field, value, expected FROM issues ORDER BY file, row, rule_rank), ` +
      `bad_episodes AS (SELECT s.${S.episode} AS episode, first(i.file ORDER BY i.file, i.row) AS file, first(i.row ORDER BY i.file, i.row) AS row, first(i.code ORDER BY i.file, i.row) AS code FROM first_issue i JOIN staged s ON s.${S.file} = i.file AND s.${S.row} = i.row WHERE s.${S.episode} IS NOT NULL AND s.${S.episode} <> '' GROUP BY s.${S.episode}) ` +
      `SELECT s.${S.file} AS file, s.${S.row} AS row, s.${S.episode} AS episode, s.${S.step} AS step, ` +
      `coalesce(f.code, 'episode_rejected') AS code, f.field, f.value, ` +
      `f.expected, CASE WHEN f.code IS NULL THEN 'episode ' || b.episode || ' has ' || b.code || ' at row ' || b.row END AS cause ` +
      `FROM staged s LEFT JOIN first_issue f ON f.file = s.${S.file} AND f.row = s.${S.row} ` +
      `LEFT JOIN bad_episodes b ON b.episode = s.${S.episode} ` +
      `WHERE f.code IS NOT NULL OR b.episode IS NOT NULL`,
  );
  return aggregated;
}

interface Analysis {
  connection: DuckDBConnection;
  layout: StoredLayout;
  report: IngestReport;
  tsType: string | null;
}

function describeIssue(file: string | null, row: number | null, code: string, field: string | null, value: string | null, expected: string | null): ValidationIssue {
  return { code, file, row, field, value, expected, message: issueMessage(code, field, value, expected) };
}

/** Stages and validates the files in an open DuckDB; leaves `staged`, `issues` and `quarantine` tables behind. */
async function analyse(connection: DuckDBConnection, files: string[], schema: DatasetSchema, options: ValidateOptions): Promise<Analysis> {
  if (files.length === 0) throw new DataError("no_input_files", "give at least one file to read");
  const paths = files.map((f) => resolve(f));
  const layout = storedLayout(schema);
  const hashes = paths.map((p) => (existsSync(p) ? hashFile(p) : Promise.resolve("")));
  hashes.forEach((h) => h.catch(() => undefined));
  const staged = await stage(connection, paths, schema, layout, options);
  const read = staged.sources.reduce((sum, s) => sum + s.rows, 0);
  if (read === 0) throw new DataError("no_rows", `no data rows in ${paths.join(", ")}`, { file: paths[0]! });

  options.onProgress?.({ stage: "validate", rows: read });
  const dim = layout.featureNames.length;
  const aggregateRow = await runRules(
    connection,
    schema,
    layout,
    layout.featureNames.flatMap((_, j) => [`count(${S.obs(j)})`, `min(${S.obs(j)})`, `max(${S.obs(j)})`]),
  );
  // Dataset-level feature checks: all-missing is fatal, constant is a warning.
  const warnings = [...staged.warnings];
  for (let j = 0; j < dim; j++) {
    const count = Number(aggregateRow[3 * j]);
    const name = layout.featureNames[j]!;
    if (count === 0) throw new DataError("all_missing_feature", `feature ${name} has no values in any row`, { field: name });
    if (read > 1 && aggregateRow[3 * j + 1] === aggregateRow[3 * j + 2]) {
      warnings.push(describeIssue(null, null, "constant_feature", name, String(aggregateRow[3 * j + 1]), "more than one distinct value"));
    }
  }

  await connection.run(
    `CREATE TEMP VIEW accepted AS SELECT s.* FROM staged s ANTI JOIN quarantine q ON s.${S.file} = q.file AND s.${S.row} = q.row`,
  );
  const counts = (
    await connection.runAndReadAll(
      `SELECT (SELECT count(*) FROM quarantine), (SELECT count(*) FROM accepted), ` +
        `(SELECT count(DISTINCT ${S.episode}) FROM staged WHERE ${S.episode} <> ''), (SELECT count(DISTINCT ${S.episode}) FROM accepted)`,
    )
  ).getRows()[0]!.map(Number);
  const [quarantined, accepted, episodesRead, episodesAccepted] = counts as [number, number, number, number];
  const issueCounts: Record<string, number> = {};
  for (const [code, n] of (await connection.runAndReadAll(`SELECT code, count(*) FROM issues GROUP BY code ORDER BY code`)).getRows()) issueCounts[String(code)] = Number(n);
  const rejectedRows = Number((await connection.runAndReadAll(`SELECT count(*) FROM quarantine WHERE code = 'episode_rejected'`)).getRows()[0]![0]);
  if (rejectedRows > 0) issueCounts.episode_rejected = rejectedRows;

  const maxIssues = options.maxIssues ?? 1000;
  const issueRows = (await connection.runAndReadAll(`SELECT file, row, code, field, value, expected FROM issues ORDER BY file, row, rule_rank LIMIT ${maxIssues}`)).getRows();
  const issues = issueRows.map((r) =>
    describeIssue(paths[Number(r[0])]!, Number(r[1]), String(r[2]), r[3] === null ? null : String(r[3]), r[4] === null ? null : String(r[4]), r[5] === null ? null : String(r[5])),
  );
  const emptied = quarantined === 0 ? [] : (
    await connection.runAndReadAll(
      `SELECT DISTINCT ${S.episode} FROM quarantine q JOIN staged s ON s.${S.file} = q.file AND s.${S.row} = q.row WHERE ${S.episode} <> '' ` +
        `AND ${S.episode} NOT IN (SELECT ${S.episode} FROM accepted) ORDER BY 1 LIMIT ${maxIssues}`,
    )
  ).getRows();
  for (const [episode] of emptied) warnings.push(describeIssue(null, null, "empty_episode", schema.episode, String(episode), "at least one accepted transition"));

  const hashed = await Promise.all(hashes);
  const report: IngestReport = {
    read,
    accepted,
    quarantined,
    reconciled: accepted + quarantined === read,
    episodes: { read: episodesRead, accepted: episodesAccepted, rejected: episodesRead - episodesAccepted },
    issueCounts,
    issues,
    warnings,
    sources: staged.sources.map((s, i) => ({ ...s, sha256: hashed[i]! })),
  };
  if (!report.reconciled) {
    throw new DataError("internal_reconciliation", `accepted ${accepted} + quarantined ${quarantined} != read ${read}`);
  }
  return { connection, layout, report, tsType: staged.tsType };
}

/**
 * "row N" for a finding's data row (1-based, header excluded), plus the text line for a CSV file, whose header
 * makes the two differ by one (a quoted field over several lines would shift it further).
 */
export function rowPosition(file: string | null, row: number | null): string {
  if (row === null) return "";
  return file !== null && formatFromPath(file) === "csv" ? `row ${row} (line ${row + 1})` : `row ${row}`;
}

/** Reads and validates files against a schema without writing anything. */
export async function validateFiles(files: string[], schema: DatasetSchema | string, options: ValidateOptions = {}): Promise<IngestReport> {
  const parsed = typeof schema === "string" ? loadSchema(schema) : schema;
  const db = await openDuckDB();
  try {
    return (await analyse(db.connection, files, parsed, options)).report;
  } finally {
    db.close();
  }
}

/**
 * Writes the accepted rows, episode by episode in order of first appearance and by step within an episode, with
 * the episode-end flags filled. Next observations are stored only when the schema names them; otherwise the
 * loader derives them from the following row of the same episode.
 */
async function writeAccepted(analysis: Analysis, schema: DatasetSchema, path: string): Promise<void> {
  const { connection, layout } = analysis;
  const stored = layout.schema;
  const q = sqlIdent;
  const term = schema.terminal ? `coalesce(a.${S.terminal}, false)` : "false";
  const trunc = schema.truncated ? `coalesce(a.${S.truncated}, false)` : "false";
  // `facts` is the alias that carries ep_index and last_step: the episode table `e`, or the staging row itself
  const columnsFrom = (facts: string) => {
    const isLast = `(a.${S.step} = ${facts}.last_step)`;
    // An episode's last step that no flag ends: with no flag columns the schema's episodeEnd convention decides;
    // with a terminal column (and no truncated one) a last step not marked terminal was cut off, and vice versa.
    const endedBy = !schema.terminal && !schema.truncated ? schema.episodeEnd : !schema.truncated ? "truncated" : !schema.terminal ? "terminal" : null;
    const endFlag = (flag: "terminal" | "truncated", own: string) =>
      endedBy === flag ? `(${own} OR (${isLast} AND NOT ${term} AND NOT ${trunc}))` : own;
    const columns = [
      `${facts}.ep_index AS ${q(EPISODE_INDEX_COLUMN)}`,
      `a.${S.episode} AS ${q(stored.episode)}`,
      `CAST(a.${S.step} AS INTEGER) AS ${q(stored.step)}`,
      ...(stored.timestamp ? [`a.${S.ts} AS ${q(stored.timestamp)}`] : []),
      ...layout.featureNames.map((f, j) => `CAST(a.${S.obs(j)} AS FLOAT) AS ${q(f)}`),
      ...(schema.nextObservations ? layout.nextNames.map((f, j) => `CAST(a.${S.next(j)} AS FLOAT) AS ${q(f)}`) : []),
      ...(stored.action.kind === "discrete"
        ? [`CAST(a.${S.action(0)} AS INTEGER) AS ${q(stored.action.column)}`]
        : layout.actionColumns.map((c, k) => `CAST(a.${S.action(k)} AS FLOAT) AS ${q(c)}`)),
      `CAST(a.${S.reward} AS FLOAT) AS ${q(stored.reward.column)}`,
      `CAST(${endFlag("terminal", term)} AS UTINYINT) AS ${q(stored.terminal!)}`,
      `CAST(${endFlag("truncated", trunc)} AS UTINYINT) AS ${q(stored.truncated!)}`,
      ...(stored.behaviorProb ? [`a.${S.prob} AS ${q(stored.behaviorProb.column)}`] : []),
      ...(stored.policyVersion ? [`a.${S.policy} AS ${q(stored.policyVersion)}`] : []),
      ...(stored.metadata ?? []).map((m, k) => `a.${S.meta(k)} AS ${q(m)}`),
    ];
    return columns;
  };
  const episodes = `SELECT ${S.episode}, last_step, CAST(row_number() OVER (ORDER BY first_pos) - 1 AS INTEGER) AS ep_index FROM episode_info`;
  // Fast path for the usual log: nothing quarantined and every episode's rows already contiguous, so (with no step
  // rule broken) file order is the stored order. The episode index and last step are added to the staging table in
  // place and it is copied out in insertion order, which DuckDB preserves for a plain single-table select; this
  // avoids sorting the whole payload (time, and a second copy of the data in memory).
  const inFileOrder =
    analysis.report.quarantined === 0 && Number((await connection.runAndReadAll(`SELECT count(*) FROM episode_info WHERE spread <> 0`)).getRows()[0]![0]) === 0;
  if (inFileOrder) {
    await connection.run(`DROP TABLE IF EXISTS ordered`);
    await connection.run(`CREATE TEMP TABLE e AS ${episodes}`);
    await connection.run(`ALTER TABLE staged ADD COLUMN ep_index INTEGER`);
    await connection.run(`ALTER TABLE staged ADD COLUMN last_step DOUBLE`);
    await connection.run(`UPDATE staged SET ep_index = e.ep_index, last_step = e.last_step FROM e WHERE staged.${S.episode} = e.${S.episode}`);
    await connection.run(`COPY (SELECT ${columnsFrom("a").join(", ")} FROM staged a) TO ${sqlString(path)} (FORMAT parquet)`);
    return;
  }
  await connection.run(
    `COPY (WITH e AS (${episodes} WHERE ${S.episode} NOT IN (SELECT episode FROM quarantine WHERE episode IS NOT NULL)) ` +
      `SELECT ${columnsFrom("e").join(", ")} FROM ${analysis.report.quarantined === 0 ? "staged" : "accepted"} a JOIN e ON a.${S.episode} = e.${S.episode} ORDER BY e.ep_index, a.${S.step}) ` +
      `TO ${sqlString(path)} (FORMAT parquet)`,
  );
}

/** Staging columns and the schema names they were read from, for the quarantine's copy of each row. */
function stagedFields(schema: DatasetSchema, layout: StoredLayout): Array<[string, string]> {
  return [
    [S.episode, schema.episode],
    [S.step, schema.step],
    ...(schema.timestamp ? [[S.ts, schema.timestamp] as [string, string]] : []),
    ...layout.featureNames.map((f, j): [string, string] => [S.obs(j), f]),
    ...(schema.nextObservations ? layout.nextNames.map((f, j): [string, string] => [S.next(j), f]) : []),
    ...layout.actionColumns.map((c, k): [string, string] => [S.action(k), c]),
    [S.reward, schema.reward.column],
    ...(schema.terminal ? [[S.terminal, schema.terminal] as [string, string]] : []),
    ...(schema.truncated ? [[S.truncated, schema.truncated] as [string, string]] : []),
    ...(schema.behaviorProb ? [[S.prob, schema.behaviorProb.column] as [string, string]] : []),
    ...(schema.policyVersion ? [[S.policy, schema.policyVersion] as [string, string]] : []),
    ...(schema.metadata ?? []).map((m, k): [string, string] => [S.meta(k), m]),
  ];
}

/** One JSON line per rejected row: where it came from, its first rule code and message, and the values as read. */
async function writeQuarantine(analysis: Analysis, schema: DatasetSchema, files: string[], path: string): Promise<void> {
  const { connection, layout } = analysis;
  const fileTable = files.map((f, i) => `(${i}, ${sqlString(resolve(f))})`).join(", ");
  const rules = Object.entries(RULES).map(([code, text]) => `(${sqlString(code)}, ${sqlString(text)})`).join(", ");
  // NaN/inf are not JSON: values go out as text
  const values = `struct_pack(${stagedFields(schema, layout).map(([column, name]) => `${sqlIdent(name)} := CAST(s.${column} AS VARCHAR)`).join(", ")})`;
  await connection.run(
    `COPY (SELECT f.path AS file, q.row, q.episode, q.step, q.code, q.field, q.value, q.expected, ` +
      `r.text || coalesce(': ' || q.cause, '') || coalesce(': ' || q.field, '') || coalesce(' = ' || q.value, '') || coalesce(' (expected ' || q.expected || ')', '') AS message, ` +
      `${values} AS "values" ` +
      `FROM quarantine q JOIN staged s ON s.${S.file} = q.file AND s.${S.row} = q.row ` +
      `JOIN (VALUES ${fileTable}) f(idx, path) ON f.idx = q.file JOIN (VALUES ${rules}) r(code, text) ON r.code = q.code ` +
      `ORDER BY q.file, q.row) TO ${sqlString(path)} (FORMAT json)`,
  );
}

/**
 * Reads CSV/JSONL/Parquet files, validates every row against the schema, and stores the accepted rows as a new
 * immutable version NAME@N (rejected rows go to its quarantine file). Malformed files, missing columns or an
 * all-missing feature fail the whole ingest with a coded error and nothing written; so does any rejected row
 * under `strict`.
 */
export async function ingest(options: IngestOptions): Promise<{ manifest: DatasetManifest; report: IngestReport }> {
  const schema = typeof options.schema === "string" ? loadSchema(options.schema) : options.schema;
  const store = resolveStoreDir(options.store);
  const db = await openDuckDB();
  try {
    const analysis = await analyse(db.connection, options.files, schema, options);
    const { report } = analysis;
    if (report.accepted === 0) {
      const top = report.issues[0];
      const counts = Object.entries(report.issueCounts).map(([code, n]) => `${code} ${n}`).join(", ");
      throw new DataError(
        "no_valid_rows",
        `all ${report.read} rows were rejected (${counts})${top ? `; first: ${top.code} at ${top.file} ${rowPosition(top.file, top.row)} (${top.message})` : ""}`,
        top ? { file: top.file ?? undefined, row: top.row ?? undefined, field: top.field ?? undefined, issueCounts: report.issueCounts } : { issueCounts: report.issueCounts },
      );
    }
    if (options.strict && report.quarantined > 0) {
      const top = report.issues[0];
      throw new DataError(
        "strict_rejected",
        `${report.quarantined} of ${report.read} rows failed validation${top ? `; first: ${top.code} at ${top.file} ${rowPosition(top.file, top.row)} (${top.message})` : ""}`,
        top ? { file: top.file ?? undefined, row: top.row ?? undefined, field: top.field ?? undefined, issueCounts: report.issueCounts } : { issueCounts: report.issueCounts },
      );
    }
    options.onProgress?.({ stage: "write", rows: report.accepted });
    const manifest = await createVersion(store, options.dataset, async (temp) => {
      await writeAccepted(analysis, schema, join(temp, DATA_FILE));
      await writeQuarantine(analysis, schema, options.files, join(temp, QUARANTINE_FILE));
      writeFileSync(join(temp, REPORT_FILE), JSON.stringify(report, null, 2) + "\n");
      return {
        counts: { read: report.read, accepted: report.accepted, quarantined: report.quarantined, episodes: report.episodes.accepted },
        schema: analysis.layout.schema,
        featureNames: analysis.layout.featureNames,
        sources: report.sources,
        parents: options.parents ?? [],
        transform: { kind: "ingest", params: { files: report.sources.map((s) => s.path), strict: options.strict ?? false, ...(options.delimiter ? { delimiter: options.delimiter } : {}) } },
      };
    });
    options.onProgress?.({ stage: "done", rows: report.accepted });
    return { manifest, report };
  } finally {
    db.close();
  }
}
