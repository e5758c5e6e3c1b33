import type { Tensor } from "./graph.js";
import * as op from "./ops.js";

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log N(x; mean, exp(logStd)^2) summed over the last axis (diagonal Gaussian). */
export function gaussianLogProb(x: Tensor, mean: Tensor, logStd: Tensor): Tensor {
  const z = op.div(op.sub(x, mean), op.exp(logStd));
  const perDim = op.sub(op.neg(op.add(op.mul(op.square(z), 0.5), logStd)), HALF_LOG_2PI);
  return op.sum(perDim, [-1]);
}

/**
 * log(1 - tanh(u)^2) computed stably as 2 (log 2 - u - softplus(-2u)) (the SAC appendix C correction, in the
 * form used by Spinning Up).
 */
export function logTanhJacobian(u: Tensor): Tensor {
  return op.mul(op.sub(op.sub(Math.LN2, u), op.softplus(op.mul(u, -2))), 2);
}

/**
 * Reparameterised tanh-Gaussian sample (SAC): u = mean + exp(logStd) * noise, action = tanh(u),
 * logProb = log N(u) - sum log(1 - tanh(u)^2). `noise` is a standard-normal input drawn from a seeded Rng.
 */
export function tanhGaussian(mean: Tensor, logStd: Tensor, noise: Tensor): { action: Tensor; logProb: Tensor; preTanh: Tensor } {
  const u = op.add(mean, op.mul(op.exp(logStd), noise));
  const logProb = op.sub(gaussianLogProb(u, mean, logStd), op.sum(logTanhJacobian(u), [-1]));
  return { action: op.tanh(u), logProb, preTanh: u };
}

/** atanh(x) = 0.5 log((1 + x) / (1 - x)). */
export function atanh(x: Tensor): Tensor {
  return op.mul(op.log(op.div(op.add(x, 1), op.sub(1, x))), 0.5);
}

/**
 * Log-density of given actions in [-1, 1] under a tanh-Gaussian policy (AWAC/IQL/BC with dataset actions).
 * Actions are clipped to [-1 + eps, 1 - eps] before atanh.
 */
export function tanhGaussianLogProb(action: Tensor, mean: Tensor, logStd: Tensor, eps = 1e-6): Tensor {
  const u = atanh(op.clip(action, -1 + eps, 1 - eps));
  return op.sub(gaussianLogProb(u, mean, logStd), op.sum(logTanhJacobian(u), [-1]));
}
