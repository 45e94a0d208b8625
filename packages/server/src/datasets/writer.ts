import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from '@inflow/core';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { mkdirDurable, syncDir } from '../durable-dirs.js';
import { FlowProblem } from '../errors.js';
import type { Doc, ResourceStore, Scope } from '../store/resources.js';
import type { DatasetSchemas } from './dataset-schema.js';
import { type ColumnNode, parquetSchemaOf, rowOf, ShapeMismatch } from './parquet-schema.js';

export interface RecordFailure {
  record: unknown;
  reason: string;
  path?: string;
  code?: string;
}

export interface LandRequest {
  scope: Scope;
  datasetId: string;
  /** Valid, mapped XDM records. */
  records: Record<string, unknown>[];
  /** Land in the batch's error file (row_errors), counted as failed. */
  failures?: RecordFailure[];
  origin: { flowId?: string; runId?: string; inletId?: string };
  /** Idempotency key: landing the same key again returns the batch already landed (crash recovery / exactly-once). */
  key?: string;
  /**
   * Where the source stood after these records, and what was read for them (batch runs). Kept in
   * the manifest, so a run that stopped between landing a chunk and saving its state resumes
   * from the chunk, not from before it.
   */
  source?: SourceProgress;
}

/** A batch run's read position and input counts after one landed chunk. */
export interface SourceProgress {
  /** The connector's state after the chunk's last record batch. */
  state?: JsonValue;
  records?: number;
  bytes?: number;
  files?: number;
}

export interface LandedBatch {
  batchId: string;
  recordCount: number;
  failedCount: number;
  bytes: number;
  files: { name: string; bytes: number }[];
  created: boolean;
  /** Failed records per error code (codes from the request's failures and the writer's own checks). */
  errorCodes?: Record<string, number>;
  /** What the request carried in `source`. */
  source?: SourceProgress;
}

/**
 * A batch written a piece at a time (`DatasetWriter.open`): each piece's records are encoded as
 * Parquet row groups as they are added, so a large batch never holds all its records at once.
 * Nothing is on disk until `commit`.
 */
export interface OpenBatch {
  /**
   * Adds records (and records that already failed) to the batch. The records are encoded at
   * once, in row groups of at most `ROW_GROUP_ROWS` (one per call for fewer), and not kept;
   * failures are kept until `commit`. After a call that throws, the batch takes no more calls.
   */
  add(records: readonly Record<string, unknown>[], failures?: readonly RecordFailure[]): void;
  /**
   * Writes and commits the batch; call it once. Returns the batch already landed under the
   * request's key, if one was (such a batch encodes nothing and answers the same each time).
   */
  commit(): Promise<LandedBatch>;
}

/** What `open` takes: a land request without its records, which come with `OpenBatch.add`. */
export type OpenRequest = Omit<LandRequest, 'records' | 'failures'>;

export interface DatasetWriter {
  land(request: LandRequest): Promise<LandedBatch>;
  /** The same as `land`, a piece at a time. Optional: `openBatch` falls back to `land`. */
  open?(request: OpenRequest): Promise<OpenBatch>;
  /**
   * The batch landed with an idempotency key, if any (finishing its Catalog record after a crash);
   * batch runs find the chunks an earlier attempt landed with it. Optional for other writers.
   */
  landed?(scope: Scope, datasetId: string, key: string): Promise<LandedBatch | undefined>;
}

/** What a batch folder holds besides its data: enough to finish its Catalog record after a crash. */
export interface BatchManifest {
  manifestVersion: 1;
  batchId: string;
  datasetId: string;
  scope: Scope;
  key?: string;
  origin: LandRequest['origin'];
  recordCount: number;
  failedCount: number;
  /** Data files under `data/`. */
  files: { name: string; bytes: number; records: number }[];
  /** Bytes of `meta/row_errors.json`, 0 when no record failed. */
  errorBytes: number;
  /** Failed records per error code. */
  errorCodes: Record<string, number>;
  /** The columns the data files were written with (what the preview reads them back with). */
  columns: ColumnNode[];
  created: number;
  /** The request's `source` (batch runs). */
  source?: SourceProgress;
}

/** The Catalog's code for a batch that ingested some rows and refused others (reference §3.7, §13.2). */
export const PARTIAL_INGEST_CODE = 'INGEST-1212-400';
/** A record that does not fit the dataset's schema. */
export const SCHEMA_MISMATCH_CODE = 'INGEST-1555-400';

export const DATA_FILE = 'part-00000.parquet';
export const ROW_ERRORS_FILE = 'row_errors.json';
const MANIFEST = 'manifest.json';
const TMP = '.tmp';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function base32(bytes: Uint8Array, length: number): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= 0xff;
  }
  return out;
}

/** A ULID (26 chars, time-ordered), the id format of the real Catalog's batches. */
export function newBatchId(now: number): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + base32(randomBytes(10), 16);
}

/**
 * The most rows in a Parquet row group: a batch is encoded this many records at a time (fewer
 * when `OpenBatch.add` is given fewer), so that its records need not all live until the whole
 * batch is encoded.
 */
export const ROW_GROUP_ROWS = 2048;

/** A batch through `writer.open`, or, for a writer without it, one `land` of everything added. */
export async function openBatch(writer: DatasetWriter, request: OpenRequest): Promise<OpenBatch> {
  if (writer.open) return writer.open(request);
  const records: Record<string, unknown>[] = [];
  const failures: RecordFailure[] = [];
  return {
    add(more, failed) {
      for (const record of more) records.push(record);
      for (const failure of failed ?? []) failures.push(failure);
    },
    commit: () => writer.land({ ...request, records, failures }),
  };
}

/** The batch id of an idempotency key: the same key always lands in the same folder. */
function keyedBatchId(datasetId: string, key: string): string {
  return base32(createHash('sha256').update(`${datasetId}\0${key}`).digest(), 26);
}

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Writes `data` and fsyncs it before closing, so a rename after it publishes complete bytes. */
async function writeDurable(path: string, data: Uint8Array | string): Promise<number> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

/**
 * A row-errors line. The record is whatever failed, which may be what JSON cannot hold (a bigint,
 * a cycle): then bigints are written as strings and cycles as `"[circular]"`, and a record that
 * still cannot be written is replaced by why, so one record never fails its batch's error file.
 */
function errorLine(code: string, f: RecordFailure): string {
  const line = {
    code,
    reason: f.reason,
    ...(f.path === undefined ? {} : { path: f.path }),
    record: f.record,
  };
  try {
    return JSON.stringify(line);
  } catch {
    const seen = new WeakSet<object>();
    try {
      return JSON.stringify(line, (_key, value: unknown) => {
        if (typeof value === 'bigint') return value.toString();
        if (typeof value === 'object' && value !== null) {
          if (seen.has(value)) return '[circular]';
          seen.add(value);
        }
        return value;
      });
    } catch (error) {
      return JSON.stringify({
        ...line,
        record: `(the record cannot be written as JSON: ${error instanceof Error ? error.message : String(error)})`,
      });
    }
  }
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Datasets as Parquet under `{root}/{datasetId}/{batchId}/` (`data/part-00000.parquet`,
 * `meta/row_errors.json`, `manifest.json`). A batch is written in `{root}/.tmp/`, fsynced, renamed
 * into place (the commit point) and only then recorded in the Catalog; `recover()` at startup
 * removes half-written temp folders and records batches that were renamed but not yet recorded.
 */
export class DatasetLake implements DatasetWriter {
  /** The last batch's `created`: batches of one process get increasing times, so a run's chunks list in order. */
  private lastCreated = 0;
  /** Folders this process has made durable (created if missing, their parent fsynced): once each. */
  private readonly durableDirs = new Map<string, Promise<void>>();

  constructor(
    readonly root: string,
    private readonly store: ResourceStore,
    private readonly schemas: DatasetSchemas,
    private readonly now: () => number = Date.now,
    /** Test hook: runs between the rename and the Catalog record (a crash there is what `recover()` finishes). */
    private readonly afterCommit?: (batchId: string) => Promise<void>,
  ) {}

  batchDir(datasetId: string, batchId: string): string {
    if (!SAFE_ID.test(datasetId) || !SAFE_ID.test(batchId)) throw new Error('unsafe dataset or batch id');
    return join(this.root, datasetId, batchId);
  }

  async landed(scope: Scope, datasetId: string, key: string): Promise<LandedBatch | undefined> {
    if (!SAFE_ID.test(datasetId)) return undefined;
    return this.existing(scope, datasetId, keyedBatchId(datasetId, key));
  }

  async land(request: LandRequest): Promise<LandedBatch> {
    const batch = await this.open(request);
    batch.add(request.records, request.failures);
    return batch.commit();
  }

  async open(request: OpenRequest): Promise<OpenBatch> {
    const { scope, datasetId } = request;
    const schema = await this.schemas.of(scope, datasetId);
    const batchId = request.key ? keyedBatchId(datasetId, request.key) : newBatchId(this.now());
    // Checked before anything is encoded: a batch already landed under the key is the answer.
    const done = request.key ? await this.existing(scope, datasetId, batchId) : undefined;
    if (done) return { add() {}, commit: async () => done };

    const failures: RecordFailure[] = [];
    let rows: unknown[][] = [];
    let recordCount = 0;
    let parquet: { bytes: ByteWriter; writer: ParquetWriter } | undefined;
    const flush = () => {
      if (rows.length === 0) return;
      if (!parquet) {
        const bytes = new ByteWriter(64 * 1024);
        const writer = new ParquetWriter({
          writer: bytes,
          schema: parquetSchemaOf(schema.columns),
          createdBy: 'inflow',
        });
        parquet = { bytes, writer };
      }
      const group = rows;
      rows = [];
      void parquet.writer.write({
        columnData: schema.columns.map((c, i) => ({ name: c.name, data: group.map((r) => r[i]) })),
        rowGroupSize: group.length,
      });
      recordCount += group.length;
    };
    // A batch whose `add` threw holds part of a piece; one committed is done: either takes no more.
    let usable = true;
    const use = () => {
      if (!usable) throw new Error('this batch failed or was committed: open another');
    };
    return {
      add(records, failed) {
        use();
        usable = false;
        for (const failure of failed ?? []) failures.push(failure);
        for (const record of records) {
          try {
            rows.push(rowOf(schema.columns, record));
          } catch (error) {
            if (!(error instanceof ShapeMismatch)) throw error;
            failures.push({ record, reason: error.message, path: error.path, code: SCHEMA_MISMATCH_CODE });
          }
          if (rows.length >= ROW_GROUP_ROWS) flush();
        }
        flush();
        usable = true;
      },
      commit: async () => {
        use();
        usable = false;
        let data: Uint8Array | undefined;
        if (parquet) {
          void parquet.writer.finish();
          data = parquet.bytes.getBytes();
        }
        return this.commit(request, batchId, schema.columns, { data, recordCount, failures });
      },
    };
  }

  /** Writes a batch's files in a temp folder, renames it into place and records it in the Catalog. */
  private async commit(
    request: OpenRequest,
    batchId: string,
    columns: ColumnNode[],
    content: { data: Uint8Array | undefined; recordCount: number; failures: RecordFailure[] },
  ): Promise<LandedBatch> {
    const { scope, datasetId } = request;
    const { data, recordCount, failures } = content;
    const finalDir = this.batchDir(datasetId, batchId);
    await this.durable(join(this.root, TMP));
    // The batch's temp folder is not synced into `.tmp`: it is renamed away, and the rename's
    // destination folder is what gets synced.
    const tmp = join(this.root, TMP, `${batchId}.${randomBytes(4).toString('hex')}`);
    await mkdir(join(tmp, 'data'), { recursive: true });
    await mkdir(join(tmp, 'meta'), { recursive: true });
    try {
      const files: BatchManifest['files'] = [];
      if (data) {
        const bytes = await writeDurable(join(tmp, 'data', DATA_FILE), data);
        files.push({ name: DATA_FILE, bytes, records: recordCount });
      }
      const errorCodes: Record<string, number> = {};
      let errorBytes = 0;
      if (failures.length > 0) {
        const lines = failures.map((f) => {
          const code = f.code ?? SCHEMA_MISMATCH_CODE;
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
          return errorLine(code, f);
        });
        errorBytes = await writeDurable(join(tmp, 'meta', ROW_ERRORS_FILE), `${lines.join('\n')}\n`);
      }
      const manifest: BatchManifest = {
        manifestVersion: 1,
        batchId,
        datasetId,
        scope,
        ...(request.key ? { key: request.key } : {}),
        origin: request.origin,
        recordCount,
        failedCount: failures.length,
        files,
        errorBytes,
        errorCodes,
        columns,
        created: this.nextCreated(),
        ...(request.source ? { source: request.source } : {}),
      };
      await writeDurable(join(tmp, MANIFEST), JSON.stringify(manifest));
      await syncDir(join(tmp, 'data'));
      await syncDir(join(tmp, 'meta'));
      await syncDir(tmp);
      await this.durable(join(this.root, datasetId));
      try {
        await rename(tmp, finalDir);
      } catch (error) {
        // Another land with the same key committed first: that batch is the one.
        const code = (error as NodeJS.ErrnoException).code;
        if (request.key && (code === 'ENOTEMPTY' || code === 'EEXIST')) {
          const done = await this.existing(scope, datasetId, batchId);
          if (done) return done;
        }
        throw error;
      }
      await syncDir(join(this.root, datasetId));
      await this.afterCommit?.(batchId);
      await this.record(manifest);
      return landedOf(manifest, true);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Creates `dir` durably (see `mkdirDurable`) the first time this process needs it. */
  private durable(dir: string): Promise<void> {
    let done = this.durableDirs.get(dir);
    if (!done) {
      done = mkdirDurable(dir, syncDir, { mode: 0o777, syncExisting: true }).then(() => undefined);
      this.durableDirs.set(dir, done);
      done.catch(() => this.durableDirs.delete(dir));
    }
    return done;
  }

  private nextCreated(): number {
    this.lastCreated = Math.max(this.now(), this.lastCreated + 1);
    return this.lastCreated;
  }

  /** A keyed batch already landed: from the Catalog, or finished from its folder (a crash before the record). */
  private async existing(scope: Scope, datasetId: string, batchId: string): Promise<LandedBatch | undefined> {
    const manifest = await this.manifest(datasetId, batchId);
    if (!manifest) return undefined;
    if (!(await this.store.get('batches', scope, batchId))) await this.record(manifest);
    return landedOf(manifest, false);
  }

  /** A batch folder's manifest, or undefined when there is no (complete) batch there. */
  async manifest(datasetId: string, batchId: string): Promise<BatchManifest | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.batchDir(datasetId, batchId), MANIFEST), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = JSON.parse(text) as BatchManifest;
      return parsed.manifestVersion === 1 && parsed.batchId === batchId ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  /** The Catalog batch record of a committed batch (reference §13.2 shape). */
  private async record(m: BatchManifest): Promise<void> {
    const now = this.now();
    const bytes = m.files.reduce((n, f) => n + f.bytes, 0);
    const status = m.recordCount === 0 && m.failedCount > 0 ? 'failed' : 'success';
    const errors =
      m.failedCount === 0
        ? []
        : [
            {
              code: PARTIAL_INGEST_CODE,
              description: `Encountered ${m.failedCount} errors in the data. Successfully ingested ${m.recordCount} rows. Review the associated diagnostic files for additional details.`,
            },
            ...Object.entries(m.errorCodes).map(([code, recordCount]) => ({
              code,
              description: `${recordCount} record${recordCount === 1 ? '' : 's'} failed with ${code}: see meta?path=row_errors`,
              recordCount,
            })),
          ];
    const tags: Record<string, string[]> = { acp_producer: ['inflow'] };
    if (m.origin.flowId) tags['inflow:flowId'] = [m.origin.flowId];
    if (m.origin.runId) tags['inflow:runId'] = [m.origin.runId];
    if (m.origin.inletId) tags['inflow:inletId'] = [m.origin.inletId];
    const doc: Doc = {
      id: m.batchId,
      externalId: m.batchId,
      status,
      tags,
      relatedObjects: [{ type: 'dataSet', id: m.datasetId }],
      inputFormat: { format: 'parquet' },
      imsOrg: m.scope.orgId,
      started: m.created,
      completed: m.created,
      created: m.created,
      updated: now,
      recordCount: m.recordCount,
      failedRecordCount: m.failedCount,
      size: bytes,
      metrics: {
        inputRecordCount: m.recordCount + m.failedCount,
        outputRecordCount: m.recordCount,
        failedRecordCount: m.failedCount,
        outputByteSize: bytes,
        outputFileCount: m.files.length,
      },
      errors,
      createdClient: 'inflow',
      createdUser: 'inflow',
      updatedUser: 'inflow',
      version: '1.0.0',
    };
    try {
      // One statement: the batch record and its dataset's last-batch fields (the streaming
      // consumer's worker reaches this through its store proxy, `STORE_METHODS`).
      await this.store.insertBatch(m.scope, doc, { datasetId: m.datasetId, created: m.created, status }, now);
    } catch (error) {
      // Recorded concurrently (same key): the record is there, and the statement that inserted it
      // updated the dataset, which is all that matters.
      if (!(await this.store.get('batches', m.scope, m.batchId))) throw error;
    }
  }

  /**
   * Startup recovery: temp folders are half-written batches (never visible) and are removed; a
   * committed folder without a Catalog record (a crash between rename and record) is recorded
   * now; a folder without a readable manifest is not a batch and is removed.
   */
  async recover(): Promise<{ removed: number; finished: number }> {
    await this.durable(this.root);
    let removed = 0;
    let finished = 0;
    const tmpRoot = join(this.root, TMP);
    if (await exists(tmpRoot)) {
      for (const entry of await readdir(tmpRoot)) {
        await rm(join(tmpRoot, entry), { recursive: true, force: true });
        removed++;
      }
    }
    const res = await this.store.db.query<{ id: string }>("select id from resources where kind = 'batches'");
    const recorded = new Set(res.rows.map((r) => r.id));
    for (const datasetId of await readdir(this.root)) {
      if (datasetId === TMP || !SAFE_ID.test(datasetId)) continue;
      const dir = join(this.root, datasetId);
      if (!(await stat(dir)).isDirectory()) continue;
      for (const batchId of await readdir(dir)) {
        if (recorded.has(batchId) || !SAFE_ID.test(batchId)) continue;
        const manifest = await this.manifest(datasetId, batchId);
        if (manifest) {
          await this.record(manifest);
          finished++;
        } else {
          await rm(join(dir, batchId), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return { removed, finished };
  }
}

function landedOf(m: BatchManifest, created: boolean): LandedBatch {
  return {
    batchId: m.batchId,
    recordCount: m.recordCount,
    failedCount: m.failedCount,
    bytes: m.files.reduce((n, f) => n + f.bytes, 0),
    files: m.files.map(({ name, bytes }) => ({ name, bytes })),
    created,
    errorCodes: { ...m.errorCodes },
    ...(m.source ? { source: m.source } : {}),
  };
}

/** Thrown for a dataset id that cannot name a folder (ids are hex; anything else is refused). */
export function assertDatasetId(id: string): void {
  if (!SAFE_ID.test(id))
    throw new FlowProblem('1460-400', `${id} is not a dataset id`, { field: 'datasetId' });
}
