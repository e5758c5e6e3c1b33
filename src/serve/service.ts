import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback, type FastifyReply, type FastifyRequest } from "fastify";
import { EventEmitter } from "node:events";
import { z } from "zod";
import { deploymentSchema } from "./config.js";
import { DecisionLog } from "./decision-log.js";
import { DecisionEngine, type AlertEvent, type Decision, type ReloadReport } from "./engine.js";
import { ServeError } from "./errors.js";
import { numberArrayText } from "./json-text.js";
import { ServeMetrics } from "./metrics.js";
import type { PolicyLoader } from "./policy.js";
import type { Role, RoutingSource } from "./routing.js";

export interface DecisionServiceOptions {
  routing: RoutingSource;
  loader: PolicyLoader;
  /** Directory of the decision log (JSONL segments plus schema.json). */
  logDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Seed of the exploration random stream. */
  seed?: number;
  /** How often the routing source's revision is polled for hot reload. */
  pollIntervalMs?: number;
  /** How often canary guards are evaluated (a breach rolls back within about this long). */
  guardIntervalMs?: number;
  /** How often per-policy traffic is reported to the routing source (when it accepts reports). */
  trafficIntervalMs?: number;
  /** Largest accepted request body in bytes (larger is 413). */
  bodyLimit?: number;
  maxSegmentBytes?: number;
  /** Group-commit window of the decision log in ms (default 0: write on the next event-loop turn). */
  commitDelayMs?: number;
  /** fdatasync each batch (default true). Only tests of non-durability concerns turn it off. */
  durableLog?: boolean;
  /**
   * Zero-filled log segments overwritten in place (faster durable writes; default on). Live segments then have a
   * zero tail and a constant size; the log's readers (and the monitor's tail) stop at the first NUL byte.
   */
  preallocateLog?: boolean;
  /** Decision-log batch writes in flight at once (default 2; 1 is classic group commit). */
  logWritesInFlight?: number;
  /** A log write beyond the first starts only once the oldest in flight has taken this long (default 1 ms). */
  logOverlapAfterMs?: number;
  decisionMemory?: number;
  feedbackWindowMs?: number;
  /** Include Node process metrics in /metrics. */
  processMetrics?: boolean;
  logger?: boolean;
  /**
   * Extra Fastify plugins registered after the service's own routes, e.g. the monitoring dashboard:
   * `plugins: [{ plugin: dashboard, options: { prefix: "/ui" } }]`. Each plugin receives its options
   * plus `service` (this DecisionService) so it can read metrics, status and alerts.
   */
  plugins?: Array<{ plugin: FastifyPluginAsync<any> | FastifyPluginCallback<any>; options?: Record<string, unknown> }>;
}

export interface DecisionService extends EventEmitter {
  readonly app: FastifyInstance;
  readonly engine: DecisionEngine;
  readonly metrics: ServeMetrics;
  readonly log: DecisionLog;
  /** Listens; resolves with the bound address. */
  start(): Promise<{ url: string; port: number }>;
  /** Stops polling, closes the server, flushes and closes the log. */
  stop(): Promise<void>;
  /** Polls the routing source now; returns the reload report when the revision moved, else null. */
  reload(force?: boolean): Promise<ReloadReport | null>;
  /** Runs the canary guards now (also runs on a timer). */
  checkGuards(): Promise<void>;
}

const decideBody = {
  type: "object",
  required: ["routingKey", "state"],
  additionalProperties: false,
  properties: {
    deployment: { type: "string", minLength: 1, maxLength: 128 },
    routingKey: { type: "string", minLength: 1, maxLength: 512 },
    state: {
      anyOf: [
        { type: "array", maxItems: 4096, items: { type: "number" } },
        { type: "object", maxProperties: 4096, additionalProperties: { type: ["number", "null"] } },
      ],
    },
    episodeId: { type: "string", maxLength: 512 },
    step: { type: "integer", minimum: 0 },
  },
} as const;

const feedbackBody = {
  type: "object",
  required: ["decisionId", "reward"],
  additionalProperties: false,
  properties: {
    decisionId: { type: "string", minLength: 1, maxLength: 64 },
    reward: { type: "number" },
    outcome: {},
  },
} as const;

const killBody = {
  type: "object",
  required: ["on"],
  additionalProperties: false,
  properties: { on: { type: "boolean" }, reason: { type: "string", maxLength: 1000 } },
} as const;

const rollbackBody = {
  type: ["object", "null"],
  additionalProperties: false,
  properties: { reason: { type: "string", maxLength: 1000 } },
} as const;

interface DecideBody {
  deployment?: string;
  routingKey: string;
  state: Record<string, number | null> | number[];
  episodeId?: string;
  step?: number;
}

/** Builds the decision service (not yet listening). */
export async function createDecisionService(options: DecisionServiceOptions): Promise<DecisionService> {
  const metrics = new ServeMetrics({ defaultMetrics: options.processMetrics ?? false });
  const log = new DecisionLog({
    dir: options.logDir,
    maxSegmentBytes: options.maxSegmentBytes,
    durable: options.durableLog ?? true,
    preallocate: options.preallocateLog ?? true,
    maxWritesInFlight: options.logWritesInFlight,
    overlapAfterMs: options.logOverlapAfterMs,
    commitDelayMs: options.commitDelayMs,
    onBatch: (records, seconds) => {
      metrics.logBatchRecords.observe(records);
      metrics.logBatchSeconds.observe(seconds);
    },
  });
  const engine = new DecisionEngine({
    loader: options.loader,
    log,
    metrics,
    seed: options.seed,
    decisionMemory: options.decisionMemory,
    feedbackWindowMs: options.feedbackWindowMs,
  });
  const routing = options.routing;
  const events = new EventEmitter();
  engine.on("alert", (event: AlertEvent) => {
    events.emit("alert", event);
    // Best effort: an alert must not fail the reload or rollback that raised it.
    routing.recordAlert?.(event).catch(() => undefined);
  });

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  // JSON only: a text body is 415, not a schema error.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler((error: Error & { code?: string; statusCode?: number; validation?: unknown[]; validationContext?: string }, _request, reply) => {
    if (error instanceof ServeError) return sendError(reply, error);
    if (error.validation) {
      const issues = (error.validation as Array<{ instancePath?: string; message?: string }>).map((issue) => ({
        path: (error.validationContext ?? "body") + (issue.instancePath ?? ""),
        message: issue.message,
      }));
      return sendError(reply, new ServeError("invalid_request", error.message, { issues }));
    }
    if (error instanceof z.ZodError) {
      return sendError(reply, new ServeError("invalid_config", "deployment configuration is invalid", {
        issues: error.issues.map((issue) => ({ code: issue.code, path: issue.path, message: issue.message })),
      }));
    }
    switch (error.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return sendError(reply, new ServeError("payload_too_large", undefined, { limit: app.initialConfig.bodyLimit }));
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return sendError(reply, new ServeError("unsupported_media_type"));
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
      case "FST_ERR_CTP_INVALID_JSON_BODY":
        return sendError(reply, new ServeError("invalid_json", error.message));
    }
    if (error instanceof SyntaxError || error.statusCode === 400) return sendError(reply, new ServeError("invalid_json", error.message));
    reply.log.error(error);
    return sendError(reply, new ServeError("internal_error"));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new ServeError("not_found", `no route ${request.method} ${request.url}`)));

  let ready = false;

  // The decision routes parse JSON with plain JSON.parse and keep the body's text (the state is logged from it).
  // Fastify's default parser also scans every body for "__proto__" and "constructor" keys; these routes read only
  // the fields their schemas declare (additionalProperties: false) and never merge a body into another object.
  // Admin routes keep the default parser.
  void app.register(async (scope) => {
    scope.decorateRequest("bodyText", "");
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
      const text = body as string;
      (request as FastifyRequest & { bodyText: string }).bodyText = text;
      if (text.length === 0) return done(new ServeError("invalid_json", "the body is empty"), undefined);
      try {
        done(null, JSON.parse(text));
      } catch (error) {
        done(new ServeError("invalid_json", (error as Error).message), undefined);
      }
    });

    scope.post<{ Body: DecideBody }>("/v1/decide", { schema: { body: decideBody } }, async (request, reply) => {
      const body = request.body;
      const result = await engine.decide({
        deployment: body.deployment ?? "default",
        routingKey: body.routingKey,
        state: body.state,
        stateText: Array.isArray(body.state) ? numberArrayText((request as FastifyRequest & { bodyText: string }).bodyText, "state") : undefined,
        episodeId: body.episodeId,
        step: body.step,
      });
      await result.durable;
      // Serialised by hand for its fixed shape (the hot path); Fastify sends a string payload as it is.
      reply.header("content-type", JSON_CONTENT_TYPE);
      return serializeDecision(result.decision);
    });

    scope.post<{ Body: { decisionId: string; reward: number; outcome?: unknown } }>(
      "/v1/feedback",
      { schema: { body: feedbackBody } },
      async (request) => {
        const result = engine.feedback(request.body);
        await result.durable;
        return { decisionId: result.decisionId, accepted: true, late: result.late, duplicate: result.duplicate };
      },
    );
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    if (!ready) return sendError(reply, new ServeError("not_ready", "the routing table has not been loaded yet"));
    return { status: "ready", revision: engine.revision, deployments: engine.deploymentNames(), killSwitch: engine.killSwitch };
  });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const requireRole = async (request: FastifyRequest, roles: Role[]): Promise<string> => {
    const header = request.headers.authorization;
    const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new ServeError("unauthorized");
    const role = await routing.authenticate(match[1]);
    if (!role) throw new ServeError("unauthorized", "unknown token");
    if (!roles.includes(role)) throw new ServeError("forbidden", `role "${role}" may not do this`, { role });
    return `token:${role}`;
  };

  app.get<{ Params: { name: string } }>("/admin/deployments/:name", async (request) => {
    await requireRole(request, ["deployer", "viewer"]);
    return engine.status(request.params.name);
  });

  app.put<{ Params: { name: string }; Body: unknown }>("/admin/deployments/:name", async (request) => {
    const actor = await requireRole(request, ["deployer"]);
    if (!/^[A-Za-z0-9_.-]+$/.test(request.params.name)) throw new ServeError("invalid_config", "deployment names use A-Z a-z 0-9 _ . -");
    const spec = deploymentSchema.parse(request.body);
    // Refuse before recording: a corrupted or incompatible artifact never reaches the routing table.
    await engine.validate(request.params.name, spec);
    await routing.deploy(request.params.name, spec, actor);
    await service.reload();
    return engine.status(request.params.name);
  });

  app.post<{ Params: { name: string } }>("/admin/deployments/:name/promote", async (request) => {
    const actor = await requireRole(request, ["deployer"]);
    await routing.promote(request.params.name, actor);
    const report = await service.reload();
    refusedToError(report, request.params.name);
    return engine.status(request.params.name);
  });

  app.post<{ Params: { name: string }; Body: { reason?: string } | null }>(
    "/admin/deployments/:name/rollback",
    { schema: { body: rollbackBody } },
    async (request) => {
      const actor = await requireRole(request, ["deployer"]);
      const result = await routing.rollback(request.params.name, request.body?.reason ?? "manual rollback", actor);
      const report = await service.reload();
      refusedToError(report, request.params.name);
      return { ...result, status: engine.status(request.params.name) };
    },
  );

  app.post<{ Body: { on: boolean; reason?: string } }>("/admin/kill", { schema: { body: killBody } }, async (request) => {
    const actor = await requireRole(request, ["deployer"]);
    // Act locally first so the switch takes effect even if the routing source is slow.
    engine.killSwitch = request.body.on;
    metrics.killSwitch.set(request.body.on ? 1 : 0);
    await routing.setKillSwitch(request.body.on, request.body.reason ?? (request.body.on ? "kill switch" : "kill switch released"), actor);
    await service.reload();
    return { killSwitch: engine.killSwitch };
  });

  let reloading: Promise<ReloadReport | null> | null = null;
  const reload = (force = false): Promise<ReloadReport | null> => {
    const run = async (): Promise<ReloadReport | null> => {
      const revision = await routing.revision();
      if (!force && revision === engine.revision) return null;
      const report = await engine.apply(await routing.table());
      ready = true;
      return report;
    };
    // Serialise reloads; a reload requested while one runs waits for it, then polls again.
    const next = (reloading ?? Promise.resolve(null)).catch(() => null).then(run);
    reloading = next;
    return next;
  };

  const checkGuards = async (): Promise<void> => {
    for (const { deployment, canary, breach } of engine.checkGuards()) {
      metrics.rollbacks.labels(deployment, breach.metric).inc();
      const reason =
        `canary guard: ${breach.metric} worse on canary ${canary} ` +
        `(canary ${breach.canaryMean.toFixed(4)} over ${breach.canaryCount}, control ${breach.controlMean.toFixed(4)} over ${breach.controlCount})`;
      const details = { ...breach };
      try {
        await routing.rollback(deployment, reason, "canary-guard", details);
        engine.alert({ kind: "canary_rollback", deployment, at: new Date().toISOString(), reason, details });
      } catch (error) {
        engine.alert({
          kind: "rollback_record_failed",
          deployment,
          at: new Date().toISOString(),
          reason: `${reason}; recording failed: ${error instanceof Error ? error.message : String(error)}`,
          details,
        });
      }
      await reload().catch(() => null);
    }
  };

  const reportTraffic = async (): Promise<void> => {
    if (!routing.recordTraffic) return;
    const counts = engine.takeTraffic();
    const failed = new Map<string, { decisions: number; safetyViolations: number; guardFailures: number }>();
    for (const [version, c] of counts) {
      try {
        await routing.recordTraffic(version, c);
      } catch {
        failed.set(version, c);
      }
    }
    engine.restoreTraffic(failed);
  };

  const timers: NodeJS.Timeout[] = [];

  const service = Object.assign(events, {
    app,
    engine,
    metrics,
    log,
    reload,
    checkGuards,
    async start(): Promise<{ url: string; port: number }> {
      await reload(true);
      timers.push(setInterval(() => void reload().catch(() => undefined), options.pollIntervalMs ?? 500));
      timers.push(setInterval(() => void checkGuards().catch(() => undefined), options.guardIntervalMs ?? 100));
      if (routing.recordTraffic) timers.push(setInterval(() => void reportTraffic(), options.trafficIntervalMs ?? 5000));
      for (const timer of timers) timer.unref();
      await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 0 });
      const address = app.server.address();
      const port = typeof address === "object" && address ? address.port : (options.port ?? 0);
      return { url: `http://${options.host ?? "127.0.0.1"}:${port}`, port };
    },
    async stop(): Promise<void> {
      for (const timer of timers) clearInterval(timer);
      timers.length = 0;
      await app.close();
      await reportTraffic().catch(() => undefined);
      await reloading?.catch(() => null);
      await log.close();
    },
  }) as DecisionService;
  for (const { plugin, options: pluginOptions } of options.plugins ?? []) {
    void app.register(plugin as FastifyPluginAsync<any>, { ...pluginOptions, service });
  }
  return service;
}

const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/**
 * `JSON.stringify(decision)` for the decision's fixed shape, without walking an object: ids and routes are plain
 * ASCII by construction, numbers are finite, free-text fields go through JSON.stringify. Same text, same key order.
 */
export function serializeDecision(decision: Decision): string {
  const { action, probability, logDensity } = decision;
  if (!Number.isFinite(probability) || (logDensity !== undefined && !Number.isFinite(logDensity))) return JSON.stringify(decision);
  let actionText: string;
  if (typeof action === "number") {
    if (!Number.isFinite(action)) return JSON.stringify(decision);
    actionText = String(action);
  } else {
    for (const value of action) if (!Number.isFinite(value)) return JSON.stringify(decision);
    actionText = `[${action.join(",")}]`;
  }
  let text =
    `{"decisionId":"${decision.decisionId}","action":${actionText},"probability":${probability}` +
    `,"policyVersion":${JSON.stringify(decision.policyVersion)},"route":"${decision.route}","safety":` +
    (decision.safety.length === 0 ? "[]" : JSON.stringify(decision.safety));
  if (logDensity !== undefined) text += `,"logDensity":${logDensity}`;
  if (decision.fallbackReason !== undefined) text += `,"fallbackReason":${JSON.stringify(decision.fallbackReason)}`;
  return text + "}";
}

function sendError(reply: FastifyReply, error: ServeError): FastifyReply {
  return reply.status(error.status).send(error.toJSON());
}

function refusedToError(report: ReloadReport | null, name: string): void {
  const refused = report?.refused.find((r) => r.deployment === name);
  if (refused) throw new ServeError("artifact_refused", `routing changed but the new artifacts were refused; the old ones keep serving: ${refused.reason}`);
}
