import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { ActionSpace } from "../data/transitions.js";
import type { DeploymentSpec, RoutingTable } from "./config.js";
import { serializeDecisionRecord, type DecisionLog, type DecisionRecord, type FeedbackRecord } from "./decision-log.js";
import { ServeError } from "./errors.js";
import { argmax, boxProbability, continuousStd, discreteDistribution, float32Decimal, gaussianLogDensity, sampleDiscrete, sampleGaussian } from "./exploration.js";
import { CanaryGuard, type Arm, type GuardBreach } from "./guard.js";
import type { ServeMetrics } from "./metrics.js";
import { constantPolicy, incompatibility, type DecisionPolicy, type PolicyLoader, type PolicyOutput } from "./policy.js";
import { Rng } from "../random/index.js";
import { stableUnit } from "./routing-hash.js";
import { compileOodGuard, compileSafety, type CompiledSafety, type OodGuard } from "./safety.js";

/**
 * The decision engine: everything between a parsed request and a logged decision, without HTTP.
 * It holds the compiled deployments (policies loaded, rules compiled), applies routing tables atomically per
 * deployment (a table whose artifacts fail to load is refused and the old deployment keeps serving), and keeps
 * a bounded memory of recent decisions so feedback can be joined for the canary guard and shadow estimates.
 */
export type Route = DecisionRecord["route"];

export interface DecideInput {
  deployment: string;
  routingKey: string;
  /** Named features or a vector in the deployment's feature order. */
  state: Record<string, number | null> | number[];
  /**
   * For a vector `state`: its JSON text as the client wrote it, when that is numbers and commas only (see
   * `numberArrayText`); logged as is instead of formatting each number again. It must be the text `state` was
   * parsed from.
   */
  stateText?: string;
  episodeId?: string;
  step?: number;
}

export interface Decision {
  decisionId: string;
  action: number | number[];
  probability: number;
  logDensity?: number;
  policyVersion: string;
  route: Route;
  fallbackReason?: string;
  safety: string[];
}

export interface DecideResult {
  decision: Decision;
  /** Resolves when the decision's log record is on disk; answer only after it. */
  durable: Promise<void>;
  latencyUs: number;
}

export interface FeedbackInput {
  decisionId: string;
  reward: number;
  outcome?: unknown;
}

export interface FeedbackResult {
  decisionId: string;
  late: boolean;
  duplicate: boolean;
  durable: Promise<void>;
}

export interface TrafficCounts {
  decisions: number;
  safetyViolations: number;
  guardFailures: number;
}

export interface ReloadReport {
  revision: number;
  applied: string[];
  removed: string[];
  refused: Array<{ deployment: string; reason: string }>;
  /** Shadows left out because their artifact could not be loaded or does not fit; the deployment still applied. */
  skipped: Array<{ deployment: string; policy: string; reason: string }>;
}

export interface AlertEvent {
  kind: "canary_rollback" | "reload_refused" | "shadow_skipped" | "rollback_record_failed";
  deployment: string;
  at: string;
  reason: string;
  details?: Record<string, unknown>;
}

interface Fallback {
  version: string;
  policy: DecisionPolicy;
}

interface ShadowStats {
  version: string;
  decisions: number;
  agreements: number;
  rewarded: number;
  /** Sum of reward * pi_shadow(a) / propensity, the inverse-propensity estimate of the shadow's value. */
  weightedReward: number;
}

interface CompiledDeployment {
  name: string;
  spec: DeploymentSpec;
  space: ActionSpace;
  featureNames: string[];
  featureIndex: Map<string, number>;
  /** NaN where no default is declared. */
  defaults: Float64Array;
  production: DecisionPolicy;
  canary: { policy: DecisionPolicy; fraction: number } | null;
  shadows: DecisionPolicy[];
  shadowStats: ShadowStats[];
  ood: Map<DecisionPolicy, OodGuard | null>;
  safety: CompiledSafety;
  fallback: Fallback;
  guard: CanaryGuard | null;
  /** Observed mean reward of production decisions with feedback (the baseline for shadow estimates). */
  productionReward: { count: number; sum: number };
  refs: string[];
}

interface RememberedDecision {
  id: string;
  deployment: CompiledDeployment;
  arm: Arm | null;
  /** The request's routing key: the canary guard clusters correlated observations by it. */
  routingKey: string;
  ts: number;
  feedback: boolean;
  /** Shadow probabilities of the served action, aligned with deployment.shadows at decision time. */
  shadowProbabilities: Float64Array | null;
  probability: number;
}

const DECISION_ID = /^([0-9a-z]{1,11})-([0-9a-z]{1,8})-([0-9a-z]{1,11})$/;

export interface EngineOptions {
  loader: PolicyLoader;
  log: DecisionLog;
  metrics: ServeMetrics;
  seed?: number;
  /** Recent decisions remembered for feedback joins. */
  decisionMemory?: number;
  /** Feedback later than this after its decision is logged as late and not used by the guard. */
  feedbackWindowMs?: number;
}

export class DecisionEngine extends EventEmitter {
  private readonly loader: PolicyLoader;
  private readonly log: DecisionLog;
  private readonly metrics: ServeMetrics;
  private readonly random: Rng;
  private readonly decisionMemory: number;
  private readonly feedbackWindowMs: number;
  private readonly nonce: string;
  private counter = 0;
  private readonly policyCache = new Map<string, DecisionPolicy>();
  private readonly deployments = new Map<string, CompiledDeployment>();
  /**
   * Recent decisions for feedback joins, in a ring indexed by the id's counter (no hashing, no deletes): a slot
   * holds the newest decision with that counter modulo the memory size, and a lookup checks the full id.
   */
  private readonly recent: Array<RememberedDecision | undefined>;
  /** Deployments in the routing table whose artifacts never loaded: known, but nothing can decide for them. */
  private readonly unavailable = new Map<string, string>();
  /** Per-policy-version traffic since the last `takeTraffic()`, for the registry's promotion gates. */
  private traffic = new Map<string, TrafficCounts>();
  killSwitch = false;
  revision = -1;

  constructor(options: EngineOptions) {
    super();
    this.loader = options.loader;
    this.log = options.log;
    this.metrics = options.metrics;
    this.random = new Rng(options.seed ?? 1);
    this.decisionMemory = Math.max(1, options.decisionMemory ?? 250_000);
    this.recent = new Array(this.decisionMemory);
    this.feedbackWindowMs = options.feedbackWindowMs ?? 24 * 3600 * 1000;
    // Random per process: replicas (often all pid 1 in containers) must not mint the same ids.
    this.nonce = randomBytes(5).readUIntBE(0, 5).toString(36);
  }

  /** Applies a routing table: per deployment, all artifacts load and fit together, or the old one stays. */
  async apply(table: RoutingTable): Promise<ReloadReport> {
    const report: ReloadReport = { revision: table.revision, applied: [], removed: [], refused: [], skipped: [] };
    const used = new Set<string>();
    for (const [name, spec] of Object.entries(table.deployments)) {
      const old = this.deployments.get(name);
      if (old && JSON.stringify(old.spec) === JSON.stringify(spec)) {
        // Unchanged: keep the compiled deployment with its rate-limit memory, guard and shadow statistics.
        for (const ref of old.refs) used.add(ref);
        continue;
      }
      try {
        const compiled = await this.compile(name, spec, old, report.skipped);
        for (const ref of compiled.refs) used.add(ref);
        this.deployments.set(name, compiled);
        this.unavailable.delete(name);
        report.applied.push(name);
        this.metrics.reloads.labels("applied").inc();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (old) for (const ref of old.refs) used.add(ref);
        else this.unavailable.set(name, reason);
        report.refused.push({ deployment: name, reason });
        this.metrics.reloads.labels("refused").inc();
        this.alert({ kind: "reload_refused", deployment: name, at: new Date().toISOString(), reason });
      }
    }
    for (const name of [...this.unavailable.keys()]) if (!(name in table.deployments)) this.unavailable.delete(name);
    for (const name of [...this.deployments.keys()]) {
      if (!(name in table.deployments)) {
        this.deployments.delete(name);
        report.removed.push(name);
      }
    }
    for (const [ref, policy] of this.policyCache) {
      if (!used.has(ref)) {
        this.policyCache.delete(ref);
        void Promise.resolve(policy.dispose?.()).catch(() => undefined);
      }
    }
    for (const entry of report.skipped) {
      this.metrics.reloads.labels("shadow_skipped").inc();
      this.alert({ kind: "shadow_skipped", deployment: entry.deployment, at: new Date().toISOString(), reason: entry.reason, details: { policy: entry.policy } });
    }
    this.killSwitch = table.killSwitch;
    this.metrics.killSwitch.set(table.killSwitch ? 1 : 0);
    this.revision = table.revision;
    return report;
  }

  private async load(ref: string): Promise<DecisionPolicy> {
    const cached = this.policyCache.get(ref);
    if (cached) return cached;
    let policy: DecisionPolicy;
    try {
      policy = await this.loader(ref);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ServeError("artifact_refused", `policy "${ref}" refused: ${reason}`, { policy: ref });
    }
    this.policyCache.set(ref, policy);
    return policy;
  }

  /** Loads and checks every artifact a spec needs without applying it (the admin deploy pre-check). */
  async validate(name: string, spec: DeploymentSpec): Promise<void> {
    const skipped: ReloadReport["skipped"] = [];
    await this.compile(name, spec, undefined, skipped);
    if (skipped.length > 0) throw new ServeError("artifact_refused", skipped[0].reason, { policy: skipped[0].policy });
  }

  private async compile(
    name: string,
    spec: DeploymentSpec,
    old: CompiledDeployment | undefined,
    skipped?: ReloadReport["skipped"],
  ): Promise<CompiledDeployment> {
    const production = await this.load(spec.production.policy);
    const canary = spec.canary ? await this.load(spec.canary.policy) : null;
    if (canary) {
      const reason = incompatibility(production, canary);
      if (reason) throw new ServeError("artifact_refused", `canary ${canary.version} is incompatible with production: ${reason}`);
    }
    // Shadows never act, so one that cannot load is left out (and reported) rather than blocking the deployment:
    // otherwise a broken shadow would also block a rollback from taking effect.
    const shadows: DecisionPolicy[] = [];
    const shadowRefs: string[] = [];
    for (const { policy: ref } of spec.shadows) {
      try {
        const shadow = await this.load(ref);
        const reason = incompatibility(production, shadow);
        if (reason) throw new ServeError("artifact_refused", `shadow ${shadow.version} is incompatible with production: ${reason}`);
        shadows.push(shadow);
        shadowRefs.push(ref);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        skipped?.push({ deployment: name, policy: ref, reason });
      }
    }
    const space = production.actionSpace;
    const featureNames = production.featureNames;
    let fallback: Fallback;
    if ("policy" in spec.fallback) {
      const policy = await this.load(spec.fallback.policy);
      const reason = incompatibility(production, policy);
      if (reason) throw new ServeError("artifact_refused", `fallback ${policy.version} is incompatible: ${reason}`);
      fallback = { version: policy.version, policy };
    } else {
      fallback = { version: "fallback", policy: this.constantFallback(space, featureNames, spec.fallback.action) };
    }
    checkExploration(spec, space);
    const ood = new Map<DecisionPolicy, OodGuard | null>();
    for (const policy of [production, canary, ...shadows]) if (policy) ood.set(policy, compileOodGuard(policy, spec.ood));
    const defaults = new Float64Array(featureNames.length).fill(NaN);
    for (const [feature, value] of Object.entries(spec.defaults)) {
      const index = featureNames.indexOf(feature);
      if (index < 0) throw new ServeError("invalid_config", `default for unknown feature "${feature}"`, { feature });
      defaults[index] = value;
    }
    const sameArms =
      old && old.production === production && old.canary?.policy === canary && JSON.stringify(old.spec.guard) === JSON.stringify(spec.guard);
    const guard = canary && spec.guard.enabled ? (sameArms && old.guard ? old.guard : new CanaryGuard(spec.guard)) : null;
    const shadowStats = shadows.map((s) => old?.shadowStats.find((stat) => stat.version === s.version) ?? {
      version: s.version, decisions: 0, agreements: 0, rewarded: 0, weightedReward: 0,
    });
    const refs = [spec.production.policy, ...(spec.canary ? [spec.canary.policy] : []), ...shadowRefs];
    if ("policy" in spec.fallback) refs.push(spec.fallback.policy);
    this.metrics.guardState.labels(name).set(guard ? 1 : 0);
    return {
      name,
      spec,
      space,
      featureNames,
      featureIndex: new Map(featureNames.map((feature, index) => [feature, index])),
      defaults,
      production,
      canary: canary ? { policy: canary, fraction: spec.canary!.fraction } : null,
      shadows,
      shadowStats,
      ood,
      safety: compileSafety(spec.safety, featureNames, space),
      fallback,
      guard,
      productionReward: old && old.production === production ? old.productionReward : { count: 0, sum: 0 },
      refs,
    };
  }

  private constantFallback(space: ActionSpace, featureNames: string[], action: number | number[]): DecisionPolicy {
    if (space.kind === "discrete") {
      const a = typeof action === "number" ? action : action[0];
      if (!Number.isInteger(a) || a < 0 || a >= space.n) throw new ServeError("invalid_config", `fallback action ${a} is not in 0..${space.n - 1}`);
    } else {
      const list = typeof action === "number" ? [action] : action;
      if (list.length !== space.low.length) throw new ServeError("invalid_config", `fallback action has ${list.length} dimensions, expected ${space.low.length}`);
    }
    return constantPolicy({ version: "fallback", actionSpace: space, featureNames, action });
  }

  has(deployment: string): boolean {
    return this.deployments.has(deployment);
  }

  deploymentNames(): string[] {
    return [...this.deployments.keys()];
  }

  /** "<ms base 36>-<nonce>-" of the last millisecond an id was minted in (many decisions share one). */
  private idPrefixMs = -1;
  private idPrefix = "";

  private nextId(now: number): string {
    this.counter = (this.counter + 1) % 0x7fffffff;
    if (now !== this.idPrefixMs) {
      this.idPrefixMs = now;
      this.idPrefix = `${now.toString(36)}-${this.nonce}-`;
    }
    return this.idPrefix + this.counter.toString(36);
  }

  /**
   * Reads the request state into the deployment's feature order, as float32 for the policies and as the float64
   * values the client sent (for the log, so it holds 0.1 and not 0.10000000149); returns the missing feature, if any.
   */
  private readState(d: CompiledDeployment, input: DecideInput["state"], out: Float32Array, sent: Float64Array): string | null {
    const dim = d.featureNames.length;
    if (Array.isArray(input)) {
      if (input.length !== dim) {
        throw new ServeError("invalid_state", `state has ${input.length} values, deployment "${d.name}" expects ${dim}`, {
          expected: dim, received: input.length,
        });
      }
      for (let j = 0; j < dim; j++) {
        const value = input[j];
        if (typeof value !== "number" || !Number.isFinite(value)) {
          throw new ServeError("invalid_state", `state[${j}] is not a finite number`, { path: ["state", j] });
        }
        out[j] = sent[j] = value;
      }
      return null;
    }
    let missing: string | null = null;
    for (let j = 0; j < dim; j++) {
      const value = input[d.featureNames[j]];
      if (typeof value === "number" && Number.isFinite(value)) {
        out[j] = sent[j] = value;
      } else if (value === undefined || value === null) {
        const fallbackValue = d.defaults[j];
        if (Number.isNaN(fallbackValue)) {
          out[j] = sent[j] = NaN;
          missing ??= d.featureNames[j];
        } else {
          out[j] = sent[j] = fallbackValue;
        }
      } else {
        throw new ServeError("invalid_state", `feature "${d.featureNames[j]}" is not a finite number`, { path: ["state", d.featureNames[j]] });
      }
    }
    return missing;
  }

  async decide(input: DecideInput): Promise<DecideResult> {
    const started = performance.now();
    const d = this.deployments.get(input.deployment);
    if (!d) {
      const reason = this.unavailable.get(input.deployment);
      if (reason) throw new ServeError("no_decider", `deployment "${input.deployment}" has no loadable policy: ${reason}`, { deployment: input.deployment });
      throw new ServeError("unknown_policy", `no deployment "${input.deployment}"`, { deployment: input.deployment });
    }
    const state = new Float32Array(d.featureNames.length);
    const sentState = new Float64Array(d.featureNames.length);
    const missing = this.readState(d, input.state, state, sentState);
    // A vector was checked whole by readState (right length, finite numbers): its text can be logged as it came.
    const stateText = Array.isArray(input.state) ? input.stateText : undefined;

    let route: Route;
    let arm: Arm | null = null;
    let policy: DecisionPolicy | null = null;
    let fallbackReason: string | undefined;
    // Killed: nothing but the fallback runs. Otherwise the arm's policy, unless the state cannot be trusted.
    if (this.killSwitch) {
      route = "killed";
      fallbackReason = "kill_switch";
    } else {
      if (d.canary && stableUnit(input.routingKey, d.name) < d.canary.fraction) {
        arm = "canary";
        policy = d.canary.policy;
      } else {
        arm = d.canary ? "control" : null;
        policy = d.production;
      }
      route = arm === "canary" ? "canary" : "production";
      if (missing) fallbackReason = `missing_feature:${missing}`;
      else {
        const guard = d.ood.get(policy);
        const ood = guard ? guard(state) : null;
        if (ood) fallbackReason = `ood:${ood}`;
      }
    }

    let served: Served | null = null;
    let policyFailed = false;
    const safety: string[] = [];
    if (!fallbackReason && policy) {
      try {
        const pending = policy.evaluate(state);
        const output = pending instanceof Promise ? await pending : pending;
        served = await this.explore(d, output, state, input.routingKey);
      } catch (error) {
        policyFailed = true;
        fallbackReason = "policy_error";
        this.emit("policy_error", { deployment: d.name, version: policy.version, error });
      }
    }

    let policyVersion: string;
    if (served && !served.intervention) {
      policyVersion = policy!.version;
    } else {
      if (served?.intervention) {
        safety.push(served.intervention);
        fallbackReason = "safety";
      } else {
        served = await this.fallbackAction(d, state);
      }
      policyVersion = d.fallback.version;
      if (route === "production" || route === "canary") route = "fallback";
    }
    if (policy && route !== "killed" && !fallbackReason?.startsWith("missing_feature") && !fallbackReason?.startsWith("ood:")) {
      const counts = this.trafficOf(policy.version);
      counts.decisions += 1;
      if (safety.length > 0) counts.safetyViolations += 1;
    }
    const action = served.action instanceof Float64Array ? Array.from(served.action) : served.action;

    let shadowRecords: DecisionRecord["shadows"];
    let shadowProbabilities: Float64Array | null = null;
    let shadowErrors: DecisionRecord["shadowErrors"];
    // Shadows see the same state; with a missing feature there is no state to show them.
    if (d.shadows.length > 0 && route !== "killed" && !missing) {
      shadowRecords = [];
      shadowProbabilities = new Float64Array(d.shadows.length);
      for (let s = 0; s < d.shadows.length; s++) {
        const shadow = d.shadows[s];
        const stats = d.shadowStats[s];
        try {
          const pending = shadow.evaluate(state);
          const output = pending instanceof Promise ? await pending : pending;
          const shadowAction = greedyAction(output);
          const agree = sameAction(shadowAction, action, d.space);
          const counts = this.trafficOf(shadow.version);
          counts.decisions += 1;
          if (!this.wouldBeSafe(d, state, input.routingKey, shadowAction)) counts.safetyViolations += 1;
          shadowProbabilities[s] = agree ? 1 : 0;
          stats.decisions += 1;
          if (agree) stats.agreements += 1;
          shadowRecords.push({ version: shadow.version, action: shadowAction, agree, probability: agree ? 1 : 0 });
        } catch (error) {
          // Not an action: the failure is logged apart from the shadows' actions, and counted.
          (shadowErrors ??= []).push({ version: shadow.version, error: error instanceof Error ? error.message : String(error) });
          shadowProbabilities[s] = NaN; // no action: left out of the shadow's value estimate
          this.metrics.shadowErrors.labels(d.name, shadow.version).inc();
        }
      }
    }

    // Remembered after the shadows, so a shadow's rate-limit check compares with the previous served action too.
    if (served.action instanceof Float64Array) d.safety.remember(input.routingKey, served.action);
    const latencyMs = performance.now() - started;
    const now = Date.now();
    const decisionId = this.nextId(now);
    const intervened = safety.length > 0;
    if (d.guard && arm) {
      d.guard.observeDecision(arm, latencyMs, policyFailed || route === "fallback", intervened, input.routingKey);
    }
    this.metrics.observeDecision(d.name, policyVersion, route, action, latencyMs / 1000, fallbackReason, safety);

    const record: DecisionRecord = {
      kind: "decision",
      id: decisionId,
      ts: now,
      deployment: d.name,
      routingKey: input.routingKey,
      route,
      policyVersion,
      featureNames: d.featureNames,
      state: stateText === undefined ? loggedState(sentState) : (input.state as number[]),
      action,
      probability: served.probability,
      latencyUs: Math.round(latencyMs * 1000),
      safety,
    };
    if (input.episodeId !== undefined) record.episodeId = input.episodeId;
    if (input.step !== undefined) record.step = input.step;
    if (served.logDensity !== undefined) record.logDensity = served.logDensity;
    if (fallbackReason) record.fallbackReason = fallbackReason;
    if (shadowRecords) record.shadows = shadowRecords;
    if (shadowErrors) record.shadowErrors = shadowErrors;
    const durable = this.log.appendLine(serializeDecisionRecord(record, stateText));

    this.remember({
      id: decisionId,
      deployment: d,
      arm: route === "killed" ? null : arm,
      routingKey: input.routingKey,
      ts: now,
      feedback: false,
      shadowProbabilities,
      probability: served.probability,
    });

    const decision: Decision = { decisionId, action, probability: served.probability, policyVersion, route, safety };
    if (served.logDensity !== undefined) decision.logDensity = served.logDensity;
    if (fallbackReason) decision.fallbackReason = fallbackReason;
    return { decision, durable, latencyUs: record.latencyUs };
  }

  /**
   * Samples an action with exploration and applies the safety rules. When a rule intervenes, the result is the
   * fallback's action with `intervention` set, and its probability is the chance that the whole process (sample,
   * then replace violations) serves that action, so the logged propensity stays exact for off-policy evaluation.
   */
  private async explore(d: CompiledDeployment, output: PolicyOutput, state: Float32Array, routingKey: string): Promise<Served> {
    const exploration = d.spec.exploration;
    if (output.kind === "discrete") {
      const n = d.space.kind === "discrete" ? d.space.n : 0;
      if (output.scores.length !== n) throw new Error(`policy returned ${output.scores.length} scores, expected ${n}`);
      for (let a = 0; a < n; a++) if (!Number.isFinite(output.scores[a])) throw new Error("policy returned a non-finite score");
      const probs = discreteDistribution(output.scores, exploration);
      const action = sampleDiscrete(probs, this.random);
      const allowed = new Uint8Array(n);
      if (!d.safety.restrictDiscrete(state, allowed)) return { action, probability: probs[action] };
      // The fallback's action is served whenever it is sampled or a disallowed action is sampled, so its
      // propensity collects the disallowed mass; any other allowed action keeps its own probability.
      const fallbackAction = (await this.fallbackAction(d, state)).action as number;
      let fallbackProbability = probs[fallbackAction];
      for (let a = 0; a < n; a++) if (allowed[a] === 0 && a !== fallbackAction) fallbackProbability += probs[a];
      if (allowed[action] === 1) return { action, probability: action === fallbackAction ? fallbackProbability : probs[action] };
      return { action: fallbackAction, probability: fallbackProbability, intervention: "allowed_actions" };
    }
    if (d.space.kind !== "continuous" || output.mean.length !== d.space.low.length) {
      throw new Error("policy output does not match the continuous action space");
    }
    for (let k = 0; k < output.mean.length; k++) if (!Number.isFinite(output.mean[k])) throw new Error("policy returned a non-finite action");
    const std = continuousStd(output, exploration);
    const action = sampleGaussian(output.mean, std, this.random);
    // A float32 runtime's greedy output is reported as the decimal it stands for (0.1, not 0.10000000149).
    if (output.mean instanceof Float32Array) for (let k = 0; k < action.length; k++) if (std[k] === 0) action[k] = float32Decimal(action[k]);
    const dim = action.length;
    const low = new Float64Array(dim);
    const high = new Float64Array(dim);
    const stochastic = std.some((s) => s > 0);
    let violated = false;
    if (d.safety.continuousBox(routingKey, low, high)) {
      for (let k = 0; k < dim; k++) if (action[k] < low[k] || action[k] > high[k]) violated = true;
    }
    if (!violated) {
      return stochastic ? { action, probability: 1, logDensity: gaussianLogDensity(action, output.mean, std) } : { action, probability: 1 };
    }
    const intervention = withinBounds(action, d.spec.safety.bounds) ? "rate_limit" : "bounds";
    // The fallback action is an atom whose mass is the chance that exploration leaves the acceptable box.
    const fallback = await this.fallbackAction(d, state);
    return { action: fallback.action, probability: 1 - boxProbability(output.mean, std, low, high), intervention };
  }

  private async fallbackAction(d: CompiledDeployment, state: Float32Array): Promise<Served> {
    const input = new Float32Array(state.length);
    for (let j = 0; j < state.length; j++) input[j] = Number.isNaN(state[j]) ? 0 : state[j];
    const pending = d.fallback.policy.evaluate(input);
    const output = pending instanceof Promise ? await pending : pending;
    if (output.kind === "discrete") return { action: argmax(output.scores), probability: 1 };
    return { action: output.mean instanceof Float32Array ? Float64Array.from(output.mean, float32Decimal) : Float64Array.from(output.mean), probability: 1 };
  }

  private remember(entry: RememberedDecision): void {
    this.recent[this.counter % this.decisionMemory] = entry;
  }

  private recall(id: string, counter: number): RememberedDecision | undefined {
    const entry = this.recent[counter % this.decisionMemory];
    return entry !== undefined && entry.id === id ? entry : undefined;
  }

  /** Attaches a reward to a decision. Unknown-but-well-formed ids are accepted as late (the log join handles them). */
  feedback(input: FeedbackInput): FeedbackResult {
    const match = DECISION_ID.exec(input.decisionId);
    if (!match) throw new ServeError("invalid_decision_id", undefined, { decisionId: input.decisionId });
    const now = Date.now();
    const decidedAt = parseInt(match[1], 36);
    const remembered = this.recall(input.decisionId, parseInt(match[3], 36));
    let late = now - decidedAt > this.feedbackWindowMs || !remembered;
    let duplicate = false;
    let deployment = "unknown";
    if (remembered) {
      deployment = remembered.deployment.name;
      if (remembered.feedback) {
        duplicate = true;
      } else {
        remembered.feedback = true;
        if (!late) this.useReward(remembered, input.reward);
      }
    }
    if (duplicate) late = false;
    this.metrics.feedback.labels(deployment, duplicate ? "duplicate" : late ? "late" : "on_time").inc();
    const record: FeedbackRecord = { kind: "feedback", decisionId: input.decisionId, ts: now, reward: input.reward, late, duplicate };
    if (input.outcome !== undefined) record.outcome = input.outcome;
    return { decisionId: input.decisionId, late, duplicate, durable: this.log.append(record) };
  }

  private useReward(remembered: RememberedDecision, reward: number): void {
    const d = remembered.deployment;
    if (remembered.arm && d.guard && this.deployments.get(d.name)?.guard === d.guard) d.guard.observeReward(remembered.arm, reward, remembered.routingKey);
    if (remembered.arm !== "canary" && remembered.probability > 0) {
      d.productionReward.count += 1;
      d.productionReward.sum += reward;
      if (remembered.shadowProbabilities) {
        for (let s = 0; s < d.shadowStats.length && s < remembered.shadowProbabilities.length; s++) {
          if (Number.isNaN(remembered.shadowProbabilities[s])) continue;
          const stats = d.shadowStats[s];
          stats.rewarded += 1;
          stats.weightedReward += (reward * remembered.shadowProbabilities[s]) / remembered.probability;
          this.metrics.shadowValue.labels(d.name, stats.version).set(stats.weightedReward / stats.rewarded);
        }
      }
    }
  }

  /**
   * Runs every canary guard. On a breach the canary stops receiving traffic at once (before the registry
   * records anything) and the breach is returned so the caller can record the rollback and raise the alert.
   */
  checkGuards(): Array<{ deployment: string; canary: string; breach: GuardBreach }> {
    const breaches: Array<{ deployment: string; canary: string; breach: GuardBreach }> = [];
    for (const d of this.deployments.values()) {
      if (!d.guard || !d.canary) continue;
      const breach = d.guard.check();
      this.metrics.guardState.labels(d.name).set(d.guard.state === "collecting" ? 1 : d.guard.state === "monitoring" ? 2 : 3);
      for (let s = 0; s < d.shadowStats.length; s++) {
        const stats = d.shadowStats[s];
        if (stats.decisions > 0) this.metrics.shadowAgreement.labels(d.name, stats.version).set(stats.agreements / stats.decisions);
      }
      if (!breach) continue;
      breaches.push({ deployment: d.name, canary: d.canary.policy.version, breach });
      this.trafficOf(d.canary.policy.version).guardFailures += 1;
      d.canary = null;
    }
    return breaches;
  }

  private trafficOf(version: string): TrafficCounts {
    let counts = this.traffic.get(version);
    if (!counts) {
      counts = { decisions: 0, safetyViolations: 0, guardFailures: 0 };
      this.traffic.set(version, counts);
    }
    return counts;
  }

  /** Returns the traffic counted since the last call and starts a new count. */
  takeTraffic(): Map<string, TrafficCounts> {
    const taken = this.traffic;
    this.traffic = new Map();
    return taken;
  }

  /** Puts back counts that could not be delivered. */
  restoreTraffic(counts: Map<string, TrafficCounts>): void {
    for (const [version, c] of counts) {
      const target = this.trafficOf(version);
      target.decisions += c.decisions;
      target.safetyViolations += c.safetyViolations;
      target.guardFailures += c.guardFailures;
    }
  }

  /** Whether a (shadow's) greedy action would pass the deployment's safety rules. */
  private wouldBeSafe(d: CompiledDeployment, state: Float32Array, routingKey: string, action: number | number[]): boolean {
    if (typeof action === "number") {
      const allowed = new Uint8Array(d.space.kind === "discrete" ? d.space.n : 0);
      return !d.safety.restrictDiscrete(state, allowed) || allowed[action] === 1;
    }
    const low = new Float64Array(action.length);
    const high = new Float64Array(action.length);
    if (!d.safety.continuousBox(routingKey, low, high)) return true;
    for (let k = 0; k < action.length; k++) if (action[k] < low[k] || action[k] > high[k]) return false;
    return true;
  }

  alert(event: AlertEvent): void {
    this.metrics.alerts.labels(event.kind).inc();
    this.emit("alert", event);
  }

  /** Status of one deployment for the admin API and dashboards. */
  status(name: string): Record<string, unknown> {
    const d = this.deployments.get(name);
    if (!d) throw new ServeError("unknown_policy", `no deployment "${name}"`, { deployment: name });
    return {
      deployment: name,
      revision: this.revision,
      killSwitch: this.killSwitch,
      production: d.production.version,
      canary: d.canary ? { version: d.canary.policy.version, fraction: d.canary.fraction } : null,
      guard: d.guard ? { state: d.guard.state, breach: d.guard.breach, arms: d.guard.summary() } : null,
      productionMeanReward: d.productionReward.count > 0 ? d.productionReward.sum / d.productionReward.count : null,
      shadows: d.shadowStats.map((s) => ({
        version: s.version,
        decisions: s.decisions,
        agreement: s.decisions > 0 ? s.agreements / s.decisions : null,
        rewarded: s.rewarded,
        valueEstimate: s.rewarded > 0 ? s.weightedReward / s.rewarded : null,
      })),
    };
  }
}

interface Served {
  action: number | Float64Array;
  probability: number;
  logDensity?: number;
  /** Set when a safety rule replaced the policy's action with the fallback's. */
  intervention?: string;
}

function checkExploration(spec: DeploymentSpec, space: ActionSpace): void {
  const kind = spec.exploration.kind;
  if (space.kind === "discrete" && kind === "gaussian") throw new ServeError("invalid_config", "gaussian exploration needs continuous actions");
  if (space.kind === "continuous" && (kind === "epsilon" || kind === "softmax")) {
    throw new ServeError("invalid_config", `${kind} exploration needs discrete actions`);
  }
}

/** The state as logged: NaN (a missing feature without a default) becomes null. */
function loggedState(sent: Float64Array): number[] {
  const state = new Array<number>(sent.length);
  for (let j = 0; j < sent.length; j++) {
    const v = sent[j];
    state[j] = Number.isNaN(v) ? (null as unknown as number) : v;
  }
  return state;
}

function greedyAction(output: PolicyOutput): number | number[] {
  if (output.kind === "discrete") return argmax(output.scores);
  return output.mean instanceof Float32Array ? Array.from(output.mean, float32Decimal) : Array.from(output.mean);
}

function sameAction(a: number | number[], b: number | number[], space: ActionSpace): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  if (space.kind !== "continuous") return false;
  for (let k = 0; k < a.length; k++) {
    const tolerance = 1e-3 * Math.max(1e-9, space.high[k] - space.low[k]);
    if (Math.abs(a[k] - b[k]) > tolerance) return false;
  }
  return true;
}

function withinBounds(action: Float64Array, bounds: { low: number[]; high: number[] } | undefined): boolean {
  if (!bounds) return true;
  for (let k = 0; k < action.length; k++) if (action[k] < bounds.low[k] || action[k] > bounds.high[k]) return false;
  return true;
}
