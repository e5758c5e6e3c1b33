import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "./ingest.js";
import { loadTransitions } from "./loader.js";
import { parseSchema } from "./schema.js";
import { validateVersion } from "./validate.js";

test("validate notices a stored version whose data no longer matches its manifest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-validate-"));
  try {
    const path = join(dir, "log.csv");
    writeFileSync(path, "ep,t,x,a,r\na,0,1,0,0\na,1,2,1,-1\nb,0,3,1,0\n");
    const store = join(dir, "store");
    await ingest({
      files: [path],
      schema: parseSchema({ episode: "ep", step: "t", observations: ["x"], action: { column: "a", kind: "discrete", n: 2 }, reward: { column: "r", min: -1, max: 0 } }),
      dataset: "v",
      store,
    });
    const clean = await validateVersion(store, "v@1");
    assert.deepEqual([clean.ok, clean.hashMatches, clean.countMatches, clean.report?.read], [true, true, true, 3]);

    appendFileSync(join(store, "v", "v1", "data.parquet"), Buffer.from([0])); // tampered after the fact
    const tampered = await validateVersion(store, "v@1");
    assert.deepEqual([tampered.ok, tampered.hashMatches, tampered.report, tampered.error?.code], [false, false, null, "malformed_file"]);
    await assert.rejects(loadTransitions(store, "v@1", { verify: true }), { code: "content_hash_mismatch" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
