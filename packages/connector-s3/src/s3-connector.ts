import { defineSourceConnector } from '@inflow/core';
import { testConnection } from './s3-client.js';
import { s3Credentials, s3SourceParams } from './s3-credentials.js';
import { exploreSource, previewFile } from './s3-explore.js';
import { readFiles } from './s3-read.js';
import { s3SetupInput, s3SetupSteps } from './s3-setup.js';
import {
  CLOUD_STORAGE_FLOW_SPEC_ID,
  S3_AUTH_SPEC_NAME,
  S3_CONNECTION_SPEC_ID,
  S3_CONNECTION_SPEC_NAME,
  S3_PROVIDER_ID,
} from './s3-spec.js';

/** The Amazon S3 source: `amazon-s3`, `ecadc60c-…`. */
export const s3Connector = defineSourceConnector({
  id: 's3',
  displayName: 'Amazon S3',
  spec: {
    id: S3_CONNECTION_SPEC_ID,
    name: S3_CONNECTION_SPEC_NAME,
    providerId: S3_PROVIDER_ID,
    version: '1.0',
    description: 'Amazon S3 and S3-compatible object stores: CSV, delimited, JSON and Parquet files',
    category: 'CloudStorage',
    attributes: {
      documentationLink:
        'https://experienceleague.adobe.com/docs/experience-platform/sources/connectors/cloud-storage/s3.html',
    },
    explore: { name: 'FileSystem', type: 'FileSystem' },
    dataFormats: ['delimited', 'json', 'parquet'],
    flowSpecIds: [CLOUD_STORAGE_FLOW_SPEC_ID],
  },
  auth: [{ name: S3_AUTH_SPEC_NAME, type: 'KeyBased', schema: s3Credentials }],
  sourceParams: s3SourceParams,
  setup: { input: s3SetupInput, steps: s3SetupSteps },
  test: testConnection,
  explore: exploreSource,
  preview: previewFile,
  read: readFiles,
});
