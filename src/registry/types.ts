import type { GateConfig } from "./gates.js";

/** Roles, weakest first; each role may do everything the roles before it may. */
export const ROLES = ["reader", "trainer", "deployer", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const STAGES = ["registered", "shadow", "canary", "production", "retired", "rolled_back"] as const;
export type Stage = (typeof STAGES)[number];

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export type StepStatus = "running" | "succeeded" | "failed" | "skipped";

/** Identifies a dataset version by name and number, as the dataset store does. */
export interface DatasetVersionRef {
  name: string;
  version: number;
}

/** What the dataset store's manifest says about a version; the registry keeps the manifest as given. */
export interface DatasetVersionInput extends DatasetVersionRef {
  hash: string;
  manifest?: Record<string, unknown>;
  /** Feature names flagged sensitive; when omitted they are read from `manifest.schema.features[].sensitive`. */
  sensitiveFeatures?: string[];
}

export interface DatasetVersionRecord extends DatasetVersionRef {
  id: number;
  hash: string;
  manifest: Record<string, unknown>;
  sensitiveFeatures: string[];
  createdAt: string;
}

export interface RunInput {
  algorithm: string;
  config: Record<string, unknown>;
  seed: number;
  dataset?: DatasetVersionRef;
  codeVersion: string;
  status?: RunStatus;
  artifacts?: Record<string, string>;
}

export interface RunRecord {
  id: number;
  algorithm: string;
  config: Record<string, unknown>;
  seed: number;
  dataset: (DatasetVersionRef & { hash: string }) | null;
  codeVersion: string;
  status: RunStatus;
  artifacts: Record<string, string>;
  createdBy: string;
  createdAt: string;
  finishedAt: string | null;
}

export interface MetricPoint {
  name: string;
  step: number;
  value: number;
}

export interface MetricRecord extends MetricPoint {
  recordedAt: string;
}

export interface PolicyInput {
  /** Human name; versions are numbered per name. */
  name: string;
  /** sha256 of the artifact's content: the policy's identity. Registering the same sha256 again returns it. */
  sha256: string;
  artifactPath: string;
  runId?: number;
  /** The artifact manifest (src/policy/manifest.ts), kept as given. */
  manifest?: Record<string, unknown>;
  /** Feature names the artifact consumes; checked against the training dataset's sensitive features. */
  featureNames?: string[];
  /** Admit features flagged sensitive into this artifact (recorded in the audit log). */
  allowSensitive?: boolean;
}

export interface PolicyRecord {
  id: number;
  name: string;
  version: number;
  sha256: string;
  artifactPath: string;
  runId: number | null;
  manifest: Record<string, unknown>;
  stage: Stage;
  deployment: string | null;
  /** Share of traffic while in canary, else null. */
  fraction: number | null;
  stageSince: string;
  createdBy: string;
  createdAt: string;
}

export interface EvaluationInput {
  /** Policy reference, or null for the behaviour (baseline) policy of the logged data. */
  policy: string | null;
  estimator: string;
  value: number;
  lower: number;
  upper: number;
  confidence?: number;
  /** Which split of the dataset version was evaluated, e.g. "heldout". */
  split: string;
  dataset: DatasetVersionRef;
  diagnostics?: Record<string, unknown>;
}

export interface EvaluationRecord {
  id: number;
  policyId: number | null;
  estimator: string;
  value: number;
  lower: number;
  upper: number;
  confidence: number | null;
  split: string;
  dataset: DatasetVersionRef;
  diagnostics: Record<string, unknown>;
  createdAt: string;
}

export interface StageChange {
  id: number;
  deployment: string;
  policyId: number;
  policy: string;
  fromStage: Stage;
  toStage: Stage;
  fraction: number | null;
  reason: string;
  actor: string;
  at: string;
}

export interface PromoteOptions {
  deployment?: string;
  /** Required for canary: share of traffic in (0, 1]. */
  fraction?: number;
  reason?: string;
}

export interface RollbackOptions {
  deployment?: string;
  /** Which policy to roll back; defaults to the canary if there is one, else production. */
  policy?: string;
  reason: string;
  /** Evidence recorded in the audit log, e.g. the guard statistic that tripped an automatic rollback. */
  details?: Record<string, unknown>;
}

export interface RollbackResult {
  rolledBack: PolicyRecord;
  /** The production policy restored when production itself was rolled back, if any. */
  restored: PolicyRecord | null;
}

/** What the decision service routes: read it, and re-read when `routingVersion()` changes. */
export interface Routing {
  deployment: string;
  routingVersion: number;
  production: { policy: PolicyRecord; since: string } | null;
  canary: { policy: PolicyRecord; fraction: number; since: string } | null;
  shadows: Array<{ policy: PolicyRecord; since: string }>;
}

/** Counters the decision service reports for a policy in its current stage (increments, not totals). */
export interface TrafficCounts {
  decisions: number;
  safetyViolations?: number;
  /** Canary guard checks that failed (e.g. a guard metric crossed its threshold). */
  guardFailures?: number;
}

export interface StageCounters {
  policyId: number;
  stage: Stage;
  decisions: number;
  safetyViolations: number;
  guardFailures: number;
  updatedAt: string;
}

export interface StepInput {
  pipeline: string;
  name: string;
  inputHash: string;
  status: StepStatus;
  outputs?: Record<string, unknown>;
  error?: string;
}

export interface StepRecord extends Required<Omit<StepInput, "error">> {
  id: number;
  error: string | null;
  startedAt: string;
  updatedAt: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  host: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  since?: string;
  actor?: string;
  action?: string;
  subject?: string;
  limit?: number;
}

export interface TokenInfo {
  id: number;
  name: string;
  role: Role;
  createdAt: string;
  revokedAt: string | null;
}

export interface Principal {
  tokenId: number | null;
  name: string;
  role: Role;
}

export interface PolicyLineage {
  policy: PolicyRecord;
  run: RunRecord | null;
  dataset: (DatasetVersionRef & { hash: string }) | null;
  evaluations: EvaluationRecord[];
  stageHistory: StageChange[];
}

export interface DatasetUsage {
  dataset: DatasetVersionRecord;
  runs: RunRecord[];
  policies: PolicyRecord[];
}

/**
 * The registry: one interface, SQLite and PostgreSQL behind it. Every mutation and its audit row commit in one
 * transaction. Methods check the caller's role when access control is on (see `openRegistry`).
 */
export interface Registry {
  readonly backend: "sqlite" | "postgres";
  /** Who this connection acts as. */
  whoami(): Promise<Principal>;

  registerDatasetVersion(input: DatasetVersionInput): Promise<DatasetVersionRecord>;
  getDatasetVersion(ref: DatasetVersionRef): Promise<DatasetVersionRecord>;
  listDatasetVersions(name?: string): Promise<DatasetVersionRecord[]>;

  createRun(input: RunInput): Promise<RunRecord>;
  updateRun(id: number, patch: { status?: RunStatus; artifacts?: Record<string, string> }): Promise<RunRecord>;
  logMetrics(runId: number, points: MetricPoint[]): Promise<void>;
  getRun(id: number): Promise<RunRecord>;
  listRuns(filter?: { status?: RunStatus; algorithm?: string; limit?: number }): Promise<RunRecord[]>;
  getMetrics(runId: number, name?: string): Promise<MetricRecord[]>;

  registerPolicy(input: PolicyInput): Promise<PolicyRecord>;
  /** `name@version`, `name` (latest version), or a sha256 prefix of at least 8 hex digits. */
  getPolicy(ref: string): Promise<PolicyRecord>;
  listPolicies(filter?: { name?: string; stage?: Stage; deployment?: string }): Promise<PolicyRecord[]>;

  recordEvaluation(input: EvaluationInput): Promise<EvaluationRecord>;
  listEvaluations(policyRef: string | null, filter?: { split?: string }): Promise<EvaluationRecord[]>;

  /** Moves a policy one stage forward after checking the promotion gates, all in one transaction. */
  promote(policyRef: string, to: "shadow" | "canary" | "production", options?: PromoteOptions): Promise<PolicyRecord>;
  /** Takes a policy out of a deployment on purpose (not a failure). */
  retire(policyRef: string, reason: string): Promise<PolicyRecord>;
  rollback(options: RollbackOptions): Promise<RollbackResult>;
  stageHistory(filter?: { deployment?: string; policy?: string }): Promise<StageChange[]>;

  routing(deployment?: string): Promise<Routing>;
  /** Routing of every deployment that has ever had a live policy, read in one snapshot. */
  allRouting(): Promise<Routing[]>;
  /** Monotonically increasing; changes whenever any deployment's routing changes. */
  routingVersion(): Promise<number>;
  recordTraffic(policyRef: string, counts: TrafficCounts): Promise<StageCounters>;
  /**
   * The shared kill switch: when on, every decision service replica serves its fallback. Flipping it is audited and
   * bumps `routingVersion()`, so pollers see it.
   */
  setKillSwitch(on: boolean, reason: string): Promise<void>;
  killSwitch(): Promise<boolean>;
  /**
   * Appends an operational event (an alert fired or resolved, a guard verdict) to the audit log. `action` must be
   * namespaced, e.g. "alert.fired"; it cannot imitate a registry mutation.
   */
  recordEvent(action: string, subject: string, details?: Record<string, unknown>): Promise<AuditEntry>;
  counters(policyRef: string, stage?: Stage): Promise<StageCounters>;

  setGates(config: GateConfig): Promise<void>;
  gates(): Promise<GateConfig>;

  policyLineage(policyRef: string): Promise<PolicyLineage>;
  trainedOn(ref: DatasetVersionRef): Promise<DatasetUsage>;
  /** Every deployment's production policy and since when. */
  inProduction(): Promise<Array<{ deployment: string; policy: PolicyRecord; since: string }>>;

  recordStep(input: StepInput): Promise<StepRecord>;
  findStep(pipeline: string, name: string, inputHash: string): Promise<StepRecord | null>;
  listSteps(pipeline?: string): Promise<StepRecord[]>;

  audit(query?: AuditQuery): Promise<AuditEntry[]>;

  /** Returns the secret once; only its sha256 is stored. The first token may be created without one (bootstrap). */
  createToken(name: string, role: Role): Promise<{ token: string; info: TokenInfo }>;
  revokeToken(id: number): Promise<TokenInfo>;
  listTokens(): Promise<TokenInfo[]>;
  /** For the HTTP admin API: who a bearer token belongs to. Throws token_invalid. */
  authenticate(token: string): Promise<Principal>;

  close(): Promise<void>;
}
