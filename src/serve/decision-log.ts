import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, write, writeFileSync, close } from "node:fs";
import { join } from "node:path";
import { ServeError } from "./errors.js";

/**
 * The decision log: append-only JSONL segments with group commit. Records appended while a flush is in flight
 * join the next batch; a batch is written and fdatasync'ed as one unit, and every `append` promise in it resolves
 * only then. The service answers a request only after its record's promise resolves, so an answered decision
 * survives `kill -9`. A crash can leave a torn last line in the newest segment: it belonged to an unanswered
 * request, and the reader skips it. A restart always opens a fresh segment.
 *
 * Segment names sort by creation time: `decisions-<ms since epoch, 13 digits>-<pid>-<seq>.jsonl`.
 */
export interface DecisionLogOptions {
  dir: string;
  /** Rotate to a new segment once the current one holds this many bytes. */
  maxSegmentBytes?: number;
  /** Skip fdatasync (tests of everything but durability; never in production). */
  durable?: boolean;
  /**
   * Group-commit window: wait this long after the first record of an idle log before writing, so more records
   * share one fdatasync (like PostgreSQL's commit_delay). 0 writes on the next turn of the event loop.
   */
  commitDelayMs?: number;
}

interface Batch {
  lines: string[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Segment {
  fd: number;
  pendingSyncs: number;
  /** Rotated away from; closed once its last sync completes. */
  retired: boolean;
}

interface WrittenBatch {
  batch: Batch;
  segment: Segment;
  synced: boolean;
}

/** fdatasyncs in flight at once (each holds a libuv thread-pool thread). */
const MAX_SYNCS = 2;

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits (e.g. feedback during shutdown) must not crash the process with an unhandled rejection.
  promise.catch(() => undefined);
  return { lines: [], promise, resolve, reject };
}

export class DecisionLog {
  readonly dir: string;
  private readonly maxSegmentBytes: number;
  private readonly durable: boolean;
  private readonly commitDelayMs: number;
  private segment: Segment;
  private segmentBytes = 0;
  private segmentSeq = 0;
  private current: Batch = newBatch();
  private writing = false;
  private syncsInFlight = 0;
  private readonly unsynced: WrittenBatch[] = [];
  private scheduled = false;
  private closed = false;
  private failure: Error | null = null;
  /** Current segment path. */
  segmentPath: string;
  /** Totals since open, for metrics. */
  readonly stats = { records: 0, batches: 0, bytes: 0, segments: 0 };

  constructor(options: DecisionLogOptions) {
    this.dir = options.dir;
    this.maxSegmentBytes = options.maxSegmentBytes ?? 256 * 1024 * 1024;
    this.durable = options.durable ?? true;
    this.commitDelayMs = options.commitDelayMs ?? 0;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, "schema.json"), JSON.stringify(decisionLogSchema, null, 2) + "\n");
    this.segmentPath = "";
    this.segment = this.openSegment();
  }

  private openSegment(): Segment {
    this.segmentSeq += 1;
    const name = `decisions-${String(Date.now()).padStart(13, "0")}-${process.pid}-${String(this.segmentSeq).padStart(4, "0")}.jsonl`;
    this.segmentPath = join(this.dir, name);
    const fd = openSync(this.segmentPath, "a");
    if (this.durable) {
      // The new directory entry must survive a crash too.
      const dirFd = openSync(this.dir, "r");
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    }
    this.segmentBytes = 0;
    this.stats.segments += 1;
    return { fd, pendingSyncs: 0, retired: false };
  }

  /** Queues one record; resolves once the batch holding it is on disk. */
  append(record: unknown): Promise<void> {
    return this.appendLine(JSON.stringify(record));
  }

  appendLine(line: string): Promise<void> {
    if (this.failure) return Promise.reject(new ServeError("log_unavailable", this.failure.message));
    if (this.closed) return Promise.reject(new ServeError("log_unavailable", "decision log is closed"));
    const batch = this.current;
    batch.lines.push(line);
    if (!this.writing && !this.scheduled) {
      this.scheduled = true;
      if (this.commitDelayMs > 0) setTimeout(() => this.flush(), this.commitDelayMs);
      else setImmediate(() => this.flush());
    }
    return batch.promise;
  }

  /**
   * Writes are serialised (appends must not interleave) but fdatasyncs are pipelined: while one batch is being
   * synced the next one is written and its sync issued, up to MAX_SYNCS in flight. A batch resolves once a sync
   * issued after its write on the same segment completes, and batches resolve in order.
   */
  private flush(): void {
    this.scheduled = false;
    if (this.failure || this.writing || this.syncsInFlight >= MAX_SYNCS || this.current.lines.length === 0) return;
    this.writing = true;
    const batch = this.current;
    this.current = newBatch();
    const buffer = Buffer.from(batch.lines.join("\n") + "\n", "utf8");
    const segment = this.segment;
    const written: WrittenBatch = { batch, segment, synced: false };
    const writeFrom = (offset: number): void => {
      write(segment.fd, buffer, offset, buffer.length - offset, null, (error, count) => {
        if (error) return this.fail(error, batch);
        if (offset + count < buffer.length) return writeFrom(offset + count);
        this.writing = false;
        this.stats.records += batch.lines.length;
        this.stats.batches += 1;
        this.stats.bytes += buffer.length;
        this.segmentBytes += buffer.length;
        this.unsynced.push(written);
        if (!this.durable) {
          written.synced = true;
          this.resolveSynced();
        } else {
          this.syncsInFlight += 1;
          segment.pendingSyncs += 1;
          fdatasync(segment.fd, (syncError) => {
            this.syncsInFlight -= 1;
            segment.pendingSyncs -= 1;
            if (syncError) return this.fail(syncError, null);
            // Everything written to this segment before the sync was issued is now on disk.
            for (const entry of this.unsynced) {
              if (entry.segment === segment) entry.synced = true;
              if (entry === written) break;
            }
            this.resolveSynced();
            if (segment.retired && segment.pendingSyncs === 0) close(segment.fd, () => undefined);
            this.flush();
          });
        }
        if (this.segmentBytes >= this.maxSegmentBytes) this.rotate();
        this.flush();
      });
    };
    writeFrom(0);
  }

  private resolveSynced(): void {
    while (this.unsynced.length > 0 && this.unsynced[0].synced) this.unsynced.shift()!.batch.resolve();
  }

  private fail(error: Error, batch: Batch | null): void {
    this.failure = error;
    this.writing = false;
    const coded = new ServeError("log_unavailable", error.message);
    batch?.reject(coded);
    for (const entry of this.unsynced.splice(0)) entry.batch.reject(coded);
    this.current.reject(coded);
  }

  private rotate(): void {
    const old = this.segment;
    try {
      this.segment = this.openSegment();
    } catch (error) {
      this.failure = error as Error;
      return;
    }
    old.retired = true;
    if (old.pendingSyncs === 0) close(old.fd, () => undefined);
  }

  /** Flushes what is queued, then closes the segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (!this.failure && (this.current.lines.length > 0 || this.writing || this.syncsInFlight > 0 || this.unsynced.length > 0)) {
      if (this.current.lines.length > 0 && !this.scheduled) this.flush();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    closeSync(this.segment.fd);
  }

}

/** One decision, as logged. `state` is in `featureNames` order of the serving deployment. */
export interface DecisionRecord {
  kind: "decision";
  id: string;
  ts: number;
  deployment: string;
  routingKey: string;
  episodeId?: string;
  step?: number;
  route: "production" | "canary" | "fallback" | "killed";
  policyVersion: string;
  featureNames: string[];
  state: number[];
  action: number | number[];
  /** Probability of the served action under the full serving process (policy + exploration + safety). */
  probability: number;
  /** Continuous Gaussian exploration: log-density of the served action. */
  logDensity?: number;
  latencyUs: number;
  fallbackReason?: string;
  safety: string[];
  shadows?: Array<{ version: string; action: number | number[]; agree: boolean; probability: number }>;
}

export interface FeedbackRecord {
  kind: "feedback";
  decisionId: string;
  ts: number;
  reward: number;
  outcome?: unknown;
  late: boolean;
  duplicate: boolean;
}

export type LogRecord = DecisionRecord | FeedbackRecord;

/** Describes the log's fields so the ingest side can read it back as a dataset. */
export const decisionLogSchema = {
  format: "hindcast.decision-log/v1",
  encoding: "jsonl",
  segments: "decisions-*.jsonl, in name order",
  records: {
    decision: {
      discriminator: { field: "kind", value: "decision" },
      fields: {
        id: "string, unique decision id",
        ts: "number, ms since epoch",
        deployment: "string",
        routingKey: "string",
        episodeId: "string, optional; groups decisions into episodes",
        step: "integer, optional; step within the episode",
        route: "production | canary | fallback | killed",
        policyVersion: "string",
        state: "number[], in the deployment's feature order",
        featureNames: "string[], names of the state entries",
        action: "integer (discrete) or number[] (continuous)",
        probability: "number, probability of the served action (behaviour propensity)",
        logDensity: "number, optional; log-density of a continuous action under Gaussian exploration",
        latencyUs: "number",
        fallbackReason: "string, optional",
        safety: "string[], safety rules that intervened",
        shadows: "array of {version, action, agree, probability}, optional",
      },
    },
    feedback: {
      discriminator: { field: "kind", value: "feedback" },
      join: { field: "decisionId", references: "decision.id", duplicates: "first record wins" },
      fields: { decisionId: "string", ts: "number", reward: "number", outcome: "any, optional", late: "boolean", duplicate: "boolean" },
    },
  },
  dataset: {
    observation: "decision.state",
    action: "decision.action",
    reward: "first feedback.reward joined by decisionId; decisions without feedback are dropped",
    behaviorProb: "decision.probability (discrete) or decision.logDensity (continuous)",
    episodes: "decision.episodeId in step order; without it each decision is a one-step episode",
  },
} as const;

/** Lists segment files in order. */
export function decisionLogSegments(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith("decisions-") && name.endsWith(".jsonl"))
    .sort()
    .map((name) => join(dir, name));
}

/** Reads every complete record of every segment; a torn trailing line (crash mid-write) is skipped and counted. */
export function readDecisionLog(dir: string): { records: LogRecord[]; tornLines: number } {
  const records: LogRecord[] = [];
  let tornLines = 0;
  for (const path of decisionLogSegments(dir)) {
    const text = readFileSync(path, "utf8");
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.length === 0) continue;
      try {
        records.push(JSON.parse(line) as LogRecord);
      } catch {
        tornLines += 1;
      }
    }
  }
  return { records, tornLines };
}
