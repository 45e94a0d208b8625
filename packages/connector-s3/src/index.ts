export {
  CONNECT_TIMEOUT_MS,
  DEFAULT_REGION,
  RESPONSE_TIMEOUT_MS,
  S3Error,
  type S3ErrorCode,
} from './s3-client.js';
export { s3Connector } from './s3-connector.js';
export type { S3Credentials, S3FileType, S3SourceParams } from './s3-credentials.js';
export { DEFAULT_PREVIEW_COUNT, MAX_PREVIEW_COUNT } from './s3-explore.js';
export { READ_BATCH_SIZE, type S3ReadState } from './s3-read.js';
export type { S3SetupInput } from './s3-setup.js';
export {
  CLOUD_STORAGE_FLOW_SPEC_ID,
  S3_AUTH_SPEC_NAME,
  S3_CONNECTION_SPEC_ID,
  S3_CONNECTION_SPEC_NAME,
  S3_PROVIDER_ID,
} from './s3-spec.js';
