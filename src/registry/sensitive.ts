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

/**
 * Reads the sensitive flags from a dataset manifest: `schema.features` (or top-level `features`) either as the
 * dataset store writes it, `{name: {sensitive: true}}`, or as a list `[{name, sensitive: true}]`.
 */
export function sensitiveFeaturesOf(manifest: Record<string, unknown> | undefined): string[] {
  if (!manifest) return [];
  const schema = manifest["schema"] as Record<string, unknown> | undefined;
  const features = (schema?.["features"] ?? manifest["features"]) as unknown;
  const names: string[] = [];
  if (Array.isArray(features)) {
    for (const feature of features) {
      if (feature && typeof feature === "object") {
        const { name, sensitive } = feature as { name?: unknown; sensitive?: unknown };
        if (typeof name === "string" && sensitive === true) names.push(name);
      }
    }
  } else if (features && typeof features === "object") {
    for (const [name, flags] of Object.entries(features as Record<string, unknown>)) {
      if (flags && typeof flags === "object" && (flags as { sensitive?: unknown }).sensitive === true) names.push(name);
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
 * Returns a deep copy of `value` without the sensitive features. Object keys named after one are dropped. Below an
 * object carrying `featureNames`, every array with one entry per feature (e.g. `scaler.mean`, `support.min`) loses
 * the same positions, and a flattened features x features matrix (e.g. a whitening matrix) loses those rows and
 * columns, so what remains still lines up with the remaining names.
 */
export function stripSensitive<T>(value: T, sensitive: Iterable<string>, options: SensitiveOptions = {}): T {
  const deny = blocked(sensitive, options);
  if (deny.size === 0) return structuredClone(value);
  return strip(value, deny, null) as T;
}

interface Columns {
  count: number;
  keep: number[];
}

function strip(value: unknown, deny: Set<string>, columns: Columns | null): unknown {
  if (Array.isArray(value)) {
    if (columns && columns.keep.length < columns.count) {
      if (value.length === columns.count) return columns.keep.map((i) => strip(value[i], deny, columns));
      if (columns.count > 1 && value.length === columns.count * columns.count && value.every((x) => typeof x === "number")) {
        return columns.keep.flatMap((row) => columns.keep.map((col) => value[row * columns.count + col]));
      }
    }
    return value.map((item) => strip(item, deny, columns));
  }
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  const source = value as Record<string, unknown>;
  const names = source["featureNames"];
  let inner = columns;
  if (Array.isArray(names) && names.every((n) => typeof n === "string")) {
    const keep: number[] = [];
    names.forEach((name: string, index) => {
      if (!deny.has(name)) keep.push(index);
    });
    inner = { count: names.length, keep };
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(source)) {
    if (!deny.has(key)) out[key] = strip(child, deny, inner);
  }
  return out;
}
