/**
 * Continuous behaviour cloning, two policy types:
 *   deterministic: pi(s) = tanh(f(s)),  L = E[(pi(s) - a)^2]                       (regression onto logged actions)
 *   gaussian:      tanh-squashed Gaussian with state-dependent std,  L = -E[log pi(a|s)]   (maximum likelihood)
 * Actions are in the network's [-1, 1] box (min-max scaled from the dataset's action space). d3rlpy defaults:
 * lr 1e-3, deterministic policy.
 */
import { z } from "zod";
import { adam, mlp, op, tanhGaussianLogProb } from "../nn/index.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import { batchInputs, compileLearner, gaussianHead } from "./common.js";
import { commonConfigShape } from "./config.js";

export const bcSchema = z.strictObject({
  ...commonConfigShape,
  learningRate: z.number().positive().default(1e-3),
  policyType: z.enum(["deterministic", "gaussian"]).default("deterministic"),
});
export type BcConfig = z.infer<typeof bcSchema>;

export const bc: AlgorithmDefinition<BcConfig> = {
  name: "bc",
  summary: "behaviour cloning (deterministic regression or Gaussian likelihood)",
  actionKind: "continuous",
  schema: bcSchema,
  async build(config, context) {
    const { g, A, D, B, obs, action } = batchInputs("bc", "continuous", context, config.batchSize);

    if (config.policyType === "deterministic") {
      const actor = mlp(g, "actor", [D, ...config.hiddenSizes, A], { outputActivation: "tanh" });
      const predicted = actor.apply(obs);
      const loss = op.mean(op.square(op.sub(predicted, action)));
      adam(loss, actor.params, { lr: config.learningRate });
      g.output("loss", loss);
      return compileLearner({ graph: g, context, policy: { obs, output: predicted, name: "action", kind: "action" } });
    }
    const policy = gaussianHead(g, "actor", { obs: D, hidden: config.hiddenSizes, action: A }, "state");
    const { mean, logStd } = policy.distribution(obs);
    const loss = op.neg(op.mean(tanhGaussianLogProb(action, mean, logStd, 1e-3)));
    adam(loss, policy.params, { lr: config.learningRate });
    g.output("loss", loss);
    g.output("log_std_mean", op.mean(logStd));
    return compileLearner({ graph: g, context, policy: { obs, output: policy.exportOutput(obs), name: "gaussian", kind: "gaussian" } });
  },
};
