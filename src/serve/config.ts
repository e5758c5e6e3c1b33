import { z } from "zod";

/**
 * Deployment configuration, validated once at the edge (routing source, admin endpoint) and typed inside.
 * A deployment is a named decision point: one production policy, an optional canary, any number of shadows,
 * plus how to explore, what is safe, and what to do when the policy cannot be trusted (the fallback).
 */
export type Predicate =
  | { feature: string; op: "<" | "<=" | ">" | ">=" | "==" | "!="; value: number }
  | { all: Predicate[] }
  | { any: Predicate[] }
  | { not: Predicate };

export const predicateSchema: z.ZodType<Predicate> = z.lazy(() =>
  z.union([
    z.object({ feature: z.string().min(1), op: z.enum(["<", "<=", ">", ">=", "==", "!="]), value: z.number() }).strict(),
    z.object({ all: z.array(predicateSchema) }).strict(),
    z.object({ any: z.array(predicateSchema) }).strict(),
    z.object({ not: predicateSchema }).strict(),
  ]),
);

export const explorationSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("greedy") }).strict(),
  z.object({ kind: z.literal("epsilon"), epsilon: z.number().min(0).max(1) }).strict(),
  z.object({ kind: z.literal("softmax"), temperature: z.number().positive() }).strict(),
  z.object({ kind: z.literal("gaussian"), std: z.union([z.number().positive(), z.array(z.number().positive())]) }).strict(),
]);
export type Exploration = z.infer<typeof explorationSchema>;

export const safetySchema = z
  .object({
    /** Discrete: when `when` holds (or always, without `when`), the action must be one of `actions`. */
    allowedActions: z.array(z.object({ when: predicateSchema.optional(), actions: z.array(z.number().int().min(0)) }).strict()).default([]),
    /** Continuous: every action dimension must stay within [low, high]. */
    bounds: z.object({ low: z.array(z.number()), high: z.array(z.number()) }).strict().optional(),
    /** Continuous: per-dimension maximum change from the previous action served to the same routing key. */
    rateLimit: z.object({ maxDelta: z.array(z.number().positive()), memoryKeys: z.number().int().positive().default(100_000) }).strict().optional(),
  })
  .strict();
export type SafetyRules = z.infer<typeof safetySchema>;

export const oodSchema = z
  .object({
    /** Per-feature range check against the training support, widened by `margin` times the range width. */
    ranges: z.boolean().default(true),
    margin: z.number().min(0).default(0),
    /** Multivariate (whitened) distance check, when the artifact carries whitening parameters. */
    distance: z.boolean().default(true),
  })
  .strict();

export const guardSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Overall false-alarm probability of the always-valid test, split over the monitored metrics. */
    alpha: z.number().gt(0).lt(1).default(0.01),
    /** Observations per arm before the test may fire. */
    minSamples: z.number().int().positive().default(200),
    latency: z.boolean().default(true),
    errors: z.boolean().default(true),
    interventions: z.boolean().default(true),
    reward: z.boolean().default(true),
    /** Smallest differences worth detecting; they set the mixture width of each test. */
    rateEffect: z.number().positive().default(0.05),
    rewardEffect: z.number().positive().default(0.1),
  })
  .strict();
export type GuardConfig = z.infer<typeof guardSchema>;

export const fallbackSchema = z.union([
  z.object({ action: z.union([z.number(), z.array(z.number())]) }).strict(),
  z.object({ policy: z.string().min(1) }).strict(),
]);
export type FallbackSpec = z.infer<typeof fallbackSchema>;

export const deploymentSchema = z
  .object({
    production: z.object({ policy: z.string().min(1) }).strict(),
    /** Production references superseded by promotions, newest last: what a production rollback returns to. */
    history: z.array(z.string()).default([]),
    canary: z.object({ policy: z.string().min(1), fraction: z.number().min(0).max(1) }).strict().optional(),
    shadows: z.array(z.object({ policy: z.string().min(1) }).strict()).default([]),
    exploration: explorationSchema.default({ kind: "greedy" }),
    safety: safetySchema.default({ allowedActions: [] }),
    ood: oodSchema.default({ ranges: true, margin: 0, distance: true }),
    /** Declared defaults for features a request may omit; a missing feature without a default goes to the fallback. */
    defaults: z.record(z.string(), z.number()).default({}),
    fallback: fallbackSchema,
    guard: guardSchema.default({
      enabled: true, alpha: 0.01, minSamples: 200, latency: true, errors: true, interventions: true, reward: true,
      rateEffect: 0.05, rewardEffect: 0.1,
    }),
  })
  .strict();
export type DeploymentSpec = z.infer<typeof deploymentSchema>;
export type DeploymentInput = z.input<typeof deploymentSchema>;

export const routingTableSchema = z
  .object({
    /** Increases on every change; the service polls it for hot reload. */
    revision: z.number().int().min(0),
    killSwitch: z.boolean().default(false),
    deployments: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), deploymentSchema),
  })
  .strict();
export type RoutingTable = z.infer<typeof routingTableSchema>;
