export { CONNECT_TIMEOUT_MS, PostgresqlError, type PostgresqlErrorCode } from './postgresql-client.js';
export {
  type ParseResult,
  type PostgresConnectionSettings,
  parseConnectionString,
  SSL_MODES,
  type SslMode,
} from './postgresql-connection-string.js';
export { postgresqlConnector } from './postgresql-connector.js';
export type { PostgresqlCredentials, PostgresqlSourceParams } from './postgresql-credentials.js';
export { DEFAULT_PREVIEW_COUNT, MAX_PREVIEW_COUNT } from './postgresql-explore.js';
export {
  MAX_SEEN_KEYS,
  type PostgresqlReadState,
  READ_BATCH_CHARS,
  READ_BATCH_SIZE,
} from './postgresql-read.js';
export type { PostgresqlSetupInput } from './postgresql-setup.js';
export {
  DATABASE_FLOW_SPEC_ID,
  POSTGRESQL_AUTH_SPEC_NAME,
  POSTGRESQL_CONNECTION_SPEC_ID,
  POSTGRESQL_CONNECTION_SPEC_NAME,
  POSTGRESQL_PROVIDER_ID,
} from './postgresql-spec.js';
