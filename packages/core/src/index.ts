export {
  DEFAULT_IMS_ENDPOINT,
  DEFAULT_PLATFORM_SCOPES,
  type ImsServerToServerOptions,
  ImsServerToServerTokenProvider,
  imsServerToServer,
} from './auth/ims-token-provider.js';
export { staticToken, type TokenProvider } from './auth/token-provider.js';
export {
  FlowServiceClient,
  type FlowServiceClientOptions,
  type TestConnectionResult,
} from './client/flow-service-client.js';
export { type FlowServiceRequests, flowServiceRequests } from './client/requests.js';
export type {
  AuditFields,
  AuthSpecJson,
  Connection,
  ConnectionSpec,
  CreateConnectionBody,
  CreateDataSetBody,
  CreateFlowBody,
  CreateMappingSetBody,
  CreateRunBody,
  CreateSchemaBody,
  CreateSourceConnectionBody,
  CreateTargetConnectionBody,
  DataSet,
  Flow,
  FlowSpec,
  IdEtag,
  JsonPatchOperation,
  JsonSchema,
  LastOperation,
  ListQuery,
  Mapping,
  MappingSet,
  MappingSetCreated,
  ResourceState,
  Run,
  RunStatusSummary,
  ScheduleParams,
  SourceConnection,
  SpecRef,
  TargetConnection,
  Transformation,
  XdmSchema,
} from './client/types.js';
export {
  ApiCallError,
  type ApiCallErrorInput,
  type Problem,
  type ProblemKind,
  parseProblem,
  RETRYABLE_STATUSES,
} from './errors/api-call-error.js';
export {
  InflowError,
  type InflowErrorOptions,
  InflowNetworkError,
  InflowValidationError,
  type ValidationIssue,
} from './errors/inflow-error.js';
export { type ListResponse, nextPageRequest, paginate } from './http/paginate.js';
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isIdempotent,
  parseRetryAfter,
  type RetryPolicy,
} from './http/retry.js';
export {
  type ApiRequest,
  type ApiResponse,
  CORE_VERSION,
  type HttpLogEvent,
  PlatformTransport,
  type PlatformTransportOptions,
  type PreparedRequest,
  type QueryValue,
  RetryExhaustedError,
  redactError,
  SERVICE_PATHS,
  type ServiceName,
  sharedDispatcher,
} from './http/transport.js';
export { maskBySchema, REDACTED, redact, type Secret, secret, secretValues } from './secrets/secret.js';
export {
  type PlannedStep,
  placeholder,
  readPath,
  type SetupResult,
  SetupRunner,
  type SetupState,
  SetupStepError,
  setupRunner,
} from './setup/setup-runner.js';
export type { OutputSource, SetupContext, SetupStepV1 } from './setup/setup-step.js';
export {
  defineSourceConnector,
  parseWithSchema,
  toJsonSchema,
  zodIssues,
} from './spec/define-source-connector.js';
export type {
  AnySourceConnector,
  AuthSpecDefinition,
  ConnectionSpecDefinition,
  CredentialsOf,
  ExploreColumn,
  ExploreItem,
  ExploreRequest,
  ExploreResult,
  ExploreStructure,
  InletRequest,
  InletResult,
  JsonValue,
  ReadRequest,
  RecordBatch,
  SourceConnectorDefinitionV1,
  SourceConnectorV1,
  SourceConnectorVerbsV1,
  TestResult,
} from './spec/source-connector.js';
