import type { Command } from "commander";
import { Presets, SingleBar } from "cli-progress";
import { loadTransitions } from "../../data/loader.js";
import { readDatasetColumns } from "../../ope/columns.js";
import { OpeError } from "../../ope/errors.js";
import { evaluatePolicy, type BoundMethod, type EstimatorName } from "../../ope/evaluate.js";
import { formatReport } from "../../ope/report.js";
import { resolveTargetPolicy } from "../../ope/targets.js";
import type { Exploration } from "../../policy/runtime.js";
import { recordOpeReport } from "../../pipeline/record-evaluation.js";
import { openRegistryFromEnv } from "../../registry/index.js";

/** Options shared by `ope` and `select`, parsed once here. */
export interface SharedOpeFlags {
  dataset: string;
  store?: string;
  env?: string;
  exploration?: string;
  gamma: string;
  bootstrap?: string;
  refitModel?: string;
  horizon?: string;
  seed: string;
  confidence: string;
  bound: string;
  clip?: string;
  qColumn?: string;
  vColumn?: string;
  estimateBehavior?: boolean;
  returnRange?: string;
  fqeSteps: string;
  json?: boolean;
}

export function numberFlag(name: string, text: string, check: (v: number) => boolean, expected: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || !check(value)) {
    throw new OpeError("invalid_option", `--${name} must be ${expected}, got "${text}"`, { option: name });
  }
  return value;
}

export function sharedOptions(command: Command): Command {
  return command
    .requiredOption("--dataset <NAME@V>", "stored dataset version")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--env <name>", "simulator whose heuristic controller built-in policy specs refer to")
    .option("--exploration <json>", 'exploration of policy artifacts, e.g. \'{"kind":"softmax","temperature":1}\'')
    .option("--gamma <g>", "discount factor in [0, 1]", "0.99")
    .option("--bootstrap <B>", "bootstrap resamples over episodes")
    .option("--refit-model <R>", "with --bootstrap: intervals of model-based estimators from R resamples that each refit FQE (R fits)")
    .option("--horizon <H>", "known maximum episode length, for FQE's finite-horizon value bounds")
    .option("--seed <S>", "seed for resampling, bounds and behaviour cloning", "0")
    .option("--confidence <c>", "one-sided confidence of the lower bound", "0.95")
    .option("--bound <method>", "lower bound: auto | student-t | bootstrap | thomas2015", "auto")
    .option("--clip <w>", "cut importance weights at this level")
    .option("--q-column <name>", "dataset column with Q-hat(s, a_logged) computed outside Hindcast")
    .option("--v-column <name>", "dataset column with V-hat(s) computed outside Hindcast")
    .option("--estimate-behavior", "when the logs carry no propensities, fit a behaviour-cloning model (labelled)")
    .option("--return-range <min,max>", "bounds of one episode's discounted return (for --bound thomas2015)")
    .option("--fqe-steps <n>", "Adam steps of fitted Q evaluation", "3000")
    .option("--json", "print the full report as JSON");
}

export function parseShared(flags: SharedOpeFlags) {
  const bound = flags.bound as BoundMethod;
  if (!["auto", "student-t", "bootstrap", "thomas2015"].includes(bound)) {
    throw new OpeError("invalid_option", `--bound must be auto, student-t, bootstrap or thomas2015, got "${flags.bound}"`, { option: "bound" });
  }
  const seed = numberFlag("seed", flags.seed, Number.isInteger, "an integer");
  let exploration: Exploration | undefined;
  if (flags.exploration) {
    try {
      exploration = JSON.parse(flags.exploration) as Exploration;
    } catch {
      throw new OpeError("invalid_option", "--exploration must be JSON", { option: "exploration" });
    }
  }
  let returnRange: { min: number; max: number } | undefined;
  if (flags.returnRange) {
    const [min, max] = flags.returnRange.split(",").map((part) => numberFlag("return-range", part, () => true, "two numbers min,max"));
    if (!(max > min)) throw new OpeError("invalid_option", "--return-range needs min < max", { option: "return-range" });
    returnRange = { min, max };
  }
  if (flags.refitModel && !flags.bootstrap) throw new OpeError("invalid_option", "--refit-model needs --bootstrap B", { option: "refit-model" });
  const refitModel = flags.refitModel ? numberFlag("refit-model", flags.refitModel, (v) => Number.isInteger(v) && v >= 2, "an integer >= 2") : undefined;
  return {
    gamma: numberFlag("gamma", flags.gamma, (v) => v >= 0 && v <= 1, "in [0, 1]"),
    bootstrap: flags.bootstrap
      ? { resamples: numberFlag("bootstrap", flags.bootstrap, (v) => Number.isInteger(v) && v >= 2, "an integer >= 2"), seed, refitModel }
      : undefined,
    horizon: flags.horizon ? numberFlag("horizon", flags.horizon, (v) => Number.isInteger(v) && v >= 1, "a positive integer") : undefined,
    confidence: numberFlag("confidence", flags.confidence, (v) => v > 0 && v < 1, "in (0, 1)"),
    bound,
    clip: flags.clip ? numberFlag("clip", flags.clip, (v) => v > 0, "positive") : undefined,
    seed,
    exploration,
    returnRange,
    estimateBehavior: Boolean(flags.estimateBehavior),
    fqe: fqeWithProgress(numberFlag("fqe-steps", flags.fqeSteps, (v) => Number.isInteger(v) && v >= 1, "a positive integer"), seed),
  };
}

/** FQE settings with a progress bar on an interactive stderr (one bar per fit). */
function fqeWithProgress(steps: number, seed: number) {
  if (!process.stderr.isTTY) return { steps, seed };
  let bar: SingleBar | null = null;
  return {
    steps,
    seed,
    onProgress(step: number) {
      if (step === 0) {
        bar = new SingleBar({ format: "FQE |{bar}| {value}/{total} steps", stream: process.stderr }, Presets.shades_classic);
        bar.start(steps, 0);
      }
      bar?.update(step + 1);
      if (step === steps - 1) bar?.stop();
    },
  };
}

/** Loads the dataset and any extra columns (target probabilities, Q-hat, V-hat) in one place. */
export async function loadForOpe(flags: SharedOpeFlags, extraColumns: string[]) {
  const transitions = await loadTransitions(flags.store, flags.dataset);
  const columns = [...extraColumns, ...(flags.qColumn ? [flags.qColumn] : []), ...(flags.vColumn ? [flags.vColumn] : [])];
  const values = await readDatasetColumns(flags.store, flags.dataset, [...new Set(columns)]);
  if (Boolean(flags.qColumn) !== Boolean(flags.vColumn)) {
    throw new OpeError("invalid_option", "--q-column and --v-column go together", { option: flags.qColumn ? "v-column" : "q-column" });
  }
  return {
    transitions,
    columns: values,
    qHat: flags.qColumn ? values[flags.qColumn] : undefined,
    vHat: flags.vColumn ? values[flags.vColumn] : undefined,
  };
}

/** `hindcast ope`: estimates, intervals, a lower bound and diagnostics for one target policy. */
export function register(program: Command): void {
  sharedOptions(
    program
      .command("ope")
      .description("Off-policy evaluation of one target policy from logged data")
      .option("--policy <P>", "policy artifact directory, or a built-in policy spec with --env")
      .option("--target-prob-column <C>", "dataset column with the target policy's probability (log-density) of each logged action")
      .option("--estimators <list>", "comma-separated: is,pdis,wis,wpdis,dr,wdr,dm,fqe,ips,snips,dm-bandit,dr-bandit,sndr,switch-dr", "is,pdis,wis,wpdis")
      .option("--record <policy>", "store the estimates and the behaviour baseline in the registry for this policy (name@version), where promotion gates read them")
      .option("--split <name>", "with --record: which split the dataset version is, as the gates name it", "heldout")
      .option("--registry <url>", "with --record: registry URL (default $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
      .option("--token <token>", "with --record: registry API token (default $HINDCAST_TOKEN)"),
  ).action(async (flags: SharedOpeFlags & { policy?: string; targetProbColumn?: string; estimators: string; record?: string; split: string; registry?: string; token?: string }) => {
    if (Boolean(flags.policy) === Boolean(flags.targetProbColumn)) {
      throw new OpeError("invalid_option", "give exactly one of --policy and --target-prob-column", { option: "policy" });
    }
    const shared = parseShared(flags);
    // With --record, an unknown policy or an unreachable registry fails before the estimation work, not after it.
    const registry = flags.record ? await openRegistryFromEnv({ registry: flags.registry, token: flags.token }) : null;
    if (registry && flags.record) {
      try {
        await registry.getPolicy(flags.record);
      } catch (error) {
        await registry.close();
        throw error;
      }
    }
    const { transitions, columns, qHat, vHat } = await loadForOpe(flags, flags.targetProbColumn ? [flags.targetProbColumn] : []);
    const policy = flags.policy
      ? await resolveTargetPolicy(flags.policy, {
          actionSpace: transitions.actionSpace,
          observationDim: transitions.observationDim,
          env: flags.env,
          exploration: shared.exploration,
          seed: shared.seed,
        })
      : undefined;
    try {
      const report = await evaluatePolicy({
        ...shared,
        transitions,
        policyName: flags.policy ?? `column ${flags.targetProbColumn}`,
        policy,
        targetProb: flags.targetProbColumn ? columns[flags.targetProbColumn] : undefined,
        estimators: flags.estimators.split(",").map((name) => name.trim()).filter(Boolean) as EstimatorName[],
        qHat,
        vHat,
      });
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : formatReport(report));
      if (registry && flags.record) {
        const records = await recordOpeReport(registry, report, { policy: flags.record, dataset: transitions.manifest, split: flags.split });
        process.stderr.write(`recorded ${records.length - 1} estimate(s) for ${flags.record} and the behaviour baseline on ${transitions.manifest.name}@${transitions.manifest.version} (split "${flags.split}")\n`);
      }
    } finally {
      await policy?.close();
      await registry?.close();
    }
  });
}
