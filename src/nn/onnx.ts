import { createRequire } from "node:module";
import type { onnx as OnnxNs } from "onnx-proto";
import { NnError } from "./errors.js";
import { PARAMS_STATE, type DType, type Graph, type Shape, type Tensor } from "./graph.js";
import { evaluate, neededNodes } from "./interpreter.js";

// onnx-proto ships protobufjs code generated from the official onnx.proto (CommonJS).
const require = createRequire(import.meta.url);
const { onnx } = require("onnx-proto") as { onnx: typeof OnnxNs };

export const OPSET = 17;
const IR_VERSION = 8;
const ELEM_TYPE: Record<DType, number> = { float32: 1, int64: 7, bool: 9 };
const ATTR = onnx.AttributeProto.AttributeType;

export interface LoweringOptions {
  /** Graph inputs: tensor -> ONNX input name (inputs and states of the graph, or any tensor for exports). */
  inputs: ReadonlyMap<Tensor, string>;
  /** Graph outputs by ONNX name. */
  outputs: ReadonlyMap<string, Tensor>;
  /** Export mode: parameters become initializers holding these values (the flat parameter vector). */
  bakedParams?: Float32Array;
  /** Name a symbolic leading (batch) dimension on inputs and outputs whose first axis has this size. */
  dynamicBatch?: number;
  graphName?: string;
}

/** A training step repeated `steps` times inside one ONNX Loop. */
export interface LoopSpec {
  steps: number;
  /** Graph inputs, fed stacked along a new leading axis of size `steps`. */
  inputs: readonly Tensor[];
  /** All state vectors (inputs of the model); those in `next` are carried through the loop. */
  states: ReadonlyArray<{ name: string; tensor: Tensor }>;
  next: ReadonlyMap<string, Tensor>;
  /** Per-step outputs, stacked along a new leading axis. */
  outputs: ReadonlyMap<string, Tensor>;
  /**
   * Scalar inputs whose value on the k-th step of a call is `pattern[k % pattern.length]` (e.g. a delayed-update
   * gate [0, 1]). The body then runs one step per position of the period (the least common multiple of the
   * patterns' lengths) with these values folded in: gated work is inlined where the gate is on and left out where it
   * is off, instead of an If on every step. `steps` must be a multiple of the period.
   */
  periodic?: ReadonlyMap<Tensor, readonly number[]>;
}

/** Steps per Loop iteration: the least common multiple of the periodic inputs' pattern lengths. */
function loopPeriod(periodic: ReadonlyMap<Tensor, readonly number[]> | undefined): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  return [...(periodic?.values() ?? [])].reduce((period, pattern) => (period * pattern.length) / gcd(period, pattern.length), 1);
}

/**
 * One model running `steps` training steps per call (ONNX Loop): outputs `<state>__next` (final state) and each
 * output stacked [steps, ...].
 */
export function lowerLoopToOnnx(spec: LoopSpec): Uint8Array {
  const pieces = paramPieces(spec);
  const period = loopPeriod(spec.periodic);
  if (spec.steps % period !== 0) throw new NnError("invalid_argument", `steps per call ${spec.steps} is not a multiple of the periodic inputs' period ${period}`, {});
  const body = new OnnxBuilder({ inputs: new Map(), outputs: new Map() }, "b_").buildLoopBody(spec, pieces, period);
  const outer = new OnnxBuilder({ inputs: new Map(), outputs: new Map() });
  const carried = spec.states.filter((s) => spec.next.has(s.name) && !(pieces && s.name === PARAMS_STATE));
  const carriedPieces = (pieces ?? []).filter((piece) => piece.updated);
  const tripCount = outer.ints0(spec.steps / period);
  const nodes: OnnxNs.INodeProto[] = [];
  if (pieces) {
    // The flat parameter vector enters as one piece per updated run (carried) or untouched run (read, not carried).
    const sizes = outer.ints(pieces.map((piece) => piece.size));
    nodes.push({ opType: "Split", name: "param_pieces", input: [PARAMS_STATE, sizes], output: pieces.map((piece) => piece.name), attribute: [{ name: "axis", type: ATTR.INT, i: 0 }] });
  }
  // With a period P > 1 each iteration's outputs are [P, ...]: the Loop stacks them [steps / P, P, ...], reshaped after.
  const stackedName = (name: string) => (period > 1 ? `${name}__by_period` : name);
  const loopOutputs = [...carriedPieces.map((piece) => `${piece.name}__next`), ...carried.map((s) => `${s.name}__next`), ...[...spec.outputs.keys()].map(stackedName)];
  nodes.push({
    opType: "Loop",
    name: "steps",
    input: [tripCount, "", ...carriedPieces.map((piece) => piece.name), ...carried.map((s) => s.name)],
    output: loopOutputs,
    attribute: [{ name: "body", type: ATTR.GRAPH, g: body }],
  });
  if (period > 1) {
    for (const [name, t] of spec.outputs) nodes.push({ opType: "Reshape", name: `${name}_steps`, input: [stackedName(name), outer.ints([spec.steps, ...t.shape])], output: [name] });
  }
  if (pieces) {
    const parts = pieces.map((piece) => (piece.updated ? `${piece.name}__next` : piece.name));
    nodes.push({ opType: "Concat", name: "params_next", input: parts, output: [`${PARAMS_STATE}__next`], attribute: [{ name: "axis", type: ATTR.INT, i: 0 }] });
  }
  const updatedStates = spec.states.filter((s) => spec.next.has(s.name));
  const graph: OnnxNs.IGraphProto = {
    name: "training_loop",
    node: nodes,
    initializer: outer.initializerList(),
    input: [
      ...spec.inputs.map((t) => outer.info(t.attrs.name as string, [spec.steps, ...t.shape], t.dtype)),
      ...spec.states.map((s) => outer.info(s.name, s.tensor.shape, "float32")),
    ],
    output: [
      ...updatedStates.map((s) => outer.info(`${s.name}__next`, s.tensor.shape, "float32")),
      ...[...spec.outputs].map(([name, t]) => outer.info(name, [spec.steps, ...t.shape], t.dtype)),
    ],
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: "hindcast-nn",
    opsetImport: [{ domain: "", version: OPSET }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * A run of the flat parameter vector: updated in the step (its new value is `next`) or untouched. Inside the Loop
 * each run is a tensor of its own, so an optimizer reads and writes its group without slicing it out of (and
 * concatenating it back into) the whole vector every step.
 */
interface ParamPiece {
  offset: number;
  size: number;
  updated: boolean;
  next: Tensor;
  name: string;
}

function paramPieces(spec: LoopSpec): ParamPiece[] | undefined {
  const pool = spec.states.find((s) => s.name === PARAMS_STATE)?.tensor;
  const next = spec.next.get(PARAMS_STATE);
  if (!pool || !next) return undefined;
  const parts = next.op === "concat" ? next.inputs : [next];
  let offset = 0;
  return parts.map((part, j) => {
    const updated = !(part.op === "slice" && part.inputs[0] === pool);
    const piece = { offset, size: part.size, updated, next: part, name: `${PARAMS_STATE}_${j}` };
    offset += part.size;
    return piece;
  });
}

type Attr = number | number[] | string | { floats: number[] } | { float: number };

/** Lower graph nodes to an ONNX ModelProto (opset 17) and encode it with protobufjs. */
export function lowerToOnnx(options: LoweringOptions): Uint8Array {
  const builder = new OnnxBuilder(options);
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: "hindcast-nn",
    opsetImport: [{ domain: "", version: OPSET }],
    graph: builder.build(),
  });
  return onnx.ModelProto.encode(model).finish();
}

class OnnxBuilder {
  private nodes: OnnxNs.INodeProto[] = [];
  private readonly initializers: OnnxNs.ITensorProto[] = [];
  private readonly initCache = new Map<string, string>();
  private readonly names = new Map<number, string>();
  private counter = 0;

  /** Inputs whose shape never takes the symbolic batch (state vectors). */
  private readonly fixedShape: Set<string>;

  constructor(
    private readonly options: LoweringOptions,
    private prefix = "",
  ) {
    this.fixedShape = new Set([...options.inputs].filter(([t]) => t.op === "state").map(([, name]) => name));
  }

  build(): OnnxNs.IGraphProto {
    const { inputs, outputs } = this.options;
    for (const [tensor, name] of inputs) this.names.set(tensor.id, name);
    this.lowerNeeded([...outputs.values()], new Set([...inputs.keys()].map((t) => t.id)));
    const outputInfos: OnnxNs.IValueInfoProto[] = [];
    for (const [name, tensor] of outputs) {
      this.nodes.push({ opType: "Identity", input: [this.names.get(tensor.id)!], output: [name], name: `out_${name}` });
      outputInfos.push(this.valueInfo(name, tensor.shape, tensor.dtype));
    }
    return {
      name: this.options.graphName ?? "hindcast",
      node: this.nodes,
      initializer: this.initializers,
      input: [...inputs].map(([tensor, name]) => this.valueInfo(name, tensor.shape, tensor.dtype)),
      output: outputInfos,
    };
  }

  /**
   * Lower every node the targets need, stopping at `stopIds` (already named). Scalar-condition `where`s (gated
   * updates such as TD3's delayed actor step) become one ONNX `If` per condition, so the work only their
   * "then" values need (e.g. the actor's backward pass and Adam step) runs only when the condition holds.
   */
  lowerNeeded(targets: readonly Tensor[], stopIds: ReadonlySet<number>): void {
    const graph = targets[0]?.graph;
    if (!graph) throw new NnError("invalid_argument", "ONNX lowering needs at least one output", {});
    const plan = planBranches(targets, stopIds, this.options.bakedParams !== undefined, this.folded);
    this.biasedMatmuls = biasedMatmuls(graph, new Set(targets.map((t) => t.id)));
    for (const unit of plan) {
      if (typeof unit === "number") this.names.set(unit, this.lower(graph.nodes[unit]!));
      else this.lowerBranch(unit);
    }
  }

  /** One ONNX If: the "then" graph computes the gated values, the "else" graph passes the old ones through. */
  private lowerBranch(branch: Branch): void {
    const outer = this.nodes;
    const outerBatchDim = this.batchDim;
    const wheres = new Set(branch.wheres.map((w) => w.id));
    const graph = branch.wheres[0]!.graph;
    const order = [...branch.body, ...wheres].sort((a, b) => a - b);
    this.nodes = [];
    for (const id of order) {
      const node = graph.nodes[id]!;
      // Inside "then" the condition holds, so where(cond, updated, old) is `updated`.
      if (wheres.has(id)) this.names.set(id, this.names.get(node.inputs[1]!.id)!);
      else this.names.set(id, this.lower(node));
    }
    const index = this.counter++;
    // A value computed in the branch leaves it under the branch output's name (no Identity copy).
    const handOut = this.outputNamer();
    const thenOutputs = branch.wheres.map((w, i) => handOut(this.names.get(w.id)!, `${this.prefix}if${index}_then_${i}`));
    const thenBranch: OnnxNs.IGraphProto = {
      name: `${this.prefix}if${index}_then`,
      node: this.nodes,
      output: branch.wheres.map((w, i) => this.valueInfo(thenOutputs[i]!, w.shape, w.dtype)),
    };
    this.nodes = [];
    const elseOutputs = branch.wheres.map((w, i) => this.emit("Identity", [this.names.get(w.inputs[2]!.id)!], {}, `${this.prefix}if${index}_else_${i}`));
    const elseBranch: OnnxNs.IGraphProto = {
      name: `${this.prefix}if${index}_else`,
      node: this.nodes,
      output: branch.wheres.map((w, i) => this.valueInfo(elseOutputs[i]!, w.shape, w.dtype)),
    };
    this.nodes = outer;
    // A batch-shape node first needed inside the branch is not visible outside it.
    this.batchDim = outerBatchDim;
    const outputs = branch.wheres.map((w) => `${this.prefix}t${w.id}_if`);
    branch.wheres.forEach((w, i) => this.names.set(w.id, outputs[i]!));
    this.nodes.push({
      opType: "If",
      name: `${this.prefix}if${index}`,
      input: [this.names.get(branch.condition.id)!],
      output: outputs,
      attribute: [
        { name: "then_branch", type: ATTR.GRAPH, g: thenBranch },
        { name: "else_branch", type: ATTR.GRAPH, g: elseBranch },
      ],
    });
  }

  /**
   * The body of an ONNX Loop running `period` training steps per iteration (one unless inputs are periodic): minibatch
   * inputs are gathered from the outer stacked inputs by step number, updated states are loop-carried from step to
   * step, outputs are scan outputs ([period, ...] when the period is above one).
   */
  buildLoopBody(spec: LoopSpec, pieces: ParamPiece[] | undefined, period: number): OnnxNs.IGraphProto {
    const p = this.prefix;
    const pool = pieces ? spec.states.find((s) => s.name === PARAMS_STATE)!.tensor : undefined;
    const updatedPieces = (pieces ?? []).filter((piece) => piece.updated);
    const carried = spec.states.filter((s) => spec.next.has(s.name) && s.tensor !== pool);
    // The current value of each carried piece and state: the body's inputs, then each step's results.
    let pieceValues = new Map(updatedPieces.map((piece) => [piece.name, `${p}st_${piece.name}`]));
    let stateValues = new Map(carried.map((s) => [s.name, `${p}st_${s.name}`]));
    const stepOutputs = new Map<string, string[]>([...spec.outputs.keys()].map((name) => [name, []]));
    const firstStep = period > 1 ? this.emit("Mul", [`${p}iter`, this.ints0(period)]) : `${p}iter`;
    for (let j = 0; j < period; j++) {
      this.prefix = period > 1 ? `${p}${j}_` : p;
      this.names.clear();
      const stop = new Set<number>();
      if (pieces && pool) {
        this.pieces = { pool, runs: pieces.map((piece) => ({ ...piece, name: piece.updated ? pieceValues.get(piece.name)! : piece.name })) };
        stop.add(pool.id);
      }
      const stepIndex = j === 0 ? firstStep : this.emit("Add", [firstStep, this.ints0(j)]);
      const known = new Map<number, number>();
      for (const input of spec.inputs) {
        const name = input.attrs.name as string;
        const pattern = spec.periodic?.get(input);
        if (pattern) {
          const value = pattern[j % pattern.length]!;
          known.set(input.id, value);
          this.names.set(input.id, this.constant(new Array<number>(input.size).fill(value), input.shape, input.dtype));
        } else {
          this.names.set(input.id, this.emit("Gather", [name, stepIndex], { axis: 0 }, `${this.prefix}in_${name}`));
        }
        stop.add(input.id);
      }
      for (const s of spec.states) {
        if (s.tensor === pool) continue;
        this.names.set(s.tensor.id, stateValues.get(s.name) ?? s.name);
        stop.add(s.tensor.id);
      }
      this.folded = foldedGates(spec.inputs[0]?.graph ?? spec.states[0]!.tensor.graph, known);
      this.lowerNeeded([...updatedPieces.map((piece) => piece.next), ...carried.map((s) => spec.next.get(s.name)!), ...spec.outputs.values()], stop);
      pieceValues = new Map(updatedPieces.map((piece) => [piece.name, this.names.get(piece.next.id)!]));
      stateValues = new Map(carried.map((s) => [s.name, this.names.get(spec.next.get(s.name)!.id)!]));
      for (const [name, t] of spec.outputs) stepOutputs.get(name)!.push(this.names.get(t.id)!);
    }
    this.prefix = p;
    this.folded = new Map();
    const outputs: OnnxNs.IValueInfoProto[] = [this.valueInfo(`${p}cond_out`, [], "bool")];
    this.emit("Identity", [`${p}cond`], {}, `${p}cond_out`);
    // In the order of the states (the Loop's carried inputs), whatever order the updates were declared in.
    const bind = this.outputNamer();
    for (const piece of updatedPieces) {
      bind(pieceValues.get(piece.name)!, `${p}next_${piece.name}`);
      outputs.push(this.valueInfo(`${p}next_${piece.name}`, [piece.size], "float32"));
    }
    for (const s of carried) {
      bind(stateValues.get(s.name)!, `${p}next_${s.name}`);
      outputs.push(this.valueInfo(`${p}next_${s.name}`, s.tensor.shape, "float32"));
    }
    for (const [name, t] of spec.outputs) {
      const values = stepOutputs.get(name)!;
      if (period === 1) bind(values[0]!, `${p}out_${name}`);
      else this.emit("Concat", values.map((v) => this.emit("Unsqueeze", [v, this.ints([0])])), { axis: 0 }, `${p}out_${name}`);
      outputs.push(this.valueInfo(`${p}out_${name}`, period === 1 ? t.shape : [period, ...t.shape], t.dtype));
    }
    // Constants standing for periodic inputs that every reader folded away are left out.
    const read = readNames(this.nodes);
    return {
      name: "step_body",
      node: this.nodes,
      initializer: this.initializers.filter((init) => read.has(init.name!)),
      input: [
        this.valueInfo(`${p}iter`, [], "int64"),
        this.valueInfo(`${p}cond`, [], "bool"),
        ...updatedPieces.map((piece) => this.valueInfo(`${p}st_${piece.name}`, [piece.size], "float32")),
        ...carried.map((s) => this.valueInfo(`${p}st_${s.name}`, s.tensor.shape, "float32")),
      ],
      output: outputs,
    };
  }

  info(name: string, shape: Shape, dtype: DType): OnnxNs.IValueInfoProto {
    return this.valueInfo(name, shape, dtype);
  }

  initializerList(): OnnxNs.ITensorProto[] {
    return this.initializers;
  }

  /** An int64 scalar initializer. */
  ints0(value: number): string {
    return this.constant([value], [], "int64");
  }

  /**
   * For the graph being built: `(value, output)` makes `value` a graph output named `output`. A value computed by a
   * node of this graph takes the output's name (ORT copies every Identity, and these are whole state vectors each
   * step); an input, an outer value or a value already handed out goes through an Identity.
   */
  private outputNamer(): (value: string, output: string) => string {
    const produced = new Set(this.nodes.flatMap((n) => n.output ?? []));
    const renamed = new Map<string, string>();
    return (value, output) => {
      const taken = renamed.get(value);
      if (taken !== undefined || !produced.has(value)) return this.emit("Identity", [taken ?? value], {}, output);
      renamed.set(value, output);
      renameValue(this.nodes, value, output);
      return output;
    };
  }

  /** Elements [offset, offset + size) of the flat parameter vector, from its runs (no copy when one run matches). */
  private fromPieces(offset: number, size: number, shape: readonly number[]): string {
    const parts: string[] = [];
    for (const run of this.pieces!.runs) {
      const start = Math.max(offset, run.offset);
      const end = Math.min(offset + size, run.offset + run.size);
      if (start >= end) continue;
      if (start === run.offset && end === run.offset + run.size) parts.push(run.name);
      else parts.push(this.emit("Slice", [run.name, this.ints([start - run.offset]), this.ints([end - run.offset]), this.ints([0])]));
    }
    const flat = parts.length === 1 ? parts[0]! : this.emit("Concat", parts, { axis: 0 });
    return shape.length === 1 ? flat : this.emit("Reshape", [flat, this.ints([...shape])]);
  }

  private valueInfo(name: string, shape: Shape, dtype: DType): OnnxNs.IValueInfoProto {
    const batch = this.options.dynamicBatch;
    const symbolic = batch !== undefined && !this.fixedShape.has(name);
    const dim = shape.map((d, i) => (i === 0 && symbolic && d === batch ? { dimParam: "batch" } : { dimValue: d }));
    return { name, type: { tensorType: { elemType: ELEM_TYPE[dtype], shape: { dim } } } };
  }

  private fresh(prefix: string): string {
    return `${this.prefix}${prefix}_${this.counter++}`;
  }

  private emit(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    const attribute: OnnxNs.IAttributeProto[] = Object.entries(attrs).map(([name, value]) => {
      if (typeof value === "string") return { name, type: ATTR.STRING, s: new TextEncoder().encode(value) };
      if (Array.isArray(value)) return { name, type: ATTR.INTS, ints: value };
      if (typeof value === "number") return { name, type: ATTR.INT, i: value };
      if ("floats" in value) return { name, type: ATTR.FLOATS, floats: value.floats };
      return { name, type: ATTR.FLOAT, f: value.float };
    });
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute });
    return out;
  }

  /** An initializer (deduplicated by content). */
  private constant(values: ArrayLike<number>, shape: Shape, dtype: DType, name?: string): string {
    let raw: Uint8Array;
    if (dtype === "float32") raw = new Uint8Array(Float32Array.from(values).buffer);
    else if (dtype === "int64") raw = new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    else raw = Uint8Array.from(values, (v) => (v ? 1 : 0));
    const key = name ? "" : `${dtype}|${shape.join(",")}|${Buffer.from(raw).toString("base64")}`;
    if (!name && key.length < 4096) {
      const cached = this.initCache.get(key);
      if (cached) return cached;
    }
    const initName = name ?? this.fresh("const");
    this.initializers.push({ name: initName, dims: [...shape], dataType: ELEM_TYPE[dtype], rawData: raw });
    if (!name && key.length < 4096) this.initCache.set(key, initName);
    return initName;
  }

  private batchDim: string | undefined;
  /** In a Loop body: the flat parameter vector as separate runs (see ParamPiece), by their names in the body. */
  private pieces: { pool: Tensor; runs: Array<{ offset: number; size: number; name: string }> } | undefined;
  /** Gated `where`s whose condition is known in this step (periodic inputs): where id -> the side it takes. */
  private folded = new Map<number, Tensor>();
  /** 2-D matmuls whose only reader adds a bias: lowered with that add as one Gemm (A, B, C). */
  private biasedMatmuls = new Map<number, number>();

  /**
   * A static shape as an int64 tensor. In exports with a symbolic batch, a leading dimension equal to the batch
   * size is read at run time from the first model input, so reshapes and broadcasts follow the actual batch.
   */
  private shapeInput(shape: readonly number[]): string {
    const batch = this.options.dynamicBatch;
    if (batch === undefined || shape[0] !== batch) return this.ints(shape);
    if (!this.batchDim) {
      const [first] = [...this.options.inputs].find(([t]) => t.op !== "state") ?? [];
      if (!first) return this.ints(shape);
      const name = this.options.inputs.get(first)!;
      this.batchDim = this.emit("Slice", [this.emit("Shape", [name]), this.ints([0]), this.ints([1])]);
    }
    return shape.length === 1 ? this.batchDim : this.emit("Concat", [this.batchDim, this.ints(shape.slice(1))], { axis: 0 });
  }

  /**
   * In exports with a symbolic batch, a constant whose leading axis is the batch and whose rows are all equal (e.g.
   * a filled [batch, n] tensor) becomes its first row expanded to the run-time batch; other constants stay as built.
   */
  private lowerConstant(node: Tensor): string {
    const data = node.attrs.data as Float64Array;
    const batch = this.options.dynamicBatch;
    const rows = node.shape[0];
    if (batch === undefined || batch < 2 || rows !== batch || data.length !== node.size) return this.constant(data, node.shape, node.dtype);
    const rowSize = node.size / rows;
    for (let i = rowSize; i < data.length; i++) {
      if (data[i] !== data[i % rowSize]) return this.constant(data, node.shape, node.dtype);
    }
    const row = this.constant(data.subarray(0, rowSize), [1, ...node.shape.slice(1)], node.dtype);
    return this.emit("Expand", [row, this.shapeInput(node.shape)]);
  }

  /** An int64 vector initializer. */
  ints(values: readonly number[]): string {
    return this.constant(values, [values.length], "int64");
  }

  private lower(node: Tensor): string {
    const out = `${this.prefix}t${node.id}_${node.op}`;
    const ins = node.inputs.map((i) => this.names.get(i.id)!);
    const attrs = node.attrs as Record<string, unknown>;
    if (this.pieces && node.op !== "param" && node.op !== "slice" && node.inputs.includes(this.pieces.pool)) {
      throw new NnError("export_unsupported", `op "${node.op}" reads the flat parameter vector directly`, { op: node.op });
    }
    const side = this.folded.get(node.id);
    if (side) return this.names.get(side.id)!;
    // A layer's x W + b as Gemm's C input: ORT can then fuse the activation that follows into the same kernel.
    if (this.biasedMatmuls.has(node.id)) return "";
    if (node.op === "add") {
      const matmulSide = node.inputs.findIndex((t) => this.biasedMatmuls.get(t.id) === node.id);
      if (matmulSide >= 0) {
        const matmul = node.inputs[matmulSide]!;
        const { transA, transB } = matmul.attrs as { transA: boolean; transB: boolean };
        const operands = matmul.inputs.map((t) => this.names.get(t.id)!);
        return this.emit("Gemm", [...operands, ins[1 - matmulSide]!], { transA: transA ? 1 : 0, transB: transB ? 1 : 0 }, out);
      }
    }
    const simple = SIMPLE_OPS[node.op];
    if (simple) return this.emit(simple, ins, {}, out);
    switch (node.op) {
      case "constant":
        return this.lowerConstant(node);
      case "input":
      case "state":
        throw new NnError("export_unsupported", `${node.op} "${attrs.name as string}" is needed but was not declared as a model input`, { name: attrs.name });
      case "param": {
        if (this.pieces && node.inputs[0] === this.pieces.pool) return this.fromPieces(attrs.offset as number, node.size, node.shape);
        if (this.options.bakedParams) {
          const offset = attrs.offset as number;
          return this.constant(this.options.bakedParams.subarray(offset, offset + node.size), node.shape, "float32", attrs.name as string);
        }
        const offset = attrs.offset as number;
        const flat = this.emit("Slice", [ins[0]!, this.ints([offset]), this.ints([offset + node.size]), this.ints([0])]);
        return node.rank === 1 ? flat : this.emit("Reshape", [flat, this.ints([...node.shape])], {}, out);
      }
      case "leakyRelu":
        return this.emit("LeakyRelu", ins, { alpha: { float: attrs.alpha as number } }, out);
      case "clip": {
        const lo = Number.isFinite(attrs.min) ? this.constant([attrs.min as number], [], "float32") : "";
        const hi = Number.isFinite(attrs.max) ? this.constant([attrs.max as number], [], "float32") : "";
        return this.emit("Clip", [ins[0]!, lo, hi], {}, out);
      }
      case "cast":
        return this.emit("Cast", ins, { to: ELEM_TYPE[attrs.to as DType] }, out);
      case "matmul": {
        const [a, b] = node.inputs as [Tensor, Tensor];
        const { transA, transB } = attrs as { transA: boolean; transB: boolean };
        if (a.rank === 2 && b.rank === 2) return this.emit("Gemm", ins, { transA: transA ? 1 : 0, transB: transB ? 1 : 0 }, out);
        const swap = (t: Tensor, name: string): string =>
          this.emit("Transpose", [name], { perm: t.rank === 2 ? [1, 0] : [0, 2, 1] });
        return this.emit("MatMul", [transA ? swap(a, ins[0]!) : ins[0]!, transB ? swap(b, ins[1]!) : ins[1]!], {}, out);
      }
      case "sum": {
        const { axes, keepDims } = attrs as { axes: number[]; keepDims: boolean };
        const x = node.inputs[0]!;
        // Column sums of a matrix (bias gradients) as a product with a ones vector: faster than ReduceSum in ORT.
        if (x.rank === 2 && axes.length === 1 && axes[0] === 0 && this.options.dynamicBatch === undefined) {
          const rows = x.shape[0]!;
          const ones = this.constant(new Float32Array(rows).fill(1), keepDims ? [1, rows] : [rows], "float32");
          return this.emit("MatMul", [ones, ins[0]!], {}, out);
        }
        // The same for ensembles: [members, rows, n] summed over rows (keepDims) is ones[1, rows] x (batched MatMul).
        if (x.rank === 3 && axes.length === 1 && axes[0] === 1 && keepDims && this.options.dynamicBatch === undefined) {
          const ones = this.constant(new Float32Array(x.shape[1]!).fill(1), [1, x.shape[1]!], "float32");
          return this.emit("MatMul", [ones, ins[0]!], {}, out);
        }
        return this.emit("ReduceSum", [ins[0]!, this.ints(axes)], { keepdims: keepDims ? 1 : 0 }, out);
      }
      case "mean":
      case "max":
      case "min":
      case "logSumExp": {
        const { axes, keepDims } = attrs as { axes: number[]; keepDims: boolean };
        const opType = { mean: "ReduceMean", max: "ReduceMax", min: "ReduceMin", logSumExp: "ReduceLogSumExp" }[node.op]!;
        return this.emit(opType, ins, { axes, keepdims: keepDims ? 1 : 0 }, out);
      }
      case "argMax":
        return this.emit("ArgMax", ins, { axis: attrs.axis as number, keepdims: attrs.keepDims ? 1 : 0 }, out);
      case "gather":
        return this.emit("Gather", ins, { axis: attrs.axis as number }, out);
      case "takeAlongAxis":
        return this.emit("GatherElements", ins, { axis: attrs.axis as number }, out);
      case "scatterAdd": {
        const shape = attrs.shape as number[];
        const zeros = this.constant(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, "float32");
        return this.emit("ScatterElements", [zeros, ins[0]!, ins[1]!], { axis: attrs.axis as number, reduction: "add" }, out);
      }
      case "oneHot": {
        const depth = this.constant([attrs.depth as number], [], "int64");
        const values = this.constant([0, 1], [2], "float32");
        return this.emit("OneHot", [ins[0]!, depth, values], { axis: -1 }, out);
      }
      case "concat":
        return this.emit("Concat", ins, { axis: attrs.axis as number }, out);
      case "slice": {
        const { axis, start, end } = attrs as { axis: number; start: number; end: number };
        if (this.pieces && node.inputs[0] === this.pieces.pool) return this.fromPieces(start, end - start, [end - start]);
        // A slice covering the whole axis (e.g. one optimizer over every parameter) is the input itself (no copy).
        if (start === 0 && end === node.inputs[0]!.shape[axis]) return ins[0]!;
        return this.emit("Slice", [ins[0]!, this.ints([start]), this.ints([end]), this.ints([axis])], {}, out);
      }
      case "reshape":
        return this.emit("Reshape", [ins[0]!, this.shapeInput(attrs.shape as number[])], {}, out);
      case "transpose":
        return this.emit("Transpose", ins, { perm: attrs.perm as number[] }, out);
      case "broadcastTo":
        return this.emit("Expand", [ins[0]!, this.shapeInput(attrs.shape as number[])], {}, out);
      default:
        throw new NnError("export_unsupported", `no ONNX lowering for op "${node.op}"`, { op: node.op });
    }
  }
}

const SIMPLE_OPS: Record<string, string> = {
  add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", minimum: "Min", maximum: "Max",
  greater: "Greater", less: "Less", greaterEqual: "GreaterOrEqual", lessEqual: "LessOrEqual", equal: "Equal",
  and: "And", or: "Or", not: "Not", neg: "Neg", abs: "Abs", sign: "Sign", sqrt: "Sqrt", exp: "Exp", log: "Log",
  tanh: "Tanh", cos: "Cos", sin: "Sin", sigmoid: "Sigmoid", relu: "Relu", softplus: "Softplus", identity: "Identity", stopGradient: "Identity",
  where: "Where",
};

/** Scalar-condition `where`s sharing one condition, lowered as one If; `body` = nodes only their "then" values need. */
interface Branch {
  condition: Tensor;
  wheres: Tensor[];
  body: number[];
}

/** Nodes reachable from `targets` (stopping at `stopIds`), skipping the "then" input of the `skip` wheres. */
function reach(targets: readonly Tensor[], stopIds: ReadonlySet<number>, baked: boolean, skip: ReadonlySet<number>, folded: ReadonlyMap<number, Tensor>): Set<number> {
  const seen = new Set<number>();
  const stack = [...targets];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    if (stopIds.has(t.id) || (baked && t.op === "param")) continue;
    const side = folded.get(t.id);
    if (side) stack.push(side);
    else if (skip.has(t.id)) stack.push(t.inputs[0]!, t.inputs[2]!);
    else stack.push(...t.inputs);
  }
  return seen;
}

/** Every value name `nodes` read, including inside If branches. */
function readNames(nodes: readonly OnnxNs.INodeProto[], into = new Set<string>()): Set<string> {
  for (const node of nodes) {
    for (const input of node.input ?? []) into.add(input);
    for (const attribute of node.attribute ?? []) if (attribute.g) readNames(attribute.g.node ?? [], into);
  }
  return into;
}

/** Renames a value everywhere it appears in `nodes`, including inside If branches (which read outer values by name). */
function renameValue(nodes: OnnxNs.INodeProto[], from: string, to: string): void {
  for (const node of nodes) {
    node.input = (node.input ?? []).map((x) => (x === from ? to : x));
    node.output = (node.output ?? []).map((x) => (x === from ? to : x));
    for (const attribute of node.attribute ?? []) if (attribute.g) renameValue(attribute.g.node ?? [], from, to);
  }
}

/**
 * Matmul id -> add id for every 2-D float matmul read only by an add of a bias that broadcasts one way to the
 * product's shape (a [n] or [1, n] vector, or a full [m, n] matrix).
 */
function biasedMatmuls(graph: Graph, targetIds: ReadonlySet<number>): Map<number, number> {
  const readers = new Map<number, number[]>();
  for (const node of graph.nodes) for (const input of node.inputs) readers.set(input.id, [...(readers.get(input.id) ?? []), node.id]);
  const fused = new Map<number, number>();
  const claimedAdds = new Set<number>();
  for (const node of graph.nodes) {
    if (node.op !== "matmul" || node.rank !== 2 || node.dtype !== "float32" || targetIds.has(node.id)) continue;
    const [a, b] = node.inputs as [Tensor, Tensor];
    if (a.rank !== 2 || b.rank !== 2) continue;
    const consumers = readers.get(node.id) ?? [];
    if (consumers.length !== 1) continue;
    const add = graph.nodes[consumers[0]!]!;
    if (add.op !== "add" || add.inputs[0]!.id === add.inputs[1]!.id) continue;
    const bias = add.inputs[0]!.id === node.id ? add.inputs[1]! : add.inputs[0]!;
    const [m, n] = node.shape as [number, number];
    const oneWay = (bias.rank === 1 && bias.shape[0] === n) || (bias.rank === 2 && (bias.shape[0] === 1 || bias.shape[0] === m) && bias.shape[1] === n);
    // One product per add: in add(x W, y V) the other product stays a product of its own, the C input.
    if (oneWay && !claimedAdds.has(add.id) && add.shape.join() === node.shape.join() && bias.dtype === "float32") {
      fused.set(node.id, add.id);
      claimedAdds.add(add.id);
    }
  }
  return fused;
}

/**
 * The gated `where`s whose scalar condition depends only on constants and inputs of known value, each with the side
 * it takes (the condition is evaluated by the interpreter).
 */
function foldedGates(graph: Graph, known: ReadonlyMap<number, number>): Map<number, Tensor> {
  const folded = new Map<number, Tensor>();
  if (known.size === 0) return folded;
  const inputs: Record<string, number[]> = {};
  for (const [id, value] of known) {
    const input = graph.nodes[id]!;
    inputs[input.attrs.name as string] = new Array<number>(input.size).fill(value);
  }
  const foldable = (id: number) => known.has(id) || graph.nodes[id]!.op === "constant" || graph.nodes[id]!.inputs.length > 0;
  for (const node of graph.nodes) {
    if (!isGate(node)) continue;
    const condition = node.inputs[0]!;
    if (!neededNodes([condition]).every(foldable)) continue;
    const [value] = evaluate([condition], { inputs, states: {} });
    folded.set(node.id, node.inputs[value![0] ? 1 : 2]!);
  }
  return folded;
}

function isGate(t: Tensor): boolean {
  if (t.op !== "where" || t.inputs[0]!.size !== 1) return false;
  const shape = t.shape.join();
  return t.inputs[1]!.shape.join() === shape && t.inputs[2]!.shape.join() === shape;
}

/**
 * The lowering order: node ids, and branches (If nodes) placed after everything they read and before everything
 * that reads them. Falls back to plain node order (every where lowered as Where) when branching does not apply.
 */
function planBranches(targets: readonly Tensor[], stopIds: ReadonlySet<number>, baked: boolean, folded: ReadonlyMap<number, Tensor>): Array<number | Branch> {
  const graph = targets[0]!.graph;
  const all = reach(targets, stopIds, baked, new Set(), folded);
  const plain = () => [...all].filter((id) => !stopIds.has(id)).sort((a, b) => a - b);
  let gated = new Set([...all].filter((id) => !stopIds.has(id) && !folded.has(id) && isGate(graph.nodes[id]!)));
  for (;;) {
    if (gated.size === 0) return plain();
    const always = reach(targets, stopIds, baked, gated, folded);
    // A gate only reachable through another gate's "then" side is lowered inside that branch.
    const kept = new Set([...gated].filter((id) => always.has(id)));
    if (kept.size !== gated.size) {
      gated = kept;
      continue;
    }
    const byCondition = new Map<number, Tensor[]>();
    for (const id of [...gated].sort((a, b) => a - b)) {
      const w = graph.nodes[id]!;
      const list = byCondition.get(w.inputs[0]!.id) ?? [];
      list.push(w);
      byCondition.set(w.inputs[0]!.id, list);
    }
    const branches: Branch[] = [];
    const deps = new Map<Branch, Set<number>>();
    const claimed = new Set<number>();
    let rejected: Tensor[] | undefined;
    for (const [conditionId, wheres] of byCondition) {
      const own = new Set(wheres.map((w) => w.id));
      const body = new Set<number>();
      const external = new Set<number>([conditionId, ...wheres.map((w) => w.inputs[2]!.id)]);
      const stack = wheres.map((w) => w.inputs[1]!);
      while (stack.length > 0) {
        const t = stack.pop()!;
        if (own.has(t.id)) stack.push(t.inputs[1]!);
        else if (stopIds.has(t.id) || always.has(t.id)) external.add(t.id);
        else if (!body.has(t.id)) {
          body.add(t.id);
          if (!(baked && t.op === "param")) stack.push(...t.inputs);
        }
      }
      if (body.size === 0 || [...body].some((id) => claimed.has(id))) {
        rejected = wheres;
        break;
      }
      for (const id of body) claimed.add(id);
      const branch: Branch = { condition: graph.nodes[conditionId]!, wheres, body: [...body] };
      branches.push(branch);
      deps.set(branch, external);
    }
    if (rejected) {
      for (const w of rejected) gated.delete(w.id);
      continue;
    }
    const ordered = topologicalOrder(graph.nodes, always, stopIds, branches, deps);
    return ordered ?? plain();
  }
}

/** Depth-first topological order of `always` nodes and branches; undefined when a branch would depend on itself. */
function topologicalOrder(
  nodes: readonly Tensor[],
  always: ReadonlySet<number>,
  stopIds: ReadonlySet<number>,
  branches: readonly Branch[],
  deps: ReadonlyMap<Branch, ReadonlySet<number>>,
): Array<number | Branch> | undefined {
  const branchOf = new Map<number, Branch>();
  for (const b of branches) for (const w of b.wheres) branchOf.set(w.id, b);
  type Unit = number | Branch;
  const unitOf = (id: number): Unit => branchOf.get(id) ?? id;
  const depsOf = (unit: Unit): Unit[] => {
    const ids = typeof unit === "number" ? nodes[unit]!.inputs.map((t) => t.id) : [...deps.get(unit)!];
    return [...new Set(ids.filter((id) => !stopIds.has(id)).sort((a, b) => a - b).map(unitOf))];
  };
  const state = new Map<Unit, 1 | 2>(); // 1: on the stack, 2: done
  const order: Unit[] = [];
  const roots = [...always].filter((id) => !stopIds.has(id)).sort((a, b) => a - b).map(unitOf);
  for (const root of roots) {
    if (state.has(root)) continue;
    const stack: Array<{ unit: Unit; pending: Unit[] }> = [{ unit: root, pending: depsOf(root) }];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = top.pending.shift();
      if (next === undefined) {
        stack.pop();
        state.set(top.unit, 2);
        order.push(top.unit);
        continue;
      }
      const seen = state.get(next);
      if (seen === 1) return undefined;
      if (seen === 2) continue;
      state.set(next, 1);
      stack.push({ unit: next, pending: depsOf(next) });
    }
  }
  return order;
}
