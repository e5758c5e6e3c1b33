import pg from "pg";
import type { SqlDriver, SqlTx } from "./sql.js";

/**
 * PostgreSQL through a `pg` pool. Writers run at READ COMMITTED and serialise on what they change with
 * transaction-scoped advisory locks (`SqlTx.lock`); readers get a REPEATABLE READ snapshot.
 */
export class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  private readonly pool: pg.Pool;

  constructor(connectionString: string, options: { schema?: string; max?: number } = {}) {
    this.pool = new pg.Pool({
      connectionString,
      max: options.max ?? 4,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    this.pool.on("error", () => undefined);
  }

  write<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.transaction("BEGIN", fn);
  }

  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async transaction<T>(begin: string, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query(begin);
      try {
        const result = await fn(wrap(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true;
        }
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }
}

function wrap(client: pg.PoolClient): SqlTx {
  return {
    all: async <T>(sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rows as T[],
    get: async <T>(sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rows[0] as T | undefined,
    run: async (sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rowCount ?? 0,
    exec: async (sql: string) => {
      await client.query(sql);
    },
    lock: async (key: string) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [key]);
    },
  };
}

const cache = new Map<string, string>();

/** `?` placeholders to `$n`; registry SQL never has a `?` inside a literal. */
function numbered(sql: string): string {
  let out = cache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    cache.set(sql, out);
  }
  return out;
}
