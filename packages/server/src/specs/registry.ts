import type { AnySourceConnector, ConnectionSpec, FlowSpec, JsonSchema } from '@inflow/core';

export {
  BUILT_IN_CONNECTORS,
  CONNECTOR_KEYWORD,
  type ConnectorLoad,
  type ConnectorLoadEvent,
  discoverConnectors,
  findConnectorPackages,
  type LoadConnectorsOptions,
  loadConnectors,
} from './discovery.js';

/** The data lake target connection spec (reference §5). */
export const DATA_LAKE_SPEC_ID = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';
const BATCH_PROVIDER = '0ed90a81-07f4-4586-8190-b40eccef1c5a';
const STREAMING_PROVIDER = '521eee4d-8cbe-4906-bb48-fb6bd4450033';
const DRAFT7 = 'http://json-schema.org/draft-07/schema#';

const dataLakeSpec: ConnectionSpec = {
  id: DATA_LAKE_SPEC_ID,
  name: 'datalake',
  providerId: BATCH_PROVIDER,
  version: '1.0',
  description: 'The data lake: datasets stored as Parquet batches',
  attributes: { category: 'Database', isSource: false, isDestination: true },
  authSpec: [],
  targetSpec: {
    name: 'datalake-target',
    spec: {
      $schema: DRAFT7,
      type: 'object',
      description: 'Defines params required when the data lake is the target of a flow.',
      properties: { dataSetId: { type: 'string', description: 'The Catalog id of the target dataset' } },
      required: ['dataSetId'],
    },
  },
};

const optionSpec = (extra: Record<string, unknown> = {}) => ({
  name: 'OptionSpec',
  spec: {
    $schema: DRAFT7,
    type: 'object',
    properties: {
      errorDiagnosticsEnabled: {
        title: 'Error diagnostics.',
        description: 'Flag to enable detailed and sample error diagnostics summary.',
        type: 'boolean',
        default: false,
      },
      partialIngestionPercent: {
        title: 'Partial ingestion threshold.',
        description:
          'Percentage which defines the threshold of errors allowed before the run is marked as failed.',
        type: 'number',
        exclusiveMinimum: 0,
      },
      ...extra,
    },
  },
});

/** The scheduling rule of batch flows, verbatim from CloudStorageToAEP (reference §3.2). */
export const PERIODIC_SCHEDULE_SPEC: JsonSchema = {
  $schema: DRAFT7,
  type: 'object',
  properties: {
    startTime: { description: 'epoch time', type: 'integer' },
    frequency: { type: 'string', enum: ['once', 'minute', 'hour', 'day', 'week'] },
    interval: { type: 'integer' },
    backfill: { type: 'boolean', default: true },
  },
  required: ['startTime', 'frequency'],
  if: { properties: { frequency: { const: 'once' } } },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword, not a promise
  then: { allOf: [{ not: { required: ['interval'] } }, { not: { required: ['backfill'] } }] },
  else: {
    required: ['interval'],
    if: { properties: { frequency: { const: 'minute' } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword, not a promise
    then: { properties: { interval: { minimum: 15 } } },
    else: { properties: { interval: { minimum: 1 } } },
  },
};

const mappingTransformation = {
  name: 'Mapping',
  spec: {
    $schema: DRAFT7,
    type: 'object',
    description: 'defines various params required for different mapping from source to target',
    properties: { mappingId: { type: 'string' }, mappingVersion: { type: ['string', 'integer'] } },
    required: ['mappingId'],
  },
};

const copyTransformation = {
  name: 'Copy',
  spec: {
    $schema: DRAFT7,
    type: 'object',
    properties: {
      deltaColumn: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          dateFormat: { type: 'string' },
          timezone: { type: 'string' },
        },
        required: ['name'],
      },
    },
    required: ['deltaColumn'],
  },
};

const runSpec = (extraRequired: string[] = []) => ({
  name: 'ProviderParams',
  spec: {
    $schema: DRAFT7,
    type: 'object',
    description: 'defines various params required for creating flow run.',
    properties: {
      startTime: { type: 'integer', description: 'The start time of the run, epoch seconds.' },
      windowStartTime: {
        type: 'integer',
        description: 'The start of the window of data to pull, epoch seconds.',
      },
      windowEndTime: {
        type: 'integer',
        description: 'The end of the window of data to pull, epoch seconds.',
      },
      ...(extraRequired.includes('deltaColumn')
        ? { deltaColumn: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } }
        : {}),
    },
    required: ['startTime', 'windowStartTime', 'windowEndTime', ...extraRequired],
  },
});

const permissions = (name: string) => ({
  view: [{ '@type': 'lowLevel', name, permissions: ['read'] }],
  manage: [{ '@type': 'lowLevel', name, permissions: ['write'] }],
});

/** A batch flow spec to the data lake: periodic schedule, the given transformations and run params. */
function batchFlowSpec(
  id: string,
  name: string,
  transformationSpec: FlowSpec['transformationSpec'],
  run: FlowSpec['runSpec'],
): Omit<FlowSpec, 'sourceConnectionSpecIds'> {
  return {
    id,
    name,
    providerId: BATCH_PROVIDER,
    version: '1.0',
    attributes: {
      isSourceFlow: true,
      flacValidationSupported: true,
      frequency: 'batch',
      notification: { category: 'sources', flowRun: { enabled: true } },
    },
    targetConnectionSpecIds: [DATA_LAKE_SPEC_ID],
    permissionsInfo: permissions('EnterpriseSource'),
    optionSpec: optionSpec(),
    scheduleSpec: { name: 'PeriodicSchedule', type: 'Periodic', spec: PERIODIC_SCHEDULE_SPEC },
    transformationSpec,
    runSpec: run,
  };
}

/** An HTTP API streaming flow spec to the data lake (no schedule). */
function httpStreamingFlowSpec(
  id: string,
  name: string,
  transformationSpecs: NonNullable<FlowSpec['transformationSpecs']>,
): Omit<FlowSpec, 'sourceConnectionSpecIds'> {
  return {
    id,
    name,
    providerId: STREAMING_PROVIDER,
    version: '1.0',
    attributes: { isSourceFlow: true, frequency: 'streaming' },
    targetConnectionSpecIds: [DATA_LAKE_SPEC_ID],
    permissionsInfo: permissions('StreamingSource'),
    optionSpec: optionSpec(),
    transformationSpecs,
  };
}

/** The flow specs the tutorials and reference name; their source spec lists come from the installed connectors. */
const FLOW_SPECS: Omit<FlowSpec, 'sourceConnectionSpecIds'>[] = [
  batchFlowSpec(
    '9753525b-82c7-4dce-8a9b-5ccfce2b9876',
    'CloudStorageToAEP',
    [mappingTransformation],
    runSpec(),
  ),
  batchFlowSpec(
    '14518937-270c-4525-bdec-c2ba7cce3860',
    'CRMToAEP',
    [copyTransformation, mappingTransformation],
    runSpec(['deltaColumn']),
  ),
  {
    id: 'e77fde5a-22a8-11ed-861d-0242ac120002',
    name: 'GenericStreamingAEP',
    providerId: STREAMING_PROVIDER,
    version: '1.0',
    attributes: {
      isSourceFlow: true,
      flacValidationSupported: true,
      frequency: 'streaming',
      uiAttributes: { apiFeatures: { updateSupported: true, flowRunsSupported: true } },
    },
    targetConnectionSpecIds: [DATA_LAKE_SPEC_ID],
    permissionsInfo: permissions('StreamingSource'),
    optionSpec: optionSpec({
      inletUrl: {
        title: 'Inlet Url.',
        description: 'Inlet Url which defines the streaming endpoint.',
        type: 'string',
      },
    }),
    transformationSpecs: [mappingTransformation],
  },
  httpStreamingFlowSpec('c1a19761-d2c7-4702-b9fa-fe91f0613e81', 'HttpStreamingToAEPWithTransformations', [
    mappingTransformation,
  ]),

  httpStreamingFlowSpec('d8a6f005-7eaf-4153-983e-e8574508b877', 'HttpStreamingToAEP', []),
];

/** The connection and flow specs this server serves, and the connector behind each source spec. */
export class SpecRegistry {
  readonly connectionSpecs: readonly ConnectionSpec[];
  readonly flowSpecs: readonly FlowSpec[];
  private readonly connectorsBySpec: Map<string, AnySourceConnector>;

  constructor(readonly connectors: readonly AnySourceConnector[]) {
    this.connectorsBySpec = new Map(connectors.map((c) => [c.connectionSpec.id, c]));
    this.connectionSpecs = [...connectors.map((c) => c.connectionSpec), dataLakeSpec];
    this.flowSpecs = FLOW_SPECS.map((fs) => ({
      ...fs,
      sourceConnectionSpecIds: connectors
        .filter((c) => c.spec.flowSpecIds?.includes(fs.id))
        .map((c) => c.connectionSpec.id),
    }));
  }

  connector(specId: string): AnySourceConnector | undefined {
    return this.connectorsBySpec.get(specId);
  }

  connectionSpec(id: string): ConnectionSpec | undefined {
    return this.connectionSpecs.find((s) => s.id === id);
  }

  flowSpec(id: string): FlowSpec | undefined {
    return this.flowSpecs.find((s) => s.id === id);
  }
}
