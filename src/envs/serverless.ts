/**
 * serverless-prewarm: how many warm instances to keep for a function, in 1-minute decisions over a 4-hour window
 * that starts at a random hour (240 steps, truncated). Each episode is one function of one of three kinds, each
 * with its own arrival pattern (Poisson per minute, scale drawn per episode):
 *   api      a daily curve (0.5..3 per minute), rare bursts;
 *   batch    a low daily curve plus a scheduled batch every quarter hour (minutes 0, 15, 30, 45; 4..10 extra);
 *   webhook  a low base rate and frequent unannounced bursts (+3..8 per minute for 5..15 minutes).
 * Observation: invocations and cold starts last minute, a 10-minute moving average, warm and provisioning instances,
 * minute of the hour / 60, time of day (sin, cos), the function kind (one-hot). Actions: keep a warm pool of 0, 1, 2, 3, 4, 6, 8, 12 or 16
 * instances; shrinking is immediate, growing takes one minute (new instances serve from the next step).
 * Each invocation beyond the warm pool is a cold start. Reward = -1 per cold start - 0.15 per billed instance
 * (warm or provisioning) left idle. Hard because the pool must be grown a minute before the demand it serves,
 * the quarter-hour batches are only visible through the clock, bursts are not announced, and the right policy
 * differs by function kind.
 */
import { discreteAction, type Action, type Env, type StepResult } from "./env.js";
import { type Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const EPISODE_MINUTES = 240;
const POOL_LEVELS = [0, 1, 2, 3, 4, 6, 8, 12, 16];
const MAX_POOL = POOL_LEVELS[POOL_LEVELS.length - 1]!;
const MAX_INVOCATIONS = 60;
const COLD_START_PENALTY = 1;
const IDLE_COST = 0.15;
const BATCH_PERIOD = 15;
const FUNCTION_KINDS = ["api", "batch", "webhook"] as const;

export class ServerlessPrewarm implements Env {
  readonly name = "serverless-prewarm";
  readonly observationSpace = {
    dim: 8 + FUNCTION_KINDS.length,
    names: [
      "invocations",
      "cold_starts",
      "invocations_avg10",
      "warm_instances",
      "provisioning_instances",
      "minute_of_hour",
      "hour_sin",
      "hour_cos",
      ...FUNCTION_KINDS.map((kind) => `function_${kind}`),
    ],
    low: [0, 0, 0, 0, 0, 0, -1, -1, ...FUNCTION_KINDS.map(() => 0)],
    high: [MAX_INVOCATIONS, MAX_INVOCATIONS, MAX_INVOCATIONS, MAX_POOL, MAX_POOL, 1, 1, 1, ...FUNCTION_KINDS.map(() => 1)],
  };
  readonly actionSpace = { kind: "discrete" as const, n: POOL_LEVELS.length };
  readonly rewardRange = { min: -(COLD_START_PENALTY * MAX_INVOCATIONS + IDLE_COST * MAX_POOL), max: 0 };
  readonly infoFields: readonly string[] = ["minute", "invocation_count", "cold_start_count", "idle_instances", "pool"];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  /** Expected invocations per minute over the episode. */
  private readonly meanRate = new Float64Array(EPISODE_MINUTES + 1);
  private readonly recent = new Float64Array(10);
  private startMinute = 0;
  private functionKind = 0;
  private warm = 0;
  private provisioning = 0;
  private invocations = 0;
  private coldStarts = 0;
  private t = 0;

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    this.maxEpisodeSteps = Math.min(options.maxEpisodeSteps ?? EPISODE_MINUTES, EPISODE_MINUTES);
  }

  reset(seed: number): Float32Array {
    const rng = this.rng;
    rng.seed(seed);
    this.startMinute = rng.int(24) * 60;
    this.functionKind = rng.int(FUNCTION_KINDS.length);
    const kind = FUNCTION_KINDS[this.functionKind]!;
    const scale = rng.uniformRange(0.6, 1.4);
    const batchSize = kind === "batch" ? rng.uniformRange(4, 10) : 0;
    const bursts = rng.poisson(kind === "webhook" ? 5 : kind === "api" ? 1 : 0.5);
    const rate = this.meanRate;
    for (let t = 0; t <= EPISODE_MINUTES; t++) {
      const minute = this.startMinute + t;
      const hour = (minute / 60) % 24;
      const wave = (1 - Math.cos((2 * Math.PI * (hour - 5)) / 24)) / 2;
      const base = kind === "api" ? 0.5 + 2.5 * wave : kind === "batch" ? 0.2 + 0.6 * wave : 0.3 + 0.4 * wave;
      rate[t] = scale * base + (minute % BATCH_PERIOD === 0 ? batchSize : 0);
    }
    for (let b = 0; b < bursts; b++) {
      const start = rng.int(EPISODE_MINUTES);
      const length = 5 + rng.int(11);
      const extra = rng.uniformRange(3, 8);
      for (let t = start; t < Math.min(start + length, EPISODE_MINUTES + 1); t++) rate[t]! += extra;
    }
    this.t = 0;
    this.warm = 0;
    this.provisioning = 0;
    this.invocations = 0;
    this.coldStarts = 0;
    this.recent.fill(0);
    return this.observe();
  }

  step(action: Action): StepResult {
    const target = POOL_LEVELS[discreteAction(action, POOL_LEVELS.length, this.name)]!;
    // Instances requested a minute ago are warm now; then the new target applies (shrinking first cancels
    // provisioning, growing starts new instances that serve from the next minute).
    this.warm += this.provisioning;
    this.provisioning = 0;
    if (target < this.warm) this.warm = target;
    else this.provisioning = target - this.warm;

    const invocations = Math.min(MAX_INVOCATIONS, this.rng.poisson(this.meanRate[this.t]!));
    const servedWarm = Math.min(invocations, this.warm);
    const coldStarts = invocations - servedWarm;
    const idle = this.warm - servedWarm + this.provisioning;
    const minute = this.startMinute + this.t;
    this.recent[this.t % this.recent.length] = invocations;
    this.invocations = invocations;
    this.coldStarts = coldStarts;
    this.t++;
    const info = { minute: minute % (24 * 60), invocation_count: invocations, cold_start_count: coldStarts, idle_instances: idle, pool: target };
    return {
      observation: this.observe(),
      reward: 0 - COLD_START_PENALTY * coldStarts - IDLE_COST * idle, // "0 -": +0, not -0, when nothing happens
      terminated: false,
      truncated: this.t >= this.maxEpisodeSteps,
      info,
    };
  }

  episodeFigures(sums: Readonly<Record<string, number>>, steps: number): Record<string, number> {
    const invocations = sums.invocation_count ?? 0;
    return {
      cold_start_rate: invocations > 0 ? (sums.cold_start_count ?? 0) / invocations : 0,
      cold_starts: sums.cold_start_count ?? 0,
      idle_instance_minutes: sums.idle_instances ?? 0,
      mean_pool: steps > 0 ? (sums.pool ?? 0) / steps : 0,
    };
  }

  private observe(): Float32Array {
    const obs = new Float32Array(this.observationSpace.dim);
    const minute = this.startMinute + this.t;
    const angle = (2 * Math.PI * (minute % (24 * 60))) / (24 * 60);
    let sum = 0;
    const seen = Math.min(this.t, this.recent.length);
    for (let i = 0; i < seen; i++) sum += this.recent[i]!;
    obs[0] = this.invocations;
    obs[1] = this.coldStarts;
    obs[2] = seen > 0 ? sum / seen : 0;
    obs[3] = this.warm;
    obs[4] = this.provisioning;
    obs[5] = (minute % 60) / 60;
    obs[6] = Math.sin(angle);
    obs[7] = Math.cos(angle);
    obs[8 + this.functionKind] = 1;
    return obs;
  }
}

/**
 * The rule an operator would write: keep the recent average plus one standard deviation (Poisson) warm; for batch
 * functions pre-warm for the quarter-hour batch from the minute before it until it has run; for webhooks follow the
 * last minute closely (bursts persist). Takes the smallest pool level that covers the target.
 */
export const serverlessController: Controller = {
  name: "heuristic",
  act(obs) {
    return serverlessPreferred(obs);
  },
  scores(obs, out) {
    const preferred = serverlessPreferred(obs);
    for (let a = 0; a < out.length; a++) out[a] = -Math.abs(a - preferred);
  },
};

function serverlessPreferred(obs: Float32Array): number {
  const batch = obs[9]! > 0.5, webhook = obs[10]! > 0.5;
  const minute = Math.round(obs[5]! * 60);
  const batchSoon = batch && ((minute + 1) % BATCH_PERIOD === 0 || minute % BATCH_PERIOD === 0);
  // The batch minutes would inflate the moving average; a batch function's steady load is well below it.
  const average = batch ? Math.min(obs[2]!, 1.5) : Math.max(obs[2]!, obs[0]! * (webhook ? 1 : 0.5));
  const target = average + Math.sqrt(average) + (batchSoon ? 8 : 0);
  for (let a = 0; a < POOL_LEVELS.length; a++) if (POOL_LEVELS[a]! >= target) return a;
  return POOL_LEVELS.length - 1;
}
