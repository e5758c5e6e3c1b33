// The numerical engine's public API (see README.md).
export { NnError, type NnErrorCode } from "./errors.js";
export { Rng } from "../random/index.js";
export { Graph, Tensor, shapeSize, type DType, type Shape, type GraphOptions, type ParamInfo } from "./graph.js";
export * as op from "./ops.js";
export { gradients } from "./autodiff.js";
export { evaluate, type Precision, type InterpreterEnv } from "./interpreter.js";
export { Linear, Mlp, EnsembleMlp, linear, mlp, ensembleMlp, activate, torchLinearInit, uniformInit, type Activation, type MlpOptions, type EnsembleMlpOptions, type Module } from "./layers.js";
export { adam, adamW, sgd, polyak, gated, type AdamOptions, type SgdOptions, type OptimizerOptions, type OptimizerResult, type PolyakOptions } from "./optim.js";
export { gaussianLogProb, tanhGaussian, tanhGaussianLogProb, logTanhJacobian, atanh } from "./distributions.js";
export { compileStep, TrainingStep, buildProgram, programToOnnx, type CompileOptions, type Feeds, type FeedValue, type StepOutputs } from "./step.js";
export { exportOnnx, type ExportOptions } from "./export.js";
export { lowerToOnnx, OPSET } from "./onnx.js";
export { readSafetensors, writeSafetensors, type SafetensorsEntry } from "./safetensors.js";
export { compileForward, ForwardFunction, type ForwardOptions } from "./forward.js";
