import { join } from "node:path";
import { copyNumericVector, openDuckDB, sqlIdent, sqlString } from "./duckdb.js";
import { DataError } from "./errors.js";
import { EPISODE_INDEX_COLUMN } from "./layout.js";
import { Rng } from "../random/index.js";
import { checkDatasetName, createVersion, DATA_FILE, readManifest, resolveStoreDir, resolveVersion, versionDir, type DatasetManifest } from "./store.js";
import { appendColumns } from "./write-columns.js";

export interface SplitOptions {
  store?: string;
  /** Parent version, "NAME@N" or "NAME@latest". */
  ref: string;
  by?: "episode";
  /** Positive fractions summing to 1, e.g. [0.8, 0.1, 0.1]. */
  fractions: number[];
  seed: number;
  /** Child dataset names; default NAME-train/NAME-val/NAME-test (3 parts), NAME-train/NAME-test (2), NAME-partK. */
  names?: string[];
}

/** Splits a version's episodes at random (seeded) into new child versions; no episode lands in two parts. */
export async function splitDataset(options: SplitOptions): Promise<DatasetManifest[]> {
  if ((options.by ?? "episode") !== "episode") throw new DataError("invalid_split", `cannot split by ${options.by}; only by episode`);
  const { fractions, seed } = options;
  if (fractions.length < 2 || fractions.some((f) => !(f > 0 && f <= 1)) || Math.abs(fractions.reduce((a, b) => a + b, 0) - 1) > 1e-6) {
    throw new DataError("invalid_split", `fractions must be two or more numbers in (0, 1] summing to 1, got ${fractions.join(",")}`, { value: fractions.join(",") });
  }
  if (!Number.isInteger(seed)) throw new DataError("invalid_split", `seed must be an integer, got ${seed}`);
  const store = resolveStoreDir(options.store);
  const id = resolveVersion(store, options.ref);
  const parent = readManifest(store, id);
  const suffixes = fractions.length === 3 ? ["train", "val", "test"] : fractions.length === 2 ? ["train", "test"] : fractions.map((_, k) => `part${k}`);
  const names = (options.names ?? suffixes.map((s) => `${id.name}-${s}`)).map(checkDatasetName);
  if (names.length !== fractions.length || new Set(names).size !== names.length) {
    throw new DataError("invalid_split", `need ${fractions.length} distinct names, got ${names.join(",")}`);
  }

  // Seeded Fisher-Yates shuffle of episode indices, then consecutive runs of the planned sizes.
  const episodes = parent.counts.episodes;
  const order = new Int32Array(episodes).map((_, i) => i);
  new Rng(seed).shuffle(order);
  const sizes = fractions.map((f) => Math.floor(f * episodes));
  const byRemainder = fractions.map((f, k) => [f * episodes - sizes[k]!, k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let r = 0, left = episodes - sizes.reduce((a, b) => a + b, 0); left > 0; r++, left--) sizes[byRemainder[r % fractions.length]![1]]! += 1;
  const empty = sizes.findIndex((n) => n === 0);
  if (empty >= 0) {
    // an empty child version would be a train/val/test set with nothing in it
    throw new DataError(
      "split_too_small",
      `${id.name}@${id.version} has ${episodes} episode(s); fractions ${fractions.join(",")} leave part ${empty + 1} (${names[empty]}) with none`,
      { value: fractions.join(","), episodes },
    );
  }
  const part = new Int32Array(episodes);
  for (let k = 0, at = 0; k < sizes.length; k++) for (let c = 0; c < sizes[k]!; c++) part[order[at++]!] = k;

  const parentData = join(versionDir(store, id), DATA_FILE);
  const step = sqlIdent(parent.schema.step);
  const db = await openDuckDB();
  try {
    await db.connection.run(`CREATE TABLE parts (episode_index INTEGER, part INTEGER)`);
    await appendColumns(db.connection, "parts", [new Int32Array(episodes).map((_, i) => i), part], episodes);
    const children: DatasetManifest[] = [];
    for (let k = 0; k < names.length; k++) {
      const rows = Number(
        (await db.connection.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(parentData)}) d JOIN parts p ON p.episode_index = d.${EPISODE_INDEX_COLUMN} WHERE p.part = ${k}`)).getRows()[0]![0],
      );
      children.push(
        await createVersion(store, names[k]!, async (temp) => {
          await db.connection.run(
            `COPY (SELECT * REPLACE (CAST(dense_rank() OVER (ORDER BY d.${EPISODE_INDEX_COLUMN}) - 1 AS INTEGER) AS ${EPISODE_INDEX_COLUMN}) ` +
              `FROM read_parquet(${sqlString(parentData)}) d JOIN parts p ON p.episode_index = d.${EPISODE_INDEX_COLUMN} WHERE p.part = ${k} ` +
              `ORDER BY d.${EPISODE_INDEX_COLUMN}, d.${step}) TO ${sqlString(join(temp, DATA_FILE))} (FORMAT parquet)`,
          );
          return {
            counts: { read: rows, accepted: rows, quarantined: 0, episodes: sizes[k]! },
            schema: parent.schema,
            featureNames: parent.featureNames,
            sources: [],
            parents: [{ name: id.name, version: id.version, contentHash: parent.contentHash }],
            transform: { kind: "split", params: { by: "episode", fractions, seed, part: k, names } },
          };
        }),
      );
    }
    return children;
  } finally {
    db.close();
  }
}

export interface FilterOptions {
  store?: string;
  ref: string;
  /** Keep rows with timestamp >= since (schema must name a timestamp column). */
  since?: string;
  /** Keep rows with timestamp < until. */
  until?: string;
  /** Keep rows logged under one of these policy versions. */
  policyVersions?: string[];
  /** A DuckDB SQL boolean expression over the stored column names, evaluated with file access disabled. */
  where?: string;
  /** Child dataset name; default: a new version of the parent's dataset. */
  into?: string;
}

/**
 * Keeps the rows matching every given condition and stores them as a child version. Where a filter removes rows
 * from the middle of an episode, each run of consecutive steps becomes its own episode (id "EP#k"), and a run
 * cut short is marked truncated, so every stored episode stays a valid trajectory.
 */
export async function filterDataset(options: FilterOptions): Promise<DatasetManifest> {
  const store = resolveStoreDir(options.store);
  const id = resolveVersion(store, options.ref);
  const parent = readManifest(store, id);
  const schema = parent.schema;
  const into = checkDatasetName(options.into ?? id.name);
  const conditions: string[] = [];
  if (options.since !== undefined || options.until !== undefined) {
    if (!schema.timestamp) throw new DataError("no_timestamp_column", `${id.name}@${id.version} has no timestamp column to filter on`);
    if (options.since !== undefined) conditions.push(`${sqlIdent(schema.timestamp)} >= ${sqlString(options.since)}`);
    if (options.until !== undefined) conditions.push(`${sqlIdent(schema.timestamp)} < ${sqlString(options.until)}`);
  }
  if (options.policyVersions && options.policyVersions.length > 0) {
    if (!schema.policyVersion) throw new DataError("no_policy_version_column", `${id.name}@${id.version} has no policy-version column to filter on`);
    conditions.push(`CAST(${sqlIdent(schema.policyVersion)} AS VARCHAR) IN (${options.policyVersions.map(sqlString).join(", ")})`);
  }
  if (options.where !== undefined) {
    if (options.where.includes(";") || options.where.trim() === "") throw new DataError("invalid_filter_expression", "the expression must be a single non-empty SQL boolean expression", { value: options.where });
    conditions.push(`(${options.where})`);
  }
  if (conditions.length === 0) throw new DataError("invalid_filter", "give at least one of since, until, policy versions or an expression");
  const parentData = join(versionDir(store, id), DATA_FILE);
  const size = parent.counts.accepted;

  // Evaluate the predicate in a sandboxed instance: the data is loaded first, then file access is switched off.
  const keep = new Uint8Array(size);
  const sandbox = await openDuckDB();
  try {
    await sandbox.connection.run(`CREATE TABLE d AS SELECT * FROM read_parquet(${sqlString(parentData)})`);
    await sandbox.connection.run(`SET enable_external_access = false`);
    await sandbox.connection.run(`SET lock_configuration = true`);
    let result;
    try {
      result = await sandbox.connection.stream(`SELECT CAST(coalesce(${conditions.join(" AND ")}, false) AS UTINYINT) FROM d`);
    } catch (error) {
      const reason = (error as Error).message.split("\n")[0];
      // a time bound the timestamp column cannot compare with is the user's --since/--until, not an expression
      if (options.where === undefined && (options.since !== undefined || options.until !== undefined) && /Conversion Error/i.test(reason ?? "")) {
        throw new DataError("invalid_time_bound", `--since/--until (${[options.since, options.until].filter((v) => v !== undefined).join(", ")}) cannot be compared with ${schema.timestamp}: ${reason}`, {
          field: schema.timestamp,
          value: options.since ?? options.until,
        });
      }
      throw new DataError("invalid_filter_expression", `cannot evaluate the filter: ${reason}`, { value: options.where ?? conditions.join(" AND ") });
    }
    let row = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      copyNumericVector(chunk.getColumnVector(0), keep, row, chunk.rowCount);
      row += chunk.rowCount;
    }
  } finally {
    sandbox.close();
  }
  let kept = 0;
  for (let i = 0; i < size; i++) kept += keep[i]!;
  if (kept === 0) {
    throw new DataError("empty_filter_result", `no row of ${id.name}@${id.version} matches ${conditions.join(" AND ")}; nothing written`, { value: conditions.join(" AND ") });
  }

  const q = sqlIdent;
  const ep = q(EPISODE_INDEX_COLUMN);
  const step = q(schema.step);
  const episode = q(schema.episode);
  const terminal = q(schema.terminal!);
  const truncated = q(schema.truncated!);
  // A filter can cut an episode short, so the child stores next observations explicitly (derived ones would be
  // lost at the cut).
  const derivedNext = schema.nextObservations ? [] : parent.featureNames.map((f) => `next_${f}`);
  const taken = new Set([EPISODE_INDEX_COLUMN, schema.episode, schema.step, schema.timestamp, ...parent.featureNames, schema.reward.column, schema.terminal, schema.truncated, schema.behaviorProb?.column, schema.policyVersion, ...(schema.metadata ?? []), ...(schema.action.kind === "discrete" ? [schema.action.column] : schema.action.columns)]);
  const clash = derivedNext.find((n) => taken.has(n));
  if (clash) throw new DataError("column_name_collision", `cannot add derived column ${clash}: the dataset already has a column of that name`, { field: clash });
  const childSchema = derivedNext.length > 0 ? { ...schema, nextObservations: derivedNext } : schema;
  const nextColumns = derivedNext.map((n, j) => `, CAST(coalesce(lead(${sqlIdent(parent.featureNames[j]!)}) OVER (PARTITION BY ${sqlIdent(EPISODE_INDEX_COLUMN)} ORDER BY ${sqlIdent(schema.step)}), 0) AS FLOAT) AS ${sqlIdent(n)}`).join("");
  const db = await openDuckDB();
  try {
    await db.connection.run(`CREATE TABLE mask (rid DOUBLE, keep UTINYINT)`);
    const rid = new Float64Array(size).map((_, i) => i + 1);
    await appendColumns(db.connection, "mask", [rid, keep], size);
    return await createVersion(store, into, async (temp) => {
      await db.connection.run(
        `COPY (WITH d AS (SELECT *, row_number() OVER () AS __rid FROM read_parquet(${sqlString(parentData)})), ` +
          `o AS (SELECT *, lead(${step}) OVER (PARTITION BY ${ep} ORDER BY ${step}) IS NULL AS __last_orig${nextColumns} FROM d), ` +
          `k AS (SELECT o.*, ${step} - row_number() OVER (PARTITION BY ${ep} ORDER BY ${step}) AS __run FROM o JOIN mask m ON m.rid = o.__rid WHERE m.keep = 1), ` +
          `r AS (SELECT *, dense_rank() OVER (PARTITION BY ${ep} ORDER BY __run) - 1 AS __seg FROM k), ` +
          `s AS (SELECT *, max(__seg) OVER (PARTITION BY ${ep}) AS __segs, lead(${step}) OVER (PARTITION BY ${ep}, __seg ORDER BY ${step}) IS NULL AS __last_new FROM r) ` +
          `SELECT * EXCLUDE (__rid, __last_orig, __run, __seg, __segs, __last_new) REPLACE (` +
          `CAST(dense_rank() OVER (ORDER BY ${ep}, __seg) - 1 AS INTEGER) AS ${ep}, ` +
          `CASE WHEN __segs > 0 THEN ${episode} || '#' || __seg ELSE ${episode} END AS ${episode}, ` +
          `CAST(${truncated} = 1 OR (__last_new AND NOT __last_orig AND ${terminal} = 0) AS UTINYINT) AS ${truncated}) ` +
          `FROM s ORDER BY ${ep}, __seg, ${step}) TO ${sqlString(join(temp, DATA_FILE))} (FORMAT parquet)`,
      );
      const episodes = Number((await db.connection.runAndReadAll(`SELECT count(DISTINCT ${ep}) FROM read_parquet(${sqlString(join(temp, DATA_FILE))})`)).getRows()[0]![0]);
      return {
        counts: { read: kept, accepted: kept, quarantined: 0, episodes },
        schema: childSchema,
        featureNames: parent.featureNames,
        sources: [],
        parents: [{ name: id.name, version: id.version, contentHash: parent.contentHash }],
        transform: {
          kind: "filter",
          params: { since: options.since ?? null, until: options.until ?? null, policyVersions: options.policyVersions ?? null, where: options.where ?? null, removedRows: size - kept },
        },
      };
    });
  } finally {
    db.close();
  }
}
