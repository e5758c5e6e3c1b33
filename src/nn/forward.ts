import { NnError } from "./errors.js";
import { type DType, type Graph, PARAMS_STATE, type Tensor } from "./graph.js";
import { lowerToOnnx } from "./onnx.js";

export interface ForwardOptions {
  /** Inputs by name (graph inputs or any tensors the outputs depend on); their leading axis is the batch. */
  inputs: Readonly<Record<string, Tensor>>;
  outputs: Readonly<Record<string, Tensor>>;
  threads?: number;
}

/**
 * A forward-only function of the graph for any batch size, taking the flat parameter vector on each call (e.g.
 * Q-values for evaluation or FQE while training continues): `await f.run({ obs }, step.params)`.
 * Parameters and outputs must not depend on the static batch size beyond the leading axis.
 */
export class ForwardFunction {
  private constructor(
    private readonly ort: typeof import("onnxruntime-node"),
    private readonly session: import("onnxruntime-node").InferenceSession,
    private readonly inputs: Array<{ name: string; rowSize: number; dtype: DType; shape: readonly number[] }>,
    private readonly outputs: Array<{ name: string; dtype: DType }>,
    private readonly paramCount: number,
  ) {}

  static async create(graph: Graph, options: ForwardOptions): Promise<ForwardFunction> {
    if (!graph.isFrozen) graph.freeze();
    const entries = Object.entries(options.inputs);
    if (entries.length === 0) throw new NnError("invalid_argument", "compileForward: needs at least one input", {});
    const batch = entries[0]![1].shape[0];
    for (const [name, t] of entries) {
      if (t.rank === 0 || t.shape[0] !== batch) throw new NnError("shape_mismatch", `compileForward: input "${name}" [${t.shape.join(", ")}] lacks the leading batch axis ${batch}`, { name });
    }
    const inputs = new Map<Tensor, string>(entries.map(([name, t]) => [t, name]));
    if (graph.paramTotal > 0) inputs.set(graph.paramPool, PARAMS_STATE);
    const model = lowerToOnnx({ inputs, outputs: new Map(Object.entries(options.outputs)), dynamicBatch: batch, graphName: "forward" });
    const ort = await import("onnxruntime-node");
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      extra: { session: { intra_op: { allow_spinning: "0" } } },
    });
    return new ForwardFunction(
      ort,
      session,
      entries.map(([name, t]) => ({ name, rowSize: t.size / t.shape[0]!, dtype: t.dtype, shape: t.shape })),
      Object.entries(options.outputs).map(([name, t]) => ({ name, dtype: t.dtype })),
      graph.paramTotal,
    );
  }

  /** Run on `rows` rows (inferred from the first input); returns each output flat, float32 or int32. */
  async run(feeds: Readonly<Record<string, Float32Array | Int32Array | BigInt64Array>>, params: Float32Array): Promise<Record<string, Float32Array | Int32Array>> {
    if (params.length !== this.paramCount) throw new NnError("shape_mismatch", `forward: ${params.length} parameter values, graph has ${this.paramCount}`, {});
    const first = this.inputs[0]!;
    const firstFeed = feeds[first.name];
    if (!firstFeed) throw new NnError("missing_feed", `input "${first.name}" was not fed`, { name: first.name });
    const rows = firstFeed.length / first.rowSize;
    const ortFeeds: Record<string, import("onnxruntime-node").Tensor> = {};
    for (const input of this.inputs) {
      const value = feeds[input.name];
      if (!value) throw new NnError("missing_feed", `input "${input.name}" was not fed`, { name: input.name });
      if (!Number.isInteger(rows) || value.length !== rows * input.rowSize) {
        throw new NnError("bad_feed", `input "${input.name}": ${value.length} values is not ${rows} rows of ${input.rowSize}`, { name: input.name });
      }
      const dims = [rows, ...input.shape.slice(1)];
      if (input.dtype === "float32") ortFeeds[input.name] = new this.ort.Tensor("float32", value instanceof Float32Array ? value : Float32Array.from(value as Int32Array), dims);
      else ortFeeds[input.name] = new this.ort.Tensor("int64", value instanceof BigInt64Array ? value : BigInt64Array.from(Array.from(value as Int32Array, (v) => BigInt(Math.trunc(v)))), dims);
    }
    if (this.paramCount > 0) ortFeeds[PARAMS_STATE] = new this.ort.Tensor("float32", params, [params.length]);
    const results = await this.session.run(ortFeeds);
    const out: Record<string, Float32Array | Int32Array> = {};
    for (const { name, dtype } of this.outputs) {
      const data = results[name]!.data;
      out[name] = dtype === "float32" ? (data as Float32Array) : Int32Array.from(data as ArrayLike<number | bigint>, Number);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export function compileForward(graph: Graph, options: ForwardOptions): Promise<ForwardFunction> {
  return ForwardFunction.create(graph, options);
}
