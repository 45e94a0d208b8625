import type { ExploreRequest, ExploreResult, ExploreStructure } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import type pg from 'pg';
import {
  exploreColumns,
  listTables,
  primaryKey,
  qualifiedName,
  resolveTable,
  tableColumns,
} from './postgresql-catalog.js';
import { connect, queryFailure, settingsOf } from './postgresql-client.js';
import type { PostgresqlCredentials } from './postgresql-credentials.js';
import { RAW_TEXT_TYPES, recordFactory } from './postgresql-read.js';

/** Preview rows when `previewCount` is absent. */
export const DEFAULT_PREVIEW_COUNT = 100;
/** The most rows a preview returns. */
export const MAX_PREVIEW_COUNT = 10_000;

async function withClient<T>(
  credentials: PostgresqlCredentials,
  doing: string,
  run: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const settings = settingsOf(credentials);
  const client = await connect(settings);
  try {
    return await run(client);
  } catch (error) {
    throw queryFailure(error, doing, settings.password);
  } finally {
    await client.end().catch(() => {});
  }
}

function tableObject(request: ExploreRequest): string {
  if (request.objectType !== 'table') {
    throw new InflowValidationError(
      `objectType=${request.objectType} does not apply to PostgreSQL: use root (the tables) or table (a table's columns)`,
      [{ path: 'objectType', message: 'must be root or table' }],
    );
  }
  if (!request.object) {
    throw new InflowValidationError('objectType=table needs object: the table as schema.table', [
      { path: 'object', message: 'is required for objectType=table' },
    ]);
  }
  return request.object;
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

async function structure(
  client: pg.Client,
  object: string,
  rows: number | undefined,
): Promise<ExploreStructure> {
  const table = await resolveTable(client, object, 'object');
  const columns = await tableColumns(client, table);
  const result: ExploreStructure = { format: 'flat', schema: { columns: exploreColumns(columns) } };
  if (rows === undefined) return result;
  const key = await primaryKey(client, table);
  const order =
    key.length > 0 ? ` ORDER BY ${key.map((k) => `t.${client.escapeIdentifier(k)}`).join(', ')}` : '';
  const select =
    columns.length > 0 ? columns.map((c) => `t.${client.escapeIdentifier(c.name)}`).join(', ') : '';
  const data = await client.query<(string | null)[]>({
    text: `SELECT ${select} FROM ${qualifiedName(table)} AS t${order} LIMIT $1`,
    values: [rows],
    rowMode: 'array',
    types: RAW_TEXT_TYPES,
  });
  result.data = data.rows.map(recordFactory(columns));
  return result;
}

/**
 * The `explore` verb. `root`: every table, view, materialized view and foreign table outside
 * the system schemas, as `{type: 'table', name, path: 'schema.table', canPreview,
 * canFetchSchema}`. `table` with `object` (`schema.table`, or `"Schema"."Table"`): its columns
 * as `{format: 'flat', schema: {columns: [{name, type, xdm, 'meta:xdmType'}]}}`, with the first
 * `previewCount` rows in `data` when `preview` is set. An unknown table is an
 * `InflowValidationError` at `object`.
 */
export async function exploreSource(
  credentials: PostgresqlCredentials,
  request: ExploreRequest,
): Promise<ExploreResult> {
  if (request.objectType === 'root') return withClient(credentials, 'listing the tables', listTables);
  const object = tableObject(request);
  const rows = request.preview ? previewCount(request) : undefined;
  return withClient(credentials, `exploring ${object}`, (client) => structure(client, object, rows));
}

/**
 * The `preview` verb: a table's structure (see `exploreSource`) and its first `previewCount`
 * rows (default 100, at most 10,000), in primary-key order when it has one, decoded as `read`
 * decodes them.
 */
export async function previewTable(
  credentials: PostgresqlCredentials,
  request: ExploreRequest,
): Promise<ExploreStructure> {
  const object = tableObject(request);
  const rows = previewCount(request);
  return withClient(credentials, `previewing ${object}`, (client) => structure(client, object, rows));
}
