import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { RegistryError } from "./errors.js";

/**
 * Promotion gates, declared in a YAML/JSON file and stored in the registry, which checks them inside the promote
 * transaction. Each stage names what must hold before a policy may enter it.
 */
export const GateConfigSchema = z
  .object({
    shadow: z
      .object({
        /** Off-policy lower bound on `split` must reach the baseline's estimate on the same dataset version + margin. */
        opeLowerBound: z
          .object({
            split: z.string().min(1).default("heldout"),
            estimator: z.string().min(1).optional(),
            margin: z.number().default(0),
          })
          .strict()
          .nullable()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    canary: z
      .object({
        minShadowDecisions: z.number().int().min(0).default(1000),
        maxShadowSafetyViolations: z.number().int().min(0).default(0),
        maxFraction: z.number().gt(0).max(1).default(0.5),
      })
      .strict()
      .prefault({}),
    production: z
      .object({
        /** The canary must have run this long with its guard never failing. */
        canaryWindowSeconds: z.number().min(0).default(3600),
        minCanaryDecisions: z.number().int().min(0).default(1000),
        maxCanaryGuardFailures: z.number().int().min(0).default(0),
        maxCanarySafetyViolations: z.number().int().min(0).default(0),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type GateConfig = z.output<typeof GateConfigSchema>;
export type GateConfigInput = z.input<typeof GateConfigSchema>;

export const defaultGateConfig: GateConfig = GateConfigSchema.parse({});

export function parseGateConfig(value: unknown, source = "gate config"): GateConfig {
  const result = GateConfigSchema.safeParse(value ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
    const first = issues[0];
    throw new RegistryError(
      "invalid_gate_config",
      `${source}: ${first ? `${first.path || "(root)"}: ${first.message}` : "invalid"}`,
      { source, issues },
    );
  }
  return result.data;
}

/** Reads a gate file (`.yaml`, `.yml` or `.json`) and validates it. */
export function loadGateConfig(path: string): GateConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new RegistryError("invalid_gate_config", `cannot read ${path}: ${(error as Error).message}`, { file: path });
  }
  let value: unknown;
  try {
    value = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new RegistryError("invalid_gate_config", `${path}: ${(error as Error).message}`, { file: path });
  }
  return parseGateConfig(value, path);
}

/** What the registry knows, inside the promote transaction, that the gates are checked against. */
export interface GateFacts {
  now: Date;
  /** The candidate's latest evaluation on the gate's split (and estimator, if the gate names one). */
  evaluation: { estimator: string; lower: number; dataset: string } | null;
  /** The baseline (behaviour policy) estimate on the same dataset version and split. */
  baseline: { estimator: string; value: number } | null;
  shadow: { decisions: number; safetyViolations: number };
  canary: { since: string | null; decisions: number; safetyViolations: number; guardFailures: number };
}

export interface GateFailure {
  gate: string;
  required: number | string;
  actual: number | string | null;
  /** How far short the candidate is, in the gate's unit; null when the fact is missing altogether. */
  shortfall: number | null;
  message: string;
}

/** Pure check: which gates for entering `to` fail given the facts. Empty means the promotion may proceed. */
export function checkGates(to: "shadow" | "canary" | "production", config: GateConfig, facts: GateFacts): GateFailure[] {
  const failures: GateFailure[] = [];
  const atLeast = (gate: string, required: number, actual: number, message: string) => {
    if (actual < required) failures.push({ gate, required, actual, shortfall: required - actual, message });
  };
  const atMost = (gate: string, allowed: number, actual: number, message: string) => {
    if (actual > allowed) failures.push({ gate, required: allowed, actual, shortfall: actual - allowed, message });
  };
  if (to === "shadow") {
    const gate = config.shadow.opeLowerBound;
    if (gate) {
      const name = "shadow.opeLowerBound";
      const what = `on split "${gate.split}"${gate.estimator ? ` with estimator ${gate.estimator}` : ""}`;
      if (!facts.evaluation) {
        failures.push({ gate: name, required: "an OPE evaluation", actual: null, shortfall: null, message: `no OPE evaluation ${what}` });
      } else if (!facts.baseline) {
        failures.push({
          gate: name,
          required: "a baseline estimate",
          actual: null,
          shortfall: null,
          message: `no baseline estimate ${what} of dataset ${facts.evaluation.dataset}`,
        });
      } else {
        const required = facts.baseline.value + gate.margin;
        if (!(facts.evaluation.lower >= required)) {
          failures.push({
            gate: name,
            required,
            actual: facts.evaluation.lower,
            shortfall: required - facts.evaluation.lower,
            message:
              `OPE lower bound ${fmt(facts.evaluation.lower)} (${facts.evaluation.estimator}) is ` +
              `${fmt(required - facts.evaluation.lower)} below the required ${fmt(required)} ` +
              `(baseline ${fmt(facts.baseline.value)} + margin ${fmt(gate.margin)}) ${what}`,
          });
        }
      }
    }
  } else if (to === "canary") {
    const gate = config.canary;
    const { decisions, safetyViolations } = facts.shadow;
    atLeast("canary.minShadowDecisions", gate.minShadowDecisions, decisions,
      `${decisions} shadow decisions, ${gate.minShadowDecisions - decisions} short of ${gate.minShadowDecisions}`);
    atMost("canary.maxShadowSafetyViolations", gate.maxShadowSafetyViolations, safetyViolations,
      `${safetyViolations} safety violations in shadow, at most ${gate.maxShadowSafetyViolations} allowed`);
  } else {
    const gate = config.production;
    const { decisions, guardFailures, safetyViolations } = facts.canary;
    const elapsed = facts.canary.since ? (facts.now.getTime() - Date.parse(facts.canary.since)) / 1000 : 0;
    atLeast("production.canaryWindowSeconds", gate.canaryWindowSeconds, elapsed,
      `canary has run ${fmt(elapsed)} s, ${fmt(gate.canaryWindowSeconds - elapsed)} s short of ${gate.canaryWindowSeconds} s`);
    atLeast("production.minCanaryDecisions", gate.minCanaryDecisions, decisions,
      `${decisions} canary decisions, ${gate.minCanaryDecisions - decisions} short of ${gate.minCanaryDecisions}`);
    atMost("production.maxCanaryGuardFailures", gate.maxCanaryGuardFailures, guardFailures,
      `canary guard failed ${guardFailures} times, at most ${gate.maxCanaryGuardFailures} allowed`);
    atMost("production.maxCanarySafetyViolations", gate.maxCanarySafetyViolations, safetyViolations,
      `${safetyViolations} safety violations in canary, at most ${gate.maxCanarySafetyViolations} allowed`);
  }
  return failures;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(4);
}
