import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InflowError } from '@inflow/core';
import type { Pipelines, RecordPipeline } from '../datasets/pipeline.js';
import {
  type DatasetWriter,
  type LandRequest,
  type OpenBatch,
  openBatch,
  type RecordFailure,
  ROW_GROUP_ROWS,
  SCHEMA_MISMATCH_CODE,
} from '../datasets/writer.js';
import { mkdirDurable, syncDir } from '../durable-dirs.js';
import { FlowProblem } from '../errors.js';
import type { Scope } from '../store/resources.js';
import { XdmProblem } from '../xdm/schema-registry.js';
import { decodeEntry, decodeHeader, type EntryHeader, type LoggedMessage, messageCount } from './entry.js';
import { type ConsumableLog, LogCorruptError, type LogEntry } from './log.js';

/**
 * The streaming consumer: tails the log from its checkpoint, runs each message through its
 * pipeline (the flow's mapping set for raw JSON, the dataset's schema for XDM envelopes) and
 * lands micro-batches per dataset with `DatasetWriter.land`.
 *
 * Exactly once: before landing the range `[from, to)` the checkpoint records it as in flight;
 * each batch is landed under a key derived from the log id and the range, so after a crash the
 * same range is landed again under the same keys (the writer returns the batch already landed)
 * and only then does the checkpoint move to `to`.
 *
 * A range that fails to land `SPLIT_AFTER` times in a row is landed piece by piece (`landSplit`):
 * one record the dataset cannot store must not stop landing for every inlet. What still fails on
 * its own goes to the dataset's error batch with the reason (or the dead-letter folder), and the
 * checkpoint moves on.
 */

export interface ConsumerOptions {
  /** Land at the latest this long after a message was acked. Default 500 ms (≤ 1 s). */
  flushMs?: number;
  /** Land at once when this many messages wait; also the most one micro-batch takes. Default 10,000. */
  batchRecords?: number;
  /** Log for problems the consumer cannot report to a caller. */
  warn?: (message: string, detail?: Record<string, unknown>) => void;
  /** Log for the error that stops the consumer for good (defaults to `warn`). */
  error?: (message: string, detail?: Record<string, unknown>) => void;
  /** Called after each micro-batch lands and the checkpoint moves (a worker reports it to its parent). */
  onProgress?: () => void;
}

export interface ConsumerDeps {
  log: ConsumableLog;
  /** Where the checkpoint and the dead-letter file live. */
  dir: string;
  pipelines: () => Pipelines;
  datasets: () => DatasetWriter;
}

interface Checkpoint {
  logId: string;
  /** Everything before this offset has landed. */
  offset: number;
  /** A range being landed: after a crash, land exactly `[offset, inFlight)` again. */
  inFlight?: number;
  /**
   * The in-flight range is being landed piece by piece; which pieces failed is in its marks file
   * (`split/{logId}-{from}-{to}.jsonl`). After a crash it is landed the same way again.
   */
  split?: true;
}

/** Reads a checkpoint file's text; throws when it is not one this consumer wrote. */
function parseCheckpoint(text: string): Checkpoint {
  const value = JSON.parse(text) as Partial<Checkpoint> | null;
  const offset = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.logId !== 'string' ||
    !offset(value.offset) ||
    (value.inFlight !== undefined &&
      !(offset(value.inFlight) && (value.inFlight as number) >= (value.offset as number))) ||
    (value.split !== undefined && value.split !== true)
  ) {
    throw new Error('it is not {logId, offset, inFlight?, split?}');
  }
  return value as Checkpoint;
}

export interface ConsumerStats {
  /** Messages that went through a pipeline (landed as records or as failures). */
  consumed: number;
  landedRecords: number;
  failedRecords: number;
  batches: number;
  deadLettered: number;
  duplicates: number;
  /** Ranges that failed whole `SPLIT_AFTER` times and were landed piece by piece. */
  splitRanges: number;
  /** Records the dataset would not store even alone: in its error batch (or dead-lettered) with the reason. */
  unlandable: number;
}

/** Failed attempts at landing one range before it is landed piece by piece. */
export const SPLIT_AFTER = 3;
/** Reasons are kept this long in marks and error files. */
const REASON_CHARS = 500;

/** One group of a range: the messages that land in one dataset through one inlet (and flow). */
interface Group {
  /** The group's stable identity in the range: org, sandbox, dataset, inlet, flow. */
  key: string;
  request: LandRequest;
  /** The xactionId of each of `request.records`. */
  ids: string[];
}

const messageOf = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).slice(0, REASON_CHARS);

/** Errors that retrying will not fix: the flow, dataset or schema is gone or broken. */
function isPermanent(error: unknown): boolean {
  if (error instanceof FlowProblem) return error.status < 500;
  if (error instanceof XdmProblem) return error.status < 500;
  return InflowError.isInstance(error);
}

const DEDUPE_WINDOW = 200_000;

/** Counters at zero: a consumer's, and its worker front's until the first report. */
export function emptyConsumerStats(): ConsumerStats {
  return {
    consumed: 0,
    landedRecords: 0,
    failedRecords: 0,
    batches: 0,
    deadLettered: 0,
    duplicates: 0,
    splitRanges: 0,
    unlandable: 0,
  };
}

/** A message's pipeline and the dataset it lands in. */
interface Resolved {
  datasetId: string;
  pipeline: RecordPipeline;
}

/** Where a message lands, or why it cannot (the dead-letter reason). */
type Destination = { resolved: Resolved; group: Group } | { dead: string };

/** A range's routing so far: its groups, the pipelines found, what has nowhere to land. */
interface Routing {
  range: string;
  keyPrefix: string;
  groups: Map<string, Group>;
  pipelines: Map<string, Resolved | Error>;
  dead: { message: LoggedMessage; reason: string }[];
  /** The xactionIds routed in the range (duplicates aside). */
  ids: Set<string>;
  /** Messages that went through a pipeline, and duplicates skipped: added to the stats once the range lands. */
  consumed: number;
  duplicates: number;
  /** The message before and where it went, for a run of messages to the same place (the usual case). */
  last: { m: LoggedMessage; dest: Destination } | undefined;
}

/**
 * A range that lands whole is decoded, routed and handed to its batches this many messages (or
 * frame bytes) at a time, each piece a Parquet row group: a micro-batch of large messages holds
 * one piece's records at a time, not all of them until the last is encoded.
 */
const CHUNK_MESSAGES = ROW_GROUP_ROWS;
const CHUNK_BYTES = 8 * 1024 * 1024;

/** Whether two messages land in the same place (the same group, through the same pipeline). */
function sameDestination(a: LoggedMessage, b: LoggedMessage): boolean {
  return (
    a.orgId === b.orgId &&
    a.sandbox === b.sandbox &&
    a.flowId === b.flowId &&
    a.datasetId === b.datasetId &&
    a.inletId === b.inletId
  );
}

/** A frame read from the log, with its header parsed. */
interface Frame {
  entry: LogEntry;
  header: EntryHeader;
}

/** A micro-batch's frames take at most about this many bytes (at least one frame), whatever their count. */
const BATCH_BYTES = 64 * 1024 * 1024;

/**
 * What the size trigger has read past the checkpoint: `frames` up to `end`, holding `count`
 * messages in `bytes` bytes.
 */
interface Scan {
  end: number;
  count: number;
  bytes: number;
  frames: Frame[];
}

/** The scan once everything before `to` has landed: the frames after it, counted again. */
function scanPast(scan: Scan, to: number): Scan {
  if (scan.end <= to) return { end: to, count: 0, bytes: 0, frames: [] };
  const frames = scan.frames.filter((f) => f.entry.offset >= to);
  let count = 0;
  let bytes = 0;
  for (const f of frames) {
    count += messageCount(f.header);
    bytes += f.entry.end - f.entry.offset;
  }
  return { end: scan.end, count, bytes, frames };
}

/** What the dataset writer threw while a range landed whole (see `landWhole`). */
class LandFailed extends Error {
  constructor(override readonly cause: unknown) {
    super(messageOf(cause));
  }
}

/** Runs a step of landing; what it throws comes as a `LandFailed`. */
async function landing<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new LandFailed(error);
  }
}

function newRouting(range: string, keyPrefix: string): Routing {
  return {
    range,
    keyPrefix,
    groups: new Map(),
    pipelines: new Map(),
    dead: [],
    ids: new Set(),
    consumed: 0,
    duplicates: 0,
    last: undefined,
  };
}

export class StreamConsumer {
  readonly stats: ConsumerStats = emptyConsumerStats();
  /**
   * What the range being landed has dead-lettered (per dead-letter file) and found unlandable:
   * added to `stats` once its checkpoint moves, as `consumed` is. An attempt that fails after
   * keeping them is tried again, or split, and keeps them again: the file is rewritten, not
   * appended to, so its count is set, not added.
   */
  private rangeKept = { deadLettered: new Map<string, number>(), unlandable: 0 };
  private readonly flushMs: number;
  private readonly batchRecords: number;
  private checkpoint: Checkpoint = { logId: '', offset: 0 };
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Messages waiting beyond the checkpoint (approximate: from the frames' headers). */
  private waitingSince: number | undefined;
  private readonly seen = new Set<string>();
  /**
   * The frames the size trigger has read past the checkpoint, up to `end`, with their headers and
   * message count: the next micro-batch takes them as they are instead of reading them again.
   */
  private scan: Scan = { end: 0, count: 0, bytes: 0, frames: [] };
  private idleWaiters: (() => void)[] = [];
  /** Failed attempts at landing the range `[from, to)` in a row. */
  private attempts = { from: -1, to: -1, count: 0 };
  /** The pieces of the range being split that failed, by key, with the reason (its marks file). */
  private marks: { range: string; failed: Map<string, string> } | undefined;
  private failure: string | undefined;

  constructor(
    private readonly deps: ConsumerDeps,
    private readonly options: ConsumerOptions = {},
  ) {
    this.flushMs = Math.min(options.flushMs ?? 500, 1000);
    this.batchRecords = options.batchRecords ?? 10_000;
  }

  private get checkpointFile(): string {
    return join(this.deps.dir, 'consumer.checkpoint.json');
  }

  /**
   * Where messages go that have no dataset left to land in (the flow or dataset was deleted): one
   * JSON-lines file per log range, so landing a range again after a crash rewrites the same file.
   */
  get deadLetterDir(): string {
    return join(this.deps.dir, 'dead-letter');
  }

  private get splitDir(): string {
    return join(this.deps.dir, 'split');
  }

  /** The offset everything before which has landed. */
  get committedOffset(): number {
    return this.checkpoint.offset;
  }

  /**
   * Why the consumer stopped for good, if it did: a checkpoint it cannot read or trust, or a log
   * whose bytes are not what was written. Nothing is landed after that (acks still go to the log):
   * landing from a guessed position would land acknowledged messages twice or not at all.
   */
  get fault(): string | undefined {
    return this.failure;
  }

  /** Reads the checkpoint and starts tailing the log (or records a `fault` and does not start). */
  async start(): Promise<void> {
    const log = this.deps.log;
    const file = this.checkpointFile;
    let saved: Checkpoint | undefined;
    try {
      saved = parseCheckpoint(await readFile(file, 'utf8'));
    } catch (error) {
      // Only a missing file means a fresh consumer: anything else read as "fresh" would land the
      // whole retained log again under new keys.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.fail(
          `the streaming checkpoint ${file} cannot be used (${messageOf(error)}): the consumer is stopped ` +
            'and nothing is landed until it is restored or removed (removing it lands the whole retained log again)',
          { file },
        );
        return;
      }
    }
    this.checkpoint = saved ?? { logId: log.id, offset: log.startOffset };
    if (this.checkpoint.logId !== log.id) {
      this.warn('the streaming checkpoint belongs to another log: consuming this one from its start', {
        checkpointLog: this.checkpoint.logId,
        log: log.id,
      });
      this.checkpoint = { logId: log.id, offset: log.startOffset };
    }
    const { offset, inFlight } = this.checkpoint;
    if (offset > log.durableEnd || (inFlight !== undefined && inFlight > log.durableEnd)) {
      // Landed (or being landed) past what the log holds: the log lost synced frames, or it is
      // not the log the checkpoint was written for.
      this.fail(
        `the streaming checkpoint ${file} is beyond the end of the log (${inFlight ?? offset} > ${log.durableEnd}): ` +
          'the consumer is stopped; the log is not the one it consumed',
        { file, ...this.checkpoint, durableEnd: log.durableEnd },
      );
      return;
    }
    if (offset < log.startOffset) {
      this.warn(
        'the streaming log no longer holds the frames after the checkpoint: they were deleted unconsumed',
        {
          checkpoint: offset,
          startOffset: log.startOffset,
        },
      );
      this.checkpoint = { logId: log.id, offset: log.startOffset };
    }
    await this.removeStaleMarks();
    this.unsubscribe = log.onDurable(() => {
      this.waitingSince ??= Date.now();
      this.wake?.();
    });
    if (log.durableEnd > this.checkpoint.offset) this.waitingSince = Date.now();
    this.running = this.loop();
  }

  /** Stops after the micro-batch in progress (what is not landed stays in the log). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.wake?.();
    await this.running;
  }

  /** Resolves once everything durable in the log now has landed (or the consumer stopped). */
  idle(): Promise<void> {
    const target = this.deps.log.durableEnd;
    return new Promise((resolve) => {
      const check = () => {
        if (this.stopped || this.checkpoint.offset >= target) {
          resolve();
          return true;
        }
        return false;
      };
      if (check()) return;
      const waiter = () => {
        if (!check()) this.idleWaiters.push(waiter);
      };
      this.idleWaiters.push(waiter);
    });
  }

  private warn(message: string, detail?: Record<string, unknown>): void {
    this.options.warn?.(message, detail);
  }

  /** Stops the consumer for good with `message` (see `fault`). */
  private fail(message: string, detail?: Record<string, unknown>): void {
    this.failure = message;
    this.stopped = true;
    (this.options.error ?? this.options.warn)?.(message, detail);
    this.notifyIdle();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const log = this.deps.log;
      const inFlight = this.checkpoint.inFlight;
      if (inFlight === undefined) {
        if (log.durableEnd <= this.checkpoint.offset) {
          this.waitingSince = undefined;
          this.notifyIdle();
          await this.sleep(60_000);
          continue;
        }
      }
      try {
        if (inFlight === undefined) {
          const since = this.waitingSince ?? Date.now();
          this.waitingSince = since;
          const due = since + this.flushMs - Date.now();
          // A full micro-batch by size goes at once; otherwise wait out the time trigger.
          if (due > 0 && !(await this.hasFullBatch())) {
            await this.sleep(due);
            continue;
          }
        }
        await this.consumeOnce();
        failures = 0;
      } catch (error) {
        if (error instanceof LogCorruptError) {
          this.fail(`the streaming log is corrupt: ${error.message}; the consumer is stopped`, {
            checkpoint: this.checkpoint.offset,
          });
          break;
        }
        failures++;
        const delay = Math.min(100 * 2 ** failures, 10_000);
        this.warn('landing streamed records failed; retrying', {
          error: error instanceof Error ? error.message : String(error),
          retryInMs: delay,
        });
        if (!this.stopped) await this.sleep(delay);
      }
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Whether a micro-batch is full (`batchRecords` messages, or `BATCH_BYTES` of frames): reads only
   * the frames not read before, and keeps them for the batch.
   */
  private async hasFullBatch(): Promise<boolean> {
    if (this.scan.end < this.checkpoint.offset) {
      this.scan = { end: this.checkpoint.offset, count: 0, bytes: 0, frames: [] };
    }
    const scan = this.scan;
    const full = () => scan.count >= this.batchRecords || scan.bytes >= BATCH_BYTES;
    if (full()) return true;
    await this.deps.log.read(scan.end, BATCH_BYTES - scan.bytes, (entry) => {
      const frame = { entry, header: decodeHeader(entry.payload) };
      scan.frames.push(frame);
      scan.end = entry.end;
      scan.count += messageCount(frame.header);
      scan.bytes += entry.end - entry.offset;
      return full();
    });
    return full();
  }

  /**
   * The next micro-batch's frames from the checkpoint on: those the size trigger read, then more
   * from the log until `batchRecords` messages or `BATCH_BYTES` (or the durable end).
   */
  private async nextFrames(from: number): Promise<Frame[]> {
    const frames: Frame[] = [];
    let count = 0;
    let bytes = 0;
    let next = from;
    const take = (frame: Frame): boolean => {
      frames.push(frame);
      next = frame.entry.end;
      count += messageCount(frame.header);
      bytes += frame.entry.end - frame.entry.offset;
      return count >= this.batchRecords || bytes >= BATCH_BYTES;
    };
    const scanned = this.scan.frames;
    if (scanned.length > 0 && (scanned[0] as Frame).entry.offset === from) {
      for (const frame of scanned) if (take(frame)) return frames;
    }
    if (next < this.deps.log.durableEnd) {
      await this.deps.log.read(next, BATCH_BYTES - bytes, (entry) =>
        take({ entry, header: decodeHeader(entry.payload) }),
      );
    }
    return frames;
  }

  /** Lands one micro-batch: the in-flight range if there is one, else the next (see `nextFrames`). */
  private async consumeOnce(): Promise<void> {
    const log = this.deps.log;
    this.rangeKept = { deadLettered: new Map(), unlandable: 0 };
    const from = this.checkpoint.offset;
    const inFlight = this.checkpoint.inFlight;
    const frames =
      inFlight !== undefined
        ? (await log.read(from, Number.POSITIVE_INFINITY, (e) => e.end >= inFlight)).map((entry) => ({
            entry,
            header: decodeHeader(entry.payload),
          }))
        : await this.nextFrames(from);
    if (frames.length === 0) {
      if (inFlight !== undefined) await this.saveCheckpoint({ logId: log.id, offset: from });
      return;
    }
    const to = (frames[frames.length - 1] as Frame).entry.end;
    if (inFlight === undefined) await this.saveCheckpoint({ logId: log.id, offset: from, inFlight: to });
    this.waitingSince = log.durableEnd > to ? Date.now() : undefined;

    const range = `${log.id}-${from}-${to}`;
    const keyPrefix = `stream:${log.id}:${from}-${to}`;
    const routeAll = () =>
      this.route(
        frames.flatMap((f) => decodeEntry(f.entry.payload, f.header)),
        range,
        keyPrefix,
      );
    let routing: Routing;
    if (this.checkpoint.split) {
      const routed = await routeAll();
      await this.landSplit(routed.groups, range);
      routing = routed.routing;
    } else {
      try {
        routing = await this.landWhole(frames, range, keyPrefix);
      } catch (error) {
        // Only failures to land, in a row, count towards splitting; a routing error (the Catalog
        // away for a moment, say) is retried as it is, and breaks the row.
        if (!(error instanceof LandFailed)) {
          this.attempts = { from: -1, to: -1, count: 0 };
          throw error;
        }
        const same = this.attempts.from === from && this.attempts.to === to;
        this.attempts = { from, to, count: same ? this.attempts.count + 1 : 1 };
        if (this.attempts.count < SPLIT_AFTER) throw error.cause;
        this.warn('a streamed range failed to land again and again: landing it piece by piece', {
          range,
          attempts: this.attempts.count,
          error: messageOf(error.cause),
        });
        await this.saveCheckpoint({ ...this.checkpoint, split: true });
        this.stats.splitRanges++;
        const routed = await routeAll();
        await this.landSplit(routed.groups, range);
        routing = routed.routing;
      }
    }
    this.attempts = { from: -1, to: -1, count: 0 };
    await this.saveCheckpoint({ logId: log.id, offset: to });
    // Counted and remembered once the checkpoint moved: a retry after a failed save lands the
    // range again (finding its batches by key) and would count it as duplicates.
    this.stats.consumed += routing.consumed;
    this.stats.duplicates += routing.duplicates;
    for (const count of this.rangeKept.deadLettered.values()) this.stats.deadLettered += count;
    this.stats.unlandable += this.rangeKept.unlandable;
    for (const id of routing.ids) this.remember(id);
    if (this.marks) {
      this.marks = undefined;
      await rm(join(this.splitDir, `${range}.jsonl`), { force: true });
    }
    this.scan = scanPast(this.scan, to);
    try {
      await log.deleteBefore(to);
    } catch (error) {
      this.warn('could not delete consumed streaming log segments', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    this.options.onProgress?.();
    this.notifyIdle();
  }

  private remember(xactionId: string): void {
    this.seen.add(xactionId);
    if (this.seen.size > DEDUPE_WINDOW) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  /**
   * Where a message lands: its pipeline and its group, each found or made once per range; or,
   * when it has no dataset left to land in, why (it goes to the dead-letter folder).
   */
  private async destination(
    m: LoggedMessage,
    pipelines: Map<string, Resolved | Error>,
    groups: Map<string, Group>,
    keyPrefix: string,
  ): Promise<Destination> {
    const scope: Scope = { orgId: m.orgId, sandbox: m.sandbox };
    const target = m.flowId !== undefined ? `f:${m.flowId}` : `d:${m.datasetId}`;
    const cacheKey = `${m.orgId}\0${m.sandbox}\0${target}`;
    let resolved = pipelines.get(cacheKey);
    if (!resolved) {
      try {
        resolved =
          m.flowId !== undefined
            ? await this.deps.pipelines().forFlow(scope, m.flowId)
            : {
                datasetId: m.datasetId as string,
                pipeline: await this.deps.pipelines().forDataset(scope, m.datasetId as string),
              };
      } catch (error) {
        if (!isPermanent(error)) throw error;
        resolved = error instanceof Error ? error : new Error(String(error));
      }
      pipelines.set(cacheKey, resolved);
    }
    if (resolved instanceof Error) return { dead: resolved.message };
    const groupKey = `${cacheKey}\0${resolved.datasetId}\0${m.inletId}`;
    let group = groups.get(groupKey);
    if (!group) {
      group = {
        // The group's identity, never its position: a message dead-lettered (or a group that
        // fails) on a retry must not move another group's key.
        key: `${keyPrefix}:${m.orgId}:${m.sandbox}:${resolved.datasetId}:${m.inletId}:${m.flowId ?? ''}`,
        ids: [],
        request: {
          scope,
          datasetId: resolved.datasetId,
          records: [],
          failures: [],
          origin: { inletId: m.inletId, ...(m.flowId !== undefined ? { flowId: m.flowId } : {}) },
        },
      };
      groups.set(groupKey, group);
    }
    return { resolved, group };
  }

  /**
   * Groups the messages by where they land, each through its pipeline (deterministic in message
   * order); what has nowhere to land goes to the dead-letter folder.
   */
  private async route(
    messages: LoggedMessage[],
    range: string,
    keyPrefix: string,
  ): Promise<{ groups: Group[]; routing: Routing }> {
    const routing = newRouting(range, keyPrefix);
    await this.routeInto(routing, messages);
    return { groups: await this.routed(routing), routing };
  }

  /** Routes more of a range's messages, in order: each to its group's records or failures. */
  private async routeInto(routing: Routing, messages: LoggedMessage[]): Promise<void> {
    for (const m of messages) {
      if (this.seen.has(m.xactionId) || routing.ids.has(m.xactionId)) {
        routing.duplicates++;
        continue;
      }
      routing.ids.add(m.xactionId);
      let dest: Destination;
      const last = routing.last;
      if (last && sameDestination(last.m, m)) dest = last.dest;
      else {
        dest = await this.destination(m, routing.pipelines, routing.groups, routing.keyPrefix);
        routing.last = { m, dest };
      }
      if ('dead' in dest) {
        routing.dead.push({ message: m, reason: dest.dead });
        continue;
      }
      const { resolved, group } = dest;
      routing.consumed++;
      const record = m.record;
      if (typeof record !== 'object' || record === null || Array.isArray(record)) {
        (group.request.failures as RecordFailure[]).push({
          record,
          reason: 'the message is not a JSON object',
          code: 'INGEST-1555-400',
        });
        continue;
      }
      let outcome: ReturnType<RecordPipeline>;
      try {
        outcome = resolved.pipeline(record as Record<string, unknown>);
      } catch (error) {
        outcome = {
          ok: false,
          failure: { record, reason: error instanceof Error ? error.message : String(error) },
        };
      }
      if (outcome.ok) {
        group.request.records.push(outcome.value);
        group.ids.push(m.xactionId);
      } else (group.request.failures as RecordFailure[]).push(outcome.failure);
    }
  }

  /** A range's groups once all its messages are routed, after its dead letters are kept. */
  private async routed(routing: Routing): Promise<Group[]> {
    if (routing.dead.length > 0) {
      await this.deadLetter(
        routing.dead.map(({ message, reason }) => ({ ...message, reason })),
        routing.range,
        'streamed messages have no dataset to land in; kept in the dead-letter folder',
      );
    }
    return [...routing.groups.values()];
  }

  /**
   * Lands a range's groups, each as one batch under its key, `CHUNK_MESSAGES` messages at a
   * time: decoded, routed and added to their groups' open batches, then dropped. What the writer
   * throws comes as a `LandFailed` (a failure to land), what routing throws as itself.
   */
  private async landWhole(frames: Frame[], range: string, keyPrefix: string): Promise<Routing> {
    const routing = newRouting(range, keyPrefix);
    const batches = new Map<Group, OpenBatch>();
    const batchOf = async (group: Group): Promise<OpenBatch> => {
      let batch = batches.get(group);
      if (!batch) {
        const { records: _records, failures: _failures, ...request } = group.request;
        batch = await landing(() => openBatch(this.deps.datasets(), { ...request, key: group.key }));
        batches.set(group, batch);
      }
      return batch;
    };
    for (let at = 0; at < frames.length; ) {
      const messages: LoggedMessage[] = [];
      let bytes = 0;
      while (at < frames.length && messages.length < CHUNK_MESSAGES && bytes < CHUNK_BYTES) {
        const frame = frames[at++] as Frame;
        for (const m of decodeEntry(frame.entry.payload, frame.header)) messages.push(m);
        bytes += frame.entry.payload.length;
      }
      await this.routeInto(routing, messages);
      for (const group of routing.groups.values()) {
        const { records, failures = [] } = group.request;
        if (records.length === 0 && failures.length === 0) continue;
        const batch = await batchOf(group);
        await landing(() => batch.add(records, failures));
        group.request.records = [];
        group.request.failures = [];
        group.ids = [];
      }
    }
    for (const group of await this.routed(routing)) {
      const batch = await batchOf(group);
      this.count(await landing(() => batch.commit()));
    }
    return routing;
  }

  private count(landed: { created: boolean; recordCount: number; failedCount: number }): void {
    if (!landed.created) return;
    this.stats.batches++;
    this.stats.landedRecords += landed.recordCount;
    this.stats.failedRecords += landed.failedCount;
  }

  /**
   * Lands a range that failed whole, piece by piece: each group under its own key, a group that
   * fails in halves, down to single records. A record that fails alone goes to the group's error
   * batch with the reason; if even that cannot land, to the dead-letter folder. Nothing is skipped.
   *
   * Exactly once across crashes: a piece that failed is marked (its key and reason appended and
   * fsynced to the range's marks file) before its halves are tried, and a marked piece is never
   * tried whole again. So a piece lands whole or as halves, never both, and replaying the range
   * after a crash takes the same path, under the same keys.
   */
  private async landSplit(groups: Group[], range: string): Promise<void> {
    const failed = await this.loadMarks(range);
    const dead: Record<string, unknown>[] = [];
    for (const group of groups) {
      const unlandable: RecordFailure[] = [];
      const records = group.request.records;
      const piece = async (from: number, to: number): Promise<void> => {
        const whole = from === 0 && to === records.length;
        const key = whole ? group.key : `${group.key}:${group.ids[from]}..${group.ids[to - 1]}`;
        let reason = failed.get(key);
        if (reason === undefined) {
          try {
            this.count(
              await this.deps.datasets().land({
                ...group.request,
                records: records.slice(from, to),
                failures: whole ? group.request.failures : [],
                key,
              }),
            );
            return;
          } catch (error) {
            // A land that threw after its batch was committed (the Catalog record failed, say)
            // has landed: splitting it would land its records twice.
            const { scope, datasetId } = group.request;
            const committed = await this.deps.datasets().landed?.(scope, datasetId, key);
            if (committed) {
              this.count(committed);
              return;
            }
            reason = messageOf(error);
            await this.mark(range, key, reason);
          }
        }
        if (to - from <= 1) {
          if (to > from) {
            unlandable.push({
              record: records[from],
              reason: `the dataset could not store this record: ${reason}`,
              code: SCHEMA_MISMATCH_CODE,
            });
          }
          return;
        }
        const middle = from + Math.ceil((to - from) / 2);
        await piece(from, middle);
        await piece(middle, to);
      };
      await piece(0, records.length);
      // The group's own failures rode with it whole; when it was split they go with the error batch.
      const errors = [...(failed.has(group.key) ? (group.request.failures ?? []) : []), ...unlandable];
      if (errors.length === 0) continue;
      this.rangeKept.unlandable += unlandable.length;
      try {
        this.count(
          await this.deps
            .datasets()
            .land({ ...group.request, records: [], failures: errors, key: `${group.key}:errors` }),
        );
      } catch (error) {
        const { scope, datasetId, origin } = group.request;
        for (const e of errors) {
          dead.push({
            ...origin,
            orgId: scope.orgId,
            sandbox: scope.sandbox,
            datasetId,
            record: e.record,
            reason: `${e.reason}; its error batch could not be landed either: ${messageOf(error)}`,
          });
        }
      }
    }
    if (dead.length > 0) {
      await this.deadLetter(
        dead,
        `${range}-unlandable`,
        'streamed records could not be landed, not even in an error batch; kept in the dead-letter folder',
      );
    }
  }

  /** The failed pieces of the range being split: its marks file, read once (a torn last line is ignored). */
  private async loadMarks(range: string): Promise<Map<string, string>> {
    if (this.marks?.range === range) return this.marks.failed;
    const failed = new Map<string, string>();
    let text = '';
    try {
      text = await readFile(join(this.splitDir, `${range}.jsonl`), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const { key, reason } = JSON.parse(line) as { key: string; reason: string };
        failed.set(key, reason);
      } catch {
        // A line torn by a crash: its piece was not marked, so it is tried again.
      }
    }
    this.marks = { range, failed };
    return failed;
  }

  /** Marks a piece as failed, durably, before its halves are tried. */
  private async mark(range: string, key: string, reason: string): Promise<void> {
    await mkdirDurable(this.splitDir);
    const handle = await open(join(this.splitDir, `${range}.jsonl`), 'a', 0o600);
    try {
      // A line a crash tore is ignored on reading: start on a fresh line.
      await handle.write(`\n${JSON.stringify({ key, reason })}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.marks?.failed.set(key, reason);
  }

  /** Marks files of ranges no longer in flight (a crash between the checkpoint and their removal). */
  private async removeStaleMarks(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.splitDir);
    } catch {
      return;
    }
    const { logId, offset, inFlight } = this.checkpoint;
    const current = inFlight !== undefined ? `${logId}-${offset}-${inFlight}.jsonl` : undefined;
    for (const name of names) if (name !== current) await rm(join(this.splitDir, name), { force: true });
  }

  /**
   * Keeps what has nowhere to land, with the reason, durably: none vanish. One file per range and
   * kind, rewritten atomically, so landing a range again after a crash does not duplicate it.
   */
  private async deadLetter(items: Record<string, unknown>[], name: string, message: string): Promise<void> {
    const lines = items.map((item) => `${JSON.stringify(item)}\n`).join('');
    await mkdirDurable(this.deadLetterDir);
    const file = join(this.deadLetterDir, `${name}.jsonl`);
    await writeAtomically(file, lines);
    this.rangeKept.deadLettered.set(name, items.length);
    this.warn(message, { count: items.length, file, reason: items[0]?.reason });
  }

  /** Writes the checkpoint atomically. */
  private async saveCheckpoint(next: Checkpoint): Promise<void> {
    await writeAtomically(this.checkpointFile, JSON.stringify(next));
    this.checkpoint = next;
  }
}

/** Replaces a file atomically: temp file, fsync, rename, fsync the directory. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}
