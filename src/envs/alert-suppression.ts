/**
 * alert-suppression: one on-call shift of 100 alerts; for each, page the on-call engineer or suppress it.
 * Each alert comes from one of six sources with different (hidden) rates of being actionable (2%..80%); the
 * observation shows the source (one-hot), severity 1..4 (/4), a noisy detector signal, how many of the last ten
 * alerts came from the same source (/10), the engineer's fatigue, and the shift's progress.
 * Dynamics: paging raises fatigue (f <- 0.92 f + 0.08 per page; it decays otherwise); a paged actionable alert is
 * fixed with probability 1 - 0.6 f^2. A suppressed or unfixed actionable alert escalates into an outage 3..15
 * alerts later. Reward is sparse and delayed: -10 at the step an outage lands, and at the end of the shift
 * (terminal) -10 per outage still pending plus -0.3 per page that was not actionable (toil); 0 otherwise.
 * Hard because the consequence of a decision arrives many steps later, mixed with other decisions' consequences,
 * and paging everything is not safe either: fatigue makes fixes fail.
 */
import { discreteAction, type Action, type Env, type StepResult } from "./env.js";
import { type Controller } from "./policy.js";
import { Rng } from "../random/index.js";

const SHIFT_ALERTS = 100;
const SOURCES = 6;
const SOURCE_FREQUENCY = [0.3, 0.25, 0.2, 0.12, 0.08, 0.05];
const SOURCE_ACTIONABLE = [0.02, 0.05, 0.1, 0.25, 0.5, 0.8];
const OUTAGE_PENALTY = 10;
const TOIL_PENALTY = 0.3;
const MIN_DELAY = 3;
const MAX_DELAY = 15;
const RECENT_WINDOW = 10;

export class AlertSuppression implements Env {
  readonly name = "alert-suppression";
  readonly observationSpace = {
    dim: SOURCES + 5,
    names: [...Array.from({ length: SOURCES }, (_, i) => `source_${i}`), "severity", "signal", "same_source_recent", "fatigue", "shift_progress"],
    low: [...Array<number>(SOURCES).fill(0), 0.25, -Infinity, 0, 0, 0],
    high: [...Array<number>(SOURCES).fill(1), 1, Infinity, 1, 1, 1],
  };
  readonly actionSpace = { kind: "discrete" as const, n: 2 };
  readonly rewardRange = { min: -(OUTAGE_PENALTY + TOIL_PENALTY) * SHIFT_ALERTS, max: 0 };
  readonly infoFields: readonly string[] = ["paged", "toil_page", "actionable_truth", "outages"];
  readonly maxEpisodeSteps: number;
  private readonly rng = new Rng(0);
  /** outagesDue[k]: outages that land after k more steps (index 0 lands at the step being taken). */
  private readonly outagesDue = new Int32Array(MAX_DELAY + 1);
  private readonly recentSources = new Int32Array(RECENT_WINDOW).fill(-1);
  private source = 0;
  private severity = 1;
  private signal = 0;
  private actionable = false;
  private fatigue = 0;
  private toilPages = 0;
  private t = 0;

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    this.maxEpisodeSteps = Math.min(options.maxEpisodeSteps ?? SHIFT_ALERTS, SHIFT_ALERTS);
  }

  reset(seed: number): Float32Array {
    this.rng.seed(seed);
    this.outagesDue.fill(0);
    this.recentSources.fill(-1);
    this.fatigue = 0;
    this.toilPages = 0;
    this.t = 0;
    this.drawAlert();
    return this.observe();
  }

  step(action: Action): StepResult {
    const page = discreteAction(action, 2, this.name) === 1;
    const rng = this.rng;
    let toilPage = 0;
    if (page) {
      this.fatigue = 0.92 * this.fatigue + 0.08;
      if (!this.actionable) {
        this.toilPages++;
        toilPage = 1;
      }
    } else {
      this.fatigue = 0.92 * this.fatigue;
    }
    const fixed = page && rng.uniform() < 1 - 0.6 * this.fatigue * this.fatigue;
    if (this.actionable && !fixed) this.outagesDue[MIN_DELAY + rng.int(MAX_DELAY - MIN_DELAY + 1)]!++;

    // Outages landing now, then the queue moves one step closer.
    let outages = this.outagesDue[0]!;
    for (let k = 0; k < MAX_DELAY; k++) this.outagesDue[k] = this.outagesDue[k + 1]!;
    this.outagesDue[MAX_DELAY] = 0;
    const actionableTruth = this.actionable ? 1 : 0;
    this.recentSources[this.t % RECENT_WINDOW] = this.source;
    this.t++;
    const terminated = this.t >= SHIFT_ALERTS;
    let reward = 0 - OUTAGE_PENALTY * outages; // "0 -" keeps a quiet step at +0, not -0, in written files
    if (terminated) {
      // The shift closes: every outage still in flight lands, and the toil of the shift is billed.
      let pending = 0;
      for (let k = 0; k <= MAX_DELAY; k++) pending += this.outagesDue[k]!;
      this.outagesDue.fill(0);
      outages += pending;
      reward = 0 - OUTAGE_PENALTY * outages - TOIL_PENALTY * this.toilPages;
    }
    this.drawAlert();
    const info = { paged: page ? 1 : 0, toil_page: toilPage, actionable_truth: actionableTruth, outages };
    return { observation: this.observe(), reward, terminated, truncated: !terminated && this.t >= this.maxEpisodeSteps, info };
  }

  episodeFigures(sums: Readonly<Record<string, number>>): Record<string, number> {
    const pages = sums.paged ?? 0;
    return {
      outages: sums.outages ?? 0,
      pages,
      toil_pages: sums.toil_page ?? 0,
      page_precision: pages > 0 ? (pages - (sums.toil_page ?? 0)) / pages : 0,
    };
  }

  private drawAlert(): void {
    const rng = this.rng;
    this.source = rng.categorical(SOURCE_FREQUENCY);
    this.actionable = rng.uniform() < SOURCE_ACTIONABLE[this.source]!;
    const severity = Math.round(1.5 + (this.actionable ? 1.3 : 0) + 0.8 * rng.normal());
    this.severity = Math.min(4, Math.max(1, severity));
    this.signal = (this.actionable ? 1 : -0.5) + rng.normal();
  }

  private observe(): Float32Array {
    const obs = new Float32Array(SOURCES + 5);
    obs[this.source] = 1;
    let same = 0;
    for (let i = 0; i < RECENT_WINDOW; i++) if (this.recentSources[i] === this.source) same++;
    obs[SOURCES] = this.severity / 4;
    obs[SOURCES + 1] = this.signal;
    obs[SOURCES + 2] = same / RECENT_WINDOW;
    obs[SOURCES + 3] = this.fatigue;
    obs[SOURCES + 4] = this.t / SHIFT_ALERTS;
    return obs;
  }
}

/**
 * A hand-tuned triage rule: score = signal + severity + what the team knows of each source's track record,
 * minus a little for repeats from the same source; page above a threshold. Scores: [0, score - threshold].
 */
export const alertSuppressionController: Controller = {
  name: "heuristic",
  act(obs) {
    return alertScore(obs) > 0 ? 1 : 0;
  },
  scores(obs, out) {
    out[0] = 0;
    out[1] = alertScore(obs);
  },
};

const SOURCE_TRACK_RECORD = [-1.5, -1.0, -0.5, 0.3, 1.0, 2.0];

function alertScore(obs: Float32Array): number {
  let source = 0;
  for (let i = 0; i < SOURCES; i++) if (obs[i]! > 0.5) source = i;
  const severity = obs[SOURCES]! * 4;
  return obs[SOURCES + 1]! + 0.8 * (severity - 2.5) + SOURCE_TRACK_RECORD[source]! - 0.5 * obs[SOURCES + 2]! - 0.2;
}
