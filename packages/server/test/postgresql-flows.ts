import { randomBytes } from 'node:crypto';
import { fillPlaceholders, parseSeedCurls, readSeed, sqlAs, type TestPostgres } from '@inflow/testkit';
import { inject } from 'vitest';
import { TENANT, XDM_FULL } from './datasets-fixtures.js';
import { FS, postOk, type TestServer } from './helpers.js';

/*
 * PostgreSQL table → flow → dataset on the real server, for the int tests (the test PostgreSQL
 * that the int tier's global setup starts): seed 002's base connection, a small members table,
 * and the documented chain after the connection.
 */

const T = `_${TENANT}`;
export const POSTGRESQL_SPEC = '74a1c565-4e59-48d7-9d67-7c03b8a13137';
export const DATABASE_FLOW_SPEC = '14518937-270c-4525-bdec-c2ba7cce3860';
export const DATA_LAKE_SPEC = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';

/** Seed 002: the PostgreSQL base connection, exactly as the tutorial sends it; returns its id. */
export async function seedConnection(t: TestServer): Promise<string> {
  const PG: TestPostgres = inject('postgres');
  const [seed] = parseSeedCurls(readSeed('002'));
  const body = fillPlaceholders(seed?.body, {
    SERVER: PG.host,
    DATABASE: PG.database,
    PORT: String(PG.port),
    USERNAME: PG.user,
    PASSWORD: `"${PG.password.replaceAll('"', '""')}"`,
  });
  return (await postOk(t, `${FS}/connections`, body)).id as string;
}

/**
 * A table `table` (a new `members_…` name by default) of `rows` members: id 1…rows, code
 * `m-<id>`, updated_at 2024-01-01 plus `id` hours.
 */
export async function membersTable(
  rows: number,
  table = `members_${randomBytes(4).toString('hex')}`,
): Promise<string> {
  const sql = sqlAs(inject('postgres'));
  await sql(
    `create table ${table} (id int primary key, code text not null, updated_at timestamptz not null)`,
  );
  await sql(
    `insert into ${table} select i, 'm-' || i, timestamptz '2024-01-01T00:00:00Z' + i * interval '1 hour' from generate_series(1, ${rows}) as i`,
  );
  return table;
}

/** The mapping of a members table: code → `_id`, id → memberId. */
export const MEMBER_ID_MAPPINGS = [
  { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
  { sourceType: 'ATTRIBUTE', source: 'id', destination: `${T}.memberId` },
];

export interface DatabaseFlowOptions {
  table: string;
  connectionId: string;
  schemaId: string;
  dataSetId: string;
  /** Default: MEMBER_ID_MAPPINGS. */
  mappings?: unknown[];
  /** The Copy transformation's `deltaColumn`. Default: `{ name: 'updated_at' }`. */
  deltaColumn?: Record<string, unknown>;
  /** Default: once, a day from now, so only POST /runs runs it. */
  schedule?: Record<string, unknown>;
  /** Whether the target connection names the dataset's schema in `data.schema`. */
  targetSchema?: boolean;
}

/** The documented chain after the connection: source (table), target (dataset), mapping set, flow; returns the flow's id. */
export async function databaseFlow(t: TestServer, opts: DatabaseFlowOptions): Promise<string> {
  const source = await postOk(t, `${FS}/sourceConnections`, {
    name: `table ${opts.table}`,
    baseConnectionId: opts.connectionId,
    data: { format: 'tabular' },
    params: { tableName: opts.table },
    connectionSpec: { id: POSTGRESQL_SPEC, version: '1.0' },
  });
  const target = await postOk(t, `${FS}/targetConnections`, {
    name: 'lake',
    ...(opts.targetSchema
      ? {
          data: {
            schema: { id: opts.schemaId, version: XDM_FULL.split(';')[1]?.replace('version=', '') ?? '1' },
          },
        }
      : {}),
    params: { dataSetId: opts.dataSetId },
    connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
  });
  const mapping = await postOk(t, '/data/foundation/conversion/mappingSets', {
    outputSchema: { schemaRef: { id: opts.schemaId, contentType: XDM_FULL } },
    mappings: opts.mappings ?? MEMBER_ID_MAPPINGS,
  });
  const flow = await postOk(t, `${FS}/flows`, {
    name: `Database dataflow for ${opts.table}`,
    flowSpec: { id: DATABASE_FLOW_SPEC, version: '1.0' },
    sourceConnectionIds: [source.id],
    targetConnectionIds: [target.id],
    transformations: [
      { name: 'Copy', params: { deltaColumn: opts.deltaColumn ?? { name: 'updated_at' } } },
      { name: 'Mapping', params: { mappingId: mapping.id, mappingVersion: 0 } },
    ],
    scheduleParams: opts.schedule ?? {
      startTime: String(Math.floor(Date.now() / 1000) + 86_400),
      frequency: 'once',
    },
  });
  return flow.id as string;
}
