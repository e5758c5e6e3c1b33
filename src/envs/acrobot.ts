/**
 * Acrobot-v1 (Sutton 1996; Sutton & Barto's "book" dynamics), with Gymnasium's constants and rules.
 * State (theta1, theta2, dtheta1, dtheta2); observation (cos t1, sin t1, cos t2, sin t2, dt1, dt2). Actions apply
 * torque -1, 0, +1 on the joint between the links. One step integrates the equations of motion with a single
 * classic RK4 step of dt = 0.2 s, then wraps the angles to [-pi, pi] and clips the velocities (4 pi, 9 pi).
 * Terminates when -cos(t1) - cos(t1 + t2) > 1 (the tip above the bar); reward -1 per step, 0 on the terminal step;
 * truncated at 500 steps. Reset draws the state from U(-0.1, 0.1). What makes it hard: the reward is the same -1
 * until the swing-up succeeds, so progress is only visible through the energy the controller pumps in.
 */
import { discreteAction, NO_INFO, type Action, type Env, type StepResult } from "./env.js";
import { distanceScores, type Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const DT = 0.2;
const LINK_LENGTH_1 = 1.0;
const LINK_MASS_1 = 1.0;
const LINK_MASS_2 = 1.0;
const LINK_COM_POS_1 = 0.5;
const LINK_COM_POS_2 = 0.5;
const LINK_MOI = 1.0;
const MAX_VEL_1 = 4 * Math.PI;
const MAX_VEL_2 = 9 * Math.PI;
const AVAIL_TORQUE = [-1.0, 0.0, 1.0];
const G = 9.8;

/** Time derivative of (theta1, theta2, dtheta1, dtheta2) under torque a (Gymnasium's `_dsdt`, "book" variant). */
function derivatives(s: Float64Array, a: number, out: Float64Array): void {
  const m1 = LINK_MASS_1, m2 = LINK_MASS_2, l1 = LINK_LENGTH_1, lc1 = LINK_COM_POS_1, lc2 = LINK_COM_POS_2;
  const I1 = LINK_MOI, I2 = LINK_MOI;
  const theta1 = s[0]!, theta2 = s[1]!, dtheta1 = s[2]!, dtheta2 = s[3]!;
  const d1 = m1 * lc1 ** 2 + m2 * (l1 ** 2 + lc2 ** 2 + 2 * l1 * lc2 * Math.cos(theta2)) + I1 + I2;
  const d2 = m2 * (lc2 ** 2 + l1 * lc2 * Math.cos(theta2)) + I2;
  const phi2 = m2 * lc2 * G * Math.cos(theta1 + theta2 - Math.PI / 2.0);
  const phi1 =
    -m2 * l1 * lc2 * dtheta2 ** 2 * Math.sin(theta2) -
    2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * Math.sin(theta2) +
    (m1 * lc1 + m2 * l1) * G * Math.cos(theta1 - Math.PI / 2) +
    phi2;
  const ddtheta2 = (a + (d2 / d1) * phi1 - m2 * l1 * lc2 * dtheta1 ** 2 * Math.sin(theta2) - phi2) / (m2 * lc2 ** 2 + I2 - d2 ** 2 / d1);
  const ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
  out[0] = dtheta1;
  out[1] = dtheta2;
  out[2] = ddtheta1;
  out[3] = ddtheta2;
}

/** Gymnasium's `wrap`: shifts x by whole periods into [low, high]. */
function wrap(x: number, low: number, high: number): number {
  const diff = high - low;
  while (x > high) x -= diff;
  while (x < low) x += diff;
  return x;
}

export class Acrobot implements Env {
  readonly name = "Acrobot-v1";
  readonly observationSpace = {
    dim: 6,
    names: ["cos_theta1", "sin_theta1", "cos_theta2", "sin_theta2", "dtheta1", "dtheta2"],
    low: [-1, -1, -1, -1, -MAX_VEL_1, -MAX_VEL_2],
    high: [1, 1, 1, 1, MAX_VEL_1, MAX_VEL_2],
  };
  readonly actionSpace = { kind: "discrete" as const, n: 3 };
  readonly rewardRange = { min: -1, max: 0 };
  readonly infoFields: readonly string[] = [];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  private readonly state = new Float64Array(4);
  private readonly k1 = new Float64Array(4);
  private readonly k2 = new Float64Array(4);
  private readonly k3 = new Float64Array(4);
  private readonly k4 = new Float64Array(4);
  private readonly scratch = new Float64Array(4);
  private elapsed = 0;

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 500;
  }

  reset(seed: number): Float32Array {
    this.rng.seed(seed);
    for (let i = 0; i < 4; i++) this.state[i] = this.rng.uniformRange(-0.1, 0.1);
    this.elapsed = 0;
    return this.observe();
  }

  getState(): number[] {
    return Array.from(this.state);
  }

  setState(state: ArrayLike<number>): void {
    for (let i = 0; i < 4; i++) this.state[i] = state[i]!;
    this.elapsed = 0;
  }

  step(action: Action): StepResult {
    const torque = AVAIL_TORQUE[discreteAction(action, 3, this.name)]!;
    const s = this.state, y = this.scratch;
    const half = DT / 2;
    derivatives(s, torque, this.k1);
    for (let i = 0; i < 4; i++) y[i] = s[i]! + half * this.k1[i]!;
    derivatives(y, torque, this.k2);
    for (let i = 0; i < 4; i++) y[i] = s[i]! + half * this.k2[i]!;
    derivatives(y, torque, this.k3);
    for (let i = 0; i < 4; i++) y[i] = s[i]! + DT * this.k3[i]!;
    derivatives(y, torque, this.k4);
    for (let i = 0; i < 4; i++) s[i] = s[i]! + (DT / 6.0) * (this.k1[i]! + 2 * this.k2[i]! + 2 * this.k3[i]! + this.k4[i]!);
    s[0] = wrap(s[0]!, -Math.PI, Math.PI);
    s[1] = wrap(s[1]!, -Math.PI, Math.PI);
    s[2] = Math.min(Math.max(s[2]!, -MAX_VEL_1), MAX_VEL_1);
    s[3] = Math.min(Math.max(s[3]!, -MAX_VEL_2), MAX_VEL_2);
    this.elapsed++;
    const terminated = -Math.cos(s[0]!) - Math.cos(s[1]! + s[0]!) > 1.0;
    return { observation: this.observe(), reward: terminated ? 0.0 : -1.0, terminated, truncated: this.elapsed >= this.maxEpisodeSteps, info: NO_INFO };
  }

  private observe(): Float32Array {
    const s = this.state;
    const obs = new Float32Array(6);
    obs[0] = Math.cos(s[0]!);
    obs[1] = Math.sin(s[0]!);
    obs[2] = Math.cos(s[1]!);
    obs[3] = Math.sin(s[1]!);
    obs[4] = s[2]!;
    obs[5] = s[3]!;
    return obs;
  }
}

/** Energy pumping: torque in the direction the second link is swinging (reaches the bar in ~80 steps). */
export const acrobotController: Controller = {
  name: "heuristic",
  act(obs) {
    return acrobotPreferred(obs);
  },
  scores(obs, out) {
    distanceScores(acrobotPreferred(obs), out);
  },
};

function acrobotPreferred(obs: Float32Array): number {
  const dtheta2 = obs[5]!;
  return dtheta2 > 0 ? 2 : dtheta2 < 0 ? 0 : 1;
}
