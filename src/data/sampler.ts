import { DataError } from "./errors.js";
import { Rng } from "../random/index.js";
import { actionDim, type Transitions } from "./transitions.js";

/** One minibatch; the same object (and arrays) is refilled by every `sample` call of its sampler. */
export interface Minibatch {
  size: number;
  /** Row indices into the transitions. */
  indices: Int32Array;
  /** size * observationDim, row-major. */
  observations: Float32Array;
  nextObservations: Float32Array;
  /** Discrete: Int32Array(size); continuous: Float32Array(size * actionDim). */
  actions: Int32Array | Float32Array;
  rewards: Float32Array;
  terminals: Uint8Array;
  truncations: Uint8Array;
  behaviorProb: Float64Array | null;
}

export interface Sampler {
  /**
   * Draws `batchSize` transitions uniformly with replacement into preallocated arrays and returns them. The
   * returned batch is overwritten by the next call; copy what you keep. Allocates only when the size changes.
   */
  sample(batchSize: number): Minibatch;
}

function allocate(t: Transitions, size: number): Minibatch {
  const dim = t.observationDim;
  const adim = actionDim(t.actionSpace);
  return {
    size,
    indices: new Int32Array(size),
    observations: new Float32Array(size * dim),
    nextObservations: new Float32Array(size * dim),
    actions: t.actionSpace.kind === "discrete" ? new Int32Array(size) : new Float32Array(size * adim),
    rewards: new Float32Array(size),
    terminals: new Uint8Array(size),
    truncations: new Uint8Array(size),
    behaviorProb: t.behaviorProb ? new Float64Array(size) : null,
  };
}

/** A seeded minibatch sampler over loaded transitions: the same seed gives the same sequence of batches. */
export function createSampler(t: Transitions, seed: number): Sampler {
  if (t.size === 0) throw new DataError("empty_dataset", "cannot sample from a dataset with no transitions");
  const rng = new Rng(seed);
  const dim = t.observationDim;
  const adim = actionDim(t.actionSpace);
  let batch: Minibatch | null = null;
  return {
    sample(batchSize: number): Minibatch {
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new DataError("invalid_batch_size", `batch size must be a positive integer, got ${batchSize}`, { value: batchSize });
      if (batch === null || batch.size !== batchSize) batch = allocate(t, batchSize);
      const b = batch;
      const { observations, nextObservations, actions, rewards, terminals, truncations, behaviorProb } = t;
      const { indices, observations: obsOut, nextObservations: nextOut, actions: actOut, rewards: rewOut, terminals: termOut, truncations: truncOut, behaviorProb: probOut } = b;
      const size = t.size;
      for (let k = 0; k < batchSize; k++) {
        const i = rng.int(size);
        indices[k] = i;
        const src = i * dim;
        const dst = k * dim;
        for (let j = 0; j < dim; j++) {
          obsOut[dst + j] = observations[src + j]!;
          nextOut[dst + j] = nextObservations[src + j]!;
        }
        if (adim === 1) {
          actOut[k] = actions[i]!;
        } else {
          for (let j = 0; j < adim; j++) actOut[k * adim + j] = actions[i * adim + j]!;
        }
        rewOut[k] = rewards[i]!;
        termOut[k] = terminals[i]!;
        truncOut[k] = truncations[i]!;
        if (behaviorProb && probOut) probOut[k] = behaviorProb[i]!;
      }
      return b;
    },
  };
}
