import { PassThrough, pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ExploreColumn, JsonValue } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
  type SchemaTree,
} from 'hyparquet';
import { S3Error } from './s3-client.js';
import { S3_FILE_TYPES, type S3FileType } from './s3-credentials.js';
import { displayPath } from './s3-path.js';
import {
  DelimitedParser,
  type DelimitedRow,
  JsonRecordScanner,
  rowReader,
  TextFormatError,
} from './s3-text.js';

/** How a file is parsed: its type and, for text, delimiter, compression and encoding. */
export interface FileFormat {
  fileType: S3FileType;
  /** The column delimiter of delimited files. */
  delimiter: string;
  compression: 'none' | 'gzip';
  encoding: 'UTF-8' | 'ISO-8859-1';
}

/** What the caller asked for; anything absent is decided by the file's name. */
export interface FormatOptions {
  fileType?: string | undefined;
  columnDelimiter?: string | undefined;
  compressionType?: string | undefined;
  encoding?: string | undefined;
}

/** An object to read, as a listing returns it. */
export interface S3Object {
  bucket: string;
  key: string;
  /** Bytes. */
  size: number;
  /** LastModified, epoch ms. */
  modified: number;
  etag: string;
}

const EXTENSIONS: Record<string, S3FileType> = {
  csv: 'delimited',
  tsv: 'delimited',
  txt: 'delimited',
  json: 'json',
  jsonl: 'json',
  ndjson: 'json',
  parquet: 'parquet',
};

/**
 * The format of one file: the options where given, else its extension (`.csv.gz` is gzip
 * delimited, `.tsv` tab-delimited). `fields` names the inputs in errors (`fileType` for
 * explore, `params.fileType` for read).
 */
export function formatOf(key: string, options: FormatOptions, fields: { prefix: string }): FileFormat {
  const name = key.slice(key.lastIndexOf('/') + 1).toLowerCase();
  const gz = name.endsWith('.gz');
  const base = gz ? name.slice(0, -3) : name;
  const extension = base.includes('.') ? base.slice(base.lastIndexOf('.') + 1) : '';
  const field = (f: string) => `${fields.prefix}${f}`;

  const given = options.fileType?.toLowerCase();
  let fileType: S3FileType | undefined;
  if (given !== undefined) {
    if (!(S3_FILE_TYPES as readonly string[]).includes(given)) {
      throw new InflowValidationError(
        `${field('fileType')} must be delimited, json or parquet, not "${options.fileType}"`,
        [{ path: field('fileType'), message: 'must be delimited, json or parquet' }],
      );
    }
    fileType = given as S3FileType;
  } else {
    fileType = EXTENSIONS[extension];
    if (!fileType) {
      throw new InflowValidationError(
        `set ${field('fileType')} (delimited, json or parquet): the type of ${displayPath('…', key)} cannot be told from its name`,
        [{ path: field('fileType'), message: 'is required for a file without a known extension' }],
      );
    }
  }

  const compressionGiven = options.compressionType?.toLowerCase();
  if (compressionGiven !== undefined && compressionGiven !== 'gzip' && compressionGiven !== 'none') {
    throw new InflowValidationError(
      `${field('compressionType')} "${options.compressionType}" is not supported: use gzip, or none for plain files`,
      [{ path: field('compressionType'), message: 'must be gzip or none' }],
    );
  }
  const compression = compressionGiven === undefined ? (gz ? 'gzip' : 'none') : compressionGiven;
  if (fileType === 'parquet' && compression !== 'none') {
    throw new InflowValidationError(
      `${field('compressionType')} does not apply to parquet: Parquet compresses its own pages`,
      [{ path: field('compressionType'), message: 'does not apply to parquet' }],
    );
  }

  let delimiter = options.columnDelimiter ?? (extension === 'tsv' ? '\t' : ',');
  if (delimiter === '\\t') delimiter = '\t';
  if (delimiter.length !== 1 || '"\r\n'.includes(delimiter)) {
    throw new InflowValidationError(
      `${field('columnDelimiter')} must be one character (or \\t), not a quote or a line break`,
      [{ path: field('columnDelimiter'), message: 'must be one character' }],
    );
  }

  const encodingGiven = options.encoding?.toUpperCase();
  if (encodingGiven !== undefined && encodingGiven !== 'UTF-8' && encodingGiven !== 'ISO-8859-1') {
    throw new InflowValidationError(`${field('encoding')} must be UTF-8 or ISO-8859-1`, [
      { path: field('encoding'), message: 'must be UTF-8 or ISO-8859-1' },
    ]);
  }
  return {
    fileType,
    delimiter,
    compression,
    encoding: (encodingGiven ?? 'UTF-8') as FileFormat['encoding'],
  };
}

/** What reading a file needs besides the file. */
export interface ReadFileOptions {
  /** Records to skip first (a file resumed part-way). */
  skip?: number;
  signal?: AbortSignal | undefined;
  /** Called with the size of every chunk fetched from S3 (compressed bytes). */
  onBytes?: (bytes: number) => void;
  /** Text formats: parse no more than about this many records (previews). */
  stopAfter?: number;
  /** Text formats: the object's body, already requested (see `getBody`); else it is fetched here. */
  body?: Promise<Readable> | undefined;
  /** Text formats: called once the whole body has arrived (it may not all be parsed yet). */
  onFetched?: () => void;
}

/**
 * Bytes of a body read ahead of the parser. The HTTP response alone buffers 16 KB, so the
 * socket stopped whenever the parser was busy and the download waited on it (about 1 s per GB
 * above the read's CPU time); with a bounded buffer, bytes keep arriving while chunks parse.
 */
export const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/** Wraps a parse failure with the file and what to do. */
function formatFailure(object: S3Object, format: FileFormat, error: unknown): unknown {
  if (!(error instanceof TextFormatError) && !(error instanceof SyntaxError) && !isParquetError(error)) {
    return error;
  }
  const where = displayPath(object.bucket, object.key);
  const text = error instanceof Error ? error.message : String(error);
  return new S3Error({
    message: `${where} is not a valid ${format.compression === 'gzip' ? 'gzip-compressed ' : ''}${format.fileType} file: ${text}`,
    code: 'format',
    cause: error,
  });
}

function isParquetError(error: unknown): boolean {
  return error instanceof Error && /parquet/i.test(error.message) && !S3Error.isInstance(error);
}

/**
 * The body of an object as a Node stream, from `start` (bytes) when given. The stream is
 * paused until read: the caller must read or destroy it.
 */
export async function getBody(
  client: S3Client,
  object: S3Object,
  signal: AbortSignal | undefined,
  range?: string,
): Promise<Readable> {
  const result = await client.send(
    new GetObjectCommand({
      Bucket: object.bucket,
      Key: object.key,
      // The version listed: a file rewritten since is read in full next time, not mixed.
      IfMatch: object.etag || undefined,
      ...(range ? { Range: range } : {}),
    }),
    { abortSignal: signal },
  );
  return result.Body as Readable;
}

/**
 * Drops a body that may not have been read to its end, closing its connection. undici's body,
 * destroyed before its end, errors with `RequestAbortedError`, even with nothing listening (an
 * uncaught exception) when the whole answer had already arrived: that error is expected here.
 */
export function discardBody(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * Decodes byte chunks to text. UTF-8 through `StringDecoder`, which carries a character split
 * between chunks over and is several times faster than a streaming `TextDecoder` (1.5 CPU-s per
 * GB); ISO-8859-1 is one byte per character (decoded as browsers do, windows-1252), so each
 * chunk decodes alone. A byte order mark at the start is dropped.
 */
export async function* decodeText(
  source: AsyncIterable<Uint8Array>,
  encoding: FileFormat['encoding'],
): AsyncGenerator<string> {
  const utf8 = encoding === 'UTF-8' ? new StringDecoder('utf8') : undefined;
  const latin1 = new TextDecoder('latin1');
  let first = true;
  for await (const chunk of source) {
    let text = utf8 ? utf8.write(chunk as Buffer) : latin1.decode(chunk);
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    if (text.length > 0) yield text;
  }
  const rest = utf8?.end();
  if (rest) yield first && rest.charCodeAt(0) === 0xfeff ? rest.slice(1) : rest;
}

/** The bytes of an object: gunzipped when compressed, fetched bytes counted. */
async function* objectBytes(
  client: S3Client,
  object: S3Object,
  format: FileFormat,
  options: ReadFileOptions,
): AsyncGenerator<Uint8Array> {
  const body = await (options.body ?? getBody(client, object, options.signal));
  const ahead = new PassThrough({ highWaterMark: READ_AHEAD_BYTES });
  if (options.onFetched) body.once('end', options.onFetched);
  try {
    if (format.compression === 'gzip') {
      if (options.onBytes) {
        const onBytes = options.onBytes;
        body.on('data', (chunk: Uint8Array) => onBytes(chunk.length));
      }
      const gunzip = createGunzip();
      pipeline(body, ahead, gunzip, () => {});
      yield* gunzip;
    } else {
      pipeline(body, ahead, () => {});
      for await (const chunk of ahead) {
        options.onBytes?.((chunk as Uint8Array).length);
        yield chunk as Uint8Array;
      }
    }
  } finally {
    discardBody(body);
    ahead.destroy();
  }
}

const PROTO = '__proto__';

/** Names for a header row: blanks become `_c1`…, repeats get `_2`, `_3`. */
function columnNames(header: DelimitedRow): string[] {
  const seen = new Set<string>();
  return header.map((raw, i) => {
    let name = raw?.trim() || `_c${i + 1}`;
    if (seen.has(name)) {
      let n = 2;
      while (seen.has(`${name}_${n}`)) n++;
      name = `${name}_${n}`;
    }
    seen.add(name);
    return name;
  });
}

/** Sets a field, including one named `__proto__`, as an own property. */
function setField(record: Record<string, unknown>, name: string, value: unknown): void {
  if (name === PROTO) {
    Object.defineProperty(record, PROTO, { value, enumerable: true, writable: true, configurable: true });
  } else {
    record[name] = value;
  }
}

/** Builds a record from the first `count` fields of a row. */
export type RecordMaker = (fields: DelimitedRow, count: number) => Record<string, unknown>;

/**
 * Builds records from rows: missing fields are null, extra fields `_cN`. The builder is an
 * object literal compiled for the header (names are JSON string literals, never code), so every
 * record is created with its final shape at once: several times faster than assigning the
 * fields one by one, which matters at millions of rows. A row with exactly the header's number
 * of fields (the usual one) takes a literal without any test per field.
 */
export function recordMaker(names: readonly string[]): RecordMaker {
  const width = names.length;
  if (names.includes(PROTO)) {
    return (fields, count) => {
      const record: Record<string, unknown> = {};
      for (let j = 0; j < width; j++) setField(record, names[j] as string, j < count ? fields[j] : null);
      for (let j = width; j < count; j++) record[`_c${j + 1}`] = fields[j];
      return record;
    };
  }
  const keys = names.map((name) => JSON.stringify(name));
  const full = keys.map((key, j) => `${key}: f[${j}]`).join(', ');
  const partial = keys.map((key, j) => `${key}: n > ${j} ? f[${j}] : null`).join(', ');
  return new Function(
    'f',
    'n',
    `if (n === ${width}) return { ${full} };
const r = { ${partial} };
for (let j = ${width}; j < n; j++) r['_c' + (j + 1)] = f[j];
return r;`,
  ) as RecordMaker;
}

/**
 * The records of a text file's bytes (delimited or JSON, already uncompressed), in chunks as
 * they parse, after the first `skip`. One chunk of records per chunk of bytes: the caller's
 * pace is the stream's (back-pressure), and memory holds a chunk and one unfinished record.
 */
export async function* textRecords(
  bytes: AsyncIterable<Uint8Array>,
  format: FileFormat,
  options: ReadFileOptions = {},
): AsyncGenerator<Record<string, unknown>[]> {
  const text = decodeText(bytes, format.encoding);
  if (format.fileType === 'json') yield* jsonRecords(text, options);
  else yield* delimitedRecords(text, format.delimiter, options);
}

async function* delimitedRecords(
  texts: AsyncIterable<string>,
  delimiter: string,
  options: ReadFileOptions,
): AsyncGenerator<Record<string, unknown>[]> {
  let make: RecordMaker | undefined;
  let skip = options.skip ?? 0;
  let produced = 0;
  const out: Record<string, unknown>[] = [];
  let read: ReturnType<typeof rowReader>;
  const parser = new DelimitedParser(delimiter, (fields, count) => {
    if (make === undefined) {
      const names = columnNames(fields.slice(0, count));
      make = recordMaker(names);
      read = rowReader(names, delimiter, out);
    } else if (skip > 0) {
      skip--;
    } else {
      out.push(make(fields, count));
    }
    // Rows skipped on a resume are counted by the general parser; the rest take the fast one.
    if (skip === 0 && read !== undefined) parser.fastRow = read;
  });
  for await (const text of texts) {
    parser.push(text);
    if (out.length > 0) {
      produced += out.length;
      yield out;
      out.length = 0;
    }
    if (options.stopAfter !== undefined && produced >= options.stopAfter) return;
  }
  parser.end();
  if (out.length > 0) yield out;
  out.length = 0;
}

async function* jsonRecords(
  texts: AsyncIterable<string>,
  options: ReadFileOptions,
): AsyncGenerator<Record<string, unknown>[]> {
  const scanner = new JsonRecordScanner();
  let skip = options.skip ?? 0;
  let produced = 0;
  let out: Record<string, unknown>[] = [];
  for await (const text of texts) {
    scanner.push(text, out);
    if (skip > 0) {
      const skipped = Math.min(skip, out.length);
      skip -= skipped;
      out = out.slice(skipped);
    }
    if (out.length > 0) {
      produced += out.length;
      yield out;
      out.length = 0;
    }
    if (options.stopAfter !== undefined && produced >= options.stopAfter) return;
  }
  scanner.end();
}

/**
 * Random access to an object for Parquet: every `slice` is one ranged GET (the footer first,
 * then each row group's column chunks), so a file is never downloaded whole.
 */
export function s3AsyncBuffer(client: S3Client, object: S3Object, options: ReadFileOptions): AsyncBuffer {
  return {
    byteLength: object.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? object.size, object.size);
      if (stop <= start) return new ArrayBuffer(0);
      const body = await getBody(client, object, options.signal, `bytes=${start}-${stop - 1}`);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      options.onBytes?.(bytes.length);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** A Parquet value as JSON: BigInt as a number when exact (else its digits), dates as ISO text, bytes as base64. */
export function toJsonValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    default:
      break;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    return Array.from(value as ArrayLike<unknown>, toJsonValue);
  }
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) setField(out, k, toJsonValue(v));
    return out;
  }
  return String(value);
}

async function parquetMetadata(file: AsyncBuffer): Promise<FileMetaData> {
  return parquetMetadataAsync(file);
}

async function* parquetRecords(
  client: S3Client,
  object: S3Object,
  options: ReadFileOptions,
): AsyncGenerator<Record<string, unknown>[]> {
  const file = s3AsyncBuffer(client, object, options);
  const metadata = await parquetMetadata(file);
  const skip = options.skip ?? 0;
  let groupStart = 0;
  let produced = 0;
  // One row group at a time: what hyparquet fetches and decodes at once.
  for (const group of metadata.row_groups) {
    const groupEnd = groupStart + Number(group.num_rows);
    const rowStart = Math.max(groupStart, skip);
    let rowEnd = groupEnd;
    if (options.stopAfter !== undefined) rowEnd = Math.min(rowEnd, rowStart + options.stopAfter - produced);
    if (rowStart < rowEnd) {
      const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
      options.signal?.throwIfAborted();
      const out = rows.map((row) => toJsonValue(row) as Record<string, unknown>);
      produced += out.length;
      if (out.length > 0) yield out;
      if (options.stopAfter !== undefined && produced >= options.stopAfter) return;
    }
    groupStart = groupEnd;
  }
}

/**
 * The records of one file, in chunks as they parse, after the first `skip`: the body is
 * streamed (text formats) or fetched by ranges (Parquet), never held whole. Parse failures are
 * `S3Error`s with code `format` naming the file; S3 failures pass through for the caller to
 * explain.
 */
export async function* fileRecords(
  client: S3Client,
  object: S3Object,
  format: FileFormat,
  options: ReadFileOptions = {},
): AsyncGenerator<Record<string, unknown>[]> {
  const source =
    format.fileType === 'parquet'
      ? parquetRecords(client, object, options)
      : textRecords(objectBytes(client, object, format, options), format, options);
  try {
    yield* source;
  } catch (error) {
    throw formatFailure(object, format, error);
  }
}

/** The XDM type of a column type name (as `explore` reports it). */
const XDM: Record<string, Pick<ExploreColumn, 'xdm' | 'meta:xdmType'>> = {
  string: { xdm: { type: 'string' }, 'meta:xdmType': 'string' },
  integer: { xdm: { type: 'integer' }, 'meta:xdmType': 'long' },
  number: { xdm: { type: 'number' }, 'meta:xdmType': 'number' },
  boolean: { xdm: { type: 'boolean' }, 'meta:xdmType': 'boolean' },
  date: { xdm: { type: 'string', format: 'date' }, 'meta:xdmType': 'date' },
  'date-time': { xdm: { type: 'string', format: 'date-time' }, 'meta:xdmType': 'date-time' },
  object: { xdm: { type: 'object' }, 'meta:xdmType': 'object' },
  array: { xdm: { type: 'array' }, 'meta:xdmType': 'array' },
};

/** A column with its type and the XDM type it maps to. */
export function column(name: string, type: string): ExploreColumn {
  return { name, type, ...(XDM[type] ?? XDM.string) };
}

const INTEGER = /^[+-]?\d{1,15}$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN = /^(true|false)$/i;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** The type one value suggests; `undefined` for null. */
function typeOfValue(value: unknown, fromText: boolean): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') {
    if (fromText) {
      // Leading zeros (zip codes, ids) stay text.
      if (INTEGER.test(value) && !/^[+-]?0\d/.test(value)) return 'integer';
      if (NUMBER.test(value) && !/^[+-]?0\d/.test(value)) return 'number';
      if (BOOLEAN.test(value)) return 'boolean';
    }
    if (DATE.test(value)) return 'date';
    if (DATE_TIME.test(value)) return 'date-time';
    return 'string';
  }
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (Array.isArray(value)) return 'array';
  return 'object';
}

/** The narrowest type that holds both. */
function widen(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined || a === b) return a;
  const numeric = new Set(['integer', 'number']);
  if (numeric.has(a) && numeric.has(b)) return 'number';
  const temporal = new Set(['date', 'date-time']);
  if (temporal.has(a) && temporal.has(b)) return 'date-time';
  return 'string';
}

/**
 * Infers column types from sample records: a text column (delimited) is `integer`, `number`,
 * `boolean`, `date` or `date-time` when every non-empty value looks like one, else `string`;
 * JSON values by their JSON type. Columns appear in first-seen order.
 */
export function inferColumns(
  records: readonly Record<string, unknown>[],
  fromText: boolean,
): ExploreColumn[] {
  const types = new Map<string, string | undefined>();
  for (const record of records) {
    for (const [name, value] of Object.entries(record)) {
      types.set(name, widen(types.get(name), typeOfValue(value, fromText)));
    }
  }
  return [...types].map(([name, type]) => column(name, type ?? 'string'));
}

/** The type of a Parquet leaf or group, as `explore` names it. */
function parquetType(node: SchemaTree): string {
  const e = node.element;
  const logical = e.logical_type?.type;
  const converted = e.converted_type;
  if (logical === 'LIST' || converted === 'LIST' || e.repetition_type === 'REPEATED') return 'array';
  if (node.children.length > 0 || logical === 'MAP' || converted === 'MAP') return 'object';
  if (logical === 'STRING' || converted === 'UTF8' || logical === 'ENUM' || logical === 'UUID')
    return 'string';
  if (logical === 'JSON' || converted === 'JSON') return 'object';
  if (logical === 'DATE' || converted === 'DATE') return 'date';
  if (logical === 'TIMESTAMP' || converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS') {
    return 'date-time';
  }
  if (logical === 'DECIMAL' || converted === 'DECIMAL') return 'number';
  switch (e.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'INT32':
    case 'INT64':
      return 'integer';
    case 'FLOAT':
    case 'DOUBLE':
      return 'number';
    default:
      return 'string';
  }
}

/** The columns of a Parquet file from its footer (`type` is the Parquet type, `xdm` its mapping). */
export async function parquetColumns(
  client: S3Client,
  object: S3Object,
  signal?: AbortSignal,
): Promise<ExploreColumn[]> {
  const file = s3AsyncBuffer(client, object, { signal });
  try {
    const metadata = await parquetMetadata(file);
    return parquetSchema(metadata).children.map((node) => {
      const type = parquetType(node);
      return { ...column(node.element.name, type), type: parquetSourceType(node, type) };
    });
  } catch (error) {
    throw formatFailure(
      object,
      { fileType: 'parquet', delimiter: ',', compression: 'none', encoding: 'UTF-8' },
      error,
    );
  }
}

/** The Parquet type name shown as `type`: the logical type when there is one, else the physical one. */
function parquetSourceType(node: SchemaTree, fallback: string): string {
  const e = node.element;
  return (e.logical_type?.type ?? e.converted_type ?? e.type ?? fallback).toString().toLowerCase();
}
