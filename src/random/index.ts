// The seeded random-number module's public API (see README.md). A leaf: it imports nothing else of ours.
export { Rng, deriveSeed, streamSeed, type RngState } from "./rng.js";
export { RandomError, type RandomErrorCode } from "./errors.js";
