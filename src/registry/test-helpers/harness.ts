// Test support (not shipped API): opens a fresh registry per test on SQLite, and on PostgreSQL when
// HINDCAST_TEST_POSTGRES_URL is set, plus raw SQL access to check what the interface cannot show.
import Database from "better-sqlite3";
import pg from "pg";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openRegistry, type OpenRegistryOptions } from "../open.js";
import type { Registry } from "../types.js";

export interface Backend {
  name: "sqlite" | "postgres";
  /** Registry URL plus the options that select this test's isolated database. */
  url: string;
  base: OpenRegistryOptions;
  open(options?: OpenRegistryOptions): Promise<Registry>;
  raw(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

export const postgresUrl = process.env["HINDCAST_TEST_POSTGRES_URL"];

export function backendNames(): Array<"sqlite" | "postgres"> {
  return postgresUrl ? ["sqlite", "postgres"] : ["sqlite"];
}

export async function makeBackend(name: "sqlite" | "postgres"): Promise<Backend> {
  if (name === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "hindcast-registry-"));
    const url = `sqlite:${join(dir, "registry.db")}`;
    return {
      name,
      url,
      base: {},
      open: (options = {}) => openRegistry(url, options),
      raw: async (sql, params = []) => {
        const db = new Database(join(dir, "registry.db"));
        try {
          const statement = db.prepare(sql);
          return statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []);
        } finally {
          db.close();
        }
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const url = postgresUrl!;
  const schema = `hc_test_${randomBytes(6).toString("hex")}`;
  return {
    name,
    url,
    base: { schema },
    open: (options = {}) => openRegistry(url, { schema, ...options }),
    raw: async (sql, params = []) => {
      const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        let n = 0;
        return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows;
      } finally {
        await client.end();
      }
    },
    cleanup: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
