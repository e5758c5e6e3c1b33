/**
 * Offline DQN (Mnih et al. 2015) and double DQN (van Hasselt et al. 2016) on a fixed dataset.
 *   DQN target:        y = r + gamma (1 - done) max_a' Q_target(s', a')
 *   double DQN target: y = r + gamma (1 - done) Q_target(s', argmax_a' Q(s', a'))      (van Hasselt eq. 4)
 *   loss: Huber(Q(s, a) - y) (the Nature paper's error clipping) or squared error.
 * The target network follows the online one by Polyak averaging (tau) or by hard copies every
 * `targetUpdateInterval` steps when that is set (the Nature paper's C).
 */
import { z } from "zod";
import { adam, mlp, op, polyak } from "../nn/index.js";
import type { Tensor } from "../nn/index.js";
import type { AlgorithmDefinition, LearnerContext } from "./algorithm.js";
import { batchInputs, bellmanTarget, compileLearner, huber, valueOfAction, transitionInputs } from "./common.js";
import { commonConfigShape } from "./config.js";

export const dqnConfigShape = {
  ...commonConfigShape,
  learningRate: z.number().positive().default(1e-4),
  /** Polyak rate for the target network; ignored when targetUpdateInterval > 0. */
  tau: z.number().min(0).max(1).default(0.005),
  /** > 0: hard-copy the target network every this many steps instead of Polyak averaging. */
  targetUpdateInterval: z.number().int().min(0).default(0),
  loss: z.enum(["huber", "mse"]).default("huber"),
  maxGradNorm: z.number().positive().optional(),
};
export const dqnSchema = z.strictObject(dqnConfigShape);
export type DqnConfig = z.infer<typeof dqnSchema>;

/** The Q network, its target, and the TD pieces every DQN-family algorithm shares. */
export function buildQLearning(config: DqnConfig, context: LearnerContext, double: boolean) {
  const { g, B, D, n, obs, action } = batchInputs(double ? "double_dqn" : "dqn", "discrete", context, config.batchSize);
  const { reward, nextObs, done } = transitionInputs(g, B, D);
  const q = mlp(g, "q", [D, ...config.hiddenSizes, n]);
  const qTarget = mlp(g, "q_target", [D, ...config.hiddenSizes, n], { copyOf: q });

  const qAll = q.apply(obs); // [B, n]
  const qData = valueOfAction(qAll, action); // Q(s, a) for logged a
  const nextTargetAll = qTarget.apply(nextObs);
  const nextValue = double
    ? valueOfAction(nextTargetAll, op.argMax(q.apply(nextObs), 1)) // evaluate the online argmax with the target
    : op.max(nextTargetAll, [1]);
  const target = bellmanTarget(reward, done, nextValue, config.gamma);
  const error = op.sub(qData, target);
  const tdLoss = op.mean(config.loss === "huber" ? huber(error) : op.square(error));
  return { g, obs, action, qAll, qData, tdLoss, q, qTarget };
}

/** Hard target copies happen between calls, so K steps per call must divide their period. */
export function hardTargetPeriods(config: DqnConfig): number[] {
  return config.targetUpdateInterval > 0 ? [config.targetUpdateInterval] : [];
}

/** Optimizer and target updates, shared by DQN, double DQN and the conservative variants. */
export function finishQLearning(
  config: DqnConfig,
  context: LearnerContext,
  parts: ReturnType<typeof buildQLearning>,
  loss: Tensor,
  policyOutput?: Tensor,
) {
  const { g, q, qTarget, obs, qAll } = parts;
  adam(loss, q.params, { lr: config.learningRate, ...(config.maxGradNorm ? { maxGradNorm: config.maxGradNorm } : {}) });
  let hardTargets: { every: number; pairs: Array<[string, string]> } | undefined;
  if (config.targetUpdateInterval > 0) {
    hardTargets = {
      every: config.targetUpdateInterval,
      pairs: qTarget.params.map((target, i) => [g.paramInfo(target).name, g.paramInfo(q.params[i]).name] as [string, string]),
    };
  } else {
    polyak(qTarget.params, q.params, config.tau, { afterUpdate: true });
  }
  g.output("loss", loss);
  g.output("q_mean", op.mean(parts.qData));
  return compileLearner({ graph: g, context, hardTargets, policy: { obs, output: policyOutput ?? qAll, name: "q", kind: "q" } });
}

function definition(name: string, double: boolean): AlgorithmDefinition<DqnConfig> {
  return {
    name,
    summary: double ? "double DQN (offline)" : "DQN (offline)",
    actionKind: "discrete",
    schema: dqnSchema,
    stepPeriods: hardTargetPeriods,
    async build(config, context) {
      const parts = buildQLearning(config, context, double);
      parts.g.output("td_loss", parts.tdLoss);
      return finishQLearning(config, context, parts, parts.tdLoss);
    },
  };
}

export const dqn = definition("dqn", false);
export const doubleDqn = definition("double_dqn", true);
