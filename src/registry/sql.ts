/**
 * The small SQL surface the registry core needs, implemented once for SQLite and once for PostgreSQL.
 * Statements use `?` placeholders; the PostgreSQL driver rewrites them to `$1, $2, ...`.
 */
export type SqlRow = Record<string, unknown>;

export interface SqlTx {
  all<T = SqlRow>(sql: string, params?: unknown[]): Promise<T[]>;
  get<T = SqlRow>(sql: string, params?: unknown[]): Promise<T | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Serialises writers on `key` until the transaction ends (PostgreSQL advisory lock; SQLite writers are serial). */
  lock(key: string): Promise<void>;
}

export interface SqlDriver {
  readonly dialect: "sqlite" | "postgres";
  /** A write transaction: commits when `fn` resolves, rolls back when it throws. */
  write<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** A read-only transaction over one consistent snapshot. */
  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
