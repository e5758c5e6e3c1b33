import { RegistryError } from "./errors.js";
import type { SqlDriver } from "./sql.js";

type Dialect = SqlDriver["dialect"];

interface Migration {
  version: number;
  name: string;
  sql: (dialect: Dialect) => string;
}

const types = {
  sqlite: { id: "INTEGER PRIMARY KEY AUTOINCREMENT", float: "REAL" },
  postgres: { id: "SERIAL PRIMARY KEY", float: "DOUBLE PRECISION" },
};

/** Append new migrations at the end; never edit one that has shipped. */
export const migrations: Migration[] = [
  {
    version: 1,
    name: "records, deployments, audit log, tokens",
    sql: (dialect) => {
      const { id, float } = types[dialect];
      const appendOnly =
        dialect === "sqlite"
          ? `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
             CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`
          : `CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
             CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
               FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();`;
      return `
        CREATE TABLE dataset_versions (
          id ${id},
          name TEXT NOT NULL,
          version INTEGER NOT NULL,
          hash TEXT NOT NULL,
          manifest TEXT NOT NULL,
          sensitive_features TEXT NOT NULL,
          created_at TEXT NOT NULL,
          UNIQUE (name, version)
        );
        CREATE TABLE runs (
          id ${id},
          algorithm TEXT NOT NULL,
          config TEXT NOT NULL,
          seed BIGINT NOT NULL,
          dataset_version_id INTEGER REFERENCES dataset_versions(id),
          code_version TEXT NOT NULL,
          status TEXT NOT NULL,
          artifacts TEXT NOT NULL,
          created_by TEXT NOT NULL,
          created_at TEXT NOT NULL,
          finished_at TEXT
        );
        CREATE INDEX runs_dataset ON runs (dataset_version_id);
        CREATE TABLE run_metrics (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          name TEXT NOT NULL,
          step INTEGER NOT NULL,
          value ${float} NOT NULL,
          recorded_at TEXT NOT NULL,
          PRIMARY KEY (run_id, name, step)
        );
        CREATE TABLE policies (
          id ${id},
          name TEXT NOT NULL,
          version INTEGER NOT NULL,
          sha256 TEXT NOT NULL UNIQUE,
          artifact_path TEXT NOT NULL,
          run_id INTEGER REFERENCES runs(id),
          manifest TEXT NOT NULL,
          stage TEXT NOT NULL,
          deployment TEXT,
          fraction ${float},
          stage_since TEXT NOT NULL,
          created_by TEXT NOT NULL,
          created_at TEXT NOT NULL,
          UNIQUE (name, version)
        );
        CREATE INDEX policies_run ON policies (run_id);
        CREATE UNIQUE INDEX policies_one_production ON policies (deployment) WHERE stage = 'production';
        CREATE UNIQUE INDEX policies_one_canary ON policies (deployment) WHERE stage = 'canary';
        CREATE TABLE evaluations (
          id ${id},
          policy_id INTEGER REFERENCES policies(id),
          estimator TEXT NOT NULL,
          value ${float} NOT NULL,
          lower_bound ${float} NOT NULL,
          upper_bound ${float} NOT NULL,
          confidence ${float},
          split TEXT NOT NULL,
          dataset_version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
          diagnostics TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE INDEX evaluations_policy ON evaluations (policy_id, split);
        CREATE TABLE deployments (
          name TEXT PRIMARY KEY,
          created_at TEXT NOT NULL
        );
        CREATE TABLE stage_history (
          id ${id},
          deployment TEXT NOT NULL REFERENCES deployments(name),
          policy_id INTEGER NOT NULL REFERENCES policies(id),
          from_stage TEXT NOT NULL,
          to_stage TEXT NOT NULL,
          fraction ${float},
          reason TEXT NOT NULL,
          superseded_by INTEGER REFERENCES policies(id),
          actor TEXT NOT NULL,
          changed_at TEXT NOT NULL
        );
        CREATE INDEX stage_history_deployment ON stage_history (deployment, id);
        CREATE TABLE stage_counters (
          policy_id INTEGER NOT NULL REFERENCES policies(id),
          stage TEXT NOT NULL,
          decisions BIGINT NOT NULL,
          safety_violations BIGINT NOT NULL,
          guard_failures BIGINT NOT NULL,
          updated_at TEXT NOT NULL,
          PRIMARY KEY (policy_id, stage)
        );
        CREATE TABLE routing_state (
          id INTEGER PRIMARY KEY,
          version BIGINT NOT NULL
        );
        INSERT INTO routing_state (id, version) VALUES (1, 0);
        CREATE TABLE gate_config (
          id INTEGER PRIMARY KEY,
          config TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE TABLE pipeline_steps (
          id ${id},
          pipeline TEXT NOT NULL,
          name TEXT NOT NULL,
          input_hash TEXT NOT NULL,
          status TEXT NOT NULL,
          outputs TEXT NOT NULL,
          error TEXT,
          started_at TEXT NOT NULL,
          updated_at TEXT NOT NULL,
          UNIQUE (pipeline, name, input_hash)
        );
        CREATE TABLE api_tokens (
          id ${id},
          name TEXT NOT NULL,
          role TEXT NOT NULL,
          token_hash TEXT NOT NULL UNIQUE,
          created_at TEXT NOT NULL,
          revoked_at TEXT
        );
        CREATE TABLE audit_log (
          id ${id},
          created_at TEXT NOT NULL,
          actor TEXT NOT NULL,
          host TEXT NOT NULL,
          action TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL
        );
        CREATE INDEX audit_log_subject ON audit_log (subject, id);
        ${appendOnly}
      `;
    },
  },
  {
    version: 2,
    name: "shared kill switch",
    sql: () => "ALTER TABLE routing_state ADD COLUMN kill_switch INTEGER NOT NULL DEFAULT 0;",
  },
];

/** Applies pending migrations in one transaction; concurrent openers wait on the migration lock. */
export async function migrate(driver: SqlDriver, now: () => Date): Promise<number> {
  return driver.write(async (tx) => {
    await tx.lock("hindcast:migrations");
    await tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    );
    const row = await tx.get<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations");
    const current = Number(row?.v ?? 0);
    const latest = migrations[migrations.length - 1]!.version;
    if (current > latest) {
      throw new RegistryError("schema_too_new", `registry schema is at version ${current}; this build knows up to ${latest}`, {
        current,
        latest,
      });
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      await tx.exec(migration.sql(driver.dialect));
      await tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [
        migration.version,
        migration.name,
        now().toISOString(),
      ]);
    }
    return latest;
  });
}
