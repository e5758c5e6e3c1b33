/**
 * autoscaling: one service's replica count over a day, in 5-minute decisions (288 steps, truncated at the day's end).
 * Load: a daily curve (trough at 04:00, peak at 16:00, a per-day scale in [0.7, 1.3] x 1000 req/s) times bursts
 * (Poisson, ~3 a day, +50..200% decaying over ~30 min) with 5% measurement noise. Each replica serves 100 req/s;
 * p95 latency = 40 ms / max(1 - utilisation, 0.04), capped at 1 s; the SLO is p95 <= 250 ms.
 * Observation: request rate now and one step ago, ready and starting replicas, utilisation, p95 latency, time of day
 * (sin, cos). Actions: 0 scale down by 1 (cancels a starting replica first), 1 hold, 2 scale up by 2; new replicas
 * serve only after a 10-minute start-up (2 steps). The "autoscaling-target" variant takes instead one continuous
 * action, the target replica count in [1, 40] (rounded); reaching it starts or stops replicas in one go. Reward = -0.02 per billed replica (ready + starting) - 1 per step
 * in breach of the SLO. Hard because capacity must be bought before the load arrives (start-up delay), bursts are
 * unpredictable, and the cost of idling is small per step but large per day.
 */
import { continuousAction, discreteAction, type Action, type Env, type StepResult } from "./env.js";
import { type Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const STEP_MINUTES = 5;
const STEPS_PER_DAY = (24 * 60) / STEP_MINUTES;
const REPLICA_CAPACITY = 100;
const STARTUP_STEPS = 2;
const MIN_REPLICAS = 1;
const MAX_REPLICAS = 40;
const BASE_LATENCY_MS = 40;
const SLO_P95_MS = 250;
const COST_PER_REPLICA = 0.02;
const BREACH_PENALTY = 1;
const SCALE_DELTAS = [-1, 0, 2];

/** p95 latency (ms) of a replica pool at a given utilisation: an M/M/1-style 1 / (1 - u) blow-up, capped. */
export function latencyP95(utilisation: number): number {
  return Math.min(BASE_LATENCY_MS / Math.max(1 - utilisation, 0.04), 1000);
}

export interface AutoscalingOptions {
  maxEpisodeSteps?: number;
  /** "scale": discrete down / hold / up (default). "target": a continuous target replica count. */
  actions?: "scale" | "target";
}

export class Autoscaling implements Env {
  readonly name: string;
  readonly observationSpace = {
    dim: 8,
    names: ["request_rate", "request_rate_prev", "replicas_ready", "replicas_starting", "utilisation", "latency_p95_ms", "hour_sin", "hour_cos"],
    low: [0, 0, 0, 0, 0, 0, -1, -1],
    high: [Infinity, Infinity, MAX_REPLICAS, MAX_REPLICAS, Infinity, 1000, 1, 1],
  };
  readonly actionSpace: { kind: "discrete"; n: number } | { kind: "continuous"; low: number[]; high: number[] };
  readonly rewardRange = { min: -(COST_PER_REPLICA * MAX_REPLICAS + BREACH_PENALTY), max: -COST_PER_REPLICA * MIN_REPLICAS };
  readonly infoFields: readonly string[] = ["hour", "cost", "slo_breach", "replicas", "latency_ms", "requests"];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  /** The day's noiseless request-rate trace, one entry per step. */
  private readonly trace = new Float64Array(STEPS_PER_DAY);
  /** starting[k]: replicas that become ready after k more steps. */
  private readonly starting = new Int32Array(STARTUP_STEPS);
  private ready = 0;
  private rate = 0;
  private ratePrev = 0;
  private utilisation = 0;
  private latency = 0;
  private t = 0;

  private readonly targetMode: boolean;

  constructor(options: AutoscalingOptions = {}) {
    this.maxEpisodeSteps = Math.min(options.maxEpisodeSteps ?? STEPS_PER_DAY, STEPS_PER_DAY);
    this.targetMode = options.actions === "target";
    this.name = this.targetMode ? "autoscaling-target" : "autoscaling";
    this.actionSpace = this.targetMode ? { kind: "continuous", low: [MIN_REPLICAS], high: [MAX_REPLICAS] } : { kind: "discrete", n: 3 };
  }

  reset(seed: number): Float32Array {
    const rng = this.rng;
    rng.seed(seed);
    const dayScale = rng.uniformRange(0.7, 1.3);
    const bursts = rng.poisson(3);
    const burstStart: number[] = [];
    const burstSize: number[] = [];
    for (let b = 0; b < bursts; b++) {
      burstStart.push(rng.int(STEPS_PER_DAY));
      burstSize.push(rng.uniformRange(0.5, 2.0));
    }
    for (let t = 0; t < STEPS_PER_DAY; t++) {
      const hour = (t * STEP_MINUTES) / 60;
      const wave = (1 - Math.cos((2 * Math.PI * (hour - 4)) / 24)) / 2;
      let multiplier = 1;
      for (let b = 0; b < bursts; b++) {
        const since = t - burstStart[b]!;
        if (since >= 0) multiplier += burstSize[b]! * Math.exp(-since / 6);
      }
      this.trace[t] = 1000 * dayScale * (0.3 + 0.7 * wave * wave) * multiplier;
    }
    this.t = 0;
    this.rate = this.observedRate(0);
    this.ratePrev = this.rate;
    this.ready = Math.min(MAX_REPLICAS, Math.max(MIN_REPLICAS, Math.ceil(this.rate / (REPLICA_CAPACITY * 0.7))));
    this.starting.fill(0);
    this.utilisation = this.rate / (this.ready * REPLICA_CAPACITY);
    this.latency = latencyP95(this.utilisation);
    return this.observe();
  }

  step(action: Action): StepResult {
    // Start-ups already under way progress by one step; those done join the pool before this step's load.
    this.ready += this.starting[0]!;
    for (let k = 0; k < STARTUP_STEPS - 1; k++) this.starting[k] = this.starting[k + 1]!;
    this.starting[STARTUP_STEPS - 1] = 0;
    let total = this.ready + this.startingTotal();
    let delta: number;
    if (this.targetMode) {
      const target = Math.round(Math.min(Math.max(continuousAction(action, 0, this.name), MIN_REPLICAS), MAX_REPLICAS));
      delta = target - total;
    } else {
      delta = SCALE_DELTAS[discreteAction(action, 3, this.name)]!;
    }
    // Scaling down cancels the most recently requested start-ups first, then stops ready replicas.
    for (let removed = 0; delta < 0 && removed < -delta && total - removed > MIN_REPLICAS; removed++) {
      let cancelled = false;
      for (let k = STARTUP_STEPS - 1; k >= 0 && !cancelled; k--) {
        if (this.starting[k]! > 0) {
          this.starting[k]!--;
          cancelled = true;
        }
      }
      if (!cancelled) this.ready--;
    }
    // Requested now, serving from the step STARTUP_STEPS later.
    if (delta > 0) this.starting[STARTUP_STEPS - 1]! += Math.min(delta, MAX_REPLICAS - total);
    total = this.ready + this.startingTotal();

    this.t++;
    this.ratePrev = this.rate;
    this.rate = this.observedRate(Math.min(this.t, STEPS_PER_DAY - 1));
    this.utilisation = this.ready > 0 ? this.rate / (this.ready * REPLICA_CAPACITY) : Infinity;
    this.latency = latencyP95(this.utilisation);
    const breach = this.latency > SLO_P95_MS ? 1 : 0;
    const cost = COST_PER_REPLICA * total;
    const info = {
      hour: ((this.t - 1) * STEP_MINUTES) / 60,
      cost,
      slo_breach: breach,
      replicas: total,
      latency_ms: this.latency,
      requests: this.rate,
    };
    return { observation: this.observe(), reward: -cost - BREACH_PENALTY * breach, terminated: false, truncated: this.t >= this.maxEpisodeSteps, info };
  }

  episodeFigures(sums: Readonly<Record<string, number>>, steps: number): Record<string, number> {
    return {
      cost_per_day: sums.cost ?? 0,
      slo_breach_rate: steps > 0 ? (sums.slo_breach ?? 0) / steps : 0,
      mean_replicas: steps > 0 ? (sums.replicas ?? 0) / steps : 0,
      mean_latency_ms: steps > 0 ? (sums.latency_ms ?? 0) / steps : 0,
    };
  }

  private startingTotal(): number {
    let sum = 0;
    for (let k = 0; k < STARTUP_STEPS; k++) sum += this.starting[k]!;
    return sum;
  }

  private observedRate(t: number): number {
    return Math.max(0, this.trace[t]! * (1 + 0.05 * this.rng.normal()));
  }

  private observe(): Float32Array {
    const obs = new Float32Array(8);
    const angle = (2 * Math.PI * (this.t % STEPS_PER_DAY)) / STEPS_PER_DAY;
    obs[0] = this.rate;
    obs[1] = this.ratePrev;
    obs[2] = this.ready;
    obs[3] = this.startingTotal();
    obs[4] = this.utilisation;
    obs[5] = this.latency;
    obs[6] = Math.sin(angle);
    obs[7] = Math.cos(angle);
    return obs;
  }
}

/**
 * Target tracking, as a rule-based autoscaler would do it: extrapolate the load one step by its last change, size
 * the pool for 65% utilisation, scale up when short, scale down only when more than one replica over (hysteresis).
 */
export const autoscalingController: Controller = {
  name: "heuristic",
  act(obs) {
    return autoscalingPreferred(autoscalingGap(obs));
  },
  scores(obs, out) {
    // Distance from the preferred action, steeper the further the pool is from its target size.
    const gap = autoscalingGap(obs);
    const preferred = autoscalingPreferred(gap);
    const urgency = 1 + Math.min(Math.abs(gap), 6) / 2;
    for (let a = 0; a < out.length; a++) out[a] = -Math.abs(a - preferred) * urgency;
  },
};

/** The same target tracking for the "autoscaling-target" variant: ask for the wanted replica count directly. */
export const autoscalingTargetController: Controller = {
  name: "heuristic",
  act(obs) {
    const out = new Float32Array(1);
    out[0] = autoscalingGap(obs) + obs[2]! + obs[3]!;
    return out;
  },
};

function autoscalingPreferred(gap: number): number {
  return gap > 0 ? 2 : gap < -1 ? 0 : 1;
}

/** Replicas wanted minus replicas billed. */
function autoscalingGap(obs: Float32Array): number {
  const rate = obs[0]!, ratePrev = obs[1]!;
  const predicted = rate + Math.max(0, rate - ratePrev);
  const wanted = Math.min(MAX_REPLICAS, Math.max(MIN_REPLICAS, Math.ceil(predicted / (REPLICA_CAPACITY * 0.65))));
  return wanted - (obs[2]! + obs[3]!);
}
