/**
 * Behaviour policies: the stochastic policies that generate logged datasets, each able to report the probability
 * (discrete) or log-density (continuous) of any action, so off-policy evaluation has exact propensities.
 *
 * Built from strings (`parseBehavior`):
 *   heuristic                       the env's controller, deterministic (discrete envs only: no density otherwise)
 *   uniform | random                uniform over the actions / over the action box
 *   eps-greedy(P, eps)              (1 - eps) P + eps uniform
 *   softmax(heuristic, T)           p(a) proportional to exp(score(a) / T), over the controller's action scores
 *   gaussian(heuristic, sigma)      continuous: a normal around the controller's action, truncated to the box
 *   mixture(w1*P1, w2*P2, ...)      draw a component with probability w_i, then its action; weights sum to 1
 * P may itself be any of these, e.g. "mixture(0.7*softmax(heuristic, 0.5), 0.3*uniform)".
 */
import type { ActionSpace, Transitions } from "../data/transitions.js";
import type { Env } from "./env.js";
import { EnvError } from "./errors.js";
import type { Controller } from "./policy.js";
import type { Rng } from "../random/index.js";

export interface ActionSample {
  /** Integer action (discrete) or a fresh vector (continuous). */
  action: number | Float32Array;
  /** Probability of the action (discrete) or its log-density (continuous) under this policy. */
  behaviorProb: number;
}

export interface DiscreteBehavior {
  readonly kind: "discrete";
  /** Canonical spec string, e.g. "eps-greedy(heuristic, 0.2)"; written as the dataset's policy version. */
  readonly spec: string;
  readonly n: number;
  /** Writes the probability of every action (sums to 1) into out, length n. */
  probabilities(observation: Float32Array, out: Float64Array): void;
  sample(observation: Float32Array, rng: Rng): ActionSample;
}

export interface ContinuousBehavior {
  readonly kind: "continuous";
  readonly spec: string;
  readonly low: number[];
  readonly high: number[];
  /** Log-density of an action inside the box (-Infinity outside it). */
  logDensity(observation: Float32Array, action: ArrayLike<number>): number;
  sample(observation: Float32Array, rng: Rng): ActionSample;
}

export type BehaviorPolicy = DiscreteBehavior | ContinuousBehavior;

// ---------------------------------------------------------------------------------------------------------------
// Discrete policies

abstract class DiscreteBase implements DiscreteBehavior {
  readonly kind = "discrete" as const;
  private readonly scratch: Float64Array;
  constructor(readonly spec: string, readonly n: number) {
    this.scratch = new Float64Array(n);
  }
  abstract probabilities(observation: Float32Array, out: Float64Array): void;
  sample(observation: Float32Array, rng: Rng): ActionSample {
    const probs = this.scratch;
    this.probabilities(observation, probs);
    const action = rng.categorical(probs);
    return { action, behaviorProb: probs[action]! };
  }
}

class DeterministicDiscrete extends DiscreteBase {
  constructor(spec: string, n: number, private readonly controller: Controller) {
    super(spec, n);
  }
  probabilities(observation: Float32Array, out: Float64Array): void {
    out.fill(0);
    out[this.controller.act(observation) as number] = 1;
  }
}

class UniformDiscrete extends DiscreteBase {
  probabilities(_observation: Float32Array, out: Float64Array): void {
    out.fill(1 / this.n);
  }
}

class SoftmaxDiscrete extends DiscreteBase {
  constructor(spec: string, n: number, private readonly controller: Controller & Required<Pick<Controller, "scores">>, private readonly temperature: number) {
    super(spec, n);
  }
  probabilities(observation: Float32Array, out: Float64Array): void {
    this.controller.scores(observation, out);
    let max = -Infinity;
    for (let a = 0; a < this.n; a++) max = Math.max(max, out[a]!);
    let total = 0;
    for (let a = 0; a < this.n; a++) {
      out[a] = Math.exp((out[a]! - max) / this.temperature);
      total += out[a]!;
    }
    for (let a = 0; a < this.n; a++) out[a]! /= total;
  }
}

class MixtureDiscrete extends DiscreteBase {
  private readonly part: Float64Array;
  constructor(spec: string, n: number, private readonly weights: number[], private readonly components: DiscreteBehavior[]) {
    super(spec, n);
    this.part = new Float64Array(n);
  }
  probabilities(observation: Float32Array, out: Float64Array): void {
    out.fill(0);
    for (let c = 0; c < this.components.length; c++) {
      this.components[c]!.probabilities(observation, this.part);
      for (let a = 0; a < this.n; a++) out[a]! += this.weights[c]! * this.part[a]!;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Continuous policies

/** Complementary error function, Numerical Recipes' erfcc (fractional error below 1.2e-7 everywhere). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(alpha < Z < beta) for a standard normal Z, computed from the tails to avoid cancellation. */
export function normalMass(alpha: number, beta: number): number {
  const s = Math.SQRT1_2;
  if (alpha >= 0) return 0.5 * (erfc(alpha * s) - erfc(beta * s));
  if (beta <= 0) return 0.5 * (erfc(-beta * s) - erfc(-alpha * s));
  return 1 - 0.5 * erfc(-alpha * s) - 0.5 * erfc(beta * s);
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

function controllerAction(controller: Controller, observation: Float32Array, dims: number): ArrayLike<number> {
  const action = controller.act(observation);
  if (typeof action === "number") {
    if (dims !== 1) throw new EnvError("controller_action_shape", `controller ${controller.name} returned a scalar for a ${dims}-dimensional action`);
    return [action];
  }
  return action;
}

/** Independent normals N(mu_d, sigma^2) around the controller's action (clipped into the box), truncated to the box. */
class TruncatedGaussian implements ContinuousBehavior {
  readonly kind = "continuous" as const;
  constructor(readonly spec: string, readonly low: number[], readonly high: number[], private readonly controller: Controller, private readonly sigma: number) {}

  private mean(observation: Float32Array): number[] {
    const raw = controllerAction(this.controller, observation, this.low.length);
    return this.low.map((lo, d) => Math.min(Math.max(raw[d]!, lo), this.high[d]!));
  }

  logDensity(observation: Float32Array, action: ArrayLike<number>): number {
    return this.logDensityAround(this.mean(observation), action);
  }

  private logDensityAround(mean: number[], action: ArrayLike<number>): number {
    let logp = 0;
    for (let d = 0; d < this.low.length; d++) {
      const a = action[d]!;
      if (!(a >= this.low[d]! && a <= this.high[d]!)) return -Infinity;
      const z = (a - mean[d]!) / this.sigma;
      const mass = normalMass((this.low[d]! - mean[d]!) / this.sigma, (this.high[d]! - mean[d]!) / this.sigma);
      logp += -0.5 * z * z - Math.log(this.sigma) - HALF_LOG_2PI - Math.log(mass);
    }
    return logp;
  }

  sample(observation: Float32Array, rng: Rng): ActionSample {
    const mean = this.mean(observation);
    const action = new Float32Array(this.low.length);
    for (let d = 0; d < this.low.length; d++) {
      // Rejection from the untruncated normal; the mean lies inside the box, so at least ~1/2 of the mass is
      // accepted when sigma is small and (high - low) / (sigma sqrt(2 pi)) when large (sigma is capped at parse).
      let value: number;
      do value = Math.fround(mean[d]! + this.sigma * rng.normal());
      while (!(value >= this.low[d]! && value <= this.high[d]!));
      action[d] = value;
    }
    return { action, behaviorProb: this.logDensityAround(mean, action) };
  }
}

class UniformContinuous implements ContinuousBehavior {
  readonly kind = "continuous" as const;
  private readonly logVolume: number;
  constructor(readonly spec: string, readonly low: number[], readonly high: number[]) {
    this.logVolume = low.reduce((sum, lo, d) => sum + Math.log(high[d]! - lo), 0);
  }
  logDensity(_observation: Float32Array, action: ArrayLike<number>): number {
    for (let d = 0; d < this.low.length; d++) if (!(action[d]! >= this.low[d]! && action[d]! <= this.high[d]!)) return -Infinity;
    return -this.logVolume;
  }
  sample(observation: Float32Array, rng: Rng): ActionSample {
    const action = new Float32Array(this.low.length);
    for (let d = 0; d < this.low.length; d++) action[d] = Math.fround(rng.uniformRange(this.low[d]!, this.high[d]!));
    return { action, behaviorProb: this.logDensity(observation, action) };
  }
}

class MixtureContinuous implements ContinuousBehavior {
  readonly kind = "continuous" as const;
  constructor(readonly spec: string, readonly low: number[], readonly high: number[], private readonly weights: number[], private readonly components: ContinuousBehavior[]) {}
  logDensity(observation: Float32Array, action: ArrayLike<number>): number {
    // log sum_i w_i p_i(a), stabilised by the largest term.
    const terms = this.components.map((c, i) => Math.log(this.weights[i]!) + c.logDensity(observation, action));
    const max = Math.max(...terms);
    if (max === -Infinity) return -Infinity;
    return max + Math.log(terms.reduce((sum, t) => sum + Math.exp(t - max), 0));
  }
  sample(observation: Float32Array, rng: Rng): ActionSample {
    const component = this.components[rng.categorical(this.weights)]!;
    const { action } = component.sample(observation, rng);
    return { action, behaviorProb: this.logDensity(observation, action as Float32Array) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

type Node =
  | { type: "name"; name: string; position: number }
  | { type: "number"; value: number; position: number }
  | { type: "call"; name: string; args: Node[]; position: number }
  | { type: "weighted"; weight: number; body: Node; position: number };

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parse(): Node {
    const node = this.expression();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected "${this.text[this.pos]}"`);
    return node;
  }

  private fail(message: string): never {
    throw new EnvError("invalid_behavior", `behaviour "${this.text}": ${message} at position ${this.pos}`, { spec: this.text, position: this.pos });
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private expression(): Node {
    this.skipSpace();
    const start = this.pos;
    const numberMatch = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?/i.exec(this.text.slice(this.pos));
    if (numberMatch) {
      this.pos += numberMatch[0].length;
      const value = Number(numberMatch[0]);
      this.skipSpace();
      if (this.text[this.pos] === "*") {
        this.pos++;
        return { type: "weighted", weight: value, body: this.expression(), position: start };
      }
      return { type: "number", value, position: start };
    }
    const nameMatch = /^[a-z_][a-z0-9_-]*/i.exec(this.text.slice(this.pos));
    if (!nameMatch) this.fail(this.pos >= this.text.length ? "unexpected end" : `unexpected "${this.text[this.pos]}"`);
    this.pos += nameMatch[0].length;
    const name = nameMatch[0].toLowerCase();
    this.skipSpace();
    if (this.text[this.pos] !== "(") return { type: "name", name, position: start };
    this.pos++;
    const args: Node[] = [];
    for (;;) {
      args.push(this.expression());
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ",") {
        this.pos++;
        continue;
      }
      if (c === ")") {
        this.pos++;
        break;
      }
      this.fail(c === undefined ? "missing )" : `expected , or ) but found "${c}"`);
    }
    return { type: "call", name, args, position: start };
  }
}

export interface BehaviorContext {
  actionSpace: ActionSpace;
  /** Controllers by the name used in specs; "heuristic" is the env's own. */
  controllers: Record<string, Controller>;
}

function specError(spec: string, node: Node, message: string, code = "invalid_behavior"): never {
  throw new EnvError(code, `behaviour "${spec}": ${message}`, { spec, position: node.position });
}

function numberArg(spec: string, node: Node | undefined, parent: Node, what: string, check: (v: number) => boolean, range: string): number {
  if (!node || node.type !== "number") specError(spec, node ?? parent, `${what} must be a number`);
  if (!check(node.value)) specError(spec, node, `${what} must be ${range}, got ${node.value}`);
  return node.value;
}

function controllerArg(spec: string, node: Node | undefined, parent: Node, context: BehaviorContext): [string, Controller] {
  if (!node || node.type !== "name") specError(spec, node ?? parent, "expects a controller name such as heuristic as its first argument");
  const controller = context.controllers[node.name];
  if (!controller) specError(spec, node, `unknown controller "${node.name}" (known: ${Object.keys(context.controllers).join(", ")})`, "unknown_controller");
  return [node.name, controller];
}

function arity(spec: string, node: Node & { type: "call" }, count: number): void {
  if (node.args.length !== count) specError(spec, node, `${node.name} takes ${count} argument(s), got ${node.args.length}`);
}

function build(spec: string, node: Node, context: BehaviorContext): BehaviorPolicy {
  const space = context.actionSpace;
  const discrete = space.kind === "discrete";
  if (node.type === "number" || node.type === "weighted") specError(spec, node, "expected a policy, found a number");
  if (node.type === "name") {
    if (node.name === "uniform" || node.name === "random") {
      return discrete ? new UniformDiscrete("uniform", space.n) : new UniformContinuous("uniform", space.low, space.high);
    }
    const controller = context.controllers[node.name];
    if (!controller) specError(spec, node, `unknown policy "${node.name}"`, "unknown_controller");
    if (!discrete) {
      specError(spec, node, `a deterministic controller has no density over continuous actions; use gaussian(${node.name}, sigma)`, "no_density");
    }
    return new DeterministicDiscrete(node.name, space.n, controller);
  }
  switch (node.name) {
    case "eps-greedy":
    case "epsilon-greedy": {
      arity(spec, node, 2);
      const inner = build(spec, node.args[0]!, context);
      const epsilon = numberArg(spec, node.args[1], node, "epsilon", (v) => v >= 0 && v <= 1, "in [0, 1]");
      const canonical = `eps-greedy(${inner.spec}, ${epsilon})`;
      const uniform = build(spec, { type: "name", name: "uniform", position: node.position }, context);
      return mixtureOf(canonical, [1 - epsilon, epsilon], [inner, uniform], space);
    }
    case "softmax": {
      arity(spec, node, 2);
      if (!discrete) specError(spec, node, "softmax needs a discrete action space; use gaussian for continuous actions");
      const [name, controller] = controllerArg(spec, node.args[0], node, context);
      const temperature = numberArg(spec, node.args[1], node, "temperature", (v) => v > 0, "positive");
      if (!controller.scores) specError(spec, node, `controller ${name} has no action scores`, "no_scores");
      return new SoftmaxDiscrete(`softmax(${name}, ${temperature})`, space.n, controller as Controller & Required<Pick<Controller, "scores">>, temperature);
    }
    case "gaussian": {
      arity(spec, node, 2);
      if (discrete) specError(spec, node, "gaussian needs a continuous action space; use softmax or eps-greedy for discrete actions");
      const [name, controller] = controllerArg(spec, node.args[0], node, context);
      const widest = Math.max(...space.high.map((h, d) => h - space.low[d]!));
      const sigma = numberArg(spec, node.args[1], node, "sigma", (v) => v > 0 && v <= 100 * widest, `in (0, ${100 * widest}]`);
      return new TruncatedGaussian(`gaussian(${name}, ${sigma})`, space.low, space.high, controller, sigma);
    }
    case "mixture": {
      if (node.args.length < 1) specError(spec, node, "mixture needs at least one weighted component");
      const weights: number[] = [];
      const components: BehaviorPolicy[] = [];
      for (const arg of node.args) {
        if (arg.type !== "weighted") specError(spec, arg, "mixture components are written weight*policy");
        if (!(arg.weight > 0)) specError(spec, arg, `mixture weights must be positive, got ${arg.weight}`, "invalid_mixture_weights");
        weights.push(arg.weight);
        components.push(build(spec, arg.body, context));
      }
      const total = weights.reduce((a, b) => a + b, 0);
      if (Math.abs(total - 1) > 1e-6) specError(spec, node, `mixture weights must sum to 1, got ${total}`, "invalid_mixture_weights");
      const canonical = `mixture(${components.map((c, i) => `${weights[i]}*${c.spec}`).join(", ")})`;
      return mixtureOf(canonical, weights.map((w) => w / total), components, space);
    }
    default:
      specError(spec, node, `unknown policy "${node.name}" (known: heuristic, uniform, eps-greedy, softmax, gaussian, mixture)`);
  }
}

function mixtureOf(spec: string, weights: number[], components: BehaviorPolicy[], space: ActionSpace): BehaviorPolicy {
  if (space.kind === "discrete") return new MixtureDiscrete(spec, space.n, weights, components as DiscreteBehavior[]);
  return new MixtureContinuous(spec, space.low, space.high, weights, components as ContinuousBehavior[]);
}

/** Builds a behaviour policy from its spec string for an action space and a set of named controllers. */
export function parseBehaviorSpec(spec: string, context: BehaviorContext): BehaviorPolicy {
  return build(spec, new Parser(spec).parse(), context);
}

/** Builds a behaviour policy for an env; "heuristic" names the given controller. */
export function parseBehavior(spec: string, env: Env, heuristic: Controller, extra: Record<string, Controller> = {}): BehaviorPolicy {
  return parseBehaviorSpec(spec, { actionSpace: env.actionSpace, controllers: { heuristic, ...extra } });
}

/**
 * The probability (discrete) or log-density (continuous) of every logged action in a dataset under a policy:
 * the target-policy side of importance weights. Rows are read from `transitions.observations` and `.actions`.
 */
export function loggedActionLikelihoods(policy: BehaviorPolicy, transitions: Transitions): Float64Array {
  const { size, observationDim } = transitions;
  const out = new Float64Array(size);
  const space = transitions.actionSpace;
  if (policy.kind !== space.kind || (policy.kind === "discrete" && space.kind === "discrete" && policy.n !== space.n)) {
    throw new EnvError("policy_space_mismatch", `policy ${policy.spec} does not act in the dataset's ${space.kind} action space`, { spec: policy.spec });
  }
  if (policy.kind === "discrete") {
    const probs = new Float64Array(policy.n);
    const actions = transitions.actions as Int32Array;
    for (let i = 0; i < size; i++) {
      policy.probabilities(transitions.observations.subarray(i * observationDim, (i + 1) * observationDim), probs);
      out[i] = probs[actions[i]!]!;
    }
  } else {
    const actionDim = policy.low.length;
    const actions = transitions.actions as Float32Array;
    for (let i = 0; i < size; i++) {
      out[i] = policy.logDensity(transitions.observations.subarray(i * observationDim, (i + 1) * observationDim), actions.subarray(i * actionDim, (i + 1) * actionDim));
    }
  }
  return out;
}
