import { NnError } from "./errors.js";
import { PARAMS_STATE, type Shape, shapeSize, type Tensor } from "./graph.js";

/**
 * A pure-TypeScript interpreter of the graph: the reference for tests and gradient checks (float64) and a
 * fallback executor (float32: every op's result is rounded to float32, like ONNX Runtime).
 */
export type Precision = "float32" | "float64";
type Data = Float32Array | Float64Array;

export interface InterpreterEnv {
  /** Values of graph inputs by name (any numeric array; int64 inputs as integers). */
  inputs: Readonly<Record<string, ArrayLike<number> | BigInt64Array>>;
  /** Values of state vectors by name, including the flat parameter vector "params". */
  states: Readonly<Record<string, ArrayLike<number>>>;
}

export function evaluate(targets: readonly Tensor[], env: InterpreterEnv, precision: Precision = "float32"): Data[] {
  if (targets.length === 0) return [];
  const graph = targets[0]!.graph;
  const needed = neededNodes(targets);
  const values = new Map<number, Data>();
  for (const id of needed) values.set(id, run(graph.nodes[id]!, values, env, precision));
  return targets.map((t) => values.get(t.id)!);
}

/** Ids of the nodes the targets depend on, in topological (= creation) order. */
export function neededNodes(targets: readonly Tensor[]): number[] {
  const seen = new Set<number>();
  const stack = [...targets];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    stack.push(...t.inputs);
  }
  return [...seen].sort((a, b) => a - b);
}

function alloc(node: Tensor, precision: Precision): Data {
  const n = node.size;
  return node.dtype === "float32" && precision === "float32" ? new Float32Array(n) : new Float64Array(n);
}

function strides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

const broadcastCache = new Map<string, Int32Array>();

/** For each flat index of `out`, the flat index of the broadcast operand of shape `shape` (cached by shapes). */
function broadcastMap(out: Shape, shape: Shape): Int32Array {
  const key = `${out.join(",")}|${shape.join(",")}`;
  let map = broadcastCache.get(key);
  if (!map) {
    map = computeBroadcastMap(out, shape);
    if (broadcastCache.size > 4096) broadcastCache.clear();
    broadcastCache.set(key, map);
  }
  return map;
}

function computeBroadcastMap(out: Shape, shape: Shape): Int32Array {
  const n = shapeSize(out);
  const map = new Int32Array(n);
  if (shapeSize(shape) === n) {
    for (let i = 0; i < n; i++) map[i] = i;
    return map;
  }
  const lead = out.length - shape.length;
  const inStrides = strides(shape);
  const outStrides = strides(out);
  for (let i = 0; i < n; i++) {
    let rest = i;
    let j = 0;
    for (let d = 0; d < out.length; d++) {
      const coord = Math.floor(rest / outStrides[d]!);
      rest -= coord * outStrides[d]!;
      if (d >= lead && shape[d - lead] !== 1) j += coord * inStrides[d - lead]!;
    }
    map[i] = j;
  }
  return map;
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

const UNARY: Record<string, (x: number, attrs: Record<string, unknown>) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: (x) => Math.sign(x),
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: Math.log,
  tanh: Math.tanh,
  cos: Math.cos,
  sin: Math.sin,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  relu: (x) => (x > 0 ? x : 0),
  softplus,
  leakyRelu: (x, a) => (x > 0 ? x : x * (a.alpha as number)),
  clip: (x, a) => Math.min(Math.max(x, a.min as number), a.max as number),
  not: (x) => (x ? 0 : 1),
  identity: (x) => x,
  stopGradient: (x) => x,
};

const BINARY: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  minimum: Math.min,
  maximum: Math.max,
  greater: (a, b) => (a > b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  lessEqual: (a, b) => (a <= b ? 1 : 0),
  equal: (a, b) => (a === b ? 1 : 0),
  and: (a, b) => (a && b ? 1 : 0),
  or: (a, b) => (a || b ? 1 : 0),
};

function run(node: Tensor, values: Map<number, Data>, env: InterpreterEnv, precision: Precision): Data {
  const ins = node.inputs.map((i) => values.get(i.id)!);
  const out = alloc(node, precision);
  const attrs = node.attrs as Record<string, unknown>;
  const unary = UNARY[node.op];
  if (unary) {
    const x = ins[0]!;
    for (let i = 0; i < out.length; i++) out[i] = unary(x[i]!, attrs);
    return out;
  }
  const binary = BINARY[node.op];
  if (binary) {
    const [a, b] = ins as [Data, Data];
    if (a.length === out.length && b.length === out.length) {
      for (let i = 0; i < out.length; i++) out[i] = binary(a[i]!, b[i]!);
      return out;
    }
    if (b.length === 1) {
      const bv = b[0]!;
      const ma = broadcastMap(node.shape, node.inputs[0]!.shape);
      for (let i = 0; i < out.length; i++) out[i] = binary(a[ma[i]!]!, bv);
      return out;
    }
    const ma = broadcastMap(node.shape, node.inputs[0]!.shape);
    const mb = broadcastMap(node.shape, node.inputs[1]!.shape);
    for (let i = 0; i < out.length; i++) out[i] = binary(a[ma[i]!]!, b[mb[i]!]!);
    return out;
  }
  switch (node.op) {
    case "constant":
      out.set(attrs.data as Float64Array);
      return out;
    case "input": {
      const name = attrs.name as string;
      const value = env.inputs[name];
      if (!value) throw new NnError("missing_feed", `input "${name}" was not fed`, { name });
      if (value.length !== out.length) throw new NnError("bad_feed", `input "${name}": ${value.length} values, shape needs ${out.length}`, { name });
      for (let i = 0; i < out.length; i++) out[i] = Number(value[i]!);
      return out;
    }
    case "state": {
      const name = attrs.name as string;
      const value = env.states[name];
      if (!value) throw new NnError("missing_feed", `state "${name}" was not provided`, { name });
      // The flat parameter vector keeps full precision; the float32 rounding happens when params are sliced.
      if (name === PARAMS_STATE) return Float64Array.from(value);
      const full = alloc(node, precision);
      if (value.length !== full.length) throw new NnError("bad_feed", `state "${name}": ${value.length} values, shape needs ${full.length}`, { name });
      full.set(value);
      return full;
    }
    case "param": {
      const pool = ins[0]!;
      const offset = attrs.offset as number;
      out.set(pool.subarray(offset, offset + out.length));
      return out;
    }
    case "cast": {
      const x = ins[0]!;
      const to = attrs.to as string;
      for (let i = 0; i < out.length; i++) out[i] = to === "bool" ? (x[i] ? 1 : 0) : to === "int64" ? Math.trunc(x[i]!) : x[i]!;
      return out;
    }
    case "where": {
      const [c, a, b] = ins as [Data, Data, Data];
      const mc = broadcastMap(node.shape, node.inputs[0]!.shape);
      const ma = broadcastMap(node.shape, node.inputs[1]!.shape);
      const mb = broadcastMap(node.shape, node.inputs[2]!.shape);
      for (let i = 0; i < out.length; i++) out[i] = c[mc[i]!] ? a[ma[i]!]! : b[mb[i]!]!;
      return out;
    }
    case "matmul":
      return matmul(node, ins[0]!, ins[1]!, out);
    case "sum":
    case "mean":
    case "max":
    case "min":
    case "logSumExp":
      return reduce(node, ins[0]!, out);
    case "argMax": {
      const x = ins[0]!;
      const shape = node.inputs[0]!.shape;
      const axis = attrs.axis as number;
      const inner = shapeSize(shape.slice(axis + 1));
      const dim = shape[axis]!;
      const outer = shapeSize(shape.slice(0, axis));
      for (let o = 0; o < outer; o++) {
        for (let k = 0; k < inner; k++) {
          let best = 0;
          for (let j = 1; j < dim; j++) if (x[(o * dim + j) * inner + k]! > x[(o * dim + best) * inner + k]!) best = j;
          out[o * inner + k] = best;
        }
      }
      return out;
    }
    case "takeAlongAxis":
    case "scatterAdd": {
      const gather = node.op === "takeAlongAxis";
      const axis = attrs.axis as number;
      const idxTensor = gather ? node.inputs[1]! : node.inputs[0]!;
      const idx = gather ? ins[1]! : ins[0]!;
      const dataShape = gather ? node.inputs[0]!.shape : node.shape;
      const dataStrides = strides(dataShape);
      const idxStrides = strides(idxTensor.shape);
      const src = gather ? ins[0]! : ins[1]!;
      for (let i = 0; i < idx.length; i++) {
        let rest = i;
        let j = 0;
        for (let d = 0; d < idxStrides.length; d++) {
          const coord = Math.floor(rest / idxStrides[d]!);
          rest -= coord * idxStrides[d]!;
          let c = coord;
          if (d === axis) {
            c = idx[i]! < 0 ? idx[i]! + dataShape[d]! : idx[i]!;
            if (c < 0 || c >= dataShape[d]!) throw new NnError("bad_feed", `${node.op}: index ${idx[i]} out of range for axis size ${dataShape[d]}`, { op: node.op });
          }
          j += c * dataStrides[d]!;
        }
        if (gather) out[i] = src[j]!;
        else out[j] = out[j]! + src[i]!;
      }
      return out;
    }
    case "gather": {
      const axis = attrs.axis as number;
      const inShape = node.inputs[0]!.shape;
      const x = ins[0]!;
      const idx = ins[1]!;
      const outer = shapeSize(inShape.slice(0, axis));
      const inner = shapeSize(inShape.slice(axis + 1));
      const dim = inShape[axis]!;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < idx.length; j++) {
          const k = idx[j]! < 0 ? idx[j]! + dim : idx[j]!;
          if (k < 0 || k >= dim) throw new NnError("bad_feed", `gather: index ${idx[j]} out of range for axis size ${dim}`, { op: "gather" });
          out.set(x.subarray((o * dim + k) * inner, (o * dim + k + 1) * inner), (o * idx.length + j) * inner);
        }
      }
      return out;
    }
    case "oneHot": {
      const depth = attrs.depth as number;
      const idx = ins[0]!;
      for (let i = 0; i < idx.length; i++) {
        const k = idx[i]! < 0 ? idx[i]! + depth : idx[i]!;
        if (k >= 0 && k < depth) out[i * depth + k] = 1;
      }
      return out;
    }
    case "concat": {
      const axis = attrs.axis as number;
      const outer = shapeSize(node.shape.slice(0, axis));
      const inner = shapeSize(node.shape.slice(axis + 1));
      const outRow = node.shape[axis]! * inner;
      let colOffset = 0;
      node.inputs.forEach((input, k) => {
        const row = input.shape[axis]! * inner;
        const x = ins[k]!;
        for (let o = 0; o < outer; o++) out.set(x.subarray(o * row, (o + 1) * row), o * outRow + colOffset);
        colOffset += row;
      });
      return out;
    }
    case "slice": {
      const { axis, start } = attrs as { axis: number; start: number };
      const inShape = node.inputs[0]!.shape;
      const x = ins[0]!;
      const outer = shapeSize(inShape.slice(0, axis));
      const inner = shapeSize(inShape.slice(axis + 1));
      const inRow = inShape[axis]! * inner;
      const outRow = node.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) out.set(x.subarray(o * inRow + start * inner, o * inRow + start * inner + outRow), o * outRow);
      return out;
    }
    case "reshape":
      out.set(ins[0]!);
      return out;
    case "transpose": {
      const perm = attrs.perm as number[];
      const inStrides = strides(node.inputs[0]!.shape);
      const outStrides = strides(node.shape);
      const x = ins[0]!;
      for (let i = 0; i < out.length; i++) {
        let rest = i;
        let j = 0;
        for (let d = 0; d < perm.length; d++) {
          const coord = Math.floor(rest / outStrides[d]!);
          rest -= coord * outStrides[d]!;
          j += coord * inStrides[perm[d]!]!;
        }
        out[i] = x[j]!;
      }
      return out;
    }
    case "broadcastTo": {
      const m = broadcastMap(node.shape, node.inputs[0]!.shape);
      const x = ins[0]!;
      for (let i = 0; i < out.length; i++) out[i] = x[m[i]!]!;
      return out;
    }
    default:
      throw new NnError("invalid_argument", `interpreter: unsupported op "${node.op}"`, { op: node.op });
  }
}

function matmul(node: Tensor, a: Data, b: Data, out: Data): Data {
  const [ta, tb] = node.inputs as [Tensor, Tensor];
  const { transA, transB } = node.attrs as { transA: boolean; transB: boolean };
  const m = node.shape[node.rank - 2]!;
  const n = node.shape[node.rank - 1]!;
  const k = transA ? ta.shape[ta.rank - 2]! : ta.shape[ta.rank - 1]!;
  const batch = node.rank === 3 ? node.shape[0]! : 1;
  const aBatched = ta.rank === 3 && ta.shape[0] !== 1;
  const bBatched = tb.rank === 3 && tb.shape[0] !== 1;
  const acc = new Float64Array(m * n);
  for (let e = 0; e < batch; e++) {
    const aOff = aBatched ? e * m * k : 0;
    const bOff = bBatched ? e * k * n : 0;
    acc.fill(0);
    if (!transA && !transB) {
      // acc[i, :] += a[i, p] * b[p, :]
      for (let i = 0; i < m; i++) {
        const row = i * n;
        for (let p = 0; p < k; p++) {
          const av = a[aOff + i * k + p]!;
          if (av === 0) continue;
          const base = bOff + p * n;
          for (let j = 0; j < n; j++) acc[row + j]! += av * b[base + j]!;
        }
      }
    } else if (!transA && transB) {
      // acc[i, j] = a[i, :] . b[j, :]
      for (let i = 0; i < m; i++) {
        const aRow = aOff + i * k;
        for (let j = 0; j < n; j++) {
          const bRow = bOff + j * k;
          let sum = 0;
          for (let p = 0; p < k; p++) sum += a[aRow + p]! * b[bRow + p]!;
          acc[i * n + j] = sum;
        }
      }
    } else if (transA && !transB) {
      // acc[i, :] += a[p, i] * b[p, :]
      for (let p = 0; p < k; p++) {
        const base = bOff + p * n;
        for (let i = 0; i < m; i++) {
          const av = a[aOff + p * m + i]!;
          if (av === 0) continue;
          const row = i * n;
          for (let j = 0; j < n; j++) acc[row + j]! += av * b[base + j]!;
        }
      }
    } else {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let p = 0; p < k; p++) sum += a[aOff + p * m + i]! * b[bOff + j * k + p]!;
          acc[i * n + j] = sum;
        }
      }
    }
    out.set(acc, e * m * n);
  }
  return out;
}

function reduce(node: Tensor, x: Data, out: Data): Data {
  const input = node.inputs[0]!;
  const axes = node.attrs.axes as number[];
  const keptShape = input.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const map = new Int32Array(x.length);
  const inStrides = strides(input.shape);
  const outStrides = strides(keptShape);
  for (let i = 0; i < x.length; i++) {
    let rest = i;
    let j = 0;
    for (let d = 0; d < input.rank; d++) {
      const coord = Math.floor(rest / inStrides[d]!);
      rest -= coord * inStrides[d]!;
      if (!axes.includes(d)) j += coord * outStrides[d]!;
    }
    map[i] = j;
  }
  const acc = new Float64Array(out.length);
  const op = node.op;
  if (op === "max" || op === "min" || op === "logSumExp") {
    acc.fill(op === "min" ? Infinity : -Infinity);
    for (let i = 0; i < x.length; i++) acc[map[i]!] = op === "min" ? Math.min(acc[map[i]!]!, x[i]!) : Math.max(acc[map[i]!]!, x[i]!);
    if (op !== "logSumExp") {
      out.set(acc);
      return out;
    }
    const total = new Float64Array(out.length);
    for (let i = 0; i < x.length; i++) total[map[i]!]! += Math.exp(x[i]! - acc[map[i]!]!);
    for (let j = 0; j < out.length; j++) out[j] = acc[j]! + Math.log(total[j]!);
    return out;
  }
  for (let i = 0; i < x.length; i++) acc[map[i]!]! += x[i]!;
  const count = op === "mean" ? x.length / Math.max(1, out.length) : 1;
  for (let j = 0; j < out.length; j++) out[j] = acc[j]! / count;
  return out;
}
