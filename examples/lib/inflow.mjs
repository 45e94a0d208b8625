// Shared by the examples: a client for the server `npm start` runs, and the schema and dataset
// the tutorials' flows write to. Plain Node (>= 20.19), no build step.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowServiceClient, imsServerToServer } from '@inflow/core';

export const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
/** The data lake target connection spec (reference §5). */
export { DATA_LAKE_CONNECTION_SPEC_ID as DATA_LAKE_SPEC_ID } from '@inflow/core';

/**
 * The API to talk to: INFLOW_ENDPOINT (default http://127.0.0.1:8080) with INFLOW_ORG_ID,
 * INFLOW_CLIENT_ID and INFLOW_CLIENT_SECRET, or else the bootstrap file the server wrote
 * (`.inflow/bootstrap.json`, or under INFLOW_DATA_DIR).
 */
export function connect() {
  const endpoint = (
    process.env.INFLOW_ENDPOINT ?? `http://127.0.0.1:${process.env.INFLOW_PORT ?? 8080}`
  ).replace(/\/+$/, '');
  let orgId = process.env.INFLOW_ORG_ID;
  let clientId = process.env.INFLOW_CLIENT_ID;
  let clientSecret = process.env.INFLOW_CLIENT_SECRET;
  if (!clientId || !clientSecret || !orgId) {
    const file = join(process.env.INFLOW_DATA_DIR ?? '.inflow', 'bootstrap.json');
    if (!existsSync(file)) {
      console.error(
        `No ${file}: start the server first (npm start), from this directory, or set INFLOW_ORG_ID, INFLOW_CLIENT_ID and INFLOW_CLIENT_SECRET.`,
      );
      process.exit(2);
    }
    ({ orgId, clientId, clientSecret } = JSON.parse(readFileSync(file, 'utf8')));
  }
  const tokens = imsServerToServer({
    clientId,
    clientSecret,
    imsEndpoint: process.env.INFLOW_IMS_ENDPOINT ?? endpoint,
  });
  const client = new FlowServiceClient({
    endpoint,
    apiKey: clientId,
    orgId,
    sandboxName: process.env.INFLOW_SANDBOX ?? 'prod',
    token: tokens,
  });
  return { client, endpoint, orgId, clientId, tokens };
}

/** A tenant schema (fields under `_{tenantId}`) and a dataset on it, both named `title`. */
export async function schemaAndDataset(client, { title, className = 'profile', fields }) {
  const { tenantId } = await client.schemaRegistry.stats();
  const schema = await client.schemaRegistry.schemas.create({
    type: 'object',
    title,
    description: title,
    allOf: [{ $ref: `https://ns.adobe.com/xdm/context/${className}` }, { $ref: '#/definitions/fields' }],
    definitions: {
      fields: {
        properties: {
          [`_${tenantId}`]: {
            type: 'object',
            properties: Object.fromEntries(Object.entries(fields).map(([k, type]) => [k, { type }])),
          },
        },
      },
    },
  });
  const dataset = await client.catalog.dataSets.create({
    name: title,
    schemaRef: { id: schema.$id, contentType: XDM_FULL },
  });
  return { tenantId, schemaId: schema.$id, dataSetId: dataset.id };
}

/** One line of what was created. */
export function show(label, value) {
  console.log(`  ${label.padEnd(22)} ${value}`);
}

/** Polls the dataset preview until it has rows (streamed data lands a moment after it is accepted). */
export async function previewRows(client, dataSetId, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const { data = [] } = await client.send({
      method: 'GET',
      service: 'export',
      path: `/datasets/${dataSetId}/preview`,
    });
    if (data.length > 0 || Date.now() > deadline) return data;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A unique suffix, so an example can run twice against the same server. */
export const stamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14);
