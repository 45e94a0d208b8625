export { s3Connector } from './s3-connector.js';
export type { S3Credentials, S3SourceParams } from './s3-credentials.js';
export type { S3SetupInput } from './s3-setup.js';
export {
  CLOUD_STORAGE_FLOW_SPEC_ID,
  S3_AUTH_SPEC_NAME,
  S3_CONNECTION_SPEC_ID,
  S3_CONNECTION_SPEC_NAME,
  S3_PROVIDER_ID,
} from './s3-spec.js';
