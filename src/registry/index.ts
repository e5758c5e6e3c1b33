// The registry's public surface; src/index.ts re-exports it.
export type * from "./types.js";
export { ROLES, STAGES } from "./types.js";
export { RegistryError, registryErrorStatus, type RegistryErrorCode } from "./errors.js";
export { openRegistry, openRegistryFromEnv, resolveRegistryUrl, redact as redactRegistryUrl, DEFAULT_REGISTRY_URL, type OpenRegistryOptions } from "./open.js";
export {
  GateConfigSchema,
  defaultGateConfig,
  parseGateConfig,
  loadGateConfig,
  checkGates,
  type GateConfig,
  type GateConfigInput,
  type GateFacts,
  type GateFailure,
} from "./gates.js";
export { stripSensitive, assertNoSensitiveFeatures, sensitiveFeaturesOf, type SensitiveOptions } from "./sensitive.js";
export { requireRole, roleAtLeast, hashToken } from "./access.js";
