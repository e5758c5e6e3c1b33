import { test } from "node:test";
import assert from "node:assert/strict";
import { RegistryError } from "./errors.js";
import { migrations } from "./migrations.js";
import { backendNames, makeBackend } from "./test-helpers/harness.js";

// This file runs in its own process (node --test), so appending to the migration list here does not leak.
for (const name of backendNames()) {
  test(`${name}: a new migration is applied once to an existing registry, and a newer schema is refused`, async () => {
    const backend = await makeBackend(name);
    try {
      const registry = await backend.open();
      await registry.registerDatasetVersion({ name: "d", version: 1, hash: "h" });
      await registry.close();

      const latest = migrations[migrations.length - 1]!.version;
      migrations.push({ version: latest + 1, name: "test: add a column", sql: () => "ALTER TABLE runs ADD COLUMN notes TEXT;" });
      try {
        for (let i = 0; i < 2; i++) await (await backend.open()).close();
        const applied = await backend.raw("SELECT version FROM schema_migrations ORDER BY version");
        assert.deepEqual(applied.map((r) => Number(r["version"])), Array.from({ length: latest + 1 }, (_, i) => i + 1));
        await backend.raw("SELECT notes FROM runs");
        const reopened = await backend.open();
        assert.equal((await reopened.listDatasetVersions()).length, 1, "data survives the migration");
        await reopened.close();
      } finally {
        migrations.pop();
      }
      await assert.rejects(backend.open(), (e: unknown) => e instanceof RegistryError && e.code === "schema_too_new");
    } finally {
      await backend.cleanup();
    }
  });
}
