// Seed 001 (HTTP API streaming): an unauthenticated and an authenticated streaming connection,
// one XDM message to each inlet, and the rows in the dataset.
//
//   npm start                      # in another terminal
//   node examples/streaming.mjs

import { streamingConnector } from '@inflow/connector-streaming';
import { SetupRunner } from '@inflow/core';
import { connect, previewRows, schemaAndDataset, show, stamp } from './lib/inflow.mjs';

const { client, tokens, orgId, clientId } = connect();
const run = stamp();
const { tenantId, schemaId, dataSetId } = await schemaAndDataset(client, {
  title: `Streaming example ${run}`,
  fields: { email: 'string', source: 'string' },
});
console.log('Schema and dataset:');
show('schema', schemaId);
show('dataset', dataSetId);

/** One XDM message (reference §6.2): the dataset and schema in the header, the record in the body. */
const message = (source) => ({
  header: {
    schemaRef: { id: schemaId, contentType: 'application/vnd.adobe.xed-full+json;version=1' },
    datasetId: dataSetId,
    source: { name: source },
  },
  body: {
    xdmMeta: { schemaRef: { id: schemaId, contentType: 'application/vnd.adobe.xed-full+json;version=1' } },
    xdmEntity: { [`_${tenantId}`]: { email: `${source}@example.com`, source } },
  },
});

for (const authenticationRequired of [false, true]) {
  const label = authenticationRequired ? 'authenticated' : 'unauthenticated';
  const { outputs } = await new SetupRunner(streamingConnector, client).apply({
    name: `Streaming example ${label} ${run}`,
    authenticationRequired,
  });
  console.log(`\nStreaming connection (${label}):`);
  show('connection', outputs.connectionId);
  show('inlet URL', outputs.inletUrl);

  const post = (headers) =>
    fetch(outputs.inletUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(message(label)),
    });
  if (authenticationRequired) {
    const refused = await post({});
    show('without a token', `${refused.status} ${(await refused.json()).title}`);
    const token = await tokens.getToken();
    const res = await post({
      authorization: `Bearer ${token}`,
      'x-gw-ims-org-id': orgId,
      'x-api-key': clientId,
    });
    show('with a token', `${res.status} ${JSON.stringify(await res.json())}`);
  } else {
    const res = await post({});
    show('sent', `${res.status} ${JSON.stringify(await res.json())}`);
  }
}

const rows = await previewRows(client, dataSetId);
console.log(`\nRows in dataset ${dataSetId}:`);
for (const row of rows) console.log(`  ${JSON.stringify(row[`_${tenantId}`])}`);
