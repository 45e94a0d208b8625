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
export {
  type CompiledMappingSet,
  type CompileOptions,
  compileMappingSet,
  type MappingFailure,
  type MapResult,
} from './mapping/compile.js';
export {
  type AccessExpr,
  type BinaryExpr,
  type BinaryOperator,
  type BooleanLiteral,
  type CallExpr,
  type ConditionalExpr,
  type Expr,
  type FieldSegment,
  type IndexSegment,
  lineColumn,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  MappingExpressionError,
  type MethodCallExpr,
  type NullLiteral,
  type NumberLiteral,
  type PathExpr,
  type PathSegment,
  parseExpression,
  RESERVED_WORDS,
  type Span,
  type StringLiteral,
  type UnaryExpr,
  type UnaryOperator,
  type WildcardSegment,
} from './mapping/expression.js';
export {
  createFunctions,
  type FunctionContext,
  type FunctionSpec,
  MAX_PAD,
  MappingFunctionError,
} from './mapping/functions.js';
export {
  DEFAULT_SCHEMA_CONTENT_TYPE,
  type MappingSourceType,
  type NormalizedMapping,
  type NormalizedMappingSet,
  normalizeMappingSet,
  parseXdmPath,
} from './mapping/mapping-set.js';
export { nestedRepetition } from './mapping/regex-safety.js';
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
  DATA_LAKE_CONNECTION_SPEC_ID,
  GENERIC_STREAMING_FLOW_SPEC_ID,
  STREAMING_PROVIDER_ID,
  type WebhookSetupFields,
  type WebhookSetupOptions,
  webhookSetup,
} from './setup/webhook-setup.js';
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
