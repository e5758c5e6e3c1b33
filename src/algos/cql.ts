/**
 * CQL for continuous actions on SAC (Kumar, Zhou, Tucker & Levine 2020), the CQL(H) variant.
 *   critic:  L = sum_i { E[(Q_i(s, a) - y)^2] + w * ( E_s[ log sum_{a'} exp Q_i(s, a') ] - E_{s,a ~ D}[Q_i(s, a)] ) }
 *            y = r + gamma (1 - done) min_j Q_target_j(s', a'), a' ~ pi(s')            (no entropy backup, as CORL)
 *            The log-sum-exp over all actions is estimated by importance sampling (paper appendix F): N uniform
 *            actions (density 2^-A on [-1, 1]^A) and N actions each from pi(.|s) and pi(.|s'), each term minus its
 *            log-density.
 *   Lagrangian option (paper eq. 30): w becomes exp(log_alpha) * conservativeWeight, alpha is raised while the
 *            gap exceeds `targetActionGap` and lowered otherwise.
 *   actor:   L_pi = E[ temperature * log pi(a_pi|s) - min_i Q_i(s, a_pi) ]                         (SAC eq. 7)
 *   temperature: L = -E[ temperature * (log pi(a_pi|s) + target_entropy) ], target entropy -A        (SAC eq. 18)
 * Defaults follow d3rlpy: actor lr 1e-4, critic lr 3e-4, temperature/alpha lr 1e-4, weight 5.0, 10 sampled
 * actions, gap 10, tau 0.005.
 */
import { z } from "zod";
import { adam, op, polyak, tanhGaussian } from "../nn/index.js";
import type { Tensor } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, bellmanTarget, compileLearner, criticValues, gaussianHead, minOverCritics, normalNoise, transitionInputs, twinCritics } from "./common.js";
import { commonConfigShape } from "./config.js";

export const cqlSchema = z.strictObject({
  ...commonConfigShape,
  actorLearningRate: z.number().positive().default(1e-4),
  criticLearningRate: z.number().positive().default(3e-4),
  temperatureLearningRate: z.number().positive().default(1e-4),
  alphaLearningRate: z.number().positive().default(1e-4),
  tau: z.number().min(0).max(1).default(0.005),
  conservativeWeight: z.number().min(0).default(5.0),
  nActionSamples: z.number().int().min(1).default(10),
  initialTemperature: z.number().positive().default(1.0),
  lagrangian: z.boolean().default(false),
  initialAlpha: z.number().positive().default(1.0),
  targetActionGap: z.number().default(10.0),
});
export type CqlConfig = z.infer<typeof cqlSchema>;

export const cql: AlgorithmDefinition<CqlConfig> = {
  name: "cql",
  summary: "conservative Q-learning on SAC (optional Lagrangian alpha)",
  actionKind: "continuous",
  schema: cqlSchema,
  async build(config, context) {
    const { g, A, D, B, obs, action } = batchInputs("cql", "continuous", context, config.batchSize);
    const { reward, nextObs, done } = transitionInputs(g, B, D);
    const N = config.nActionSamples;
    const nextNoise = normalNoise(g, "next_noise", [B, A]);
    const policyNoise = normalNoise(g, "policy_noise", [B, A]);
    const randomActions = g.input("random_actions", [B * N, A]);
    const sampleNoise = normalNoise(g, "sample_noise", [B * N, A]);
    const nextSampleNoise = normalNoise(g, "next_sample_noise", [B * N, A]);

    const { critic, criticTarget } = twinCritics(g, D, A, config.hiddenSizes);
    const policy = gaussianHead(g, "actor", { obs: D, hidden: config.hiddenSizes, action: A }, "state");
    const logTemperature = g.param("log_temperature", [1], new Float32Array([Math.log(config.initialTemperature)]));
    const temperature = op.exp(logTemperature);

    // Bellman target with a' ~ pi(s').
    const next = policy.distribution(nextObs);
    const nextAction = op.stopGradient(tanhGaussian(next.mean, next.logStd, nextNoise).action);
    const target = bellmanTarget(reward, done, minOverCritics(criticValues(criticTarget, nextObs, nextAction)), config.gamma);
    const q = criticValues(critic, obs, action); // [2, B]
    const tdLoss = op.mul(2, op.mean(op.square(op.sub(q, target))));

    // Conservative term: importance-sampled log-sum-exp over actions (appendix F), per critic.
    const repeat = (x: Tensor): Tensor => {
      const width = x.shape[1];
      return op.reshape(op.broadcastTo(op.expandDims(x, 1), [B, N, width]), [B * N, width]);
    };
    const obsRepeated = repeat(obs);
    // The policy's distribution is computed once per state and repeated, not recomputed on N copies of it.
    const sampledAt = (distribution: { mean: Tensor; logStd: Tensor }, noise: Tensor) => {
      const s = tanhGaussian(repeat(distribution.mean), repeat(distribution.logStd), noise);
      return { action: op.stopGradient(s.action), logProb: op.stopGradient(s.logProb) };
    };
    const current = policy.distribution(obs);
    const fromCurrent = sampledAt(current, sampleNoise);
    const fromNext = sampledAt(next, nextSampleNoise);
    const perState = (values: Tensor): Tensor => op.reshape(values, [2, B, N]);
    const uniformLogDensity = -A * Math.log(2);
    const candidates = op.concat(
      [
        perState(op.sub(criticValues(critic, obsRepeated, randomActions), uniformLogDensity)),
        perState(op.sub(criticValues(critic, obsRepeated, fromCurrent.action), fromCurrent.logProb)),
        perState(op.sub(criticValues(critic, obsRepeated, fromNext.action), fromNext.logProb)),
      ],
      2,
    ); // [2, B, 3N]
    const gapPerCritic = op.mean(op.sub(op.logSumExp(candidates, [2]), q), [1]); // [2]
    let conservativeLoss: Tensor;
    let alphaOutput: Tensor | undefined;
    if (config.lagrangian) {
      const logAlpha = g.param("log_alpha", [1], new Float32Array([Math.log(config.initialAlpha)]));
      const alpha = op.clip(op.exp(logAlpha), 0, 1e6);
      const shortfall = op.sub(gapPerCritic, config.targetActionGap); // [2]
      conservativeLoss = op.sum(op.mul(op.mul(op.stopGradient(alpha), config.conservativeWeight), shortfall));
      // eq. 30: alpha maximises alpha * (gap - threshold), i.e. minimises its negation.
      const alphaLoss = op.neg(op.mean(op.mul(op.mul(alpha, config.conservativeWeight), op.stopGradient(shortfall))));
      adam(alphaLoss, [logAlpha], { lr: config.alphaLearningRate });
      alphaOutput = op.reshape(alpha, []);
    } else {
      conservativeLoss = op.mul(config.conservativeWeight, op.sum(gapPerCritic));
    }
    const criticLoss = op.add(tdLoss, conservativeLoss);

    // Actor and temperature (SAC).
    const sample = tanhGaussian(current.mean, current.logStd, policyNoise);
    const qPolicy = minOverCritics(criticValues(critic, obs, sample.action));
    const actorLoss = op.mean(op.sub(op.mul(op.stopGradient(temperature), sample.logProb), qPolicy));
    const temperatureLoss = op.neg(op.mean(op.mul(temperature, op.stopGradient(op.sub(sample.logProb, A)))));

    adam(criticLoss, critic.params, { lr: config.criticLearningRate });
    adam(actorLoss, policy.params, { lr: config.actorLearningRate });
    adam(temperatureLoss, [logTemperature], { lr: config.temperatureLearningRate });
    polyak(criticTarget.params, critic.params, config.tau, { afterUpdate: true });

    g.output("critic_loss", criticLoss);
    g.output("td_loss", tdLoss);
    g.output("conservative_loss", conservativeLoss);
    g.output("actor_loss", actorLoss);
    g.output("temperature", op.reshape(temperature, []));
    if (alphaOutput) g.output("alpha", alphaOutput);
    g.output("q_mean", op.mean(q));
    return compileLearner({
      graph: g,
      context,
      noise: [
        { name: "next_noise", distribution: "boxMuller" },
        { name: "policy_noise", distribution: "boxMuller" },
        { name: "random_actions", distribution: "uniform" },
        { name: "sample_noise", distribution: "boxMuller" },
        { name: "next_sample_noise", distribution: "boxMuller" },
      ],
      policy: { obs, output: policy.exportOutput(obs), name: "gaussian", kind: "gaussian" },
    });
  },
};
