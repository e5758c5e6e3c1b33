import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeColumns, formatFromPath } from "./write-columns.js";
import { openDuckDB, sqlString } from "./duckdb.js";

async function readBack(path: string): Promise<Record<string, unknown>[]> {
  const db = await openDuckDB();
  try {
    const reader = await db.connection.runAndReadAll(`SELECT * FROM ${sqlString(path)}`);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

for (const ext of ["parquet", "csv", "jsonl"] as const) {
  test(`writeColumns round-trips every column type through ${ext}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hindcast-wc-"));
    try {
      const n = 3000; // more than one 2048-row chunk
      const obs = new Float32Array(n);
      const prob = new Float64Array(n);
      const action = new Int32Array(n);
      const flag = new Uint8Array(n);
      const ids: string[] = [];
      const plain: number[] = [];
      for (let i = 0; i < n; i++) {
        obs[i] = i / 4; // exactly representable
        prob[i] = 1 / (i + 1);
        action[i] = i % 3;
        flag[i] = i % 7 === 0 ? 1 : 0;
        ids.push(`ep,"${i >> 5}"`); // comma and quotes survive CSV quoting
        plain.push(i * 2);
      }
      const path = join(dir, `out.${ext}`);
      await writeColumns(path, { episode_id: ids, obs, prob, action, flag, plain });
      const rows = await readBack(path);
      assert.equal(rows.length, n);
      for (const i of [0, 1, 2047, 2048, n - 1]) {
        const row = rows[i]!;
        assert.equal(row.episode_id, ids[i]);
        assert.equal(Number(row.obs), i / 4);
        assert.ok(Math.abs(Number(row.prob) - 1 / (i + 1)) < 1e-12);
        assert.equal(Number(row.action), i % 3);
        assert.equal(Number(row.flag), i % 7 === 0 ? 1 : 0);
        assert.equal(Number(row.plain), i * 2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("writeColumns refuses unequal lengths and unknown extensions with coded errors", async () => {
  await assert.rejects(writeColumns("/tmp/x.parquet", { a: new Float32Array(2), b: new Float32Array(3) }), { code: "column_length_mismatch" });
  await assert.rejects(writeColumns("/tmp/x.txt", { a: new Float32Array(2) }), { code: "unknown_format" });
  assert.equal(formatFromPath("a/b.NDJSON"), "jsonl");
});
