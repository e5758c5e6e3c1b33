import { NnError } from "./errors.js";
import type { Graph, Tensor } from "./graph.js";
import { lowerToOnnx } from "./onnx.js";

export interface ExportOptions {
  /** Model inputs by ONNX name, e.g. { obs } (a graph input or any tensor the outputs depend on). */
  inputs: Readonly<Record<string, Tensor>>;
  /** Model outputs by ONNX name, e.g. { q: qValues }. */
  outputs: Readonly<Record<string, Tensor>>;
  /** Parameter values to bake in: the flat vector or anything with a `params` vector (a TrainingStep). */
  params: Float32Array | { readonly params: Float32Array };
  /** Make the leading axis of inputs and outputs a symbolic "batch" dimension (default true). */
  dynamicBatch?: boolean;
}

/**
 * Export an inference sub-graph (e.g. the policy alone) as a standalone ONNX model: parameters become
 * initializers, nothing else of the training step is included. With the symbolic batch (default), reshapes,
 * broadcasts and equal-row constants whose leading size equals the batch read the batch size at run time; a constant
 * with distinct per-row values stays fixed to the batch it was built with.
 */
export function exportOnnx(graph: Graph, options: ExportOptions): Uint8Array {
  const params = options.params instanceof Float32Array ? options.params : options.params.params;
  if (params.length !== graph.paramTotal) {
    throw new NnError("shape_mismatch", `exportOnnx: ${params.length} parameter values, graph declares ${graph.paramTotal}`, {});
  }
  const inputs = new Map<Tensor, string>(Object.entries(options.inputs).map(([name, t]) => [t, name]));
  const outputs = new Map<string, Tensor>(Object.entries(options.outputs));
  if (inputs.size === 0 || outputs.size === 0) throw new NnError("invalid_argument", "exportOnnx: needs at least one input and one output", {});
  const first = Object.values(options.inputs)[0]!;
  const batch = options.dynamicBatch === false || first.rank === 0 ? undefined : first.shape[0];
  return lowerToOnnx({ inputs, outputs, bakedParams: params, dynamicBatch: batch, graphName: "policy" });
}
