import { randomUUID } from 'node:crypto';
import {
  type AnySourceConnector,
  InflowError,
  InflowValidationError,
  type JsonValue,
  redact,
} from '@inflow/core';
import type { z } from 'zod';
import { newEtag } from '../crypto.js';
import type { LandedBatch, RecordFailure } from '../datasets/writer.js';
import { FlowProblem } from '../errors.js';
import { connectionsKind, validateCredentials } from '../routes/connections.js';
import { decrypt, quoted, type ResourceKind } from '../routes/resource-routes.js';
import { sourceConnectionsKind } from '../routes/source-connections.js';
import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';
import { saveFlowState } from './flow-state.js';

/** A run's lifecycle (reference §3.7 status values); also its top-level `state`, for `property=state==…`. */
export type RunStatus = 'scheduled' | 'inProgress' | 'success' | 'failed';

/** The internal resource kind holding each flow's saved read state (never served by a route). */
export const READ_STATE_KIND = 'flowReadStates';

/** Codes a run fails with (the `{SERVICE}-{NNNN}-{status}` shape of reference §3.7). */
export const RUN_ERRORS = {
  /** The source answered with an error that may pass, or could not be reached: retried. */
  source: 'CONNECTOR-2001-500',
  /**
   * The source refused the flow's parameters, or answered with an error its connector marks not
   * retryable (a missing table or bucket, refused credentials): deterministic, not retried.
   */
  sourceParams: 'CONNECTOR-1001-400',
  /** The flow cannot run as configured (its dataset, schema, mapping or connections are missing or broken). */
  flow: 'FLOW-1460-400',
  /** Every record failed mapping or validation: nothing landed, so the state stays. */
  allFailed: 'INGEST-1212-400',
  /** The batch could not be written. */
  landing: 'INGEST-1001-500',
  /** The server stopped while the run was in progress; it is retried. */
  interrupted: 'RUN-1002-500',
} as const;

export interface RunsOptions {
  maxAttempts: number;
  retryBaseMs: number;
  /** Runs executing at once, across flows (one at a time per flow). */
  concurrency: number;
  /** A run lands a batch (a chunk) once this many records (mapped or failed) are pending… */
  chunkRecords: number;
  /** …or once they take about this many bytes in memory (`approximateBytes`), whichever comes first. */
  chunkBytes: number;
}

/** Chunk defaults: a batch of 50,000 records or ~64 MB, so a run's memory stays bounded. */
export const DEFAULT_CHUNK_RECORDS = 50_000;
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/** What a run has landed over all its attempts: the sum of its chunks (one Catalog batch each). */
interface RunProgress {
  datasetId?: string;
  targetConnectionId?: string;
  /** Chunks landed: the next chunk's number. */
  chunks: number;
  batchIds: string[];
  /** The first batch with failed records (the run's diagnostic links point to it). */
  failedBatchId?: string;
  inputRecords: number;
  inputBytes: number;
  inputFiles: number;
  outputRecords: number;
  failedRecords: number;
  outputBytes: number;
  outputFiles: number;
  errorCodes: Record<string, number>;
  /** Where the source stands after the last landed chunk. */
  hasState: boolean;
  state?: JsonValue;
  /** The reason of the first failed record this attempt saw, for the message of a run where all failed. */
  firstFailure?: string;
}

const emptyProgress = (): RunProgress => ({
  chunks: 0,
  batchIds: [],
  inputRecords: 0,
  inputBytes: 0,
  inputFiles: 0,
  outputRecords: 0,
  failedRecords: 0,
  outputBytes: 0,
  outputFiles: 0,
  errorCodes: {},
  hasState: false,
});

/** Records read but not landed yet, and what the source gave for them. */
interface Chunk {
  records: Record<string, unknown>[];
  failures: RecordFailure[];
  /** `approximateBytes` of the records and failures. */
  bytes: number;
  inputRecords: number;
  inputBytes: number;
  inputFiles: number;
  hasState: boolean;
  state: JsonValue | undefined;
}

const newChunk = (): Chunk => ({
  records: [],
  failures: [],
  bytes: 0,
  inputRecords: 0,
  inputBytes: 0,
  inputFiles: 0,
  hasState: false,
  state: undefined,
});

/** The idempotency key of a run's chunk `n`: landing it again (a retry, a restart) finds the same batch. */
const chunkKey = (runId: string, n: number) => `${runId}:${n}`;

function addChunk(
  progress: RunProgress,
  landed: LandedBatch,
  input: Pick<Chunk, 'inputRecords' | 'inputBytes' | 'inputFiles' | 'hasState' | 'state'>,
): void {
  progress.chunks++;
  progress.batchIds.push(landed.batchId);
  if (landed.failedCount > 0) progress.failedBatchId ??= landed.batchId;
  progress.inputRecords += input.inputRecords;
  progress.inputBytes += input.inputBytes;
  progress.inputFiles += input.inputFiles;
  progress.outputRecords += landed.recordCount;
  progress.failedRecords += landed.failedCount;
  progress.outputBytes += landed.bytes;
  progress.outputFiles += landed.files.length;
  for (const [code, n] of Object.entries(landed.errorCodes ?? {}))
    progress.errorCodes[code] = (progress.errorCodes[code] ?? 0) + n;
  if (input.hasState) {
    progress.hasState = true;
    progress.state = input.state;
  }
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A cheap estimate of a value's in-memory size (UTF-16 strings, 8-byte numbers, a little per
 * entry): what bounds a chunk. Not exact, and it need not be: it keeps a chunk of wide records
 * from growing to `chunkRecords` of them.
 */
export function approximateBytes(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 16 + 2 * value.length;
    case 'object': {
      if (value === null) return 8;
      let n = 16;
      if (Array.isArray(value)) for (const v of value) n += 8 + approximateBytes(v);
      else
        for (const [k, v] of Object.entries(value as Record<string, unknown>))
          n += 8 + 2 * k.length + approximateBytes(v);
      return n;
    }
    default:
      return 8;
  }
}

/** Why an attempt failed, and whether another attempt could succeed. */
class AttemptError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const connectionKind = connectionsKind as unknown as ResourceKind<z.ZodObject>;
const sourceKind = sourceConnectionsKind as unknown as ResourceKind<z.ZodObject>;

const scopeKey = (scope: Scope, id: string) => `${scope.orgId}\0${scope.sandbox}\0${id}`;

/**
 * Executes runs: streams the source through its connector from the flow's saved state, maps and
 * validates each record, lands a Parquet batch per chunk of records (keyed `${runId}:${n}`, so a
 * retried or recovered run never lands a chunk twice), and saves the new state after each chunk,
 * only once it landed (see `attempt`). One run per flow at a time; a failed
 * attempt is retried with exponential backoff up to `maxAttempts`, then the run is failed with
 * its error code. Everything a run needs to resume is in its stored document, so `recover()`
 * after a crash picks up runs left `scheduled` or `inProgress`.
 */
export class RunExecutor {
  private readonly queue: { scope: Scope; runId: string; flowId: string }[] = [];
  private readonly queued = new Set<string>();
  private readonly activeFlows = new Set<string>();
  private readonly timers = new Map<NodeJS.Timeout, string>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private active = 0;
  private stopped = false;

  constructor(
    private readonly services: Services,
    private readonly options: RunsOptions,
    private readonly log: { error(obj: object, msg: string): void } = { error: () => {} },
  ) {}

  /** Whether a run of this flow is queued or executing (the scheduler waits for it). */
  busy(scope: Scope, flowId: string): boolean {
    const key = scopeKey(scope, flowId);
    return (
      this.activeFlows.has(key) ||
      this.queue.some((q) => scopeKey(q.scope, q.flowId) === key) ||
      [...this.timers.values()].includes(key)
    );
  }

  /** Creates a run of `flow` (stored as `scheduled`) and queues it. */
  async create(
    scope: Scope,
    flow: Doc,
    params: Record<string, unknown>,
    by: { clientId: string },
  ): Promise<{ id: string; etag: string }> {
    const now = this.services.now();
    const id = randomUUID();
    const etag = newEtag(now);
    const doc: Doc = {
      id,
      createdAt: now,
      updatedAt: now,
      createdBy: by.clientId,
      updatedBy: by.clientId,
      createdClient: by.clientId,
      updatedClient: by.clientId,
      sandboxId: flow.sandboxId,
      sandboxName: flow.sandboxName ?? scope.sandbox,
      imsOrgId: scope.orgId,
      flowId: flow.id,
      flowSpec: flow.flowSpec,
      providerRefId: `inflow-${String(flow.id)}-${now}`,
      params,
      state: 'scheduled',
      etag: quoted(etag),
      metrics: { statusSummary: { status: 'scheduled' } },
      activities: [],
    };
    await this.services.store.insert('runs', scope, doc, etag, now);
    this.enqueue(scope, id, flow.id);
    return { id, etag: quoted(etag) };
  }

  /** Queues the runs a stopped server left `scheduled` or `inProgress` (the latter count as an interrupted attempt). */
  async recover(): Promise<number> {
    const res = await this.services.store.db.query<{ body: string; org_id: string; sandbox: string }>(
      `select coalesce(body, doc::text) as body, org_id, sandbox from resources
       where kind = 'runs' and (doc @> '{"state":"scheduled"}' or doc @> '{"state":"inProgress"}')
       order by created_at`,
    );
    for (const row of res.rows) {
      const doc = JSON.parse(row.body) as Doc;
      const scope = { orgId: row.org_id, sandbox: row.sandbox };
      const retryAt = (doc.metrics as Metrics | undefined)?.statusSummary?.extensions?.nextAttemptAtUTC;
      this.enqueue(
        scope,
        doc.id,
        String(doc.flowId),
        retryAt ? Math.max(0, retryAt - this.services.now()) : 0,
      );
    }
    return res.rows.length;
  }

  /** Stops taking runs, aborts the reads in progress and waits for them to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.keys()) clearTimeout(t);
    this.timers.clear();
    this.abort.abort();
    await Promise.allSettled([...this.running]);
  }

  private enqueue(scope: Scope, runId: string, flowId: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.enqueue(scope, runId, flowId);
      }, delayMs);
      timer.unref();
      this.timers.set(timer, scopeKey(scope, flowId));
      return;
    }
    const key = scopeKey(scope, runId);
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push({ scope, runId, flowId });
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.options.concurrency) {
      const index = this.queue.findIndex((q) => !this.activeFlows.has(scopeKey(q.scope, q.flowId)));
      if (index < 0) return;
      const [next] = this.queue.splice(index, 1);
      if (!next) return;
      const flowKey = scopeKey(next.scope, next.flowId);
      this.queued.delete(scopeKey(next.scope, next.runId));
      this.activeFlows.add(flowKey);
      this.active++;
      const p: Promise<void> = this.execute(next.scope, next.runId)
        .catch((error) =>
          this.log.error({ err: { message: (error as Error).message } }, 'run failed to update'),
        )
        .finally(() => {
          this.active--;
          this.activeFlows.delete(flowKey);
          this.running.delete(p);
          this.pump();
        });
      this.running.add(p);
    }
  }

  /** One attempt of a run, and what follows from it: success, a retry later, or failure. */
  private async execute(scope: Scope, runId: string): Promise<void> {
    const stored = await this.services.store.get('runs', scope, runId);
    if (!stored) return;
    const { doc, etag } = stored;
    if (doc.state !== 'scheduled' && doc.state !== 'inProgress') return;
    const metrics = (doc.metrics ?? {}) as Metrics;
    const summary = metrics.statusSummary ?? {};
    const errors = [...(summary.errors ?? [])];
    let attempts = summary.extensions?.attempts ?? 0;
    // Left in progress by a stopped server: that attempt counts, and says so.
    if (doc.state === 'inProgress' && !summary.extensions?.nextAttemptAtUTC) {
      errors.push({
        code: RUN_ERRORS.interrupted,
        message: 'the server stopped during this attempt; retried',
      });
      if (attempts >= this.options.maxAttempts) {
        const progress = await this.landedSoFar(scope, doc);
        await this.finish(scope, doc, etag, {
          failed: errors,
          attempts,
          progress,
          startedAt: metrics.durationSummary?.startedAtUTC,
        });
        return;
      }
    }
    attempts++;
    const startedAt = metrics.durationSummary?.startedAtUTC ?? this.services.now();
    // The run as stored: the attempt writes its progress through it, so it always has the latest etag.
    const run = await this.update(scope, doc, etag, {
      state: 'inProgress',
      metrics: {
        ...metrics,
        durationSummary: { startedAtUTC: startedAt },
        statusSummary: { status: 'inProgress', errors, extensions: { attempts } },
      },
    });
    await this.lastRun(scope, String(doc.flowId), {
      id: doc.id,
      state: 'inProgress',
      startedAtUTC: startedAt,
    });

    let progress = emptyProgress();
    try {
      await this.attempt(scope, run, progress);
      await this.finish(scope, run.doc, run.etag, { progress, attempts, startedAt, errors });
    } catch (error) {
      const failure = toAttemptError(error);
      errors.push({ code: failure.code, message: failure.message });
      if (failure.retryable && attempts < this.options.maxAttempts && !this.stopped) {
        const delay = this.options.retryBaseMs * 2 ** (attempts - 1);
        const nextAttemptAtUTC = this.services.now() + delay;
        const current = run.doc.metrics as Metrics;
        await this.update(scope, run.doc, run.etag, {
          metrics: {
            ...current,
            statusSummary: {
              status: 'inProgress',
              errors,
              extensions: { ...current.statusSummary?.extensions, attempts, nextAttemptAtUTC },
            },
          },
        });
        this.enqueue(scope, doc.id, String(doc.flowId), delay);
        return;
      }
      if (this.stopped && failure.retryable) return; // recover() retries it at the next start
      // Failed before it looked at what earlier attempts landed: look now, the metrics say it.
      if (progress.datasetId === undefined) progress = await this.landedSoFar(scope, doc);
      await this.finish(scope, run.doc, run.etag, { failed: errors, attempts, startedAt, progress });
    }
  }

  /**
   * One attempt: rebuilds what earlier attempts of this run landed (its keyed chunks), resumes
   * reading after the last of them, and lands a chunk whenever `chunkRecords` records or about
   * `chunkBytes` of them are pending, each keyed `${runId}:${n}`, saving the source's state after
   * each (only once it landed). So memory holds one chunk whatever the source's size, and a
   * failure or crash resumes after the last landed chunk with nothing lost and nothing twice.
   */
  private async attempt(scope: Scope, stored: StoredRun, progress: RunProgress): Promise<void> {
    const { store, specs } = this.services;
    const run = stored.doc;
    const flowId = String(run.flowId);
    const flow = await store.get('flows', scope, flowId);
    if (!flow) throw flowDeleted(flowId);
    progress.targetConnectionId = (flow.doc.targetConnectionIds as string[] | undefined)?.[0];
    const sourceId = (flow.doc.sourceConnectionIds as string[] | undefined)?.[0];
    const source = sourceId ? await store.get('sourceConnections', scope, sourceId) : undefined;
    if (!source)
      throw new AttemptError(
        RUN_ERRORS.flow,
        `the flow's source connection ${String(sourceId)} no longer exists`,
        false,
      );
    const sourceDoc = decrypt(sourceKind, this.services, source.doc);
    const specId = (sourceDoc.connectionSpec as { id: string }).id;
    const connector = specs.connector(specId);
    if (!connector?.read) {
      throw new AttemptError(
        RUN_ERRORS.flow,
        `no connector installed here reads sources of spec ${specId}`,
        false,
      );
    }
    const credentials = await this.credentials(scope, connector, sourceDoc);
    const params = this.readParams(connector, sourceDoc, flow.doc, run.params as Record<string, unknown>);
    const { datasetId, pipeline } = await this.services.pipelines.forFlow(scope, flowId);
    const secrets = Object.values((credentials ?? {}) as Record<string, unknown>).filter(
      (v): v is string => typeof v === 'string',
    );

    // What earlier attempts landed is the truth (their manifests), not what they counted.
    Object.assign(progress, await this.landedChunks(scope, datasetId, run.id), {
      datasetId,
      targetConnectionId: progress.targetConnectionId,
    });
    const saved = await store.get(READ_STATE_KIND, scope, flowId);
    // A stop between landing a chunk and saving its state: the chunk's manifest says where it ended.
    if (progress.hasState && progress.outputRecords > 0 && !sameJson(saved?.doc.state, progress.state))
      await this.saveState(scope, flowId, progress.state as JsonValue, run.id, progress);
    const from = progress.hasState ? progress.state : (saved?.doc.state as JsonValue | undefined);
    if (progress.chunks > 0) await this.progressed(scope, stored, progress);

    const { chunkRecords, chunkBytes } = this.options;
    let chunk = newChunk();
    const flush = async (): Promise<void> => {
      const pending = chunk;
      chunk = newChunk();
      // A chunk boundary: a flow deleted while the chunk was read lands nothing more.
      if (!(await store.get('flows', scope, flowId))) throw flowDeleted(flowId, progress);
      let landed: LandedBatch;
      try {
        landed = await this.services.datasets.land({
          scope,
          datasetId,
          records: pending.records,
          failures: pending.failures,
          origin: { flowId, runId: run.id },
          key: chunkKey(run.id, progress.chunks),
          source: {
            ...(pending.hasState ? { state: pending.state } : {}),
            records: pending.inputRecords,
            bytes: pending.inputBytes,
            files: pending.inputFiles,
          },
        });
      } catch (error) {
        if (error instanceof FlowProblem) throw new AttemptError(RUN_ERRORS.flow, error.message, false);
        throw new AttemptError(
          RUN_ERRORS.landing,
          `the batch could not be written: ${(error as Error).message}`,
          true,
        );
      }
      addChunk(progress, landed, pending);
      // Only now, with the chunk landed, does the flow move on; not while every record so far
      // failed (a fixed mapping must read them again).
      if (pending.hasState && progress.outputRecords > 0)
        await this.saveState(scope, flowId, pending.state as JsonValue, run.id, progress);
      await this.progressed(scope, stored, progress);
    };

    try {
      for await (const batch of connector.read({
        credentials: credentials as never,
        params: params as never,
        state: from,
        signal: this.abort.signal,
      })) {
        chunk.state = batch.state;
        chunk.hasState = true;
        chunk.inputBytes += batch.bytes ?? 0;
        chunk.inputFiles += batch.files ?? 0;
        for (const record of batch.records) {
          chunk.inputRecords++;
          const result = pipeline(record);
          if (result.ok) {
            chunk.records.push(result.value);
            chunk.bytes += approximateBytes(result.value);
          } else {
            chunk.failures.push(result.failure);
            chunk.bytes += approximateBytes(result.failure.record);
            progress.firstFailure ??= result.failure.reason;
          }
        }
        const pending = chunk.records.length + chunk.failures.length;
        if (pending > 0 && (pending >= chunkRecords || chunk.bytes >= chunkBytes)) await flush();
      }
    } catch (error) {
      if (error instanceof AttemptError) throw error;
      const message = redact(error instanceof Error ? error.message : String(error), secrets);
      if (InflowValidationError.isInstance(error))
        throw new AttemptError(RUN_ERRORS.sourceParams, message, false);
      // The connector knows which of its failures may pass on their own (`isRetryable`); one it
      // says will not (a dropped table, a missing bucket) fails the run now, and the next
      // scheduled run tries again. Errors that do not say are retried.
      const retryable = !(
        InflowError.isInstance(error) && (error as { isRetryable?: unknown }).isRetryable === false
      );
      throw new AttemptError(
        retryable ? RUN_ERRORS.source : RUN_ERRORS.sourceParams,
        `the source answered with an error: ${message}`,
        retryable,
      );
    }
    if (chunk.records.length + chunk.failures.length > 0) await flush();
    else if (chunk.hasState && (progress.outputRecords > 0 || progress.failedRecords === 0)) {
      // A last batch with no records (a source that only moved on): nothing to land, the state moves.
      progress.inputBytes += chunk.inputBytes;
      progress.inputFiles += chunk.inputFiles;
      await this.saveState(scope, flowId, chunk.state as JsonValue, run.id, progress);
    }

    if (progress.outputRecords === 0 && progress.failedRecords > 0) {
      throw new AttemptError(
        RUN_ERRORS.allFailed,
        `all ${progress.failedRecords} records failed${progress.firstFailure ? ` (first: ${progress.firstFailure})` : ''}: nothing landed, so the flow's state stays where it was; fix the mapping or the schema and run again`,
        false,
      );
    }
  }

  /** The chunks a run landed so far (keys `${runId}:0`, `:1`, …, up to the first missing one), summed. */
  private async landedChunks(scope: Scope, datasetId: string, runId: string): Promise<RunProgress> {
    const progress = emptyProgress();
    const writer = this.services.datasets;
    if (!writer.landed) return progress;
    for (;;) {
      const landed = await writer.landed(scope, datasetId, chunkKey(runId, progress.chunks));
      if (!landed) return progress;
      const source = landed.source ?? {};
      addChunk(progress, landed, {
        inputRecords: source.records ?? landed.recordCount + landed.failedCount,
        inputBytes: source.bytes ?? 0,
        inputFiles: source.files ?? 0,
        hasState: 'state' in source,
        state: source.state,
      });
    }
  }

  /** What a run landed, for a run that ends without an attempt (interrupted one time too many). */
  private async landedSoFar(scope: Scope, run: Doc): Promise<RunProgress> {
    try {
      const { datasetId } = await this.services.pipelines.forFlow(scope, String(run.flowId));
      return { ...(await this.landedChunks(scope, datasetId, run.id)), datasetId };
    } catch {
      return emptyProgress();
    }
  }

  /** The base connection's credentials, decrypted for this run only. */
  private async credentials(scope: Scope, connector: AnySourceConnector, sourceDoc: Doc): Promise<unknown> {
    if (connector.auth === 'none') return undefined;
    const baseId = sourceDoc.baseConnectionId as string | undefined;
    const base = baseId ? await this.services.store.get('connections', scope, baseId) : undefined;
    if (!base)
      throw new AttemptError(
        RUN_ERRORS.flow,
        `the source's base connection ${String(baseId)} no longer exists`,
        false,
      );
    const plain = decrypt(connectionKind, this.services, base.doc);
    const auth = plain.auth as { specName: string; params: Record<string, unknown> };
    try {
      return validateCredentials(this.services, connector.connectionSpec.id, auth.specName, auth.params);
    } catch (error) {
      throw new AttemptError(RUN_ERRORS.flow, (error as Error).message, false);
    }
  }

  /**
   * The connector's read params: the source connection's `params`, its `data` format (cloud
   * storage), and the Copy transformation's (or the run's) `deltaColumn` (databases).
   */
  private readParams(
    connector: AnySourceConnector,
    sourceDoc: Doc,
    flow: Doc,
    runParams: Record<string, unknown> | undefined,
  ): unknown {
    const params: Record<string, unknown> = { ...((sourceDoc.params ?? {}) as Record<string, unknown>) };
    const data = sourceDoc.data as { format?: string; properties?: Record<string, unknown> } | undefined;
    if (data?.format && params.fileType === undefined) params.fileType = data.format.toLowerCase();
    for (const key of ['columnDelimiter', 'compressionType', 'encoding']) {
      if (data?.properties?.[key] !== undefined && params[key] === undefined)
        params[key] = data.properties[key];
    }
    const copy = ((flow.transformations ?? []) as { name: string; params: Record<string, unknown> }[]).find(
      (t) => t.name === 'Copy',
    );
    const delta = (copy?.params.deltaColumn ?? runParams?.deltaColumn) as { name?: unknown } | undefined;
    if (params.deltaColumn === undefined && typeof delta?.name === 'string')
      params.deltaColumn = { name: delta.name };
    try {
      return connector.sourceParams ? connector.parseSourceParams(params) : params;
    } catch (error) {
      const issue = InflowValidationError.isInstance(error) ? error.issues[0] : undefined;
      throw new AttemptError(
        RUN_ERRORS.sourceParams,
        issue
          ? `source connection params.${issue.path.replace(/^params\./, '')} ${issue.message}`
          : (error as Error).message,
        false,
      );
    }
  }

  /**
   * Saves where the source stands for the flow's next run, only while the flow exists (the check
   * and the write are one statement): a run whose flow was deleted under it fails here instead of
   * writing back the state the DELETE removed.
   */
  private async saveState(
    scope: Scope,
    flowId: string,
    state: JsonValue,
    runId: string,
    progress: RunProgress,
  ): Promise<void> {
    const { store } = this.services;
    const now = this.services.now();
    const doc: Doc = { id: flowId, state, runId, savedAt: now };
    // One run per flow at a time: nobody else writes this document meanwhile.
    const existing = await store.get(READ_STATE_KIND, scope, flowId);
    const result = await saveFlowState(
      store.db,
      READ_STATE_KIND,
      scope,
      doc,
      {
        expected: existing?.etag,
        next: newEtag(now),
      },
      now,
    );
    if (result === 'flowGone') throw flowDeleted(flowId, progress);
    if (result !== 'ok')
      throw new AttemptError(RUN_ERRORS.landing, `the state of flow ${flowId} changed during the run`, true);
  }

  /**
   * Shows what the run landed so far on its document while it is in progress (after each chunk,
   * and at the start of an attempt that resumes after landed chunks): the totals of its chunks'
   * manifests, as at the end, so nothing an attempt read but did not land counts.
   */
  private async progressed(scope: Scope, run: StoredRun, progress: RunProgress): Promise<void> {
    const metrics = run.doc.metrics as Metrics;
    const summary = metrics.statusSummary ?? {};
    const updated = await this.update(scope, run.doc, run.etag, {
      metrics: {
        ...metrics,
        ...landedMetrics(progress),
        statusSummary: { ...summary, extensions: { ...summary.extensions, ...batchRefs(progress) } },
      },
    }).catch((error: unknown) => {
      // Called inside the read loop: not to be taken for an error of the source.
      throw toAttemptError(error);
    });
    Object.assign(run, updated);
  }

  private async update(
    scope: Scope,
    doc: Doc,
    etag: string,
    changes: Record<string, unknown>,
  ): Promise<StoredRun> {
    const now = this.services.now();
    const next = newEtag(now);
    const updated: Doc = { ...doc, ...changes, updatedAt: now, etag: quoted(next) };
    const result = await this.services.store.replace('runs', scope, updated, etag, next, now);
    if (result !== 'ok') throw new Error(`run ${doc.id} changed while it executed (${result})`);
    return { doc: updated, etag: next };
  }

  private async finish(
    scope: Scope,
    doc: Doc,
    etag: string,
    end: {
      progress: RunProgress;
      /** The errors of a failed run; absent for a success. */
      failed?: RunError[];
      /** Errors of earlier attempts of a run that succeeded. */
      errors?: RunError[];
      attempts: number;
      startedAt?: number;
    },
  ): Promise<void> {
    const now = this.services.now();
    const p = end.progress;
    const status: RunStatus = end.failed ? 'failed' : 'success';
    const [batchId] = p.batchIds;
    const failedBatch = p.failedBatchId;
    const base = `${this.services.publicUrl()}/data/foundation/export/batches/${failedBatch}`;
    const recordErrors = Object.entries(p.errorCodes).map(([code, recordCount]) => ({
      code,
      recordCount,
      message: code.startsWith('MAPPER')
        ? 'Mapper Transform Error'
        : 'The record does not match the dataset schema',
    }));
    const errors = end.failed ?? end.errors ?? [];
    const summaryErrors =
      !end.failed && p.failedRecords > 0
        ? [
            ...errors,
            {
              code: RUN_ERRORS.allFailed,
              message: `Encountered ${p.failedRecords} errors in the data. Successfully ingested ${p.outputRecords} rows. Review the associated diagnostic files for additional details.`,
            },
          ]
        : errors;
    const metrics: Metrics = {
      durationSummary: { startedAtUTC: end.startedAt ?? now, completedAtUTC: now },
      ...landedMetrics(p),
      statusSummary: {
        status,
        errors: summaryErrors,
        extensions: {
          attempts: end.attempts,
          ...batchRefs(p),
          ...(failedBatch
            ? {
                manifest: {
                  failedRecords: `${base}/meta?path=row_errors`,
                  sampleErrors: `${base}/meta?path=row_errors_sample.json`,
                },
              }
            : {}),
          ...(recordErrors.length > 0 ? { errors: recordErrors } : {}),
        },
      },
    };
    const activities = batchId
      ? [
          {
            id: 'promotionActivity',
            updatedAtUTC: now,
            durationSummary: metrics.durationSummary,
            sizeSummary: metrics.sizeSummary,
            recordSummary: metrics.recordSummary,
            fileSummary: metrics.fileSummary,
            statusSummary: { status, ...(summaryErrors.length > 0 ? { errors: summaryErrors } : {}) },
            targetInfo: [
              {
                id: p.targetConnectionId,
                type: 'TargetConnection',
                reference: { type: 'Batch', ids: p.batchIds },
              },
            ],
          },
        ]
      : [];
    await this.update(scope, doc, etag, { state: status, metrics, activities });
    await this.lastRun(scope, String(doc.flowId), { id: doc.id, state: status, ...metrics.durationSummary });
  }

  /**
   * Sets the flow's `lastRunDetails` (reference §3.6). The flow's etag and `updatedAt` stay as
   * they are: the field is the service's record of its runs, not an edit of the flow, so an
   * If-Match a client took before a run still matches after it (a PATCH keeps the field, and
   * cannot set it). A PATCH landing between our read and write is read again. A run that started
   * before the one the flow names leaves it alone: an older run (a retry that waited while a newer
   * run was started on demand) ending later must not make the flow show it as the latest. Never
   * throws: the run's own document is what counts, and the next run writes the field again.
   */
  private async lastRun(scope: Scope, flowId: string, details: LastRunDetails): Promise<void> {
    const { store } = this.services;
    try {
      for (let tries = 0; tries < 3; tries++) {
        const flow = await store.get('flows', scope, flowId);
        if (!flow) return;
        const current = flow.doc.lastRunDetails as LastRunDetails | undefined;
        if (
          current &&
          current.id !== details.id &&
          (current.startedAtUTC ?? 0) > (details.startedAtUTC ?? Number.POSITIVE_INFINITY)
        ) {
          return;
        }
        const doc = { ...flow.doc, lastRunDetails: details };
        if ((await store.replace('flows', scope, doc, flow.etag, flow.etag, flow.updatedAt)) !== 'stale')
          return;
      }
      this.log.error(
        { flowId, runId: details.id },
        'lastRunDetails of the flow not updated: the flow kept changing',
      );
    } catch (error) {
      this.log.error(
        { err: { message: (error as Error).message } },
        'lastRunDetails of the flow not updated',
      );
    }
  }
}

interface RunError {
  code: string;
  message: string;
}

/** A flow's `lastRunDetails`: its latest run, its status, and when it started and ended (ms). */
interface LastRunDetails {
  id: string;
  state: RunStatus;
  startedAtUTC?: number;
  completedAtUTC?: number;
}

/** A run's document and its (unquoted) etag, as last written. */
interface StoredRun {
  doc: Doc;
  etag: string;
}

/** The size, record and file summaries of what a run landed: the sums over its chunks. */
function landedMetrics(p: RunProgress): Pick<Metrics, 'sizeSummary' | 'recordSummary' | 'fileSummary'> {
  return {
    sizeSummary: { inputBytes: p.inputBytes, outputBytes: p.outputBytes },
    recordSummary: {
      inputRecordCount: p.inputRecords,
      outputRecordCount: p.outputRecords,
      failedRecordCount: p.failedRecords,
    },
    fileSummary: { inputFileCount: p.inputFiles, outputFileCount: p.outputFiles },
  };
}

/** The run's first batch (a run that fits one chunk has one), then all of them in order. */
function batchRefs(p: RunProgress): { batchId?: string; batchIds?: string[] } {
  const [batchId] = p.batchIds;
  return batchId ? { batchId, batchIds: [...p.batchIds] } : {};
}

/** The parts of a run's metrics the executor reads back. */
interface Metrics {
  durationSummary?: { startedAtUTC?: number; completedAtUTC?: number };
  sizeSummary?: Record<string, number>;
  recordSummary?: Record<string, number>;
  fileSummary?: Record<string, number>;
  statusSummary?: {
    status?: string;
    errors?: RunError[];
    extensions?: { attempts?: number; nextAttemptAtUTC?: number } & Record<string, unknown>;
  };
}

/** The flow of a run is gone (deleted before or during it): the run ends failed, and is not retried. */
function flowDeleted(flowId: string, progress?: RunProgress): AttemptError {
  const chunks = progress?.chunks ?? 0;
  const landed =
    chunks > 0
      ? `, after ${chunks} landed chunk${chunks === 1 ? '' : 's'} (their batches stay in dataset ${progress?.datasetId})`
      : '';
  return new AttemptError(RUN_ERRORS.flow, `flow ${flowId} was deleted: the run stops here${landed}`, false);
}

function toAttemptError(error: unknown): AttemptError {
  if (error instanceof AttemptError) return error;
  if (error instanceof FlowProblem) return new AttemptError(RUN_ERRORS.flow, error.message, false);
  return new AttemptError(RUN_ERRORS.landing, (error as Error).message ?? String(error), true);
}
