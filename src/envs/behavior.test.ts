import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBehavior, type ContinuousBehavior, type DiscreteBehavior } from "./behavior.js";
import { EnvError } from "./errors.js";
import { heuristicController, makeEnv } from "./registry.js";
import { Rng } from "../random/index.js";

function discreteFor(envName: string, spec: string): DiscreteBehavior {
  const env = makeEnv(envName);
  const policy = parseBehavior(spec, env, heuristicController(envName));
  assert.equal(policy.kind, "discrete");
  return policy as DiscreteBehavior;
}

function continuousFor(envName: string, spec: string): ContinuousBehavior {
  const env = makeEnv(envName);
  const policy = parseBehavior(spec, env, heuristicController(envName));
  assert.equal(policy.kind, "continuous");
  return policy as ContinuousBehavior;
}

/** Observations visited by a uniform-random walk in the env. */
function visitedObservations(envName: string, count: number): Float32Array[] {
  const env = makeEnv(envName);
  const rng = new Rng(11);
  const out: Float32Array[] = [];
  let obs = env.reset(1);
  while (out.length < count) {
    out.push(obs);
    const space = env.actionSpace;
    const action = space.kind === "discrete" ? rng.int(space.n) : [rng.uniformRange(space.low[0]!, space.high[0]!)];
    const result = env.step(action);
    obs = result.terminated || result.truncated ? env.reset(out.length) : result.observation;
  }
  return out;
}

test("discrete behaviour policies give probabilities that sum to 1, and samples report their own probability", () => {
  const specs = ["heuristic", "uniform", "eps-greedy(heuristic, 0.2)", "softmax(heuristic, 0.5)", "mixture(0.7*softmax(heuristic,0.5), 0.3*uniform)", "eps-greedy(softmax(heuristic, 2), 0.1)"];
  for (const envName of ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "autoscaling", "serverless-prewarm", "alert-suppression"]) {
    const observations = visitedObservations(envName, 40);
    for (const spec of specs) {
      const policy = discreteFor(envName, spec);
      const probs = new Float64Array(policy.n);
      const rng = new Rng(3);
      for (const obs of observations) {
        policy.probabilities(obs, probs);
        let total = 0;
        for (const p of probs) {
          assert.ok(p >= 0 && p <= 1);
          total += p;
        }
        assert.ok(Math.abs(total - 1) < 1e-12, `${envName} ${spec}: sum ${total}`);
        const { action, behaviorProb } = policy.sample(obs, rng);
        assert.equal(behaviorProb, probs[action as number], `${envName} ${spec}`);
        assert.ok(behaviorProb > 0);
      }
    }
  }
});

test("eps-greedy, softmax and mixture probabilities match the formulas worked by hand", () => {
  // CartPole's controller leans right with lean = 10 theta + 2 theta_dot + 0.1 x + 0.5 x_dot; scores are (-lean, lean).
  const obs = new Float32Array([0.1, 0.2, 0.01, -0.02]);
  const lean = 10 * obs[2]! + 2 * obs[3]! + 0.1 * obs[0]! + 0.5 * obs[1]!;
  const probs = new Float64Array(2);
  discreteFor("cartpole", "eps-greedy(heuristic, 0.2)").probabilities(obs, probs);
  const greedy = lean > 0 ? 1 : 0;
  assert.ok(Math.abs(probs[greedy]! - 0.9) < 1e-15 && Math.abs(probs[1 - greedy]! - 0.1) < 1e-15);
  discreteFor("cartpole", "softmax(heuristic, 0.5)").probabilities(obs, probs);
  const right = 1 / (1 + Math.exp((-2 * lean) / 0.5));
  assert.ok(Math.abs(probs[1]! - right) < 1e-12);
  discreteFor("cartpole", "mixture(0.7*softmax(heuristic, 0.5), 0.3*uniform)").probabilities(obs, probs);
  assert.ok(Math.abs(probs[1]! - (0.7 * right + 0.3 * 0.5)) < 1e-12);
  // Sampling frequencies follow the probabilities.
  const policy = discreteFor("cartpole", "mixture(0.7*softmax(heuristic, 0.5), 0.3*uniform)");
  const rng = new Rng(5);
  let rights = 0;
  for (let i = 0; i < 20000; i++) if (policy.sample(obs, rng).action === 1) rights++;
  const expected = 0.7 * right + 0.3 * 0.5;
  assert.ok(Math.abs(rights / 20000 - expected) < 4 * Math.sqrt((expected * (1 - expected)) / 20000) + 1e-3);
});

/** Composite Simpson's rule on [a, b] with n (even) panels. */
function simpson(f: (x: number) => number, a: number, b: number, n = 4000): number {
  const h = (b - a) / n;
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

test("gaussian behaviour: log-density is the truncated normal's closed form and integrates to 1", () => {
  const policy = continuousFor("pendulum", "gaussian(heuristic, 0.5)");
  const controller = heuristicController("pendulum");
  for (const obs of visitedObservations("pendulum", 6)) {
    const mu = Math.min(Math.max((controller.act(obs) as Float32Array)[0]!, -2), 2);
    const sigma = 0.5;
    const pdf = (a: number) => Math.exp(-0.5 * ((a - mu) / sigma) ** 2) / (sigma * Math.sqrt(2 * Math.PI));
    const mass = simpson(pdf, -2, 2);
    for (const a of [-2, -1.3, 0, mu, 0.7, 2]) {
      const expected = Math.log(pdf(a)) - Math.log(mass);
      assert.ok(Math.abs(policy.logDensity(obs, [a]) - expected) < 1e-6, `a=${a} mu=${mu}`);
    }
    assert.equal(policy.logDensity(obs, [2.5]), -Infinity);
    const integral = simpson((a) => Math.exp(policy.logDensity(obs, [a])), -2, 2);
    assert.ok(Math.abs(integral - 1) < 1e-6, `integral ${integral}`);
  }
});

test("continuous uniform and mixtures integrate to 1; samples report their own log-density and stay in the box", () => {
  const obs = visitedObservations("pendulum", 3)[2]!;
  const uniform = continuousFor("pendulum", "uniform");
  assert.ok(Math.abs(uniform.logDensity(obs, [0.3]) - Math.log(1 / 4)) < 1e-15);
  const mixture = continuousFor("pendulum", "mixture(0.8*gaussian(heuristic, 0.3), 0.2*uniform)");
  assert.ok(Math.abs(simpson((a) => Math.exp(mixture.logDensity(obs, [a])), -2, 2) - 1) < 1e-6);
  const eps = continuousFor("pendulum", "eps-greedy(gaussian(heuristic, 0.3), 0.1)");
  assert.ok(Math.abs(simpson((a) => Math.exp(eps.logDensity(obs, [a])), -2, 2) - 1) < 1e-6);
  const rng = new Rng(9);
  const gaussian = continuousFor("pendulum", "gaussian(heuristic, 0.3)");
  const mu = Math.min(Math.max((heuristicController("pendulum").act(obs) as Float32Array)[0]!, -2), 2);
  let inside = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const { action, behaviorProb } = gaussian.sample(obs, rng);
    const a = (action as Float32Array)[0]!;
    assert.ok(a >= -2 && a <= 2);
    assert.equal(behaviorProb, gaussian.logDensity(obs, action as Float32Array));
    if (Math.abs(a - mu) < 0.3) inside++;
  }
  // Probability of |a - mu| < sigma under the truncated density, by quadrature.
  const expected = simpson((a) => Math.exp(gaussian.logDensity(obs, [a])), Math.max(-2, mu - 0.3), Math.min(2, mu + 0.3));
  assert.ok(Math.abs(inside / n - expected) < 0.015, `${inside / n} vs ${expected}`);
  const { action, behaviorProb } = mixture.sample(obs, rng);
  assert.equal(behaviorProb, mixture.logDensity(obs, action as Float32Array));
});

test("specs are canonicalised and bad specs fail with coded errors", () => {
  const policy = discreteFor("autoscaling", "mixture( 0.7 * softmax(heuristic,0.5) , 0.3*random )");
  assert.equal(policy.spec, "mixture(0.7*softmax(heuristic, 0.5), 0.3*uniform)");
  assert.equal(discreteFor("autoscaling", policy.spec).spec, policy.spec);
  const env = makeEnv("autoscaling");
  const pendulum = makeEnv("pendulum");
  const cases: Array<[string, string, typeof env]> = [
    ["greedy(heuristic)", "invalid_behavior", env],
    ["eps-greedy(heuristic, 1.5)", "invalid_behavior", env],
    ["eps-greedy(heuristic)", "invalid_behavior", env],
    ["softmax(oracle, 1)", "unknown_controller", env],
    ["mixture(0.5*uniform, 0.3*heuristic)", "invalid_mixture_weights", env],
    ["gaussian(heuristic, 0.1)", "invalid_behavior", env],
    ["heuristic", "no_density", pendulum],
    ["softmax(heuristic, 1)", "invalid_behavior", pendulum],
    ["eps-greedy(heuristic, 0.2", "invalid_behavior", env],
  ];
  for (const [spec, code, target] of cases) {
    assert.throws(
      () => parseBehavior(spec, target, heuristicController(target.name)),
      (error: unknown) => error instanceof EnvError && error.code === code,
      spec,
    );
  }
});
