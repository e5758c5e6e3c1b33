// The public library API. Each module exports what users may build on; nothing else lives here.
export type { Transitions, ActionSpace } from "./data/transitions.js";
export { episodeCount, actionDim } from "./data/transitions.js";
export type { PolicyManifest } from "./policy/manifest.js";
export { writeColumns, formatFromPath } from "./data/write-columns.js";
export type { ColumnData, FileFormat } from "./data/write-columns.js";
export { parseSchema, loadSchema, featureNamesOf } from "./data/schema.js";
export type { DatasetSchema, DatasetSchemaInput } from "./data/schema.js";
export { DataError } from "./data/errors.js";
// Numerical engine (graph, autodiff, layers, optimizers, ONNX Runtime steps, export, checkpoints): `nn.Graph`, `nn.op.add`, ...
export * as nn from "./nn/index.js";
// Registry: runs, policies, evaluations, deployments, promotion gates, audit log, tokens (SQLite or PostgreSQL by URL).
export {
  openRegistry,
  openRegistryFromEnv,
  resolveRegistryUrl,
  RegistryError,
  registryErrorStatus,
  loadGateConfig,
  parseGateConfig,
  checkGates,
  defaultGateConfig,
  stripSensitive,
  assertNoSensitiveFeatures,
  sensitiveFeaturesOf,
  requireRole,
} from "./registry/index.js";
export type {
  Registry,
  RegistryErrorCode,
  GateConfig,
  GateFailure,
  Role as RegistryRole,
  Stage as DeploymentStage,
  Principal,
  Routing,
  TrafficCounts,
  StageCounters,
  PolicyRecord,
  RunRecord,
  DatasetVersionRecord,
  EvaluationRecord,
  StepRecord,
  AuditEntry,
  PolicyLineage,
} from "./registry/index.js";
