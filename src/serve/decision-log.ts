import {
  close, closeSync, constants as fsConstants, fdatasync, fdatasyncSync, fstatSync, fsyncSync, ftruncate, ftruncateSync, mkdirSync, open, openSync,
  readdirSync, readFileSync, readSync, renameSync, rmSync, write, writeFileSync, writeSync,
} from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import { ServeError } from "./errors.js";

/**
 * The decision log: append-only JSONL segments with group commit. Records appended during one turn of the event
 * loop form a batch; a batch is written durably as one unit (O_DSYNC, or write + fdatasync), and every `append`
 * promise in it resolves only then, in batch order. The service answers a request only after its record's
 * promise resolves, so an answered decision survives `kill -9` (and, with `durable`, power loss). A crash can
 * leave a torn last line in the newest segment: it belonged to an unanswered request. A restart first recovers
 * the segments a crashed process left (see `recoverDecisionLog`), then opens a fresh segment; a preallocated one the
 * crashed process had zero-filled and never used is renamed and reused instead of zero-filling another.
 *
 * By default (`preallocate`) segments are created zero-filled to `maxSegmentBytes` and overwritten in place, so a
 * synchronous write needs no file-size journal commit (the WAL trick; 15% to several times faster per write here,
 * noisy). A preallocated segment is cut to its written length when it is rotated away from or the log closes, but
 * while live it has a zero tail and a constant size: readers stop at the first NUL byte (readDecisionLog, the
 * monitor's DecisionLogTail and readDecisionWindow do; no record contains one). The next preallocated segment is
 * zero-filled in the background. With `preallocate: false` segments grow by appending instead.
 *
 * One log directory belongs to one service process at a time (replicas each get their own directory).
 *
 * Segment names sort by creation time: `decisions-<ms since epoch, 13 digits>-<pid>-<seq>.jsonl`.
 */
export interface DecisionLogOptions {
  dir: string;
  /** Rotate to a new segment before a batch would take it past this many bytes. */
  maxSegmentBytes?: number;
  /** fdatasync each batch before resolving it (default true). Only tests of other concerns turn it off. */
  durable?: boolean;
  /** Zero-fill segments up front and overwrite them in place (default on; see above for what readers must do). */
  preallocate?: boolean;
  /**
   * Group-commit window: wait this long after the first record of an idle log before writing, so more records
   * share one fdatasync (like PostgreSQL's commit_delay). 0 writes on the next turn of the event loop.
   */
  commitDelayMs?: number;
  /**
   * Batch writes in flight at once (default 2). 1 is classic group commit: the next batch grows while a write is in
   * flight. More lets a batch start while earlier ones are still being made durable (pipelining).
   */
  maxWritesInFlight?: number;
  /**
   * A write beyond the first starts only once the oldest write in flight has taken this long (default 1 ms; 0
   * pipelines at once). A quick disk thus gets classic group commit, with larger batches and fewer synchronous
   * writes (each costs a thread-pool round trip and a device cache flush), and a stalled one still gets
   * `maxWritesInFlight` writes in flight.
   */
  overlapAfterMs?: number;
  /** Called per durable batch with its record count and its issue-to-durable time in seconds (for metrics). */
  onBatch?: (records: number, seconds: number) => void;
}

interface Batch {
  lines: string[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Segment {
  fd: number;
  path: string;
  /** Writes issued and not yet completed. */
  pendingWrites: number;
  /** Rotated away from; truncated to `length` and closed once its last write completes. */
  retired: boolean;
  /** Bytes reserved for records so far (the written length once no write is pending). */
  length: number;
}

interface WrittenBatch {
  batch: Batch;
  /** On disk (durable) or written (otherwise). */
  done: boolean;
  /** performance.now() when its write was issued. */
  started: number;
}

/**
 * Batch writes in flight at once. Durable segments are opened O_DSYNC, so a write completes only once its data is
 * on disk: one thread-pool round trip per batch instead of a write and then an fdatasync. Several may be in flight
 * (appended with O_APPEND, or at reserved offsets in preallocated segments); batches still resolve in order, so no
 * answered decision can depend on an earlier batch that a crash lost.
 */
const DEFAULT_MAX_WRITES = 2;
const DEFAULT_OVERLAP_AFTER_MS = 1;

/** Segments created by this process so far (the last part of a segment's name). */
let segmentSeq = 0;
/** O_DSYNC where the platform has it; elsewhere each write is followed by an fdatasync. */
const DSYNC_FLAG = fsConstants.O_DSYNC;
const ZERO_CHUNK = 1 << 20;
/** Segments open for writing in this process (recovery leaves them alone). */
const openSegments = new Set<string>();
const openAsync = promisify(open);
const fdatasyncAsync = promisify(fdatasync);
function writeAsync(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buffer, offset, length, position, (error, written) => (error ? reject(error) : resolve(written))));
}

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
  private readonly preallocate: boolean;
  private readonly commitDelayMs: number;
  private readonly maxWrites: number;
  private readonly overlapAfterMs: number;
  /** Wakes `flush` once the oldest write in flight has been out for `overlapAfterMs`. */
  private overlapTimer: NodeJS.Timeout | null = null;
  private readonly onBatch: ((records: number, seconds: number) => void) | undefined;
  private segment: Segment;
  /** Write position in the current segment. */
  private offset = 0;
  /** A zero-filled segment made ready in the background, and the promise of the one being made. */
  private next: Segment | null = null;
  private preparing: Promise<void> | null = null;
  private discardPrepared = false;
  private current: Batch = newBatch();
  private writesInFlight = 0;
  /** Batches issued and not yet resolved, in order. */
  private readonly unsynced: WrittenBatch[] = [];
  private scheduled = false;
  private closed = false;
  private failure: Error | null = null;
  /** Totals since open, for metrics. */
  readonly stats = { records: 0, batches: 0, bytes: 0, segments: 0 };
  /** What opening the log recovered from segments a crashed process left behind. */
  readonly recovered: RecoveryReport;

  constructor(options: DecisionLogOptions) {
    this.dir = options.dir;
    this.maxSegmentBytes = options.maxSegmentBytes ?? 32 * 1024 * 1024;
    this.durable = options.durable ?? true;
    this.preallocate = options.preallocate ?? true;
    this.commitDelayMs = options.commitDelayMs ?? 0;
    this.maxWrites = Math.max(1, Math.floor(options.maxWritesInFlight ?? DEFAULT_MAX_WRITES));
    this.overlapAfterMs = Math.max(0, options.overlapAfterMs ?? DEFAULT_OVERLAP_AFTER_MS);
    this.onBatch = options.onBatch;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, "schema.json"), JSON.stringify(decisionLogSchema, null, 2) + "\n");
    const { report, unused } = recoverSegments(this.dir, this.preallocate ? this.maxSegmentBytes : 0);
    this.recovered = report;
    this.segment = unused ? this.reuseSegmentSync(unused) : this.createSegmentSync();
  }

  /** Path of the segment being written. */
  get segmentPath(): string {
    return this.segment.path;
  }

  private nextSegmentPath(): string {
    // The sequence counts segments of the whole process, so two logs opened within one millisecond (a restart in
    // the same process) never pick the same name.
    segmentSeq += 1;
    const name = `decisions-${String(Date.now()).padStart(13, "0")}-${process.pid}-${String(segmentSeq).padStart(4, "0")}.jsonl`;
    return join(this.dir, name);
  }

  private syncDirectory(): void {
    if (!this.durable) return;
    // The new directory entry must survive a crash too.
    const dirFd = openSync(this.dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }

  private createSegmentSync(): Segment {
    const path = this.nextSegmentPath();
    let fd = openSync(path, "wx");
    if (this.preallocate) {
      const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, this.maxSegmentBytes));
      for (let done = 0; done < this.maxSegmentBytes; ) {
        const count = Math.min(zeros.length, this.maxSegmentBytes - done);
        done += writeSync(fd, zeros, 0, count, done);
      }
      fdatasyncSync(fd);
    }
    if (!this.preallocate || (this.durable && DSYNC_FLAG !== undefined)) {
      closeSync(fd);
      fd = openSync(path, this.writeFlags());
    }
    this.syncDirectory();
    this.stats.segments += 1;
    openSegments.add(path);
    return { fd, path, pendingWrites: 0, retired: false, length: 0 };
  }

  /** Takes over a zero-filled segment of the right size that a crashed process never wrote to, under a new name. */
  private reuseSegmentSync(unused: string): Segment {
    const path = this.nextSegmentPath();
    renameSync(unused, path);
    const fd = openSync(path, this.writeFlags());
    this.syncDirectory();
    this.stats.segments += 1;
    openSegments.add(path);
    return { fd, path, pendingWrites: 0, retired: false, length: 0 };
  }

  /**
   * Appended segments are opened O_APPEND: concurrent batch writes land one after another in completion order, so
   * the file never has a hole (a later batch written before an earlier one at a reserved offset would leave zeros
   * that a reader following the file could pass over). Preallocated segments are overwritten at reserved offsets.
   */
  private writeFlags(): number {
    let flags = fsConstants.O_WRONLY;
    if (!this.preallocate) flags |= fsConstants.O_APPEND;
    if (this.durable && DSYNC_FLAG !== undefined) flags |= DSYNC_FLAG;
    return flags;
  }

  /** Zero-fills the next segment without blocking the event loop. */
  private prepareNext(): void {
    if (!this.preallocate || this.next || this.preparing || this.closed) return;
    const path = this.nextSegmentPath();
    openSegments.add(path);
    this.preparing = (async () => {
      let fd = await openAsync(path, "wx");
      try {
        const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, this.maxSegmentBytes));
        for (let done = 0; done < this.maxSegmentBytes; ) {
          done += await writeAsync(fd, zeros, 0, Math.min(zeros.length, this.maxSegmentBytes - done), done);
        }
        await fdatasyncAsync(fd);
        if (this.durable && DSYNC_FLAG !== undefined) {
          close(fd, () => undefined);
          fd = await openAsync(path, this.writeFlags());
        }
        this.syncDirectory();
      } catch (error) {
        close(fd, () => undefined);
        throw error;
      }
      if (this.discardPrepared || this.closed) {
        // A segment was created synchronously meanwhile; this one is named earlier and would sort out of order.
        this.discardPrepared = false;
        close(fd, () => undefined);
        rmSync(path, { force: true });
        openSegments.delete(path);
        return;
      }
      this.next = { fd, path, pendingWrites: 0, retired: false, length: 0 };
    })()
      .catch(() => {
        openSegments.delete(path);
      })
      .finally(() => {
        this.preparing = null;
      });
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
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.commitDelayMs > 0) setTimeout(() => this.flush(), this.commitDelayMs);
      else setImmediate(() => this.flush());
    }
    return batch.promise;
  }

  /** Writes the queued records as one batch at a reserved offset; called once per event-loop turn with records. */
  private flush(): void {
    this.scheduled = false;
    if (this.failure || this.writesInFlight >= this.maxWrites || this.current.lines.length === 0) return;
    if (this.writesInFlight > 0 && this.overlapAfterMs > 0) {
      const waited = performance.now() - this.unsynced[0].started;
      if (waited < this.overlapAfterMs) return this.armOverlap(this.overlapAfterMs - waited);
    }
    const batch = this.current;
    this.current = newBatch();
    const buffer = Buffer.from(batch.lines.join("\n") + "\n", "utf8");
    if (this.offset > 0 && this.offset + buffer.length > this.maxSegmentBytes) {
      try {
        this.rotate();
      } catch (error) {
        return this.fail(error as Error, batch);
      }
    }
    const segment = this.segment;
    const position = this.offset;
    this.offset += buffer.length;
    segment.length = this.offset;
    const started = performance.now();
    const written: WrittenBatch = { batch, done: false, started };
    this.unsynced.push(written);
    this.writesInFlight += 1;
    segment.pendingWrites += 1;
    const complete = (error: Error | null): void => {
      this.writesInFlight -= 1;
      segment.pendingWrites -= 1;
      if (error) return this.fail(error, null);
      this.stats.records += batch.lines.length;
      this.stats.batches += 1;
      this.stats.bytes += buffer.length;
      if (this.durable) this.onBatch?.(batch.lines.length, (performance.now() - started) / 1000);
      written.done = true;
      this.resolveSynced();
      if (segment.retired && segment.pendingWrites === 0) this.closeSegment(segment);
      if (this.offset * 2 > this.maxSegmentBytes) this.prepareNext();
      // The queued batch goes now (or waits on the next write in flight): no wake-up for a write that is done.
      if (this.overlapTimer) {
        clearTimeout(this.overlapTimer);
        this.overlapTimer = null;
      }
      if (this.current.lines.length > 0 && !this.scheduled) this.flush();
    };
    const writeFrom = (done: number): void => {
      write(segment.fd, buffer, done, buffer.length - done, this.preallocate ? position + done : null, (error, count) => {
        if (error) return complete(error);
        if (done + count < buffer.length) {
          // Appending the rest could interleave with another batch: a short write fails the log instead.
          if (!this.preallocate) return complete(new Error(`short write to ${segment.path} (${done + count} of ${buffer.length} bytes)`));
          return writeFrom(done + count);
        }
        if (this.durable && DSYNC_FLAG === undefined) return fdatasync(segment.fd, (syncError) => complete(syncError));
        complete(null);
      });
    };
    writeFrom(0);
  }

  /** Calls `flush` in `delayMs`: the write in flight is young, so the queued batch keeps growing until then. */
  private armOverlap(delayMs: number): void {
    if (this.overlapTimer) return;
    this.overlapTimer = setTimeout(() => {
      this.overlapTimer = null;
      if (!this.scheduled) this.flush();
    }, delayMs);
  }

  private resolveSynced(): void {
    while (this.unsynced.length > 0 && this.unsynced[0].done) this.unsynced.shift()!.batch.resolve();
  }

  private fail(error: Error, batch: Batch | null): void {
    this.failure = error;
    const coded = new ServeError("log_unavailable", error.message);
    batch?.reject(coded);
    for (const entry of this.unsynced.splice(0)) entry.batch.reject(coded);
    this.current.reject(coded);
  }

  private rotate(): void {
    const old = this.segment;
    const next = this.next;
    this.next = null;
    if (!next && this.preparing) this.discardPrepared = true;
    this.segment = next ?? this.createSegmentSync();
    if (next) this.stats.segments += 1;
    this.offset = 0;
    old.retired = true;
    if (old.pendingWrites === 0) this.closeSegment(old);
  }

  /** Cuts a finished segment's zero tail off (a crash before this is repaired on the next open), then closes it. */
  private closeSegment(segment: Segment): void {
    openSegments.delete(segment.path);
    if (!this.preallocate) return close(segment.fd, () => undefined);
    ftruncate(segment.fd, segment.length, () => close(segment.fd, () => undefined));
  }

  /** Flushes what is queued, then closes the segment; an unused prepared segment is removed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (!this.failure && (this.current.lines.length > 0 || this.writesInFlight > 0 || this.unsynced.length > 0)) {
      if (this.current.lines.length > 0 && !this.scheduled) this.flush();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (this.overlapTimer) clearTimeout(this.overlapTimer);
    this.overlapTimer = null;
    await this.preparing;
    if (this.preallocate && !this.failure) ftruncateSync(this.segment.fd, this.segment.length);
    closeSync(this.segment.fd);
    openSegments.delete(this.segment.path);
    // A segment that never received a record is not left behind (restarts would accumulate empty files).
    if (this.segment.length === 0 && !this.failure) rmSync(this.segment.path, { force: true });
    if (this.next) {
      close(this.next.fd, () => undefined);
      rmSync(this.next.path, { force: true });
      openSegments.delete(this.next.path);
      this.next = null;
    }
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
  /** Shadows that failed on this state (they have no entry in `shadows`). */
  shadowErrors?: Array<{ version: string; error: string }>;
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

const featureNamesJson = new WeakMap<string[], string>();

/**
 * `JSON.stringify(record)` for a decision record, written out for its fixed shape (the per-decision hot path):
 * same keys in the same order, free text through JSON.stringify, the feature-name list encoded once per array.
 * `stateText`, when given, is written for `state` as it is: JSON text of the same numbers (the client's own, e.g.
 * `numberArrayText` of the request body), so the line parses to the same record.
 */
export function serializeDecisionRecord(record: DecisionRecord, stateText?: string): string {
  let names = featureNamesJson.get(record.featureNames);
  if (names === undefined) {
    names = JSON.stringify(record.featureNames);
    featureNamesJson.set(record.featureNames, names);
  }
  let state = stateText;
  if (state === undefined) {
    state = "[";
    for (let j = 0; j < record.state.length; j++) {
      const value = record.state[j];
      state += (j > 0 ? "," : "") + (value === null || !Number.isFinite(value) ? "null" : String(value));
    }
    state += "]";
  }
  const action = record.action;
  const actionText = typeof action === "number" ? numberJson(action) : `[${action.map(numberJson).join(",")}]`;
  let text =
    `{"kind":"decision","id":${JSON.stringify(record.id)},"ts":${numberJson(record.ts)},"deployment":${JSON.stringify(record.deployment)}` +
    `,"routingKey":${JSON.stringify(record.routingKey)},"route":"${record.route}","policyVersion":${JSON.stringify(record.policyVersion)}` +
    `,"featureNames":${names},"state":${state},"action":${actionText},"probability":${numberJson(record.probability)}` +
    `,"latencyUs":${numberJson(record.latencyUs)},"safety":${record.safety.length === 0 ? "[]" : JSON.stringify(record.safety)}`;
  if (record.episodeId !== undefined) text += `,"episodeId":${JSON.stringify(record.episodeId)}`;
  if (record.step !== undefined) text += `,"step":${numberJson(record.step)}`;
  if (record.logDensity !== undefined) text += `,"logDensity":${numberJson(record.logDensity)}`;
  if (record.fallbackReason !== undefined) text += `,"fallbackReason":${JSON.stringify(record.fallbackReason)}`;
  if (record.shadows !== undefined) text += `,"shadows":${JSON.stringify(record.shadows)}`;
  if (record.shadowErrors !== undefined) text += `,"shadowErrors":${JSON.stringify(record.shadowErrors)}`;
  return text + "}";
}

function numberJson(value: number): string {
  return Number.isFinite(value) ? String(value) : "null";
}

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
        shadowErrors: "array of {version, error}, optional; shadows that failed on this state (not in shadows)",
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

export interface RecoveryReport {
  /** Segments cut back to their last complete record. */
  segments: string[];
  /** Segments that held no complete record (e.g. a prepared, unused one) and were removed. */
  removed: string[];
  /** Bytes cut off: zero tails plus torn records of unanswered requests. */
  bytesDropped: number;
}

/**
 * Repairs the segments a crashed writer left: each segment still ending in zeros (preallocated) or in a partial line
 * is truncated after its last complete record (a torn line and anything behind the first zero byte belonged to requests that were
 * never answered, because batches resolve in order), and one without any complete record is removed. Segments of
 * another live process (by the pid in the name) and segments open in this process are left alone.
 */
export function recoverDecisionLog(dir: string): RecoveryReport {
  return recoverSegments(dir, 0).report;
}

/**
 * Recovery as above; with `reuseBytes` > 0, the first segment without any record that is exactly that long and all
 * zeros (a preallocated segment prepared but never written) is kept, not removed, and returned for reuse.
 */
function recoverSegments(dir: string, reuseBytes: number): { report: RecoveryReport; unused: string | null } {
  const report: RecoveryReport = { segments: [], removed: [], bytesDropped: 0 };
  let unused: string | null = null;
  for (const path of decisionLogSegments(dir)) {
    const pid = Number(/-(\d+)-\d+\.jsonl$/.exec(path)?.[1]);
    if (openSegments.has(path)) continue;
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue;
    const fd = openSync(path, "r+");
    try {
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      // A clean segment ends with a newline; one ending in zeros or in a partial line is repaired.
      if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] === 0x0a) continue;
      const bytes = readFileSync(fd);
      const firstZero = bytes.indexOf(0);
      const scanEnd = firstZero < 0 ? bytes.length : firstZero;
      const end = scanEnd === 0 ? 0 : bytes.lastIndexOf(0x0a, scanEnd - 1) + 1;
      if (end === 0 && unused === null && reuseBytes > 0 && size === reuseBytes && allZero(bytes)) {
        unused = path;
        continue;
      }
      report.bytesDropped += size - end;
      if (end === 0) {
        report.removed.push(path);
      } else {
        ftruncateSync(fd, end);
        fdatasyncSync(fd);
        report.segments.push(path);
      }
    } finally {
      closeSync(fd);
    }
  }
  for (const path of report.removed) rmSync(path, { force: true });
  return { report, unused };
}

function allZero(bytes: Buffer): boolean {
  const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, bytes.length));
  for (let start = 0; start < bytes.length; start += zeros.length) {
    const end = Math.min(bytes.length, start + zeros.length);
    if (bytes.compare(zeros, 0, end - start, start, end) !== 0) return false;
  }
  return true;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

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
    const raw = readFileSync(path, "utf8");
    // Preallocated segments are zero-filled past the last record.
    const end = raw.indexOf("\u0000");
    const text = end >= 0 ? raw.slice(0, end) : raw;
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
