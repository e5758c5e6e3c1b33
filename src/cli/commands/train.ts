import type { Command } from "commander";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { createAlgorithm, algorithmNames } from "../../algos/registry.js";
import { readConfigFile } from "../../algos/config.js";
import { AlgoError } from "../../algos/errors.js";
import type { Evaluator } from "../../algos/trainer.js";
import { loadTransitions } from "../../data/loader.js";
import type { Transitions } from "../../data/transitions.js";
import { ENV_NAMES, makeEnv } from "../../envs/registry.js";
import { rollout } from "../../envs/rollout.js";
import { evaluatePolicy } from "../../ope/evaluate.js";
import type { EstimatorName } from "../../ope/evaluate.js";
import { codeVersion } from "../version.js";
import { registerArtifact, trackRun, type RunTracker } from "../../pipeline/track-run.js";
import { openRegistryFromEnv } from "../../registry/index.js";

interface TrainOptions {
  algo: string;
  dataset: string;
  steps: number;
  seed: number;
  config?: string;
  set: string[];
  evalEnv?: string;
  evalEpisodes: number;
  evalOpe: string;
  evalFqeSteps: number;
  evalNoiseStd: number;
  eval: boolean;
  evalEvery?: number;
  checkpointEvery?: number;
  logEvery: number;
  out?: string;
  resume?: boolean;
  store?: string;
  threads: number;
  spinWait: boolean;
  progress: boolean;
  json?: boolean;
  track: boolean;
  register?: string;
  registry?: string;
  token?: string;
}

/**
 * `hindcast train --algo NAME --dataset NAME@V --steps N --seed S [...]`: trains, checkpoints and writes a policy
 * artifact to OUT/policy (the last weights) and OUT/checkpoints/best/policy (the best evaluation).
 */
export function register(program: Command): void {
  program
    .command("train")
    .description("Train an offline RL policy on a stored dataset version")
    .requiredOption("--algo <name>", `algorithm: ${algorithmNames().join(", ")}`)
    .requiredOption("--dataset <ref>", "dataset version, NAME@V or NAME@latest")
    .requiredOption("--steps <n>", "gradient steps", positiveInteger("steps"))
    .requiredOption("--seed <n>", "random seed", nonNegativeInteger("seed"))
    .option("--config <file>", "YAML or JSON file of hyperparameters")
    .option("--set <key=value>", "override one hyperparameter (repeatable), e.g. --set alpha=2.5", collect, [])
    .option("--eval-env <env>", `evaluate online in a simulator: ${ENV_NAMES.join(", ")}`)
    .option("--eval-episodes <n>", "episodes per online evaluation", positiveInteger("eval-episodes"), 10)
    .option("--eval-ope <estimator>", "offline evaluation estimator when no simulator is named (src/ope; continuous policies are evaluated with Gaussian exploration)", "dm")
    .option("--eval-noise-std <x>", "exploration std (in the [-1, 1] action box) that gives a deterministic continuous policy a density for importance-sampling estimators", positiveNumber("eval-noise-std"), 0.1)
    .option("--eval-fqe-steps <n>", "FQE steps per offline evaluation", positiveInteger("eval-fqe-steps"), 1000)
    .option("--no-eval", "skip periodic evaluation")
    .option("--eval-every <n>", "evaluation period in steps (default: the checkpoint period)", positiveInteger("eval-every"))
    .option("--checkpoint-every <n>", "checkpoint period in steps (default: steps/10)", positiveInteger("checkpoint-every"))
    .option("--log-every <n>", "metrics line period in steps", positiveInteger("log-every"), 100)
    .option("--out <dir>", "run directory (default: runs/<algo>-<dataset>-v<version>-s<seed>)")
    .option("--resume", "continue the run in --out from its last checkpoint")
    .option("--store <dir>", "dataset store directory")
    .option("--threads <n>", "ONNX Runtime intra-op threads (default: up to 2, i.e. both cores of this machine)", positiveInteger("threads"), Math.min(2, availableParallelism()))
    .option("--no-spin-wait", "idle ONNX Runtime threads sleep instead of spinning between parallel sections (spinning, the default with --threads 2, is faster on otherwise idle cores and slower when other work shares them)")
    .option("--no-progress", "no progress bar")
    .option("--json", "print the summary as JSON")
    .option("--no-track", "do not record the run (config, seed, dataset version, metrics, artifacts) in the registry")
    .option("--register <name>", "register the trained policy as a new version of NAME, linked to its run")
    .option("--registry <url>", "registry URL: sqlite:PATH or postgres://... (default $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
    .option("--token <token>", "API token for a shared registry (default $HINDCAST_TOKEN)")
    .action(async (options: TrainOptions) => {
      const base = options.config ? await readConfigFile(options.config) : {};
      const algorithm = createAlgorithm(options.algo, { base, assignments: options.set, source: options.config ?? "--set" });
      const transitions = await loadTransitions(options.store, options.dataset);
      const dataset = { name: transitions.manifest.name, version: transitions.manifest.version, hash: transitions.manifest.contentHash };
      const out = options.out ?? join("runs", `${algorithm.name}-${dataset.name}-v${dataset.version}-s${options.seed}`);
      const evaluate = options.eval ? buildEvaluator(options, transitions, algorithm.config.gamma) : undefined;
      if (options.register && !options.track) throw new AlgoError("config_invalid", "--register needs the run tracked in the registry (drop --no-track)", { option: "register" });
      const registry = options.track ? await openRegistryFromEnv({ registry: options.registry, token: options.token }) : null;
      const policyDir = join(out, "policy");
      const fitAndSave = async (tracker: RunTracker | null) => {
        const fitted = await algorithm.fit(transitions, {
        steps: options.steps,
        seed: options.seed,
        outDir: out,
        resume: options.resume,
        checkpointEvery: options.checkpointEvery,
        evaluateEvery: options.evalEvery,
        logEvery: options.logEvery,
        evaluate,
        progressBar: options.progress && process.stderr.isTTY,
        dataset,
        codeVersion: codeVersion(),
        threads: options.threads,
        spinWait: options.spinWait && options.threads > 1,
        onProgress: tracker ? (event) => tracker.log(event.step, { ...event.losses, ...event.evaluation }) : undefined,
      });
        const saved = await algorithm.save(policyDir);
        await algorithm.releasePolicy();
        return { fitted, saved };
      };
      let runId: number | null = null;
      let policyRef: string | null = null;
      let outcome: Awaited<ReturnType<typeof fitAndSave>>;
      if (registry) {
        try {
          const tracked = await trackRun(
            registry,
            { algorithm: algorithm.name, config: algorithm.config as unknown as Record<string, unknown>, seed: options.seed, dataset: transitions.manifest, codeVersion: codeVersion(), artifacts: { run: resolve(out), policy: resolve(policyDir) } },
            fitAndSave,
          );
          outcome = tracked.result;
          runId = tracked.run.id;
          if (options.register) {
            const record = await registerArtifact(registry, options.register, resolve(policyDir), outcome.saved, runId);
            policyRef = `${record.name}@${record.version}`;
          }
        } finally {
          await registry.close();
        }
      } else {
        outcome = await fitAndSave(null);
      }
      const { fitted: result, saved: manifest } = outcome;
      const summary = {
        run: out,
        runId,
        policy: policyDir,
        registered: policyRef,
        bestPolicy: result.best ? join(out, "checkpoints", "best", "policy") : null,
        algorithm: algorithm.name,
        dataset: `${dataset.name}@${dataset.version}`,
        steps: result.steps,
        resumedFrom: result.startStep > 0 ? result.startStep : null,
        best: result.best ?? null,
        metrics: manifest.metrics,
      };
      if (options.json) {
        process.stdout.write(JSON.stringify(summary) + "\n");
        return;
      }
      const losses = Object.entries(summary.metrics)
        .map(([k, v]) => `${k}=${Number(v.toPrecision(4))}`)
        .join(" ");
      process.stdout.write(
        `trained ${summary.algorithm} on ${summary.dataset} for ${summary.steps} steps${summary.resumedFrom ? ` (resumed at ${summary.resumedFrom})` : ""}\n` +
          `  run:    ${summary.run}${runId !== null ? ` (registry run ${runId})` : ""}\n  policy: ${summary.policy}${policyRef ? ` (registered as ${policyRef})` : ""}\n` +
          (summary.best ? `  best:   ${summary.bestPolicy} (step ${summary.best.step}, score ${Number(summary.best.score.toPrecision(5))})\n` : "") +
          `  final:  ${losses}\n`,
      );
    });
}

/** Online rollouts when a simulator is named; otherwise an off-policy estimate from src/ope on the training data. */
function buildEvaluator(options: TrainOptions, transitions: Transitions, gamma: number): Evaluator {
  if (options.evalEnv) {
    const envName = options.evalEnv;
    makeEnv(envName); // fail fast on an unknown env name
    return {
      kind: "online",
      name: `rollout:${envName}`,
      async evaluate(policy) {
        const result = await rollout(makeEnv(envName), policy, { episodes: options.evalEpisodes, seed: options.seed });
        return { score: result.meanReturn, return_mean: result.meanReturn, return_ci_low: result.ci95[0], return_ci_high: result.ci95[1], length_mean: result.meanLength };
      },
    };
  }
  const estimator = options.evalOpe as EstimatorName;
  return {
    kind: "offline",
    name: `ope:${estimator}`,
    // Estimators need the target policy's density of logged actions: a deterministic continuous policy is
    // evaluated with Gaussian exploration noise (--eval-noise-std of the half-range; Gaussian policies use their own).
    exploration: transitions.actionSpace.kind === "continuous" ? { kind: "gaussian", std: options.evalNoiseStd } : undefined,
    async evaluate(policy) {
      const report = await evaluatePolicy({
        transitions,
        policy,
        estimators: [estimator],
        gamma,
        estimateBehavior: true,
        fqe: { steps: options.evalFqeSteps, seed: options.seed },
        seed: options.seed,
      });
      const estimate = report.estimates[0];
      return { score: estimate.value, estimate: estimate.value, lower_bound: estimate.lowerBound.value };
    },
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInteger(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new AlgoError("config_invalid", `--${name} must be a positive integer, got "${value}"`, { field: name, value });
    return n;
  };
}

function positiveNumber(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new AlgoError("config_invalid", `--${name} must be a positive number, got "${value}"`, { field: name, value });
    return n;
  };
}

function nonNegativeInteger(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new AlgoError("config_invalid", `--${name} must be a non-negative integer, got "${value}"`, { field: name, value });
    return n;
  };
}
