import { test } from "node:test";
import assert from "node:assert/strict";
import { Acrobot } from "./acrobot.js";
import { CartPole } from "./cartpole.js";
import { MountainCar } from "./mountain-car.js";
import { angleNormalize, Pendulum } from "./pendulum.js";

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

test("CartPole: one push from rest matches the equations worked by hand", () => {
  // From (0, 0, 0, 0) pushing right (F = 10): temp = F / 1.1, thetaacc = -(100/11) / (0.5 (4/3 - 1/11)) = -600/41,
  // xacc = 100/11 + 0.05 (600/41) / 1.1 = 400/41. Euler with tau = 0.02: x_dot = 8/41, theta_dot = -12/41.
  const env = new CartPole();
  env.setState([0, 0, 0, 0]);
  const result = env.step(1);
  const [x, xDot, theta, thetaDot] = env.getState();
  assert.equal(x, 0);
  assert.equal(theta, 0);
  close(xDot!, 8 / 41, 1e-15, "x_dot");
  close(thetaDot!, -12 / 41, 1e-15, "theta_dot");
  assert.equal(result.reward, 1);
  assert.equal(result.terminated, false);
  assert.equal(result.observation[1], Math.fround(8 / 41));
});

/** Gymnasium's CartPole step, transcribed from the published equations (Florian 2007, corrected form). */
function cartPoleReference(s: number[], action: number): number[] {
  const [x, xDot, th, thDot] = s as [number, number, number, number];
  const f = action === 1 ? 10 : -10;
  const temp = (f + 0.05 * thDot * thDot * Math.sin(th)) / 1.1;
  const thAcc = (9.8 * Math.sin(th) - Math.cos(th) * temp) / (0.5 * (4 / 3 - (0.1 * Math.cos(th) ** 2) / 1.1));
  const xAcc = temp - (0.05 * thAcc * Math.cos(th)) / 1.1;
  return [x + 0.02 * xDot, xDot + 0.02 * xAcc, th + 0.02 * thDot, thDot + 0.02 * thAcc];
}

test("CartPole: a fixed action sequence follows the reference and terminates past 12 degrees", () => {
  const env = new CartPole();
  let state = [0.01, -0.02, 0.03, 0.04];
  env.setState(state);
  const actions = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
  let terminatedAt = -1;
  for (let i = 0; i < actions.length; i++) {
    state = cartPoleReference(state, actions[i]!);
    const result = env.step(actions[i]!);
    env.getState().forEach((v, k) => close(v, state[k]!, 1e-12, `step ${i} state ${k}`));
    const expectTerminal = Math.abs(state[0]!) > 2.4 || Math.abs(state[2]!) > (12 * Math.PI) / 180;
    assert.equal(result.terminated, expectTerminal, `step ${i}`);
    if (expectTerminal) {
      terminatedAt = i;
      assert.equal(result.reward, 1, "the terminating step still pays 1");
      assert.equal(env.step(1).reward, 0, "stepping beyond termination pays 0");
      break;
    }
  }
  assert.ok(terminatedAt > 0, "pushing one way must topple the pole");
});

test("time limits truncate at the configured step", () => {
  const env = new CartPole({ maxEpisodeSteps: 3 });
  env.reset(1);
  env.setState([0, 0, 0, 0]);
  const flags = [env.step(0), env.step(1), env.step(0)].map((r) => r.truncated);
  assert.deepEqual(flags, [false, false, true]);
  assert.equal(new CartPole().maxEpisodeSteps, 500);
  assert.equal(new Acrobot().maxEpisodeSteps, 500);
  assert.equal(new MountainCar().maxEpisodeSteps, 200);
  assert.equal(new Pendulum().maxEpisodeSteps, 200);
});

test("classic envs reset within Gymnasium's initial ranges and deterministically per seed", () => {
  for (const env of [new CartPole(), new Acrobot(), new MountainCar(), new Pendulum()]) {
    const a = env.reset(5), b = env.reset(5), c = env.reset(6);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  }
  const cart = new CartPole();
  cart.reset(9);
  for (const v of cart.getState()) assert.ok(Math.abs(v) <= 0.05);
  const car = new MountainCar();
  car.reset(9);
  const [position, velocity] = car.getState();
  assert.ok(position! >= -0.6 && position! < -0.4 && velocity === 0);
  const pendulum = new Pendulum();
  pendulum.reset(9);
  const [theta, thetaDot] = pendulum.getState();
  assert.ok(Math.abs(theta!) <= Math.PI && Math.abs(thetaDot!) <= 1);
});

test("MountainCar: velocity and position updates, the left wall and the goal", () => {
  const env = new MountainCar();
  env.setState([-0.5, 0]);
  const result = env.step(2);
  // v = 0.001 - 0.0025 cos(-1.5), with cos(1.5) = 0.0707372016677029
  const v = 0.001 - 0.0025 * 0.0707372016677029;
  close(env.getState()[1]!, v, 1e-15, "velocity");
  close(env.getState()[0]!, -0.5 + v, 1e-15, "position");
  assert.equal(result.reward, -1);
  assert.equal(result.terminated, false);
  env.setState([-1.19, -0.05]);
  env.step(0);
  assert.deepEqual(env.getState(), [-1.2, 0]);
  env.setState([0.45, 0.07]);
  // v = 0.07 - 0.001 - 0.0025 cos(1.35) = 0.0684450..., position = 0.5184450... >= 0.5 with v >= 0: the goal.
  assert.equal(env.step(0).terminated, true);
  close(env.getState()[0]!, 0.45 + 0.069 - 0.0025 * Math.cos(1.35), 1e-15, "position at the goal");
  env.setState([0.45, -0.01]);
  assert.equal(env.step(2).terminated, false, "short of the goal");
  env.setState([0.49, 0.05]);
  assert.equal(env.step(2).terminated, true);
  env.setState([0.0, 0.5]);
  env.step(1);
  assert.equal(env.getState()[1], 0.07, "speed is clipped to 0.07");
});

test("Pendulum: torque, cost and clipping match the equations", () => {
  const env = new Pendulum();
  env.setState([0, 0]);
  let result = env.step([2]);
  // cost = 0 + 0 + 0.001 * 4; theta_dot = (3 * 10 / 2 * sin 0 + 3 * 2) * 0.05 = 0.3; theta = 0.3 * 0.05
  close(result.reward, -0.004, 1e-15, "reward");
  close(env.getState()[1]!, 0.3, 1e-15, "theta_dot");
  close(env.getState()[0]!, 0.015, 1e-15, "theta");
  close(result.observation[2]!, 0.3, 1e-7, "observed theta_dot");
  assert.equal(result.terminated, false);
  env.setState([0, 0]);
  env.step([5]);
  close(env.getState()[1]!, 0.3, 1e-15, "torque clipped to 2");
  env.setState([Math.PI / 2, 7.9]);
  result = env.step([2]);
  assert.equal(env.getState()[1], 8, "speed clipped to 8");
  close(result.reward, -((Math.PI / 2) ** 2 + 0.1 * 7.9 ** 2 + 0.004), 1e-12, "cost before the step");
  // Python's floored modulo: normalize(3 pi / 2) = -pi / 2, normalize(-3 pi / 2) = pi / 2, normalize(pi) = -pi.
  close(angleNormalize((3 * Math.PI) / 2), -Math.PI / 2, 1e-12, "3pi/2");
  close(angleNormalize((-3 * Math.PI) / 2), Math.PI / 2, 1e-12, "-3pi/2");
  close(angleNormalize(Math.PI), -Math.PI, 1e-12, "pi");
});

/** Gymnasium's Acrobot "book" dynamics and its rk4 helper, transcribed with plain arrays. */
function acrobotDerivs(y: number[]): number[] {
  const [t1, t2, d1v, d2v, a] = y as [number, number, number, number, number];
  const m1 = 1, m2 = 1, l1 = 1, lc1 = 0.5, lc2 = 0.5, i1 = 1, i2 = 1, g = 9.8;
  const d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2 * l1 * lc2 * Math.cos(t2)) + i1 + i2;
  const d2 = m2 * (lc2 * lc2 + l1 * lc2 * Math.cos(t2)) + i2;
  const phi2 = m2 * lc2 * g * Math.cos(t1 + t2 - Math.PI / 2);
  const phi1 = -m2 * l1 * lc2 * d2v * d2v * Math.sin(t2) - 2 * m2 * l1 * lc2 * d2v * d1v * Math.sin(t2) + (m1 * lc1 + m2 * l1) * g * Math.cos(t1 - Math.PI / 2) + phi2;
  const dd2 = (a + (d2 / d1) * phi1 - m2 * l1 * lc2 * d1v * d1v * Math.sin(t2) - phi2) / (m2 * lc2 * lc2 + i2 - (d2 * d2) / d1);
  const dd1 = -(d2 * dd2 + phi1) / d1;
  return [d1v, d2v, dd1, dd2, 0];
}

function acrobotReference(s: number[], action: number): number[] {
  const y0 = [...s, [-1, 0, 1][action]!];
  const dt = 0.2;
  const add = (y: number[], k: number[], h: number) => y.map((v, i) => v + h * k[i]!);
  const k1 = acrobotDerivs(y0);
  const k2 = acrobotDerivs(add(y0, k1, dt / 2));
  const k3 = acrobotDerivs(add(y0, k2, dt / 2));
  const k4 = acrobotDerivs(add(y0, k3, dt));
  const y = y0.map((v, i) => v + (dt / 6) * (k1[i]! + 2 * k2[i]! + 2 * k3[i]! + k4[i]!));
  const wrap = (v: number) => {
    while (v > Math.PI) v -= 2 * Math.PI;
    while (v < -Math.PI) v += 2 * Math.PI;
    return v;
  };
  const clip = (v: number, m: number) => Math.min(Math.max(v, -m), m);
  return [wrap(y[0]!), wrap(y[1]!), clip(y[2]!, 4 * Math.PI), clip(y[3]!, 9 * Math.PI)];
}

test("Acrobot: RK4 steps follow the reference dynamics; the tip above the bar terminates", () => {
  const env = new Acrobot();
  let state = [0.05, -0.03, 0.02, -0.01];
  env.setState(state);
  const actions = [2, 2, 2, 0, 0, 0, 2, 2, 2, 1, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 0, 0, 0];
  for (let i = 0; i < actions.length; i++) {
    state = acrobotReference(state, actions[i]!);
    const result = env.step(actions[i]!);
    env.getState().forEach((v, k) => close(v, state[k]!, 1e-9, `step ${i} state ${k}`));
    close(result.observation[0]!, Math.cos(state[0]!), 1e-6, "cos theta1");
    assert.equal(result.reward, result.terminated ? 0 : -1);
  }
  // Hanging at rest with no torque stays at rest.
  env.setState([0, 0, 0, 0]);
  env.step(1);
  for (const v of env.getState()) assert.ok(Math.abs(v) < 1e-12);
  // Both links pointing up: -cos(pi) - cos(2 pi) = 2 > 1.
  env.setState([Math.PI, 0, 0, 0]);
  const top = env.step(1);
  assert.equal(top.terminated, true);
  assert.equal(top.reward, 0);
});
