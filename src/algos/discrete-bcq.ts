/**
 * Discrete BCQ (Fujimoto et al. 2019, "Benchmarking Batch Deep Reinforcement Learning Algorithms", Alg. 1).
 * Chosen over discrete IQL because it is the method designed for discrete actions: a learned imitation model
 * G(a|s) restricts the max in the Bellman target to actions the data supports, with one interpretable knob
 * (threshold tau), no policy-extraction step, and the exported policy is simply a masked Q-network.
 *   allowed(s) = { a : G(a|s) / max_a' G(a'|s) > threshold }                                   (eq. 11)
 *   a' = argmax_{a in allowed(s')} Q(s', a);  y = r + gamma (1 - done) Q_target(s', a')          (eq. 12)
 *   loss = Huber(Q(s, a) - y) + CE(G(.|s), a) + beta * E[logits^2]
 * Serving exports Q(s, .) with disallowed actions set to -1e9, so greedy and softmax exploration stay in support.
 */
import { z } from "zod";
import { adam, mlp, op, polyak } from "../nn/index.js";
import type { Tensor } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, bellmanTarget, compileLearner, huber, valueOfAction, transitionInputs } from "./common.js";
import { dqnConfigShape, hardTargetPeriods } from "./dqn.js";

export const discreteBcqSchema = z.strictObject({
  ...dqnConfigShape,
  threshold: z.number().min(0).max(1).default(0.3),
  beta: z.number().min(0).default(0.01),
});
export type DiscreteBcqConfig = z.infer<typeof discreteBcqSchema>;

const DISALLOWED = -1e9;

export const discreteBcq: AlgorithmDefinition<DiscreteBcqConfig> = {
  name: "discrete_bcq",
  summary: "batch-constrained Q-learning for discrete actions",
  actionKind: "discrete",
  schema: discreteBcqSchema,
  stepPeriods: hardTargetPeriods,
  async build(config, context) {
    const { g, B, D, n, obs, action } = batchInputs("discrete_bcq", "discrete", context, config.batchSize);
    const { reward, nextObs, done } = transitionInputs(g, B, D);
    const q = mlp(g, "q", [D, ...config.hiddenSizes, n]);
    const qTarget = mlp(g, "q_target", [D, ...config.hiddenSizes, n], { copyOf: q });
    const imitation = mlp(g, "imitation", [D, ...config.hiddenSizes, n]);

    // eq. 11: keep actions whose relative behaviour probability exceeds the threshold (in log space).
    const restrict = (states: Tensor, values: Tensor): Tensor => {
      const logProbs = op.logSoftmax(imitation.apply(states), 1);
      const relative = op.sub(logProbs, op.max(logProbs, [1], true));
      return op.where(op.greater(relative, Math.log(Math.max(config.threshold, 1e-12))), values, DISALLOWED);
    };

    const qAll = q.apply(obs);
    const qData = valueOfAction(qAll, action);
    const nextAction = op.argMax(op.stopGradient(restrict(nextObs, q.apply(nextObs))), 1); // eq. 12
    const target = bellmanTarget(reward, done, valueOfAction(qTarget.apply(nextObs), nextAction), config.gamma);
    const error = op.sub(qData, target);
    const tdLoss = op.mean(config.loss === "huber" ? huber(error) : op.square(error));

    const logits = imitation.apply(obs);
    const imitationLoss = op.sub(op.mean(op.logSumExp(logits, [1])), op.mean(valueOfAction(logits, action)));
    const imitationTotal = op.add(imitationLoss, op.mul(config.beta, op.mean(op.square(logits))));

    const clip = config.maxGradNorm ? { maxGradNorm: config.maxGradNorm } : {};
    adam(tdLoss, q.params, { lr: config.learningRate, ...clip });
    adam(imitationTotal, imitation.params, { lr: config.learningRate, ...clip });
    let hardTargets: { every: number; pairs: Array<[string, string]> } | undefined;
    if (config.targetUpdateInterval > 0) {
      hardTargets = {
        every: config.targetUpdateInterval,
        pairs: qTarget.params.map((t, i) => [g.paramInfo(t).name, g.paramInfo(q.params[i]).name] as [string, string]),
      };
    } else {
      polyak(qTarget.params, q.params, config.tau, { afterUpdate: true });
    }

    g.output("loss", op.add(tdLoss, imitationTotal));
    g.output("td_loss", tdLoss);
    g.output("imitation_loss", imitationLoss);
    g.output("q_mean", op.mean(qData));
    const servedQ = restrict(obs, qAll);
    return compileLearner({ graph: g, context, hardTargets, policy: { obs, output: servedQ, name: "q", kind: "q" } });
  },
};
