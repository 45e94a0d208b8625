import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AnySourceConnector } from '@inflow/core';
import { connectorScanFolders } from '@inflow/server';
import { CliError, EXIT } from './errors.js';

/** The keyword that marks a package as an Inflow connector (package.json `keywords`). */
export const CONNECTOR_KEYWORD = 'inflow-connector';

interface Pkg {
  name?: string;
  keywords?: unknown;
  exports?: unknown;
  main?: string;
}

function readPkg(dir: string): Pkg | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Pkg;
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Connector packages in the `node_modules` folders the server's discovery scans from each path
 * (up to the project root, never above it: see `connectorScanFolders`), nearest first, by name.
 */
export function findConnectorPackages(searchPaths: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const nm of connectorScanFolders(searchPaths)) {
    for (const entry of list(nm)) {
      const names = entry.startsWith('@') ? list(join(nm, entry)).map((n) => `${entry}/${n}`) : [entry];
      for (const name of names) {
        if (found.has(name)) continue;
        const pkg = readPkg(join(nm, name));
        if (Array.isArray(pkg?.keywords) && pkg.keywords.includes(CONNECTOR_KEYWORD))
          found.set(name, join(nm, name));
      }
    }
  }
  return found;
}

function entryOf(dir: string, pkg: Pkg): string {
  const pick = (t: unknown): string | undefined => {
    if (typeof t === 'string') return t;
    if (t && typeof t === 'object' && !Array.isArray(t)) {
      const o = t as Record<string, unknown>;
      return pick(o['.']) ?? pick(o.import) ?? pick(o.node) ?? pick(o.default);
    }
    return undefined;
  };
  return join(dir, pick(pkg.exports) ?? pkg.main ?? 'index.js');
}

const isConnector = (v: unknown): v is AnySourceConnector =>
  typeof v === 'object' &&
  v !== null &&
  (v as { specificationVersion?: unknown }).specificationVersion === 'v1' &&
  typeof (v as { id?: unknown }).id === 'string' &&
  Array.isArray((v as { setup?: { steps?: unknown } }).setup?.steps);

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Every installed connector: packages with the keyword `inflow-connector` next to the CLI or in
 * the working directory's project. A package that fails to load is skipped (and reported by
 * `requireConnector` only if it was the one asked for).
 */
export async function discoverConnectors(
  cwd: string,
): Promise<{ connectors: AnySourceConnector[]; failed: Map<string, unknown> }> {
  const connectors: AnySourceConnector[] = [];
  const failed = new Map<string, unknown>();
  for (const [name, dir] of findConnectorPackages([here, cwd])) {
    let mod: Record<string, unknown>;
    try {
      // By name first (the CLI's own resolution), then from where the scan found it.
      mod = (await import(name).catch(
        () => import(pathToFileURL(entryOf(dir, readPkg(dir) ?? {})).href),
      )) as Record<string, unknown>;
    } catch (error) {
      failed.set(name, error);
      continue;
    }
    for (const value of Object.values(mod)) {
      if (isConnector(value) && !connectors.some((c) => c.id === value.id)) connectors.push(value);
    }
  }
  return { connectors, failed };
}

/** `s3`, `amazon-s3` or the spec id → the installed connector, or the install command to run. */
export async function requireConnector(cwd: string, wanted: string): Promise<AnySourceConnector> {
  const { connectors, failed } = await discoverConnectors(cwd);
  const found = connectors.find(
    (c) => c.id === wanted || c.connectionSpec.name === wanted || c.connectionSpec.id === wanted,
  );
  if (found) return found;
  const pkg = `@inflow/connector-${wanted.replace(/^amazon-/, '')}`;
  const broken = failed.get(pkg);
  if (broken) {
    throw new CliError(
      `${pkg} is installed but could not be loaded: ${broken instanceof Error ? broken.message : String(broken)}`,
      {
        exitCode: EXIT.error,
        fix: `reinstall it: npm install ${pkg}`,
        cause: broken,
      },
    );
  }
  throw new CliError(`no installed connector "${wanted}"`, {
    exitCode: EXIT.usage,
    fix: `npm install ${pkg}${connectors.length ? ` (installed: ${connectors.map((c) => c.id).join(', ')})` : ''}`,
  });
}
