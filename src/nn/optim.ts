import { gradients } from "./autodiff.js";
import { NnError } from "./errors.js";
import type { Graph, Tensor } from "./graph.js";
import * as op from "./ops.js";

export interface OptimizerOptions {
  /** Learning rate: a number or a float32 scalar tensor (e.g. an input, for schedules). */
  lr?: number | Tensor;
  /** Clip the group's global gradient norm to this value (torch.nn.utils.clip_grad_norm_). */
  maxGradNorm?: number;
  /** Name used for state vectors and checkpoint entries (default `<kind><index>`). */
  name?: string;
  /**
   * A scalar gate (e.g. an input): bool, or float32 read as "> 0.5". When off, this call leaves the group, its
   * optimizer state and step count unchanged (delayed policy updates as in TD3).
   */
  when?: Tensor;
}

/** One condition tensor per gate input, so every update gated by it shares it (the lowering runs them in one ONNX If). */
const gateConditions = new WeakMap<Tensor, Tensor>();

function gate(when: Tensor | undefined, updated: Tensor, old: Tensor): Tensor {
  if (!when) return updated;
  let condition = gateConditions.get(when);
  if (!condition) {
    const scalar = op.reshape(when, []);
    condition = scalar.dtype === "bool" ? scalar : op.greater(scalar, 0.5);
    gateConditions.set(when, condition);
  }
  return op.where(condition, updated, old);
}

/**
 * `value` on calls where the gate `when` is on, `otherwise` (e.g. NaN) when it is off. Like the gated updates, it
 * shares their condition, so in ONNX the work only `value` needs runs inside the same If (skipped on off steps).
 */
export function gated(when: Tensor, value: Tensor, otherwise: number): Tensor {
  checkGate("gated", when);
  return gate(when, value, value.graph.constant(otherwise, value.shape, value.dtype));
}

function checkGate(kind: string, when: Tensor | undefined): void {
  if (when && (when.dtype === "int64" || when.size !== 1)) {
    throw new NnError("invalid_argument", `${kind}: "when" must be a bool or float32 scalar, got ${when}`, { op: kind });
  }
}

export interface AdamOptions extends OptimizerOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Adam: L2 penalty added to the gradient (torch.optim.Adam weight_decay). AdamW: decoupled decay (default 0.01). */
  weightDecay?: number;
}

export interface SgdOptions extends OptimizerOptions {
  momentum?: number;
  weightDecay?: number;
}

export interface OptimizerResult {
  /** The gradient of each parameter (before clipping). */
  grads: Tensor[];
  /** Global L2 norm of the group's gradient before clipping. */
  gradNorm: Tensor;
}

function prepare(kind: string, loss: Tensor, params: readonly Tensor[], options: OptimizerOptions) {
  if (params.length === 0) throw new NnError("invalid_argument", `${kind}: empty parameter group`, {});
  checkGate(kind, options.when);
  const g = loss.graph;
  for (const p of params) g.paramInfo(p);
  const name = options.name ?? `${kind}${g.optimizers.length}`;
  const grads = gradients(loss, params);
  const flatGrad = op.concat(grads.map((x) => op.reshape(x, [-1])), 0);
  const gradNorm = op.sqrt(op.sum(op.square(flatGrad)));
  let clipped = flatGrad;
  if (options.maxGradNorm !== undefined) {
    // torch: coef = max_norm / (total_norm + 1e-6), clamped to at most 1.
    const coef = op.minimum(op.div(options.maxGradNorm, op.add(gradNorm, 1e-6)), 1);
    clipped = op.mul(flatGrad, coef);
  }
  const lr = typeof options.lr === "object" ? options.lr : g.constant(options.lr ?? 1e-3);
  if (lr.size !== 1 || lr.dtype !== "float32") throw new NnError("invalid_argument", `${kind}: lr must be a float32 scalar`, {});
  return { g, name, grads, flatGrad: clipped, gradNorm, lr: op.reshape(lr, []) };
}

function adamImpl(kind: "adam" | "adamw", loss: Tensor, params: readonly Tensor[], options: AdamOptions): OptimizerResult {
  const { g, name, grads, flatGrad, gradNorm, lr } = prepare(kind, loss, params, options);
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const weightDecay = options.weightDecay ?? (kind === "adamw" ? 0.01 : 0);
  const n = flatGrad.size;
  const p0 = g.flatView(params);
  let p = p0;
  let grad = flatGrad;
  if (kind === "adam" && weightDecay !== 0) grad = op.add(grad, op.mul(p, weightDecay));
  if (kind === "adamw" && weightDecay !== 0) p = op.mul(p, op.sub(1, op.mul(lr, weightDecay)));
  const m = g.state(`${name}.exp_avg`, [n]);
  const v = g.state(`${name}.exp_avg_sq`, [n]);
  const t = g.state(`${name}.step`, []);
  // torch.optim.Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
  // The moments are stored divided by (1-b1) and (1-b2) (m' = b1 m' + g, v' = b2 v' + g^2), and every constant
  // folds into two scalars: the same update in 10 passes over the parameters instead of 13 (the step is memory-bound).
  const t1 = op.add(t, 1);
  const m1 = op.add(op.mul(m, beta1), grad);
  const v1 = op.add(op.mul(v, beta2), op.square(grad));
  const bc2Sqrt = op.sqrt(op.sub(1, op.pow(g.constant(beta2), t1)));
  // (1-b1) m' / (sqrt((1-b2) v') / bc2 + eps) = m' / (sqrt(v') + eps bc2 / sqrt(1-b2)) * (1-b1) bc2 / sqrt(1-b2)
  const stepSize = op.mul(op.div(lr, op.sub(1, op.pow(g.constant(beta1), t1))), op.mul(bc2Sqrt, (1 - beta1) / Math.sqrt(1 - beta2)));
  const denom = op.add(op.sqrt(v1), op.mul(bc2Sqrt, eps / Math.sqrt(1 - beta2)));
  const p1 = op.sub(p, op.mul(op.div(m1, denom), stepSize));
  const when = options.when;
  g.assign(m, gate(when, m1, m));
  g.assign(v, gate(when, v1, v));
  g.assign(t, gate(when, t1, t));
  g.assignParams(params, gate(when, p1, p0));
  g.optimizers.push({ name, kind, params: params.map((x) => g.paramInfo(x).name), slots: { exp_avg: `${name}.exp_avg`, exp_avg_sq: `${name}.exp_avg_sq` }, step: `${name}.step` });
  return { grads, gradNorm };
}

/** Adam (torch.optim.Adam semantics) on a parameter group, minimising `loss`, as graph ops of this step. */
export function adam(loss: Tensor, params: readonly Tensor[], options: AdamOptions = {}): OptimizerResult {
  return adamImpl("adam", loss, params, options);
}

/** AdamW (torch.optim.AdamW: decoupled weight decay, default 0.01). */
export function adamW(loss: Tensor, params: readonly Tensor[], options: AdamOptions = {}): OptimizerResult {
  return adamImpl("adamw", loss, params, options);
}

/** SGD with optional momentum and L2 weight decay (torch.optim.SGD, dampening 0, no Nesterov). */
export function sgd(loss: Tensor, params: readonly Tensor[], options: SgdOptions = {}): OptimizerResult {
  const { g, name, grads, flatGrad, gradNorm, lr } = prepare("sgd", loss, params, options);
  const p = g.flatView(params);
  let grad = flatGrad;
  if (options.weightDecay) grad = op.add(grad, op.mul(p, options.weightDecay));
  const slots: Record<string, string> = {};
  if (options.momentum) {
    // torch initialises the buffer with the first gradient; momentum * 0 + g gives the same value.
    const buf = g.state(`${name}.momentum_buffer`, [grad.size]);
    const buf1 = op.add(op.mul(buf, options.momentum), grad);
    g.assign(buf, gate(options.when, buf1, buf));
    slots.momentum_buffer = `${name}.momentum_buffer`;
    grad = buf1;
  }
  g.assignParams(params, gate(options.when, op.sub(p, op.mul(grad, lr)), p));
  g.optimizers.push({ name, kind: "sgd", params: params.map((x) => g.paramInfo(x).name), slots });
  return { grads, gradNorm };
}

export interface PolyakOptions {
  /** Use the sources' values after this step's optimizer updates (declared earlier), like PyTorch code that
   * soft-updates after optimizer.step(). Default false: the pre-step values. */
  afterUpdate?: boolean;
  /** A scalar gate (bool, or float32 read as "> 0.5"): when off the targets stay unchanged this call. */
  when?: Tensor;
}

/** Polyak averaging of target networks: target <- (1 - tau) * target + tau * source, as graph ops. */
export function polyak(targets: readonly Tensor[], sources: readonly Tensor[], tau: number, options: PolyakOptions = {}): void {
  if (targets.length !== sources.length || targets.length === 0) {
    throw new NnError("invalid_argument", `polyak: ${targets.length} targets vs ${sources.length} sources`, {});
  }
  if (!(tau >= 0 && tau <= 1)) throw new NnError("invalid_argument", `polyak: tau must be in [0, 1], got ${tau}`, { tau });
  const g: Graph = targets[0]!.graph;
  targets.forEach((t, i) => {
    const s = sources[i]!;
    if (t.shape.join() !== s.shape.join()) {
      throw new NnError("shape_mismatch", `polyak: target ${g.paramInfo(t).name} [${t.shape.join(", ")}] vs source ${g.paramInfo(s).name} [${s.shape.join(", ")}]`, { op: "polyak" });
    }
  });
  checkGate("polyak", options.when);
  const target = g.flatView(targets);
  const source = options.afterUpdate ? g.updatedFlatView(sources) : g.flatView(sources);
  g.assignParams(targets, gate(options.when, op.add(op.mul(target, 1 - tau), op.mul(source, tau)), target));
}
