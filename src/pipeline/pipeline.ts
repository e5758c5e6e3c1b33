/**
 * `hindcast pipeline run PIPELINE.yaml`: a declarative retraining loop. A pipeline file names where the logs come
 * from, how strictly they are validated, how they are split, which algorithms (with hyperparameter sweeps and seeds)
 * to train, the off-policy gate, and where a passing policy goes in the registry.
 *
 * Steps: source -> ingest -> split -> train:<candidate>... -> ope:<candidate>... -> select -> register.
 * Each step's input hash covers everything its result depends on (content hashes of its inputs, its settings), and
 * its status and outputs live in the registry (`recordStep`). A rerun with the same inputs reuses every finished step
 * (`findStep`); a step that was running when the process died runs again, and a training step picks up its run
 * directory's last checkpoint (the run directory is named by the step's input hash), and an ingest or split that
 * died after writing its dataset versions takes them up instead of writing duplicates. Code changes do not enter the
 * hashes: after upgrading Hindcast, rerun with `--rerun` to recompute.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { splitDataset } from "../data/curate.js";
import { ingest, type IngestReport } from "../data/ingest.js";
import { loadTransitions } from "../data/loader.js";
import { listVersions, readManifest, resolveStoreDir, resolveVersion, versionDir, type DatasetManifest } from "../data/store.js";
import { ENV_NAMES, makeEnv } from "../envs/registry.js";
import { openRegistry, resolveRegistryUrl } from "../registry/open.js";
import type { Registry, StepRecord } from "../registry/types.js";
import { decisionLogSegments } from "../serve/decision-log.js";
import { exportDecisionLog } from "../serve/log-dataset.js";
import { PipelineError } from "./errors.js";
import { contentHash, evaluateOffline, registerDataset, registerTrained, simulateLogs, trainPolicy } from "./steps.js";

const explorationSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("greedy") }).strict(),
  z.object({ kind: z.literal("epsilon"), epsilon: z.number().min(0).max(1) }).strict(),
  z.object({ kind: z.literal("softmax"), temperature: z.number().positive() }).strict(),
]);

function isEnvName(name: string): boolean {
  try {
    makeEnv(name);
    return true;
  } catch {
    return false;
  }
}

const sourceSchema = z.union([
  z
    .object({
      simulate: z
        .object({
          env: z.string().refine(isEnvName, { message: `unknown env; known: ${ENV_NAMES.join(", ")}` }),
          behavior: z.string().min(1),
          episodes: z.number().int().min(1),
          seed: z.number().int().min(0),
          /** Rows broken on purpose (validation drill); their episodes land in quarantine. */
          corruptRows: z.number().int().min(0).default(0),
        })
        .strict(),
    })
    .strict(),
  z.object({ files: z.array(z.string().min(1)).min(1), schema: z.string().min(1), /** CSV field separator (default ","). */ delimiter: z.string().optional() }).strict(),
  z.object({ decisionLog: z.object({ dir: z.string().min(1), deployment: z.string().min(1).optional(), actions: z.number().int().min(1).optional() }).strict() }).strict(),
]);

export const pipelineSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "letters, digits, '.', '_' and '-'"),
    /** Dataset store, registry and working directory (runs, generated files); relative to the pipeline file. */
    store: z.string().optional(),
    registry: z.string().optional(),
    workDir: z.string().optional(),
    source: sourceSchema,
    dataset: z.string().min(1),
    validation: z
      .object({
        strict: z.boolean().default(false),
        /** Fail the ingest step when more than this share of rows is quarantined. */
        maxQuarantineFraction: z.number().min(0).max(1).default(0.05),
      })
      .strict()
      .prefault({}),
    split: z
      .object({ fractions: z.array(z.number().positive()).min(2).default([0.8, 0.2]), seed: z.number().int().default(0) })
      .strict()
      .prefault({}),
    algorithms: z
      .array(
        z
          .object({
            name: z.string().min(1),
            steps: z.number().int().min(1),
            seeds: z.array(z.number().int().min(0)).min(1).default([0]),
            config: z.record(z.string(), z.unknown()).default({}),
            /** Every combination of these values is trained (a grid over the algorithm's config keys). */
            sweep: z.record(z.string(), z.array(z.unknown()).min(1)).default({}),
          })
          .strict(),
      )
      .min(1),
    ope: z
      .object({
        estimator: z.enum(["wdr", "fqe"]).default("wdr"),
        gamma: z.number().min(0).max(1).default(0.99),
        bootstrap: z.number().int().min(10).default(200),
        fqeSteps: z.number().int().min(1).default(2000),
        /** How the policy will act when served (the estimate is of that policy). */
        exploration: explorationSchema.default({ kind: "epsilon", epsilon: 0.1 }),
        seed: z.number().int().default(0),
        /** A candidate passes when its lower bound reaches the behaviour policy's logged value + margin. */
        margin: z.number().default(0),
      })
      .strict()
      .prefault({}),
    promote: z
      .object({
        policy: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
        deployment: z.string().default("default"),
        /** "registered" only registers; "shadow" also asks the registry to promote (its gates apply). */
        to: z.enum(["registered", "shadow"]).default("registered"),
      })
      .strict(),
  })
  .strict();

export type PipelineConfig = z.output<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;

export function parsePipeline(value: unknown, source = "pipeline"): PipelineConfig {
  const parsed = pipelineSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ code: issue.code, path: issue.path.join("."), message: issue.message }));
    const first = issues[0]!;
    throw new PipelineError("invalid_pipeline", `${source}: ${first.path || "(root)"}: ${first.message}`, { file: source, field: first.path, issues });
  }
  return parsed.data;
}

export function loadPipeline(path: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new PipelineError("pipeline_file_unreadable", `cannot read ${path}: ${(error as Error).message}`, { file: path });
  }
  let value: unknown;
  try {
    value = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new PipelineError("invalid_pipeline", `${path}: ${(error as Error).message}`, { file: path });
  }
  return parsePipeline(value, path);
}

export type StepOutcome = "ran" | "reused" | "skipped";

export interface PipelineStepResult {
  name: string;
  inputHash: string;
  outcome: StepOutcome;
  outputs: Record<string, unknown>;
  seconds: number;
}

export type PipelineEvent =
  | { kind: "step"; name: string; status: "start" | "reused" | "succeeded" | "failed" | "skipped"; seconds?: number; summary?: string }
  | { kind: "progress"; name: string; done: number; total: number };

export interface RunPipelineOptions {
  /** Base for relative paths in the file (default: the current directory). */
  baseDir?: string;
  store?: string;
  registry?: string;
  codeVersion?: string;
  /** Ignore finished steps and run everything again (their records are overwritten with the new results). */
  rerun?: boolean;
  onEvent?: (event: PipelineEvent) => void;
}

export interface PipelineResult {
  pipeline: string;
  steps: PipelineStepResult[];
  chosen: string | null;
  policy: string | null;
  stage: string | null;
  /** The registry's refusal message when `promote.to` was not reached. */
  refused: string | null;
}

interface Candidate {
  label: string;
  algorithm: string;
  config: Record<string, unknown>;
  steps: number;
  seed: number;
}

/** The training grid: every algorithm x every sweep combination x every seed, with stable labels. */
export function expandCandidates(config: PipelineConfig): Candidate[] {
  const out: Candidate[] = [];
  for (const algorithm of config.algorithms) {
    let grid: Array<Record<string, unknown>> = [{}];
    for (const [key, values] of Object.entries(algorithm.sweep)) grid = grid.flatMap((point) => values.map((value) => ({ ...point, [key]: value })));
    for (const point of grid) {
      for (const seed of algorithm.seeds) {
        const suffix = Object.entries(point)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(",");
        out.push({
          label: `${algorithm.name}${suffix ? `[${suffix}]` : ""}:s${seed}`,
          algorithm: algorithm.name,
          config: { ...algorithm.config, ...point },
          steps: algorithm.steps,
          seed,
        });
      }
    }
  }
  return out;
}

export async function runPipeline(config: PipelineConfig, options: RunPipelineOptions = {}): Promise<PipelineResult> {
  const base = options.baseDir ?? process.cwd();
  const at = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const store = resolveStoreDir(options.store ?? (config.store ? at(config.store) : undefined));
  const registryUrl = options.registry ?? (config.registry ? (config.registry.startsWith("sqlite:") && !isAbsolute(config.registry.slice(7)) ? `sqlite:${at(config.registry.slice(7))}` : config.registry) : resolveRegistryUrl());
  const workDir = at(config.workDir ?? join(".hindcast", "pipelines", config.name));
  const emit = options.onEvent ?? (() => undefined);
  const codeVersion = options.codeVersion ?? "unknown";
  await mkdir(workDir, { recursive: true });
  const registry = await openRegistry(registryUrl);
  const results: PipelineStepResult[] = [];

  /** Reuses a finished step with the same inputs (when `stillValid` agrees), else runs it and records the result. */
  const step = async <T extends Record<string, unknown>>(
    name: string,
    inputs: unknown,
    /** `interrupted`: this step's record when an earlier attempt died while running it (its outputs may exist). */
    run: (interrupted: StepRecord | null) => Promise<T>,
    stillValid: (outputs: T) => boolean = () => true,
  ): Promise<T> => {
    const inputHash = contentHash(inputs);
    const started = performance.now();
    const previous: StepRecord | null = options.rerun ? null : await registry.findStep(config.name, name, inputHash);
    if (previous && (previous.status === "succeeded" || previous.status === "skipped") && stillValid(previous.outputs as T)) {
      emit({ kind: "step", name, status: "reused", summary: summarize(previous.outputs) });
      results.push({ name, inputHash, outcome: "reused", outputs: previous.outputs, seconds: 0 });
      return previous.outputs as T;
    }
    emit({ kind: "step", name, status: "start" });
    await registry.recordStep({ pipeline: config.name, name, inputHash, status: "running" });
    let outputs: T;
    try {
      outputs = await run(previous?.status === "running" ? previous : null);
    } catch (error) {
      await registry
        .recordStep({ pipeline: config.name, name, inputHash, status: "failed", error: `${(error as { code?: string }).code ?? "error"}: ${(error as Error).message}` })
        .catch(() => undefined);
      emit({ kind: "step", name, status: "failed", summary: (error as Error).message });
      throw error;
    }
    const skipped = outputs["skipped"] === true;
    await registry.recordStep({ pipeline: config.name, name, inputHash, status: skipped ? "skipped" : "succeeded", outputs });
    const seconds = (performance.now() - started) / 1000;
    emit({ kind: "step", name, status: skipped ? "skipped" : "succeeded", seconds, summary: summarize(outputs) });
    results.push({ name, inputHash, outcome: skipped ? "skipped" : "ran", outputs, seconds });
    return outputs;
  };
  /** Versions of a dataset created at or after `since` (ISO time), oldest first. */
  const versionsSince = (name: string, since: string): DatasetManifest[] =>
    (existsSync(join(store, name)) ? listVersions(store, name) : [])
      .map((version) => readManifest(store, { name, version }))
      .filter((m) => Date.parse(m.createdAt) >= Date.parse(since) - 1000);
  const versionExists = (ref: unknown): boolean => {
    try {
      resolveVersion(store, String(ref));
      return true;
    } catch {
      return false;
    }
  };

  try {
    // source: the log files to ingest, identified by their content.
    const source = config.source;
    let sourceInputs: unknown;
    if ("simulate" in source) sourceInputs = { simulate: source.simulate };
    else if ("files" in source) sourceInputs = { files: source.files.map((f) => ({ path: at(f), sha256: sha256File(at(f)) })), schema: sha256File(at(source.schema)), delimiter: source.delimiter };
    else sourceInputs = { decisionLog: source.decisionLog, segments: decisionLogDigest(at(source.decisionLog.dir)) };
    const logs = await step(
      "source",
      sourceInputs,
      async () => {
        if ("simulate" in source) {
          const out = join(workDir, "incoming", `${contentHash(sourceInputs).slice(7, 23)}.parquet`);
          const simulated = await simulateLogs({ ...source.simulate, out, onEpisode: (e) => emit({ kind: "progress", name: "source", done: e + 1, total: source.simulate.episodes }) });
          return { files: [simulated.dataPath], schema: simulated.schemaPath, rows: simulated.rows, corrupted: simulated.corrupted.length };
        }
        if ("files" in source) return { files: source.files.map(at), schema: at(source.schema) };
        const exported = exportDecisionLog({
          logDir: at(source.decisionLog.dir),
          outDir: join(workDir, "incoming", `decisions-${contentHash(sourceInputs).slice(7, 23)}`),
          deployment: source.decisionLog.deployment,
          actionSpace: source.decisionLog.actions ? { kind: "discrete", n: source.decisionLog.actions } : undefined,
        });
        return { files: [exported.dataFile], schema: exported.schemaFile, rows: exported.rows, withoutFeedback: exported.withoutFeedback };
      },
      (outputs) => (outputs.files as string[]).every((f) => existsSync(f)),
    );
    const files = logs.files as string[];
    const schemaFile = logs.schema as string;
    const delimiter = "files" in source ? source.delimiter : undefined;

    // ingest: validate, quarantine, store a dataset version.
    const ingested = await step(
      "ingest",
      { files: files.map(sha256File), schema: sha256File(schemaFile), dataset: config.dataset, validation: config.validation, ...(delimiter ? { delimiter } : {}) },
      async (interrupted) => {
        const sourceHashes = files.map(sha256File);
        // A crash between writing the version and recording the step leaves a finished version: take it up again.
        const recovered = interrupted
          ? versionsSince(config.dataset, interrupted.startedAt).find(
              (m) =>
                m.transform.kind === "ingest" &&
                m.transform.params["strict"] === config.validation.strict &&
                JSON.stringify(m.sources.map((source) => source.sha256)) === JSON.stringify(sourceHashes),
            )
          : undefined;
        const { manifest, report } = recovered
          ? { manifest: recovered, report: JSON.parse(readFileSync(join(versionDir(store, recovered), recovered.files.report), "utf8")) as IngestReport }
          : await ingest({ files, schema: schemaFile, dataset: config.dataset, store, strict: config.validation.strict, delimiter });
        await registerDataset(registry, manifest);
        const fraction = report.read > 0 ? report.quarantined / report.read : 0;
        const outputs = {
          dataset: `${manifest.name}@${manifest.version}`,
          contentHash: manifest.contentHash,
          read: report.read,
          accepted: report.accepted,
          quarantined: report.quarantined,
          reconciled: report.reconciled,
          issueCounts: report.issueCounts,
          ...(recovered ? { recovered: true } : {}),
        };
        if (fraction > config.validation.maxQuarantineFraction) {
          throw new PipelineError(
            "step_failed",
            `${(fraction * 100).toFixed(1)}% of rows were quarantined, more than validation.maxQuarantineFraction ${(config.validation.maxQuarantineFraction * 100).toFixed(1)}%; ` +
              `${manifest.name}@${manifest.version} is stored with its quarantine file for inspection, nothing downstream runs`,
            { step: "ingest", ...outputs },
          );
        }
        return outputs;
      },
      (outputs) => versionExists(outputs.dataset),
    );

    // split by episode into train / test (further parts are kept but unused).
    const names = config.split.fractions.map((_, i, all) => (i === 0 ? `${config.dataset}-train` : i === all.length - 1 ? `${config.dataset}-test` : `${config.dataset}-part${i}`));
    const split = await step(
      "split",
      { parent: ingested.contentHash, fractions: config.split.fractions, seed: config.split.seed, names },
      async (interrupted) => {
        // As for ingest: children an interrupted attempt finished writing (all parts) are taken up again.
        const recovered = interrupted
          ? names.map((name, part) =>
              versionsSince(name, interrupted.startedAt).find(
                (m) =>
                  m.transform.kind === "split" &&
                  m.parents[0]?.contentHash === ingested.contentHash &&
                  m.transform.params["part"] === part &&
                  m.transform.params["seed"] === config.split.seed &&
                  JSON.stringify(m.transform.params["fractions"]) === JSON.stringify(config.split.fractions),
              ),
            )
          : [];
        const children =
          recovered.length > 0 && recovered.every((m) => m !== undefined)
            ? (recovered as DatasetManifest[])
            : await splitDataset({ store, ref: String(ingested.dataset), fractions: config.split.fractions, seed: config.split.seed, names });
        for (const child of children) await registerDataset(registry, child);
        return {
          train: `${children[0]!.name}@${children[0]!.version}`,
          trainHash: children[0]!.contentHash,
          test: `${children.at(-1)!.name}@${children.at(-1)!.version}`,
          testHash: children.at(-1)!.contentHash,
        };
      },
      (outputs) => versionExists(outputs.train) && versionExists(outputs.test),
    );

    // train every candidate; the run directory is named by the step's inputs, so a crash resumes from its checkpoint.
    const candidates = expandCandidates(config);
    const trained: Array<{ candidate: Candidate; outputs: Record<string, unknown> }> = [];
    for (const candidate of candidates) {
      const inputs = { train: split.trainHash, algorithm: candidate.algorithm, config: candidate.config, steps: candidate.steps, seed: candidate.seed };
      const runDir = join(workDir, "runs", `${candidate.algorithm}-s${candidate.seed}-${contentHash(inputs).slice(7, 19)}`);
      const outputs = await step(
        `train:${candidate.label}`,
        inputs,
        async () => {
          const result = await trainPolicy(
            { algorithm: candidate.algorithm, config: candidate.config, steps: candidate.steps, seed: candidate.seed },
            { store, dataset: String(split.train), outDir: runDir, registry, codeVersion, onProgress: (done, total) => emit({ kind: "progress", name: `train:${candidate.label}`, done, total }) },
          );
          return { runId: result.runId, artifactDir: result.artifactDir, sha256: result.manifest.onnx.sha256, resumedFrom: result.resumedFrom, reusedArtifact: result.reused };
        },
        (outputs) => existsSync(join(String(outputs.artifactDir), "manifest.json")),
      );
      trained.push({ candidate, outputs });
    }

    // ope: every candidate on the held-out split, acting as it will be served.
    const test = await loadTransitions(store, String(split.test));
    const evaluated: Array<{ label: string; trained: Record<string, unknown>; ope: Record<string, unknown> }> = [];
    for (const { candidate, outputs } of trained) {
      const ope = await step(`ope:${candidate.label}`, { test: split.testHash, policy: outputs.sha256, ope: config.ope }, async () => {
        const evaluation = await evaluateOffline({
          transitions: test,
          artifactDir: String(outputs.artifactDir),
          exploration: config.ope.exploration,
          gamma: config.ope.gamma,
          resamples: config.ope.bootstrap,
          fqeSteps: config.ope.fqeSteps,
          seed: config.ope.seed,
          name: candidate.label,
        });
        const pick = (e: typeof evaluation.wdr) => ({ value: e.value, lower: e.interval?.lower ?? null, upper: e.interval?.upper ?? null, lowerBound: e.lowerBound.value, confidence: e.lowerBound.confidence });
        return {
          wdr: pick(evaluation.wdr),
          fqe: pick(evaluation.fqe),
          baseline: { value: evaluation.baseline.value, lower: evaluation.baseline.interval?.lower ?? null, upper: evaluation.baseline.interval?.upper ?? null },
          essFraction: evaluation.wdr.diagnostics.essFraction,
        };
      });
      evaluated.push({ label: candidate.label, trained: outputs, ope });
    }

    // select: the best lower bound among candidates that reach the behaviour policy's value + margin.
    const estimator = config.ope.estimator;
    const selection = await step("select", { evaluations: evaluated.map((e) => ({ label: e.label, ope: e.ope })), estimator, margin: config.ope.margin }, async () => {
      const baseline = (evaluated[0]!.ope.baseline as { value: number }).value;
      const ranking = evaluated
        .map((e) => ({ label: e.label, lowerBound: (e.ope[estimator] as { lowerBound: number }).lowerBound, value: (e.ope[estimator] as { value: number }).value }))
        .sort((a, b) => b.lowerBound - a.lowerBound);
      const chosen = ranking.find((r) => r.lowerBound >= baseline + config.ope.margin) ?? null;
      return { chosen: chosen?.label ?? null, baseline, ranking };
    });

    // register: the chosen policy with its run, evaluations and the baseline; optionally ask for shadow.
    const chosen = evaluated.find((e) => e.label === selection.chosen) ?? null;
    const registered = await step("register", { chosen: chosen ? chosen.trained.sha256 : null, promote: config.promote, test: split.testHash }, async () => {
      if (!chosen) return { skipped: true, reason: `no candidate's ${estimator} lower bound reaches the behaviour policy's value ${selection.baseline}` };
      const record = await registerTrained(registry, config.promote.policy, {
        runId: Number(chosen.trained.runId),
        artifactDir: String(chosen.trained.artifactDir),
        manifest: JSON.parse(readFileSync(join(String(chosen.trained.artifactDir), "manifest.json"), "utf8")),
        seconds: 0,
        reused: true,
        resumedFrom: null,
      });
      const label = `${record.name}@${record.version}`;
      const [testName, testVersion] = String(split.test).split("@");
      const dataset = { name: testName!, version: Number(testVersion) };
      const baseline = chosen.ope.baseline as { value: number; lower: number | null; upper: number | null };
      await registry.recordEvaluation({ policy: null, estimator: "logged-mean", value: baseline.value, lower: baseline.lower ?? baseline.value, upper: baseline.upper ?? baseline.value, split: "heldout", dataset });
      for (const name of ["wdr", "fqe"] as const) {
        const e = chosen.ope[name] as { value: number; upper: number | null; lowerBound: number; confidence: number };
        await registry.recordEvaluation({ policy: label, estimator: name, value: e.value, lower: e.lowerBound, upper: e.upper ?? e.value, confidence: e.confidence, split: "heldout", dataset, diagnostics: { pipeline: config.name, candidate: chosen.label } });
      }
      let stage = record.stage as string;
      let refused: string | null = null;
      if (config.promote.to === "shadow" && stage === "registered") {
        try {
          stage = (await registry.promote(label, "shadow", { deployment: config.promote.deployment, reason: `pipeline ${config.name}: ${chosen.label} passed the OPE gate` })).stage;
        } catch (error) {
          // The registry's own gates have the last word; a refusal is a result of this step, not a failure.
          if ((error as { code?: unknown }).code !== "promotion_refused") throw error;
          refused = (error as Error).message;
        }
      }
      return { policy: label, candidate: chosen.label, stage, refused };
    });
    return {
      pipeline: config.name,
      steps: results,
      chosen: (selection.chosen as string | null) ?? null,
      policy: (registered.policy as string | undefined) ?? null,
      stage: (registered.stage as string | undefined) ?? null,
      refused: (registered.refused as string | null | undefined) ?? null,
    };
  } finally {
    await registry.close();
  }
}

function sha256File(path: string): string {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch (error) {
    throw new PipelineError("pipeline_file_unreadable", `cannot read ${path}: ${(error as Error).message}`, { file: path });
  }
}

/** Identifies a decision log's content: the sha256 over its segments' names and bytes, in order. */
function decisionLogDigest(dir: string): string {
  if (!existsSync(dir)) throw new PipelineError("pipeline_file_unreadable", `no decision log at ${dir}`, { file: dir });
  const hash = createHash("sha256");
  for (const segment of decisionLogSegments(dir)) {
    hash.update(basename(segment));
    hash.update(readFileSync(segment));
  }
  return hash.digest("hex");
}

function summarize(outputs: Record<string, unknown>): string {
  return Object.entries(outputs)
    .filter(([, v]) => (typeof v !== "object" || v === null) && String(v).length <= 48)
    .slice(0, 5)
    .map(([k, v]) => `${k}=${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v)}`)
    .join(" ");
}
