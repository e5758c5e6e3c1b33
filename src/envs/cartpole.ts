/**
 * CartPole-v1 (Barto, Sutton & Anderson 1983), with Gymnasium's constants and rules.
 * State (x, x_dot, theta, theta_dot), kept in float64 and observed as float32. Actions: 0 push left, 1 push right
 * (10 N). Euler integration with tau = 0.02 s. Terminates when |x| > 2.4 or |theta| > 12 degrees; reward +1 for
 * every step including the terminating one (0 if stepped beyond it); truncated at 500 steps. Reset draws each state entry from U(-0.05, 0.05)
 * with Hindcast's own generator, so trajectories match Gymnasium's equations but not its numpy seeds.
 */
import { discreteAction, NO_INFO, type Action, type Env, type StepResult } from "./env.js";
import type { Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const GRAVITY = 9.8;
const MASS_CART = 1.0;
const MASS_POLE = 0.1;
const TOTAL_MASS = MASS_POLE + MASS_CART;
const LENGTH = 0.5; // half the pole's length
const POLE_MASS_LENGTH = MASS_POLE * LENGTH;
const FORCE_MAG = 10.0;
const TAU = 0.02;
const THETA_THRESHOLD = (12 * 2 * Math.PI) / 360;
const X_THRESHOLD = 2.4;

export class CartPole implements Env {
  readonly name = "CartPole-v1";
  readonly observationSpace = {
    dim: 4,
    names: ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"],
    low: [-X_THRESHOLD * 2, -Infinity, -THETA_THRESHOLD * 2, -Infinity],
    high: [X_THRESHOLD * 2, Infinity, THETA_THRESHOLD * 2, Infinity],
  };
  readonly actionSpace = { kind: "discrete" as const, n: 2 };
  readonly rewardRange = { min: 0, max: 1 };
  readonly infoFields: readonly string[] = [];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  private x = 0;
  private xDot = 0;
  private theta = 0;
  private thetaDot = 0;
  private elapsed = 0;
  private terminatedBefore = false;

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 500;
  }

  reset(seed: number): Float32Array {
    this.rng.seed(seed);
    this.x = this.rng.uniformRange(-0.05, 0.05);
    this.xDot = this.rng.uniformRange(-0.05, 0.05);
    this.theta = this.rng.uniformRange(-0.05, 0.05);
    this.thetaDot = this.rng.uniformRange(-0.05, 0.05);
    this.elapsed = 0;
    this.terminatedBefore = false;
    return this.observe();
  }

  /** The float64 state (x, x_dot, theta, theta_dot). */
  getState(): number[] {
    return [this.x, this.xDot, this.theta, this.thetaDot];
  }

  setState(state: ArrayLike<number>): void {
    this.x = state[0]!;
    this.xDot = state[1]!;
    this.theta = state[2]!;
    this.thetaDot = state[3]!;
    this.elapsed = 0;
    this.terminatedBefore = false;
  }

  step(action: Action): StepResult {
    const a = discreteAction(action, 2, this.name);
    const force = a === 1 ? FORCE_MAG : -FORCE_MAG;
    const cosTheta = Math.cos(this.theta);
    const sinTheta = Math.sin(this.theta);
    const temp = (force + POLE_MASS_LENGTH * this.thetaDot * this.thetaDot * sinTheta) / TOTAL_MASS;
    const thetaAcc = (GRAVITY * sinTheta - cosTheta * temp) / (LENGTH * (4.0 / 3.0 - (MASS_POLE * cosTheta * cosTheta) / TOTAL_MASS));
    const xAcc = temp - (POLE_MASS_LENGTH * thetaAcc * cosTheta) / TOTAL_MASS;
    this.x = this.x + TAU * this.xDot;
    this.xDot = this.xDot + TAU * xAcc;
    this.theta = this.theta + TAU * this.thetaDot;
    this.thetaDot = this.thetaDot + TAU * thetaAcc;
    this.elapsed++;
    const terminated = this.x < -X_THRESHOLD || this.x > X_THRESHOLD || this.theta < -THETA_THRESHOLD || this.theta > THETA_THRESHOLD;
    // Gymnasium pays 1 up to and including the terminating step, 0 if stepped beyond it.
    const reward = this.terminatedBefore ? 0.0 : 1.0;
    if (terminated) this.terminatedBefore = true;
    return { observation: this.observe(), reward, terminated, truncated: this.elapsed >= this.maxEpisodeSteps, info: NO_INFO };
  }

  private observe(): Float32Array {
    const obs = new Float32Array(4);
    obs[0] = this.x;
    obs[1] = this.xDot;
    obs[2] = this.theta;
    obs[3] = this.thetaDot;
    return obs;
  }
}

/** Push towards where the pole is falling: a linear rule on angle, angular velocity and cart drift. */
export const cartPoleController: Controller = {
  name: "heuristic",
  act(obs) {
    return cartPoleLean(obs) > 0 ? 1 : 0;
  },
  scores(obs, out) {
    const lean = cartPoleLean(obs);
    out[0] = -lean;
    out[1] = lean;
  },
};

function cartPoleLean(obs: Float32Array): number {
  return 10 * obs[2]! + 2 * obs[3]! + 0.1 * obs[0]! + 0.5 * obs[1]!;
}
