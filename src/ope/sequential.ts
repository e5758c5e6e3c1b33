import { OpeError } from "./errors.js";
import { ratioPseudoValues, ratioValue, type PointEstimate, type RatioTerm } from "./estimate.js";
import { summarizeWeights, weightWarnings } from "./weights.js";

/**
 * Sequential (episodic) off-policy estimators with discount gamma. Notation: rho_t is the per-step importance ratio
 * pi(a_t|s_t) / mu(a_t|s_t), w_t = prod_{k<=t} rho_k the cumulative weight (w_{-1} = 1), W = w_{H-1} the trajectory
 * weight of an episode of length H. With `clip`, every weight an estimator uses is min(w, clip).
 *
 * Self-normalised per-step estimators (WPDIS, WDR) treat an episode that ended before step t as sitting in an
 * absorbing state with zero reward and rho = 1, so its weight keeps counting in the step-t normaliser (Thomas 2015).
 */
export interface SequentialInput {
  rewards: Float32Array;
  /** Length episodes + 1; episode e spans rows [episodeStarts[e], episodeStarts[e + 1]). */
  episodeStarts: Int32Array;
  /** Per-row importance ratios of the logged actions (see importanceRatios). */
  ratios: Float64Array;
  /** Q-hat(s_t, a_t) of the logged action under the target policy (DR, WDR). */
  qHat?: Float64Array | null;
  /** V-hat(s_t) = E_{a~pi} Q-hat(s_t, a) (DR, WDR, DM). */
  vHat?: Float64Array | null;
}

export interface SequentialOptions {
  gamma: number;
  /** Cut every importance weight at this level (variance for bias); omitted: no clipping. */
  clip?: number;
}

function checkInput(input: SequentialInput, options: SequentialOptions, needsModel: boolean, estimator: string): void {
  const { gamma, clip } = options;
  if (!(gamma >= 0 && gamma <= 1)) throw new OpeError("invalid_gamma", `gamma must be in [0, 1], got ${gamma}`, { estimator });
  if (clip !== undefined && !(clip > 0)) throw new OpeError("invalid_clip", `clip must be positive, got ${clip}`, { estimator });
  const rows = input.rewards.length;
  if (input.ratios.length !== rows) {
    throw new OpeError("length_mismatch", `ratios have ${input.ratios.length} rows, rewards ${rows}`, { estimator });
  }
  if (input.episodeStarts.length < 2 || input.episodeStarts[input.episodeStarts.length - 1] !== rows) {
    throw new OpeError("no_episodes", "episodeStarts must hold at least one episode and end at the row count", { estimator });
  }
  if (needsModel) {
    if (!input.qHat || !input.vHat) {
      throw new OpeError("missing_model", `${estimator} needs Q-hat and V-hat (train FQE or give --q-column/--v-column)`, {
        estimator,
      });
    }
    if (input.qHat.length !== rows || input.vHat.length !== rows) {
      throw new OpeError("length_mismatch", `Q-hat/V-hat must have ${rows} rows`, { estimator });
    }
  }
}

function clipFraction(clipped: number, total: number, clip: number | undefined): number | null {
  return clip === undefined ? null : total > 0 ? clipped / total : 0;
}

function finish(
  estimator: string,
  input: SequentialInput,
  value: number,
  resample: PointEstimate["resample"],
  pseudoValues: () => Float64Array,
  trajectoryWeights: Float64Array | null,
  clippedFraction: number | null,
  extraWarnings: string[] = [],
): PointEstimate {
  const weights = trajectoryWeights ? summarizeWeights(trajectoryWeights) : null;
  const warnings = weights ? weightWarnings(weights, "episodes") : [];
  if (!Number.isFinite(value)) warnings.push("the estimate is undefined: every importance weight is zero");
  return {
    estimator,
    value,
    episodes: input.episodeStarts.length - 1,
    rows: input.rewards.length,
    resample,
    pseudoValues,
    weights,
    clippedFraction,
    warnings: [...warnings, ...extraWarnings],
  };
}

/** Per episode: the (clipped) trajectory weight W_e = prod_t rho_t and W_e * sum_t gamma^t r_t. */
function trajectoryTerms(input: SequentialInput, options: SequentialOptions) {
  const { rewards, episodeStarts, ratios } = input;
  const { gamma } = options;
  const clip = options.clip ?? Infinity;
  const episodes = episodeStarts.length - 1;
  const weightedReturns = new Float64Array(episodes);
  const trajectoryWeights = new Float64Array(episodes);
  let clipped = 0;
  for (let e = 0; e < episodes; e++) {
    let weight = 1;
    let discountedReturn = 0;
    let discount = 1;
    for (let i = episodeStarts[e], end = episodeStarts[e + 1]; i < end; i++) {
      weight *= ratios[i];
      discountedReturn += discount * rewards[i];
      discount *= gamma;
    }
    if (weight > clip) {
      weight = clip;
      clipped++;
    }
    trajectoryWeights[e] = weight;
    weightedReturns[e] = weight * discountedReturn;
  }
  return { episodes, weightedReturns, trajectoryWeights, clipped };
}

/** Trajectory-wise importance sampling: mean over episodes of W * sum_t gamma^t r_t (Precup et al. 2000). */
export function trajectoryIS(input: SequentialInput, options: SequentialOptions): PointEstimate {
  checkInput(input, options, false, "is");
  const { episodes, weightedReturns: perEpisode, trajectoryWeights, clipped } = trajectoryTerms(input, options);
  let total = 0;
  for (let e = 0; e < episodes; e++) total += perEpisode[e];
  const terms: RatioTerm[] = [{ numerator: perEpisode, denominator: null }];
  return finish("is", input, total / episodes, { kind: "ratios", terms }, () => perEpisode, trajectoryWeights,
    clipFraction(clipped, episodes, options.clip));
}

/** Weighted (self-normalised) trajectory IS: sum_e W_e G_e / sum_e W_e. */
export function weightedIS(input: SequentialInput, options: SequentialOptions): PointEstimate {
  checkInput(input, options, false, "wis");
  const { episodes, weightedReturns: numerator, trajectoryWeights, clipped } = trajectoryTerms(input, options);
  const terms: RatioTerm[] = [{ numerator, denominator: trajectoryWeights }];
  const value = ratioValue(terms);
  return finish("wis", input, value, { kind: "ratios", terms }, () => ratioPseudoValues(terms, value), trajectoryWeights,
    clipFraction(clipped, episodes, options.clip));
}

/** Per-decision importance sampling: mean over episodes of sum_t gamma^t w_t r_t (Precup et al. 2000). */
export function perDecisionIS(input: SequentialInput, options: SequentialOptions): PointEstimate {
  return perDecisionEstimate(input, options, false, "pdis");
}

/**
 * Doubly robust estimator of Jiang & Li (2016), unrolled: per episode
 *   sum_t gamma^t [ w_t r_t - (w_t Q-hat(s_t, a_t) - w_{t-1} V-hat(s_t)) ],  w_{-1} = 1.
 */
export function doublyRobust(input: SequentialInput, options: SequentialOptions): PointEstimate {
  return perDecisionEstimate(input, options, true, "dr");
}

/** PDIS, and with the model's control variate DR: the same per-episode pass (PDIS is DR with Q-hat = V-hat = 0). */
function perDecisionEstimate(input: SequentialInput, options: SequentialOptions, withModel: boolean, estimator: string): PointEstimate {
  checkInput(input, options, withModel, estimator);
  const { rewards, episodeStarts, ratios } = input;
  const qHat = withModel ? (input.qHat as Float64Array) : null;
  const vHat = withModel ? (input.vHat as Float64Array) : null;
  const { gamma } = options;
  const clip = options.clip ?? Infinity;
  const episodes = episodeStarts.length - 1;
  const perEpisode = new Float64Array(episodes);
  const trajectoryWeights = new Float64Array(episodes);
  let clipped = 0;
  let total = 0;
  for (let e = 0; e < episodes; e++) {
    let weight = 1;
    let previous = 1;
    let sum = 0;
    let discount = 1;
    for (let i = episodeStarts[e], end = episodeStarts[e + 1]; i < end; i++) {
      weight *= ratios[i];
      let used = weight;
      if (used > clip) {
        used = clip;
        clipped++;
      }
      sum += discount * (qHat ? used * (rewards[i] - qHat[i]) + previous * vHat![i] : used * rewards[i]);
      previous = used;
      discount *= gamma;
    }
    trajectoryWeights[e] = previous;
    perEpisode[e] = sum;
    total += sum;
  }
  const terms: RatioTerm[] = [{ numerator: perEpisode, denominator: null }];
  return finish(estimator, input, total / episodes, { kind: "ratios", terms }, () => perEpisode, trajectoryWeights,
    clipFraction(clipped, input.rewards.length, options.clip));
}

/** Direct method: mean over episodes of V-hat(s_0) (from FQE or a supplied V column). */
export function directMethod(input: SequentialInput, options: SequentialOptions, estimator = "dm"): PointEstimate {
  checkInput(input, { gamma: options.gamma }, false, estimator);
  if (!input.vHat) throw new OpeError("missing_model", `${estimator} needs V-hat (train FQE or give --v-column)`, { estimator });
  const { episodeStarts } = input;
  const vHat = input.vHat;
  const episodes = episodeStarts.length - 1;
  const perEpisode = new Float64Array(episodes);
  let total = 0;
  for (let e = 0; e < episodes; e++) {
    perEpisode[e] = vHat[episodeStarts[e]];
    total += perEpisode[e];
  }
  const terms: RatioTerm[] = [{ numerator: perEpisode, denominator: null }];
  return finish(estimator, input, total / episodes, { kind: "ratios", terms }, () => perEpisode, null, null, [
    "model-based: no importance weights; its bias is the Q-model's error and bootstrap intervals do not include refitting the model",
  ]);
}

/**
 * Per-step sums for the per-step self-normalised estimators, weighted by episode multiplicities (null: all 1).
 * A[t] = sum_e c_e w_te (r_te - q_te), B[t] = sum_e c_e w_{t-1,e} v_te, D[t] = sum_e c_e w_te with ended episodes
 * padded by their final weight. Returns sum_e c_e (the step -1 normaliser).
 */
interface PerStepBuffers {
  sumA: Float64Array;
  sumB: Float64Array;
  sumD: Float64Array;
  tail: Float64Array;
  discounts: Float64Array;
}

function maxEpisodeLength(episodeStarts: Int32Array): number {
  let longest = 0;
  for (let e = 0; e + 1 < episodeStarts.length; e++) longest = Math.max(longest, episodeStarts[e + 1] - episodeStarts[e]);
  return longest;
}

function perStepBuffers(episodeStarts: Int32Array, gamma: number): PerStepBuffers {
  const horizon = maxEpisodeLength(episodeStarts);
  const discounts = new Float64Array(horizon);
  let discount = 1;
  for (let t = 0; t < horizon; t++) {
    discounts[t] = discount;
    discount *= gamma;
  }
  return {
    sumA: new Float64Array(horizon),
    sumB: new Float64Array(horizon),
    sumD: new Float64Array(horizon),
    tail: new Float64Array(horizon + 1),
    discounts,
  };
}

function accumulatePerStep(
  input: SequentialInput,
  clip: number,
  counts: Int32Array | null,
  buffers: PerStepBuffers,
  withModel: boolean,
): { total: number; clipped: number; trajectoryWeights: Float64Array | null } {
  const { rewards, episodeStarts, ratios } = input;
  const qHat = input.qHat as Float64Array;
  const vHat = input.vHat as Float64Array;
  const { sumA, sumB, sumD, tail } = buffers;
  sumA.fill(0);
  sumB.fill(0);
  sumD.fill(0);
  tail.fill(0);
  const episodes = episodeStarts.length - 1;
  const trajectoryWeights = counts ? null : new Float64Array(episodes);
  let total = 0;
  let clipped = 0;
  for (let e = 0; e < episodes; e++) {
    const count = counts ? counts[e] : 1;
    if (count === 0) continue;
    total += count;
    const start = episodeStarts[e];
    const end = episodeStarts[e + 1];
    let weight = 1;
    let previous = 1;
    for (let i = start; i < end; i++) {
      const t = i - start;
      weight *= ratios[i];
      let used = weight;
      if (used > clip) {
        used = clip;
        clipped++;
      }
      if (withModel) {
        sumA[t] += count * used * (rewards[i] - qHat[i]);
        sumB[t] += count * previous * vHat[i];
      } else {
        sumA[t] += count * used * rewards[i];
      }
      sumD[t] += count * used;
      previous = used;
    }
    tail[end - start] += count * previous;
    if (trajectoryWeights) trajectoryWeights[e] = previous;
  }
  // Ended episodes keep their final weight in later normalisers.
  let padded = 0;
  for (let t = 0; t < sumD.length; t++) {
    padded += tail[t];
    sumD[t] += padded;
  }
  return { total, clipped, trajectoryWeights };
}

function perStepValue(buffers: PerStepBuffers, total: number, withModel: boolean): number {
  const { sumA, sumB, sumD, discounts } = buffers;
  let value = 0;
  let previousD = total;
  for (let t = 0; t < sumA.length; t++) {
    let term = 0;
    if (sumD[t] > 0) term += sumA[t] / sumD[t];
    if (withModel && previousD > 0) term += sumB[t] / previousD;
    value += discounts[t] * term;
    previousD = sumD[t];
  }
  return value;
}

/**
 * First-order pseudo-values phi_e = V + n dV/dc_e of a per-step normalised estimator (c_e: episode multiplicity).
 * In-episode terms are summed row by row; the padded tail of an ended episode through suffix sums.
 */
function perStepPseudoValues(input: SequentialInput, clip: number, buffers: PerStepBuffers, value: number, withModel: boolean): Float64Array {
  const { rewards, episodeStarts, ratios } = input;
  const qHat = input.qHat as Float64Array;
  const vHat = input.vHat as Float64Array;
  const { sumA, sumB, sumD, discounts } = buffers;
  const horizon = sumA.length;
  const episodes = episodeStarts.length - 1;
  const ratioA = new Float64Array(horizon);
  const ratioB = new Float64Array(horizon);
  const previousD = new Float64Array(horizon);
  for (let t = 0; t < horizon; t++) {
    previousD[t] = t === 0 ? episodes : sumD[t - 1];
    ratioA[t] = sumD[t] > 0 ? sumA[t] / sumD[t] : 0;
    ratioB[t] = withModel && previousD[t] > 0 ? sumB[t] / previousD[t] : 0;
  }
  // suffix[h] = sum_{t >= h} gamma^t (RA_t / D_t + RB_t / D_{t-1})
  const suffix = new Float64Array(horizon + 1);
  for (let t = horizon - 1; t >= 0; t--) {
    let term = sumD[t] > 0 ? ratioA[t] / sumD[t] : 0;
    if (withModel && previousD[t] > 0) term += ratioB[t] / previousD[t];
    suffix[t] = suffix[t + 1] + discounts[t] * term;
  }
  const pseudo = new Float64Array(episodes);
  for (let e = 0; e < episodes; e++) {
    const start = episodeStarts[e];
    const end = episodeStarts[e + 1];
    let weight = 1;
    let previous = 1;
    let influence = 0;
    for (let i = start; i < end; i++) {
      const t = i - start;
      weight *= ratios[i];
      const used = weight > clip ? clip : weight;
      let term = 0;
      if (sumD[t] > 0) term += (used * ((withModel ? rewards[i] - qHat[i] : rewards[i]) - ratioA[t])) / sumD[t];
      if (withModel && previousD[t] > 0) term += (previous * (vHat[i] - ratioB[t])) / previousD[t];
      influence += discounts[t] * term;
      previous = used;
    }
    influence -= previous * suffix[end - start];
    pseudo[e] = value + episodes * influence;
  }
  return pseudo;
}

function perStepEstimate(input: SequentialInput, options: SequentialOptions, withModel: boolean, estimator: string): PointEstimate {
  checkInput(input, options, withModel, estimator);
  const clip = options.clip ?? Infinity;
  const buffers = perStepBuffers(input.episodeStarts, options.gamma);
  const { total, clipped, trajectoryWeights } = accumulatePerStep(input, clip, null, buffers, withModel);
  const value = perStepValue(buffers, total, withModel);
  const pointBuffers = {
    sumA: buffers.sumA.slice(),
    sumB: buffers.sumB.slice(),
    sumD: buffers.sumD.slice(),
    tail: buffers.tail,
    discounts: buffers.discounts,
  };
  const resampleBuffers = perStepBuffers(input.episodeStarts, options.gamma);
  return finish(
    estimator,
    input,
    value,
    {
      kind: "counts",
      rows: input.rewards.length,
      evaluate(counts: Int32Array): number {
        const sums = accumulatePerStep(input, clip, counts, resampleBuffers, withModel);
        return perStepValue(resampleBuffers, sums.total, withModel);
      },
    },
    () => perStepPseudoValues(input, clip, pointBuffers, value, withModel),
    trajectoryWeights,
    clipFraction(clipped, input.rewards.length, options.clip),
  );
}

/** Weighted per-decision IS: sum_t gamma^t (sum_e w_te r_te) / (sum_e w_te). */
export function weightedPerDecisionIS(input: SequentialInput, options: SequentialOptions): PointEstimate {
  return perStepEstimate(input, options, false, "wpdis");
}

/**
 * Weighted doubly robust estimator of Thomas & Brunskill (2016):
 *   sum_t gamma^t sum_e [ u_te (r_te - Q-hat_te) + u_{t-1,e} V-hat_te ],  u_te = w_te / sum_e' w_te',  u_{-1,e} = 1/n.
 */
export function weightedDoublyRobust(input: SequentialInput, options: SequentialOptions): PointEstimate {
  return perStepEstimate(input, options, true, "wdr");
}
