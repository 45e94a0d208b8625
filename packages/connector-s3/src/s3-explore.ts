import {
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ExploreItem, ExploreRequest, ExploreResult, ExploreStructure } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import { createClient, s3Failure } from './s3-client.js';
import type { S3Credentials } from './s3-credentials.js';
import { fileRecords, formatOf, inferColumns, parquetColumns, type S3Object } from './s3-format.js';
import { checkScope, displayPath, parsePath, scopeFolder } from './s3-path.js';

/** Preview rows when `previewCount` is absent. */
export const DEFAULT_PREVIEW_COUNT = 100;
/** The most rows a preview returns. */
export const MAX_PREVIEW_COUNT = 10_000;
/** Rows sampled to infer the columns of a text file when no preview is asked for. */
const SCHEMA_SAMPLE = 100;

/** One page of a listing: S3 returns at most 1,000 keys a page; callers follow `ContinuationToken`. */
export async function* listPages(
  client: S3Client,
  input: { bucket: string; prefix: string; delimiter?: string },
  signal?: AbortSignal,
): AsyncGenerator<ListObjectsV2CommandOutput> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: input.bucket,
        ...(input.prefix ? { Prefix: input.prefix } : {}),
        ...(input.delimiter ? { Delimiter: input.delimiter } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
      { abortSignal: signal },
    );
    yield page;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

function previewCount(request: ExploreRequest): number {
  const count = request.previewCount ?? DEFAULT_PREVIEW_COUNT;
  if (!Number.isInteger(count) || count < 1 || count > MAX_PREVIEW_COUNT) {
    throw new InflowValidationError(`previewCount must be a whole number from 1 to ${MAX_PREVIEW_COUNT}`, [
      { path: 'previewCount', message: `must be from 1 to ${MAX_PREVIEW_COUNT}` },
    ]);
  }
  return count;
}

async function withClient<T>(
  credentials: S3Credentials,
  doing: string,
  run: (client: S3Client) => Promise<T>,
): Promise<T> {
  const client = createClient(credentials, { retryTimeouts: false });
  try {
    return await run(client);
  } catch (error) {
    if (InflowValidationError.isInstance(error)) throw error;
    throw s3Failure(error, credentials, doing);
  } finally {
    client.destroy();
  }
}

/** The sub-folders and files directly under `prefix`, every page of them. */
async function listFolder(client: S3Client, bucket: string, prefix: string): Promise<ExploreItem[]> {
  const folders: ExploreItem[] = [];
  const files: ExploreItem[] = [];
  for await (const page of listPages(client, { bucket, prefix, delimiter: '/' })) {
    for (const p of page.CommonPrefixes ?? []) {
      if (!p.Prefix) continue;
      const name = p.Prefix.slice(prefix.length, -1);
      folders.push({ type: 'folder', name, path: displayPath(bucket, p.Prefix.slice(0, -1)) });
    }
    for (const o of page.Contents ?? []) {
      // The zero-byte key some tools write to mark a folder is the folder itself.
      if (!o.Key || o.Key === prefix) continue;
      files.push({
        type: 'file',
        name: o.Key.slice(prefix.length),
        path: displayPath(bucket, o.Key),
        canPreview: true,
        canFetchSchema: true,
        size: o.Size ?? 0,
        ...(o.LastModified ? { modifiedAt: o.LastModified.getTime() } : {}),
      });
    }
  }
  return [...folders, ...files];
}

async function listRoot(client: S3Client, credentials: S3Credentials): Promise<ExploreItem[]> {
  if (credentials.bucketName) return listFolder(client, credentials.bucketName, scopeFolder(credentials));
  const result = await client.send(new ListBucketsCommand({}));
  return (result.Buckets ?? []).flatMap((b) =>
    b.Name ? [{ type: 'folder' as const, name: b.Name, path: `/${b.Name}` }] : [],
  );
}

/** The object a file path names, with its size and version (a HEAD request). */
async function headFile(client: S3Client, bucket: string, key: string): Promise<S3Object> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return {
    bucket,
    key,
    size: head.ContentLength ?? 0,
    modified: head.LastModified?.getTime() ?? 0,
    etag: head.ETag ?? '',
  };
}

function filePath(request: ExploreRequest, credentials: S3Credentials): { bucket: string; key: string } {
  if (request.objectType !== 'file') {
    throw new InflowValidationError(
      `objectType=${request.objectType} has no structure to preview: use objectType=file with the file's path`,
      [{ path: 'objectType', message: 'must be file for a structure or preview' }],
    );
  }
  if (!request.object) {
    throw new InflowValidationError('objectType=file needs object: the file path, e.g. /acme/in/a.csv', [
      { path: 'object', message: 'is required for objectType=file' },
    ]);
  }
  const path = parsePath(request.object, 'object');
  if (path.key === '' || path.key.endsWith('/')) {
    throw new InflowValidationError(
      `object ${request.object} is a folder: objectType=file needs a file path`,
      [{ path: 'object', message: 'must name a file, not a folder' }],
    );
  }
  checkScope(path, credentials, 'object');
  return path;
}

async function structureOf(
  credentials: S3Credentials,
  request: ExploreRequest,
  rows: number | undefined,
): Promise<ExploreStructure> {
  const { bucket, key } = filePath(request, credentials);
  const format = formatOf(key, request, { prefix: '' });
  return withClient(credentials, `reading ${displayPath(bucket, key)}`, async (client) => {
    const object = await headFile(client, bucket, key);
    const want = rows ?? SCHEMA_SAMPLE;
    const records: Record<string, unknown>[] = [];
    for await (const chunk of fileRecords(client, { ...object, etag: '' }, format, { stopAfter: want })) {
      for (const record of chunk) {
        if (records.length < want) records.push(record);
      }
      if (records.length >= want) break;
    }
    const columns =
      format.fileType === 'parquet'
        ? await parquetColumns(client, object)
        : inferColumns(records, format.fileType === 'delimited');
    return {
      format: 'flat',
      schema: { columns },
      ...(rows === undefined ? {} : { data: records as ExploreStructure['data'] }),
    };
  });
}

/**
 * The `explore` verb. `root`: the buckets (or, for a connection scoped by `bucketName` and
 * `folderPath`, that folder). `folder` with `object` (`/bucket/prefix`): its sub-folders, then
 * its files with size and modified time, every page of the listing (past S3's 1,000 keys a
 * page). `file`: the file's columns with their inferred XDM types (from the first 100 records,
 * or the Parquet footer); with `preview`, see `previewFile`. A path with `..`, `.` or empty
 * segments, or outside the connection's scope, is an `InflowValidationError` at `object`.
 */
export async function exploreSource(
  credentials: S3Credentials,
  request: ExploreRequest,
): Promise<ExploreResult> {
  if (request.objectType === 'root') {
    return withClient(credentials, 'listing the buckets', (client) => listRoot(client, credentials));
  }
  if (request.objectType === 'folder') {
    if (!request.object) {
      throw new InflowValidationError('objectType=folder needs object: the folder path, e.g. /acme/in', [
        { path: 'object', message: 'is required for objectType=folder' },
      ]);
    }
    const path = parsePath(request.object, 'object');
    const prefix = path.key === '' || path.key.endsWith('/') ? path.key : `${path.key}/`;
    checkScope({ bucket: path.bucket, key: prefix }, credentials, 'object');
    return withClient(credentials, `listing ${displayPath(path.bucket, prefix)}`, (client) =>
      listFolder(client, path.bucket, prefix),
    );
  }
  if (request.objectType === 'file') {
    return structureOf(credentials, request, request.preview ? previewCount(request) : undefined);
  }
  throw new InflowValidationError(
    `objectType=${request.objectType} does not apply to S3: use root, folder or file`,
    [{ path: 'objectType', message: 'must be root, folder or file' }],
  );
}

/**
 * The `preview` verb: a file's columns (see `exploreSource`) and its first `previewCount`
 * records (default 100, at most 10,000), parsed as `read` parses them: `fileType` delimited
 * (with `columnDelimiter`), json (JSON lines or an array) or parquet, `compressionType` gzip.
 */
export async function previewFile(
  credentials: S3Credentials,
  request: ExploreRequest,
): Promise<ExploreStructure> {
  return structureOf(credentials, request, previewCount(request));
}
