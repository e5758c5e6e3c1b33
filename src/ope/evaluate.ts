import type { Transitions } from "../data/transitions.js";
import { banditDM, banditDR, ips, sndr, snips, switchDR, type BanditInput } from "./bandit.js";
import { estimateBehaviorPolicy } from "./behavior.js";
import { fitFqe, type FqeOptions, type FqeResult } from "./fqe.js";
import { OpeError } from "./errors.js";
import type { PointEstimate } from "./estimate.js";
import {
  bootstrap,
  bootstrapLowerBound,
  studentTLowerBound,
  thomasLowerBound,
  type BootstrapResult,
  type LowerBound,
} from "./intervals.js";
import {
  directMethod,
  doublyRobust,
  perDecisionIS,
  trajectoryIS,
  weightedDoublyRobust,
  weightedIS,
  weightedPerDecisionIS,
  type SequentialInput,
} from "./sequential.js";
import { importanceRatios } from "./weights.js";
import { refitBootstrap } from "./refit.js";

/**
 * One call from logs to a trustworthy number: propensities (logged or estimated), target probabilities (a column or
 * a policy), the asked estimators, bootstrap intervals, a lower bound usable as a deployment gate, and diagnostics.
 */
export const SEQUENTIAL_ESTIMATORS = ["is", "pdis", "wis", "wpdis", "dr", "wdr", "dm", "fqe"] as const;
export const BANDIT_ESTIMATORS = ["ips", "snips", "dm-bandit", "dr-bandit", "sndr", "switch-dr"] as const;
export type EstimatorName = (typeof SEQUENTIAL_ESTIMATORS)[number] | (typeof BANDIT_ESTIMATORS)[number];
const NEEDS_MODEL = new Set<EstimatorName>(["dr", "wdr", "dm", "dm-bandit", "dr-bandit", "sndr", "switch-dr"]);

/**
 * What OPE needs from a target policy; `Policy` from src/policy satisfies it. Discrete: action probabilities for
 * every row (rows * n). Continuous: log-densities of given actions and sampled actions.
 */
export interface TargetPolicy {
  actionProbabilitiesBatch?(observations: Float32Array): Promise<Float64Array>;
  logDensityBatch?(observations: Float32Array, actions: Float32Array): Promise<Float64Array>;
  actBatch?(observations: Float32Array): Promise<Int32Array | Float32Array>;
}

/** Model values for DM/DR: Q-hat of the logged action and V-hat under the target, per row. */
export interface ModelValues {
  qHat: Float64Array;
  vHat: Float64Array;
  label: string;
}

export type BoundMethod = "auto" | "student-t" | "bootstrap" | "thomas2015";

export interface EvaluatePolicyOptions {
  transitions: Transitions;
  /** Name shown in the report. */
  policyName?: string;
  /** Target probability (discrete) or log-density (continuous) of each logged action. */
  targetProb?: Float64Array;
  /** Or a policy that provides them (also needed to fit FQE). */
  policy?: TargetPolicy;
  estimators: EstimatorName[];
  gamma: number;
  /** Externally computed Q-hat(s, a_logged) and V-hat(s). */
  qHat?: Float64Array;
  vHat?: Float64Array;
  /** Fits Q-hat/V-hat when a model estimator is asked and no model values were given; default FQE (src/ope/fqe.ts). */
  fitModel?: (transitions: Transitions, policy: TargetPolicy, gamma: number) => Promise<ModelValues>;
  /** Settings of the default FQE fit. */
  fqe?: Omit<FqeOptions, "gamma">;
  /** Override the logged propensities (e.g. with an estimated behaviour policy) and say where they came from. */
  behavior?: { prob: Float64Array; label: string; estimated?: boolean };
  /** When the logs have no propensities: fit a behaviour-cloning model instead of refusing. */
  estimateBehavior?: boolean;
  /**
   * Percentile intervals over episodes. `refitModel: R` gives the model-based estimators (fqe, dm, dr, wdr, bandit
   * DM/DR) intervals from R resamples that each refit the model (src/ope/refit.ts; R model fits); without it their
   * intervals keep the one model fitted on all data and are too narrow (warned).
   */
  bootstrap?: { resamples: number; seed: number; level?: number; refitModel?: number };
  /** One-sided confidence of the lower bound, default 0.95. */
  confidence?: number;
  /** Which lower bound gates deployment; auto = bootstrap when resampling, else Student-t. */
  bound?: BoundMethod;
  /** Bounds of one episode's discounted return, for the concentration bound; default: the logged range (warned). */
  returnRange?: { min: number; max: number };
  clip?: number;
  switchThreshold?: number;
  /** Seed for the concentration bound's data split and behaviour cloning. */
  seed?: number;
  /**
   * Declared reward range for the default FQE's value bounds; default: the dataset schema's reward range when the
   * transitions carry their manifest (loadTransitions), else the observed rewards.
   */
  rewardRange?: { min: number; max: number };
  /** Known maximum episode length, for the finite-horizon value bounds of FQE. */
  horizon?: number;
  /** Behaviour propensity below which a logged action counts as "almost never taken" in its state; default 0.05. */
  supportThreshold?: number;
}

export interface EstimateReport {
  estimator: EstimatorName;
  value: number;
  interval: { lower: number; upper: number; level: number; method: string } | null;
  lowerBound: LowerBound;
  diagnostics: {
    episodes: number;
    rows: number;
    effectiveSampleSize: number | null;
    essFraction: number | null;
    maxWeight: number | null;
    meanWeight: number | null;
    clippedFraction: number | null;
    /**
     * Estimated target-policy mass on actions the logging policy takes with probability below the support threshold
     * in the visited states (discrete, logged or estimated propensities): mean of ratio * [behaviourProb < threshold].
     */
    lowSupportMass: number | null;
    /** Model-based estimators: fraction of the model's bootstrapped targets clipped at the value bound (FQE). */
    modelClippedTargetFraction: number | null;
    /** True when the estimate leans on actions the logs (almost) never show: do not trust it as a gate. */
    offSupport: boolean;
    warnings: string[];
  };
}

export interface OpeReport {
  policy: string;
  gamma: number;
  episodes: number;
  rows: number;
  behavior: { source: "logged" | "estimated" | "supplied"; label: string };
  model: string | null;
  /** The logging policy's own value: mean discounted return of the logged episodes. */
  baseline: { value: number; interval: { lower: number; upper: number; level: number; method: string } | null; lowerBound: LowerBound };
  estimates: EstimateReport[];
  warnings: string[];
}

const CHUNK_ROWS = 65_536;
const NEVER_LOGGED = "but the logs never show it";
/** Warn when at least this much target mass sits on rarely logged actions. */
const RARE_MASS_WARNING = 0.1;
/** Warn when at least this fraction of FQE's bootstrapped targets hit the value bound. */
const CLIPPED_TARGETS_WARNING = 0.01;

/** The dataset schema's declared reward range, when the transitions carry their manifest (loadTransitions does). */
function declaredRewardRange(transitions: Transitions): { min: number; max: number } | undefined {
  const reward = (transitions as { manifest?: { schema?: { reward?: { min?: unknown; max?: unknown } } } }).manifest?.schema?.reward;
  return reward && typeof reward.min === "number" && typeof reward.max === "number" ? { min: reward.min, max: reward.max } : undefined;
}

/** Target probabilities of the logged actions (and, for discrete actions, the mean probability of each action). */
export async function targetProbabilities(
  transitions: Transitions,
  policy: TargetPolicy,
): Promise<{ targetProb: Float64Array; meanActionProb: Float64Array | null }> {
  const { size, observationDim: dim, observations, actionSpace } = transitions;
  const targetProb = new Float64Array(size);
  if (actionSpace.kind === "discrete") {
    if (!policy.actionProbabilitiesBatch) throw new OpeError("policy_kind_mismatch", "the target policy gives no action probabilities for a discrete action space");
    const actions = transitions.actions as Int32Array;
    const n = actionSpace.n;
    const meanActionProb = new Float64Array(n);
    for (let start = 0; start < size; start += CHUNK_ROWS) {
      const end = Math.min(size, start + CHUNK_ROWS);
      const probabilities = await policy.actionProbabilitiesBatch(observations.subarray(start * dim, end * dim));
      for (let row = start; row < end; row++) {
        const offset = (row - start) * n;
        targetProb[row] = probabilities[offset + actions[row]];
        for (let a = 0; a < n; a++) meanActionProb[a] += probabilities[offset + a];
      }
    }
    for (let a = 0; a < n; a++) meanActionProb[a] /= size;
    return { targetProb, meanActionProb };
  }
  if (!policy.logDensityBatch) throw new OpeError("policy_kind_mismatch", "the target policy gives no log-densities for a continuous action space");
  const actionDim = actionSpace.low.length;
  const actions = transitions.actions as Float32Array;
  for (let start = 0; start < size; start += CHUNK_ROWS) {
    const end = Math.min(size, start + CHUNK_ROWS);
    const logDensity = await policy.logDensityBatch(observations.subarray(start * dim, end * dim), actions.subarray(start * actionDim, end * actionDim));
    targetProb.set(logDensity, start);
  }
  return { targetProb, meanActionProb: null };
}

/**
 * Target mass on actions with behaviour propensity below `threshold` in the visited states, estimated without bias
 * from the logged rows: E_b[pi(a|s) / b(a|s) * 1{b(a|s) < threshold}] = sum over {a : b(a|s) < threshold} of pi(a|s).
 * Actions never logged at all (b = 0 there) are not counted here; `supportWarnings` names those.
 */
export function lowSupportMass(behaviorProb: Float64Array, targetProb: Float64Array, threshold: number): number {
  let total = 0;
  for (let i = 0; i < behaviorProb.length; i++) {
    const b = behaviorProb[i];
    if (b > 0 && b < threshold) total += targetProb[i] / b;
  }
  return total / Math.max(1, behaviorProb.length);
}

/** Words about target actions the logs never show (discrete). */
export function supportWarnings(transitions: Transitions, meanActionProb: Float64Array | null): string[] {
  if (!meanActionProb || transitions.actionSpace.kind !== "discrete") return [];
  const seen = new Float64Array(transitions.actionSpace.n);
  const actions = transitions.actions as Int32Array;
  for (let i = 0; i < transitions.size; i++) seen[actions[i]]++;
  const warnings: string[] = [];
  for (let a = 0; a < seen.length; a++) {
    if (seen[a] === 0 && meanActionProb[a] >= 0.01) {
      warnings.push(
        `the target policy takes action ${a} with mean probability ${meanActionProb[a].toFixed(3)}, ${NEVER_LOGGED}: importance-sampling estimates ignore that mass`,
      );
    }
  }
  return warnings;
}

function discountedReturns(transitions: Transitions, gamma: number): Float64Array {
  const { episodeStarts, rewards } = transitions;
  const episodes = episodeStarts.length - 1;
  const returns = new Float64Array(episodes);
  for (let e = 0; e < episodes; e++) {
    let total = 0;
    let discount = 1;
    for (let i = episodeStarts[e]; i < episodeStarts[e + 1]; i++) {
      total += discount * rewards[i];
      discount *= gamma;
    }
    returns[e] = total;
  }
  return returns;
}

function runEstimator(name: EstimatorName, sequential: SequentialInput, bandit: BanditInput, options: EvaluatePolicyOptions): PointEstimate {
  const seq = { gamma: options.gamma, clip: options.clip };
  const one = { clip: options.clip, switchThreshold: options.switchThreshold };
  switch (name) {
    case "is": return trajectoryIS(sequential, seq);
    case "pdis": return perDecisionIS(sequential, seq);
    case "wis": return weightedIS(sequential, seq);
    case "wpdis": return weightedPerDecisionIS(sequential, seq);
    case "dr": return doublyRobust(sequential, seq);
    case "wdr": return weightedDoublyRobust(sequential, seq);
    case "dm": return directMethod(sequential, seq, "dm");
    case "fqe": return directMethod(sequential, seq, "fqe");
    case "ips": return ips(bandit, one);
    case "snips": return snips(bandit, one);
    case "dm-bandit": return banditDM(bandit, one);
    case "dr-bandit": return banditDR(bandit, one);
    case "sndr": return sndr(bandit, one);
    case "switch-dr": return switchDR(bandit, one);
  }
}

/** Per-episode importance-weighted returns scaled to [0, 1], for the concentration bound (trajectory IS only). */
function scaledWeightedReturns(sequential: SequentialInput, returns: Float64Array, range: { min: number; max: number }, clip: number | undefined): Float64Array {
  const { episodeStarts, ratios } = sequential;
  const episodes = episodeStarts.length - 1;
  const width = range.max - range.min || 1;
  const values = new Float64Array(episodes);
  for (let e = 0; e < episodes; e++) {
    let weight = 1;
    for (let i = episodeStarts[e]; i < episodeStarts[e + 1]; i++) weight *= ratios[i];
    if (clip !== undefined && weight > clip) weight = clip;
    values[e] = (weight * Math.min(Math.max(returns[e] - range.min, 0), width)) / width;
  }
  return values;
}

function chooseBound(
  estimate: PointEstimate,
  name: EstimatorName,
  boot: BootstrapResult | null,
  options: EvaluatePolicyOptions,
  context: { sequential: SequentialInput; returns: Float64Array; range: { min: number; max: number } },
): LowerBound {
  const confidence = options.confidence ?? 0.95;
  const method = options.bound ?? "auto";
  if (method === "thomas2015") {
    if (name === "is") {
      const width = context.range.max - context.range.min || 1;
      const bound = thomasLowerBound(scaledWeightedReturns(context.sequential, context.returns, context.range, options.clip), confidence, options.seed ?? 0);
      return { ...bound, value: context.range.min + width * bound.value };
    }
    const fallback = studentTLowerBound(estimate.pseudoValues(), confidence);
    return { ...fallback, method: `${fallback.method} (thomas2015 applies to trajectory IS only)` };
  }
  if ((method === "bootstrap" || method === "auto") && boot) return bootstrapLowerBound(boot, confidence);
  if (method === "bootstrap") throw new OpeError("bootstrap_required", "a bootstrap lower bound needs bootstrap resamples (--bootstrap B)");
  return studentTLowerBound(estimate.pseudoValues(), confidence);
}

export async function evaluatePolicy(options: EvaluatePolicyOptions): Promise<OpeReport> {
  const { transitions, gamma } = options;
  const estimators = [...new Set(options.estimators)];
  if (estimators.length === 0) throw new OpeError("no_estimators", "ask for at least one estimator");
  for (const name of estimators) {
    if (!(SEQUENTIAL_ESTIMATORS as readonly string[]).includes(name) && !(BANDIT_ESTIMATORS as readonly string[]).includes(name)) {
      throw new OpeError("unknown_estimator", `unknown estimator "${name}"; known: ${[...SEQUENTIAL_ESTIMATORS, ...BANDIT_ESTIMATORS].join(", ")}`, { estimator: name });
    }
  }
  const warnings: string[] = [];
  const scale = transitions.actionSpace.kind === "discrete" ? "probability" : "logDensity";

  // Behaviour propensities.
  let behaviorProb: Float64Array;
  let behavior: OpeReport["behavior"];
  if (options.behavior) {
    behaviorProb = options.behavior.prob;
    behavior = { source: options.behavior.estimated ? "estimated" : "supplied", label: options.behavior.label };
    if (options.behavior.estimated) warnings.push(`behaviour propensities are ESTIMATED (${options.behavior.label}); every importance-weighted estimate inherits its error`);
  } else if (transitions.behaviorProb) {
    behaviorProb = transitions.behaviorProb;
    behavior = { source: "logged", label: "logged behaviour propensities" };
  } else if (options.estimateBehavior) {
    const fitted = estimateBehaviorPolicy(transitions, { seed: options.seed ?? 0 });
    behaviorProb = fitted.behaviorProb;
    behavior = { source: "estimated", label: fitted.label };
    warnings.push(`behaviour propensities are ESTIMATED (${fitted.label}); every importance-weighted estimate inherits its error`);
  } else {
    throw new OpeError(
      "missing_propensities",
      "the dataset logs no behaviour propensities, so importance weights cannot be formed; re-run with an estimated behaviour policy (--estimate-behavior), whose estimates are labelled as such",
    );
  }

  // Target probabilities of the logged actions.
  let targetProb = options.targetProb;
  if (!targetProb) {
    if (!options.policy) throw new OpeError("missing_target", "give target probabilities of the logged actions or a target policy");
    const computed = await targetProbabilities(transitions, options.policy);
    targetProb = computed.targetProb;
    warnings.push(...supportWarnings(transitions, computed.meanActionProb));
  }
  const ratios = importanceRatios(behaviorProb, targetProb, scale);

  // Support: how much of the target's mass sits on actions the logs (almost) never take in the visited states.
  const threshold = options.supportThreshold ?? 0.05;
  const neverLogged = warnings.some((w) => w.includes(NEVER_LOGGED));
  const rareMass = scale === "probability" ? lowSupportMass(behaviorProb, targetProb, threshold) : null;
  const supportNotes: string[] = [];
  if (rareMass !== null && rareMass >= RARE_MASS_WARNING) {
    supportNotes.push(
      `the target policy puts about ${(100 * Math.min(1, rareMass)).toFixed(0)}% of its mass on actions the logging policy takes with probability below ${threshold} in the visited states: the estimate extrapolates from few logged decisions`,
    );
  }
  if (neverLogged) supportNotes.push("the target policy takes actions never seen in the logs (see the report's warnings)");

  // Model values for DM/DR-type estimators.
  let qHat = options.qHat ?? null;
  let vHat = options.vHat ?? null;
  let model: string | null = qHat || vHat ? "supplied Q-hat/V-hat columns" : null;
  let fitModelUsed: ((t: Transitions, p: TargetPolicy, g: number) => Promise<ModelValues>) | null = null;
  let modelClippedTargetFraction: number | null = null;
  const wantsFqe = estimators.includes("fqe");
  const wantsModel = estimators.some((name) => NEEDS_MODEL.has(name));
  if (wantsFqe || (wantsModel && !(qHat && vHat))) {
    if (!options.policy) {
      throw new OpeError(
        "missing_model",
        wantsFqe
          ? "fqe needs a target policy (not only a probability column) to fit Q-hat"
          : `${estimators.filter((name) => NEEDS_MODEL.has(name)).join(", ")} need Q-hat and V-hat: give --q-column/--v-column, or a policy and the fqe estimator`,
      );
    }
    const rewardRange = options.rewardRange ?? declaredRewardRange(transitions);
    const fitModel =
      options.fitModel ??
      ((t: Transitions, p: TargetPolicy, g: number) => fitFqe(t, p, { seed: options.seed, rewardRange, horizon: options.horizon, ...options.fqe, gamma: g }));
    const fitted = await fitModel(transitions, options.policy, gamma);
    if (wantsFqe || !(qHat && vHat)) {
      qHat = fitted.qHat;
      vHat = fitted.vHat;
      model = fitted.label;
      fitModelUsed = fitModel;
      const clipped = (fitted as Partial<FqeResult>).clippedTargetFraction;
      if (typeof clipped === "number") modelClippedTargetFraction = clipped;
    }
  }

  const sequential: SequentialInput = { rewards: transitions.rewards, episodeStarts: transitions.episodeStarts, ratios, qHat, vHat };
  const bandit: BanditInput = sequential;
  const returns = discountedReturns(transitions, gamma);
  let range = options.returnRange;
  if (!range && options.bound === "thomas2015") {
    let min = Infinity;
    let max = -Infinity;
    for (const value of returns) {
      if (value < min) min = value;
      if (value > max) max = value;
    }
    range = { min, max };
    warnings.push(`the concentration bound takes the return range [${range.min.toFixed(3)}, ${range.max.toFixed(3)}] from the logs; give the true range to make it rigorous`);
  }
  const context = { sequential, returns, range: range ?? { min: 0, max: 1 } };

  // Model-refit bootstrap: one model fit per resample, shared by every model-based estimator.
  const modelEstimators = estimators.filter((name) => name === "fqe" || NEEDS_MODEL.has(name));
  const refitResamples = options.bootstrap?.refitModel ?? 0;
  let refitted: Map<string, BootstrapResult> | null = null;
  if (refitResamples > 0 && modelEstimators.length > 0) {
    const fit = fitModelUsed;
    const policy = options.policy;
    if (!fit || !policy) {
      warnings.push("the model-refit bootstrap needs a fitted model (a policy, not supplied Q-hat/V-hat columns); model-based intervals keep the fixed model");
    } else {
      refitted = await refitBootstrap(
        transitions,
        modelEstimators,
        async (resampled, rows) => {
          const fitted = await fit(resampled, policy, gamma);
          const input: SequentialInput = {
            rewards: resampled.rewards,
            episodeStarts: resampled.episodeStarts,
            ratios: Float64Array.from(rows, (row) => ratios[row]),
            qHat: fitted.qHat,
            vHat: fitted.vHat,
          };
          return new Map(modelEstimators.map((name) => [name, runEstimator(name, input, input, options).value]));
        },
        { resamples: refitResamples, seed: options.bootstrap!.seed, level: options.bootstrap!.level },
      );
    }
  }

  const estimates: EstimateReport[] = [];
  for (const name of estimators) {
    const estimate = runEstimator(name, sequential, bandit, options);
    const refit = refitted?.get(name);
    if (refit) {
      estimate.warnings = estimate.warnings.map((w) => w.replace("bootstrap intervals do not include refitting the model", "the interval refits the model on each resample"));
    } else if (options.bootstrap && fitModelUsed && NEEDS_MODEL.has(name) && name !== "dm") {
      // dm/fqe already say so (directMethod's warning).
      estimate.warnings = [...estimate.warnings, "its bootstrap interval keeps the one fitted model (no refitting) and is too narrow; ask for bootstrap.refitModel"];
    }
    const usesModel = name === "fqe" || NEEDS_MODEL.has(name);
    const modelClipped = usesModel && fitModelUsed ? modelClippedTargetFraction : null;
    const notes = [...supportNotes];
    if (modelClipped !== null && modelClipped >= CLIPPED_TARGETS_WARNING) {
      notes.push(
        `${(100 * modelClipped).toFixed(1)}% of FQE's bootstrapped targets hit the value bound (the target policy leaves the data's support): the fitted Q-hat extrapolates and this estimate is not to be trusted`,
      );
    }
    estimate.warnings = [...estimate.warnings, ...notes];
    const boot = refit ?? (options.bootstrap ? bootstrap(estimate, options.bootstrap) : null);
    const lowerBound = chooseBound(estimate, name, boot, options, context);
    const weights = estimate.weights;
    estimates.push({
      estimator: name,
      value: estimate.value,
      interval: boot ? { lower: boot.lower, upper: boot.upper, level: boot.level, method: boot.method } : null,
      lowerBound,
      diagnostics: {
        episodes: estimate.episodes,
        rows: estimate.rows,
        effectiveSampleSize: weights ? weights.effectiveSampleSize : null,
        essFraction: weights ? weights.effectiveSampleSize / Math.max(1, weights.count) : null,
        maxWeight: weights ? weights.maxWeight : null,
        meanWeight: weights ? weights.meanWeight : null,
        clippedFraction: estimate.clippedFraction,
        lowSupportMass: rareMass,
        modelClippedTargetFraction: modelClipped,
        offSupport: notes.length > 0,
        warnings: behavior.source === "estimated" && weights ? [...estimate.warnings, "built on estimated propensities"] : estimate.warnings,
      },
    });
  }

  const baselineEstimate = trajectoryIS({ ...sequential, ratios: new Float64Array(ratios.length).fill(1) }, { gamma });
  const baselineBoot = options.bootstrap ? bootstrap({ ...baselineEstimate, estimator: "behavior" }, options.bootstrap) : null;
  return {
    policy: options.policyName ?? "target",
    gamma,
    episodes: transitions.episodeStarts.length - 1,
    rows: transitions.size,
    behavior,
    model,
    baseline: {
      value: baselineEstimate.value,
      interval: baselineBoot ? { lower: baselineBoot.lower, upper: baselineBoot.upper, level: baselineBoot.level, method: baselineBoot.method } : null,
      lowerBound: studentTLowerBound(baselineEstimate.pseudoValues(), options.confidence ?? 0.95),
    },
    estimates,
    warnings,
  };
}
