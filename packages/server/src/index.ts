export { BODY_LIMIT, buildServer, type InflowServer, SERVER_VERSION } from './app.js';
export { type BootstrapResult, type Sandbox, Tenancy } from './auth/tenancy.js';
export { type BootstrapFile, readBootstrap, saveBootstrap } from './bootstrap-file.js';
export { configFromEnv, type ServerConfig } from './config.js';
export { FlowProblem, GatewayError } from './errors.js';
export type { Services } from './services.js';
export { connectorScanFolders, projectRoot } from './specs/discovery.js';
export {
  BUILT_IN_CONNECTORS,
  CONNECTOR_KEYWORD,
  type ConnectorLoad,
  type ConnectorLoadEvent,
  DATA_LAKE_SPEC_ID,
  discoverConnectors,
  findConnectorPackages,
  type LoadConnectorsOptions,
  loadConnectors,
  SpecRegistry,
} from './specs/registry.js';
