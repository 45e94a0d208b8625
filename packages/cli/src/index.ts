export type { AppliedItem, ApplyState, PlanItem } from './apply/engine.js';
export type { CommandDef } from './command.js';
export { configPath, type Profile, type ResolvedProfile, readConfig, resolveProfile } from './config.js';
export { CONNECTOR_KEYWORD, discoverConnectors, findConnectorPackages } from './connectors.js';
export { CliError, EXIT, type ExitCode, errorReport, UsageError } from './errors.js';
export { type CapturedIo, type CliIo, captureIo, type OutStream, processIo } from './io.js';
export { CLI_VERSION, COMMANDS, main } from './main.js';
