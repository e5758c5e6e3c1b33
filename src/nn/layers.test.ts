import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "./graph.js";
import { ensembleMlp, mlp } from "./layers.js";
import { evaluate } from "./interpreter.js";
import { Rng } from "../random/index.js";
import { writeSafetensors, readSafetensors } from "./safetensors.js";

test("Rng: same seed same stream; uniform and normal moments", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(sa, Array.from({ length: 5 }, () => b.nextUint32()));
  assert.notDeepEqual(sa, Array.from({ length: 5 }, () => c.nextUint32()));
  const n = 200_000;
  const u = new Rng(1).fillUniform(new Float64Array(n));
  const z = new Rng(2).fillNormal(new Float64Array(n));
  const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
  const variance = (x: Float64Array) => { const m = mean(x); return x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length; };
  assert.ok(Math.abs(mean(u) - 0.5) < 0.005 && Math.abs(variance(u) - 1 / 12) < 0.002);
  assert.ok(Math.abs(mean(z)) < 0.01 && Math.abs(variance(z) - 1) < 0.02);
  assert.ok(u.every((v) => v >= 0 && v < 1));
});

test("MLP initialisation follows torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias", () => {
  const g = new Graph({ seed: 9 });
  mlp(g, "net", [64, 400, 3]);
  for (const p of g.params) {
    const fanIn = p.name.startsWith("net.0") ? 64 : 400;
    const bound = 1 / Math.sqrt(fanIn);
    assert.ok(p.init.every((v) => Math.abs(v) <= bound), p.name);
    if (p.size > 1000) {
      const variance = p.init.reduce((s, v) => s + v * v, 0) / p.size;
      assert.ok(Math.abs(variance - (bound * bound) / 3) < 0.05 * (bound * bound) / 3, `${p.name} variance ${variance}`);
    }
  }
  const again = new Graph({ seed: 9 });
  const copy = mlp(again, "net", [64, 400, 3]);
  const target = mlp(again, "target", [64, 400, 3], { copyOf: copy });
  assert.deepEqual(Array.from(again.paramInfo(target.layers[1]!.weight).init), Array.from(again.paramInfo(copy.layers[1]!.weight).init));
  assert.deepEqual(Array.from(again.paramInfo(copy.layers[0]!.bias).init), Array.from(g.params[1]!.init));
});

test("an ensemble member computes the same function as a plain MLP with that member's weights", () => {
  const [members, batch, sizes] = [3, 4, [2, 5, 1]];
  const g = new Graph({ seed: 4 });
  const x = g.input("x", [batch, 2]);
  const ens = ensembleMlp(g, "critic", members, sizes, { activation: "tanh" });
  const [out] = evaluate([ens.apply(x)], { inputs: { x: [0.5, -1, 2, 0.25, -0.3, 0.8, 1.5, -2] }, states: { params: g.initialParams() } }, "float64");
  const xs = [[0.5, -1], [2, 0.25], [-0.3, 0.8], [1.5, -2]];
  const w = (l: number) => g.params.find((p) => p.name === `critic.${l}.weight`)!.init;
  const b = (l: number) => g.params.find((p) => p.name === `critic.${l}.bias`)!.init;
  for (let e = 0; e < members; e++) {
    xs.forEach((row, r) => {
      let h = row;
      for (let l = 0; l < 2; l++) {
        const [inD, outD] = [sizes[l]!, sizes[l + 1]!];
        const next: number[] = [];
        for (let j = 0; j < outD; j++) {
          let s = b(l)[e * outD + j]!;
          for (let i = 0; i < inD; i++) s += h[i]! * w(l)[e * inD * outD + i * outD + j]!;
          next.push(l === 0 ? Math.tanh(s) : s);
        }
        h = next;
      }
      assert.ok(Math.abs(out![e * batch + r]! - h[0]!) < 1e-12, `member ${e} row ${r}`);
    });
  }
});

test("safetensors bytes follow the format: u64 header length, JSON header, little-endian F32 data, 8-byte aligned", () => {
  const bytes = writeSafetensors([
    { name: "a.weight", shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 0]) },
    { name: "opt.step", shape: [], data: Float32Array.from([7]) },
  ], { format: "hindcast.nn/v1" });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0);
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString("utf8"));
  assert.deepEqual(header["a.weight"], { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] });
  assert.deepEqual(header["opt.step"], { dtype: "F32", shape: [], data_offsets: [16, 20] });
  assert.equal(header.__metadata__.format, "hindcast.nn/v1");
  assert.equal(bytes.length, 8 + headerLength + 20);
  assert.equal(view.getFloat32(8 + headerLength + 8, true), 3.5);
  assert.equal(view.getFloat32(8 + headerLength + 16, true), 7);
  const back = readSafetensors(bytes);
  assert.deepEqual(Array.from(back.tensors.get("a.weight")!.data), [1, -2, 3.5, 0]);
  assert.throws(() => readSafetensors(bytes.subarray(0, 20)), /header runs past the end/);
});

test("an ensemble's first layer on a shared input takes its bias as a column of ones (no add over [members, batch, out])", () => {
  const g = new Graph({ seed: 5 });
  const ens = ensembleMlp(g, "critic", 2, [3, 8, 8, 1]);
  const before = g.nodes.length;
  ens.apply(g.input("x", [4, 3]));
  const adds = g.nodes.slice(before).filter((n) => n.op === "add").map((n) => n.shape.join("x"));
  assert.deepEqual(adds, ["2x4x8", "2x4x1"], "only the layers after the first add their bias");
  const perMember = g.input("xs", [2, 4, 3]);
  const start = g.nodes.length;
  ens.apply(perMember);
  assert.equal(g.nodes.slice(start).filter((n) => n.op === "add").length, 3, "per-member inputs add every bias");
});
