/**
 * TD3+BC (Fujimoto & Gu 2021, "A Minimalist Approach to Offline Reinforcement Learning").
 * Critic (TD3, Fujimoto et al. 2018 eqs. 14-15): target policy smoothing and clipped double Q,
 *   a' = clip(pi_target(s') + clip(sigma * eps, -c, c), -1, 1),  y = r + gamma (1 - done) min_i Q_target_i(s', a')
 *   L_Q = sum_i E[(Q_i(s, a) - y)^2]
 * Actor, every `policyFrequency` steps (TD3+BC eq. 3 with lambda from eq. 4), on the critic as updated by this
 * step's critic update (the reference code calls the actor loss after critic_optimizer.step()):
 *   lambda = alpha / (1/N sum |Q_1(s, pi(s))|)   (no gradient)
 *   L_pi = -lambda E[Q_1(s, pi(s))] + E[(pi(s) - a)^2]
 * Targets (actor and critics) follow by Polyak averaging, after both updates, on the same delayed schedule.
 * Defaults are the paper's: alpha 2.5, sigma 0.2, c 0.5, delay 2, tau 0.005, lr 3e-4, standardised states.
 */
import { z } from "zod";
import { adam, gated, mlp, op, polyak } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, bellmanTarget, compileLearner, criticMemberValues, criticValues, minOverCritics, normalNoise, transitionInputs, twinCritics, updatedCritic } from "./common.js";
import { commonConfigShape } from "./config.js";

export const td3bcSchema = z.strictObject({
  ...commonConfigShape,
  actorLearningRate: z.number().positive().default(3e-4),
  criticLearningRate: z.number().positive().default(3e-4),
  tau: z.number().min(0).max(1).default(0.005),
  alpha: z.number().min(0).default(2.5),
  policyNoise: z.number().min(0).default(0.2),
  noiseClip: z.number().min(0).default(0.5),
  policyFrequency: z.number().int().min(1).default(2),
});
export type Td3bcConfig = z.infer<typeof td3bcSchema>;

export const td3bc: AlgorithmDefinition<Td3bcConfig> = {
  name: "td3bc",
  summary: "TD3 with a behaviour-cloning term (deterministic policy)",
  actionKind: "continuous",
  schema: td3bcSchema,
  async build(config, context) {
    const { g, A, D, B, obs, action } = batchInputs("td3bc", "continuous", context, config.batchSize);
    const { reward, nextObs, done } = transitionInputs(g, B, D);
    const targetNoise = normalNoise(g, "target_noise", [B, A]);
    const updateActor = g.input("update_actor", [1]);

    const actor = mlp(g, "actor", [D, ...config.hiddenSizes, A], { outputActivation: "tanh" });
    const actorTarget = mlp(g, "actor_target", [D, ...config.hiddenSizes, A], { copyOf: actor });
    const { critic, criticTarget } = twinCritics(g, D, A, config.hiddenSizes);

    // Critic: target policy smoothing + clipped double Q.
    const smoothing = op.clip(op.mul(targetNoise, config.policyNoise), -config.noiseClip, config.noiseClip);
    const nextAction = op.clip(op.add(actorTarget.apply(nextObs), smoothing), -1, 1);
    const target = bellmanTarget(reward, done, minOverCritics(criticValues(criticTarget, nextObs, nextAction)), config.gamma);
    const qData = criticValues(critic, obs, action); // [2, B]
    const criticLoss = op.mul(2, op.mean(op.square(op.sub(qData, target)))); // sum over the two critics
    adam(criticLoss, critic.params, { lr: config.criticLearningRate });

    // Actor (delayed): lambda-weighted Q plus behaviour cloning, on the freshly updated Q_1 (as the reference code).
    const policyAction = actor.apply(obs);
    const qPolicy = criticMemberValues(updatedCritic(g, critic), 0, obs, policyAction);
    const lambda = op.stopGradient(op.div(config.alpha, op.mean(op.abs(qPolicy))));
    const bcLoss = op.mean(op.square(op.sub(policyAction, action)));
    const actorLoss = op.add(op.neg(op.mul(lambda, op.mean(qPolicy))), bcLoss);
    // `when`: on other steps the actor, its Adam state and both targets keep their values exactly.
    adam(actorLoss, actor.params, { lr: config.actorLearningRate, when: updateActor });
    polyak(criticTarget.params, critic.params, config.tau, { afterUpdate: true, when: updateActor });
    polyak(actorTarget.params, actor.params, config.tau, { afterUpdate: true, when: updateActor });

    g.output("critic_loss", criticLoss);
    // Reported on actor steps only, so the actor's forward pass and Q_1(s, pi(s)) run inside the same If.
    g.output("actor_loss", gated(updateActor, actorLoss, Number.NaN));
    g.output("bc_loss", gated(updateActor, bcLoss, Number.NaN));
    g.output("q_mean", op.mean(qData));
    return compileLearner({
      graph: g,
      context,
      noise: [{ name: "target_noise", distribution: "boxMuller" }],
      schedules: [{ name: "update_actor", every: config.policyFrequency }],
      gatedOutputs: { actor_loss: "update_actor", bc_loss: "update_actor" },
      policy: { obs, output: policyAction, name: "action", kind: "action" },
    });
  },
};
