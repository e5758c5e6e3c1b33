/**
 * IQL: Implicit Q-Learning (Kostrikov, Nair & Levine 2022). Never queries Q on actions outside the data.
 *   L_V(psi)   = E[ L2^tau( min_i Q_target_i(s, a) - V(s) ) ],  L2^tau(u) = |tau - 1(u < 0)| u^2     (eq. 5)
 *   L_Q(theta) = E[ (r + gamma (1 - done) V(s') - Q_i(s, a))^2 ]  for each critic                     (eq. 6)
 *   L_pi(phi)  = -E[ exp(beta (min_i Q_target_i(s, a) - V(s))) log pi(a|s) ], weights clipped at 100  (eq. 7)
 * Defaults follow the paper and CORL: expectile tau 0.7, inverse temperature beta 3.0, Polyak 0.005, lr 3e-4, rewards
 * scaled by 1000 / (max return - min return). The policy is a Gaussian N(tanh(f(s)), exp(log_std)^2) with a learned
 * log-std vector, as in the paper's code, CORL and d3rlpy: eq. 7's log-likelihood is that Normal's at the logged
 * action (no tanh change of variables); the greedy action tanh(f(s)) is what the artifact serves.
 * The actor's learning rate follows a cosine decay to 0 over the run (`actorLrSchedule`, CosineAnnealingLR in CORL and
 * the paper's code, T_max = the run's length unless `actorLrDecaySteps`; "constant" is d3rlpy's default). Resuming
 * with the same --steps is bit-for-bit; extending a run with a larger --steps stretches the remaining schedule.
 * V, Q and pi update simultaneously from the same minibatch; the target critics follow after the update.
 */
import { z } from "zod";
import { adam, gaussianLogProb, mlp, op, polyak } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, bellmanTarget, compileLearner, cosineLearningRate, criticValues, gaussianHead, minOverCritics, transitionInputs, twinCritics } from "./common.js";
import { commonConfigShape } from "./config.js";

export const iqlSchema = z.strictObject({
  ...commonConfigShape,
  rewardScaling: z.enum(["none", "standard", "return_range"]).default("return_range"),
  actorLearningRate: z.number().positive().default(3e-4),
  criticLearningRate: z.number().positive().default(3e-4),
  valueLearningRate: z.number().positive().default(3e-4),
  tau: z.number().min(0).max(1).default(0.005),
  expectile: z.number().gt(0).lt(1).default(0.7),
  beta: z.number().min(0).default(3.0),
  maxWeight: z.number().positive().default(100),
  actorLrSchedule: z.enum(["cosine", "constant"]).default("cosine"),
  /** The cosine's horizon T_max in gradient steps; default the run's length (CORL: max_timesteps). */
  actorLrDecaySteps: z.number().int().positive().optional(),
});
export type IqlConfig = z.infer<typeof iqlSchema>;

export const iql: AlgorithmDefinition<IqlConfig> = {
  name: "iql",
  summary: "implicit Q-learning (expectile value, advantage-weighted policy)",
  actionKind: "continuous",
  schema: iqlSchema,
  async build(config, context) {
    const { g, A, D, B, obs, action } = batchInputs("iql", "continuous", context, config.batchSize);
    const { reward, nextObs, done } = transitionInputs(g, B, D);

    const { critic, criticTarget } = twinCritics(g, D, A, config.hiddenSizes);
    const value = mlp(g, "value", [D, ...config.hiddenSizes, 1]);
    const policy = gaussianHead(g, "actor", { obs: D, hidden: config.hiddenSizes, action: A }, "parameter");

    // eq. 5: expectile regression of V towards the target critics' value of the logged action.
    const qTarget = op.stopGradient(minOverCritics(criticValues(criticTarget, obs, action))); // [B]
    const v = op.reshape(value.apply(obs), [B]);
    const advantage = op.sub(qTarget, v);
    const expectileWeight = op.where(op.less(advantage, 0), 1 - config.expectile, config.expectile);
    const valueLoss = op.mean(op.mul(op.stopGradient(expectileWeight), op.square(advantage)));

    // eq. 6: critics regress on r + gamma V(s').
    const target = bellmanTarget(reward, done, op.reshape(value.apply(nextObs), [B]), config.gamma);
    const q = criticValues(critic, obs, action); // [2, B]
    const criticLoss = op.mean(op.square(op.sub(q, target))); // mean over both critics, as CORL

    // eq. 7: advantage-weighted regression of the policy onto the logged actions.
    const weights = op.stopGradient(op.minimum(op.exp(op.mul(config.beta, advantage)), config.maxWeight));
    const { mean, logStd } = policy.distribution(obs);
    const logProb = gaussianLogProb(action, op.tanh(mean), logStd);
    const actorLoss = op.neg(op.mean(op.mul(weights, logProb)));

    adam(valueLoss, value.params, { lr: config.valueLearningRate });
    adam(criticLoss, critic.params, { lr: config.criticLearningRate });
    const cosine = config.actorLrSchedule === "cosine";
    adam(actorLoss, policy.params, { lr: cosine ? g.input("actor_lr", [1]) : config.actorLearningRate });
    polyak(criticTarget.params, critic.params, config.tau, { afterUpdate: true });

    g.output("value_loss", valueLoss);
    g.output("critic_loss", criticLoss);
    g.output("actor_loss", actorLoss);
    g.output("q_mean", op.mean(q));
    g.output("advantage_mean", op.mean(advantage));
    return compileLearner({
      graph: g,
      context,
      perStepValues: cosine ? [{ name: "actor_lr", value: (step) => cosineLearningRate(config.actorLearningRate, config.actorLrDecaySteps ?? context.totalSteps, step) }] : [],
      policy: { obs, output: policy.exportOutput(obs), name: "gaussian", kind: "gaussian" },
    });
  },
};
