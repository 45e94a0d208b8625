export { streamingConnector } from './streaming-connector.js';
export type { StreamingAuthParams } from './streaming-credentials.js';
export type { StreamingSetupInput } from './streaming-setup.js';
export {
  HTTP_API_FLOW_SPEC_ID,
  HTTP_API_XDM_FLOW_SPEC_ID,
  STREAMING_AUTH_SPEC_NAME,
  STREAMING_CONNECTION_SPEC_ID,
  STREAMING_CONNECTION_SPEC_NAME,
  STREAMING_PROVIDER_ID,
} from './streaming-spec.js';
