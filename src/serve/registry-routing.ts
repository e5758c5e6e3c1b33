import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import type { PolicyRecord, Registry, Routing, TrafficCounts } from "../registry/types.js";
import { artifactLoader } from "./artifact-loader.js";
import { deploymentSchema, routingTableSchema, type DeploymentInput, type RoutingTable } from "./config.js";
import { ServeError } from "./errors.js";
import type { PolicyLoader } from "./policy.js";
import type { Role, RoutingSource } from "./routing.js";

/**
 * The registry-backed routing source. The registry decides *which* policies serve (production, canary with its
 * fraction, shadows) per deployment and keeps the audit trail; the serving settings the registry does not model
 * (exploration, safety rules, OOD guard, defaults, fallback, canary guard) come from a settings file:
 *
 *   defaults:            # for deployments not listed below
 *     fallback: { action: 0 }
 *   deployments:
 *     checkout:
 *       fallback: { action: 0 }
 *       exploration: { kind: epsilon, epsilon: 0.05 }
 *       safety: { allowedActions: [{ when: { feature: load, op: ">", value: 0.9 }, actions: [0, 1] }] }
 *
 * Policy references are registry labels (`name@version`). The kill switch lives in the registry (audited, shared by
 * every replica through the routing version). Serving settings changed through the admin deploy endpoint are written
 * back to the settings file when one is given (`settingsPath`; rewritten whole, so comments are not kept), and
 * the file is re-read whenever it changes on disk, so an edit or another replica's deploy reaches every replica
 * at its next poll. Without a settings file, admin changes of settings live in this process only.
 */
export const servingSettingsSchema = deploymentSchema.omit({ production: true, canary: true, shadows: true, history: true });
export type ServingSettingsInput = z.input<typeof servingSettingsSchema>;

export const serveSettingsFileSchema = z
  .object({
    defaults: servingSettingsSchema.optional(),
    deployments: z.record(z.string(), servingSettingsSchema).default({}),
  })
  .strict();
export type ServeSettingsFile = z.input<typeof serveSettingsFileSchema>;

export function loadServeSettings(path: string): ServeSettingsFile {
  let value: unknown;
  try {
    const text = readFileSync(path, "utf8");
    value = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ServeError("invalid_config", `cannot read serve settings ${path}: ${(error as Error).message}`, { file: path });
  }
  const parsed = serveSettingsFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ServeError("invalid_config", `${path}: ${issue.path.join(".") || "(root)"}: ${issue.message}`, {
      file: path,
      issues: parsed.error.issues.map((i) => ({ path: i.path, message: i.message })),
    });
  }
  return value as ServeSettingsFile;
}

function mtimeOf(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : -1;
}

export function policyLabel(policy: PolicyRecord): string {
  return `${policy.name}@${policy.version}`;
}

/** Loads the artifact a registry label points at; the label is the served version id. */
export function registryPolicyLoader(registry: Pick<Registry, "getPolicy">): PolicyLoader {
  return artifactLoader(async (ref) => ({ dir: (await registry.getPolicy(ref)).artifactPath, version: ref }));
}

type RegistryPort = Pick<
  Registry,
  "routingVersion" | "allRouting" | "routing" | "promote" | "rollback" | "authenticate" | "recordTraffic" | "setKillSwitch" | "killSwitch" | "recordEvent"
>;

export interface RegistryRoutingOptions {
  /** Settings file to write admin changes to and to re-read when it changes (YAML, or JSON by extension). */
  settingsPath?: string;
}

export class RegistryRoutingSource implements RoutingSource {
  private settings = new Map<string, ServingSettingsInput>();
  private defaults: ServingSettingsInput | undefined;
  private readonly settingsPath: string | undefined;
  /** Modification time of the settings file as last read or written (ms; -1 when absent). */
  private settingsMtime = -1;
  /** Settings changes seen since start; added to the registry's routing version. */
  private localRevision = 0;

  constructor(
    private readonly registry: RegistryPort,
    settings: ServeSettingsFile = {},
    options: RegistryRoutingOptions = {},
  ) {
    this.settingsPath = options.settingsPath;
    this.useSettings(settings);
    if (this.settingsPath) this.settingsMtime = mtimeOf(this.settingsPath);
  }

  private useSettings(settings: ServeSettingsFile): void {
    const parsed = serveSettingsFileSchema.parse(settings);
    this.defaults = parsed.defaults;
    this.settings = new Map(Object.entries(parsed.deployments));
  }

  /** Re-reads the settings file when it changed on disk; an unreadable or invalid edit keeps the settings in use. */
  private refreshSettings(): void {
    if (!this.settingsPath) return;
    const mtime = mtimeOf(this.settingsPath);
    if (mtime === this.settingsMtime || mtime < 0) return;
    this.settingsMtime = mtime;
    try {
      this.useSettings(loadServeSettings(this.settingsPath));
      this.localRevision += 1;
    } catch {
      // keep serving with the last valid settings; the next edit is tried again
    }
  }

  private writeSettings(): void {
    if (!this.settingsPath) return;
    const file: ServeSettingsFile = {
      ...(this.defaults ? { defaults: this.defaults } : {}),
      deployments: Object.fromEntries(this.settings),
    };
    const text = this.settingsPath.endsWith(".json") ? JSON.stringify(file, null, 2) + "\n" : stringifyYaml(file);
    const temporary = `${this.settingsPath}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, this.settingsPath);
    this.settingsMtime = mtimeOf(this.settingsPath);
  }

  async revision(): Promise<number> {
    this.refreshSettings();
    return (await this.registry.routingVersion()) + this.localRevision;
  }

  async table(): Promise<RoutingTable> {
    this.refreshSettings();
    const [version, routings, killSwitch] = await Promise.all([this.registry.routingVersion(), this.registry.allRouting(), this.registry.killSwitch()]);
    const deployments: Record<string, DeploymentInput> = {};
    for (const routing of routings) {
      const settings = this.settings.get(routing.deployment) ?? this.defaults;
      if (!routing.production || !settings) continue;
      deployments[routing.deployment] = this.spec(routing, settings);
    }
    return routingTableSchema.parse({ revision: version + this.localRevision, killSwitch, deployments });
  }

  private spec(routing: Routing, settings: ServingSettingsInput | DeploymentInput): DeploymentInput {
    const { production: _p, canary: _c, shadows: _s, history: _h, ...serving } = settings as DeploymentInput;
    return {
      ...serving,
      production: { policy: policyLabel(routing.production!.policy) },
      ...(routing.canary ? { canary: { policy: policyLabel(routing.canary.policy), fraction: routing.canary.fraction } } : {}),
      shadows: routing.shadows.map((s) => ({ policy: policyLabel(s.policy) })),
    };
  }

  /**
   * Applies the serving settings and moves the named policies along the registry's lifecycle
   * (registered -> shadow -> canary -> production), subject to the registry's promotion gates.
   */
  async deploy(name: string, spec: DeploymentInput, actor: string): Promise<void> {
    const parsed = deploymentSchema.parse(spec);
    const current = await this.registry.routing(name);
    const reason = `deployed through the decision service by ${actor}`;
    await this.call(async () => {
      const live = new Set([...current.shadows.map((s) => policyLabel(s.policy)), ...(current.canary ? [policyLabel(current.canary.policy)] : [])]);
      for (const shadow of parsed.shadows) {
        if (!live.has(shadow.policy)) await this.registry.promote(shadow.policy, "shadow", { deployment: name, reason });
      }
      if (parsed.canary && (!current.canary || policyLabel(current.canary.policy) !== parsed.canary.policy || current.canary.fraction !== parsed.canary.fraction)) {
        if (!live.has(parsed.canary.policy) && !parsed.shadows.some((s) => s.policy === parsed.canary!.policy)) {
          await this.registry.promote(parsed.canary.policy, "shadow", { deployment: name, reason });
        }
        await this.registry.promote(parsed.canary.policy, "canary", { deployment: name, fraction: parsed.canary.fraction, reason });
      }
      const production = current.production ? policyLabel(current.production.policy) : null;
      if (parsed.production.policy !== production) {
        if (!current.canary || policyLabel(current.canary.policy) !== parsed.production.policy) {
          throw new ServeError("registry_refused", `the registry promotes to production only from canary; put ${parsed.production.policy} in canary first`, {
            policy: parsed.production.policy,
          });
        }
        await this.registry.promote(parsed.production.policy, "production", { deployment: name, reason });
      }
    });
    const { production: _p, canary: _c, shadows: _s, history: _h, ...serving } = spec;
    this.settings.set(name, serving);
    this.writeSettings();
    this.localRevision += 1;
  }

  async promote(name: string, actor: string): Promise<void> {
    const current = await this.registry.routing(name);
    if (!current.canary) throw new ServeError("nothing_to_promote", undefined, { deployment: name });
    const canary = policyLabel(current.canary.policy);
    await this.call(() => this.registry.promote(canary, "production", { deployment: name, reason: `promoted through the decision service by ${actor}` }));
  }

  async rollback(name: string, reason: string, actor: string, details?: Record<string, unknown>): Promise<{ from: string; to: string }> {
    const current = await this.registry.routing(name);
    if (!current.canary && !current.production) throw new ServeError("nothing_to_rollback", undefined, { deployment: name });
    const result = await this.call(() => this.registry.rollback({ deployment: name, reason: `${reason} (by ${actor})`, details }));
    const to = result.restored
      ? policyLabel(result.restored)
      : current.canary && current.production
        ? policyLabel(current.production.policy)
        : "fallback";
    return { from: policyLabel(result.rolledBack), to };
  }

  /** Flips the registry's shared kill switch (audited; every replica sees it at its next poll). */
  async setKillSwitch(on: boolean, reason: string, actor: string): Promise<void> {
    await this.call(() => this.registry.setKillSwitch(on, `${reason} (by ${actor})`));
  }

  async authenticate(token: string): Promise<Role | null> {
    try {
      const principal = await this.registry.authenticate(token);
      return principal.role === "deployer" || principal.role === "admin" ? "deployer" : "viewer";
    } catch {
      return null;
    }
  }

  /** Records an alert in the registry's audit log as `alert.<kind>` on `deployment:<name>`, where the monitor reads events. */
  async recordAlert(event: { kind: string; deployment: string; at: string; reason: string; details?: Record<string, unknown> }): Promise<void> {
    await this.call(() => this.registry.recordEvent(`alert.${event.kind}`, `deployment:${event.deployment}`, { ...event }));
  }

  /** Reports per-policy traffic so the registry's promotion gates see shadow and canary evidence. */
  async recordTraffic(version: string, counts: TrafficCounts): Promise<void> {
    await this.call(() => this.registry.recordTraffic(version, counts));
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ServeError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new ServeError("registry_refused", (error as Error).message, { registryCode: typeof code === "string" ? code : "unknown" });
    }
  }
}
