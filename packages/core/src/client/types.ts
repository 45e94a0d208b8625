/**
 * The Flow Service resource shapes (reference §3), as the real service and Inflow's server
 * serve them. Fields the service adds on its own are optional: a client may talk to either.
 */

/** A reference to a spec by id and version (`"1.0"`). */
export interface SpecRef {
  id: string;
  version?: string;
}

/** Set by the service on every stored resource. */
export interface AuditFields {
  id: string;
  /** Epoch ms. */
  createdAt?: number;
  /** Epoch ms. */
  updatedAt?: number;
  createdBy?: string;
  updatedBy?: string;
  createdClient?: string;
  updatedClient?: string;
  sandboxId?: string;
  sandboxName?: string;
  imsOrgId?: string;
  /** The same value as `etag`: a quoted string such as `"\"1700d77b-…\""`. */
  version?: string;
  etag?: string;
}

/** A JSON Schema draft-07 document, as the service serves it. */
export type JsonSchema = Record<string, unknown>;

/** One way to authenticate against a source (`connectionSpec.authSpec[]`). */
export interface AuthSpecJson {
  name: string;
  type: string;
  spec: JsonSchema;
}

export interface ConnectionSpec extends Partial<Omit<AuditFields, 'id'>> {
  id: string;
  name: string;
  providerId: string;
  version: string;
  type?: string;
  description?: string;
  attributes?: Record<string, unknown>;
  authSpec?: AuthSpecJson[];
  sourceSpec?: { name?: string; type?: string; spec?: JsonSchema; attributes?: Record<string, unknown> };
  targetSpec?: { name?: string; type?: string; spec?: JsonSchema; attributes?: Record<string, unknown> };
  exploreSpec?: { name?: string; type: string; requestSpec?: JsonSchema; responseSpec?: JsonSchema };
  permissionsInfo?: Record<string, unknown>;
}

export interface FlowSpec extends Partial<Omit<AuditFields, 'id'>> {
  id: string;
  name: string;
  providerId: string;
  version: string;
  sourceConnectionSpecIds?: string[];
  targetConnectionSpecIds?: string[];
  optionSpec?: { name?: string; spec?: JsonSchema };
  transformationSpec?: { name: string; spec?: JsonSchema }[];
  transformationSpecs?: { name: string; spec?: JsonSchema }[];
  scheduleSpec?: { name?: string; type?: string; spec?: JsonSchema };
  runSpec?: { name?: string; spec?: JsonSchema };
  attributes?: Record<string, unknown>;
  permissionsInfo?: Record<string, unknown>;
}

export type ResourceState = 'enabled' | 'disabled' | 'draft' | 'initializing' | (string & {});

/** `lastOperation` on connections and flows. */
export interface LastOperation {
  started?: number;
  updated?: number;
  operation?: string;
  percentCompleted?: number;
  status?: { value?: string; errors?: unknown[] };
  ops?: JsonPatchOperation[];
}

export interface CreateConnectionBody {
  name: string;
  description?: string;
  /** Sent by the streaming tutorial; the service accepts and ignores it. */
  providerId?: string;
  auth?: { specName: string; params: Record<string, unknown> };
  connectionSpec: SpecRef;
}

export interface Connection extends AuditFields {
  name: string;
  description?: string;
  connectionSpec: SpecRef;
  state?: ResourceState;
  auth?: { specName: string; params: Record<string, unknown> };
  lastOperation?: LastOperation;
}

export interface CreateSourceConnectionBody {
  name: string;
  description?: string;
  providerId?: string;
  /** Absent for sources without a base connection (Customer.io). */
  baseConnectionId?: string;
  data?: { format?: string; schema?: unknown; properties?: Record<string, unknown> };
  params?: Record<string, unknown>;
  connectionSpec: SpecRef;
}

export interface SourceConnection extends AuditFields, Omit<CreateSourceConnectionBody, 'providerId'> {
  state?: ResourceState;
  inheritedAttributes?: { baseConnection?: { id: string; connectionSpec: SpecRef } };
  lastOperation?: LastOperation;
}

export interface CreateTargetConnectionBody {
  name: string;
  description?: string;
  baseConnectionId?: string;
  data?: {
    format?: string;
    schema?: { id: string; version?: string } | null;
    properties?: Record<string, unknown>;
  };
  params?: { dataSetId?: string } & Record<string, unknown>;
  connectionSpec: SpecRef;
}

export interface TargetConnection extends AuditFields, CreateTargetConnectionBody {
  state?: ResourceState;
  lastOperation?: LastOperation;
}

/** `{name: "Mapping", params: {mappingId, mappingVersion}}` or `{name: "Copy", params: {deltaColumn}}`. */
export interface Transformation {
  name: string;
  params: Record<string, unknown>;
}

export interface ScheduleParams {
  /** Epoch seconds; the docs send it as a string. */
  startTime: number | string;
  frequency: 'once' | 'minute' | 'hour' | 'day' | 'week';
  interval?: number | string;
  backfill?: boolean | string;
}

export interface CreateFlowBody {
  name: string;
  description?: string;
  flowSpec: SpecRef;
  sourceConnectionIds: string[];
  targetConnectionIds: string[];
  transformations?: Transformation[];
  scheduleParams?: ScheduleParams;
  options?: Record<string, unknown>;
}

export interface Flow extends AuditFields, CreateFlowBody {
  state?: ResourceState;
  inheritedAttributes?: {
    properties?: Record<string, unknown>;
    sourceConnections?: {
      id: string;
      connectionSpec: SpecRef;
      baseConnection?: { id: string; connectionSpec: SpecRef };
    }[];
    targetConnections?: { id: string; connectionSpec: SpecRef }[];
  };
  /** For streaming flows: `{inletUrl}`. */
  options?: { inletUrl?: string } & Record<string, unknown>;
  /** A link such as `/runs?property=flowId=={id}`. */
  runs?: string;
  providerRefId?: string;
  lastOperation?: LastOperation;
  lastRunDetails?: { id?: string; state?: string; startedAtUTC?: number; completedAtUTC?: number };
}

export interface RunStatusSummary {
  status?: string;
  errors?: { code: string; message: string }[];
  extensions?: Record<string, unknown>;
}

export interface Run extends AuditFields {
  flowId: string;
  flowSpec?: SpecRef;
  providerRefId?: string;
  params?: Record<string, unknown>;
  metrics?: {
    durationSummary?: {
      startedAtUTC?: number;
      completedAtUTC?: number;
      extensions?: Record<string, unknown>;
    };
    sizeSummary?: { inputBytes?: number; outputBytes?: number };
    recordSummary?: {
      inputRecordCount?: number;
      outputRecordCount?: number;
      failedRecordCount?: number;
      skippedRecordCount?: number;
    } & Record<string, unknown>;
    fileSummary?: Record<string, unknown>;
    statusSummary?: RunStatusSummary;
  };
  activities?: Record<string, unknown>[];
}

export interface CreateRunBody {
  flowId: string;
  params?: Record<string, unknown>;
}

/** One RFC 6902 operation; the service supports add, replace and remove. */
export interface JsonPatchOperation {
  op: 'add' | 'replace' | 'remove';
  /** A JSON Pointer such as `/auth/params` or `/scheduleParams/frequency`. */
  path: string;
  value?: unknown;
}

/** What every create and PATCH answers. */
export interface IdEtag {
  id: string;
  etag: string;
}

/** Filters and paging for Flow Service lists (reference §2). */
export interface ListQuery {
  /** Filter expressions such as `name=="amazon-s3"` or `state==enabled`; several are ANDed. */
  property?: string | readonly string[];
  /** `+field` / `-field` (or `field`, ascending). */
  orderby?: string;
  /** Page size. Cannot be combined with `count`. */
  limit?: number;
  continuationToken?: string;
}

/** Data Prep mapping (reference §7): either dialect. */
export type Mapping =
  | {
      sourceType: 'ATTRIBUTE' | 'STATIC' | 'EXPRESSION';
      source: string;
      destination: string;
      name?: string;
      description?: string;
    }
  | {
      sourceAttribute: string;
      destinationXdmPath: string;
      identity?: boolean;
      identityGroup?: string | null;
      namespaceCode?: string | null;
      version?: number;
    };

export interface CreateMappingSetBody {
  outputSchema?: { schemaRef: { id: string; contentType: string } };
  /** Legacy dialect: the schema `$id`. */
  xdmSchema?: string;
  xdmVersion?: string;
  version?: number;
  id?: string | null;
  mappings: Mapping[];
}

export interface MappingSetCreated {
  id: string;
  version: number;
  createdDate: number;
  modifiedDate: number;
  createdBy?: string;
  modifiedBy?: string;
}

export interface MappingSet extends MappingSetCreated {
  outputSchema?: CreateMappingSetBody['outputSchema'] & Record<string, unknown>;
  mappings: (Mapping & Record<string, unknown>)[];
  status?: string;
}

export interface CreateDataSetBody {
  name: string;
  description?: string;
  schemaRef: { id: string; contentType: string };
  fileDescription?: Record<string, unknown>;
  tags?: Record<string, string[]>;
  enableErrorDiagnostics?: boolean;
}

export interface DataSet extends Omit<CreateDataSetBody, 'name'> {
  id: string;
  name?: string;
  state?: string;
  created?: number;
  updated?: number;
  imsOrg?: string;
  sandboxId?: string;
  lastBatchId?: string;
  lastBatchStatus?: string;
}

export interface CreateSchemaBody {
  type: 'object';
  title: string;
  description: string;
  allOf: Record<string, unknown>[];
  definitions?: Record<string, unknown>;
  'meta:immutableTags'?: string[];
}

export interface XdmSchema extends Record<string, unknown> {
  $id: string;
  'meta:altId': string;
  title: string;
  version: string;
}
