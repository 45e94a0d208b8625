/** The HTTP API streaming connection spec id (seed 001, reference §5). */
export const STREAMING_CONNECTION_SPEC_ID = 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb';
export const STREAMING_CONNECTION_SPEC_NAME = 'http-api';
/** The streaming provider id (seed 001). */
export const STREAMING_PROVIDER_ID = '521eee4d-8cbe-4906-bb48-fb6bd4450033';
/** HTTP API flow spec with a mapping transformation (raw data). */
export const HTTP_API_FLOW_SPEC_ID = 'c1a19761-d2c7-4702-b9fa-fe91f0613e81';
/** HTTP API flow spec without transformations (XDM data). */
export const HTTP_API_XDM_FLOW_SPEC_ID = 'd8a6f005-7eaf-4153-983e-e8574508b877';
/** `auth.specName` of a streaming connection. */
export const STREAMING_AUTH_SPEC_NAME = 'Streaming Connection';
