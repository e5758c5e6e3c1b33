import { writeFile, readFile } from "node:fs/promises";
import { NnError } from "./errors.js";
import { type DType, type Graph, PARAMS_STATE, shapeSize, type Tensor } from "./graph.js";
import { evaluate, type Precision } from "./interpreter.js";
import { lowerLoopToOnnx, lowerToOnnx } from "./onnx.js";
import { readSafetensors, writeSafetensors, type SafetensorsEntry } from "./safetensors.js";

export type FeedValue = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | readonly number[];
export type Feeds = Readonly<Record<string, FeedValue>>;
/**
 * Outputs of one call: size-1 float outputs as numbers, others as Float32Array (int64/bool outputs as Int32Array).
 * With stepsPerCall K > 1 every output is an array stacked over the K steps.
 */
export type StepOutputs = Record<string, number | Float32Array | Int32Array>;

export interface CompileOptions {
  /**
   * "ort" (default): ONNX Runtime; "interpreter": the pure-TypeScript interpreter (slow; tests and fallback);
   * "auto": ONNX Runtime when it loads, else the interpreter.
   */
  backend?: "ort" | "interpreter" | "auto";
  /** ORT intra-op threads (default 1). */
  threads?: number;
  /**
   * Let ORT's idle intra-op threads spin-wait (default false). Spinning can win a few percent on an idle machine;
   * on shared cores it halves throughput, so it is off unless asked for.
   */
  spinWait?: boolean;
  /** ORT execution provider; "cuda" needs an onnxruntime-node build with CUDA and fails clearly otherwise. */
  executionProvider?: "cpu" | "cuda";
  /** Interpreter arithmetic (default float32). */
  precision?: Precision;
  /**
   * K > 1: each `run` performs K training steps inside one ONNX Loop (amortising call overhead). Every input is
   * then fed as K stacked minibatches ([K, ...shape], flat) and every output comes back stacked as an array.
   */
  stepsPerCall?: number;
  /**
   * Scalar inputs that follow a fixed pattern within every call: input name -> its value on the k-th step of the
   * call, `pattern[k % pattern.length]` (e.g. `[0, 1]` for a gate on every second step, calls starting on an odd
   * step). ONNX Runtime then runs a Loop body of one step per pattern position with these values built in (gated
   * work inlined or left out, no If); K must be a multiple of the period and `run` refuses feeds that break the
   * pattern. Results are the same as feeding the values.
   */
  periodicInputs?: Readonly<Record<string, readonly number[]>>;
}

const NEXT = "__next";

/** The graph's inputs, state vectors and outputs as one callable program (graph frozen). */
export interface Program {
  graph: Graph;
  inputs: Tensor[];
  states: Array<{ name: string; tensor: Tensor; size: number }>;
  userOutputs: Map<string, Tensor>;
  /** Next value of each updated state vector, by state name. */
  next: Map<string, Tensor>;
}

export function buildProgram(graph: Graph): Program {
  if (!graph.isFrozen) graph.freeze();
  const cached = programs.get(graph);
  if (cached) return cached;
  const next = new Map<string, Tensor>();
  const total = graph.paramTotal;
  if (graph.paramSegments.length > 0) {
    const segments = [...graph.paramSegments].sort((a, b) => a.offset - b.offset);
    const parts: Tensor[] = [];
    let cursor = 0;
    const keep = (start: number, end: number): Tensor =>
      graph.addNode("slice", [graph.paramPool], { axis: 0, start, end }, [end - start], "float32");
    for (const seg of segments) {
      if (seg.offset > cursor) parts.push(keep(cursor, seg.offset));
      parts.push(seg.value);
      cursor = seg.offset + seg.size;
    }
    if (cursor < total) parts.push(keep(cursor, total));
    next.set(PARAMS_STATE, parts.length === 1 ? parts[0]! : graph.addNode("concat", parts, { axis: 0 }, [total], "float32"));
  }
  for (const [name, value] of graph.stateUpdates) next.set(name, value);
  if (graph.outputs.size === 0 && next.size === 0) throw new NnError("invalid_argument", "the graph has no outputs and no updates", {});
  const states = [
    ...(total > 0 ? [{ name: PARAMS_STATE, tensor: graph.paramPool, size: total }] : []),
    ...graph.states.map((s) => ({ name: s.name, tensor: s.tensor, size: shapeSize(s.shape) })),
  ];
  const program: Program = { graph, inputs: [...graph.inputs.values()], states, userOutputs: new Map(graph.outputs), next };
  programs.set(graph, program);
  return program;
}
const programs = new WeakMap<Graph, Program>();

/** The whole program as one ONNX model: inputs = graph inputs + state vectors; outputs = user outputs + `<state>__next`. */
export function programToOnnx(program: Program, stepsPerCall = 1, periodicInputs: CompileOptions["periodicInputs"] = {}): Uint8Array {
  if (stepsPerCall > 1) {
    const periodic = new Map(Object.entries(periodicInputs).map(([name, pattern]) => [program.graph.inputs.get(name)!, pattern]));
    return lowerLoopToOnnx({ steps: stepsPerCall, inputs: program.inputs, states: program.states, next: program.next, outputs: program.userOutputs, periodic });
  }
  const inputs = new Map<Tensor, string>();
  for (const t of program.inputs) inputs.set(t, t.attrs.name as string);
  for (const s of program.states) inputs.set(s.tensor, s.name);
  const outputs = new Map<string, Tensor>(program.userOutputs);
  for (const [name, t] of program.next) outputs.set(name + NEXT, t);
  return lowerToOnnx({ inputs, outputs, graphName: "training_step" });
}

interface Executor {
  run(feeds: Map<Tensor, FeedValue>, states: Map<string, Float32Array>): Promise<Map<string, Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array>>;
  dispose(): Promise<void>;
}

class InterpreterExecutor implements Executor {
  constructor(
    private readonly program: Program,
    private readonly precision: Precision,
    private readonly steps: number,
  ) {}

  async run(feeds: Map<Tensor, FeedValue>, states: Map<string, Float32Array>) {
    const outputNames = [...this.program.userOutputs.keys()];
    const targets = [...this.program.userOutputs.values(), ...this.program.next.values()];
    const current: Record<string, ArrayLike<number>> = Object.fromEntries(states);
    const stacked = outputNames.map((_, i) => new Float64Array(targets[i]!.size * this.steps));
    for (let k = 0; k < this.steps; k++) {
      const inputs: Record<string, ArrayLike<number>> = {};
      for (const [t, v] of feeds) {
        const all = v instanceof BigInt64Array ? Array.from(v, Number) : Array.from(v as ArrayLike<number>);
        inputs[t.attrs.name as string] = all.slice(k * t.size, (k + 1) * t.size);
      }
      const values = evaluate(targets, { inputs, states: current }, this.precision);
      outputNames.forEach((_, i) => stacked[i]!.set(values[i]!, k * targets[i]!.size));
      [...this.program.next.keys()].forEach((name, j) => (current[name] = values[outputNames.length + j]!));
    }
    const out = new Map<string, Float32Array | Float64Array>(outputNames.map((n, i) => [n, stacked[i]!]));
    for (const name of this.program.next.keys()) out.set(name + NEXT, Float32Array.from(current[name]!));
    return out;
  }

  async dispose(): Promise<void> {}
}

type Ort = typeof import("onnxruntime-node");
let ortModule: Promise<Ort> | undefined;
function loadOrt(): Promise<Ort> {
  ortModule ??= import("onnxruntime-node").catch((error: unknown) => {
    ortModule = undefined;
    throw new NnError("backend_unavailable", `onnxruntime-node cannot be loaded: ${(error as Error).message}`, {});
  });
  return ortModule;
}

const ORT_TYPE: Record<DType, "float32" | "int64" | "bool"> = { float32: "float32", int64: "int64", bool: "bool" };

class OrtExecutor implements Executor {
  private constructor(
    private readonly ort: Ort,
    private readonly session: import("onnxruntime-node").InferenceSession,
    private readonly stateShapes: Map<string, number[]>,
    private readonly steps: number,
    private readonly outputNames: string[],
  ) {}

  /** Per updated state, the buffer ORT writes the next value into (ping-pong with the fed buffer: no allocation). */
  private readonly spare = new Map<string, Float32Array>();

  static async create(program: Program, options: CompileOptions): Promise<OrtExecutor> {
    const steps = options.stepsPerCall ?? 1;
    const model = programToOnnx(program, steps, options.periodicInputs);
    const stateShapes = new Map(program.states.map((s) => [s.name, s.name === PARAMS_STATE ? [s.size] : [...s.tensor.shape]]));
    const ort = await loadOrt();
    const provider = options.executionProvider ?? "cpu";
    try {
      const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: options.threads ?? 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
        executionMode: "sequential",
        executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
        extra: { session: { intra_op: { allow_spinning: options.spinWait ? "1" : "0" } } },
      });
      return new OrtExecutor(ort, session, stateShapes, steps, [...program.userOutputs.keys(), ...[...program.next.keys()].map((n) => n + NEXT)]);
    } catch (error) {
      throw new NnError("backend_unavailable", `ONNX Runtime could not create a ${provider} session: ${(error as Error).message}`, { provider });
    }
  }

  async run(feeds: Map<Tensor, FeedValue>, states: Map<string, Float32Array>) {
    const ortFeeds: Record<string, import("onnxruntime-node").Tensor> = {};
    for (const [t, v] of feeds) ortFeeds[t.attrs.name as string] = new this.ort.Tensor(ORT_TYPE[t.dtype], toOrtData(t.dtype, v) as Float32Array, this.steps > 1 ? [this.steps, ...t.shape] : [...t.shape]);
    for (const [name, v] of states) ortFeeds[name] = new this.ort.Tensor("float32", v, this.stateShapes.get(name)!);
    const fetches: Record<string, import("onnxruntime-node").Tensor | null> = {};
    const written = new Map<string, Float32Array>();
    for (const name of this.outputNames) {
      if (!name.endsWith(NEXT)) {
        fetches[name] = null;
        continue;
      }
      const state = name.slice(0, -NEXT.length);
      const current = states.get(state)!;
      let buffer = this.spare.get(state);
      if (!buffer || buffer.length !== current.length || buffer === current) buffer = new Float32Array(current.length);
      written.set(name, buffer);
      fetches[name] = new this.ort.Tensor("float32", buffer, this.stateShapes.get(state)!);
    }
    const results = await this.session.run(ortFeeds, fetches);
    const out = new Map<string, Float32Array | BigInt64Array | Uint8Array>();
    for (const [name, tensor] of Object.entries(results)) out.set(name, written.get(name) ?? (tensor.data as Float32Array));
    // The buffers just fed become the targets of the next call.
    for (const name of written.keys()) {
      const state = name.slice(0, -NEXT.length);
      this.spare.set(state, states.get(state)!);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function toOrtData(dtype: DType, v: FeedValue): Float32Array | BigInt64Array | Uint8Array {
  if (dtype === "float32") return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  if (dtype === "int64") {
    if (v instanceof BigInt64Array) return v;
    const values = v as ArrayLike<number>;
    const out = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
    return out;
  }
  return v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>, (x) => (x ? 1 : 0));
}

/**
 * A compiled graph with its state (parameters, optimizer moments, step counters). `run(feeds)` executes one call
 * (one training step when the graph declares updates) and carries the state forward.
 */
export class TrainingStep {
  private readonly states = new Map<string, Float32Array>();

  private constructor(
    readonly program: Program,
    private readonly executor: Executor,
    readonly backend: "ort" | "interpreter",
    /** Training steps per `run` call (ONNX Loop when > 1). */
    readonly stepsPerCall: number,
    private readonly periodicInputs: Readonly<Record<string, readonly number[]>>,
  ) {
    const graph = program.graph;
    for (const s of program.states) {
      this.states.set(s.name, s.name === PARAMS_STATE ? graph.initialParams() : Float32Array.from(graph.states.find((x) => x.name === s.name)!.init));
    }
  }

  static async compile(graph: Graph, options: CompileOptions = {}): Promise<TrainingStep> {
    const program = buildProgram(graph);
    const steps = options.stepsPerCall ?? 1;
    if (!Number.isInteger(steps) || steps < 1) throw new NnError("invalid_argument", `stepsPerCall must be a positive integer, got ${steps}`, {});
    const periodic = options.periodicInputs ?? {};
    for (const [name, pattern] of Object.entries(periodic)) {
      const input = graph.inputs.get(name);
      if (!input || input.size !== 1 || input.dtype === "int64") throw new NnError("invalid_argument", `periodic input "${name}" must be a float32 or bool scalar input of the graph`, { name });
      if (pattern.length === 0 || steps % pattern.length !== 0) {
        throw new NnError("invalid_argument", `periodic input "${name}": stepsPerCall ${steps} is not a multiple of its pattern length ${pattern.length}`, { name });
      }
    }
    const interpreter = () => new TrainingStep(program, new InterpreterExecutor(program, options.precision ?? "float32", steps), "interpreter", steps, periodic);
    const requested = options.backend ?? "ort";
    if (requested === "interpreter") return interpreter();
    try {
      return new TrainingStep(program, await OrtExecutor.create(program, options), "ort", steps, periodic);
    } catch (error) {
      if (requested === "auto" && error instanceof NnError && error.code === "backend_unavailable") return interpreter();
      throw error;
    }
  }

  get graph(): Graph {
    return this.program.graph;
  }

  async run(feeds: Feeds): Promise<StepOutputs> {
    if (this.running) throw new NnError("invalid_argument", "run: the previous call has not finished; await each run (the state is carried from call to call)", {});
    this.running = true;
    try {
      return await this.runOnce(feeds);
    } finally {
      this.running = false;
    }
  }

  private running = false;

  private async runOnce(feeds: Feeds): Promise<StepOutputs> {
    const checked = new Map<Tensor, FeedValue>();
    for (const input of this.program.inputs) {
      const name = input.attrs.name as string;
      const value = feeds[name];
      if (value === undefined) throw new NnError("missing_feed", `input "${name}" was not fed`, { name });
      const expected = input.size * this.stepsPerCall;
      if (value.length !== expected) {
        const shape = this.stepsPerCall > 1 ? [this.stepsPerCall, ...input.shape] : input.shape;
        throw new NnError("bad_feed", `input "${name}": got ${value.length} values, shape [${shape.join(", ")}] needs ${expected}`, { name, expected, got: value.length });
      }
      const pattern = this.periodicInputs[name];
      if (pattern) {
        for (let k = 0; k < this.stepsPerCall; k++) {
          if (Number(value[k]) !== pattern[k % pattern.length]) {
            throw new NnError("bad_feed", `input "${name}": step ${k} of the call is fed ${Number(value[k])}, its pattern [${pattern.join(", ")}] gives ${pattern[k % pattern.length]}`, { name });
          }
        }
      }
      checked.set(input, value);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.graph.inputs.has(name)) throw new NnError("unknown_name", `feed "${name}" is not an input of the graph`, { name });
    }
    const results = await this.executor.run(checked, this.states);
    for (const name of this.program.next.keys()) {
      const value = results.get(name + NEXT)!;
      this.states.set(name, value instanceof Float32Array ? value : Float32Array.from(value as Float64Array));
    }
    const out: StepOutputs = {};
    for (const [name, tensor] of this.program.userOutputs) {
      const value = results.get(name)!;
      if (tensor.dtype === "float32") {
        const f = value instanceof Float32Array ? value : Float32Array.from(value as Float64Array);
        out[name] = tensor.size === 1 && this.stepsPerCall === 1 ? f[0]! : f;
      } else {
        out[name] = value instanceof BigInt64Array ? Int32Array.from(value, Number) : Int32Array.from(value as ArrayLike<number>);
      }
    }
    return out;
  }

  /** The flat parameter vector: a live buffer, overwritten by later calls; copy it to keep a snapshot. */
  get params(): Float32Array {
    return this.states.get(PARAMS_STATE) ?? new Float32Array(0);
  }

  /** Replace the whole flat parameter vector (e.g. from another graph that declared the same parameters in the same order). */
  setParams(values: Float32Array): void {
    if (values.length !== this.params.length) throw new NnError("shape_mismatch", `setParams: ${values.length} values, graph has ${this.params.length}`, {});
    this.states.set(PARAMS_STATE, Float32Array.from(values));
  }

  getParam(name: string): Float32Array {
    const info = this.paramByName(name);
    return this.params.slice(info.offset, info.offset + info.size);
  }

  setParam(name: string, values: ArrayLike<number>): void {
    const info = this.paramByName(name);
    if (values.length !== info.size) throw new NnError("shape_mismatch", `setParam "${name}": ${values.length} values, needs ${info.size}`, { name });
    this.params.set(values, info.offset);
  }

  /** Copies of every state vector by name ("params" and optimizer state). */
  state(): Record<string, Float32Array> {
    return Object.fromEntries([...this.states].map(([k, v]) => [k, Float32Array.from(v)]));
  }

  loadState(state: Readonly<Record<string, Float32Array>>): void {
    for (const [name, current] of this.states) {
      const value = state[name];
      if (!value) throw new NnError("checkpoint_invalid", `state "${name}" is missing`, { name });
      if (value.length !== current.length) throw new NnError("checkpoint_invalid", `state "${name}": ${value.length} values, expected ${current.length}`, { name });
      this.states.set(name, Float32Array.from(value));
    }
  }

  /**
   * Save parameters (one tensor per parameter, by name) and optimizer state (`<optimizer>.<slot>.<param>` per
   * parameter, `<optimizer>.step`) as safetensors, readable by `safetensors.torch.load_file`.
   */
  async saveCheckpoint(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await writeFile(path, writeSafetensors(this.checkpointEntries(), { format: "hindcast.nn/v1", ...metadata }));
  }

  async loadCheckpoint(path: string): Promise<Record<string, string>> {
    const { tensors, metadata } = readSafetensors(new Uint8Array(await readFile(path)));
    const next = this.state();
    for (const entry of this.checkpointEntries()) {
      const found = tensors.get(entry.name);
      if (!found) throw new NnError("checkpoint_invalid", `checkpoint ${path} lacks tensor "${entry.name}"`, { path, name: entry.name });
      if (found.data.length !== entry.data.length) {
        throw new NnError("checkpoint_invalid", `checkpoint tensor "${entry.name}" has ${found.data.length} values, expected ${entry.data.length}`, { path, name: entry.name });
      }
      next[entry.stateName]!.set(found.data, entry.stateOffset);
    }
    this.loadState(next);
    return metadata;
  }

  async dispose(): Promise<void> {
    await this.executor.dispose();
  }

  private paramByName(name: string) {
    const info = this.graph.params.find((p) => p.name === name);
    if (!info) throw new NnError("unknown_name", `no parameter named "${name}"`, { name });
    return info;
  }

  private checkpointEntries(): Array<SafetensorsEntry & { stateName: string; stateOffset: number }> {
    const graph = this.graph;
    const entries: Array<SafetensorsEntry & { stateName: string; stateOffset: number }> = [];
    const covered = new Set<string>();
    for (const p of graph.params) {
      entries.push({ name: p.name, shape: p.shape, data: this.params.subarray(p.offset, p.offset + p.size), stateName: PARAMS_STATE, stateOffset: p.offset });
    }
    for (const opt of graph.optimizers) {
      for (const [slot, stateName] of Object.entries(opt.slots)) {
        covered.add(stateName);
        const vector = this.states.get(stateName)!;
        let local = 0;
        for (const pname of opt.params) {
          const p = graph.params.find((x) => x.name === pname)!;
          entries.push({ name: `${opt.name}.${slot}.${pname}`, shape: p.shape, data: vector.subarray(local, local + p.size), stateName, stateOffset: local });
          local += p.size;
        }
      }
      if (opt.step) {
        covered.add(opt.step);
        entries.push({ name: `${opt.name}.step`, shape: [], data: this.states.get(opt.step)!, stateName: opt.step, stateOffset: 0 });
      }
    }
    for (const s of graph.states) {
      if (!covered.has(s.name)) entries.push({ name: s.name, shape: s.shape, data: this.states.get(s.name)!, stateName: s.name, stateOffset: 0 });
    }
    return entries;
  }
}

/** Compile a graph (freezing it) into a callable training step. */
export function compileStep(graph: Graph, options: CompileOptions = {}): Promise<TrainingStep> {
  return TrainingStep.compile(graph, options);
}
