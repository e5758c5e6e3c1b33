// Every op: gradient check against float64 central finite differences (interpreter), and ONNX Runtime vs
// interpreter equality on the forward value and on the symbolic gradients.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, type Tensor } from "./graph.js";
import * as op from "./ops.js";
import { gradients } from "./autodiff.js";
import { evaluate } from "./interpreter.js";
import { compileStep } from "./step.js";
import { gaussianLogProb, tanhGaussian, tanhGaussianLogProb } from "./distributions.js";
import { NnError } from "./errors.js";

type P = (shape: number[], low?: number, high?: number) => Tensor;
interface Case {
  name: string;
  build: (g: Graph, p: P) => Tensor;
  /** false: forward parity only (the op has no gradient). */
  diff?: boolean;
}

const ints = (g: Graph, values: number[], shape: number[]) => g.constant(values, shape, "int64");

const cases: Case[] = [
  { name: "add broadcast", build: (g, p) => op.add(p([3, 4]), p([4])) },
  { name: "sub broadcast", build: (g, p) => op.sub(p([3, 1]), p([3, 4])) },
  { name: "mul broadcast", build: (g, p) => op.mul(p([2, 3, 4]), p([3, 1])) },
  { name: "div", build: (g, p) => op.div(p([3, 4]), p([3, 4], 0.5, 2)) },
  { name: "pow", build: (g, p) => op.pow(p([3, 4], 0.5, 2), p([4], -1.5, 1.5)) },
  { name: "pow scalar exponent", build: (g, p) => op.pow(p([5], 0.5, 2), 3) },
  { name: "minimum", build: (g, p) => op.minimum(p([3, 4]), p([4])) },
  { name: "maximum", build: (g, p) => op.maximum(p([3, 4]), p([3, 1])) },
  { name: "where", build: (g, p) => { const a = p([3, 4]); return op.where(op.greater(a, 0), op.mul(a, 2), p([4])); } },
  { name: "neg", build: (g, p) => op.neg(p([6])) },
  { name: "abs", build: (g, p) => op.abs(p([6])) },
  { name: "sqrt", build: (g, p) => op.sqrt(p([6], 0.2, 3)) },
  { name: "exp", build: (g, p) => op.exp(p([6])) },
  { name: "log", build: (g, p) => op.log(p([6], 0.2, 3)) },
  { name: "tanh", build: (g, p) => op.tanh(p([6], -2, 2)) },
  { name: "cos", build: (g, p) => op.cos(p([6], -3, 3)) },
  { name: "sin", build: (g, p) => op.sin(p([6], -3, 3)) },
  { name: "sigmoid", build: (g, p) => op.sigmoid(p([6], -3, 3)) },
  { name: "relu", build: (g, p) => op.relu(p([8])) },
  { name: "leakyRelu", build: (g, p) => op.leakyRelu(p([8]), 0.2) },
  { name: "softplus", build: (g, p) => op.softplus(p([8], -4, 4)) },
  { name: "clip", build: (g, p) => op.clip(p([8], -2, 2), -0.5, 0.7) },
  { name: "clip lower only", build: (g, p) => op.clip(p([8], -2, 2), -0.5) },
  { name: "square", build: (g, p) => op.square(p([5])) },
  { name: "matmul", build: (g, p) => op.matmul(p([3, 4]), p([4, 5])) },
  { name: "matmul transA", build: (g, p) => op.matmul(p([4, 3]), p([4, 5]), { transA: true }) },
  { name: "matmul transB", build: (g, p) => op.matmul(p([3, 4]), p([5, 4]), { transB: true }) },
  { name: "matmul transA transB", build: (g, p) => op.matmul(p([4, 3]), p([5, 4]), { transA: true, transB: true }) },
  { name: "matmul ensemble broadcast", build: (g, p) => op.matmul(p([3, 4]), p([2, 4, 5])) },
  { name: "matmul batched", build: (g, p) => op.matmul(p([2, 3, 4]), p([2, 4, 5])) },
  { name: "matmul batched transB", build: (g, p) => op.matmul(p([2, 3, 4]), p([2, 5, 4]), { transB: true }) },
  { name: "sum all", build: (g, p) => op.sum(p([3, 4])) },
  { name: "sum axis 0 (bias-gradient path)", build: (g, p) => op.sum(p([5, 4]), [0]) },
  { name: "sum axis 1 keepDims", build: (g, p) => op.sum(p([3, 4]), [1], true) },
  { name: "mean axes", build: (g, p) => op.mean(p([2, 3, 4]), [0, 2]) },
  { name: "max axis", build: (g, p) => op.max(p([3, 5]), [1]) },
  { name: "min axis keepDims", build: (g, p) => op.min(p([3, 5]), [0], true) },
  { name: "logSumExp", build: (g, p) => op.logSumExp(p([3, 5], -3, 3), [1]) },
  { name: "logSumExp large values", build: (g, p) => op.logSumExp(op.add(p([2, 4], -1, 1), 90), [1]) },
  { name: "logSoftmax", build: (g, p) => op.logSoftmax(p([3, 5], -3, 3), 1) },
  { name: "softmax", build: (g, p) => op.softmax(p([3, 5], -3, 3), -1) },
  { name: "takeAlongAxis", build: (g, p) => op.takeAlongAxis(p([4, 3]), ints(g, [2, 0, 1, 2], [4, 1]), 1) },
  { name: "takeAlongAxis repeated index", build: (g, p) => op.takeAlongAxis(p([3, 4]), ints(g, [1, 1, 0, 3, 3, 3], [3, 2]), 1) },
  { name: "scatterAdd", build: (g, p) => op.scatterAddAlongAxis([3, 4], ints(g, [1, 1, 0, 3, 2, 2], [3, 2]), p([3, 2]), 1) },
  { name: "gather rows (repeated)", build: (g, p) => op.gather(p([4, 3]), ints(g, [3, 0, 3, 1, 3], [5]), 0) },
  { name: "gather axis 1", build: (g, p) => op.gather(p([2, 4, 3]), ints(g, [2, 2, 0], [3]), 1) },
  { name: "concat", build: (g, p) => op.concat([p([2, 3]), p([2, 1]), p([2, 2])], 1) },
  { name: "slice", build: (g, p) => op.slice(p([4, 5]), 1, 1, 4) },
  { name: "slice axis 0", build: (g, p) => op.slice(p([4, 5]), 0, 2, 4) },
  { name: "reshape", build: (g, p) => op.mul(op.reshape(p([2, 6]), [3, -1]), p([3, 4])) },
  { name: "transpose", build: (g, p) => op.mul(op.transpose(p([2, 3, 4]), [2, 0, 1]), p([4, 2, 3])) },
  { name: "broadcastTo", build: (g, p) => op.broadcastTo(p([3, 1]), [2, 3, 4]) },
  { name: "gaussianLogProb", build: (g, p) => gaussianLogProb(p([3, 2]), p([3, 2]), p([3, 2], -1, 0.5)) },
  { name: "tanhGaussian", build: (g, p) => tanhGaussian(p([3, 2]), p([3, 2], -1, 0.5), g.constant([0.3, -1.2, 0.8, 0.1, -0.4, 2.0], [3, 2])).logProb },
  { name: "tanhGaussianLogProb", build: (g, p) => tanhGaussianLogProb(p([3, 2], -0.9, 0.9), p([3, 2]), p([3, 2], -1, 0.5)) },
  { name: "oneHot", diff: false, build: (g) => op.oneHot(ints(g, [0, 3, 1, -1], [4]), 4) },
  { name: "argMax", diff: false, build: (g, p) => op.cast(op.argMax(p([3, 5]), 1), "float32") },
  { name: "comparisons and logic", diff: false, build: (g, p) => {
    const a = p([6]); const b = p([6]);
    const c = op.or(op.and(op.greaterEqual(a, b), op.not(op.equal(a, b))), op.less(a, op.mul(b, 0.5)));
    return op.where(op.and(c, op.lessEqual(a, 0.5)), a, b);
  } },
  { name: "sign", diff: false, build: (g, p) => op.sign(p([6])) },
  { name: "cast roundtrip", diff: false, build: (g, p) => op.cast(op.cast(op.mul(p([6]), 5), "int64"), "float32") },
];

/** Deterministic values in [low, high) that stay away from the kinks of relu/abs/clip and avoid ties. */
function values(n: number, low: number, high: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = ((Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453) % 1 + 1) % 1;
    let v = low + (high - low) * (0.05 + 0.9 * u);
    if (Math.abs(v) < 0.05) v += 0.1;
    for (const kink of [-0.5, 0.7]) if (Math.abs(v - kink) < 0.03) v += 0.07;
    out[i] = v;
  }
  return out;
}

function setup(c: Case) {
  const g = new Graph({ seed: 1 });
  let seed = 1;
  const p: P = (shape, low = -1.5, high = 1.5) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const s = seed++;
    return g.param(`p${s}`, shape, values(size, low, high, s * 7 + c.name.length));
  };
  const y = c.build(g, p);
  const weights = g.constant(values(y.size, -1, 1, 99), y.shape);
  const loss = op.sum(op.mul(y, weights));
  const params = g.params.map((x) => x.tensor);
  const grads = c.diff === false ? [] : gradients(loss, params);
  return { g, y, loss, grads, params: g.initialParams() };
}

for (const c of cases) {
  test(`op ${c.name}: gradient matches float64 finite differences`, { skip: c.diff === false && "not differentiable: no gradient to check (forward parity is tested)" }, () => {
    const { g, loss, grads, params } = setup(c);
    const p64 = Float64Array.from(params);
    const lossAt = (v: Float64Array) => evaluate([loss], { inputs: {}, states: { params: v } }, "float64")[0]![0]!;
    const analytic = evaluate(grads, { inputs: {}, states: { params: p64 } }, "float64");
    const h = 1e-6;
    for (const info of g.params) {
      const grad = analytic[g.params.indexOf(info)]!;
      for (let i = 0; i < info.size; i++) {
        const plus = Float64Array.from(p64);
        const minus = Float64Array.from(p64);
        plus[info.offset + i]! += h;
        minus[info.offset + i]! -= h;
        const numeric = (lossAt(plus) - lossAt(minus)) / (2 * h);
        const err = Math.abs(numeric - grad[i]!);
        assert.ok(err <= 1e-5 + 1e-5 * Math.abs(numeric), `${info.name}[${i}]: analytic ${grad[i]} vs numeric ${numeric}`);
      }
    }
  });

  test(`op ${c.name}: ONNX Runtime equals the interpreter (value and gradients)`, async () => {
    const { g, y, grads, params } = setup(c);
    g.output("y", y);
    grads.forEach((gr, i) => g.output(`grad${i}`, gr));
    const step = await compileStep(g, { backend: "ort" });
    const ort = await step.run({});
    const reference = evaluate([y, ...grads], { inputs: {}, states: { params } }, "float32");
    const names = ["y", ...grads.map((_, i) => `grad${i}`)];
    names.forEach((name, k) => {
      const got = ort[name]!;
      const gotArr = typeof got === "number" ? [got] : Array.from(got);
      const want = Array.from(reference[k]!);
      assert.equal(gotArr.length, want.length, name);
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(gotArr[i]! - want[i]!) <= 1e-5 + 1e-5 * Math.abs(want[i]!), `${name}[${i}]: ort ${gotArr[i]} vs interpreter ${want[i]}`);
      }
    });
    await step.dispose();
  });
}

test("stopGradient blocks the gradient: d/da sum(a * sg(exp(a))) = exp(a)", () => {
  const g = new Graph();
  const a = g.param("a", [4], Float32Array.from([-1, 0.5, 2, 0.1]));
  const [grad] = gradients(op.sum(op.mul(a, op.stopGradient(op.exp(a)))), [a]);
  const [value] = evaluate([grad!], { inputs: {}, states: { params: g.initialParams() } }, "float64");
  const expected = [-1, 0.5, 2, 0.1].map((v) => Math.exp(Math.fround(v)));
  expected.forEach((e, i) => assert.ok(Math.abs(value![i]! - e) < 1e-12));
});

test("softplus and logSumExp are stable for large inputs", () => {
  const g = new Graph();
  const x = g.constant([-800, -30, 0, 30, 800], [5]);
  const [sp, lse] = evaluate([op.softplus(x), op.logSumExp(op.reshape(x, [1, 5]), [1])], { inputs: {}, states: {} }, "float64");
  assert.deepEqual(Array.from(sp!), [0, Math.log1p(Math.exp(-30)), Math.LN2, 30 + Math.log1p(Math.exp(-30)), 800]);
  assert.equal(lse![0], 800);
});

test("shape mistakes are reported when the graph is built, naming the op and the shapes", () => {
  const g = new Graph();
  const a = g.input("a", [3, 4]);
  const b = g.input("b", [5, 6]);
  assert.throws(() => op.matmul(a, b), (e: unknown) => e instanceof NnError && e.code === "shape_mismatch" && /matmul: inner dimensions differ \(4 vs 5\) \(a \[3, 4\], b \[5, 6\]\)/.test(e.message));
  assert.throws(() => op.add(a, b), (e: unknown) => e instanceof NnError && e.code === "shape_mismatch" && /add: shapes do not broadcast \(a \[3, 4\], b \[5, 6\]\)/.test(e.message));
  assert.throws(() => op.reshape(a, [5, -1]), (e: unknown) => e instanceof NnError && e.code === "shape_mismatch" && /reshape/.test(e.message));
  assert.throws(() => op.concat([a, b], 0), (e: unknown) => e instanceof NnError && e.code === "shape_mismatch");
  assert.throws(() => op.sum(a, [2]), (e: unknown) => e instanceof NnError && /axis 2 out of range/.test(e.message));
  const idx = g.input("idx", [3], "int64");
  assert.throws(() => op.takeAlongAxis(a, idx, 1), (e: unknown) => e instanceof NnError && e.code === "shape_mismatch");
  assert.throws(() => op.exp(idx), (e: unknown) => e instanceof NnError && e.code === "dtype_mismatch");
  assert.throws(() => g.input("a", [1]), (e: unknown) => e instanceof NnError && e.code === "duplicate_name");
});

test("a composite loss (ensemble critic, tanh-Gaussian actor, CQL logsumexp, min over critics) passes the gradient check", () => {
  const g = new Graph({ seed: 4 });
  const obs = g.constant(values(3 * 2, -1, 1, 5), [3, 2]);
  const actions = g.constant(values(4 * 3 * 1, -0.9, 0.9, 6), [4, 3, 1]);
  const noise = g.constant(values(3, -1, 1, 7), [3, 1]);
  const W1 = g.param("w1", [2, 3, 5], values(30, -0.8, 0.8, 8));
  const b1 = g.param("b1", [2, 1, 5], values(10, -0.3, 0.3, 9));
  const W2 = g.param("w2", [2, 5, 1], values(10, -0.8, 0.8, 10));
  const A = g.param("actor", [2, 2], values(4, -0.8, 0.8, 11));
  const critic = (a: Tensor) => op.reshape(op.matmul(op.tanh(op.add(op.matmul(op.concat([obs, a], 1), W1), b1)), W2), [2, 3]);
  const out = op.matmul(obs, A);
  const pi = tanhGaussian(op.slice(out, 1, 0, 1), op.slice(out, 1, 1, 2), noise);
  const sampled = op.concat(Array.from({ length: 4 }, (_, k) => op.expandDims(critic(op.reshape(op.slice(actions, 0, k, k + 1), [3, 1])), 1)), 1);
  const loss = op.add(
    op.mean(op.sub(op.logSumExp(sampled, [1]), critic(pi.action))),
    op.mean(op.sub(op.mul(0.2, pi.logProb), op.min(critic(pi.action), [0]))),
  );
  const params = [W1, b1, W2, A];
  const grads = evaluate(gradients(loss, params), { inputs: {}, states: { params: Float64Array.from(g.initialParams()) } }, "float64");
  const base = Float64Array.from(g.initialParams());
  const lossAt = (v: Float64Array) => evaluate([loss], { inputs: {}, states: { params: v } }, "float64")[0]![0]!;
  g.params.forEach((info, k) => {
    for (let i = 0; i < info.size; i++) {
      const plus = Float64Array.from(base);
      const minus = Float64Array.from(base);
      plus[info.offset + i]! += 1e-6;
      minus[info.offset + i]! -= 1e-6;
      const numeric = (lossAt(plus) - lossAt(minus)) / 2e-6;
      assert.ok(Math.abs(numeric - grads[k]![i]!) <= 1e-5 + 1e-5 * Math.abs(numeric), `${info.name}[${i}]: ${grads[k]![i]} vs ${numeric}`);
    }
  });
});

test("ties in max/min reductions and in minimum/maximum split the gradient evenly (as PyTorch), on both backends", async () => {
  const g = new Graph();
  const x = g.param("x", [2, 4], Float32Array.from([1, 3, 3, 2, 5, 5, 5, 0]));
  const a = g.param("a", [3], Float32Array.from([1, 2, 3]));
  const b = g.param("b", [3], Float32Array.from([1, 5, 0]));
  // loss = 2*max(row 0) + 3*max(row 1) + min over all of x + sum(minimum(a, b)) + sum(maximum(a, b))
  const rowMax = op.max(x, [1]);
  const loss = op.add(
    op.add(op.sum(op.mul(rowMax, g.constant([2, 3], [2]))), op.min(x)),
    op.add(op.sum(op.minimum(a, b)), op.sum(op.maximum(a, b))),
  );
  const [dx, da, db] = gradients(loss, [x, a, b]);
  // By hand: row 0's max 3 is tied twice (2/2 each), row 1's max 5 three times (3/3 each); the overall min 0 is unique.
  // minimum and maximum: a tie (1 vs 1) gives 1/2 to each side from both ops; otherwise the winner takes 1 per op.
  const want = { dx: [0, 1, 1, 0, 1, 1, 1, 1], da: [1, 1, 1], db: [1, 1, 1] };
  const wantMinOnly = [0.5, 1, 0];
  const [dMinA] = gradients(op.sum(op.minimum(a, b)), [a]);
  g.output("dx", dx!);
  g.output("da", da!);
  g.output("db", db!);
  g.output("dmina", dMinA!);
  const interp = evaluate([dx!, da!, db!, dMinA!], { inputs: {}, states: { params: g.initialParams() } }, "float64");
  const step = await compileStep(g, { backend: "ort" });
  const viaOrt = await step.run({});
  await step.dispose();
  for (const [got, name] of [[interp[0]!, "dx"], [viaOrt.dx, "dx"], [interp[1]!, "da"], [viaOrt.da, "da"], [interp[2]!, "db"], [viaOrt.db, "db"]] as const) {
    assert.deepEqual(Array.from(got as ArrayLike<number>), want[name as keyof typeof want], name);
  }
  assert.deepEqual(Array.from(interp[3]!), wantMinOnly);
  assert.deepEqual(Array.from(viaOrt.dmina as Float32Array), wantMinOnly);
});
