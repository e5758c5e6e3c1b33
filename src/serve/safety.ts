import type { ActionSpace } from "../data/transitions.js";
import type { Predicate, SafetyRules } from "./config.js";
import { ServeError } from "./errors.js";
import type { DecisionPolicy } from "./policy.js";

/**
 * Declarative safety rules compiled against a deployment's feature order, and the out-of-distribution guard
 * compiled from an artifact's training support. Both run per decision, so they are closures over typed arrays.
 */
export type CompiledPredicate = (state: Float32Array) => boolean;

export function compilePredicate(predicate: Predicate, featureNames: string[]): CompiledPredicate {
  if ("feature" in predicate) {
    const index = featureNames.indexOf(predicate.feature);
    if (index < 0) {
      throw new ServeError("invalid_config", `safety rule names unknown feature "${predicate.feature}"`, { feature: predicate.feature });
    }
    const value = predicate.value;
    switch (predicate.op) {
      case "<": return (s) => s[index] < value;
      case "<=": return (s) => s[index] <= value;
      case ">": return (s) => s[index] > value;
      case ">=": return (s) => s[index] >= value;
      case "==": return (s) => s[index] === value;
      case "!=": return (s) => s[index] !== value;
    }
  }
  if ("all" in predicate) {
    const parts = predicate.all.map((p) => compilePredicate(p, featureNames));
    return (s) => parts.every((part) => part(s));
  }
  if ("any" in predicate) {
    const parts = predicate.any.map((p) => compilePredicate(p, featureNames));
    return (s) => parts.some((part) => part(s));
  }
  const inner = compilePredicate(predicate.not, featureNames);
  return (s) => !inner(s);
}

export interface CompiledSafety {
  /** Discrete: writes 1 for allowed actions into `allowed`; returns false when no rule applies (all allowed). */
  restrictDiscrete(state: Float32Array, allowed: Uint8Array): boolean;
  /**
   * Continuous: writes the acceptable box for this decision into low/high (bounds intersected with the rate
   * limit around the key's previous action); returns false when nothing constrains the action.
   */
  continuousBox(routingKey: string, low: Float64Array, high: Float64Array): boolean;
  /** Remembers the action served to a routing key, for rate limits. */
  remember(routingKey: string, action: Float64Array): void;
}

export function compileSafety(rules: SafetyRules, featureNames: string[], space: ActionSpace): CompiledSafety {
  if (space.kind === "discrete") {
    if (rules.bounds || rules.rateLimit) {
      throw new ServeError("invalid_config", "bounds and rate limits apply to continuous actions only");
    }
    const compiled = rules.allowedActions.map((rule) => {
      for (const action of rule.actions) {
        if (action >= space.n) throw new ServeError("invalid_config", `allowed action ${action} >= action count ${space.n}`);
      }
      const mask = new Uint8Array(space.n);
      for (const action of rule.actions) mask[action] = 1;
      return { when: rule.when ? compilePredicate(rule.when, featureNames) : null, mask };
    });
    return {
      restrictDiscrete(state, allowed) {
        let restricted = false;
        for (const rule of compiled) {
          if (rule.when && !rule.when(state)) continue;
          if (!restricted) {
            allowed.fill(1);
            restricted = true;
          }
          for (let a = 0; a < allowed.length; a++) allowed[a] &= rule.mask[a];
        }
        return restricted;
      },
      continuousBox: () => false,
      remember: () => undefined,
    };
  }
  if (rules.allowedActions.length > 0) throw new ServeError("invalid_config", "allowed action sets apply to discrete actions only");
  const dim = space.low.length;
  for (const list of [rules.bounds?.low, rules.bounds?.high, rules.rateLimit?.maxDelta]) {
    if (list && list.length !== dim) throw new ServeError("invalid_config", `safety rule has ${list.length} dimensions, actions have ${dim}`);
  }
  const bounds = rules.bounds;
  const rateLimit = rules.rateLimit;
  const previous = new Map<string, Float64Array>();
  return {
    restrictDiscrete: () => false,
    continuousBox(routingKey, low, high) {
      if (!bounds && !rateLimit) return false;
      low.fill(-Infinity);
      high.fill(Infinity);
      if (bounds) {
        for (let d = 0; d < dim; d++) {
          low[d] = bounds.low[d];
          high[d] = bounds.high[d];
        }
      }
      const last = rateLimit ? previous.get(routingKey) : undefined;
      if (rateLimit && last) {
        for (let d = 0; d < dim; d++) {
          low[d] = Math.max(low[d], last[d] - rateLimit.maxDelta[d]);
          high[d] = Math.min(high[d], last[d] + rateLimit.maxDelta[d]);
        }
      }
      return true;
    },
    remember(routingKey, action) {
      if (!rateLimit) return;
      previous.delete(routingKey);
      previous.set(routingKey, Float64Array.from(action));
      if (previous.size > rateLimit.memoryKeys) previous.delete(previous.keys().next().value as string);
    },
  };
}

/** Returns null for an in-support state, else the reason ("range:<feature>" or "distance"). */
export type OodGuard = (state: Float32Array) => string | null;

export function compileOodGuard(
  policy: DecisionPolicy,
  options: { ranges: boolean; margin: number; distance: boolean },
): OodGuard | null {
  const support = policy.support;
  if (!support) return null;
  const dim = policy.featureNames.length;
  const checks: OodGuard[] = [];
  if (options.ranges) {
    const low = new Float64Array(dim);
    const high = new Float64Array(dim);
    for (let j = 0; j < dim; j++) {
      const width = support.max[j] - support.min[j];
      low[j] = support.min[j] - options.margin * width;
      high[j] = support.max[j] + options.margin * width;
    }
    const reasons = policy.featureNames.map((name) => `range:${name}`);
    checks.push((state) => {
      for (let j = 0; j < dim; j++) if (!(state[j] >= low[j] && state[j] <= high[j])) return reasons[j];
      return null;
    });
  }
  const whitening = support.whitening;
  if (options.distance && whitening && policy.scaler) {
    const scalerMean = Float64Array.from(policy.scaler.mean);
    const scalerStd = Float64Array.from(policy.scaler.std, (s) => (s > 0 ? s : 1));
    const centre = Float64Array.from(whitening.mean);
    const matrix = Float64Array.from(whitening.matrix);
    const full = matrix.length === dim * dim;
    if (!full && matrix.length !== dim) {
      throw new ServeError("artifact_refused", `whitening matrix has ${matrix.length} entries, expected ${dim} or ${dim * dim}`);
    }
    const thresholdSquared = whitening.threshold * whitening.threshold;
    const centred = new Float64Array(dim);
    checks.push((state) => {
      for (let j = 0; j < dim; j++) centred[j] = (state[j] - scalerMean[j]) / scalerStd[j] - centre[j];
      let squared = 0;
      if (full) {
        for (let i = 0; i < dim; i++) {
          let row = 0;
          for (let j = 0; j < dim; j++) row += matrix[i * dim + j] * centred[j];
          squared += row * row;
        }
      } else {
        for (let j = 0; j < dim; j++) squared += (matrix[j] * centred[j]) ** 2;
      }
      return squared > thresholdSquared ? "distance" : null;
    });
  }
  if (checks.length === 0) return null;
  return (state) => {
    for (const check of checks) {
      const reason = check(state);
      if (reason) return reason;
    }
    return null;
  };
}
