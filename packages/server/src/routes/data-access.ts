import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { previewRows } from '../datasets/reader.js';
import { type BatchManifest, DatasetLake, ROW_ERRORS_FILE } from '../datasets/writer.js';
import { FlowProblem, invalid } from '../errors.js';
import { callOf, pageParam, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import type { Scope } from '../store/resources.js';

const BASE = '/data/foundation/export';
/** The Data Access API's page size: default and maximum (reference §13.3). */
const PAGE = 100;
/** The real preview's row count. */
const PREVIEW_ROWS = 100;
/** Failures shown by `meta?path=row_errors_sample.json`. */
const SAMPLE_ERRORS = 10;

function lakeOf(services: Services): DatasetLake {
  if (!(services.datasets instanceof DatasetLake))
    throw new Error('Data Access needs the Parquet dataset lake');
  return services.datasets;
}

function fileNotFound(what: string): FlowProblem {
  return new FlowProblem('1101-404', `${what} is not found. Verify the id (and path) before trying again.`);
}

/** A batch of the caller's org and sandbox with its manifest, or the 404. */
async function batchOf(services: Services, scope: Scope, batchId: string) {
  const batch = await services.store.get('batches', scope, batchId);
  const datasetId = (batch?.doc.relatedObjects as { type: string; id: string }[] | undefined)?.find(
    (o) => o.type === 'dataSet',
  )?.id;
  const manifest = datasetId
    ? await lakeOf(services)
        .manifest(datasetId, batchId)
        .catch(() => undefined)
    : undefined;
  if (!batch || !datasetId || !manifest) throw fileNotFound(`Batch ${batchId}`);
  return { batch: batch.doc, datasetId, manifest };
}

/** `{batchId}-1` names a batch's data directory (the pattern of the real service's file ids). */
function parseFileId(fileId: string): string | undefined {
  return /^([A-Za-z0-9_-]+)-1$/.exec(fileId)?.[1];
}

const page = (query: { start?: string; limit?: string }) => ({
  start: pageParam(query.start, 'start', 0, 1_000_000_000),
  limit: pageParam(query.limit, 'limit', PAGE, PAGE),
});

/**
 * One page of a listing, as the real service pages (reference §13.3): `_page.count` is the total,
 * and while entries follow, `_links.next` is this request's own URL with the next `start` (and
 * `_links.page` this page's), so following `next` until it is absent walks every entry once.
 */
function pageOf<T>(req: FastifyRequest, publicUrl: string, all: readonly T[]) {
  const { start, limit } = page(req.query as { start?: string; limit?: string });
  const body: { data: T[]; _page: { limit: number; count: number }; _links?: PageLinks } = {
    data: all.slice(start, start + limit),
    _page: { limit, count: all.length },
  };
  if (start + limit < all.length) {
    const at = (from: number) => {
      const url = new URL(req.url, 'http://inflow.invalid');
      url.searchParams.delete('start');
      url.searchParams.delete('limit');
      url.searchParams.append('start', String(from));
      url.searchParams.append('limit', String(limit));
      return `${publicUrl}${url.pathname}${url.search}`;
    };
    body._links = { next: { href: at(start + limit) }, page: { href: at(start), templated: true } };
  }
  return body;
}

interface PageLinks {
  next: { href: string };
  page: { href: string; templated: true };
}

/** A byte range of `size` bytes from a `Range: bytes=a-b | a- | -n` header; `undefined` for the whole file. */
function rangeOf(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === ''))
    throw invalid('Range', 'must be bytes=start-end, bytes=start- or bytes=-suffix');
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) {
    throw new FlowProblem('1460-416', `Range ${header} is outside the file's ${size} bytes`);
  }
  return { start, end };
}

const querySchema = z.object({ start: z.string().optional(), limit: z.string().optional() });

/** Data Access (reference §13.3): a batch's files, file download, error files, and the dataset preview. */
export function registerDataAccess(table: RouteTable, services: Services): void {
  const href = (path: string) => `${services.publicUrl()}${BASE}${path}`;

  table.add({
    method: 'GET',
    url: `${BASE}/batches/:batchId/files`,
    operationId: 'listBatchFiles',
    summary: "A batch's dataset files (start, limit ≤ 100)",
    tag: 'Data Access',
    auth: 'platform',
    query: querySchema,
    responses: {
      200: { description: '{data: [dataSetFile], _page, _links.next while more follow}' },
      404: { description: 'Unknown batch' },
    },
    handler: async (req) => {
      const scope = scopeOf(callOf(req));
      const { batchId } = req.params as { batchId: string };
      const { batch, datasetId, manifest } = await batchOf(services, scope, batchId);
      const all =
        manifest.files.length === 0
          ? []
          : [
              {
                dataSetFileId: `${batchId}-1`,
                dataSetViewId: datasetId,
                version: '1.0.0',
                created: String(batch.created),
                updated: String(batch.updated),
                isValid: true,
                records: String(manifest.recordCount),
                size: String(manifest.files.reduce((n, f) => n + f.bytes, 0)),
                _links: { self: { href: href(`/files/${batchId}-1`) } },
              },
            ];
      return pageOf(req, services.publicUrl(), all);
    },
  });

  table.add({
    method: 'GET',
    url: `${BASE}/files/:fileId`,
    operationId: 'getFile',
    summary: 'A dataset file: its listing, or with ?path= its bytes (Range supported)',
    tag: 'Data Access',
    auth: 'platform',
    query: querySchema.extend({ path: z.string().optional() }),
    responses: {
      200: {
        description:
          '{data: [{name, length, _links}], _page, _links.next while more follow} or the file bytes',
      },
      206: { description: 'The requested byte range' },
      404: { description: 'Unknown file or path' },
    },
    handler: async (req, reply) => {
      const scope = scopeOf(callOf(req));
      const { fileId } = req.params as { fileId: string };
      const q = req.query as { path?: string; start?: string; limit?: string };
      const batchId = parseFileId(fileId);
      if (!batchId) throw fileNotFound(`File ${fileId}`);
      const { datasetId, manifest } = await batchOf(services, scope, batchId).catch(() => {
        throw fileNotFound(`File ${fileId}`);
      });
      if (q.path === undefined) {
        const all = manifest.files.map((f) => ({
          name: f.name,
          length: String(f.bytes),
          _links: { self: { href: href(`/files/${fileId}?path=${encodeURIComponent(f.name)}`) } },
        }));
        return pageOf(req, services.publicUrl(), all);
      }
      const file = manifest.files.find((f) => f.name === q.path);
      if (!file) throw fileNotFound(`File ${fileId} path ${q.path}`);
      const path = join(lakeOf(services).batchDir(datasetId, batchId), 'data', file.name);
      return sendFile(reply, path, 'application/octet-stream', req.headers.range);
    },
  });

  table.add({
    method: 'GET',
    url: `${BASE}/batches/:batchId/meta`,
    operationId: 'getBatchMeta',
    summary:
      "A batch's diagnostics: path=row_errors (listing), row_errors/{name} (JSON lines), row_errors_sample.json",
    tag: 'Data Access',
    auth: 'platform',
    query: z.object({ path: z.string() }),
    responses: { 200: { description: 'A listing or a file' }, 404: { description: 'Unknown batch or path' } },
    handler: async (req, reply) => {
      const scope = scopeOf(callOf(req));
      const { batchId } = req.params as { batchId: string };
      const path = String((req.query as { path?: string }).path ?? '');
      const { datasetId, manifest } = await batchOf(services, scope, batchId);
      const errorsPath = join(lakeOf(services).batchDir(datasetId, batchId), 'meta', ROW_ERRORS_FILE);
      if (path === 'row_errors') {
        const data =
          manifest.errorBytes === 0
            ? []
            : [
                {
                  name: ROW_ERRORS_FILE,
                  length: String(manifest.errorBytes),
                  records: String(manifest.failedCount),
                  _links: {
                    self: { href: href(`/batches/${batchId}/meta?path=row_errors/${ROW_ERRORS_FILE}`) },
                  },
                },
              ];
        return { data, _page: { limit: PAGE, count: data.length } };
      }
      if (path === `row_errors/${ROW_ERRORS_FILE}` && manifest.errorBytes > 0) {
        return sendFile(reply, errorsPath, 'application/x-ndjson', req.headers.range);
      }
      if (path === 'row_errors_sample.json' || path === 'row_error_samples.json') {
        return { data: await sampleErrors(errorsPath, manifest) };
      }
      throw fileNotFound(`Batch ${batchId} meta path ${path}`);
    },
  });

  table.add({
    method: 'GET',
    url: `${BASE}/datasets/:datasetId/preview`,
    operationId: 'retrieveDatasetPreview',
    summary: "A dataset's first rows (limit, default and max 100), oldest batch first",
    tag: 'Data Access',
    auth: 'platform',
    query: z.object({ limit: z.string().optional() }),
    responses: { 200: { description: '{data: [row]}' }, 404: { description: 'Unknown dataset' } },
    handler: async (req) => {
      const scope = scopeOf(callOf(req));
      const { datasetId } = req.params as { datasetId: string };
      const limit = pageParam((req.query as { limit?: string }).limit, 'limit', PREVIEW_ROWS, PREVIEW_ROWS);
      if (!(await services.store.get('dataSets', scope, datasetId)))
        throw fileNotFound(`Dataset ${datasetId}`);
      return { data: await previewRows(lakeOf(services), services.store, scope, datasetId, limit) };
    },
  });
}

async function sampleErrors(path: string, manifest: BatchManifest): Promise<unknown[]> {
  if (manifest.errorBytes === 0) return [];
  const out: unknown[] = [];
  let rest = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
    rest += chunk;
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line) out.push(JSON.parse(line));
      if (out.length >= SAMPLE_ERRORS) return out;
    }
  }
  return out;
}

async function sendFile(
  reply: import('fastify').FastifyReply,
  path: string,
  type: string,
  rangeHeader: string | undefined,
) {
  const { size } = await stat(path);
  const range = rangeOf(rangeHeader, size);
  reply.header('accept-ranges', 'bytes').type(type);
  if (!range) {
    reply.header('content-length', size);
    return reply.send(createReadStream(path));
  }
  reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
    .header('content-length', range.end - range.start + 1);
  return reply.send(createReadStream(path, { start: range.start, end: range.end }));
}
