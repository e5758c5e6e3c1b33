/**
 * Pendulum-v1, with Gymnasium's constants and rules. State (theta, theta_dot) with theta = 0 upright; observation
 * (cos theta, sin theta, theta_dot). Action: one torque in [-2, 2] (clipped). With g = 10, m = l = 1, dt = 0.05:
 * theta_dot' = clip(theta_dot + (3g/(2l) sin theta + 3/(m l^2) u) dt, -8, 8), theta' = theta + theta_dot' dt.
 * Reward -(normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), in [-16.27, 0]; never terminates; truncated at 200
 * steps. Reset: theta U(-pi, pi), theta_dot U(-1, 1). Hard because the torque cannot lift the pendulum directly.
 */
import { continuousAction, NO_INFO, type Action, type Env, type StepResult } from "./env.js";
import type { Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const MAX_SPEED = 8;
const MAX_TORQUE = 2.0;
const DT = 0.05;
const G = 10.0;
const M = 1.0;
const L = 1.0;

/** Python's ((x + pi) % (2 pi)) - pi, with a floored modulo. */
export function angleNormalize(x: number): number {
  const period = 2 * Math.PI;
  const shifted = x + Math.PI;
  return shifted - period * Math.floor(shifted / period) - Math.PI;
}

export class Pendulum implements Env {
  readonly name = "Pendulum-v1";
  readonly observationSpace = {
    dim: 3,
    names: ["cos_theta", "sin_theta", "theta_dot"],
    low: [-1, -1, -MAX_SPEED],
    high: [1, 1, MAX_SPEED],
  };
  readonly actionSpace = { kind: "continuous" as const, low: [-MAX_TORQUE], high: [MAX_TORQUE] };
  readonly rewardRange = { min: -(Math.PI ** 2 + 0.1 * MAX_SPEED ** 2 + 0.001 * MAX_TORQUE ** 2), max: 0 };
  readonly infoFields: readonly string[] = [];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  private theta = 0;
  private thetaDot = 0;
  private elapsed = 0;

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 200;
  }

  reset(seed: number): Float32Array {
    this.rng.seed(seed);
    this.theta = this.rng.uniformRange(-Math.PI, Math.PI);
    this.thetaDot = this.rng.uniformRange(-1, 1);
    this.elapsed = 0;
    return this.observe();
  }

  getState(): number[] {
    return [this.theta, this.thetaDot];
  }

  setState(state: ArrayLike<number>): void {
    this.theta = state[0]!;
    this.thetaDot = state[1]!;
    this.elapsed = 0;
  }

  step(action: Action): StepResult {
    // Gymnasium's action box is float32, so the torque is rounded to float32 before use.
    const u = Math.fround(Math.min(Math.max(continuousAction(action, 0, this.name), -MAX_TORQUE), MAX_TORQUE));
    const th = this.theta, thDot = this.thetaDot;
    const costs = angleNormalize(th) ** 2 + 0.1 * thDot ** 2 + 0.001 * u ** 2;
    let newThDot = thDot + ((3 * G) / (2 * L) * Math.sin(th) + (3.0 / (M * L ** 2)) * u) * DT;
    newThDot = Math.min(Math.max(newThDot, -MAX_SPEED), MAX_SPEED);
    this.theta = th + newThDot * DT;
    this.thetaDot = newThDot;
    this.elapsed++;
    return { observation: this.observe(), reward: -costs, terminated: false, truncated: this.elapsed >= this.maxEpisodeSteps, info: NO_INFO };
  }

  private observe(): Float32Array {
    const obs = new Float32Array(3);
    obs[0] = Math.cos(this.theta);
    obs[1] = Math.sin(this.theta);
    obs[2] = this.thetaDot;
    return obs;
  }
}

/** Swing up by pumping energy towards the upright level, then balance with a PD law near the top. */
export const pendulumController: Controller = {
  name: "heuristic",
  act(obs) {
    const out = new Float32Array(1);
    out[0] = pendulumTorque(obs);
    return out;
  },
};

function pendulumTorque(obs: Float32Array): number {
  const cosTheta = obs[0]!, sinTheta = obs[1]!, thetaDot = obs[2]!;
  const theta = Math.atan2(sinTheta, cosTheta);
  if (cosTheta > 0.85) return Math.min(Math.max(-(10 * theta + 2 * thetaDot), -MAX_TORQUE), MAX_TORQUE);
  // Energy relative to upright rest (per unit inertia): 0.5 thetaDot^2 + (3g/2l)(cos theta - 1).
  const energy = 0.5 * thetaDot * thetaDot + ((3 * G) / (2 * L)) * (cosTheta - 1);
  if (energy < 0) return thetaDot >= 0 ? MAX_TORQUE : -MAX_TORQUE;
  return 0;
}
