export {
  type ConformanceCanary,
  type ConformanceCredentials,
  type ConformanceExpected,
  type ConformanceRead,
  describeSourceConnector,
  type SourceConnectorConformanceOptions,
} from './conformance.js';
export { CUSTOMER_IO_SAMPLE_EVENT } from './customerio.js';
export { sqlAs } from './postgres.js';
export {
  type Handler,
  type RecordedRequest,
  type RecordingServer,
  type Reply,
  startRecordingServer,
} from './recording-server.js';
export { fillPlaceholders, parseSeedCurls, readSeed, SEEDS_DIR, type SeedRequest } from './seed-curl.js';
export type { TestPostgres, TestS3 } from './services.js';
export {
  assertSetupStepError,
  countByRoute,
  expectPlanMatchesSent,
  expectSeedRequest,
  flowProblem,
  HEADER_VALUES,
  leftoverPlaceholders,
  makeClient,
  PLATFORM,
  rejectionOf,
  route,
  seedResponses,
  substitute,
  thrownBy,
} from './setup-assertions.js';
