import type { JsonValue, ReadRequest, RecordBatch } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { z } from 'zod';
import {
  type ColumnInfo,
  pathOf,
  pickColumns,
  primaryKey,
  qualifiedName,
  resolveTable,
  type TableRef,
  tableColumns,
} from './postgresql-catalog.js';
import { connect, disconnect, queryFailure, settingsOf } from './postgresql-client.js';
import {
  CopyTextParser,
  copyStatement,
  type FieldReader,
  type RowHandler,
  textReader,
} from './postgresql-copy.js';
import type { PostgresqlCredentials, PostgresqlSourceParams } from './postgresql-credentials.js';
import { PG_OID, readerFor } from './postgresql-types.js';

/**
 * The most records in one `RecordBatch`. Small on purpose: the consumer still holds the last
 * batch while the next is built, so a batch that fits twice in V8's young generation dies
 * young, while one of 10,000 records (about 5 MB) was copied twice and promoted, record by
 * record: a third of the read's CPU went to garbage collection (bench/RESULTS.md, decision 0009).
 */
export const READ_BATCH_SIZE = 1_000;

/**
 * A batch also ends once its rows' COPY text reaches this many characters (256 Ki), so wide
 * rows come fewer to a batch and a batch stays about the same size in memory.
 */
export const READ_BATCH_CHARS = 256 * 1024;

/**
 * Above this many rows sharing the last cursor value, the state stops listing their keys and
 * keeps only the last one (see `PostgresqlReadState`), so a state stays small.
 */
export const MAX_SEEN_KEYS = 10_000;

const keyTexts = z.array(z.string());

/**
 * The state a read leaves after each batch; the engine saves it and passes it back to resume.
 *
 * **Full read** (no `deltaColumn`): the table is read in primary-key order, and `after` is the
 * key of the last row delivered, so a read that stopped half-way resumes after it; `done: true`
 * marks a finished copy, after which the next read copies the table again. A relation without a
 * primary key (a view) is read in no order and cannot resume: a stopped read starts over.
 *
 * **Incremental read** (`deltaColumn`): rows are read in `(cursor, key)` order, where the key is
 * the primary key, or for a relation without one an md5 of the whole row. `value` is the last
 * cursor value delivered, as PostgreSQL's text (exact: microseconds, numeric digits), and
 * `seen` lists the keys of every delivered row whose cursor equals `value`. The next read takes
 * the rows with `cursor > value`, plus those with `cursor = value` whose key is not in `seen`:
 * rows that share the boundary value are neither lost (a row committed later with the same
 * cursor value, whatever its key, is read next time) nor duplicated. This is exact for any key
 * order (UUIDs too), unlike remembering only the last `(cursor, key)` tuple.
 *
 * When more than `MAX_SEEN_KEYS` rows share one cursor value, `seen` gives way to `after` (the
 * last key at that value): rows added later at that same value are then read only if their key
 * sorts after it. Pick a cursor column with few ties (a timestamp set on every write) rather
 * than a date to stay exact.
 *
 * Rows whose cursor is NULL have no place in the order: incremental reads skip them. A state
 * for another mode or cursor column is ignored (the read starts over); a state whose key
 * columns changed re-reads the rows at `value` (duplicates, never losses).
 */
export type PostgresqlReadState = z.infer<typeof readStateSchema>;

const readStateSchema = z.discriminatedUnion('mode', [
  z.object({
    v: z.literal(1),
    mode: z.literal('full'),
    keyColumns: z.array(z.string()),
    after: keyTexts.optional(),
    done: z.boolean(),
    rows: z.number().int().nonnegative(),
  }),
  z.object({
    v: z.literal(1),
    mode: z.literal('incremental'),
    column: z.string(),
    keyColumns: z.array(z.string()),
    value: z.string(),
    seen: z.array(keyTexts).optional(),
    after: keyTexts.optional(),
  }),
]);

type FullState = Extract<PostgresqlReadState, { mode: 'full' }>;
type IncrementalState = Extract<PostgresqlReadState, { mode: 'incremental' }>;

/** Validates a saved state; a state of another shape is an error rather than a silent full re-read. */
export function parseReadState(state: JsonValue | undefined): PostgresqlReadState | undefined {
  if (state === undefined || state === null) return undefined;
  const parsed = readStateSchema.safeParse(state);
  if (!parsed.success) {
    throw new InflowValidationError(
      'the saved read state is not a PostgreSQL read state (version 1): it was written by another connector or version',
      [{ path: 'state', message: 'is not a PostgreSQL read state' }],
    );
  }
  return parsed.data;
}

/** What `planRead` needs to know about the table. */
export interface ReadTarget {
  table: TableRef;
  /** The columns delivered in each record. */
  columns: readonly ColumnInfo[];
  /** The primary key columns; empty for none. */
  primaryKey: readonly string[];
  /** The cursor column of an incremental read. */
  cursor?: ColumnInfo | undefined;
}

/** The SELECT a read runs and how to read its extra columns back. */
export interface ReadPlan {
  sql: string;
  values: unknown[];
  mode: 'full' | 'incremental';
  /** Key column names saved in the state (empty: the row md5, or no key for a full read). */
  keyColumns: string[];
  /** Number of key texts after the data columns (and the cursor). */
  keyCount: number;
  /** The state the read starts from (prior state, when it applies). */
  start: FullState | IncrementalState | undefined;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Builds the SELECT of a read: every identifier escaped with `escapeIdentifier`, every value a
 * parameter. Data columns first, then (incremental) the cursor as text, then the key as text.
 */
export function planRead(
  target: ReadTarget,
  prior: PostgresqlReadState | undefined,
  limit: number | undefined,
): ReadPlan {
  const id = (name: string) => `t.${pg.escapeIdentifier(name)}`;
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const select = target.columns.map((c) => id(c.name));
  const where: string[] = [];
  let order: string[] = [];
  const keyExprs = target.primaryKey.map(id);
  let plan: Omit<ReadPlan, 'sql' | 'values'>;

  if (target.cursor) {
    const cursor = id(target.cursor.name);
    const rowHash = 'md5(ROW(t.*)::text)';
    const keys = keyExprs.length > 0 ? keyExprs : [rowHash];
    const keyColumns = [...target.primaryKey];
    select.push(`${cursor}::text`, ...keys.map((k) => `${k}::text`));
    where.push(`${cursor} IS NOT NULL`);
    order = [cursor, ...keys];
    const start =
      prior?.mode === 'incremental' && prior.column === target.cursor.name ? { ...prior } : undefined;
    if (start) {
      const value = param(start.value);
      if (!sameList(start.keyColumns, keyColumns)) {
        where.push(`${cursor} >= ${value}`);
        start.keyColumns = keyColumns;
        start.seen = [];
        delete start.after;
      } else if (start.after) {
        const after = start.after.map((text) => param(text));
        where.push(
          `(${cursor} > ${value} OR (${cursor} = ${value} AND (${keys.join(', ')}) > (${after.join(', ')})))`,
        );
      } else if (start.seen && start.seen.length > 0) {
        const seen = param(start.seen.map((key) => JSON.stringify(key)));
        where.push(
          `(${cursor} > ${value} OR (${cursor} = ${value} AND jsonb_build_array(${keys
            .map((k) => `${k}::text`)
            .join(', ')}) NOT IN (SELECT unnest(${seen}::jsonb[]))))`,
        );
      } else {
        where.push(`${cursor} > ${value}`);
      }
    }
    plan = { mode: 'incremental', keyColumns, keyCount: keys.length, start };
  } else {
    const keyColumns = [...target.primaryKey];
    select.push(...keyExprs.map((k) => `${k}::text`));
    order = keyExprs;
    const resumable =
      prior?.mode === 'full' && !prior.done && prior.after && sameList(prior.keyColumns, keyColumns);
    const start = resumable && prior?.mode === 'full' ? { ...prior } : undefined;
    if (start?.after && keyExprs.length > 0) {
      const after = start.after.map((text) => param(text));
      where.push(`(${keyExprs.join(', ')}) > (${after.join(', ')})`);
    }
    plan = { mode: 'full', keyColumns, keyCount: keyExprs.length, start };
  }

  let sql = `SELECT ${select.join(', ')} FROM ${qualifiedName(target.table)} AS t`;
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  if (order.length > 0) sql += ` ORDER BY ${order.join(', ')}`;
  if (limit !== undefined) sql += ` LIMIT ${param(Math.max(0, Math.floor(limit)))}`;
  return { ...plan, sql, values };
}

/**
 * Follows the rows of an incremental read and says what state to save after each batch (see
 * `PostgresqlReadState`).
 */
export class IncrementalTracker {
  private value: string | undefined;
  private seen: string[][] | undefined;
  private after: string[] | undefined;

  constructor(
    private readonly column: string,
    private readonly keyColumns: string[],
    private readonly normalize: (text: string) => string,
    start: IncrementalState | undefined,
  ) {
    if (start) {
      this.value = this.normalize(start.value);
      this.after = start.after;
      this.seen = start.after ? undefined : [...(start.seen ?? [])];
    }
  }

  /** Notes a delivered row: its cursor value as text and its key texts. */
  observe(cursorText: string, key: string[]): void {
    const value = this.normalize(cursorText);
    if (value !== this.value) {
      this.value = value;
      this.seen = [key];
      this.after = undefined;
    } else if (this.after || !this.seen) {
      this.after = key;
    } else if (this.seen.length >= MAX_SEEN_KEYS) {
      this.seen = undefined;
      this.after = key;
    } else {
      this.seen.push(key);
    }
  }

  /** The state to save now, or undefined before the first row. A copy: later rows do not change it. */
  state(): IncrementalState | undefined {
    if (this.value === undefined) return undefined;
    return {
      v: 1,
      mode: 'incremental',
      column: this.column,
      keyColumns: this.keyColumns,
      value: this.value,
      ...(this.after ? { after: this.after } : { seen: [...(this.seen ?? [])] }),
    };
  }
}

/** Numeric `1.50` and `1.5` are one cursor value: compare them by one text. */
function normalizerFor(cursor: ColumnInfo): (text: string) => string {
  if (cursor.resolved.baseOid !== PG_OID.numeric || cursor.resolved.isArray) return (text) => text;
  return (text) => (text.includes('.') ? text.replace(/\.?0+$/, '') : text);
}

/** Types that cannot order rows, or whose text is not one value's identity. */
function checkCursorType(cursor: ColumnInfo, table: TableRef): void {
  const { baseOid, isArray } = cursor.resolved;
  if (isArray || baseOid === PG_OID.json || baseOid === PG_OID.jsonb || baseOid === PG_OID.bool) {
    throw new InflowValidationError(
      `deltaColumn "${cursor.name}" of ${pathOf(table)} is ${cursor.type}, which cannot order rows: use a timestamp, date, number or text column that grows with every change`,
      [{ path: 'params.deltaColumn.name', message: `is ${cursor.type}, which cannot order rows` }],
    );
  }
}

/** Builds a record from a row of raw texts (data columns first), decoding each value. */
export function recordFactory(
  columns: readonly ColumnInfo[],
): (row: (string | null)[]) => Record<string, JsonValue> {
  const names = columns.map((c) => c.name);
  const converters = columns.map((c) => c.convert);
  const hasProto = names.includes('__proto__');
  return (row) => {
    const record: Record<string, JsonValue> = {};
    for (let j = 0; j < names.length; j++) {
      const raw = row[j];
      const value =
        raw === null || raw === undefined ? null : (converters[j] as (t: string) => JsonValue)(raw);
      if (hasProto && names[j] === '__proto__') {
        Object.defineProperty(record, '__proto__', {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        record[names[j] as string] = value;
      }
    }
    return record;
  };
}

/**
 * Builds a record from a row of decoded values (data columns first). The builder is an object
 * literal compiled for the columns (each name a JSON string literal, never code), so a record
 * is created with its final shape in one allocation, with no store per field by a name only
 * known at run time (about 5% of a read's CPU). A column named
 * `__proto__` is written as a computed key, which makes it an own property rather than the
 * prototype.
 */
export function recordBuilder(
  columns: readonly ColumnInfo[],
): (values: unknown[]) => Record<string, JsonValue> {
  const entries = columns.map((c, j) => {
    const key = JSON.stringify(c.name);
    return `${c.name === '__proto__' ? `[${key}]` : key}: v[${j}]`;
  });
  return new Function('v', `return { ${entries.join(', ')} };`) as (
    values: unknown[],
  ) => Record<string, JsonValue>;
}

/** Every value as PostgreSQL's text: the connector decodes it (see `postgresql-types.ts`). */
export const RAW_TEXT_TYPES = {
  getTypeParser: () => (text: string) => text,
} as unknown as pg.CustomTypesConfig;

/**
 * Bytes of COPY data the stream buffers before it stops reading the socket (the kernel's socket
 * buffers and PostgreSQL's own output buffer come on top). Enough for the server to keep
 * producing while a batch is landed: a few batches' worth of rows.
 */
const COPY_HIGH_WATER_MARK = 1024 * 1024;

/**
 * The `read` verb: streams `COPY (SELECT … ORDER BY …) TO STDOUT` (text format) through
 * `pg-copy-streams` and parses the rows itself (`CopyTextParser`), in a REPEATABLE READ, READ
 * ONLY transaction (the catalog lookups and the data see one snapshot). Rows are delivered in
 * batches of up to `READ_BATCH_SIZE` records or `READ_BATCH_CHARS` of text, each with the state
 * to resume from after it (see `PostgresqlReadState`: it names the last delivered row, so one
 * COPY of the whole result is still resumable after every batch). Values are decoded as `explore` describes them.
 *
 * Memory is bounded by back-pressure: while a batch is being landed the copy stream is not read,
 * it stops reading the socket once `COPY_HIGH_WATER_MARK` bytes wait, and the server blocks on
 * its send. A read that stops early (the signal aborts, the consumer returns, an error) drops
 * the connection: the server ends the COPY and its session at its next send.
 */
export async function* readTable(
  request: ReadRequest<PostgresqlCredentials, PostgresqlSourceParams>,
): AsyncGenerator<RecordBatch> {
  const { params, signal } = request;
  const prior = parseReadState(request.state);
  const settings = settingsOf(request.credentials);
  const client = await connect(settings, { signal });
  let doing = `reading ${params.tableName}`;
  let finished = false;
  const onAbort = () => disconnect(client);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const table = await resolveTable(client, params.tableName, 'params.tableName');
    doing = `reading ${pathOf(table)}`;
    const all = await tableColumns(client, table);
    const columns = pickColumns(
      table,
      all,
      params.columns?.map((c) => c.name),
      'params.columns',
    );
    let cursor: ColumnInfo | undefined;
    if (params.deltaColumn) {
      cursor = all.find((c) => c.name === params.deltaColumn?.name);
      if (!cursor) {
        throw new InflowValidationError(
          `deltaColumn "${params.deltaColumn.name}" is not a column of ${pathOf(table)} (its columns: ${all.map((c) => c.name).join(', ')})`,
          [{ path: 'params.deltaColumn.name', message: 'is not a column of the table' }],
        );
      }
      checkCursorType(cursor, table);
    }
    const key = await primaryKey(client, table);
    const plan = planRead({ table, columns, primaryKey: key, cursor }, prior, request.limit);

    const dataCount = columns.length;
    const toRecord = recordBuilder(columns);
    const tracker = cursor
      ? new IncrementalTracker(
          cursor.name,
          plan.keyColumns,
          normalizerFor(cursor),
          plan.start?.mode === 'incremental' ? plan.start : undefined,
        )
      : undefined;
    const fullStart = plan.start?.mode === 'full' ? plan.start : undefined;
    let rowsSoFar = fullStart?.rows ?? 0;
    let lastKey = fullStart?.after;
    const keyStart = dataCount + (tracker ? 1 : 0);
    const keyOf = (fields: unknown[]) => fields.slice(keyStart, keyStart + plan.keyCount) as string[];

    let records: Record<string, JsonValue>[] = [];
    const ready: RecordBatch[] = [];
    const fullState = (done: boolean): FullState => ({
      v: 1,
      mode: 'full',
      keyColumns: plan.keyColumns,
      ...(lastKey && !done ? { after: lastKey } : {}),
      done,
      rows: rowsSoFar,
    });
    let lastFields: unknown[] | undefined;
    let chars = 0; // of the batch being built
    const onRow: RowHandler = (fields, length) => {
      lastFields = fields;
      records.push(toRecord(fields));
      if (tracker) tracker.observe(fields[dataCount] as string, keyOf(fields));
      chars += length;
      if (records.length < READ_BATCH_SIZE && chars < READ_BATCH_CHARS) return;
      chars = 0;
      // The batch is full: its state names this row, the last one it holds.
      let state: JsonValue;
      if (tracker) {
        state = tracker.state() as IncrementalState;
      } else {
        rowsSoFar += records.length;
        if (plan.keyCount > 0) lastKey = keyOf(fields);
        state = fullState(false);
      }
      ready.push({ records, state });
      records = [];
    };

    const parser = new CopyTextParser([
      ...columns.map((c) => readerFor(c.resolved)),
      ...Array<FieldReader>(keyStart - dataCount + plan.keyCount).fill(textReader),
    ]);
    const stream = client.query(
      copyTo(copyStatement(plan.sql, plan.values), { highWaterMark: COPY_HIGH_WATER_MARK }),
    );
    // pg reports a connection dropped after the stream was closed (an early stop) as an
    // error on it: nobody is listening then.
    stream.on('error', () => {});
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parser.write(chunk, onRow);
      while (ready.length > 0) {
        signal?.throwIfAborted();
        yield ready.shift() as RecordBatch;
      }
    }
    parser.end();
    if (tracker) {
      // No new row: nothing to land, and the saved state stands.
      if (records.length > 0) {
        signal?.throwIfAborted();
        yield { records, state: tracker.state() as IncrementalState };
      }
    } else {
      // Always delivered, even empty: a finished copy must replace a half-way state.
      rowsSoFar += records.length;
      if (records.length > 0 && lastFields && plan.keyCount > 0) lastKey = keyOf(lastFields);
      // A read cut short by `limit` has not finished the copy.
      signal?.throwIfAborted();
      yield { records, state: fullState(request.limit === undefined) };
    }
    await client.query('COMMIT');
    finished = true;
  } catch (error) {
    signal?.throwIfAborted();
    throw queryFailure(error, doing, settings.password);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Mid-COPY the server sends until the result ends: only dropping the connection stops it.
    if (!finished) disconnect(client);
    await client.end().catch(() => {});
  }
}
