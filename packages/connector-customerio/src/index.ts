export { customerioConnector } from './customerio-connector.js';
export { CUSTOMERIO_REPLAY_WINDOW_MS, customerioSignature } from './customerio-inlet.js';
export type { CustomerioSourceParams } from './customerio-params.js';
export { type CustomerioSetupInput, defaultCustomerioMappings } from './customerio-setup.js';
export {
  CUSTOMERIO_CONNECTION_SPEC_ID,
  CUSTOMERIO_CONNECTION_SPEC_NAME,
  CUSTOMERIO_DEFAULT_FIELDS,
  CUSTOMERIO_PROVIDER_ID,
  DATA_LAKE_CONNECTION_SPEC_ID,
  GENERIC_STREAMING_FLOW_SPEC_ID,
} from './customerio-spec.js';
