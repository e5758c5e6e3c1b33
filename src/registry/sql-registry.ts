import { hostname, userInfo } from "node:os";
import { hashToken, isRole, newToken, requireRole } from "./access.js";
import { RegistryError } from "./errors.js";
import { checkGates, defaultGateConfig, parseGateConfig, type GateConfig, type GateFacts } from "./gates.js";
import { assertNoSensitiveFeatures, sensitiveFeaturesOf } from "./sensitive.js";
import type { SqlDriver, SqlRow, SqlTx } from "./sql.js";
import type {
  AuditEntry,
  AuditQuery,
  DatasetUsage,
  DatasetVersionInput,
  DatasetVersionRecord,
  DatasetVersionRef,
  EvaluationInput,
  EvaluationRecord,
  MetricPoint,
  MetricRecord,
  PolicyInput,
  PolicyLineage,
  PolicyRecord,
  Principal,
  PromoteOptions,
  Registry,
  Role,
  RollbackOptions,
  RollbackResult,
  Routing,
  RunInput,
  RunRecord,
  RunStatus,
  Stage,
  StageChange,
  StageCounters,
  StepInput,
  StepRecord,
  TokenInfo,
  TrafficCounts,
} from "./types.js";

export interface SqlRegistryOptions {
  /** API token this connection acts with; required once the registry has tokens. */
  token?: string;
  /** Name recorded in the audit log when no token is used (default: the OS user). */
  actor?: string;
  host?: string;
  /** Clock, for tests of time-window gates. */
  now?: () => Date;
}

/** Operational events other components may append to the audit log; registry mutations use their own names. */
const EVENT_PREFIXES = ["alert", "guard", "monitor", "pipeline"] as const;
const EVENT_ACTION = new RegExp(`^(${EVENT_PREFIXES.join("|")})\\.[a-z_]+$`);
const RUN_STATUSES: readonly RunStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];
const FROM_FOR: Record<"shadow" | "canary" | "production", Stage[]> = {
  shadow: ["registered"],
  canary: ["shadow", "canary"],
  production: ["canary"],
};

/** The registry over a SQL driver; identical behaviour on SQLite and PostgreSQL. */
export class SqlRegistry implements Registry {
  readonly backend: "sqlite" | "postgres";
  private readonly now: () => Date;
  private readonly actor: string;
  private readonly host: string;

  constructor(
    private readonly driver: SqlDriver,
    private readonly options: SqlRegistryOptions = {},
  ) {
    this.backend = driver.dialect;
    this.now = options.now ?? (() => new Date());
    this.actor = options.actor ?? safeUser();
    this.host = options.host ?? hostname();
  }

  // ---- access control -------------------------------------------------------------------------------------

  async whoami(): Promise<Principal> {
    return this.driver.read((tx) => this.principal(tx));
  }

  private async principal(tx: SqlTx): Promise<Principal> {
    if (this.options.token !== undefined) return this.lookupToken(tx, this.options.token);
    const active = await tx.get<{ n: unknown }>("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL");
    if (Number(active?.n ?? 0) > 0) {
      throw new RegistryError("auth_required", "this registry has access control on: pass --token or set HINDCAST_TOKEN", {});
    }
    // No tokens yet: a local, single-user registry; its owner may do everything.
    return { tokenId: null, name: this.actor, role: "admin" };
  }

  private async lookupToken(tx: SqlTx, token: string): Promise<Principal> {
    const row = await tx.get<SqlRow>("SELECT id, name, role, revoked_at FROM api_tokens WHERE token_hash = ?", [hashToken(token)]);
    if (!row || row["revoked_at"] !== null) {
      throw new RegistryError("token_invalid", row ? "token has been revoked" : "unknown token", {});
    }
    return { tokenId: Number(row["id"]), name: String(row["name"]), role: row["role"] as Role };
  }

  private async authorize(tx: SqlTx, needed: Role, action: string): Promise<Principal> {
    const who = await this.principal(tx);
    requireRole(who, needed, action);
    return who;
  }

  private reading<T>(action: string, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.driver.read(async (tx) => {
      await this.authorize(tx, "reader", action);
      return fn(tx);
    });
  }

  private async writeAudit(tx: SqlTx, who: Principal, action: string, subject: string, details: Record<string, unknown>): Promise<AuditEntry> {
    const row = await tx.get<SqlRow>("INSERT INTO audit_log (created_at, actor, host, action, subject, details) VALUES (?, ?, ?, ?, ?, ?) RETURNING *", [
      this.iso(),
      who.name,
      this.host,
      action,
      subject,
      JSON.stringify(details),
    ]);
    return auditEntryOf(row!);
  }

  /** A mutation: role check, change and audit row in one transaction. */
  private mutating<T>(needed: Role, action: string, fn: (tx: SqlTx, who: Principal) => Promise<T>): Promise<T> {
    return this.driver.write(async (tx) => fn(tx, await this.authorize(tx, needed, action)));
  }

  async createToken(name: string, role: Role): Promise<{ token: string; info: TokenInfo }> {
    if (!isRole(role)) throw new RegistryError("forbidden", `unknown role ${String(role)}`, { role });
    return this.driver.write(async (tx) => {
      await tx.lock("tokens");
      const who = await this.principal(tx);
      if (who.tokenId === null && role !== "admin") {
        throw new RegistryError("forbidden", "the first token of a registry must have role admin", { role });
      }
      requireRole(who, "admin", "tokens.create");
      const token = newToken();
      const row = await tx.get<SqlRow>(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING *",
        [name, role, hashToken(token), this.iso()],
      );
      const info = tokenInfo(row!);
      await this.writeAudit(tx, who, "token.create", `token:${info.id}`, { name, role });
      return { token, info };
    });
  }

  revokeToken(id: number): Promise<TokenInfo> {
    checkId(id, "token");
    return this.mutating("admin", "tokens.revoke", async (tx, who) => {
      const changed = await tx.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [this.iso(), id]);
      const row = await tx.get<SqlRow>("SELECT * FROM api_tokens WHERE id = ?", [id]);
      if (!row) throw new RegistryError("not_found", `no token ${id}`, { token: id });
      if (changed > 0) await this.writeAudit(tx, who, "token.revoke", `token:${id}`, { name: row["name"] });
      return tokenInfo(row);
    });
  }

  listTokens(): Promise<TokenInfo[]> {
    return this.driver.read(async (tx) => {
      await this.authorize(tx, "admin", "tokens.list");
      return (await tx.all<SqlRow>("SELECT * FROM api_tokens ORDER BY id")).map(tokenInfo);
    });
  }

  authenticate(token: string): Promise<Principal> {
    return this.driver.read((tx) => this.lookupToken(tx, token));
  }

  // ---- datasets --------------------------------------------------------------------------------------------

  registerDatasetVersion(input: DatasetVersionInput): Promise<DatasetVersionRecord> {
    return this.mutating("trainer", "datasets.register", async (tx, who) => {
      await tx.lock(`dataset:${input.name}`);
      const existing = await tx.get<SqlRow>("SELECT * FROM dataset_versions WHERE name = ? AND version = ?", [input.name, input.version]);
      if (existing) {
        if (existing["hash"] !== input.hash) {
          throw new RegistryError(
            "dataset_version_conflict",
            `dataset ${input.name} v${input.version} is registered with hash ${String(existing["hash"])}, not ${input.hash}`,
            { dataset: input.name, version: input.version, registered: existing["hash"], given: input.hash },
          );
        }
        return datasetRecord(existing);
      }
      const sensitive = input.sensitiveFeatures ?? sensitiveFeaturesOf(input.manifest);
      const row = await tx.get<SqlRow>(
        `INSERT INTO dataset_versions (name, version, hash, manifest, sensitive_features, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
        [input.name, input.version, input.hash, JSON.stringify(input.manifest ?? {}), JSON.stringify(sensitive), this.iso()],
      );
      await this.writeAudit(tx, who, "dataset.register", `dataset:${input.name}@${input.version}`, {
        hash: input.hash,
        sensitiveFeatures: sensitive,
      });
      return datasetRecord(row!);
    });
  }

  getDatasetVersion(ref: DatasetVersionRef): Promise<DatasetVersionRecord> {
    return this.reading("datasets.show", async (tx) => datasetRecord(await this.datasetRow(tx, ref)));
  }

  listDatasetVersions(name?: string): Promise<DatasetVersionRecord[]> {
    return this.reading("datasets.list", async (tx) => {
      const rows = name
        ? await tx.all<SqlRow>("SELECT * FROM dataset_versions WHERE name = ? ORDER BY version", [name])
        : await tx.all<SqlRow>("SELECT * FROM dataset_versions ORDER BY name, version");
      return rows.map(datasetRecord);
    });
  }

  private async datasetRow(tx: SqlTx, ref: DatasetVersionRef): Promise<SqlRow> {
    const row = await tx.get<SqlRow>("SELECT * FROM dataset_versions WHERE name = ? AND version = ?", [ref.name, ref.version]);
    if (!row) throw new RegistryError("not_found", `no dataset ${ref.name} v${ref.version}`, { dataset: ref.name, version: ref.version });
    return row;
  }

  // ---- runs ------------------------------------------------------------------------------------------------

  createRun(input: RunInput): Promise<RunRecord> {
    return this.mutating("trainer", "runs.create", async (tx, who) => {
      const dataset = input.dataset ? await this.datasetRow(tx, input.dataset) : null;
      const status = input.status ?? "running";
      checkStatus(status);
      const row = await tx.get<SqlRow>(
        `INSERT INTO runs (algorithm, config, seed, dataset_version_id, code_version, status, artifacts, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        [
          input.algorithm,
          JSON.stringify(input.config),
          input.seed,
          dataset ? Number(dataset["id"]) : null,
          input.codeVersion,
          status,
          JSON.stringify(input.artifacts ?? {}),
          who.name,
          this.iso(),
        ],
      );
      const id = Number(row!["id"]);
      await this.writeAudit(tx, who, "run.create", `run:${id}`, {
        algorithm: input.algorithm,
        seed: input.seed,
        dataset: input.dataset ?? null,
        codeVersion: input.codeVersion,
      });
      return this.runById(tx, id);
    });
  }

  updateRun(id: number, patch: { status?: RunStatus; artifacts?: Record<string, string> }): Promise<RunRecord> {
    return this.mutating("trainer", "runs.update", async (tx, who) => {
      const before = await this.runById(tx, id);
      if (patch.status) checkStatus(patch.status);
      const status = patch.status ?? before.status;
      const artifacts = { ...before.artifacts, ...(patch.artifacts ?? {}) };
      const finished = status === "succeeded" || status === "failed" || status === "cancelled";
      await tx.run("UPDATE runs SET status = ?, artifacts = ?, finished_at = ? WHERE id = ?", [
        status,
        JSON.stringify(artifacts),
        finished ? (before.finishedAt ?? this.iso()) : null,
        id,
      ]);
      await this.writeAudit(tx, who, "run.update", `run:${id}`, { from: before.status, status, artifacts: patch.artifacts ?? {} });
      return this.runById(tx, id);
    });
  }

  logMetrics(runId: number, points: MetricPoint[]): Promise<void> {
    return this.mutating("trainer", "runs.metrics", async (tx, who) => {
      await this.runById(tx, runId);
      const at = this.iso();
      for (const point of points) {
        await tx.run(
          `INSERT INTO run_metrics (run_id, name, step, value, recorded_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at`,
          [runId, point.name, point.step, point.value, at],
        );
      }
      const names = [...new Set(points.map((p) => p.name))];
      await this.writeAudit(tx, who, "run.metrics", `run:${runId}`, { points: points.length, names });
    });
  }

  getRun(id: number): Promise<RunRecord> {
    return this.reading("runs.show", (tx) => this.runById(tx, id));
  }

  listRuns(filter: { status?: RunStatus; algorithm?: string; limit?: number } = {}): Promise<RunRecord[]> {
    return this.reading("runs.list", async (tx) => {
      const rows = await tx.all<SqlRow>(
        `${RUN_SELECT} WHERE (CAST(? AS TEXT) IS NULL OR r.status = ?) AND (CAST(? AS TEXT) IS NULL OR r.algorithm = ?) ORDER BY r.id DESC LIMIT ?`,
        [filter.status ?? null, filter.status ?? null, filter.algorithm ?? null, filter.algorithm ?? null, filter.limit ?? 1000],
      );
      return rows.map(runRecord);
    });
  }

  getMetrics(runId: number, name?: string): Promise<MetricRecord[]> {
    return this.reading("runs.metrics", async (tx) => {
      await this.runById(tx, runId);
      const rows = await tx.all<SqlRow>(
        "SELECT * FROM run_metrics WHERE run_id = ? AND (CAST(? AS TEXT) IS NULL OR name = ?) ORDER BY name, step",
        [runId, name ?? null, name ?? null],
      );
      return rows.map((r) => ({ name: String(r["name"]), step: Number(r["step"]), value: Number(r["value"]), recordedAt: String(r["recorded_at"]) }));
    });
  }

  private async runById(tx: SqlTx, id: number): Promise<RunRecord> {
    checkId(id, "run");
    const row = await tx.get<SqlRow>(`${RUN_SELECT} WHERE r.id = ?`, [id]);
    if (!row) throw new RegistryError("not_found", `no run ${id}`, { run: id });
    return runRecord(row);
  }

  // ---- policies --------------------------------------------------------------------------------------------

  registerPolicy(input: PolicyInput): Promise<PolicyRecord> {
    const sha256 = input.sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      return Promise.reject(new RegistryError("invalid_input", `sha256 must be 64 hex digits, got ${input.sha256}`, { sha256: input.sha256 }));
    }
    if (input.name.includes("@")) {
      return Promise.reject(new RegistryError("invalid_input", `policy name may not contain "@": ${input.name}`, { name: input.name }));
    }
    return this.mutating("trainer", "policies.register", async (tx, who) => {
      await tx.lock(`policy:${input.name}`);
      await tx.lock(`policy-sha256:${sha256}`);
      const existing = await tx.get<SqlRow>("SELECT * FROM policies WHERE sha256 = ?", [sha256]);
      if (existing) return policyRecord(existing);
      let sensitive: string[] = [];
      if (input.runId !== undefined) {
        const run = await this.runById(tx, input.runId);
        if (run.dataset) sensitive = datasetRecord(await this.datasetRow(tx, run.dataset)).sensitiveFeatures;
      }
      const featureNames = input.featureNames ?? manifestFeatures(input.manifest);
      assertNoSensitiveFeatures(featureNames, sensitive, { allow: input.allowSensitive === true, context: `policy ${input.name}` });
      const last = await tx.get<{ v: unknown }>("SELECT MAX(version) AS v FROM policies WHERE name = ?", [input.name]);
      const version = Number(last?.v ?? 0) + 1;
      const at = this.iso();
      const row = await tx.get<SqlRow>(
        `INSERT INTO policies (name, version, sha256, artifact_path, run_id, manifest, stage, deployment, fraction, stage_since, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'registered', NULL, NULL, ?, ?, ?) RETURNING *`,
        [input.name, version, sha256, input.artifactPath, input.runId ?? null, JSON.stringify(input.manifest ?? {}), at, who.name, at],
      );
      const admitted = featureNames.filter((name) => sensitive.includes(name));
      await this.writeAudit(tx, who, "policy.register", `policy:${input.name}@${version}`, {
        sha256,
        runId: input.runId ?? null,
        artifactPath: input.artifactPath,
        ...(admitted.length > 0 ? { sensitiveFeaturesAllowed: admitted } : {}),
      });
      return policyRecord(row!);
    });
  }

  getPolicy(ref: string): Promise<PolicyRecord> {
    return this.reading("policies.show", async (tx) => policyRecord(await this.policyRow(tx, ref)));
  }

  listPolicies(filter: { name?: string; stage?: Stage; deployment?: string } = {}): Promise<PolicyRecord[]> {
    return this.reading("policies.list", async (tx) => {
      const rows = await tx.all<SqlRow>(
        `SELECT * FROM policies WHERE (CAST(? AS TEXT) IS NULL OR name = ?) AND (CAST(? AS TEXT) IS NULL OR stage = ?) AND (CAST(? AS TEXT) IS NULL OR deployment = ?)
         ORDER BY name, version`,
        [filter.name ?? null, filter.name ?? null, filter.stage ?? null, filter.stage ?? null, filter.deployment ?? null, filter.deployment ?? null],
      );
      return rows.map(policyRecord);
    });
  }

  /** `name@version`, a sha256 prefix (8+ hex digits, optionally `sha256:`), or a name (its latest version). */
  private async policyRow(tx: SqlTx, ref: string): Promise<SqlRow> {
    const at = ref.lastIndexOf("@");
    if (at > 0 && /^\d+$/.test(ref.slice(at + 1))) {
      const row = await tx.get<SqlRow>("SELECT * FROM policies WHERE name = ? AND version = ?", [ref.slice(0, at), Number(ref.slice(at + 1))]);
      if (row) return row;
    } else {
      const hex = ref.startsWith("sha256:") ? ref.slice(7) : ref;
      if (/^[0-9a-fA-F]{8,64}$/.test(hex)) {
        const rows = await tx.all<SqlRow>("SELECT * FROM policies WHERE sha256 LIKE ? ORDER BY id LIMIT 2", [`${hex.toLowerCase()}%`]);
        if (rows.length > 1) throw new RegistryError("ambiguous_reference", `sha256 prefix ${hex} matches several policies`, { ref });
        if (rows.length === 1) return rows[0]!;
      }
      const row = await tx.get<SqlRow>("SELECT * FROM policies WHERE name = ? ORDER BY version DESC LIMIT 1", [ref]);
      if (row) return row;
    }
    throw new RegistryError("not_found", `no policy ${ref}`, { policy: ref });
  }

  // ---- evaluations -----------------------------------------------------------------------------------------

  recordEvaluation(input: EvaluationInput): Promise<EvaluationRecord> {
    return this.mutating("trainer", "evaluations.record", async (tx, who) => {
      const policy = input.policy === null ? null : await this.policyRow(tx, input.policy);
      const dataset = await this.datasetRow(tx, input.dataset);
      const row = await tx.get<SqlRow>(
        `INSERT INTO evaluations (policy_id, estimator, value, lower_bound, upper_bound, confidence, split, dataset_version_id, diagnostics, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        [
          policy ? Number(policy["id"]) : null,
          input.estimator,
          input.value,
          input.lower,
          input.upper,
          input.confidence ?? null,
          input.split,
          Number(dataset["id"]),
          JSON.stringify(input.diagnostics ?? {}),
          this.iso(),
        ],
      );
      const id = Number(row!["id"]);
      await this.writeAudit(tx, who, "evaluation.record", policy ? policyLabel(policy) : `baseline:${input.dataset.name}@${input.dataset.version}`, {
        evaluation: id,
        estimator: input.estimator,
        value: input.value,
        lower: input.lower,
        upper: input.upper,
        split: input.split,
        dataset: input.dataset,
      });
      return (await tx.all<SqlRow>(`${EVAL_SELECT} WHERE e.id = ?`, [id])).map(evaluationRecord)[0]!;
    });
  }

  listEvaluations(policyRef: string | null, filter: { split?: string } = {}): Promise<EvaluationRecord[]> {
    return this.reading("evaluations.list", async (tx) => {
      const policyId = policyRef === null ? null : Number((await this.policyRow(tx, policyRef))["id"]);
      const rows = await tx.all<SqlRow>(
        `${EVAL_SELECT} WHERE ${policyId === null ? "e.policy_id IS NULL" : "e.policy_id = ?"} AND (CAST(? AS TEXT) IS NULL OR e.split = ?) ORDER BY e.id`,
        [...(policyId === null ? [] : [policyId]), filter.split ?? null, filter.split ?? null],
      );
      return rows.map(evaluationRecord);
    });
  }

  // ---- deployments -----------------------------------------------------------------------------------------

  async promote(policyRef: string, to: "shadow" | "canary" | "production", options: PromoteOptions = {}): Promise<PolicyRecord> {
    if (!(to in FROM_FOR)) throw new RegistryError("invalid_transition", `cannot promote to ${String(to)}`, { to });
    const deployment = options.deployment ?? "default";
    try {
      return await this.mutating("deployer", "promote", async (tx, who) => {
        await tx.lock(`deployment:${deployment}`);
        const policy = await this.policyRow(tx, policyRef);
        const label = policyLabel(policy);
        const from = policy["stage"] as Stage;
        if (policy["deployment"] !== null && policy["deployment"] !== deployment) {
          throw new RegistryError("deployment_mismatch", `${label} belongs to deployment ${String(policy["deployment"])}`, {
            policy: label,
            deployment: policy["deployment"],
            requested: deployment,
          });
        }
        if (!FROM_FOR[to].includes(from)) {
          throw new RegistryError("invalid_transition", `${label} is ${from}; it cannot move to ${to}`, { policy: label, from, to });
        }
        const gates = await this.loadGates(tx);
        let fraction: number | null = null;
        if (to === "canary") {
          fraction = options.fraction ?? null;
          if (fraction === null || !(fraction > 0 && fraction <= gates.canary.maxFraction)) {
            throw new RegistryError("invalid_fraction", `canary fraction must be in (0, ${gates.canary.maxFraction}], got ${String(fraction)}`, {
              fraction,
              max: gates.canary.maxFraction,
            });
          }
          const other = await tx.get<SqlRow>("SELECT * FROM policies WHERE deployment = ? AND stage = 'canary' AND id <> ?", [
            deployment,
            policy["id"],
          ]);
          if (other) {
            throw new RegistryError("canary_slot_taken", `deployment ${deployment} already has canary ${policyLabel(other)}`, {
              deployment,
              canary: policyLabel(other),
            });
          }
        }
        const adjustingFraction = to === "canary" && from === "canary";
        if (!adjustingFraction) {
          const failures = checkGates(to, gates, await this.gateFacts(tx, policy, to, gates));
          if (failures.length > 0) {
            throw new RegistryError(
              "promotion_refused",
              `${label} -> ${to} refused: ${failures.map((f) => `${f.gate}: ${f.message}`).join("; ")}`,
              { policy: label, to, gate: failures[0]!.gate, shortfall: failures[0]!.shortfall, failures },
            );
          }
        }
        const at = this.iso();
        await tx.run("INSERT INTO deployments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", [deployment, at]);
        let retired: string | null = null;
        if (to === "production") {
          const current = await tx.get<SqlRow>("SELECT * FROM policies WHERE deployment = ? AND stage = 'production'", [deployment]);
          if (current) {
            retired = policyLabel(current);
            await this.setStage(tx, current, "retired", null, at);
            await this.history(tx, who, deployment, current, "production", "retired", null, `superseded by ${label}`, at, Number(policy["id"]));
          }
        }
        const reason = options.reason ?? (adjustingFraction ? "canary fraction changed" : "promoted");
        if (adjustingFraction) {
          const changed = await tx.run("UPDATE policies SET fraction = ? WHERE id = ? AND stage = 'canary'", [fraction, policy["id"]]);
          if (changed !== 1) throw new RegistryError("invalid_transition", `${label} changed stage concurrently; retry`, { policy: label, from, to });
        } else {
          await this.setStage(tx, policy, to, fraction, at, deployment);
        }
        await this.history(tx, who, deployment, policy, from, to, fraction, reason, at, null);
        const routingVersion = await this.bumpRouting(tx);
        await this.writeAudit(tx, who, "policy.promote", label, { deployment, from, to, fraction, reason, retired, routingVersion });
        return policyRecord((await tx.get<SqlRow>("SELECT * FROM policies WHERE id = ?", [policy["id"]]))!);
      });
    } catch (error) {
      if (error instanceof RegistryError && error.code === "promotion_refused") await this.auditRefusal(error);
      throw error;
    }
  }

  /** Refusals change nothing, but who tried what and why it failed belongs in the audit log too. */
  private async auditRefusal(error: RegistryError): Promise<void> {
    await this.mutating("deployer", "promote", async (tx, who) => {
      await this.writeAudit(tx, who, "policy.promote_refused", String(error.details["policy"]), {
        to: error.details["to"],
        failures: error.details["failures"],
      });
    });
  }

  retire(policyRef: string, reason: string): Promise<PolicyRecord> {
    return this.mutating("deployer", "retire", async (tx, who) => {
      const probe = await this.policyRow(tx, policyRef);
      const deployment = (probe["deployment"] as string | null) ?? "default";
      await tx.lock(`deployment:${deployment}`);
      const policy = await this.policyRow(tx, policyRef);
      const from = policy["stage"] as Stage;
      if (from === "retired" || from === "rolled_back") {
        throw new RegistryError("invalid_transition", `${policyLabel(policy)} is already ${from}`, { policy: policyLabel(policy), from, to: "retired" });
      }
      const at = this.iso();
      await this.setStage(tx, policy, "retired", null, at);
      let routingVersion: number | null = null;
      if (policy["deployment"] !== null) {
        await this.history(tx, who, deployment, policy, from, "retired", null, reason, at, null);
        routingVersion = await this.bumpRouting(tx);
      }
      await this.writeAudit(tx, who, "policy.retire", policyLabel(policy), { deployment: policy["deployment"], from, reason, routingVersion });
      return policyRecord((await tx.get<SqlRow>("SELECT * FROM policies WHERE id = ?", [policy["id"]]))!);
    });
  }

  rollback(options: RollbackOptions): Promise<RollbackResult> {
    const deployment = options.deployment ?? "default";
    return this.mutating("deployer", "rollback", async (tx, who) => {
      await tx.lock(`deployment:${deployment}`);
      let target: SqlRow | undefined;
      if (options.policy !== undefined) {
        target = await this.policyRow(tx, options.policy);
        const stage = target["stage"] as Stage;
        if (target["deployment"] !== deployment || !["shadow", "canary", "production"].includes(stage)) {
          throw new RegistryError("nothing_to_roll_back", `${policyLabel(target)} is ${stage}, not live in deployment ${deployment}`, {
            policy: policyLabel(target),
            stage,
            deployment,
          });
        }
      } else {
        target =
          (await tx.get<SqlRow>("SELECT * FROM policies WHERE deployment = ? AND stage = 'canary'", [deployment])) ??
          (await tx.get<SqlRow>("SELECT * FROM policies WHERE deployment = ? AND stage = 'production'", [deployment]));
        if (!target) throw new RegistryError("nothing_to_roll_back", `deployment ${deployment} has no canary or production policy`, { deployment });
      }
      const from = target["stage"] as Stage;
      const at = this.iso();
      await this.setStage(tx, target, "rolled_back", null, at);
      await this.history(tx, who, deployment, target, from, "rolled_back", null, options.reason, at, null);
      let restored: SqlRow | undefined;
      if (from === "production") {
        const previous = await tx.get<SqlRow>(
          `SELECT p.* FROM stage_history h JOIN policies p ON p.id = h.policy_id
           WHERE h.deployment = ? AND h.from_stage = 'production' AND h.to_stage = 'retired' AND h.superseded_by = ? AND p.stage = 'retired'
           ORDER BY h.id DESC LIMIT 1`,
          [deployment, target["id"]],
        );
        if (previous) {
          restored = previous;
          await this.setStage(tx, previous, "production", null, at, deployment);
          await this.history(tx, who, deployment, previous, "retired", "production", null, `restored by rollback of ${policyLabel(target)}`, at, null);
        }
      }
      const routingVersion = await this.bumpRouting(tx);
      await this.writeAudit(tx, who, "policy.rollback", policyLabel(target), {
        deployment,
        from,
        reason: options.reason,
        restored: restored ? policyLabel(restored) : null,
        routingVersion,
        ...(options.details ? { details: options.details } : {}),
      });
      const reload = async (row: SqlRow) => policyRecord((await tx.get<SqlRow>("SELECT * FROM policies WHERE id = ?", [row["id"]]))!);
      return { rolledBack: await reload(target), restored: restored ? await reload(restored) : null };
    });
  }

  stageHistory(filter: { deployment?: string; policy?: string } = {}): Promise<StageChange[]> {
    return this.reading("deployments.history", async (tx) => {
      const policyId = filter.policy === undefined ? null : Number((await this.policyRow(tx, filter.policy))["id"]);
      const rows = await tx.all<SqlRow>(
        `${HISTORY_SELECT} WHERE (CAST(? AS TEXT) IS NULL OR h.deployment = ?) AND (CAST(? AS INTEGER) IS NULL OR h.policy_id = ?) ORDER BY h.id`,
        [filter.deployment ?? null, filter.deployment ?? null, policyId, policyId],
      );
      return rows.map(stageChange);
    });
  }

  routing(deployment = "default"): Promise<Routing> {
    return this.reading("routing", (tx) => this.routingOf(tx, deployment));
  }

  allRouting(): Promise<Routing[]> {
    return this.reading("routing", async (tx) => {
      const names = await tx.all<SqlRow>("SELECT name FROM deployments ORDER BY name");
      const result: Routing[] = [];
      for (const row of names) result.push(await this.routingOf(tx, String(row["name"])));
      return result;
    });
  }

  private async routingOf(tx: SqlTx, deployment: string): Promise<Routing> {
    const version = Number((await tx.get<SqlRow>("SELECT version FROM routing_state WHERE id = 1"))!["version"]);
    const rows = await tx.all<SqlRow>(
      "SELECT * FROM policies WHERE deployment = ? AND stage IN ('shadow', 'canary', 'production') ORDER BY id",
      [deployment],
    );
    const policies = rows.map(policyRecord);
    const production = policies.find((p) => p.stage === "production");
    const canary = policies.find((p) => p.stage === "canary");
    return {
      deployment,
      routingVersion: version,
      production: production ? { policy: production, since: production.stageSince } : null,
      canary: canary ? { policy: canary, fraction: canary.fraction ?? 0, since: canary.stageSince } : null,
      shadows: policies.filter((p) => p.stage === "shadow").map((p) => ({ policy: p, since: p.stageSince })),
    };
  }

  routingVersion(): Promise<number> {
    return this.reading("routing", async (tx) => Number((await tx.get<SqlRow>("SELECT version FROM routing_state WHERE id = 1"))!["version"]));
  }

  recordTraffic(policyRef: string, counts: TrafficCounts & { stage?: Stage }): Promise<StageCounters> {
    for (const [key, value] of Object.entries({ decisions: counts.decisions, safetyViolations: counts.safetyViolations ?? 0, guardFailures: counts.guardFailures ?? 0 })) {
      if (!Number.isInteger(value) || value < 0) {
        return Promise.reject(new RegistryError("invalid_input", `${key} must be a non-negative integer, got ${value}`, { field: key, value }));
      }
    }
    return this.mutating("deployer", "traffic.record", async (tx, who) => {
      const policy = await this.policyRow(tx, policyRef);
      const stage = counts.stage ?? (policy["stage"] as Stage);
      await tx.run(
        `INSERT INTO stage_counters (policy_id, stage, decisions, safety_violations, guard_failures, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (policy_id, stage) DO UPDATE SET
           decisions = stage_counters.decisions + excluded.decisions,
           safety_violations = stage_counters.safety_violations + excluded.safety_violations,
           guard_failures = stage_counters.guard_failures + excluded.guard_failures,
           updated_at = excluded.updated_at`,
        [policy["id"], stage, counts.decisions, counts.safetyViolations ?? 0, counts.guardFailures ?? 0, this.iso()],
      );
      await this.writeAudit(tx, who, "traffic.record", policyLabel(policy), {
        stage,
        decisions: counts.decisions,
        safetyViolations: counts.safetyViolations ?? 0,
        guardFailures: counts.guardFailures ?? 0,
      });
      return this.countersFor(tx, Number(policy["id"]), stage);
    });
  }

  setKillSwitch(on: boolean, reason: string): Promise<void> {
    return this.mutating("deployer", "kill_switch", async (tx, who) => {
      await tx.run("UPDATE routing_state SET kill_switch = ? WHERE id = 1", [on ? 1 : 0]);
      const routingVersion = await this.bumpRouting(tx);
      await this.writeAudit(tx, who, on ? "kill_switch.on" : "kill_switch.off", "kill_switch", { reason, routingVersion });
    });
  }

  recordEvent(action: string, subject: string, details: Record<string, unknown> = {}): Promise<AuditEntry> {
    if (!EVENT_ACTION.test(action)) {
      return Promise.reject(new RegistryError("invalid_input", `event action must look like "alert.fired" and use the prefixes ${EVENT_PREFIXES.join(", ")}`, { action }));
    }
    return this.mutating("trainer", "event.record", (tx, who) => this.writeAudit(tx, who, action, subject, details));
  }

  killSwitch(): Promise<boolean> {
    return this.reading("routing", async (tx) => Number((await tx.get<SqlRow>("SELECT kill_switch FROM routing_state WHERE id = 1"))!["kill_switch"]) === 1);
  }

  counters(policyRef: string, stage?: Stage): Promise<StageCounters> {
    return this.reading("traffic.show", async (tx) => {
      const policy = await this.policyRow(tx, policyRef);
      return this.countersFor(tx, Number(policy["id"]), stage ?? (policy["stage"] as Stage));
    });
  }

  private async countersFor(tx: SqlTx, policyId: number, stage: Stage): Promise<StageCounters> {
    const row = await tx.get<SqlRow>("SELECT * FROM stage_counters WHERE policy_id = ? AND stage = ?", [policyId, stage]);
    return {
      policyId,
      stage,
      decisions: Number(row?.["decisions"] ?? 0),
      safetyViolations: Number(row?.["safety_violations"] ?? 0),
      guardFailures: Number(row?.["guard_failures"] ?? 0),
      updatedAt: row ? String(row["updated_at"]) : "",
    };
  }

  private async gateFacts(tx: SqlTx, policy: SqlRow, to: string, gates: GateConfig): Promise<GateFacts> {
    const id = Number(policy["id"]);
    const facts: GateFacts = {
      now: this.now(),
      evaluation: null,
      baseline: null,
      shadow: { decisions: 0, safetyViolations: 0 },
      canary: { since: null, decisions: 0, safetyViolations: 0, guardFailures: 0 },
    };
    const ope = gates.shadow.opeLowerBound;
    if (to === "shadow" && ope) {
      const evaluation = await tx.get<SqlRow>(
        `${EVAL_SELECT} WHERE e.policy_id = ? AND e.split = ? AND (CAST(? AS TEXT) IS NULL OR e.estimator = ?) ORDER BY e.id DESC LIMIT 1`,
        [id, ope.split, ope.estimator ?? null, ope.estimator ?? null],
      );
      if (evaluation) {
        const record = evaluationRecord(evaluation);
        facts.evaluation = { estimator: record.estimator, lower: record.lower, dataset: `${record.dataset.name}@${record.dataset.version}` };
        const baseline = await tx.get<SqlRow>(
          "SELECT * FROM evaluations WHERE policy_id IS NULL AND split = ? AND dataset_version_id = ? ORDER BY id DESC LIMIT 1",
          [ope.split, evaluation["dataset_version_id"]],
        );
        if (baseline) facts.baseline = { estimator: String(baseline["estimator"]), value: Number(baseline["value"]) };
      }
    }
    if (to === "canary") {
      const shadow = await this.countersFor(tx, id, "shadow");
      facts.shadow = { decisions: shadow.decisions, safetyViolations: shadow.safetyViolations };
    }
    if (to === "production") {
      const canary = await this.countersFor(tx, id, "canary");
      facts.canary = { since: String(policy["stage_since"]), ...canary };
    }
    return facts;
  }

  /** Compare-and-set on the stage read earlier in this transaction: a concurrent change makes it fail, not overwrite. */
  private async setStage(tx: SqlTx, policy: SqlRow, stage: Stage, fraction: number | null, at: string, deployment?: string) {
    const changed = await tx.run("UPDATE policies SET stage = ?, fraction = ?, stage_since = ?, deployment = ? WHERE id = ? AND stage = ?", [
      stage,
      fraction,
      at,
      deployment ?? policy["deployment"] ?? null,
      policy["id"],
      policy["stage"],
    ]);
    if (changed !== 1) {
      throw new RegistryError("invalid_transition", `${policyLabel(policy)} changed stage concurrently; retry`, {
        policy: policyLabel(policy),
        from: policy["stage"],
        to: stage,
      });
    }
  }

  private async history(
    tx: SqlTx,
    who: Principal,
    deployment: string,
    policy: SqlRow,
    from: Stage,
    to: Stage,
    fraction: number | null,
    reason: string,
    at: string,
    supersededBy: number | null,
  ) {
    await tx.run(
      `INSERT INTO stage_history (deployment, policy_id, from_stage, to_stage, fraction, reason, superseded_by, actor, changed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [deployment, policy["id"], from, to, fraction, reason, supersededBy, who.name, at],
    );
  }

  private async bumpRouting(tx: SqlTx): Promise<number> {
    await tx.run("UPDATE routing_state SET version = version + 1 WHERE id = 1");
    return Number((await tx.get<SqlRow>("SELECT version FROM routing_state WHERE id = 1"))!["version"]);
  }

  // ---- gates -----------------------------------------------------------------------------------------------

  setGates(config: GateConfig): Promise<void> {
    const parsed = parseGateConfig(config);
    return this.mutating("admin", "gates.set", async (tx, who) => {
      await tx.run(
        `INSERT INTO gate_config (id, config, updated_at) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
        [JSON.stringify(parsed), this.iso()],
      );
      await this.writeAudit(tx, who, "gates.set", "gates", { config: parsed });
    });
  }

  gates(): Promise<GateConfig> {
    return this.reading("gates.show", (tx) => this.loadGates(tx));
  }

  private async loadGates(tx: SqlTx): Promise<GateConfig> {
    const row = await tx.get<SqlRow>("SELECT config FROM gate_config WHERE id = 1");
    return row ? parseGateConfig(JSON.parse(String(row["config"])), "stored gate config") : defaultGateConfig;
  }

  // ---- lineage ---------------------------------------------------------------------------------------------

  policyLineage(policyRef: string): Promise<PolicyLineage> {
    return this.reading("policies.lineage", async (tx) => {
      const row = await this.policyRow(tx, policyRef);
      const policy = policyRecord(row);
      const run = policy.runId === null ? null : await this.runById(tx, policy.runId);
      const evaluations = (await tx.all<SqlRow>(`${EVAL_SELECT} WHERE e.policy_id = ? ORDER BY e.id`, [policy.id])).map(evaluationRecord);
      const stageHistory = (await tx.all<SqlRow>(`${HISTORY_SELECT} WHERE h.policy_id = ? ORDER BY h.id`, [policy.id])).map(stageChange);
      return { policy, run, dataset: run?.dataset ?? null, evaluations, stageHistory };
    });
  }

  trainedOn(ref: DatasetVersionRef): Promise<DatasetUsage> {
    return this.reading("datasets.lineage", async (tx) => {
      const datasetRow = await this.datasetRow(tx, ref);
      const runs = (await tx.all<SqlRow>(`${RUN_SELECT} WHERE r.dataset_version_id = ? ORDER BY r.id`, [datasetRow["id"]])).map(runRecord);
      const policies = (
        await tx.all<SqlRow>(
          "SELECT p.* FROM policies p JOIN runs r ON r.id = p.run_id WHERE r.dataset_version_id = ? ORDER BY p.id",
          [datasetRow["id"]],
        )
      ).map(policyRecord);
      return { dataset: datasetRecord(datasetRow), runs, policies };
    });
  }

  inProduction(): Promise<Array<{ deployment: string; policy: PolicyRecord; since: string }>> {
    return this.reading("policies.production", async (tx) => {
      const rows = await tx.all<SqlRow>("SELECT * FROM policies WHERE stage = 'production' ORDER BY deployment");
      return rows.map(policyRecord).map((policy) => ({ deployment: policy.deployment!, policy, since: policy.stageSince }));
    });
  }

  // ---- pipeline steps --------------------------------------------------------------------------------------

  recordStep(input: StepInput): Promise<StepRecord> {
    return this.mutating("trainer", "steps.record", async (tx, who) => {
      const at = this.iso();
      const row = await tx.get<SqlRow>(
        `INSERT INTO pipeline_steps (pipeline, name, input_hash, status, outputs, error, started_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pipeline, name, input_hash) DO UPDATE SET
           status = excluded.status, outputs = excluded.outputs, error = excluded.error, updated_at = excluded.updated_at
         RETURNING *`,
        [input.pipeline, input.name, input.inputHash, input.status, JSON.stringify(input.outputs ?? {}), input.error ?? null, at, at],
      );
      await this.writeAudit(tx, who, "step.record", `step:${input.pipeline}/${input.name}`, {
        inputHash: input.inputHash,
        status: input.status,
        ...(input.error ? { error: input.error } : {}),
      });
      return stepRecord(row!);
    });
  }

  findStep(pipeline: string, name: string, inputHash: string): Promise<StepRecord | null> {
    return this.reading("steps.show", async (tx) => {
      const row = await tx.get<SqlRow>("SELECT * FROM pipeline_steps WHERE pipeline = ? AND name = ? AND input_hash = ?", [pipeline, name, inputHash]);
      return row ? stepRecord(row) : null;
    });
  }

  listSteps(pipeline?: string): Promise<StepRecord[]> {
    return this.reading("steps.list", async (tx) =>
      (await tx.all<SqlRow>("SELECT * FROM pipeline_steps WHERE (CAST(? AS TEXT) IS NULL OR pipeline = ?) ORDER BY id", [pipeline ?? null, pipeline ?? null])).map(
        stepRecord,
      ),
    );
  }

  // ---- audit -----------------------------------------------------------------------------------------------

  audit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    if (query.since !== undefined && Number.isNaN(Date.parse(query.since))) {
      return Promise.reject(new RegistryError("invalid_input", `since must be an ISO time, got ${query.since}`, { field: "since", value: query.since }));
    }
    const since = query.since === undefined ? null : new Date(query.since).toISOString();
    return this.reading("audit", async (tx) => {
      const rows = await tx.all<SqlRow>(
        `SELECT * FROM audit_log WHERE (CAST(? AS TEXT) IS NULL OR created_at >= ?) AND (CAST(? AS TEXT) IS NULL OR actor = ?) AND (CAST(? AS TEXT) IS NULL OR action = ?)
         AND (CAST(? AS TEXT) IS NULL OR subject = ?) ORDER BY id DESC LIMIT ?`,
        [
          since,
          since,
          query.actor ?? null,
          query.actor ?? null,
          query.action ?? null,
          query.action ?? null,
          query.subject ?? null,
          query.subject ?? null,
          query.limit ?? 1000,
        ],
      );
      return rows.reverse().map(auditEntryOf);
    });
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  private iso(): string {
    return this.now().toISOString();
  }
}

const RUN_SELECT = `SELECT r.*, d.name AS dataset_name, d.version AS dataset_version, d.hash AS dataset_hash
  FROM runs r LEFT JOIN dataset_versions d ON d.id = r.dataset_version_id`;
const EVAL_SELECT = `SELECT e.*, d.name AS dataset_name, d.version AS dataset_version
  FROM evaluations e JOIN dataset_versions d ON d.id = e.dataset_version_id`;
const HISTORY_SELECT = `SELECT h.*, p.name AS policy_name, p.version AS policy_version
  FROM stage_history h JOIN policies p ON p.id = h.policy_id`;

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

function checkId(id: number, what: string): void {
  if (!Number.isSafeInteger(id) || id < 1) throw new RegistryError("invalid_input", `${what} id must be a positive integer, got ${id}`, { field: what, value: id });
}

function checkStatus(status: string): void {
  if (!(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new RegistryError("invalid_input", `unknown run status ${status}`, { status, allowed: RUN_STATUSES });
  }
}

function manifestFeatures(manifest: Record<string, unknown> | undefined): string[] {
  const observation = manifest?.["observation"] as { featureNames?: unknown } | undefined;
  const names = observation?.featureNames;
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === "string") : [];
}

function policyLabel(row: SqlRow): string {
  return `${String(row["name"])}@${Number(row["version"])}`;
}

function json(value: unknown): Record<string, unknown> {
  return JSON.parse(String(value)) as Record<string, unknown>;
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function datasetRecord(row: SqlRow): DatasetVersionRecord {
  return {
    id: Number(row["id"]),
    name: String(row["name"]),
    version: Number(row["version"]),
    hash: String(row["hash"]),
    manifest: json(row["manifest"]),
    sensitiveFeatures: JSON.parse(String(row["sensitive_features"])) as string[],
    createdAt: String(row["created_at"]),
  };
}

function runRecord(row: SqlRow): RunRecord {
  return {
    id: Number(row["id"]),
    algorithm: String(row["algorithm"]),
    config: json(row["config"]),
    seed: Number(row["seed"]),
    dataset:
      row["dataset_name"] === null || row["dataset_name"] === undefined
        ? null
        : { name: String(row["dataset_name"]), version: Number(row["dataset_version"]), hash: String(row["dataset_hash"]) },
    codeVersion: String(row["code_version"]),
    status: row["status"] as RunStatus,
    artifacts: json(row["artifacts"]) as Record<string, string>,
    createdBy: String(row["created_by"]),
    createdAt: String(row["created_at"]),
    finishedAt: (row["finished_at"] as string | null) ?? null,
  };
}

function policyRecord(row: SqlRow): PolicyRecord {
  return {
    id: Number(row["id"]),
    name: String(row["name"]),
    version: Number(row["version"]),
    sha256: String(row["sha256"]),
    artifactPath: String(row["artifact_path"]),
    runId: nullableNumber(row["run_id"]),
    manifest: json(row["manifest"]),
    stage: row["stage"] as Stage,
    deployment: (row["deployment"] as string | null) ?? null,
    fraction: nullableNumber(row["fraction"]),
    stageSince: String(row["stage_since"]),
    createdBy: String(row["created_by"]),
    createdAt: String(row["created_at"]),
  };
}

function evaluationRecord(row: SqlRow): EvaluationRecord {
  return {
    id: Number(row["id"]),
    policyId: nullableNumber(row["policy_id"]),
    estimator: String(row["estimator"]),
    value: Number(row["value"]),
    lower: Number(row["lower_bound"]),
    upper: Number(row["upper_bound"]),
    confidence: nullableNumber(row["confidence"]),
    split: String(row["split"]),
    dataset: { name: String(row["dataset_name"]), version: Number(row["dataset_version"]) },
    diagnostics: json(row["diagnostics"]),
    createdAt: String(row["created_at"]),
  };
}

function stageChange(row: SqlRow): StageChange {
  return {
    id: Number(row["id"]),
    deployment: String(row["deployment"]),
    policyId: Number(row["policy_id"]),
    policy: `${String(row["policy_name"])}@${Number(row["policy_version"])}`,
    fromStage: row["from_stage"] as Stage,
    toStage: row["to_stage"] as Stage,
    fraction: nullableNumber(row["fraction"]),
    reason: String(row["reason"]),
    actor: String(row["actor"]),
    at: String(row["changed_at"]),
  };
}

function stepRecord(row: SqlRow): StepRecord {
  return {
    id: Number(row["id"]),
    pipeline: String(row["pipeline"]),
    name: String(row["name"]),
    inputHash: String(row["input_hash"]),
    status: row["status"] as StepRecord["status"],
    outputs: json(row["outputs"]),
    error: (row["error"] as string | null) ?? null,
    startedAt: String(row["started_at"]),
    updatedAt: String(row["updated_at"]),
  };
}

function auditEntryOf(r: SqlRow): AuditEntry {
  return {
    id: Number(r["id"]),
    at: String(r["created_at"]),
    actor: String(r["actor"]),
    host: String(r["host"]),
    action: String(r["action"]),
    subject: String(r["subject"]),
    details: JSON.parse(String(r["details"])) as Record<string, unknown>,
  };
}

function tokenInfo(row: SqlRow): TokenInfo {
  return {
    id: Number(row["id"]),
    name: String(row["name"]),
    role: row["role"] as Role,
    createdAt: String(row["created_at"]),
    revokedAt: (row["revoked_at"] as string | null) ?? null,
  };
}
