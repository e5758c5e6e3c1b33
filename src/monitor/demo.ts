/**
 * A seeded synthetic decision log in the service's format ("hindcast.decision-log/v1"), for tests, benchmarks and
 * the dashboard's demo mode. Incidents (slow decisions, safety interventions, drifted states, a reward drop) can be
 * switched on for a time range so alert rules have something to find.
 */
import { Rng } from "../random/index.js";

export interface DemoIncident {
  kind: "latency" | "safety" | "drift" | "reward";
  /** Milliseconds since the epoch, [from, to). */
  from: number;
  to: number;
  /** Share of affected decisions (latency, safety) or the shift in standard deviations (drift) or reward drop. */
  size: number;
}

export interface DemoLogOptions {
  seed?: number;
  start: number;
  /** Decisions per minute. */
  ratePerMinute: number;
  minutes: number;
  deployment?: string;
  policyVersion?: string;
  featureNames?: string[];
  incidents?: DemoIncident[];
  /** Share of decisions that receive feedback (default 1). */
  feedbackShare?: number;
  /** A canary serving `share` of decisions, with its reward shifted by `rewardShift`. */
  canary?: { policyVersion: string; share: number; rewardShift: number };
}

export const DEMO_FEATURES = ["cpu_load", "queue_depth", "request_rate", "replicas"];

/** Log records (decisions and their feedback) in time order. */
export function demoDecisionRecords(options: DemoLogOptions): Array<Record<string, unknown>> {
  const rng = new Rng(options.seed ?? 1);
  const featureNames = options.featureNames ?? DEMO_FEATURES;
  const records: Array<Record<string, unknown>> = [];
  const total = Math.round(options.ratePerMinute * options.minutes);
  const active = (kind: DemoIncident["kind"], ts: number) => options.incidents?.find((i) => i.kind === kind && ts >= i.from && ts < i.to);
  for (let i = 0; i < total; i++) {
    const ts = Math.round(options.start + (i * 60_000) / options.ratePerMinute);
    const drift = active("drift", ts);
    const state = featureNames.map((_, j) => rng.normal() + (drift && j === 1 ? drift.size : 0));
    const latency = active("latency", ts);
    const slow = latency !== undefined && rng.uniform() < latency.size;
    const safety = active("safety", ts);
    const intervened = safety !== undefined && rng.uniform() < safety.size;
    const action = state[0]! > 0 ? 1 : 0;
    const shadowAction = state[0]! > 0.2 ? 1 : 0;
    const id = `d${i}`;
    const onCanary = options.canary !== undefined && rng.uniform() < options.canary.share;
    records.push({
      kind: "decision",
      id,
      ts,
      deployment: options.deployment ?? "autoscaler",
      routingKey: `k${i % 50}`,
      route: onCanary ? "canary" : "production",
      policyVersion: onCanary ? options.canary!.policyVersion : (options.policyVersion ?? "cql-autoscaler@1"),
      ...(i === 0 ? { featureNames } : {}),
      state,
      action,
      probability: 0.9,
      latencyUs: Math.round((slow ? 150 + 100 * rng.uniform() : 2 + 8 * rng.uniform()) * 1000),
      safety: intervened ? ["allowedActions"] : [],
      shadows: [{ version: "iql-autoscaler@2", action: shadowAction, agree: shadowAction === action, probability: 1 }],
    });
    if (rng.uniform() < (options.feedbackShare ?? 1)) {
      const drop = active("reward", ts)?.size ?? 0;
      records.push({
        kind: "feedback",
        decisionId: id,
        ts: ts + 500,
        reward: 1 - drop + 0.1 * rng.normal() + (shadowAction === action ? 0.2 : 0) + (onCanary ? options.canary!.rewardShift : 0),
        outcome: rng.uniform() < 0.002 ? { error: "scale_failed" } : { ok: true },
        late: false,
        duplicate: false,
      });
    }
  }
  return records;
}

export function demoDecisionLogText(options: DemoLogOptions): string {
  return demoDecisionRecords(options).map((r) => JSON.stringify(r)).join("\n") + "\n";
}
