// Child process for the crash test: runs a real promotion and dies with SIGKILL in the middle of its transaction,
// right when the registry writes the audit row (after the stage, history and routing rows).
// argv: url, schema ("" for none), policy ref, target stage.
import { migrate } from "../migrations.js";
import { PostgresDriver } from "../postgres-driver.js";
import { SqlRegistry } from "../sql-registry.js";
import { SqliteDriver } from "../sqlite-driver.js";
import type { SqlDriver, SqlTx } from "../sql.js";

const [url, schema, policy, to] = process.argv.slice(2) as [string, string, string, "shadow" | "canary" | "production"];
const inner: SqlDriver = url.startsWith("sqlite:")
  ? new SqliteDriver(url.slice("sqlite:".length))
  : new PostgresDriver(url, schema ? { schema } : {});
await migrate(inner, () => new Date());

const dieAtAudit = async (sql: string): Promise<void> => {
  if (sql.startsWith("INSERT INTO audit_log")) {
    process.stdout.write("dying\n");
    process.kill(process.pid, "SIGKILL");
    await new Promise(() => undefined);
  }
};
const dying = (tx: SqlTx): SqlTx => ({
  ...tx,
  run: async (sql, params) => {
    await dieAtAudit(sql);
    return tx.run(sql, params);
  },
  get: async (sql, params) => {
    await dieAtAudit(sql);
    return tx.get(sql, params);
  },
});
const driver: SqlDriver = {
  dialect: inner.dialect,
  write: (fn) => inner.write((tx) => fn(dying(tx))),
  read: (fn) => inner.read(fn),
  close: () => inner.close(),
};
await new SqlRegistry(driver).promote(policy, to, { fraction: 0.1 });
process.stdout.write("survived\n");
