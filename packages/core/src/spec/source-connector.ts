import type { z } from 'zod';
import type { ConnectionSpec, JsonSchema } from '../client/types.js';
import type { SetupStepV1 } from '../setup/setup-step.js';

/** A JSON value: what connector state and records are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One way to authenticate against the source: the connection spec's `authSpec[]` entry. */
export interface AuthSpecDefinition<TSchema extends z.ZodObject = z.ZodObject> {
  /** `auth.specName` as clients send it, e.g. `Access Key`. */
  name: string;
  /** The auth type label the spec serves, e.g. `KeyBased`. */
  type: string;
  /** The `description` of the derived JSON Schema, e.g. `defines auth params required for connecting to amazon-s3`. */
  description?: string;
  /** The credential fields. Mark secrets with `secret()`; they become `format: "password"`. */
  schema: TSchema;
}

/** The connection spec's identity and descriptive fields (reference §3.1, §5). */
export interface ConnectionSpecDefinition {
  /** The connection spec id (a UUID), fixed by the real service, e.g. `ecadc60c-…` for S3. */
  id: string;
  /** The spec `name` clients look up, e.g. `amazon-s3` (`property=name=="amazon-s3"`). */
  name: string;
  /** The provider id (a UUID): `0ed90a81-…` for batch sources, `521eee4d-…` for streaming. */
  providerId: string;
  /** `major.minor`, e.g. `1.0`; clients send it as `connectionSpec.version`. */
  version: string;
  /** The spec `type`, when the real one has it (e.g. `generic-streaming`). */
  type?: string;
  description: string;
  /** `attributes.category`, e.g. `CloudStorage`, `Database`, `Streaming`. */
  category: string;
  /** Extra `attributes` served as they are (`isPreview`, `documentationLink`, `uiAttributes`, …). */
  attributes?: Record<string, unknown>;
  /** `exploreSpec`: `FileSystem` for files, `Tabular` for tables, `StreamingConnection`, `Resource`. */
  explore?: { name: string; type: 'FileSystem' | 'Tabular' | 'StreamingConnection' | 'Resource' };
  /** The data formats a source connection may declare in `data.format`, e.g. `["json"]`. */
  dataFormats?: readonly string[];
  /** The flow specs (ids) that accept this source, e.g. CloudStorageToAEP for S3. */
  flowSpecIds?: readonly string[];
}

/** The outcome of `test`: never a stack trace, always a sentence a person can act on. */
export interface TestResult {
  ok: boolean;
  /** What happened and, when it failed, what to change (`the key pair was rejected: check s3SecretKey`). */
  message: string;
  /** A stable reason for programs: `auth_failed`, `network`, `permission`, `not_found`, `invalid`. */
  code?: 'auth_failed' | 'network' | 'permission' | 'not_found' | 'invalid' | (string & {});
}

/** What `explore` is asked for (reference §4.7). */
export interface ExploreRequest {
  /** Lower-case here; the server accepts any case from clients. */
  objectType: 'root' | 'folder' | 'file' | 'table';
  /** A folder or file path, or a table name; absent for `root`. */
  object?: string;
  /** Return the first rows too. */
  preview?: boolean;
  /** `delimited`, `json` or `parquet` for files. */
  fileType?: string;
  /** For `delimited` files: the column delimiter, default `,`. */
  columnDelimiter?: string;
  /** `gzip` (and others a connector supports). */
  compressionType?: string;
  /** How many preview rows, default 100. */
  previewCount?: number;
}

/** An entry of a root or folder listing. */
export interface ExploreItem {
  type: 'file' | 'folder' | 'table' | 'bucket' | 'schema';
  name: string;
  path: string;
  canPreview?: boolean;
  canFetchSchema?: boolean;
  /** Bytes, for files. */
  size?: number;
  /** Epoch ms, for files. */
  modifiedAt?: number;
}

/** One column of a file or table, with its source type and the XDM type it maps to. */
export interface ExploreColumn {
  name: string;
  type: string;
  xdm?: { type: string; format?: string };
  'meta:xdmType'?: string;
}

/** A file or table structure, with rows when `preview` was asked for. */
export interface ExploreStructure {
  format: 'flat' | (string & {});
  schema: { columns: ExploreColumn[] };
  data?: Record<string, JsonValue>[];
}

export type ExploreResult = ExploreItem[] | ExploreStructure;

/** What `read` gets: the credentials, the source connection's params, and the saved state. */
export interface ReadRequest<TCredentials, TParams> {
  credentials: TCredentials;
  params: TParams;
  /** The state of the last batch that landed, or undefined for a first (full) read. */
  state: JsonValue | undefined;
  /** Aborts the read (the run was cancelled or the server is stopping). */
  signal?: AbortSignal;
  /** Stop after about this many records (previews and tests). */
  limit?: number;
}

/**
 * A slice of the source. The engine lands the records, and only then commits `state`, so a
 * crash between the two re-reads this batch rather than losing it.
 */
export interface RecordBatch {
  records: Record<string, unknown>[];
  /** The state to resume from after this batch; JSON, saved by the engine. */
  state: JsonValue;
  /** Source bytes this batch came from, for run metrics. */
  bytes?: number;
  /** Source files this batch finished, for run metrics. */
  files?: number;
}

/** A request that arrived at a streaming inlet, as the source's `inlet` sees it. */
export interface InletRequest<TParams> {
  headers: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received (signatures are over these bytes). */
  rawBody: Buffer;
  /** The source connection's params (including secrets, decrypted for this call only). */
  params: TParams;
  /** Epoch ms; injectable for replay-window checks. */
  now: number;
}

/** What the inlet makes of a request: records to land, or a refusal with an HTTP status. */
export type InletResult =
  | { ok: true; records: Record<string, unknown>[] }
  | { ok: false; status: 400 | 401 | 403 | 413; message: string };

/** The credentials of any of a connector's auth specs. */
export type CredentialsOf<TAuth> = TAuth extends readonly AuthSpecDefinition[]
  ? TAuth[number] extends AuthSpecDefinition<infer S>
    ? z.output<S>
    : never
  : never;

/** The data-plane verbs a connector may implement; the server runs them. */
export interface SourceConnectorVerbsV1<TCredentials, TParams> {
  /** Checks the credentials against the source (`GET /connections/{id}/test`). */
  test?: (credentials: TCredentials, options?: { signal?: AbortSignal }) => Promise<TestResult>;
  /** Browses the source (`GET /connections/{id}/explore`): listings and structures. */
  explore?: (credentials: TCredentials, request: ExploreRequest) => Promise<ExploreResult>;
  /** The structure and first rows of a file or table (`explore` with `preview=true`). */
  preview?: (credentials: TCredentials, request: ExploreRequest) => Promise<ExploreStructure>;
  /** Reads the source in batches from `state` (batch sources). */
  read?: (request: ReadRequest<TCredentials, TParams>) => AsyncIterable<RecordBatch>;
  /** Authenticates and decodes a request at the inlet (webhook sources). */
  inlet?: (request: InletRequest<TParams>) => Promise<InletResult>;
}

/** What a connector package writes and passes to `defineSourceConnector()`. */
export interface SourceConnectorDefinitionV1<
  TAuth extends readonly AuthSpecDefinition[] | 'none',
  TParams extends z.ZodObject,
  TSetup extends z.ZodType,
> extends SourceConnectorVerbsV1<
    TAuth extends readonly AuthSpecDefinition[] ? CredentialsOf<TAuth> : undefined,
    z.output<TParams>
  > {
  /** The package id: `@inflow/connector-<id>`; lower-case, e.g. `s3`. */
  id: string;
  /** The source's name for people, e.g. `Amazon S3`. */
  displayName: string;
  spec: ConnectionSpecDefinition;
  /**
   * The auth specs of the base connection; `'none'` for a source that has no base connection
   * (Customer.io: the source connection stands alone).
   */
  auth: TAuth;
  /** The schema of the source connection's `params` (the spec's `sourceSpec`). Secrets allowed. */
  sourceParams?: TParams;
  /** The documented tutorial: its input and its steps, run by the setup runner. */
  setup: {
    input: TSetup;
    steps: readonly SetupStepV1<z.output<TSetup>>[];
  };
}

/**
 * A source connector, version 1: what `defineSourceConnector()` returns and what the server, the
 * CLI and the setup runner consume. A new contract version is added beside this one, never
 * edited in place.
 */
export interface SourceConnectorV1<
  TAuth extends readonly AuthSpecDefinition[] | 'none' = readonly AuthSpecDefinition[] | 'none',
  TParams extends z.ZodObject = z.ZodObject,
  TSetup extends z.ZodType = z.ZodType,
> extends SourceConnectorDefinitionV1<TAuth, TParams, TSetup> {
  readonly specificationVersion: 'v1';
  /** The connection spec JSON the API serves, derived from the definition. Frozen. */
  readonly connectionSpec: Readonly<ConnectionSpec>;
  /** The JSON Schema of the setup input (secrets are `format: "password"`). */
  readonly setupInputJsonSchema: Readonly<JsonSchema>;
  /**
   * Validates `auth.params` against the named auth spec. Throws `InflowValidationError` naming
   * each bad field (`auth.params.s3SecretKey: …`), never echoing a value.
   */
  parseCredentials(
    specName: string,
    params: unknown,
  ): TAuth extends readonly AuthSpecDefinition[] ? CredentialsOf<TAuth> : never;
  /** Validates source connection `params` against `sourceParams`. */
  parseSourceParams(params: unknown): z.output<TParams>;
}

/** Any v1 connector, whatever its schemas. */
// biome-ignore lint/suspicious/noExplicitAny: the widest connector type needs the schema slots open
export type AnySourceConnector = SourceConnectorV1<any, any, any>;
