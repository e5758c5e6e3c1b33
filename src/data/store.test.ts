import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
import { checkDatasetName, createVersion, lineage, listDatasets, listVersions, parseVersionRef, readManifest, resolveStoreDir, resolveVersion, type ManifestDraft } from "./store.js";
import { parseSchema } from "./schema.js";

const dir = mkdtempSync(join(tmpdir(), "hindcast-store-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const schema = parseSchema({ episode: "e", step: "s", observations: ["x"], action: { column: "a", kind: "discrete", n: 2 }, reward: { column: "r", min: 0, max: 1 } });
const draft = (parents: ManifestDraft["parents"] = [], kind: "ingest" | "split" | "filter" = "ingest"): ManifestDraft => ({
  counts: { read: 1, accepted: 1, quarantined: 0, episodes: 1 },
  schema,
  featureNames: ["x"],
  sources: [],
  parents,
  transform: { kind, params: {} },
});

test("dataset names cannot escape the store", () => {
  for (const bad of ["../x", "..", "a/b", "/abs", "a\\b", "a\0b", "", ".hidden", "a..b", "x".repeat(200)]) {
    assert.throws(() => checkDatasetName(bad), { code: "invalid_dataset_name" }, JSON.stringify(bad));
  }
  for (const good of ["cartpole", "logs-2024.v2", "A_b-1"]) assert.equal(checkDatasetName(good), good);
  assert.throws(() => parseVersionRef("../etc@1"), { code: "invalid_dataset_name" });
  assert.throws(() => parseVersionRef("x@0"), { code: "invalid_version_ref" });
  assert.throws(() => parseVersionRef("x@-1"), { code: "invalid_version_ref" });
  assert.deepEqual(parseVersionRef("x@12"), { name: "x", version: 12 });
  assert.deepEqual(parseVersionRef("x"), { name: "x", version: "latest" });
});

test("the store directory comes from the flag, else HINDCAST_STORE, else ./.hindcast/datasets", () => {
  const saved = process.env.HINDCAST_STORE;
  try {
    delete process.env.HINDCAST_STORE;
    assert.equal(resolveStoreDir(), resolve(process.cwd(), ".hindcast", "datasets"));
    process.env.HINDCAST_STORE = "/tmp/somewhere";
    assert.equal(resolveStoreDir(), "/tmp/somewhere");
    assert.equal(resolveStoreDir("rel/dir"), resolve(process.cwd(), "rel/dir"));
    assert.throws(() => resolveStoreDir("a\0b"), { code: "invalid_store_path" });
  } finally {
    if (saved === undefined) delete process.env.HINDCAST_STORE;
    else process.env.HINDCAST_STORE = saved;
  }
});

test("versions are numbered 1, 2, ... and resolved by number or latest", async () => {
  const store = join(dir, "numbering");
  for (let i = 0; i < 3; i++) {
    await createVersion(store, "d", async (temp) => {
      writeFileSync(join(temp, "data.parquet"), `data ${i}`);
      return draft();
    });
  }
  assert.deepEqual(listVersions(store, "d"), [1, 2, 3]);
  assert.deepEqual(resolveVersion(store, "d@latest"), { name: "d", version: 3 });
  assert.deepEqual(resolveVersion(store, "d@2"), { name: "d", version: 2 });
  assert.throws(() => resolveVersion(store, "d@9"), { code: "version_not_found" });
  assert.throws(() => resolveVersion(store, "nope@1"), { code: "dataset_not_found" });
  assert.equal(readManifest(store, "d@2").version, 2);
});

test("a build that fails mid-write leaves no version and no temp folder", async () => {
  const store = join(dir, "failing");
  await assert.rejects(
    createVersion(store, "d", async (temp) => {
      writeFileSync(join(temp, "data.parquet"), "half a file");
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.deepEqual(listVersions(store, "d"), []);
  assert.deepEqual(readdirSync(join(store, "d")), []);
  const manifest = await createVersion(store, "d", async (temp) => {
    writeFileSync(join(temp, "data.parquet"), "whole");
    return draft();
  });
  assert.equal(manifest.version, 1);
});

test("a process killed mid-write (simulated crash) leaves no visible version; the next write is version 1", async () => {
  const store = join(dir, "crash");
  const marker = join(dir, "crash-started");
  const script = `
    import { createVersion } from ${JSON.stringify(fileURLToPath(new URL("./store.ts", import.meta.url)))};
    import { writeFileSync } from "node:fs";
    import { join } from "node:path";
    await createVersion(${JSON.stringify(store)}, "d", async (temp) => {
      writeFileSync(join(temp, "data.parquet"), "partial");
      writeFileSync(${JSON.stringify(marker)}, "");
      await new Promise(() => setInterval(() => {}, 1000)); // hang until killed
    });`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: "ignore" });
  const deadline = Date.now() + 30_000;
  while (!existsSync(marker)) {
    if (Date.now() > deadline) throw new Error("child never started writing");
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  const leftovers = readdirSync(join(store, "d"));
  assert.equal(leftovers.length, 1);
  assert.match(leftovers[0]!, /^\.tmp-/);
  assert.deepEqual(listVersions(store, "d"), []);
  assert.deepEqual(listDatasets(store), []);
  assert.throws(() => resolveVersion(store, "d@latest"), { code: "dataset_not_found" });
  const manifest = await createVersion(store, "d", async (temp) => {
    writeFileSync(join(temp, "data.parquet"), "whole");
    return draft();
  });
  assert.equal(manifest.version, 1);
});

test("a folder without a manifest is never taken for a version", () => {
  const store = join(dir, "half");
  mkdirSync(join(store, "d", "v1"), { recursive: true });
  writeFileSync(join(store, "d", "v1", "data.parquet"), "x");
  assert.deepEqual(listVersions(store, "d"), []);
});

test("lineage walks parents up and children down", async () => {
  const store = join(dir, "lineage");
  const make = (name: string, parents: ManifestDraft["parents"], kind: "ingest" | "split" | "filter") =>
    createVersion(store, name, async (temp) => {
      writeFileSync(join(temp, "data.parquet"), name + JSON.stringify(parents));
      return draft(parents, kind);
    });
  const root = await make("raw", [], "ingest");
  const ref = (m: { name: string; version: number; contentHash: string }) => ({ name: m.name, version: m.version, contentHash: m.contentHash });
  const train = await make("raw-train", [ref(root)], "split");
  const test_ = await make("raw-test", [ref(root)], "split");
  const recent = await make("raw-train", [ref(train)], "filter");
  const unrelated = await make("other", [], "ingest");

  const fromRoot = lineage(store, "raw@1");
  assert.deepEqual(fromRoot.ancestors, []);
  assert.deepEqual(fromRoot.descendants.map((d) => `${d.name}@${d.version}`).sort(), ["raw-test@1", "raw-train@1", "raw-train@2"]);
  const fromLeaf = lineage(store, `raw-train@${recent.version}`);
  assert.deepEqual(fromLeaf.ancestors.map((a) => `${a.name}@${a.version}`), ["raw-train@1", "raw@1"]);
  assert.deepEqual(fromLeaf.descendants, []);
  assert.equal(fromLeaf.version.transform.kind, "filter");
  assert.deepEqual(lineage(store, `${unrelated.name}@1`).descendants, []);
  assert.equal(test_.parents[0]!.contentHash, root.contentHash);
});
