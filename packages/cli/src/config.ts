import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_IMS_ENDPOINT } from '@inflow/core';
import { CliError, EXIT, UsageError } from './errors.js';
import type { CliIo } from './io.js';

/** One saved target: an Inflow server or Adobe's Platform API, and the OAuth client to use. */
export interface Profile {
  /** Scheme and host: `http://127.0.0.1:8080`, `https://platform.adobe.io`. */
  endpoint: string;
  /** Where tokens come from: the Inflow server itself, or `https://ims-na1.adobelogin.com`. */
  imsEndpoint?: string;
  /** `x-gw-ims-org-id`. */
  orgId?: string;
  /** `x-api-key`, the OAuth client id. */
  clientId?: string;
  /** Kept here (file mode 600) unless it comes from `INFLOW_CLIENT_SECRET`. */
  clientSecret?: string;
  /** `x-sandbox-name`, default `prod`. */
  sandbox?: string;
}

export interface ConfigFile {
  version: 1;
  defaultProfile?: string;
  profiles: Record<string, Profile>;
}

/** A profile with flags and environment applied: what a command talks to. */
export interface ResolvedProfile extends Profile {
  name: string;
  imsEndpoint: string;
  sandbox: string;
  /** `INFLOW_ACCESS_TOKEN`: a fixed token used instead of the client credentials. */
  accessToken?: string;
}

/** `INFLOW_CONFIG`, else `$XDG_CONFIG_HOME/inflow/config.json`, else `~/.config/inflow/config.json`. */
export function configPath(env: CliIo['env']): string {
  if (env.INFLOW_CONFIG) return resolve(env.INFLOW_CONFIG);
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'inflow', 'config.json');
}

/** The directory beside the config file: resume state of `connect` and `apply` lives here. */
export function stateDir(env: CliIo['env']): string {
  return join(dirname(configPath(env)), 'state');
}

export function readConfig(env: CliIo['env']): ConfigFile {
  const path = configPath(env);
  if (!existsSync(path)) return { version: 1, profiles: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new CliError(`the config file ${path} is not valid JSON`, {
      exitCode: EXIT.usage,
      fix: `fix or delete it, then run \`inflow login\``,
      cause,
    });
  }
  const file = parsed as Partial<ConfigFile>;
  if (!file || typeof file !== 'object' || typeof file.profiles !== 'object' || file.profiles === null) {
    throw new CliError(`the config file ${path} has no "profiles" object`, {
      exitCode: EXIT.usage,
      fix: 'fix or delete it, then run `inflow login`',
    });
  }
  return {
    version: 1,
    ...(file.defaultProfile ? { defaultProfile: file.defaultProfile } : {}),
    profiles: file.profiles,
  };
}

/** Writes a file only its owner can read (600) in a directory only its owner can enter (700). */
export function writePrivateFile(path: string, text: string): void {
  const dir = dirname(path);
  // Directories made here are 700; one that exists (perhaps chosen with INFLOW_CONFIG) is left as it is.
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function writeConfig(env: CliIo['env'], config: ConfigFile): string {
  const path = configPath(env);
  writePrivateFile(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** Adobe's hosts get Adobe's IMS; any other endpoint (Inflow) serves `/ims/token/v3` itself. */
export function defaultImsEndpoint(endpoint: string): string {
  try {
    return /(^|\.)adobe\.io$/i.test(new URL(endpoint).hostname) ? DEFAULT_IMS_ENDPOINT : endpoint;
  } catch {
    return endpoint;
  }
}

export interface ProfileFlags {
  profile?: string | undefined;
  endpoint?: string | undefined;
  sandbox?: string | undefined;
}

/**
 * The profile a command uses: `--profile`, else `INFLOW_PROFILE`, else the default. Environment
 * (`INFLOW_ENDPOINT`, `INFLOW_IMS_ENDPOINT`, `INFLOW_ORG_ID`, `INFLOW_CLIENT_ID`,
 * `INFLOW_CLIENT_SECRET`, `INFLOW_SANDBOX`, `INFLOW_ACCESS_TOKEN`) overrides it, flags override both.
 */
export function resolveProfile(env: CliIo['env'], flags: ProfileFlags): ResolvedProfile {
  const config = readConfig(env);
  const named = flags.profile ?? env.INFLOW_PROFILE;
  const name = named ?? config.defaultProfile ?? 'default';
  const saved = config.profiles[name];
  if (named && !saved && !env.INFLOW_ENDPOINT && !flags.endpoint) {
    const known = Object.keys(config.profiles);
    throw new CliError(`there is no profile "${name}" in ${configPath(env)}`, {
      exitCode: EXIT.auth,
      fix: known.length
        ? `use one of: ${known.join(', ')}; or create it with \`inflow login --profile ${name}\``
        : `create it with \`inflow login --profile ${name}\``,
    });
  }
  const endpoint = flags.endpoint ?? env.INFLOW_ENDPOINT ?? saved?.endpoint;
  if (!endpoint) {
    throw new CliError('not logged in: no profile and no INFLOW_ENDPOINT', {
      exitCode: EXIT.auth,
      fix: 'start the server (`npm start`) and run `inflow login`, or `inflow login --endpoint https://platform.adobe.io …` for Adobe',
    });
  }
  const pick = (key: keyof Profile, envName: string) => env[envName] || saved?.[key];
  const orgId = pick('orgId', 'INFLOW_ORG_ID');
  const clientId = pick('clientId', 'INFLOW_CLIENT_ID');
  const clientSecret = pick('clientSecret', 'INFLOW_CLIENT_SECRET');
  const accessToken = env.INFLOW_ACCESS_TOKEN || undefined;
  return {
    name,
    endpoint: endpoint.replace(/\/+$/, ''),
    imsEndpoint: (env.INFLOW_IMS_ENDPOINT || saved?.imsEndpoint || defaultImsEndpoint(endpoint)).replace(
      /\/+$/,
      '',
    ),
    sandbox: flags.sandbox ?? (env.INFLOW_SANDBOX || saved?.sandbox || 'prod'),
    ...(orgId ? { orgId } : {}),
    ...(clientId ? { clientId } : {}),
    ...(clientSecret ? { clientSecret } : {}),
    ...(accessToken ? { accessToken } : {}),
  };
}

/** Saves a profile (and makes it the default when it is the first, or when asked). */
export function saveProfile(
  env: CliIo['env'],
  name: string,
  profile: Profile,
  options: { makeDefault?: boolean } = {},
): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new UsageError(`profile name "${name}" is not valid`, 'use letters, digits, "-", "_" and "."');
  }
  const config = readConfig(env);
  const first = Object.keys(config.profiles).length === 0;
  config.profiles[name] = profile;
  if (first || options.makeDefault || !config.defaultProfile) config.defaultProfile = name;
  return writeConfig(env, config);
}
