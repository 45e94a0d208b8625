import type { Readable } from 'node:stream';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { JsonValue, ReadRequest, RecordBatch } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import { z } from 'zod';
import { createClient, S3Error, s3Failure } from './s3-client.js';
import type { S3Credentials, S3SourceParams } from './s3-credentials.js';
import { listPages } from './s3-explore.js';
import { discardBody, type FileFormat, fileRecords, formatOf, getBody, type S3Object } from './s3-format.js';
import { checkScope, displayPath, globMatcher, hasGlob, parsePath } from './s3-path.js';

/**
 * Records per `RecordBatch`. Small enough that two batches fit in V8's young generation with room
 * to spare: a `for await` consumer still holds batch N while N+1 is built, and with 10,000
 * records (about 4.5 MB of a CSV's records) nearly every record survived two scavenges and was
 * promoted, which doubled the read's CPU. A batch costs one state object and one `yield`.
 * Consumers must not assume a count; see decision 0008's addendum.
 */
export const READ_BATCH_SIZE = 1_000;

/**
 * The state a read leaves after each batch; the engine saves it and passes it back to resume.
 *
 * Files are read in `(LastModified, key)` order. `mark` is the high-water mark of the files
 * read to their end: `modified` is the LastModified (epoch ms, as the listing gives it) of the
 * last one, and `done` lists `[key, etag]` of every finished file with exactly that
 * LastModified. The next read takes the files with a later LastModified, plus those at
 * `modified` whose `[key, etag]` is not in `done`: files that share the boundary time are
 * neither lost nor read twice, and a file rewritten (a new LastModified, or a new etag at the
 * same instant) is read again.
 *
 * `file` is the file a batch ended inside: its first `records` records have been delivered.
 * A read resumed from that state skips them (parsing them again: no byte offsets are kept, so
 * gzip and Parquet resume alike), as long as the file is listed with the same etag and
 * LastModified; a file rewritten or uploaded again since is read in full, and a position in a
 * file no longer listed is dropped from the next state.
 */
export type S3ReadState = z.infer<typeof readStateSchema>;

const readStateSchema = z.object({
  v: z.literal(1),
  connector: z.literal('s3'),
  mark: z
    .object({
      modified: z.number().int().nonnegative(),
      done: z.array(z.tuple([z.string(), z.string()])),
    })
    .optional(),
  file: z
    .object({
      key: z.string(),
      bucket: z.string(),
      etag: z.string(),
      modified: z.number().int().nonnegative(),
      records: z.number().int().nonnegative(),
    })
    .optional(),
});

/** Validates a saved state; a state of another shape is an error rather than a silent full re-read. */
export function parseReadState(state: JsonValue | undefined): S3ReadState | undefined {
  if (state === undefined || state === null) return undefined;
  const parsed = readStateSchema.safeParse(state);
  if (!parsed.success) {
    throw new InflowValidationError(
      'the saved read state is not an S3 read state (version 1): it was written by another connector or version',
      [{ path: 'state', message: 'is not an S3 read state' }],
    );
  }
  return parsed.data;
}

/** Whether a listed object comes after the state's mark (new, or changed since). */
export function isPending(object: S3Object, mark: S3ReadState['mark']): boolean {
  if (!mark) return true;
  if (object.modified !== mark.modified) return object.modified > mark.modified;
  return !mark.done.some(([key, etag]) => key === `${object.bucket}/${object.key}` && etag === object.etag);
}

/** `(LastModified, bucket/key)` order. */
export function compareObjects(a: S3Object, b: S3Object): number {
  if (a.modified !== b.modified) return a.modified - b.modified;
  const ka = `${a.bucket}/${a.key}`;
  const kb = `${b.bucket}/${b.key}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The next mark once `object` is read to its end. */
export function advanceMark(mark: S3ReadState['mark'], object: S3Object): NonNullable<S3ReadState['mark']> {
  const entry: [string, string] = [`${object.bucket}/${object.key}`, object.etag];
  if (!mark || object.modified > mark.modified) return { modified: object.modified, done: [entry] };
  return { modified: mark.modified, done: [...mark.done, entry] };
}

/** What a path selects: the prefix to list and which keys under it to keep. */
interface Selection {
  bucket: string;
  prefix: string;
  keep: (key: string) => boolean;
  /** A single file: it must exist. */
  single?: string;
  /** No type given and no glob: the exact key if it exists, else the folder of that name. */
  fileOrFolder?: string;
}

function selection(params: S3SourceParams, credentials: S3Credentials): Selection {
  const path = parsePath(params.path, 'params.path');
  const { bucket, key } = path;
  const isFile = (k: string) => !k.endsWith('/');
  const under = (prefix: string) => (k: string) =>
    isFile(k) && k.startsWith(prefix) && (params.recursive === true || !k.slice(prefix.length).includes('/'));
  if (hasGlob(key)) {
    const glob = globMatcher(key);
    checkScope({ bucket, key: glob.prefix }, credentials, 'params.path');
    return { bucket, prefix: glob.prefix, keep: (k) => isFile(k) && glob.test(k) };
  }
  const folderKey = key === '' || key.endsWith('/') ? key : `${key}/`;
  if (params.type === 'folder' || key === '' || key.endsWith('/')) {
    checkScope({ bucket, key: folderKey }, credentials, 'params.path');
    return { bucket, prefix: folderKey, keep: under(folderKey) };
  }
  checkScope(path, credentials, 'params.path');
  if (params.type === 'file') return { bucket, prefix: key, keep: (k) => k === key, single: key };
  const inFolder = under(folderKey);
  return { bucket, prefix: key, keep: (k) => k === key || inFolder(k), fileOrFolder: key };
}

/** Every object the params select, in `(LastModified, key)` order. */
async function listSelected(
  client: S3Client,
  params: S3SourceParams,
  credentials: S3Credentials,
  signal: AbortSignal | undefined,
): Promise<S3Object[]> {
  const sel = selection(params, credentials);
  const objects: S3Object[] = [];
  for await (const page of listPages(client, { bucket: sel.bucket, prefix: sel.prefix }, signal)) {
    for (const o of page.Contents ?? []) {
      if (!o.Key || !sel.keep(o.Key)) continue;
      objects.push({
        bucket: sel.bucket,
        key: o.Key,
        size: o.Size ?? 0,
        modified: o.LastModified?.getTime() ?? 0,
        etag: o.ETag ?? '',
      });
    }
  }
  let selected = objects;
  if (sel.fileOrFolder !== undefined) {
    const exact = objects.filter((o) => o.key === sel.fileOrFolder);
    if (exact.length > 0) selected = exact;
  }
  if (sel.single !== undefined && selected.length === 0) {
    throw new S3Error({
      message: `no file ${displayPath(sel.bucket, sel.single)}: check params.path`,
      code: 'not_found',
    });
  }
  return selected.sort(compareObjects);
}

/** A precondition failed: the object changed between the listing and the read. */
function changedSinceListing(error: unknown): boolean {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 412;
}

/**
 * The key is gone: the object was deleted (or moved away) between the listing and the read.
 * Only `NoSuchKey`: a missing bucket (`NoSuchBucket`) stays an error that fails the read.
 */
function goneSinceListing(error: unknown): boolean {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  return e?.$metadata?.httpStatusCode === 404 && e.name === 'NoSuchKey';
}

/**
 * What a HEAD of a listed key finds after its GET answered `NoSuchKey`: `gone` (404), the object
 * as `listed` (same etag), or a `changed` one (rewritten since the listing).
 */
async function keyNow(
  client: S3Client,
  object: S3Object,
  signal: AbortSignal | undefined,
): Promise<'gone' | 'listed' | 'changed'> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: object.bucket, Key: object.key }), {
      abortSignal: signal,
    });
    // A listing without etags cannot tell a rewrite from the same object: taken as the same.
    return !object.etag || head.ETag === object.etag ? 'listed' : 'changed';
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 404)
      return 'gone';
    throw error;
  }
}

/**
 * The `read` verb: every file the params select (`path` a file, a folder — with `recursive`,
 * its sub-folders too — or a glob such as `/acme/in/*.csv`), oldest first, parsed as
 * `fileType` says (or by extension) and delivered in batches of `READ_BATCH_SIZE` records.
 * Bodies are streamed with back-pressure (Parquet by ranged GETs, one row group at a time):
 * memory holds one batch and one chunk of the file, whatever its size. Each batch carries the
 * state to resume from after it (see `S3ReadState`); a read from a saved state yields only the
 * files added or changed since, and the rest of a file it ended inside.
 */
export async function* readFiles(
  request: ReadRequest<S3Credentials, S3SourceParams>,
): AsyncGenerator<RecordBatch> {
  const { params, signal, credentials, limit } = request;
  const prior = parseReadState(request.state);
  const client = createClient(credentials);
  let doing = `listing ${params.path}`;
  // The next file's GetObject, sent once the current file's body has arrived in full (its
  // last read-ahead still parsing), so the round trip overlaps parsing. Its body stays paused
  // until read: one response's buffers, never a whole object, and only for as long as the
  // current file's read-ahead takes to parse. Destroyed unread if the read stops first.
  let next: { object: S3Object; body: Promise<Readable> } | undefined;
  try {
    const objects = await listSelected(client, params, credentials, signal);
    // Check every file's format before reading any: a bad one fails the run up front.
    const formats = new Map<S3Object, FileFormat>();
    const pending = objects.filter((o) => isPending(o, prior?.mark));
    for (const o of pending) formats.set(o, formatOf(o.key, params, { prefix: 'params.' }));

    let mark = prior?.mark;
    let partial = prior?.file;
    // Each batch's array is made at its full size once: grown by `push`, it would leave copies
    // behind, and at millions of records the young generation's room is what sets the pace.
    let records: Record<string, unknown>[] = new Array(READ_BATCH_SIZE);
    let count = 0;
    let bytes = 0;
    let files = 0;
    let total = 0;
    // A part-way position in a file that is no longer listed as it was (deleted, rewritten) is
    // dropped: a batch goes out, records or not, with a state without it, so a later upload under
    // that key is not resumed part-way.
    let changed = partial !== undefined && !pending.some((o) => resumes(partial as PartialFile, o));
    const stateNow = (inFile?: S3ReadState['file']): S3ReadState => ({
      v: 1,
      connector: 's3',
      ...(mark ? { mark } : {}),
      ...(inFile ? { file: inFile } : {}),
    });
    const batch = (inFile?: S3ReadState['file']): RecordBatch => {
      if (count < records.length) records.length = count;
      const out: RecordBatch = { records, state: stateNow(inFile) as JsonValue, bytes, files };
      records = new Array(READ_BATCH_SIZE);
      count = 0;
      bytes = 0;
      files = 0;
      changed = false;
      return out;
    };

    const fetchAhead = (index: number) => {
      const object = pending[index];
      if (!object || next || (limit !== undefined && total >= limit) || signal?.aborted) return;
      // Parquet is read by ranges, not one body.
      if ((formats.get(object) as FileFormat).fileType === 'parquet') return;
      const body = getBody(client, object, signal);
      // A failure surfaces when this file is read (a 412 there means "changed since listing", a
      // 404 NoSuchKey "deleted since listing").
      body.catch(() => {});
      next = { object, body };
    };

    for (let index = 0; index < pending.length; index++) {
      const object = pending[index] as S3Object;
      if (limit !== undefined && total >= limit) break;
      const format = formats.get(object) as FileFormat;
      const prefetched = next?.object === object ? next.body : undefined;
      next = undefined;
      const resume = partial !== undefined && resumes(partial, object);
      let delivered = resume ? (partial?.records ?? 0) : 0;
      partial = undefined;
      doing = `reading ${displayPath(object.bucket, object.key)}`;
      let finished = true;
      try {
        for await (const chunk of fileRecords(client, object, format, {
          skip: delivered,
          signal,
          body: prefetched,
          onFetched: () => fetchAhead(index + 1),
          onBytes: (n) => {
            bytes += n;
          },
        })) {
          let offset = 0;
          while (offset < chunk.length) {
            const room = Math.min(
              READ_BATCH_SIZE - count,
              limit === undefined ? Number.POSITIVE_INFINITY : limit - total,
            );
            const take = Math.min(room, chunk.length - offset);
            for (let r = 0; r < take; r++) records[count++] = chunk[offset + r] as Record<string, unknown>;
            offset += take;
            delivered += take;
            total += take;
            changed = true;
            const atLimit = limit !== undefined && total >= limit;
            if (count >= READ_BATCH_SIZE || atLimit) {
              // The file may have more records: the state says how far into it this batch goes.
              const inFile = {
                bucket: object.bucket,
                key: object.key,
                etag: object.etag,
                modified: object.modified,
                records: delivered,
              };
              signal?.throwIfAborted();
              yield batch(inFile);
              if (atLimit) {
                // The file may end right here, but only reading on would tell: a read resumed
                // from this state skips `delivered` records and finds out.
                finished = false;
                break;
              }
            }
          }
          if (!finished) break;
        }
      } catch (error) {
        const gone = goneSinceListing(error) ? await keyNow(client, object, signal) : undefined;
        if (gone === 'listed') {
          // The store contradicts itself (a replica behind the one that listed, a key it
          // mis-decodes): not a file to skip. Failed, retryably: a later attempt reads it.
          throw new S3Error({
            message: `${displayPath(object.bucket, object.key)} is listed, and still there as listed, but reading it answered NoSuchKey`,
            code: 'network',
            s3Code: 'NoSuchKey',
            status: 404,
            isRetryable: true,
            cause: error,
          });
        }
        if (gone === 'gone') {
          // Deleted after the listing, as a producer that moves processed files away does:
          // skipped like a rewritten file (its records so far, if any, have landed or will with
          // this batch), but the mark does not take its `[key, etag]`. A rewrite has a new etag
          // or a later LastModified, so marking the old version loses nothing; a re-upload of the
          // same bytes under the same key has the same etag, and LastModified (whole seconds on
          // S3) may equal this one's: marked, it would never be read. Unmarked, it is: uploaded
          // after this listing, it is no older than any file listed here, so no mark this read
          // leaves is past it. A batch goes out even if no record follows (`changed`): its state
          // drops a part-way position saved in this file, which a re-upload must not resume.
          changed = true;
          continue;
        }
        if (gone === undefined && !changedSinceListing(error)) throw error;
        // Rewritten after the listing (a 412, or a NoSuchKey read while it was being replaced): its new version has a later LastModified, so the next
        // read takes it in full. This one's records so far have landed (or will with this batch).
      }
      if (!finished) break;
      mark = advanceMark(mark, object);
      files++;
      changed = true;
    }
    // Delivered even without records: finished files (empty ones too) move the mark on.
    if (count > 0 || changed) {
      signal?.throwIfAborted();
      yield batch();
    }
  } catch (error) {
    signal?.throwIfAborted();
    if (InflowValidationError.isInstance(error) || S3Error.isInstance(error)) throw error;
    throw s3Failure(error, credentials, doing);
  } finally {
    // Aborted, failed or stopped early: the request made ahead is never read.
    next?.body.then(discardBody, () => {});
    client.destroy();
  }
}

type PartialFile = NonNullable<S3ReadState['file']>;

/**
 * Whether a saved part-way position is in `object` as listed now. The same bytes uploaded again
 * (same etag) are a new file, read from its start: LastModified tells them apart.
 */
function resumes(partial: PartialFile, object: S3Object): boolean {
  return (
    partial.bucket === object.bucket &&
    partial.key === object.key &&
    partial.etag === object.etag &&
    partial.modified === object.modified
  );
}
