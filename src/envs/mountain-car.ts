/**
 * MountainCar-v0 (Moore 1990), with Gymnasium's constants and rules. State (position, velocity); actions 0 push
 * left, 1 no push, 2 push right. velocity += (a - 1) * 0.001 - 0.0025 cos(3 position), clipped to +-0.07; position
 * += velocity, clipped to [-1.2, 0.6], with the velocity zeroed when the car hits the left wall. Terminates when
 * position >= 0.5 and velocity >= 0; reward -1 every step; truncated at 200 steps. Reset: position U(-0.6, -0.4),
 * velocity 0. Hard because the engine is too weak to climb directly: the car must first back up the other slope.
 */
import { discreteAction, NO_INFO, type Action, type Env, type StepResult } from "./env.js";
import { distanceScores, type Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const MIN_POSITION = -1.2;
const MAX_POSITION = 0.6;
const MAX_SPEED = 0.07;
const GOAL_POSITION = 0.5;
const GOAL_VELOCITY = 0;
const FORCE = 0.001;
const GRAVITY = 0.0025;

export class MountainCar implements Env {
  readonly name = "MountainCar-v0";
  readonly observationSpace = {
    dim: 2,
    names: ["position", "velocity"],
    low: [MIN_POSITION, -MAX_SPEED],
    high: [MAX_POSITION, MAX_SPEED],
  };
  readonly actionSpace = { kind: "discrete" as const, n: 3 };
  readonly rewardRange = { min: -1, max: -1 };
  readonly infoFields: readonly string[] = [];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  private position = 0;
  private velocity = 0;
  private elapsed = 0;

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? 200;
  }

  reset(seed: number): Float32Array {
    this.rng.seed(seed);
    this.position = this.rng.uniformRange(-0.6, -0.4);
    this.velocity = 0;
    this.elapsed = 0;
    return this.observe();
  }

  getState(): number[] {
    return [this.position, this.velocity];
  }

  setState(state: ArrayLike<number>): void {
    this.position = state[0]!;
    this.velocity = state[1]!;
    this.elapsed = 0;
  }

  step(action: Action): StepResult {
    const a = discreteAction(action, 3, this.name);
    let velocity = this.velocity + (a - 1) * FORCE + Math.cos(3 * this.position) * -GRAVITY;
    velocity = Math.min(Math.max(velocity, -MAX_SPEED), MAX_SPEED);
    let position = this.position + velocity;
    position = Math.min(Math.max(position, MIN_POSITION), MAX_POSITION);
    if (position === MIN_POSITION && velocity < 0) velocity = 0;
    this.position = position;
    this.velocity = velocity;
    this.elapsed++;
    const terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
    return { observation: this.observe(), reward: -1.0, terminated, truncated: this.elapsed >= this.maxEpisodeSteps, info: NO_INFO };
  }

  private observe(): Float32Array {
    const obs = new Float32Array(2);
    obs[0] = this.position;
    obs[1] = this.velocity;
    return obs;
  }
}

/** Push with the motion (pump energy); from rest, push left first to back up the slope. */
export const mountainCarController: Controller = {
  name: "heuristic",
  act(obs) {
    return mountainCarPreferred(obs);
  },
  scores(obs, out) {
    distanceScores(mountainCarPreferred(obs), out);
  },
};

function mountainCarPreferred(obs: Float32Array): number {
  return obs[1]! > 0 ? 2 : 0;
}
