// Seed 000/003 (Amazon S3): look up the amazon-s3 spec, create the base connection, test and
// explore it, then a source connection on a CSV file, the target dataset, a mapping and a
// CloudStorageToAEP flow; run it once and show the rows.
//
// Needs an S3-compatible server. Locally: scripts/services/radosgw.sh start /tmp/rgw prints
// INFLOW_TEST_S3_URL / _ACCESS_KEY / _SECRET_KEY; export them as S3_URL, S3_ACCESS_KEY, S3_SECRET_KEY.
//
//   npm start                      # in another terminal
//   S3_URL=http://127.0.0.1:37480 S3_ACCESS_KEY=… S3_SECRET_KEY=… node examples/s3.mjs
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { s3Connector } from '@inflow/connector-s3';
import { SetupRunner } from '@inflow/core';
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

const { S3_URL, S3_ACCESS_KEY, S3_SECRET_KEY } = process.env;
if (!S3_URL || !S3_ACCESS_KEY || !S3_SECRET_KEY) {
  console.error(
    'Set S3_URL, S3_ACCESS_KEY and S3_SECRET_KEY (an S3-compatible server: scripts/services/radosgw.sh start DIR).',
  );
  process.exit(2);
}
const run = stamp();
const bucket = process.env.S3_BUCKET ?? `inflow-example-${run}`;

// The file to ingest.
const s3 = new S3Client({
  endpoint: S3_URL,
  region: 'us-east-1',
  credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((e) => {
  if (e?.name !== 'BucketAlreadyOwnedByYou') throw e;
});
await s3.send(
  new PutObjectCommand({
    Bucket: bucket,
    Key: 'people.csv',
    Body: 'email,first_name\nada@example.com,Ada\ngrace@example.com,Grace\n',
  }),
);

const { client } = connect();
const credentials = { s3AccessKey: S3_ACCESS_KEY, s3SecretKey: S3_SECRET_KEY, serviceUrl: S3_URL };
const runner = new SetupRunner(s3Connector, client);
const input = { name: `S3 example ${run}`, credentials };
console.log('The requests (secrets redacted):');
for (const step of runner.plan(input))
  console.log(`  ${step.request.method} ${step.request.url}  ${step.title}`);
const { outputs } = await runner.apply(input);
console.log('\nBase connection:');
for (const [k, v] of Object.entries(outputs)) show(k, v);
show('test', JSON.stringify(await client.connections.test(outputs.connectionId)));
const root = await client.connections.explore(outputs.connectionId, { objectType: 'root' });
show('explore root', JSON.stringify(root).slice(0, 100));

const { tenantId, schemaId, dataSetId } = await schemaAndDataset(client, {
  title: `S3 example ${run}`,
  fields: { email: 'string', firstName: 'string' },
});
const source = await client.sourceConnections.create({
  name: `S3 example source ${run}`,
  baseConnectionId: outputs.connectionId,
  data: { format: 'delimited' },
  params: { path: `/${bucket}/people.csv`, type: 'file' },
  connectionSpec: { id: outputs.connectionSpecId, version: '1.0' },
});
const target = await client.targetConnections.create({
  name: `S3 example target ${run}`,
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
  name: `S3 example flow ${run}`,
  flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876', version: '1.0' },
  sourceConnectionIds: [source.id],
  targetConnectionIds: [target.id],
  transformations: [{ name: 'Mapping', params: { mappingId: mapping.id, mappingVersion: 0 } }],
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
