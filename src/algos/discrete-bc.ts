/**
 * Discrete behaviour cloning: maximum-likelihood imitation of the logged actions with a softmax policy.
 * Loss (per minibatch): cross-entropy  -E[log pi(a|s)]  plus  beta * E[logits^2]  (d3rlpy's logit penalty, which
 * keeps the logits from growing without bound on perfectly separable data).
 */
import { z } from "zod";
import { adam, mlp, op } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, compileLearner, valueOfAction } from "./common.js";
import { commonConfigShape } from "./config.js";

export const discreteBcSchema = z.strictObject({
  ...commonConfigShape,
  learningRate: z.number().positive().default(1e-3),
  beta: z.number().min(0).default(0.5),
});
export type DiscreteBcConfig = z.infer<typeof discreteBcSchema>;

export const discreteBc: AlgorithmDefinition<DiscreteBcConfig> = {
  name: "discrete_bc",
  summary: "behaviour cloning, softmax policy (cross-entropy)",
  actionKind: "discrete",
  schema: discreteBcSchema,
  async build(config, context) {
    const { g, n, obs, action } = batchInputs("discrete_bc", "discrete", context, config.batchSize);
    const policy = mlp(g, "policy", [context.observationDim, ...config.hiddenSizes, n]);

    const logits = policy.apply(obs); // [B, n]
    const logLikelihood = op.sub(valueOfAction(logits, action), op.logSumExp(logits, [1])); // log pi(a|s)
    const crossEntropy = op.neg(op.mean(logLikelihood));
    const loss = op.add(crossEntropy, op.mul(config.beta, op.mean(op.square(logits))));
    adam(loss, policy.params, { lr: config.learningRate });

    const accuracy = op.mean(op.cast(op.equal(op.argMax(logits, 1), action), "float32"));
    g.output("loss", loss);
    g.output("bc_loss", crossEntropy);
    g.output("accuracy", accuracy);
    return compileLearner({ graph: g, context, policy: { obs, output: logits, name: "logits", kind: "logits" } });
  },
};
