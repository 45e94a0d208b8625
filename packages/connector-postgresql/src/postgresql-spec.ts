/** PostgreSQL's connection spec id, fixed by the real service (seed 002, reference §5). */
export const POSTGRESQL_CONNECTION_SPEC_ID = '74a1c565-4e59-48d7-9d67-7c03b8a13137';
export const POSTGRESQL_CONNECTION_SPEC_NAME = 'postgresql';
/** The provider of batch (cloud storage and database) sources. */
export const POSTGRESQL_PROVIDER_ID = '0ed90a81-07f4-4586-8190-b40eccef1c5a';
/** The flow spec that takes database sources to the data lake: CRMToAEP. */
export const DATABASE_FLOW_SPEC_ID = '14518937-270c-4525-bdec-c2ba7cce3860';
/** `auth.specName` of the PostgreSQL base connection. */
export const POSTGRESQL_AUTH_SPEC_NAME = 'Connection String Based Authentication';
