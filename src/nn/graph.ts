import { NnError } from "./errors.js";
import { Rng } from "../random/index.js";

export type DType = "float32" | "int64" | "bool";
export type Shape = readonly number[];
export type Attrs = Readonly<Record<string, unknown>>;

/** One node of the graph; every node has exactly one output, so a node and its value are the same object. */
export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly op: string,
    readonly inputs: readonly Tensor[],
    readonly attrs: Attrs,
    readonly shape: Shape,
    readonly dtype: DType,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return shapeSize(this.shape);
  }

  toString(): string {
    return `${this.op}#${this.id}[${this.shape.join(",")}]:${this.dtype}`;
  }
}

export interface ParamInfo {
  name: string;
  shape: Shape;
  offset: number;
  size: number;
  init: Float32Array;
  tensor: Tensor;
}

export interface StateInfo {
  name: string;
  shape: Shape;
  init: Float32Array;
  tensor: Tensor;
}

/** A run of the flat parameter vector replaced by a new value at the end of the step. */
export interface ParamSegment {
  offset: number;
  size: number;
  value: Tensor;
}

/** Optimizer bookkeeping kept for checkpoints: which params a group covers and which state vectors it owns. */
export interface OptimizerInfo {
  name: string;
  kind: "sgd" | "adam" | "adamw";
  params: string[];
  /** Flat optimizer state vectors (same layout as the group's params), e.g. {exp_avg: "adam0.m"}. */
  slots: Record<string, string>;
  step?: string;
}

export interface GraphOptions {
  /** Seed for parameter initialisers. */
  seed?: number;
}

export const PARAMS_STATE = "params";

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** NumPy broadcasting of two shapes, or undefined when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = new Array(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * The graph builder: inputs, parameters (views into one flat parameter vector), state vectors, ops (see ops.ts),
 * state updates and named outputs. Shapes are static and checked as nodes are added.
 */
export class Graph {
  readonly nodes: Tensor[] = [];
  readonly inputs = new Map<string, Tensor>();
  readonly outputs = new Map<string, Tensor>();
  readonly params: ParamInfo[] = [];
  readonly states: StateInfo[] = [];
  readonly stateUpdates = new Map<string, Tensor>();
  readonly paramSegments: ParamSegment[] = [];
  readonly optimizers: OptimizerInfo[] = [];
  readonly rng: Rng;
  /** The flat parameter vector; its length grows as parameters are declared and is fixed when compiled. */
  readonly paramPool: Tensor;
  private paramCount = 0;
  private frozen = false;
  private readonly constants = new Map<string, Tensor>();

  constructor(options: GraphOptions = {}) {
    this.rng = new Rng(options.seed ?? 0);
    this.paramPool = this.addNode("state", [], { name: PARAMS_STATE }, [0], "float32");
  }

  get paramTotal(): number {
    return this.paramCount;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Called by the compiler: after this the parameter layout cannot change. */
  freeze(): void {
    this.frozen = true;
    (this.paramPool as { shape: Shape }).shape = [this.paramCount];
  }

  addNode(op: string, inputs: readonly Tensor[], attrs: Attrs, shape: Shape, dtype: DType): Tensor {
    for (const input of inputs) {
      if (input.graph !== this) throw new NnError("invalid_argument", `${op}: input ${input} belongs to another graph`, { op });
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new NnError("shape_mismatch", `${op}: invalid output shape ${fmtShape(shape)}`, { op, shape });
    }
    const tensor = new Tensor(this, this.nodes.length, op, inputs, attrs, [...shape], dtype);
    this.nodes.push(tensor);
    return tensor;
  }

  /** A scalar or array constant; scalars are shared. */
  constant(value: number | ArrayLike<number>, shape: Shape = [], dtype: DType = "float32"): Tensor {
    if (typeof value === "number") {
      const key = `${dtype}:${fmtShape(shape)}:${value}`;
      const cached = this.constants.get(key);
      if (cached) return cached;
      const data = new Float64Array(shapeSize(shape)).fill(value);
      const node = this.addNode("constant", [], { data }, shape, dtype);
      this.constants.set(key, node);
      return node;
    }
    if (value.length !== shapeSize(shape)) {
      throw new NnError("shape_mismatch", `constant: ${value.length} values do not fill shape ${fmtShape(shape)}`, { op: "constant", shape });
    }
    return this.addNode("constant", [], { data: Float64Array.from(value) }, shape, dtype);
  }

  input(name: string, shape: Shape, dtype: DType = "float32"): Tensor {
    this.checkName(name);
    const node = this.addNode("input", [], { name }, shape, dtype);
    this.inputs.set(name, node);
    return node;
  }

  output(name: string, value: Tensor): void {
    if (value.graph !== this) throw new NnError("invalid_argument", `output "${name}": tensor ${value} belongs to another graph`, { name });
    if (this.outputs.has(name)) throw new NnError("duplicate_name", `output "${name}" is already declared`, { name });
    this.outputs.set(name, value);
  }

  /**
   * A trainable parameter: a view of `size` floats of the flat parameter vector. `init` is its initial value
   * (length = product of shape).
   */
  param(name: string, shape: Shape, init: Float32Array | ((rng: Rng, size: number) => Float32Array)): Tensor {
    this.assertOpen("param");
    this.checkName(name);
    const size = shapeSize(shape);
    const value = typeof init === "function" ? init(this.rng, size) : init;
    if (value.length !== size) {
      throw new NnError("shape_mismatch", `param "${name}": initial value has ${value.length} values, shape ${fmtShape(shape)} needs ${size}`, { name, shape });
    }
    const offset = this.paramCount;
    this.paramCount += size;
    const tensor = this.addNode("param", [this.paramPool], { name, offset, size }, shape, "float32");
    this.params.push({ name, shape: [...shape], offset, size, init: value, tensor });
    return tensor;
  }

  /** A non-trainable float32 state vector carried from step to step (optimizer moments, step counters). */
  state(name: string, shape: Shape, init: number | Float32Array = 0): Tensor {
    this.assertOpen("state");
    this.checkName(name);
    const size = shapeSize(shape);
    const value = typeof init === "number" ? new Float32Array(size).fill(init) : init;
    if (value.length !== size) throw new NnError("shape_mismatch", `state "${name}": initial value length ${value.length} != ${size}`, { name, shape });
    const tensor = this.addNode("state", [], { name }, shape, "float32");
    this.states.push({ name, shape: [...shape], init: value, tensor });
    return tensor;
  }

  /** Replace a state vector's value at the end of the step. */
  assign(state: Tensor, value: Tensor): void {
    this.assertOpen("assign");
    const name = state.attrs.name as string;
    if (state.op !== "state" || state === this.paramPool) throw new NnError("invalid_argument", "assign: target must be a state vector from graph.state()", {});
    if (!sameShape(state.shape, value.shape)) {
      throw new NnError("shape_mismatch", `assign "${name}": value shape ${fmtShape(value.shape)} != state shape ${fmtShape(state.shape)}`, { op: "assign", name });
    }
    if (this.stateUpdates.has(name)) throw new NnError("param_updated_twice", `state "${name}" is updated twice in one step`, { name });
    this.stateUpdates.set(name, value);
  }

  paramInfo(param: Tensor): ParamInfo {
    if (param.op !== "param" || param.graph !== this) throw new NnError("invalid_argument", `expected a parameter, got ${param}`, {});
    return this.params.find((p) => p.tensor === param)!;
  }

  /** The parameters' values as one flat vector in the given order (one Slice when they are contiguous). */
  flatView(params: readonly Tensor[]): Tensor {
    const infos = params.map((p) => this.paramInfo(p));
    const runs = contiguousRuns(infos);
    const parts = runs.map((run) => this.addNode("slice", [this.paramPool], { axis: 0, start: run.offset, end: run.offset + run.size }, [run.size], "float32"));
    return parts.length === 1 ? parts[0]! : this.addNode("concat", parts, { axis: 0 }, [runs.reduce((a, r) => a + r.size, 0)], "float32");
  }

  /** Replace the parameters (in the given order) by `flatValue` at the end of the step. */
  assignParams(params: readonly Tensor[], flatValue: Tensor): void {
    this.assertOpen("assignParams");
    const infos = params.map((p) => this.paramInfo(p));
    const total = infos.reduce((a, p) => a + p.size, 0);
    if (flatValue.rank !== 1 || flatValue.shape[0] !== total) {
      throw new NnError("shape_mismatch", `assignParams: value shape ${fmtShape(flatValue.shape)} != [${total}]`, { op: "assignParams" });
    }
    const runs = contiguousRuns(infos);
    let local = 0;
    for (const run of runs) {
      for (const seg of this.paramSegments) {
        if (run.offset < seg.offset + seg.size && seg.offset < run.offset + run.size) {
          const names = this.params.filter((p) => p.offset >= run.offset && p.offset < run.offset + run.size).map((p) => p.name);
          throw new NnError("param_updated_twice", `parameters ${names.join(", ")} are updated twice in one step`, { params: names });
        }
      }
      const value = runs.length === 1 ? flatValue : this.addNode("slice", [flatValue], { axis: 0, start: local, end: local + run.size }, [run.size], "float32");
      this.paramSegments.push({ offset: run.offset, size: run.size, value });
      local += run.size;
    }
  }

  /**
   * The parameters' values after this step's updates (declared so far), flat, in the given order. Parameters no
   * update touches keep their current value.
   */
  updatedFlatView(params: readonly Tensor[]): Tensor {
    // Consecutive parameters read from the same source (one update's value, or the pool) form one run, so a group
    // read back whole is that update's value itself rather than a concat of its slices.
    const runs: Array<{ seg: ParamSegment | undefined; infos: ParamInfo[] }> = [];
    for (const info of params.map((p) => this.paramInfo(p))) {
      const seg = this.paramSegments.find((s) => info.offset >= s.offset && info.offset + info.size <= s.offset + s.size);
      const last = runs[runs.length - 1];
      const lastInfo = last?.infos[last.infos.length - 1];
      if (last && last.seg === seg && lastInfo!.offset + lastInfo!.size === info.offset) last.infos.push(info);
      else runs.push({ seg, infos: [info] });
    }
    const parts = runs.map(({ seg, infos }) => {
      if (!seg) return this.flatView(infos.map((info) => info.tensor));
      const start = infos[0]!.offset - seg.offset;
      const size = infos.reduce((a, info) => a + info.size, 0);
      if (start === 0 && size === seg.size) return seg.value;
      return this.addNode("slice", [seg.value], { axis: 0, start, end: start + size }, [size], "float32");
    });
    return parts.length === 1 ? parts[0]! : this.addNode("concat", parts, { axis: 0 }, [parts.reduce((a, t) => a + t.size, 0)], "float32");
  }

  /** Values of all parameters at declaration (the initial flat vector). */
  initialParams(): Float32Array {
    const out = new Float32Array(this.paramCount);
    for (const p of this.params) out.set(p.init, p.offset);
    return out;
  }

  private checkName(name: string): void {
    if (!name) throw new NnError("invalid_argument", "names must be non-empty", {});
    const taken =
      this.inputs.has(name) || name === PARAMS_STATE || this.params.some((p) => p.name === name) || this.states.some((s) => s.name === name);
    if (taken) throw new NnError("duplicate_name", `name "${name}" is already used in this graph`, { name });
  }

  private assertOpen(what: string): void {
    if (this.frozen) throw new NnError("graph_frozen", `${what}: the graph is compiled; declare parameters, state and updates before compiling`, {});
  }
}

function contiguousRuns(infos: readonly ParamInfo[]): Array<{ offset: number; size: number }> {
  const runs: Array<{ offset: number; size: number }> = [];
  for (const info of infos) {
    const last = runs[runs.length - 1];
    if (last && last.offset + last.size === info.offset) last.size += info.size;
    else runs.push({ offset: info.offset, size: info.size });
  }
  return runs;
}
