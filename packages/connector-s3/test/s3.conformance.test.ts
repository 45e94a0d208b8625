import { s3Connector } from '@inflow/connector-s3';
import { describeSourceConnector } from '@inflow/testkit';

const SECRET_KEY = 'CANARY-s3-conf-secret-5d7e21';
const SESSION_TOKEN = 'CANARY-s3-conf-session-a90c4b';
const CREDENTIALS = {
  s3AccessKey: 'AKIAIOSFODNN7EXAMPLE',
  s3SecretKey: SECRET_KEY,
  s3SessionToken: SESSION_TOKEN,
  serviceUrl: 'http://127.0.0.1:7480',
  region: 'us-east-1',
};

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
  absent: {
    test: 'absent until the S3 data plane lands (issue 4): setup and spec only today',
    read: 'absent until the S3 data plane lands (issue 4): reads of the files under a path',
  },
});
