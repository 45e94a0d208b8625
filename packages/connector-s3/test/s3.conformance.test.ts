import { randomBytes } from 'node:crypto';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Connector } from '@inflow/connector-s3';
import { describeSourceConnector } from '@inflow/testkit';
import { afterAll, beforeAll, inject } from 'vitest';
import { adminClient, dropBucket, put } from './s3-fixture.js';

const SECRET_KEY = 'CANARY-s3-conf-secret-5d7e21';
const SESSION_TOKEN = 'CANARY-s3-conf-session-a90c4b';
const WRONG_SECRET = 'CANARY-s3-conf-wrong-3c81f0';
const CREDENTIALS = {
  s3AccessKey: 'AKIAIOSFODNN7EXAMPLE',
  s3SecretKey: SECRET_KEY,
  s3SessionToken: SESSION_TOKEN,
  serviceUrl: 'http://127.0.0.1:7480',
  region: 'us-east-1',
};

// The real server the conformance project's setup starts (radosgw), with a bucket of its own.
const server = inject('s3');
const real = {
  s3AccessKey: server.accessKeyId,
  s3SecretKey: server.secretAccessKey,
  serviceUrl: server.endpoint,
  region: server.region,
};
const BUCKET = `conformance-${randomBytes(5).toString('hex')}`;

type Row = { id: string; name: string };
const ROWS: Row[] = [
  { id: '1', name: 'Ada' },
  { id: '2', name: 'Grace' },
  { id: '3', name: 'Edsger, "the" Dijkstra' },
  { id: '4', name: 'Barbara' },
  { id: '5', name: 'Donald' },
];
const NEW_ROWS: Row[] = [
  { id: '6', name: 'Leslie' },
  { id: '7', name: 'Frances' },
];
const csv = (rows: Record<string, unknown>[]) =>
  `id,name\n${rows.map((r) => `${r.id},"${String(r.name).replaceAll('"', '""')}"`).join('\n')}\n`;

const client = adminClient();
let files = 0;
async function insert(rows: Record<string, unknown>[]): Promise<void> {
  files++;
  await put(client, BUCKET, `people/new-${files}.csv`, csv(rows));
}

beforeAll(async () => {
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  // Two files: a read under a limit ends inside the first, and must resume there.
  await put(client, BUCKET, 'people/a.csv', csv(ROWS.slice(0, 3)));
  await put(client, BUCKET, 'people/b.csv', csv(ROWS.slice(3)));
});
afterAll(async () => {
  await dropBucket(client, BUCKET);
  client.destroy();
});

describeSourceConnector(s3Connector, {
  expected: {
    id: 'ecadc60c-7455-4d87-84dc-2a0e293d997b',
    name: 'amazon-s3',
    providerId: '0ed90a81-07f4-4586-8190-b40eccef1c5a',
  },
  credentials: { 'Access Key': CREDENTIALS },
  sourceParams: { path: '/acme/summerCampaign/account.csv', type: 'file' },
  setupInput: { credentials: CREDENTIALS },
  setupSecrets: [SECRET_KEY, SESSION_TOKEN],
  // The real server, with a wrong secret: refused, and the secret never echoed.
  canary: { params: { ...real, s3SecretKey: WRONG_SECRET }, secret: WRONG_SECRET, code: 'auth_failed' },
  read: {
    credentials: { params: real },
    params: { path: `/${BUCKET}/people/`, fileType: 'delimited' },
    key: 'id',
    expectedCount: ROWS.length,
    limit: 2,
    newRows: NEW_ROWS,
    insert,
  },
});
