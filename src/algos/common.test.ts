import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, compileStep, op } from "../nn/index.js";
import { Rng } from "../random/index.js";
import { normalNoise } from "./common.js";

test("normalNoise turns U(0, 1] draws into Box-Muller normals inside the step (ONNX Runtime and the interpreter)", async () => {
  const build = () => {
    const g = new Graph();
    g.output("z", op.reshape(normalNoise(g, "noise", [3, 3]), [9]));
    return g;
  };
  const u = Float32Array.from([0.9, 0.25, 1, 0.5, 0.01, 0.3, 0.75, 0.125, 0.6, 0.05]); // 9 normals need 5 pairs
  const want: number[] = [];
  for (let i = 0; i < 5; i++) want[i] = Math.sqrt(-2 * Math.log(u[i]!)) * Math.cos(2 * Math.PI * u[5 + i]!);
  for (let i = 0; i < 4; i++) want[5 + i] = Math.sqrt(-2 * Math.log(u[i]!)) * Math.sin(2 * Math.PI * u[5 + i]!);
  for (const backend of ["ort", "interpreter"] as const) {
    const z = (await (await compileStep(build(), { backend })).run({ noise: u })).z as Float32Array;
    want.forEach((w, i) => assert.ok(Math.abs(z[i]! - w) < 1e-5, `${backend} z[${i}] ${z[i]} vs ${w}`));
  }
});

test("normalNoise from uniform draws has the standard normal's mean, variance and tails", async () => {
  const size = 20_000;
  const g = new Graph();
  g.output("z", normalNoise(g, "noise", [size]));
  const rng = new Rng(4);
  const u = Float32Array.from({ length: size }, () => 1 - rng.uniform());
  const z = (await (await compileStep(g)).run({ noise: u })).z as Float32Array;
  const mean = z.reduce((a, b) => a + b, 0) / size;
  const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / size;
  const beyond2 = z.filter((x) => Math.abs(x) > 2).length / size; // 0.0455 for N(0, 1)
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.04, `mean ${mean}, variance ${variance}`);
  assert.ok(Math.abs(beyond2 - 0.0455) < 0.006, `P(|z| > 2) = ${beyond2}`);
});
