// Seconds per 1,000 gradient steps for each algorithm at the default sizes (256x256 ReLU networks, batch 256,
// both cores: 2 ONNX Runtime threads that spin-wait, as `hindcast train` runs by default), measured through the
// trainer's own path (seeded sampling, gather, one compiled step).
// Targets: 3x faster than d3rlpy 2.0.4 / PyTorch 1.13 on one CPU thread (issue 5). Then peak RSS while training on
// a 1M-transition dataset. Usage: npx tsx bench/algos.ts [--only a,b] [--k K] [--threads T] [--no-spin-wait] [--skip-rss]
// [--windows W] (W timed windows of 1,000 steps, 40 for CQL, each; the median is the figure, default 3).
// (--threads 1 --no-spin-wait: one core, the setting to compare CPU time with; two threads help only on an idle machine.)
import type { ActionSpace, Transitions } from "../src/data/transitions.js";
import { Rng } from "../src/nn/index.js";
import { algorithmDefinition, algorithmNames } from "../src/algos/registry.js";
import { resolveConfig } from "../src/algos/config.js";
import { allocateBatch, fitPreprocessing, gatherBatch, prepareTrainingView } from "../src/algos/preprocessing.js";
import { stepSeed } from "../src/algos/trainer.js";
import { assemble } from "../src/algos/toy-data.js";
import { loadNote } from "./load.js";

/** d3rlpy 2.0.4 seconds per 1,000 steps (issue 5) and the 3x target derived from it. */
const REFERENCE: Record<string, number> = { discrete_bc: 2.5, discrete_cql: 5.0, td3bc: 5.6, iql: 8.3, cql: 115 };

const args = process.argv.slice(2);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1]!.split(",") : algorithmNames();
const skipRss = args.includes("--skip-rss");
const stepsPerCall = args.includes("--k") ? Number(args[args.indexOf("--k") + 1]) : 10;
const threads = args.includes("--threads") ? Number(args[args.indexOf("--threads") + 1]) : 2;
const spinWait = threads > 1 && !args.includes("--no-spin-wait");
/** Timed windows per algorithm (after one warm-up): the figure is their median, the range is printed beside it. */
const windows = args.includes("--windows") ? Number(args[args.indexOf("--windows") + 1]) : 3;

function syntheticDataset(size: number, observationDim: number, actionSpace: ActionSpace, seed: number): Transitions {
  const rng = new Rng(seed);
  const observations = rng.fillNormal(new Float32Array(size * observationDim)) as Float32Array;
  const nextObservations = rng.fillNormal(new Float32Array(size * observationDim)) as Float32Array;
  const actionDim = actionSpace.kind === "discrete" ? 1 : actionSpace.low.length;
  const actions =
    actionSpace.kind === "discrete"
      ? Int32Array.from({ length: size }, () => rng.int(actionSpace.n))
      : (rng.fillUniform(new Float32Array(size * actionDim), -1, 1) as Float32Array);
  const rewards = rng.fillNormal(new Float32Array(size)) as Float32Array;
  const terminals = Uint8Array.from({ length: size }, () => (rng.uniform() < 0.01 ? 1 : 0));
  return assemble(observationDim, actionSpace, observations, nextObservations, actions, rewards, terminals, 1000);
}

const discreteData = syntheticDataset(100_000, 8, { kind: "discrete", n: 4 }, 1);
const continuousData = syntheticDataset(100_000, 17, { kind: "continuous", low: Array(6).fill(-1), high: Array(6).fill(1) }, 2);

/**
 * Runs `warmup` updates, then `windows` timed windows of `steps` updates each; returns seconds per 1,000 steps of each
 * window (wall and process CPU).
 */
async function secondsPer1000(name: string, data: Transitions, warmup: number, steps: number, stepsPerCall: number, windows = 1): Promise<Array<{ wall: number; cpu: number }>> {
  const definition = algorithmDefinition(name);
  const config = resolveConfig(definition.schema, {});
  const learner = await definition.build(config, { observationDim: data.observationDim, actionSpace: data.actionSpace, seed: 0, backend: "ort", threads, spinWait, stepsPerCall, totalSteps: warmup + steps * windows });
  const view = prepareTrainingView(data, fitPreprocessing(data, config));
  const B = config.batchSize;
  const batch = allocateBatch(view, B * stepsPerCall);
  const indices = new Int32Array(B * stepsPerCall);
  const rngs: Rng[] = new Array(stepsPerCall);
  const results: Array<{ wall: number; cpu: number }> = [];
  let started = 0;
  let cpuStart = process.cpuUsage();
  const last = warmup + steps * windows;
  for (let first = 1; first <= last + 1; first += stepsPerCall) {
    if (first > warmup && (first - warmup - 1) % steps === 0) {
      if (first > warmup + 1) {
        const cpu = process.cpuUsage(cpuStart);
        results.push({ wall: (performance.now() - started) / steps, cpu: (cpu.user + cpu.system) / 1000 / steps });
      }
      started = performance.now();
      cpuStart = process.cpuUsage();
    }
    if (first > last) break;
    for (let k = 0; k < stepsPerCall; k++) {
      rngs[k] = new Rng(stepSeed(0, first + k));
      rngs[k]!.fillInts(view.size, indices.subarray(k * B, (k + 1) * B));
    }
    gatherBatch(view, indices, batch);
    await learner.update(batch, rngs, first);
  }
  return results;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`seconds per 1,000 gradient steps, default sizes (256x256, batch 256), ${threads} ORT thread(s)${spinWait ? " spin-waiting" : ""}, ${stepsPerCall} steps per call; ${loadNote()}`);
console.log(`discrete: 8 features, 4 actions; continuous: 17 features, 6 action dims; cpu = process CPU seconds${spinWait ? " (spinning threads count: not a work measure)" : " (less sensitive to load)"}`);
for (const name of only) {
  const definition = algorithmDefinition(name);
  const data = definition.actionKind === "discrete" ? discreteData : continuousData;
  const heavy = name === "cql";
  const runs = await secondsPer1000(name, data, heavy ? 10 : 50, heavy ? 40 : 1000, stepsPerCall, windows);
  const wall = median(runs.map((r) => r.wall));
  const cpu = median(runs.map((r) => r.cpu));
  const walls = runs.map((r) => r.wall).sort((a, b) => a - b);
  const spread = windows > 1 ? ` (${walls[0]!.toFixed(2)}-${walls[walls.length - 1]!.toFixed(2)})` : "";
  const reference = REFERENCE[name];
  const verdict =
    reference === undefined
      ? "(no d3rlpy reference)"
      : `target < ${(reference / 3).toFixed(2)} s (d3rlpy ${reference} s): wall ${wall < reference / 3 ? "PASS" : "MISS"}` +
        (spinWait ? "" : `, cpu ${cpu < reference / 3 ? "PASS" : "MISS"}`);
  console.log(`${name.padEnd(14)} wall ${wall.toFixed(2).padStart(7)} s${spread.padEnd(12)}  cpu ${cpu.toFixed(2).padStart(7)} s  ${verdict}`);
}

if (!skipRss) {
  const big = syntheticDataset(1_000_000, 17, { kind: "continuous", low: Array(6).fill(-1), high: Array(6).fill(1) }, 3);
  const [{ wall }] = await secondsPer1000("iql", big, 10, 50, stepsPerCall);
  console.log(
    `1M transitions x 17 features (iql, ${wall.toFixed(2)} s/1k steps): peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (${loadNote()})`,
  );
}
