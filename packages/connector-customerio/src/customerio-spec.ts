/** Customer.io's connection spec id (seed 004, reference §5). */
export const CUSTOMERIO_CONNECTION_SPEC_ID = '96479064-7b8a-4d69-b9ed-21c5683837ea';
export const CUSTOMERIO_CONNECTION_SPEC_NAME = 'customerio-webhook';
/** The streaming provider id (seed 004). */
export const CUSTOMERIO_PROVIDER_ID = '521eee4d-8cbe-4906-bb48-fb6bd4450033';
/** GenericStreamingAEP: the flow spec of webhook sources (seed 004). */
export const GENERIC_STREAMING_FLOW_SPEC_ID = 'e77fde5a-22a8-11ed-861d-0242ac120002';
/** The data lake target connection spec. */
export const DATA_LAKE_CONNECTION_SPEC_ID = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';
/** The Customer.io Reporting Webhook fields the tutorial maps, as `source → _{tenant}.destination`. */
export const CUSTOMERIO_DEFAULT_FIELDS: readonly (readonly [source: string, destination: string])[] = [
  ['data.identifiers.cio_id', 'cio_id'],
  ['data.identifiers.email', 'email'],
  ['event_id', 'event_id0'],
  ['metric', 'metricx'],
  ['object_type', 'object_type1'],
  ['timestamp', 'timestampx'],
];
