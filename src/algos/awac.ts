/**
 * AWAC: Advantage-Weighted Actor-Critic (Nair, Gupta, Dalal & Levine 2020), offline.
 *   critic: a' ~ pi(s'),  y = r + gamma (1 - done) min_i Q_target_i(s', a'),  L_Q = sum_i E[(Q_i(s, a) - y)^2]
 *   actor:  A(s, a) = min_i Q_i(s, a) - min_i Q_i(s, a_pi), a_pi ~ pi(s)   (a one-sample estimate of V(s)),
 *           Q being the critic after this step's update (CORL and d3rlpy update the critic, then the actor)
 *           L_pi = -E[ exp(A(s, a) / lambda) log pi(a|s) ], weights clipped at 100                      (eq. 13)
 * Defaults follow CORL: lambda 1.0, lr 3e-4, tau 0.005; tanh-squashed Gaussian with a learned log-std vector.
 */
import { z } from "zod";
import { adam, op, polyak, tanhGaussian, tanhGaussianLogProb } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, bellmanTarget, compileLearner, criticValues, criticValuesWith, gaussianHead, minOverCritics, normalNoise, transitionInputs, twinCritics, updatedCritic } from "./common.js";
import { commonConfigShape } from "./config.js";

export const awacSchema = z.strictObject({
  ...commonConfigShape,
  actorLearningRate: z.number().positive().default(3e-4),
  criticLearningRate: z.number().positive().default(3e-4),
  tau: z.number().min(0).max(1).default(0.005),
  lambda: z.number().positive().default(1.0),
  maxWeight: z.number().positive().default(100),
});
export type AwacConfig = z.infer<typeof awacSchema>;

export const awac: AlgorithmDefinition<AwacConfig> = {
  name: "awac",
  summary: "advantage-weighted actor-critic",
  actionKind: "continuous",
  schema: awacSchema,
  async build(config, context) {
    const { g, A, D, B, obs, action } = batchInputs("awac", "continuous", context, config.batchSize);
    const { reward, nextObs, done } = transitionInputs(g, B, D);
    const nextNoise = normalNoise(g, "next_noise", [B, A]);
    const policyNoise = normalNoise(g, "policy_noise", [B, A]);

    const { critic, criticTarget } = twinCritics(g, D, A, config.hiddenSizes);
    const policy = gaussianHead(g, "actor", { obs: D, hidden: config.hiddenSizes, action: A }, "parameter");

    // Critic: bootstrap from an action sampled from the current policy.
    const next = policy.distribution(nextObs);
    const nextAction = op.stopGradient(tanhGaussian(next.mean, next.logStd, nextNoise).action);
    const target = bellmanTarget(reward, done, minOverCritics(criticValues(criticTarget, nextObs, nextAction)), config.gamma);
    const q = criticValues(critic, obs, action);
    const criticLoss = op.mul(2, op.mean(op.square(op.sub(q, target))));

    adam(criticLoss, critic.params, { lr: config.criticLearningRate });

    // Actor (eq. 13): weight the logged actions' log-likelihood by exp(advantage / lambda), on the updated critic.
    const current = policy.distribution(obs);
    const sampled = op.stopGradient(tanhGaussian(current.mean, current.logStd, policyNoise).action);
    const criticAfter = updatedCritic(g, critic);
    // Logged and sampled actions through the updated twin critic in one pass: [2, 2B] -> min -> [2B].
    const both = minOverCritics(criticValuesWith(criticAfter, op.concat([obs, obs], 0), op.concat([action, sampled], 0)));
    const advantage = op.stopGradient(op.sub(op.slice(both, 0, 0, B), op.slice(both, 0, B, 2 * B)));
    const weights = op.minimum(op.exp(op.div(advantage, config.lambda)), config.maxWeight);
    const logProb = tanhGaussianLogProb(action, current.mean, current.logStd, 1e-3);
    const actorLoss = op.neg(op.mean(op.mul(weights, logProb)));

    adam(actorLoss, policy.params, { lr: config.actorLearningRate });
    polyak(criticTarget.params, critic.params, config.tau, { afterUpdate: true });

    g.output("critic_loss", criticLoss);
    g.output("actor_loss", actorLoss);
    g.output("q_mean", op.mean(q));
    g.output("advantage_mean", op.mean(advantage));
    return compileLearner({
      graph: g,
      context,
      noise: [
        { name: "next_noise", distribution: "boxMuller" },
        { name: "policy_noise", distribution: "boxMuller" },
      ],
      policy: { obs, output: policy.exportOutput(obs), name: "gaussian", kind: "gaussian" },
    });
  },
};
