import { OpeError } from "./errors.js";
import { ratioPseudoValues, ratioValue, type PointEstimate, type RatioTerm } from "./estimate.js";
import { summarizeWeights, weightWarnings } from "./weights.js";

/**
 * Contextual-bandit (one-step) estimators: every row is one decision with its own reward, and the value is the
 * expected immediate reward under the target policy. Rows are resampled with their episode (the independent unit),
 * so logs with several decisions per user stay honest; for plain bandit logs every episode is one row.
 * Notation: w = pi(a|x) / mu(a|x) of the logged action (cut at `clip` when asked), Q-hat(x, a) the reward model at the
 * logged action, V-hat(x) = E_{a~pi} Q-hat(x, a).
 */
export interface BanditInput {
  rewards: Float32Array;
  episodeStarts: Int32Array;
  ratios: Float64Array;
  qHat?: Float64Array | null;
  vHat?: Float64Array | null;
}

export interface BanditOptions {
  clip?: number;
  /** Switch-DR: rows whose weight exceeds this use the model alone (Wang, Agarwal & Dudik 2017). Default 100. */
  switchThreshold?: number;
}

interface RowTerms {
  /** Per-episode sums of each named per-row quantity. */
  [name: string]: Float64Array;
}

type Quantity = "count" | "weight" | "weightedReward" | "model" | "weightedResidual" | "switchedResidual";

/** One pass over the rows, summing the asked quantities per episode. */
function perEpisodeSums(input: BanditInput, options: BanditOptions, quantities: Quantity[], estimator: string) {
  const { rewards, episodeStarts, ratios } = input;
  const rows = rewards.length;
  if (ratios.length !== rows) throw new OpeError("length_mismatch", `ratios have ${ratios.length} rows, rewards ${rows}`, { estimator });
  if (episodeStarts.length < 2 || episodeStarts[episodeStarts.length - 1] !== rows) {
    throw new OpeError("no_episodes", "episodeStarts must hold at least one episode and end at the row count", { estimator });
  }
  const needsModel = quantities.some((q) => q === "model" || q === "weightedResidual" || q === "switchedResidual");
  if (needsModel && (!input.qHat || !input.vHat || input.qHat.length !== rows || input.vHat.length !== rows)) {
    throw new OpeError("missing_model", `${estimator} needs Q-hat and V-hat with ${rows} rows`, { estimator });
  }
  if (options.clip !== undefined && !(options.clip > 0)) throw new OpeError("invalid_clip", `clip must be positive, got ${options.clip}`, { estimator });
  const clip = options.clip ?? Infinity;
  const threshold = options.switchThreshold ?? 100;
  const qHat = input.qHat ?? new Float64Array(0);
  const vHat = input.vHat ?? new Float64Array(0);
  const episodes = episodeStarts.length - 1;
  const sums: RowTerms = {};
  for (const name of quantities) sums[name] = new Float64Array(episodes);
  const count = sums.count;
  const weight = sums.weight;
  const weightedReward = sums.weightedReward;
  const model = sums.model;
  const weightedResidual = sums.weightedResidual;
  const switchedResidual = sums.switchedResidual;
  const rowWeights = new Float64Array(rows);
  let clipped = 0;
  let switched = 0;
  for (let e = 0; e < episodes; e++) {
    for (let i = episodeStarts[e], end = episodeStarts[e + 1]; i < end; i++) {
      let w = ratios[i];
      if (w > clip) {
        w = clip;
        clipped++;
      }
      rowWeights[i] = w;
      if (count) count[e] += 1;
      if (weight) weight[e] += w;
      if (weightedReward) weightedReward[e] += w * rewards[i];
      if (model) model[e] += vHat[i];
      if (weightedResidual) weightedResidual[e] += w * (rewards[i] - qHat[i]);
      if (switchedResidual) {
        if (w <= threshold) switchedResidual[e] += w * (rewards[i] - qHat[i]);
        else switched++;
      }
    }
  }
  return { sums, rowWeights, clipped, switched, rows, episodes };
}

function build(
  estimator: string,
  terms: RatioTerm[],
  pass: ReturnType<typeof perEpisodeSums>,
  options: BanditOptions,
  usesWeights: boolean,
  extraWarnings: string[] = [],
): PointEstimate {
  const value = ratioValue(terms);
  const weights = usesWeights ? summarizeWeights(pass.rowWeights) : null;
  const warnings = weights ? weightWarnings(weights, "rows") : [];
  if (!Number.isFinite(value)) warnings.push("the estimate is undefined: every importance weight is zero");
  return {
    estimator,
    value,
    episodes: pass.episodes,
    rows: pass.rows,
    resample: { kind: "ratios", terms },
    pseudoValues: () => ratioPseudoValues(terms, value),
    weights,
    clippedFraction: options.clip === undefined ? null : pass.clipped / Math.max(1, pass.rows),
    warnings: [...warnings, ...extraWarnings],
  };
}

/** Inverse propensity scoring: mean over rows of w r. */
export function ips(input: BanditInput, options: BanditOptions = {}): PointEstimate {
  const pass = perEpisodeSums(input, options, ["count", "weightedReward"], "ips");
  return build("ips", [{ numerator: pass.sums.weightedReward, denominator: pass.sums.count }], pass, options, true);
}

/** Self-normalised IPS: sum w r / sum w. */
export function snips(input: BanditInput, options: BanditOptions = {}): PointEstimate {
  const pass = perEpisodeSums(input, options, ["weight", "weightedReward"], "snips");
  return build("snips", [{ numerator: pass.sums.weightedReward, denominator: pass.sums.weight }], pass, options, true);
}

/** Direct method: mean over rows of V-hat(x). */
export function banditDM(input: BanditInput, options: BanditOptions = {}): PointEstimate {
  const pass = perEpisodeSums(input, options, ["count", "model"], "dm-bandit");
  return build("dm-bandit", [{ numerator: pass.sums.model, denominator: pass.sums.count }], pass, options, false, [
    "model-based: no importance weights; its bias is the reward model's error",
  ]);
}

/** Doubly robust (Dudik, Langford & Li 2011): mean over rows of V-hat(x) + w (r - Q-hat(x, a)). */
export function banditDR(input: BanditInput, options: BanditOptions = {}): PointEstimate {
  const pass = perEpisodeSums(input, options, ["count", "model", "weightedResidual"], "dr-bandit");
  const numerator = new Float64Array(pass.episodes);
  for (let e = 0; e < pass.episodes; e++) numerator[e] = pass.sums.model[e] + pass.sums.weightedResidual[e];
  return build("dr-bandit", [{ numerator, denominator: pass.sums.count }], pass, options, true);
}

/** Self-normalised DR: mean V-hat(x) + sum w (r - Q-hat) / sum w. */
export function sndr(input: BanditInput, options: BanditOptions = {}): PointEstimate {
  const pass = perEpisodeSums(input, options, ["count", "weight", "model", "weightedResidual"], "sndr");
  return build(
    "sndr",
    [
      { numerator: pass.sums.model, denominator: pass.sums.count },
      { numerator: pass.sums.weightedResidual, denominator: pass.sums.weight },
    ],
    pass,
    options,
    true,
  );
}

/** Switch-DR: DR on rows with w <= threshold, the model alone on rows above it. */
export function switchDR(input: BanditInput, options: BanditOptions = {}): PointEstimate {
  const pass = perEpisodeSums(input, options, ["count", "model", "switchedResidual"], "switch-dr");
  const numerator = new Float64Array(pass.episodes);
  for (let e = 0; e < pass.episodes; e++) numerator[e] = pass.sums.model[e] + pass.sums.switchedResidual[e];
  const threshold = options.switchThreshold ?? 100;
  const note = `${pass.switched} of ${pass.rows} rows had weight above ${threshold} and used the model alone`;
  return build("switch-dr", [{ numerator, denominator: pass.sums.count }], pass, options, true, pass.switched > 0 ? [note] : []);
}
