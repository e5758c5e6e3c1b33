// The public library API. Each module exports what users may build on; nothing else lives here.
export type { Transitions, ActionSpace } from "./data/transitions.js";
export { episodeCount, actionDim } from "./data/transitions.js";
export type { PolicyManifest } from "./policy/manifest.js";
