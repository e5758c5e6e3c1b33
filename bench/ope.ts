/**
 * Off-policy estimator speed on 1,000,000 logged transitions (10,000 episodes of 100 steps, gamma 0.99).
 * Targets (issue 6): each of IS/PDIS/WIS/WPDIS/DR/WDR < 20 ms; all six with 1,000 bootstrap resamples < 2 s;
 * per row no slower than SCOPE-RL's NumPy estimators (7-15 ms on 337,500 rows, i.e. 20.7-44.4 ns/row).
 * Run: npx tsx bench/ope.ts
 */
import { bootstrap } from "../src/ope/intervals.js";
import { Rng } from "../src/random/index.js";
import {
  doublyRobust,
  perDecisionIS,
  trajectoryIS,
  weightedDoublyRobust,
  weightedIS,
  weightedPerDecisionIS,
  type SequentialInput,
} from "../src/ope/sequential.js";
import { importanceRatios } from "../src/ope/weights.js";
import { loadNote } from "./load.js";

const rows = 1_000_000;
const horizon = 100;
const episodes = rows / horizon;
const random = new Rng(1);
const behaviorProb = new Float64Array(rows);
const targetProb = new Float64Array(rows);
const rewards = new Float32Array(rows);
const qHat = new Float64Array(rows);
const vHat = new Float64Array(rows);
for (let i = 0; i < rows; i++) {
  behaviorProb[i] = 0.25 + 0.5 * random.uniform();
  targetProb[i] = Math.min(1, behaviorProb[i] * (0.9 + 0.2 * random.uniform()));
  rewards[i] = random.uniform();
  qHat[i] = rewards[i] + 0.1 * (random.uniform() - 0.5);
  vHat[i] = 0.5;
}
const episodeStarts = Int32Array.from({ length: episodes + 1 }, (_, e) => e * horizon);

function time<T>(run: () => T, repeats = 5): { ms: number; result: T } {
  let best = Infinity;
  let result = run(); // warm-up
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    result = run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms: best, result };
}

const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
const scopeRlNsPerRow = 7e6 / 337_500;

const ratioTiming = time(() => importanceRatios(behaviorProb, targetProb));
const input: SequentialInput = { rewards, episodeStarts, ratios: ratioTiming.result, qHat, vHat };
console.log(`OPE speed, ${rows.toLocaleString("en")} transitions, ${episodes} episodes (best of 5; ${loadNote()})`);
console.log(`importance ratios (shared pass): ${ratioTiming.ms.toFixed(1)} ms`);
console.log("estimator   time ms  target   ns/row  SCOPE-RL ns/row (best)  verdict");
const estimators = { is: trajectoryIS, pdis: perDecisionIS, wis: weightedIS, wpdis: weightedPerDecisionIS, dr: doublyRobust, wdr: weightedDoublyRobust };
for (const [name, estimator] of Object.entries(estimators)) {
  const { ms } = time(() => estimator(input, { gamma: 0.99 }));
  const nsPerRow = (ms * 1e6) / rows;
  console.log(
    `${name.padEnd(10)} ${ms.toFixed(1).padStart(8)}  < 20 ms ${nsPerRow.toFixed(1).padStart(8)}  ${scopeRlNsPerRow.toFixed(1).padStart(22)}  ${verdict(ms < 20 && nsPerRow <= scopeRlNsPerRow)}`,
  );
}

const start = process.hrtime.bigint();
const methods = new Set<string>();
for (const estimator of Object.values(estimators)) {
  const estimate = estimator(input, { gamma: 0.99 });
  const result = bootstrap(estimate, { resamples: 1000, seed: 7 });
  methods.add(result.method.replace(/\(.*\)/, "").trim());
}
const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
console.log(`all six estimators + 1,000 bootstrap resamples each: ${totalMs.toFixed(0)} ms (target < 2000 ms) ${verdict(totalMs < 2000)}`);
console.log(`bootstrap methods used: ${[...methods].join("; ")}`);
console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
