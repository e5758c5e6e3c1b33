import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { DataError } from "./errors.js";

/**
 * The dataset schema file (JSON or YAML): which columns of the logged files hold the episode id, step,
 * observations, action, reward, flags and propensities. Validated once here and typed everywhere inside.
 */
const columnName = z.string().min(1);

/** Observations: a list of scalar feature columns, or one list/array column of a fixed size. */
const observationSpec = z.union([
  z.array(columnName).min(1),
  z.strictObject({
    column: columnName,
    size: z.number().int().positive(),
    names: z.array(columnName).optional(),
  }),
]);

const discreteAction = z.strictObject({
  column: columnName,
  kind: z.literal("discrete"),
  n: z.number().int().min(1),
});

const continuousAction = z.strictObject({
  columns: z.array(columnName).min(1),
  kind: z.literal("continuous"),
  low: z.array(z.number()),
  high: z.array(z.number()),
});

export const datasetSchemaSchema = z
  .strictObject({
    episode: columnName,
    step: columnName,
    timestamp: columnName.optional(),
    observations: observationSpec,
    nextObservations: observationSpec.optional(),
    action: z.discriminatedUnion("kind", [discreteAction, continuousAction]),
    reward: z.strictObject({ column: columnName, min: z.number(), max: z.number() }),
    terminal: columnName.optional(),
    truncated: columnName.optional(),
    // How an episode's last step ends when the logs carry neither flag column. With only a terminal column, a last
    // step not marked terminal counts as truncated (and the other way round).
    episodeEnd: z.enum(["terminal", "truncated"]).default("terminal"),
    behaviorProb: z.strictObject({ column: columnName, kind: z.enum(["probability", "log_density"]) }).optional(),
    policyVersion: columnName.optional(),
    metadata: z.array(columnName).optional(),
    features: z.record(z.string(), z.strictObject({ sensitive: z.boolean().optional() })).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.reward.min > s.reward.max) ctx.addIssue({ code: "custom", path: ["reward"], message: "reward.min must not exceed reward.max" });
    if (s.action.kind === "continuous") {
      const dims = s.action.columns.length;
      if (s.action.low.length !== dims || s.action.high.length !== dims) {
        ctx.addIssue({ code: "custom", path: ["action"], message: `low and high need ${dims} entries, one per action column` });
      } else if (s.action.low.some((lo, i) => !(lo <= (s.action as { high: number[] }).high[i]!))) {
        ctx.addIssue({ code: "custom", path: ["action"], message: "each low must not exceed its high" });
      }
      if (s.behaviorProb?.kind === "probability") {
        ctx.addIssue({ code: "custom", path: ["behaviorProb", "kind"], message: "continuous actions carry a log_density, not a probability" });
      }
    } else if (s.behaviorProb?.kind === "log_density") {
      ctx.addIssue({ code: "custom", path: ["behaviorProb", "kind"], message: "discrete actions carry a probability, not a log_density" });
    }
    const obs = s.observations;
    const next = s.nextObservations;
    if (next) {
      const dim = (o: typeof obs) => (Array.isArray(o) ? o.length : o.size);
      if (dim(next) !== dim(obs)) ctx.addIssue({ code: "custom", path: ["nextObservations"], message: "must have as many entries as observations" });
    }
    if (!Array.isArray(obs) && obs.names && obs.names.length !== obs.size) {
      ctx.addIssue({ code: "custom", path: ["observations", "names"], message: `needs ${obs.size} names` });
    }
    const names = Array.isArray(obs) ? obs : (obs.names ?? Array.from({ length: obs.size }, (_, i) => `${obs.column}_${i}`));
    for (const feature of Object.keys(s.features ?? {})) {
      if (!names.includes(feature)) ctx.addIssue({ code: "custom", path: ["features", feature], message: `is not one of the observation features (${names.join(", ")})` });
    }
  });

export type DatasetSchema = z.output<typeof datasetSchemaSchema>;
export type DatasetSchemaInput = z.input<typeof datasetSchemaSchema>;
export type ObservationSpec = z.output<typeof observationSpec>;

/** Validates a parsed schema object; throws DataError `invalid_schema` naming the first bad path. */
export function parseSchema(value: unknown, source = "schema"): DatasetSchema {
  const result = datasetSchemaSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
    throw new DataError("invalid_schema", `${source}: ${issues.join("; ")}`, { file: source, issues });
  }
  return result.data;
}

/** Reads and validates a schema file; YAML when the extension is .yaml/.yml, JSON otherwise. */
export function loadSchema(path: string): DatasetSchema {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DataError("schema_unreadable", `cannot read schema ${path}: ${(error as Error).message}`, { file: path });
  }
  let value: unknown;
  const ext = extname(path).toLowerCase();
  try {
    value = ext === ".yaml" || ext === ".yml" ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new DataError("invalid_schema", `${path}: not valid ${ext === ".yaml" || ext === ".yml" ? "YAML" : "JSON"}: ${(error as Error).message.split("\n")[0]!.trim()}`, { file: path });
  }
  return parseSchema(value, path);
}

/** Feature names of an observation spec, in order. */
export function featureNamesOf(spec: ObservationSpec): string[] {
  if (Array.isArray(spec)) return [...spec];
  return spec.names ? [...spec.names] : Array.from({ length: spec.size }, (_, i) => `${spec.column}_${i}`);
}

export function observationDimOf(spec: ObservationSpec): number {
  return Array.isArray(spec) ? spec.length : spec.size;
}
