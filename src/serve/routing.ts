import { deploymentSchema, routingTableSchema, type DeploymentInput, type RoutingTable } from "./config.js";
import { ServeError } from "./errors.js";

/**
 * Where the service learns what to serve, and where admin actions and automatic rollbacks are recorded.
 * The registry implements it for production; `MemoryRoutingSource` serves tests, demos and single-file setups.
 * Every change bumps `revision`; the service polls `revision()` and reloads the table when it moves.
 */
export type Role = "deployer" | "viewer";

export interface RoutingSource {
  revision(): Promise<number> | number;
  table(): Promise<RoutingTable> | RoutingTable;
  /** Creates or replaces a deployment. */
  deploy(name: string, spec: DeploymentInput, actor: string): Promise<void>;
  /** Canary becomes production; the old production joins `history`. */
  promote(name: string, actor: string): Promise<void>;
  /**
   * Removes the canary if there is one, else restores the previous production. `reason` is recorded with the
   * actor ("canary-guard" for automatic rollbacks) and returns what was replaced by what.
   */
  rollback(name: string, reason: string, actor: string, details?: Record<string, unknown>): Promise<{ from: string; to: string }>;
  setKillSwitch(on: boolean, reason: string, actor: string): Promise<void>;
  /** Resolves a bearer token to a role, or null when unknown. */
  authenticate(token: string): Promise<Role | null> | Role | null;
  /** Optional: keeps a record of the service's alerts (automatic rollbacks, refused reloads, skipped shadows). */
  recordAlert?(event: { kind: string; deployment: string; at: string; reason: string; details?: Record<string, unknown> }): Promise<void>;
  /** Optional: receives per-policy traffic increments (decisions, safety violations, guard failures). */
  recordTraffic?(version: string, counts: { decisions: number; safetyViolations: number; guardFailures: number }): Promise<void>;
}

export interface RoutingEvent {
  at: string;
  action: "deploy" | "promote" | "rollback" | "kill" | "unkill";
  deployment?: string;
  actor: string;
  reason?: string;
  details?: Record<string, unknown>;
}

/** An in-memory routing source with an audit trail (`events`). */
export class MemoryRoutingSource implements RoutingSource {
  private current: RoutingTable;
  private readonly tokens: Map<string, Role>;
  readonly events: RoutingEvent[] = [];

  constructor(options: { deployments?: Record<string, DeploymentInput>; tokens?: Record<string, Role>; killSwitch?: boolean } = {}) {
    this.current = routingTableSchema.parse({
      revision: 1,
      killSwitch: options.killSwitch ?? false,
      deployments: options.deployments ?? {},
    });
    this.tokens = new Map(Object.entries(options.tokens ?? {}));
  }

  revision(): number {
    return this.current.revision;
  }

  table(): RoutingTable {
    return structuredClone(this.current);
  }

  private change(mutate: (table: RoutingTable) => void, event: Omit<RoutingEvent, "at">): void {
    const next = structuredClone(this.current);
    mutate(next);
    next.revision = this.current.revision + 1;
    this.current = next;
    this.events.push({ at: new Date().toISOString(), ...event });
  }

  private existing(name: string): RoutingTable["deployments"][string] {
    const deployment = this.current.deployments[name];
    if (!deployment) throw new ServeError("unknown_policy", `no deployment "${name}"`, { deployment: name });
    return deployment;
  }

  async deploy(name: string, spec: DeploymentInput, actor: string): Promise<void> {
    const parsed = deploymentSchema.parse(spec);
    this.change((table) => {
      table.deployments[name] = parsed;
    }, { action: "deploy", deployment: name, actor });
  }

  async promote(name: string, actor: string): Promise<void> {
    const deployment = this.existing(name);
    if (!deployment.canary) throw new ServeError("nothing_to_promote", undefined, { deployment: name });
    this.change((table) => {
      const d = table.deployments[name];
      d.history.push(d.production.policy);
      d.production = { policy: d.canary!.policy };
      d.canary = undefined;
      delete d.canary;
    }, { action: "promote", deployment: name, actor, details: { policy: deployment.canary.policy } });
  }

  async rollback(name: string, reason: string, actor: string, details?: Record<string, unknown>): Promise<{ from: string; to: string }> {
    const deployment = this.existing(name);
    let result: { from: string; to: string };
    if (deployment.canary) {
      result = { from: deployment.canary.policy, to: deployment.production.policy };
      this.change((table) => {
        delete table.deployments[name].canary;
      }, { action: "rollback", deployment: name, actor, reason, details: { ...details, ...result } });
    } else if (deployment.history.length > 0) {
      result = { from: deployment.production.policy, to: deployment.history[deployment.history.length - 1] };
      this.change((table) => {
        const d = table.deployments[name];
        d.production = { policy: d.history.pop()! };
      }, { action: "rollback", deployment: name, actor, reason, details: { ...details, ...result } });
    } else {
      throw new ServeError("nothing_to_rollback", undefined, { deployment: name });
    }
    return result;
  }

  async setKillSwitch(on: boolean, reason: string, actor: string): Promise<void> {
    this.change((table) => {
      table.killSwitch = on;
    }, { action: on ? "kill" : "unkill", actor, reason });
  }

  authenticate(token: string): Role | null {
    return this.tokens.get(token) ?? null;
  }
}
