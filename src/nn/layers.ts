import { NnError } from "./errors.js";
import type { Graph, Tensor } from "./graph.js";
import type { Rng } from "../random/index.js";
import * as op from "./ops.js";

export type Activation = "relu" | "tanh" | "sigmoid" | "leakyRelu" | "softplus" | "identity";

export function activate(x: Tensor, activation: Activation): Tensor {
  switch (activation) {
    case "relu":
      return op.relu(x);
    case "tanh":
      return op.tanh(x);
    case "sigmoid":
      return op.sigmoid(x);
    case "leakyRelu":
      return op.leakyRelu(x);
    case "softplus":
      return op.softplus(x);
    case "identity":
      return x;
  }
}

/**
 * torch.nn.Linear's default initialisation: weight ~ kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(fanIn), 1/sqrt(fanIn)),
 * and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
 */
export function torchLinearInit(fanIn: number): (rng: Rng, size: number) => Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  return (rng, size) => {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = (2 * rng.uniform() - 1) * bound;
    return out;
  };
}

/** Uniform(-scale, scale) initialiser, e.g. the 3e-3 last-layer init used by several actor-critic papers. */
export function uniformInit(scale: number): (rng: Rng, size: number) => Float32Array {
  return (rng, size) => {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = (2 * rng.uniform() - 1) * scale;
    return out;
  };
}

export interface Module {
  readonly params: Tensor[];
}

/** y = x W + b with W stored [in, out] (the transpose of torch's Linear.weight). */
export class Linear implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(g: Graph, readonly name: string, readonly inDim: number, readonly outDim: number, options: { copyOf?: Linear; initScale?: number } = {}) {
    const init = options.initScale !== undefined ? uniformInit(options.initScale) : torchLinearInit(inDim);
    const source = options.copyOf;
    if (source && (source.inDim !== inDim || source.outDim !== outDim)) {
      throw new NnError("shape_mismatch", `linear "${name}": copyOf "${source.name}" is ${source.inDim}x${source.outDim}, not ${inDim}x${outDim}`, { name });
    }
    this.weight = g.param(`${name}.weight`, [inDim, outDim], source ? Float32Array.from(g.paramInfo(source.weight).init) : init);
    this.bias = g.param(`${name}.bias`, [outDim], source ? Float32Array.from(g.paramInfo(source.bias).init) : init);
  }

  get params(): Tensor[] {
    return [this.weight, this.bias];
  }

  apply(x: Tensor): Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.inDim) {
      throw new NnError("shape_mismatch", `linear "${this.name}": expects input [batch, ${this.inDim}], got [${x.shape.join(", ")}]`, { op: "linear", name: this.name, shape: x.shape });
    }
    return op.add(op.matmul(x, this.weight), this.bias);
  }
}

export function linear(g: Graph, name: string, inDim: number, outDim: number, options: { copyOf?: Linear; initScale?: number } = {}): Linear {
  return new Linear(g, name, inDim, outDim, options);
}

export interface MlpOptions {
  /** Hidden-layer activation (default relu). */
  activation?: Activation;
  /** Output activation (default identity). */
  outputActivation?: Activation;
  /** Start from the same initial weights as another MLP of the same sizes (target networks). */
  copyOf?: Mlp;
  /** Uniform(-s, s) init for the last layer instead of the PyTorch default. */
  lastLayerInitScale?: number;
}

/** A stack of Linear layers named `<name>.<i>.weight` / `<name>.<i>.bias`. */
export class Mlp implements Module {
  readonly layers: Linear[] = [];
  readonly activation: Activation;
  readonly outputActivation: Activation;

  constructor(g: Graph, readonly name: string, readonly sizes: readonly number[], options: MlpOptions = {}) {
    if (sizes.length < 2) throw new NnError("invalid_argument", `mlp "${name}": needs at least input and output sizes`, { name });
    const source = options.copyOf;
    if (source && (source.sizes.length !== sizes.length || source.sizes.some((s, i) => s !== sizes[i]))) {
      throw new NnError("shape_mismatch", `mlp "${name}": copyOf "${source.name}" has sizes [${source.sizes.join(", ")}]`, { name });
    }
    this.activation = options.activation ?? source?.activation ?? "relu";
    this.outputActivation = options.outputActivation ?? source?.outputActivation ?? "identity";
    for (let i = 0; i + 1 < sizes.length; i++) {
      const last = i + 2 === sizes.length;
      this.layers.push(
        new Linear(g, `${name}.${i}`, sizes[i]!, sizes[i + 1]!, {
          copyOf: source?.layers[i],
          initScale: last ? options.lastLayerInitScale : undefined,
        }),
      );
    }
  }

  get params(): Tensor[] {
    return this.layers.flatMap((l) => l.params);
  }

  apply(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      h = layer.apply(h);
      h = activate(h, i + 1 === this.layers.length ? this.outputActivation : this.activation);
    });
    return h;
  }
}

export function mlp(g: Graph, name: string, sizes: readonly number[], options: MlpOptions = {}): Mlp {
  return new Mlp(g, name, sizes, options);
}

export type EnsembleMlpOptions = Omit<MlpOptions, "copyOf"> & { copyOf?: EnsembleMlp };

/**
 * `members` independent MLPs evaluated as one batched network (critic ensembles, twin Q): weights [members, in, out],
 * biases [members, 1, out]; each member initialised like torch.nn.Linear. apply([B, in]) -> [members, B, out];
 * apply([members, B, in]) feeds each member its own input.
 */
export class EnsembleMlp implements Module {
  readonly weights: Tensor[] = [];
  readonly biases: Tensor[] = [];
  readonly activation: Activation;
  readonly outputActivation: Activation;

  constructor(g: Graph, readonly name: string, readonly members: number, readonly sizes: readonly number[], options: EnsembleMlpOptions = {}) {
    const source = options.copyOf;
    if (source && (source.members !== members || source.sizes.length !== sizes.length || source.sizes.some((s, i) => s !== sizes[i]))) {
      throw new NnError("shape_mismatch", `ensembleMlp "${name}": copyOf "${source.name}" has a different shape`, { name });
    }
    this.activation = options.activation ?? "relu";
    this.outputActivation = options.outputActivation ?? "identity";
    for (let i = 0; i + 1 < sizes.length; i++) {
      const fanIn = sizes[i]!;
      const last = i + 2 === sizes.length;
      const init = last && options.lastLayerInitScale !== undefined ? uniformInit(options.lastLayerInitScale) : torchLinearInit(fanIn);
      const copy = (t: Tensor | undefined) => (t ? Float32Array.from(g.paramInfo(t).init) : init);
      this.weights.push(g.param(`${name}.${i}.weight`, [members, fanIn, sizes[i + 1]!], copy(source?.weights[i])));
      this.biases.push(g.param(`${name}.${i}.bias`, [members, 1, sizes[i + 1]!], copy(source?.biases[i])));
    }
  }

  get params(): Tensor[] {
    return this.weights.flatMap((w, i) => [w, this.biases[i]!]);
  }

  apply(x: Tensor): Tensor {
    const inDim = this.sizes[0]!;
    const ok = (x.rank === 2 && x.shape[1] === inDim) || (x.rank === 3 && x.shape[0] === this.members && x.shape[2] === inDim);
    if (!ok) {
      throw new NnError("shape_mismatch", `ensembleMlp "${this.name}": expects [batch, ${inDim}] or [${this.members}, batch, ${inDim}], got [${x.shape.join(", ")}]`, { op: "ensembleMlp", shape: x.shape });
    }
    let h = x;
    this.weights.forEach((w, i) => {
      if (h.rank === 2) {
        // A shared input takes the bias as one more column of ones: [x, 1] [W; b] is a single batched product,
        // with no separate add over [members, batch, out] and no bias reduction in the backward pass.
        const ones = h.graph.constant(1, [h.shape[0]!, 1]);
        h = op.matmul(op.concat([h, ones], 1), op.concat([w, this.biases[i]!], 1));
      } else {
        h = op.add(op.matmul(h, w), this.biases[i]!);
      }
      h = activate(h, i + 1 === this.weights.length ? this.outputActivation : this.activation);
    });
    return h;
  }
}

export function ensembleMlp(g: Graph, name: string, members: number, sizes: readonly number[], options: EnsembleMlpOptions = {}): EnsembleMlp {
  return new EnsembleMlp(g, name, members, sizes, options);
}
