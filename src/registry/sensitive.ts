import { RegistryError } from "./errors.js";

/**
 * Sensitive features (flagged in a dataset's schema) must not leave the platform in artifacts, logs or exports
 * unless explicitly allowed. These helpers are what exporters call.
 */
export interface SensitiveOptions {
  /** `true` admits every sensitive feature; a list admits those named. */
  allow?: boolean | string[];
}

function blocked(sensitive: Iterable<string>, options: SensitiveOptions): Set<string> {
  const result = new Set(sensitive);
  if (options.allow === true) return new Set();
  if (Array.isArray(options.allow)) for (const name of options.allow) result.delete(name);
  return result;
}

/** Reads the sensitive flags from a dataset manifest shaped `{schema: {features: [{name, sensitive}]}}` or `{features: [...]}`. */
export function sensitiveFeaturesOf(manifest: Record<string, unknown> | undefined): string[] {
  if (!manifest) return [];
  const schema = manifest["schema"] as Record<string, unknown> | undefined;
  const features = (schema?.["features"] ?? manifest["features"]) as unknown;
  if (!Array.isArray(features)) return [];
  const names: string[] = [];
  for (const feature of features) {
    if (feature && typeof feature === "object") {
      const { name, sensitive } = feature as { name?: unknown; sensitive?: unknown };
      if (typeof name === "string" && sensitive === true) names.push(name);
    }
  }
  return names;
}

/** Throws `sensitive_feature_exported` if any of `featureNames` is sensitive and not allowed. */
export function assertNoSensitiveFeatures(
  featureNames: readonly string[],
  sensitive: Iterable<string>,
  options: SensitiveOptions & { context?: string } = {},
): void {
  const deny = blocked(sensitive, options);
  const found = featureNames.filter((name) => deny.has(name));
  if (found.length > 0) {
    throw new RegistryError(
      "sensitive_feature_exported",
      `${options.context ?? "export"} would include sensitive feature(s) ${found.join(", ")}; pass an explicit allowance to export them`,
      { features: found, context: options.context ?? "export" },
    );
  }
}

/**
 * Returns a deep copy of `value` without the sensitive features: object keys named after one are dropped, and
 * a `featureNames` array drops them together with the same positions of its sibling per-feature arrays
 * (e.g. `{featureNames, mean, std}`), so the remaining columns still line up.
 */
export function stripSensitive<T>(value: T, sensitive: Iterable<string>, options: SensitiveOptions = {}): T {
  const deny = blocked(sensitive, options);
  if (deny.size === 0) return structuredClone(value);
  return strip(value, deny) as T;
}

function strip(value: unknown, deny: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => strip(item, deny));
  if (ArrayBuffer.isView(value)) return value;
  if (value === null || typeof value !== "object") return value;
  const source = value as Record<string, unknown>;
  const names = source["featureNames"];
  let keep: number[] | null = null;
  if (Array.isArray(names) && names.every((n) => typeof n === "string")) {
    keep = [];
    names.forEach((name: string, index) => {
      if (!deny.has(name)) keep!.push(index);
    });
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(source)) {
    if (deny.has(key)) continue;
    if (keep && Array.isArray(child) && child.length === (names as unknown[]).length) {
      out[key] = keep.map((index) => strip(child[index], deny));
    } else {
      out[key] = strip(child, deny);
    }
  }
  return out;
}
