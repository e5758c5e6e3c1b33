import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, fsyncSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { DatasetSchema } from "./schema.js";
import { DataError } from "./errors.js";

/**
 * The versioned dataset store: STORE/NAME/vN/ holds one immutable version (data.parquet, manifest.json,
 * quarantine.jsonl, report.json). A version is built in STORE/NAME/.tmp-*, fsynced, then renamed into place, so a
 * crash leaves either a whole version or an ignored temp folder.
 */
export const DATA_FILE = "data.parquet";
export const MANIFEST_FILE = "manifest.json";
export const QUARANTINE_FILE = "quarantine.jsonl";
export const REPORT_FILE = "report.json";

export interface VersionId {
  name: string;
  version: number;
}

export interface ParentRef extends VersionId {
  contentHash: string;
}

export interface SourceFile {
  path: string;
  sha256: string;
  bytes: number;
  rows: number;
}

export interface DatasetManifest {
  format: "hindcast.dataset/v1";
  name: string;
  version: number;
  createdAt: string;
  creator: string;
  counts: { read: number; accepted: number; quarantined: number; episodes: number };
  /** Schema of the stored data.parquet: scalar observation and next-observation columns, explicit flags. */
  schema: DatasetSchema;
  featureNames: string[];
  /** SHA-256 of data.parquet, "sha256:<hex>". */
  contentHash: string;
  files: { data: string; quarantine: string; report: string };
  sources: SourceFile[];
  parents: ParentRef[];
  transform: { kind: "ingest" | "split" | "filter"; params: Record<string, unknown> };
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A dataset name is one safe path segment: letters, digits, '.', '_', '-'; no '..', separators or NUL. */
export function checkDatasetName(name: string): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name) || name.includes("..")) {
    throw new DataError("invalid_dataset_name", `invalid dataset name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (max 128, no '..', no path separators)`, { field: "name", value: name });
  }
  return name;
}

/** The store directory: the flag, else $HINDCAST_STORE, else ./.hindcast/datasets under the working directory. */
export function resolveStoreDir(flag?: string): string {
  const chosen = flag ?? process.env.HINDCAST_STORE ?? join(".hindcast", "datasets");
  if (chosen.includes("\0")) throw new DataError("invalid_store_path", "store path contains a NUL byte");
  return isAbsolute(chosen) ? chosen : resolve(process.cwd(), chosen);
}

export interface VersionRef {
  name: string;
  version: number | "latest";
}

/** Parses "NAME@N", "NAME@latest" or "NAME" (latest). */
export function parseVersionRef(ref: string): VersionRef {
  const at = ref.lastIndexOf("@");
  const name = at < 0 ? ref : ref.slice(0, at);
  const tag = at < 0 ? "latest" : ref.slice(at + 1);
  checkDatasetName(name);
  if (tag === "latest") return { name, version: "latest" };
  if (!/^[1-9][0-9]{0,8}$/.test(tag)) {
    throw new DataError("invalid_version_ref", `invalid version in ${JSON.stringify(ref)}: expected NAME@N (N >= 1) or NAME@latest`, { value: ref });
  }
  return { name, version: Number(tag) };
}

function datasetDir(store: string, name: string): string {
  return join(store, checkDatasetName(name));
}

/** Committed version numbers of a dataset, ascending (temp folders and folders without a manifest are ignored). */
export function listVersions(store: string, name: string): number[] {
  const dir = datasetDir(store, name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((entry) => /^v[1-9][0-9]*$/.test(entry) && existsSync(join(dir, entry, MANIFEST_FILE)))
    .map((entry) => Number(entry.slice(1)))
    .sort((a, b) => a - b);
}

/** Dataset names in the store that have at least one committed version. */
export function listDatasets(store: string): string[] {
  if (!existsSync(store)) return [];
  return readdirSync(store)
    .filter((entry) => NAME_PATTERN.test(entry) && !entry.includes("..") && statSync(join(store, entry)).isDirectory())
    .filter((entry) => listVersions(store, entry).length > 0)
    .sort();
}

/** Resolves NAME@N / NAME@latest to a committed version; throws dataset_not_found / version_not_found. */
export function resolveVersion(store: string, ref: string | VersionRef): VersionId {
  const parsed = typeof ref === "string" ? parseVersionRef(ref) : ref;
  const versions = listVersions(store, parsed.name);
  if (versions.length === 0) throw new DataError("dataset_not_found", `no dataset named ${parsed.name} in ${store}`, { value: parsed.name });
  if (parsed.version === "latest") return { name: parsed.name, version: versions[versions.length - 1]! };
  if (!versions.includes(parsed.version)) {
    throw new DataError("version_not_found", `${parsed.name}@${parsed.version} does not exist (versions: ${versions.join(", ")})`, { value: `${parsed.name}@${parsed.version}` });
  }
  return { name: parsed.name, version: parsed.version };
}

export function versionDir(store: string, id: VersionId): string {
  return join(datasetDir(store, id.name), `v${id.version}`);
}

export function readManifest(store: string, ref: string | VersionId): DatasetManifest {
  const id = typeof ref === "string" ? resolveVersion(store, ref) : ref;
  const path = join(versionDir(store, id), MANIFEST_FILE);
  try {
    return JSON.parse(readFileSync(path, "utf8")) as DatasetManifest;
  } catch (error) {
    throw new DataError("manifest_unreadable", `cannot read ${path}: ${(error as Error).message}`, { file: path });
  }
}

/** Streams a file through SHA-256. */
export function hashFile(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash("sha256");
    createReadStream(path, { highWaterMark: 1 << 22 })
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolvePromise(hash.digest("hex")));
  });
}

export function currentCreator(): string {
  let user = process.env.USER ?? "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Everything of a manifest except what the store fills in at commit time. */
export type ManifestDraft = Omit<DatasetManifest, "format" | "name" | "version" | "createdAt" | "creator" | "contentHash" | "files">;

/**
 * Creates the next version of `name` atomically. `build` writes data.parquet (and optionally the quarantine and
 * report files) into the temp folder it is given and returns the manifest draft; the store hashes the data,
 * writes the manifest, fsyncs and renames the folder to vN. If `build` throws, the temp folder is removed and no
 * version appears. A temp folder left by a killed process is never listed and is swept by the next creation.
 */
export async function createVersion(store: string, name: string, build: (tempDir: string) => Promise<ManifestDraft>): Promise<DatasetManifest> {
  const dir = datasetDir(store, name);
  mkdirSync(dir, { recursive: true });
  sweepStaleTemps(dir);
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  mkdirSync(temp);
  try {
    const draft = await build(temp);
    const dataPath = join(temp, DATA_FILE);
    if (!existsSync(dataPath)) throw new DataError("internal_missing_data", "version build wrote no data.parquet");
    for (const file of [QUARANTINE_FILE, REPORT_FILE]) if (!existsSync(join(temp, file))) writeFileSync(join(temp, file), "");
    const contentHash = `sha256:${await hashFile(dataPath)}`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const versions = listVersions(store, name);
      const version = (versions[versions.length - 1] ?? 0) + 1;
      const manifest: DatasetManifest = {
        format: "hindcast.dataset/v1",
        name,
        version,
        createdAt: new Date().toISOString(),
        creator: currentCreator(),
        ...draft,
        contentHash,
        files: { data: DATA_FILE, quarantine: QUARANTINE_FILE, report: REPORT_FILE },
      };
      writeFileSync(join(temp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
      for (const entry of readdirSync(temp)) fsyncPath(join(temp, entry));
      fsyncPath(temp);
      try {
        // rename(2) onto an existing non-empty folder fails, so two writers never share a number.
        renameSync(temp, join(dir, `v${version}`));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOTEMPTY" || code === "EEXIST") continue;
        throw error;
      }
      fsyncPath(dir);
      return manifest;
    }
    throw new DataError("version_conflict", `could not claim a version number for ${name}`);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}

/** Removes temp folders older than an hour (a killed writer's leftovers). */
function sweepStaleTemps(dir: string): void {
  const cutoff = Date.now() - 3600_000;
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith(".tmp-")) continue;
    const path = join(dir, entry);
    try {
      if (statSync(path).mtimeMs < cutoff) rmSync(path, { recursive: true, force: true });
    } catch {
      // another process removed it first
    }
  }
}

export interface LineageNode extends VersionId {
  contentHash: string;
  transform: DatasetManifest["transform"];
  parents: VersionId[];
}

/** Ancestors (following parents, nearest first) and descendants (versions whose parents include it, transitively). */
export function lineage(store: string, ref: string | VersionId): { version: LineageNode; ancestors: LineageNode[]; descendants: LineageNode[] } {
  const id = typeof ref === "string" ? resolveVersion(store, ref) : ref;
  const node = (m: DatasetManifest): LineageNode => ({
    name: m.name,
    version: m.version,
    contentHash: m.contentHash,
    transform: m.transform,
    parents: m.parents.map((p) => ({ name: p.name, version: p.version })),
  });
  const key = (v: VersionId) => `${v.name}@${v.version}`;
  const self = node(readManifest(store, id));
  const ancestors: LineageNode[] = [];
  const seen = new Set([key(self)]);
  const queue: VersionId[] = [...self.parents];
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (seen.has(key(next))) continue;
    seen.add(key(next));
    try {
      const m = node(readManifest(store, next));
      ancestors.push(m);
      queue.push(...m.parents);
    } catch {
      // a parent outside this store: keep walking what is here
    }
  }
  const all: LineageNode[] = [];
  for (const name of listDatasets(store)) for (const version of listVersions(store, name)) all.push(node(readManifest(store, { name, version })));
  const descendants: LineageNode[] = [];
  const found = new Set([key(self)]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const candidate of all) {
      if (found.has(key(candidate))) continue;
      if (candidate.parents.some((p) => found.has(key(p)))) {
        found.add(key(candidate));
        descendants.push(candidate);
        grew = true;
      }
    }
  }
  return { version: self, ancestors, descendants };
}
