import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { RegistryError } from "./errors.js";
import type { SqlDriver, SqlTx } from "./sql.js";

/**
 * SQLite through better-sqlite3 (synchronous). WAL mode so readers never block the writer; `BEGIN IMMEDIATE` takes
 * the write lock up front, and a busy database is retried asynchronously (with `busy_timeout` 0 a second
 * connection in the same process would otherwise stall the event loop that the lock holder needs to finish).
 * Transactions on one connection are queued, since a connection holds one transaction at a time.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tx: SqlTx;

  constructor(
    readonly path: string,
    private readonly busyTimeoutMs = 10_000,
  ) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 0");
    const statement = (sql: string): Database.Statement => {
      let prepared = this.statements.get(sql);
      if (!prepared) {
        prepared = this.db.prepare(sql);
        this.statements.set(sql, prepared);
      }
      return prepared;
    };
    this.tx = {
      all: async <T>(sql: string, params: unknown[] = []) => {
        const prepared = statement(sql);
        if (!prepared.reader) {
          prepared.run(...bind(params));
          return [] as T[];
        }
        return prepared.all(...bind(params)) as T[];
      },
      get: async <T>(sql: string, params: unknown[] = []) => {
        const prepared = statement(sql);
        if (!prepared.reader) {
          prepared.run(...bind(params));
          return undefined;
        }
        return prepared.get(...bind(params)) as T | undefined;
      },
      run: async (sql: string, params: unknown[] = []) => statement(sql).run(...bind(params)).changes,
      exec: async (sql: string) => {
        this.db.exec(sql);
      },
      lock: async () => {},
    };
  }

  write<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.serial(() => this.transaction("BEGIN IMMEDIATE", fn));
  }

  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.serial(() => this.transaction("BEGIN DEFERRED", fn));
  }

  async close(): Promise<void> {
    await this.queue;
    this.db.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async transaction<T>(begin: string, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.busyTimeoutMs;
    let delay = 2;
    for (;;) {
      try {
        this.db.exec(begin);
        try {
          const result = await fn(this.tx);
          this.db.exec("COMMIT");
          return result;
        } catch (error) {
          if (this.db.inTransaction) this.db.exec("ROLLBACK");
          throw error;
        }
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (Date.now() > deadline) {
          throw new RegistryError("registry_busy", `${this.path} stayed locked for ${this.busyTimeoutMs} ms`, { file: this.path });
        }
        await sleep(delay + Math.floor(Math.random() * delay));
        delay = Math.min(delay * 2, 100);
      }
    }
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_BUSY_SNAPSHOT" || code === "SQLITE_LOCKED";
}

function bind(params: unknown[]): unknown[] {
  return params.map((value) => (value === undefined ? null : typeof value === "boolean" ? (value ? 1 : 0) : value));
}
