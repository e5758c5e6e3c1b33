// The public library API. Each module exports what users may build on; nothing else lives here.
export type { Transitions, ActionSpace } from "./data/transitions.js";
export { episodeCount, actionDim } from "./data/transitions.js";
export type { PolicyManifest } from "./policy/manifest.js";
export { writeColumns, formatFromPath } from "./data/write-columns.js";
export type { ColumnData, FileFormat } from "./data/write-columns.js";
export { parseSchema, loadSchema, featureNamesOf } from "./data/schema.js";
export type { DatasetSchema, DatasetSchemaInput } from "./data/schema.js";
export { DataError } from "./data/errors.js";
// Numerical engine (graph, autodiff, layers, optimizers, ONNX Runtime steps, export, checkpoints): `nn.Graph`, `nn.op.add`, ...
export * as nn from "./nn/index.js";
