// Seed 002 (PostgreSQL): create the base connection with the connection string, test and explore
// it, then a source connection on a table (incremental by a delta column), the target dataset,
// a mapping and a CRMToAEP flow; run it once and show the rows.
//
//   npm start                      # in another terminal
//   PG_CONNECTION_STRING='Server=127.0.0.1;Database=postgres;Port=5432;UID=postgres;Password=…' node examples/postgresql.mjs
//
// Locally, scripts/services/postgres.sh start /tmp/pg starts a throwaway server (it prints its URL).
import { postgresqlConnector } from '@inflow/connector-postgresql';
import { SetupRunner } from '@inflow/core';
import pg from 'pg';
import {
  connect,
  DATA_LAKE_SPEC_ID,
  previewRows,
  schemaAndDataset,
  show,
  stamp,
  XDM_FULL,
} from './lib/inflow.mjs';
import { runOnce } from './lib/runs.mjs';

const connectionString = process.env.PG_CONNECTION_STRING;
if (!connectionString) {
  console.error(
    "Set PG_CONNECTION_STRING, e.g. 'Server=127.0.0.1;Database=postgres;Port=5432;UID=postgres;Password=…'",
  );
  process.exit(2);
}
const run = stamp();
const table = `inflow_example_${run}`;

// The table to ingest, made with the same credentials.
const part = (k) => new RegExp(`(?:^|;)\\s*${k}=([^;]*)`, 'i').exec(connectionString)?.[1];
const db = new pg.Client({
  host: part('Server'),
  port: Number(part('Port') ?? 5432),
  database: part('Database'),
  user: part('UID'),
  password: part('Password'),
});
await db.connect();
await db.query(
  `create table ${table} (id serial primary key, email text, first_name text, updated_at timestamptz default now())`,
);
await db.query(
  `insert into ${table} (email, first_name) values ('ada@example.com', 'Ada'), ('grace@example.com', 'Grace')`,
);
await db.end();

const { client } = connect();
const runner = new SetupRunner(postgresqlConnector, client);
const input = { name: `PostgreSQL example ${run}`, credentials: { connectionString } };
console.log('The requests (secrets redacted):');
for (const step of runner.plan(input))
  console.log(`  ${step.request.method} ${step.request.url}  ${step.title}`);
const { outputs } = await runner.apply(input);
console.log('\nBase connection:');
show('connection', outputs.connectionId);
show('test', JSON.stringify(await client.connections.test(outputs.connectionId)));
const tables = await client.connections.explore(outputs.connectionId, { objectType: 'root' });
show('explore (tables)', JSON.stringify(tables).slice(0, 100));

const { tenantId, schemaId, dataSetId } = await schemaAndDataset(client, {
  title: `PostgreSQL example ${run}`,
  fields: { email: 'string', firstName: 'string' },
});
const source = await client.sourceConnections.create({
  name: `PostgreSQL example source ${run}`,
  baseConnectionId: outputs.connectionId,
  data: { format: 'tabular' },
  params: { tableName: table, deltaColumn: { name: 'updated_at' } },
  connectionSpec: { id: postgresqlConnector.connectionSpec.id, version: '1.0' },
});
const target = await client.targetConnections.create({
  name: `PostgreSQL example target ${run}`,
  data: { schema: { id: schemaId, version: XDM_FULL } },
  params: { dataSetId },
  connectionSpec: { id: DATA_LAKE_SPEC_ID, version: '1.0' },
});
const mapping = await client.mappingSets.create({
  outputSchema: { schemaRef: { id: schemaId, contentType: XDM_FULL } },
  mappings: [
    { sourceType: 'ATTRIBUTE', source: 'email', destination: `_${tenantId}.email` },
    { sourceType: 'ATTRIBUTE', source: 'first_name', destination: `_${tenantId}.firstName` },
  ],
});
const flow = await client.flows.create({
  name: `PostgreSQL example flow ${run}`,
  flowSpec: { id: '14518937-270c-4525-bdec-c2ba7cce3860', version: '1.0' },
  sourceConnectionIds: [source.id],
  targetConnectionIds: [target.id],
  transformations: [
    {
      name: 'Copy',
      params: { deltaColumn: { name: 'updated_at', dateFormat: 'YYYY-MM-DD', timezone: 'UTC' } },
    },
    { name: 'Mapping', params: { mappingId: mapping.id, mappingVersion: 0 } },
  ],
  scheduleParams: { startTime: Math.floor(Date.now() / 1000), frequency: 'once' },
});
console.log('\nFlow:');
show('source connection', source.id);
show('target connection', target.id);
show('mapping set', mapping.id);
show('dataset', dataSetId);
show('flow', flow.id);

const result = await runOnce(client, flow.id);
if (result) {
  show(
    'run',
    `${result.id} ${result.status} (read ${result.metrics?.recordSummary?.inputRecordCount ?? 0}, written ${result.metrics?.recordSummary?.outputRecordCount ?? 0})`,
  );
  const rows = await previewRows(client, dataSetId);
  console.log(`\nRows in dataset ${dataSetId}:`);
  for (const row of rows) console.log(`  ${JSON.stringify(row[`_${tenantId}`])}`);
}
