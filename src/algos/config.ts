/**
 * Configuration shared by every algorithm, and the one place configuration is resolved: defaults (the papers'),
 * then a config file (YAML or JSON), then `key=value` overrides, validated once with zod. Unknown keys are errors,
 * so a typo never silently trains with a default.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { AlgoError } from "./errors.js";

/** Fields every algorithm accepts. Network 256x256 ReLU, batch 256 and gamma 0.99 follow d3rlpy and CORL. */
export const commonConfigShape = {
  batchSize: z.number().int().min(1).default(256),
  hiddenSizes: z.array(z.number().int().min(1)).min(1).default([256, 256]),
  gamma: z.number().min(0).max(1).default(0.99),
  /** "standard": (x - mean) / std from the training data; "none": raw observations. */
  observationScaling: z.enum(["standard", "none"]).default("standard"),
  /**
   * "none": raw rewards; "standard": divided by the rewards' standard deviation (not shifted: shifting changes the
   * optimal policy when episodes can end early); "return_range": r * 1000 / (max return - min return), as IQL does.
   */
  rewardScaling: z.enum(["none", "standard", "return_range"]).default("none"),
  /** Applied after rewardScaling: r * rewardScale + rewardShift. */
  rewardScale: z.number().finite().default(1),
  rewardShift: z.number().finite().default(0),
};

export const commonConfigSchema = z.strictObject(commonConfigShape);
export type CommonConfig = z.infer<typeof commonConfigSchema>;

/** Parses "key=value"; the value is JSON when it parses as JSON ("3e-4", "[256,256]", "true"), else a string. */
export function parseAssignment(assignment: string): { path: string[]; value: unknown } {
  const eq = assignment.indexOf("=");
  if (eq <= 0) {
    throw new AlgoError("config_invalid", `--set expects key=value, got "${assignment}"`, { value: assignment });
  }
  const key = assignment.slice(0, eq).trim();
  const raw = assignment.slice(eq + 1).trim();
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const path = key.split(".");
  if (path.some((p) => p === "" || p === "__proto__" || p === "constructor" || p === "prototype")) {
    throw new AlgoError("config_invalid", `--set: invalid key "${key}"`, { field: key });
  }
  return { path, value };
}

function assignPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const child = node[part];
    if (typeof child !== "object" || child === null || Array.isArray(child)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new AlgoError("config_invalid", `cannot read config file ${file}`, { file });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new AlgoError("config_invalid", `${file}: ${(error as Error).message}`, { file });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new AlgoError("config_invalid", `${file}: expected a mapping of settings`, { file });
  }
  return value as Record<string, unknown>;
}

/** Defaults <- file <- assignments, then validation. Errors name the field, as zod's issues do. */
export function resolveConfig<T>(
  schema: z.ZodType<T>,
  options: { base?: Record<string, unknown>; assignments?: string[]; source?: string } = {},
): T {
  const merged: Record<string, unknown> = structuredClone(options.base ?? {});
  for (const assignment of options.assignments ?? []) {
    const { path, value } = parseAssignment(assignment);
    assignPath(merged, path, value);
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join(".");
    throw new AlgoError("config_invalid", `${options.source ?? "config"}: ${field || "(root)"}: ${issue.message}`, {
      file: options.source,
      field,
      issues: parsed.error.issues.map((i) => ({ code: i.code, path: i.path.join("."), message: i.message })),
    });
  }
  return parsed.data;
}
