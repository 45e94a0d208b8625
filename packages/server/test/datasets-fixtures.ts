import { DuckDBInstance } from '@duckdb/node-api';
import { expect } from 'vitest';
import { call, type TestServer } from './helpers.js';

export const SR = '/data/foundation/schemaregistry';
export const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
export const TENANT = 'inflowtest';

/** A Profile schema with tenant fields of every column kind: text, whole and real numbers, booleans, nested objects, arrays. */
export const PROFILE_SCHEMA = {
  type: 'object',
  title: 'Loyalty members',
  description: 'Rows of a loyalty table',
  allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/profile' }, { $ref: '#/definitions/loyalty' }],
  definitions: {
    loyalty: {
      properties: {
        [`_${TENANT}`]: {
          type: 'object',
          properties: {
            memberId: { type: 'integer' },
            name: { type: 'string' },
            points: { type: 'number' },
            active: { type: 'boolean' },
            joined: { type: 'string', format: 'date-time' },
            tags: { type: 'array', items: { type: 'string' } },
            address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } } },
          },
        },
      },
    },
  },
};

/** Creates a schema and a dataset on it; returns their ids. */
export async function createDataset(
  t: TestServer,
  name: string,
  schema: Record<string, unknown> = PROFILE_SCHEMA,
): Promise<{ schemaId: string; dataSetId: string }> {
  const created = await call(t.url, 'POST', `${SR}/tenant/schemas`, {
    headers: t.headers,
    body: { ...schema, title: `${String(schema.title)} ${name}` },
  });
  expect(created.status, created.text).toBe(201);
  const schemaId = (created.body as { $id: string }).$id;
  const ds = await call(t.url, 'POST', '/data/foundation/catalog/dataSets', {
    headers: t.headers,
    body: { name, schemaRef: { id: schemaId, contentType: XDM_FULL } },
  });
  expect(ds.status, ds.text).toBe(201);
  return { schemaId, dataSetId: ((ds.body as string[])[0] as string).replace('@/dataSets/', '') };
}

/** Runs one query in a fresh in-memory DuckDB and returns its rows as JSON values. */
async function duckQuery(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The row counts of a Parquet file's row groups, in order, as DuckDB reads its metadata. */
export async function rowGroupSizes(file: string): Promise<number[]> {
  const rows = await duckQuery(
    `select distinct row_group_id, row_group_num_rows from parquet_metadata('${file.replace(/'/g, "''")}') order by row_group_id`,
  );
  return rows.map((r) => Number(r.row_group_num_rows));
}

/** Reads Parquet files with DuckDB (an independent reader): rows as JSON-compatible objects. */
export async function duckRows(
  glob: string,
  select = '*',
  orderBy?: string,
): Promise<Record<string, unknown>[]> {
  const escaped = glob.replace(/'/g, "''");
  return duckQuery(
    `select ${select} from read_parquet('${escaped}')${orderBy ? ` order by ${orderBy}` : ''}`,
  );
}
