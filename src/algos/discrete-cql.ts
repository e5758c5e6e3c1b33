/**
 * Discrete CQL (Kumar et al. 2020), the CQL(H) variant on a double-DQN learner:
 *   min_Q  alpha * E_s[ log sum_a exp Q(s, a) - E_{a ~ D} Q(s, a) ]  +  TD loss       (CQL paper eq. 4)
 * The conservative term pushes down the soft maximum over all actions and pushes up the logged action, so actions
 * the data never shows end up with low values. alpha 1.0 as in d3rlpy's DiscreteCQL.
 */
import { z } from "zod";
import { op } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { dqnConfigShape, buildQLearning, finishQLearning, hardTargetPeriods } from "./dqn.js";

export const discreteCqlSchema = z.strictObject({
  ...dqnConfigShape,
  alpha: z.number().min(0).default(1.0),
});
export type DiscreteCqlConfig = z.infer<typeof discreteCqlSchema>;

export const discreteCql: AlgorithmDefinition<DiscreteCqlConfig> = {
  name: "discrete_cql",
  summary: "conservative Q-learning, CQL(H) on double DQN",
  actionKind: "discrete",
  schema: discreteCqlSchema,
  stepPeriods: hardTargetPeriods,
  async build(config, context) {
    const parts = buildQLearning(config, context, true);
    const conservative = op.mean(op.sub(op.logSumExp(parts.qAll, [1]), parts.qData)); // eq. 4, inner term
    const loss = op.add(parts.tdLoss, op.mul(config.alpha, conservative));
    parts.g.output("td_loss", parts.tdLoss);
    parts.g.output("conservative_loss", conservative);
    return finishQLearning(config, context, parts, loss);
  },
};
