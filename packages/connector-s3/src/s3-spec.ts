/** Amazon S3's connection spec id, fixed by the real service (seed 000, reference §5). */
export const S3_CONNECTION_SPEC_ID = 'ecadc60c-7455-4d87-84dc-2a0e293d997b';
/** The spec `name` the tutorial looks up: `GET /connectionSpecs?property=name=="amazon-s3"`. */
export const S3_CONNECTION_SPEC_NAME = 'amazon-s3';
/** The provider of batch (cloud storage and database) sources. */
export const S3_PROVIDER_ID = '0ed90a81-07f4-4586-8190-b40eccef1c5a';
/** The flow spec that takes cloud-storage sources to the data lake: CloudStorageToAEP. */
export const CLOUD_STORAGE_FLOW_SPEC_ID = '9753525b-82c7-4dce-8a9b-5ccfce2b9876';
/** `auth.specName` of the S3 base connection. */
export const S3_AUTH_SPEC_NAME = 'Access Key';
