// Seed 004 (Customer.io): source connection (no base connection), target connection, mapping
// set and flow on GenericStreamingAEP; then a Reporting Webhook signed as Customer.io signs it.
//
//   npm start                      # in another terminal
//   node examples/customerio.mjs
import { customerioConnector, customerioSignature } from '@inflow/connector-customerio';
import { SetupRunner } from '@inflow/core';
import { connect, previewRows, schemaAndDataset, show, stamp } from './lib/inflow.mjs';

const { client } = connect();
const run = stamp();
// The tutorial's target fields (reference §10.1): what its mapping writes. (A profile schema: an
// ExperienceEvent schema would also need _id and timestamp, which the tutorial's mapping leaves out.)
const { tenantId, schemaId, dataSetId } = await schemaAndDataset(client, {
  title: `Customer.io example ${run}`,
  fields: {
    cio_id: 'string',
    email: 'string',
    event_id0: 'string',
    metricx: 'string',
    object_type1: 'string',
    timestampx: 'integer',
  },
});
const signingKey = process.env.CIO_SIGNING_KEY ?? 'example-signing-key';
const runner = new SetupRunner(customerioConnector, client);
const input = {
  dataSetId,
  schemaId,
  tenantId,
  webhookSigningKey: signingKey,
  flowName: `Customer.io example ${run}`,
};
console.log('The requests (secrets redacted):');
for (const step of runner.plan(input))
  console.log(`  ${step.request.method} ${step.request.url}  ${step.title}`);
const { outputs } = await runner.apply(input);
console.log('\nCreated:');
for (const [k, v] of Object.entries(outputs)) show(k, v);
show('dataset', dataSetId);

// What Customer.io posts to the webhook URL (`{inletUrl}?x-adobe-flow-id={flowId}`).
const webhook = {
  data: { identifiers: { cio_id: 'd9c106000001', email: 'ada@example.com', id: '42' }, customer_id: '42' },
  event_id: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
  metric: 'subscribed',
  object_type: 'customer',
  timestamp: Math.floor(Date.now() / 1000),
};
const body = JSON.stringify(webhook);
const url = `${outputs.inletUrl}?x-adobe-flow-id=${outputs.flowId}`;
const timestamp = String(Math.floor(Date.now() / 1000));
const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
show('unsigned webhook', `${unsigned.status} (refused: the connection has a signing key)`);
const signed = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'x-cio-timestamp': timestamp,
    'x-cio-signature': customerioSignature(signingKey, timestamp, body),
  },
  body,
});
show('signed webhook', `${signed.status} ${JSON.stringify(await signed.json())}`);

const rows = await previewRows(client, dataSetId);
console.log(`\nRows in dataset ${dataSetId}:`);
for (const row of rows) console.log(`  ${JSON.stringify(row[`_${tenantId}`])}`);
