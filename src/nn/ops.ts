import { NnError } from "./errors.js";
import { broadcastShapes, fmtShape, sameShape, shapeSize, type DType, type Shape, Tensor } from "./graph.js";

/** A tensor, or a number promoted to a scalar constant of the other operand's dtype. */
export type Operand = Tensor | number;

export const UNARY_FLOAT_OPS = ["neg", "abs", "sqrt", "exp", "log", "tanh", "sigmoid", "relu", "softplus", "sign", "cos", "sin"] as const;
export const BINARY_ARITH_OPS = ["add", "sub", "mul", "div", "pow", "minimum", "maximum"] as const;
export const COMPARE_OPS = ["greater", "less", "greaterEqual", "lessEqual", "equal"] as const;
export const LOGIC_OPS = ["and", "or"] as const;
export const REDUCE_OPS = ["sum", "mean", "max", "min", "logSumExp"] as const;

function shapeError(op: string, message: string, shapes: Record<string, Shape>): NnError {
  const described = Object.entries(shapes).map(([k, s]) => `${k} ${fmtShape(s)}`).join(", ");
  return new NnError("shape_mismatch", `${op}: ${message} (${described})`, { op, shapes });
}

function requireFloat(op: string, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    if (t.dtype !== "float32") throw new NnError("dtype_mismatch", `${op}: expects float32, got ${t.dtype} for ${t}`, { op, dtype: t.dtype });
  }
}

function pair(op: string, a: Operand, b: Operand): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number") throw new NnError("invalid_argument", `${op}: at least one operand must be a tensor`, { op });
  const ta = typeof a === "number" ? (b as Tensor).graph.constant(a, [], (b as Tensor).dtype) : a;
  const tb = typeof b === "number" ? ta.graph.constant(b, [], ta.dtype) : b;
  if (ta.graph !== tb.graph) throw new NnError("invalid_argument", `${op}: operands belong to different graphs`, { op });
  if (ta.dtype !== tb.dtype) throw new NnError("dtype_mismatch", `${op}: dtypes differ (${ta.dtype} vs ${tb.dtype})`, { op });
  return [ta, tb];
}

function binary(op: string, a: Operand, b: Operand, outDtype?: DType): Tensor {
  const [ta, tb] = pair(op, a, b);
  const shape = broadcastShapes(ta.shape, tb.shape);
  if (!shape) throw shapeError(op, "shapes do not broadcast", { a: ta.shape, b: tb.shape });
  return ta.graph.addNode(op, [ta, tb], {}, shape, outDtype ?? ta.dtype);
}

function unary(op: string, x: Tensor, attrs: Record<string, unknown> = {}): Tensor {
  requireFloat(op, x);
  return x.graph.addNode(op, [x], attrs, x.shape, "float32");
}

// ---- elementwise -------------------------------------------------------------------------------------------------
export const add = (a: Operand, b: Operand): Tensor => binary("add", a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary("sub", a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary("mul", a, b);
export const div = (a: Operand, b: Operand): Tensor => binary("div", a, b);
export const pow = (a: Operand, b: Operand): Tensor => binary("pow", a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary("minimum", a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binary("maximum", a, b);
export const greater = (a: Operand, b: Operand): Tensor => binary("greater", a, b, "bool");
export const less = (a: Operand, b: Operand): Tensor => binary("less", a, b, "bool");
export const greaterEqual = (a: Operand, b: Operand): Tensor => binary("greaterEqual", a, b, "bool");
export const lessEqual = (a: Operand, b: Operand): Tensor => binary("lessEqual", a, b, "bool");
export const equal = (a: Operand, b: Operand): Tensor => binary("equal", a, b, "bool");

export function and(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== "bool" || b.dtype !== "bool") throw new NnError("dtype_mismatch", "and: expects bool operands", { op: "and" });
  return binary("and", a, b);
}
export function or(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== "bool" || b.dtype !== "bool") throw new NnError("dtype_mismatch", "or: expects bool operands", { op: "or" });
  return binary("or", a, b);
}
export function not(a: Tensor): Tensor {
  if (a.dtype !== "bool") throw new NnError("dtype_mismatch", "not: expects a bool operand", { op: "not" });
  return a.graph.addNode("not", [a], {}, a.shape, "bool");
}

export const neg = (x: Tensor): Tensor => unary("neg", x);
export const abs = (x: Tensor): Tensor => unary("abs", x);
export const sign = (x: Tensor): Tensor => unary("sign", x);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
export const exp = (x: Tensor): Tensor => unary("exp", x);
export const log = (x: Tensor): Tensor => unary("log", x);
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
export const cos = (x: Tensor): Tensor => unary("cos", x);
export const sin = (x: Tensor): Tensor => unary("sin", x);
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** log(1 + exp(x)), computed stably. */
export const softplus = (x: Tensor): Tensor => unary("softplus", x);
export const leakyRelu = (x: Tensor, alpha = 0.01): Tensor => unary("leakyRelu", x, { alpha });
export const square = (x: Tensor): Tensor => mul(x, x);
export const reciprocal = (x: Tensor): Tensor => div(1, x);

/** Clamp to [min, max] (either bound may be omitted). Gradient passes where min <= x <= max. */
export function clip(x: Tensor, min?: number, max?: number): Tensor {
  requireFloat("clip", x);
  if (min !== undefined && max !== undefined && min > max) throw new NnError("invalid_argument", `clip: min ${min} > max ${max}`, { op: "clip" });
  return x.graph.addNode("clip", [x], { min: min ?? -Infinity, max: max ?? Infinity }, x.shape, "float32");
}

export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  if (cond.dtype !== "bool") throw new NnError("dtype_mismatch", `where: condition must be bool, got ${cond.dtype}`, { op: "where" });
  const [ta, tb] = pair("where", typeof a === "number" && typeof b === "number" ? cond.graph.constant(a) : a, b);
  const shape = broadcastShapes(cond.shape, broadcastShapes(ta.shape, tb.shape) ?? [-1]);
  if (!shape || !broadcastShapes(ta.shape, tb.shape)) throw shapeError("where", "shapes do not broadcast", { cond: cond.shape, a: ta.shape, b: tb.shape });
  return cond.graph.addNode("where", [cond, ta, tb], {}, shape, ta.dtype);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return x.graph.addNode("cast", [x], { to: dtype }, x.shape, dtype);
}

/** Identity in the forward pass; blocks gradients. */
export function stopGradient(x: Tensor): Tensor {
  return x.graph.addNode("stopGradient", [x], {}, x.shape, x.dtype);
}

// ---- linear algebra ----------------------------------------------------------------------------------------------
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Matrix product over the last two axes (rank 2 or 3; leading batch axes broadcast, e.g. [B,in] x [E,in,out] ->
 * [E,B,out] for critic ensembles). transA/transB transpose the last two axes of the operand first.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  requireFloat("matmul", a, b);
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  if (a.rank < 2 || b.rank < 2 || a.rank > 3 || b.rank > 3) throw shapeError("matmul", "operands must have rank 2 or 3", { a: a.shape, b: b.shape });
  const [m, ka] = transA ? [a.shape[a.rank - 1]!, a.shape[a.rank - 2]!] : [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [kb, n] = transB ? [b.shape[b.rank - 1]!, b.shape[b.rank - 2]!] : [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  if (ka !== kb) throw shapeError("matmul", `inner dimensions differ (${ka} vs ${kb})`, { a: a.shape, b: b.shape });
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (!batch) throw shapeError("matmul", "batch dimensions do not broadcast", { a: a.shape, b: b.shape });
  return a.graph.addNode("matmul", [a, b], { transA, transB }, [...batch, m, n], "float32");
}

// ---- reductions --------------------------------------------------------------------------------------------------
function normAxes(op: string, x: Tensor, axes: number | readonly number[] | undefined): number[] {
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === "number" ? [axes] : [...axes];
  const out = list.map((a) => (a < 0 ? a + x.rank : a));
  for (const a of out) {
    if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw shapeError(op, `axis ${a} out of range`, { x: x.shape });
  }
  if (new Set(out).size !== out.length) throw shapeError(op, "repeated axis", { x: x.shape });
  return out.sort((p, q) => p - q);
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean): Tensor {
  requireFloat(op, x);
  const list = normAxes(op, x, axes);
  const shape = keepDims ? x.shape.map((d, i) => (list.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !list.includes(i));
  return x.graph.addNode(op, [x], { axes: list, keepDims }, shape, "float32");
}

/** Sum over `axes` (all when omitted). */
export const sum = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce("sum", x, axes, keepDims);
export const mean = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce("mean", x, axes, keepDims);
export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce("max", x, axes, keepDims);
export const min = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce("min", x, axes, keepDims);
/** log(sum(exp(x))) over axes, computed stably. */
export const logSumExp = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce("logSumExp", x, axes, keepDims);

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return sub(x, logSumExp(x, [axis], true));
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return exp(logSoftmax(x, axis));
}

export function argMax(x: Tensor, axis: number, keepDims = false): Tensor {
  requireFloat("argMax", x);
  const [a] = normAxes("argMax", x, axis);
  const shape = keepDims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.graph.addNode("argMax", [x], { axis: a, keepDims }, shape, "int64");
}

// ---- indexing ----------------------------------------------------------------------------------------------------
/**
 * out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis` (numpy take_along_axis / ONNX GatherElements),
 * e.g. Q(s, a) = takeAlongAxis(q [B,n], actions [B,1], 1). Indices must be int64 with x's rank; the other axes match.
 */
export function takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
  requireFloat("takeAlongAxis", x);
  if (indices.dtype !== "int64") throw new NnError("dtype_mismatch", `takeAlongAxis: indices must be int64, got ${indices.dtype}`, { op: "takeAlongAxis" });
  const [a] = normAxes("takeAlongAxis", x, axis);
  if (indices.rank !== x.rank || x.shape.some((d, i) => i !== a && d !== indices.shape[i])) {
    throw shapeError("takeAlongAxis", `indices must have x's rank and match it on every axis but ${a}`, { x: x.shape, indices: indices.shape });
  }
  return x.graph.addNode("takeAlongAxis", [x, indices], { axis: a }, indices.shape, "float32");
}

/**
 * Select entries along `axis` by a 1-D int64 index vector (numpy take / ONNX Gather), e.g. rows of a minibatch:
 * gather(x [N, D], idx [B], 0) -> [B, D]. Repeated indices are allowed (their gradients add up).
 */
export function gather(x: Tensor, indices: Tensor, axis: number): Tensor {
  if (indices.dtype !== "int64" || indices.rank !== 1) throw new NnError("dtype_mismatch", `gather: indices must be a 1-D int64 tensor, got ${indices}`, { op: "gather" });
  const [a] = normAxes("gather", x, axis);
  return x.graph.addNode("gather", [x, indices], { axis: a }, x.shape.map((d, i) => (i === a ? indices.shape[0]! : d)), x.dtype);
}

/** The inverse of takeAlongAxis: zeros of `shape` with `updates` added at `indices` along `axis`. */
export function scatterAddAlongAxis(shape: Shape, indices: Tensor, updates: Tensor, axis: number): Tensor {
  if (!sameShape(indices.shape, updates.shape)) throw shapeError("scatterAddAlongAxis", "indices and updates differ", { indices: indices.shape, updates: updates.shape });
  return updates.graph.addNode("scatterAdd", [indices, updates], { axis, shape: [...shape] }, shape, "float32");
}

/** float32 one-hot encoding along a new last axis. */
export function oneHot(indices: Tensor, depth: number): Tensor {
  if (indices.dtype !== "int64") throw new NnError("dtype_mismatch", `oneHot: indices must be int64, got ${indices.dtype}`, { op: "oneHot" });
  if (!Number.isInteger(depth) || depth < 1) throw new NnError("invalid_argument", `oneHot: depth must be a positive integer, got ${depth}`, { op: "oneHot" });
  return indices.graph.addNode("oneHot", [indices], { depth }, [...indices.shape, depth], "float32");
}

// ---- shape -------------------------------------------------------------------------------------------------------
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new NnError("invalid_argument", "concat: needs at least one tensor", { op: "concat" });
  const first = xs[0]!;
  const a = axis < 0 ? axis + first.rank : axis;
  if (a < 0 || a >= first.rank) throw shapeError("concat", `axis ${axis} out of range`, { x0: first.shape });
  let total = 0;
  xs.forEach((x, k) => {
    if (x.dtype !== first.dtype) throw new NnError("dtype_mismatch", `concat: dtypes differ`, { op: "concat" });
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw shapeError("concat", `input ${k} differs from input 0 off axis ${a}`, { x0: first.shape, [`x${k}`]: x.shape });
    }
    total += x.shape[a]!;
  });
  if (xs.length === 1) return first;
  const shape = first.shape.map((d, i) => (i === a ? total : d));
  return first.graph.addNode("concat", xs, { axis: a }, shape, first.dtype);
}

/** x[start:end] along one axis (static bounds, end exclusive; negative values count from the end). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw shapeError("slice", `axis ${axis} out of range`, { x: x.shape });
  const dim = x.shape[a]!;
  const s = start < 0 ? start + dim : start;
  const e = end < 0 ? end + dim : Math.min(end, dim);
  if (s < 0 || s >= e) throw shapeError("slice", `empty or invalid range ${start}:${end} on axis ${a}`, { x: x.shape });
  return x.graph.addNode("slice", [x], { axis: a, start: s, end: e }, x.shape.map((d, i) => (i === a ? e - s : d)), x.dtype);
}

/** Reshape; one dimension may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  const free = shape.length - known.length;
  if (free > 1) throw shapeError("reshape", "at most one -1", { x: x.shape, target: shape });
  const knownSize = shapeSize(known);
  const out = shape.map((d) => (d === -1 ? x.size / knownSize : d));
  if (out.some((d) => !Number.isInteger(d) || d < 0) || shapeSize(out) !== x.size) {
    throw shapeError("reshape", `cannot reshape ${x.size} values`, { x: x.shape, target: shape });
  }
  if (sameShape(out, x.shape)) return x;
  return x.graph.addNode("reshape", [x], { shape: out }, out, x.dtype);
}

export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ? [...perm] : x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw shapeError("transpose", `invalid permutation [${p.join(", ")}]`, { x: x.shape });
  }
  return x.graph.addNode("transpose", [x], { perm: p }, p.map((i) => x.shape[i]!), x.dtype);
}

export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes(x.shape, shape);
  if (!out || !sameShape(out, shape)) throw shapeError("broadcastTo", "cannot broadcast", { x: x.shape, target: shape });
  if (sameShape(x.shape, shape)) return x;
  return x.graph.addNode("broadcastTo", [x], { shape: [...shape] }, shape, x.dtype);
}

/** Insert a size-1 axis. */
export function expandDims(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Remove size-1 axes (all when omitted). */
export function squeeze(x: Tensor, axes?: readonly number[]): Tensor {
  const list = (axes ?? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => (a < 0 ? a + x.rank : a));
  for (const a of list) if (x.shape[a] !== 1) throw shapeError("squeeze", `axis ${a} has size ${x.shape[a]}`, { x: x.shape });
  return reshape(x, x.shape.filter((_, i) => !list.includes(i)));
}

/** Sum a broadcast gradient back to `shape` (the inverse of NumPy broadcasting). */
export function sumToShape(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const lead = x.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? sum(x, axes, true) : x;
  return reshape(summed, shape);
}
