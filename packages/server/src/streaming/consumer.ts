import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InflowError } from '@inflow/core';
import type { Pipelines, RecordPipeline } from '../datasets/pipeline.js';
import type { DatasetWriter, LandRequest, RecordFailure } from '../datasets/writer.js';
import { FlowProblem } from '../errors.js';
import type { Scope } from '../store/resources.js';
import { XdmProblem } from '../xdm/schema-registry.js';
import { decodeEntry, decodeHeader, type EntryHeader, type LoggedMessage, messageCount } from './entry.js';
import { type ConsumableLog, type LogEntry, syncDir } from './log.js';

/**
 * The streaming consumer: tails the log from its checkpoint, runs each message through its
 * pipeline (the flow's mapping set for raw JSON, the dataset's schema for XDM envelopes) and
 * lands micro-batches per dataset with `DatasetWriter.land`.
 *
 * Exactly once: before landing the range `[from, to)` the checkpoint records it as in flight;
 * each batch is landed under a key derived from the log id and the range, so after a crash the
 * same range is landed again under the same keys (the writer returns the batch already landed)
 * and only then does the checkpoint move to `to`.
 */

export interface ConsumerOptions {
  /** Land at the latest this long after a message was acked. Default 500 ms (≤ 1 s). */
  flushMs?: number;
  /** Land at once when this many messages wait; also the most one micro-batch takes. Default 10,000. */
  batchRecords?: number;
  /** Log for problems the consumer cannot report to a caller. */
  warn?: (message: string, detail?: Record<string, unknown>) => void;
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
}

export interface ConsumerStats {
  /** Messages that went through a pipeline (landed as records or as failures). */
  consumed: number;
  landedRecords: number;
  failedRecords: number;
  batches: number;
  deadLettered: number;
  duplicates: number;
}

/** Errors that retrying will not fix: the flow, dataset or schema is gone or broken. */
function isPermanent(error: unknown): boolean {
  if (error instanceof FlowProblem) return error.status < 500;
  if (error instanceof XdmProblem) return error.status < 500;
  return InflowError.isInstance(error);
}

const DEDUPE_WINDOW = 200_000;

export class StreamConsumer {
  readonly stats: ConsumerStats = {
    consumed: 0,
    landedRecords: 0,
    failedRecords: 0,
    batches: 0,
    deadLettered: 0,
    duplicates: 0,
  };
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
  /** Messages counted between the checkpoint and `offset`, for the size trigger. */
  private scan = { offset: 0, count: 0 };
  private idleWaiters: (() => void)[] = [];
  /** Frame headers already parsed (by the size trigger's count), by offset: each is parsed once. */
  private readonly headers = new Map<number, EntryHeader>();

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

  /** The offset everything before which has landed. */
  get committedOffset(): number {
    return this.checkpoint.offset;
  }

  /** Reads the checkpoint and starts tailing the log. */
  async start(): Promise<void> {
    const log = this.deps.log;
    try {
      this.checkpoint = JSON.parse(await readFile(this.checkpointFile, 'utf8')) as Checkpoint;
    } catch {
      this.checkpoint = { logId: log.id, offset: log.startOffset };
    }
    if (this.checkpoint.logId !== log.id) {
      this.warn('the streaming checkpoint belongs to another log: consuming this one from its start', {
        checkpointLog: this.checkpoint.logId,
        log: log.id,
      });
      this.checkpoint = { logId: log.id, offset: log.startOffset };
    }
    if (this.checkpoint.offset < log.startOffset) this.checkpoint.offset = log.startOffset;
    if (this.checkpoint.inFlight !== undefined && this.checkpoint.inFlight > log.durableEnd) {
      // The range ran past what survived: impossible unless the log was cut by hand.
      this.warn('the in-flight streaming range runs past the end of the log', { ...this.checkpoint });
      this.checkpoint.inFlight = log.durableEnd;
    }
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
        const since = this.waitingSince ?? Date.now();
        this.waitingSince = since;
        const due = since + this.flushMs - Date.now();
        // A full micro-batch by size goes at once; otherwise wait out the time trigger.
        if (due > 0 && !(await this.hasFullBatch())) {
          await this.sleep(due);
          continue;
        }
      }
      try {
        await this.consumeOnce();
        failures = 0;
      } catch (error) {
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

  /** Counts waiting messages incrementally (only frames not counted before are read). */
  private async hasFullBatch(): Promise<boolean> {
    if (this.scan.offset < this.checkpoint.offset) this.scan = { offset: this.checkpoint.offset, count: 0 };
    if (this.scan.count >= this.batchRecords) return true;
    const entries = await this.deps.log.read(this.scan.offset, 64 * 1024 * 1024, (entry) => {
      this.scan.count += messageCount(this.headerOf(entry));
      return this.scan.count >= this.batchRecords;
    });
    const last = entries[entries.length - 1];
    if (last) this.scan.offset = last.end;
    return this.scan.count >= this.batchRecords;
  }

  /** Lands one micro-batch: the in-flight range if there is one, else the next up to `batchRecords`. */
  private async consumeOnce(): Promise<void> {
    const log = this.deps.log;
    const from = this.checkpoint.offset;
    const inFlight = this.checkpoint.inFlight;
    let count = 0;
    const entries =
      inFlight !== undefined
        ? await log.read(from, Number.POSITIVE_INFINITY, (e) => e.end >= inFlight)
        : await log.read(from, 64 * 1024 * 1024, (e) => {
            count += messageCount(this.headerOf(e));
            return count >= this.batchRecords;
          });
    if (entries.length === 0) {
      if (inFlight !== undefined) await this.saveCheckpoint({ logId: log.id, offset: from });
      return;
    }
    const to = (entries[entries.length - 1] as { end: number }).end;
    if (inFlight === undefined) await this.saveCheckpoint({ logId: log.id, offset: from, inFlight: to });
    this.waitingSince = log.durableEnd > to ? Date.now() : undefined;

    const messages = entries.flatMap((e) => {
      const decoded = decodeEntry(e.payload, this.headerOf(e));
      this.headers.delete(e.offset);
      return decoded;
    });
    const groups = await this.route(messages, `${log.id}-${from}-${to}`);
    let i = 0;
    for (const group of groups.values()) {
      const request: LandRequest = {
        ...group.request,
        key: `stream:${log.id}:${from}-${to}:${i++}:${group.request.origin.inletId}:${group.request.origin.flowId ?? ''}`,
      };
      const landed = await this.deps.datasets().land(request);
      if (landed.created) {
        this.stats.batches++;
        this.stats.landedRecords += landed.recordCount;
        this.stats.failedRecords += landed.failedCount;
      }
    }
    for (const m of messages) this.remember(m.xactionId);
    await this.saveCheckpoint({ logId: log.id, offset: to });
    this.scan =
      this.scan.offset <= to
        ? { offset: to, count: 0 }
        : { offset: this.scan.offset, count: Math.max(0, this.scan.count - messages.length) };
    try {
      await log.deleteBefore(to);
    } catch (error) {
      this.warn('could not delete consumed streaming log segments', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
    if (this.headers.size > 0)
      for (const offset of this.headers.keys()) if (offset < to) this.headers.delete(offset);
    this.options.onProgress?.();
    this.notifyIdle();
  }

  /** A frame's header, parsed once: kept from the size trigger's scan until the frame is consumed. */
  private headerOf(entry: LogEntry): EntryHeader {
    let header = this.headers.get(entry.offset);
    if (!header) {
      header = decodeHeader(entry.payload);
      if (this.headers.size < 1_000_000) this.headers.set(entry.offset, header);
    }
    return header;
  }

  private remember(xactionId: string): void {
    this.seen.add(xactionId);
    if (this.seen.size > DEDUPE_WINDOW) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  /** Groups the messages by where they land, each through its pipeline. Deterministic in message order. */
  private async route(
    messages: LoggedMessage[],
    range: string,
  ): Promise<Map<string, { request: LandRequest }>> {
    const groups = new Map<string, { request: LandRequest }>();
    const pipelines = new Map<string, { datasetId: string; pipeline: RecordPipeline } | Error>();
    const dead: { message: LoggedMessage; reason: string }[] = [];
    const seenHere = new Set<string>();
    for (const m of messages) {
      if (this.seen.has(m.xactionId) || seenHere.has(m.xactionId)) {
        this.stats.duplicates++;
        continue;
      }
      seenHere.add(m.xactionId);
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
      if (resolved instanceof Error) {
        dead.push({ message: m, reason: resolved.message });
        continue;
      }
      const groupKey = `${cacheKey}\0${resolved.datasetId}\0${m.inletId}`;
      let group = groups.get(groupKey);
      if (!group) {
        group = {
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
      this.stats.consumed++;
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
      if (outcome.ok) group.request.records.push(outcome.value);
      else (group.request.failures as RecordFailure[]).push(outcome.failure);
    }
    if (dead.length > 0) await this.deadLetter(dead, range);
    return groups;
  }

  /** Keeps messages that have nowhere to land, with the reason, durably: none vanish. */
  private async deadLetter(
    items: { message: LoggedMessage; reason: string }[],
    range: string,
  ): Promise<void> {
    const lines = items.map(({ message, reason }) => `${JSON.stringify({ ...message, reason })}\n`).join('');
    await mkdir(this.deadLetterDir, { recursive: true, mode: 0o700 });
    const file = join(this.deadLetterDir, `${range}.jsonl`);
    await writeAtomically(file, lines);
    this.stats.deadLettered += items.length;
    this.warn('streamed messages have no dataset to land in; kept in the dead-letter folder', {
      count: items.length,
      file,
      reason: items[0]?.reason,
    });
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
