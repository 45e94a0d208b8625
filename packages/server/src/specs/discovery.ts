import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { customerioConnector } from '@inflow/connector-customerio';
import { postgresqlConnector } from '@inflow/connector-postgresql';
import { s3Connector } from '@inflow/connector-s3';
import { streamingConnector } from '@inflow/connector-streaming';
import type { AnySourceConnector } from '@inflow/core';

/** The keyword that marks a package as an Inflow connector (in its package.json `keywords`). */
export const CONNECTOR_KEYWORD = 'inflow-connector';

/**
 * The connectors this server ships with: its own dependencies, imported statically so that they
 * are always there, whatever a scan finds. Discovery and explicit lists add to them.
 */
export const BUILT_IN_CONNECTORS: readonly AnySourceConnector[] = Object.freeze([
  s3Connector,
  postgresqlConnector,
  streamingConnector,
  customerioConnector,
]);

/** The built-ins' package names: a scan passes over them (they are already loaded). */
const BUILT_IN_PACKAGES = new Set([
  '@inflow/connector-s3',
  '@inflow/connector-postgresql',
  '@inflow/connector-streaming',
  '@inflow/connector-customerio',
]);

/** One thing discovery did, for the server's log. Nothing here ever stops the server. */
export interface ConnectorLoadEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** The package (name or path) concerned, when there is one. */
  package?: string;
  message: string;
}

/** What `loadConnectors` found: the connectors to serve and what happened on the way. */
export interface ConnectorLoad {
  connectors: AnySourceConnector[];
  events: ConnectorLoadEvent[];
}

export interface LoadConnectorsOptions {
  /**
   * Connectors to serve besides the built-ins: connector values, or package specifiers to import
   * (a package name, found like discovered ones, or a path to a package folder or a module file).
   * When given, nothing is scanned: the list is the whole of what is added.
   */
  explicit?: readonly (AnySourceConnector | string)[] | undefined;
  /**
   * Where the scan looks: each folder's `node_modules`, then its parents' up to the folder's
   * project root (see `connectorScanFolders`), never above. Default: the server's own folder (its
   * dependencies) and the working directory (the project that runs it).
   */
  searchPaths?: readonly string[] | undefined;
  /** Default `BUILT_IN_CONNECTORS`; tests give `[]` to see only what discovery adds. */
  builtIns?: readonly AnySourceConnector[];
}

type PackageJson = {
  name?: unknown;
  workspaces?: unknown;
  version?: unknown;
  keywords?: unknown;
  exports?: unknown;
  main?: unknown;
};

const here = dirname(fileURLToPath(import.meta.url));

function readPackageJson(dir: string): PackageJson | undefined {
  try {
    const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as unknown;
    return json !== null && typeof json === 'object' ? (json as PackageJson) : undefined;
  } catch {
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

const isConnectorPackage = (pkg: PackageJson | undefined): boolean =>
  Array.isArray(pkg?.keywords) && pkg.keywords.includes(CONNECTOR_KEYWORD);

const hasPackageJson = (dir: string): boolean => {
  try {
    return statSync(join(dir, 'package.json')).isFile();
  } catch {
    return false;
  }
};

const insideNodeModules = (dir: string): boolean => dir.split(sep).includes('node_modules');

/** A `workspaces` glob (npm's and yarn's: `packages/*`, `apps/**`, `./tools/x`) as a regular expression. */
function workspacePattern(glob: string): RegExp {
  const g = glob.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i] as string;
    if (c === '*' && g[i + 1] === '*') {
      i++;
      if (g[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether the package.json in `root` lists `member` (a folder below it) among its workspaces. */
function listsWorkspace(root: string, member: string): boolean {
  const declared = readPackageJson(root)?.workspaces;
  const globs = Array.isArray(declared)
    ? declared
    : ((declared as { packages?: unknown } | undefined)?.packages ?? []);
  if (!Array.isArray(globs)) return false;
  const rel = relative(root, member).split(sep).join('/');
  let listed = false;
  for (const glob of globs) {
    if (typeof glob !== 'string') continue;
    if (glob.startsWith('!')) {
      if (workspacePattern(glob.slice(1)).test(rel)) listed = false;
    } else if (workspacePattern(glob).test(rel)) listed = true;
  }
  return listed;
}

/**
 * The project `from` belongs to: the first folder at or above it that holds a package.json and is
 * not itself inside a `node_modules` (an installed package's package.json is not a project's),
 * widened to the workspace root whose `workspaces` list that folder (npm hoists a workspace's
 * dependencies there). Undefined when there is none.
 */
export function projectRoot(from: string): string | undefined {
  let found: string | undefined;
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (!insideNodeModules(dir) && hasPackageJson(dir)) {
      found = dir;
      break;
    }
    if (dirname(dir) === dir) return undefined;
  }
  for (let dir = dirname(found); ; dir = dirname(dir)) {
    if (listsWorkspace(dir, found)) return dir;
    if (dirname(dir) === dir) return found;
  }
}

/**
 * The `node_modules` folders a scan from `from` looks in, nearest first: those Node resolves a
 * module in `from` from, but only up to `from`'s project root (see `projectRoot`), never above:
 * a package dropped in a `node_modules` above the project (`/tmp/node_modules` for a server run
 * in `/tmp/x`) is not the project's and is never imported. Without a project root, the scan stops
 * at the folder holding the outermost `node_modules` that `from` is in (a global install's
 * prefix), or looks only in `from`'s own `node_modules`.
 */
export function scanFoldersFrom(from: string): string[] {
  const start = resolve(from);
  let stop = projectRoot(start);
  if (stop === undefined) {
    const parts = start.split(sep);
    const outer = parts.indexOf('node_modules');
    stop = outer > 0 ? parts.slice(0, outer).join(sep) || sep : start;
  }
  const folders: string[] = [];
  for (let dir = start; ; dir = dirname(dir)) {
    // As Node does: `a/node_modules/node_modules` is never looked in.
    if (basename(dir) !== 'node_modules') folders.push(join(dir, 'node_modules'));
    if (dir === stop || dirname(dir) === dir) return folders;
  }
}

/**
 * Every `node_modules` folder discovery scans, nearest first and each once: for each search path
 * (default: the server's own folder and the working directory), `scanFoldersFrom`.
 */
export function connectorScanFolders(searchPaths: readonly string[] = defaultSearchPaths()): string[] {
  const folders: string[] = [];
  for (const from of searchPaths) {
    for (const folder of scanFoldersFrom(from)) if (!folders.includes(folder)) folders.push(folder);
  }
  return folders;
}

const defaultSearchPaths = (): string[] => [here, process.cwd()];

/** The package folders under one `node_modules`, by name (scoped ones as `@scope/name`). */
function packagesIn(nodeModules: string): [name: string, dir: string][] {
  const found: [string, string][] = [];
  for (const entry of listDir(nodeModules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const sub of listDir(join(nodeModules, entry))) {
        if (!sub.startsWith('.')) found.push([`${entry}/${sub}`, join(nodeModules, entry, sub)]);
      }
    } else {
      found.push([entry, join(nodeModules, entry)]);
    }
  }
  return found;
}

/** Installed packages with the keyword, nearest first; a name found twice keeps its nearest copy. */
function scan(searchPaths: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const nodeModules of connectorScanFolders(searchPaths)) {
    for (const [name, dir] of packagesIn(nodeModules)) {
      if (!found.has(name) && isConnectorPackage(readPackageJson(dir))) found.set(name, dir);
    }
  }
  return found;
}

/** Package names with the keyword `inflow-connector` in the `node_modules` folders a scan from `from` looks in (see `scanFoldersFrom`). */
export function findConnectorPackages(from: string): string[] {
  return [...scan([from]).keys()].sort();
}

/** The ESM entry of `exports['.']` (conditions `node`, `import`, `default`, in the package's order). */
function pickExport(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const picked = pickExport(t);
      if (picked) return picked;
    }
    return undefined;
  }
  if (target === null || typeof target !== 'object') return undefined;
  for (const [condition, value] of Object.entries(target)) {
    if (condition === 'node' || condition === 'import' || condition === 'default') {
      const picked = pickExport(value);
      if (picked) return picked;
    }
  }
  return undefined;
}

/** The file a package's root import loads: `exports['.']`, else `main`, else `index.js`. */
function packageEntry(dir: string, pkg: PackageJson): string {
  const { exports } = pkg;
  if (exports !== undefined) {
    const subpaths =
      exports !== null && typeof exports === 'object' && !Array.isArray(exports)
        ? Object.keys(exports).some((k) => k.startsWith('.'))
        : false;
    const root = subpaths ? (exports as Record<string, unknown>)['.'] : exports;
    const entry = pickExport(root);
    if (!entry) throw new Error('its package.json "exports" has no "." entry for import');
    return resolve(dir, entry);
  }
  return resolve(dir, typeof pkg.main === 'string' ? pkg.main : 'index.js');
}

/**
 * The connectors a module exports, default first. A value counts when it has
 * `specificationVersion: 'v1'`, a string `id` and a `connectionSpec` with a string `id`:
 * what `defineSourceConnector()` returns.
 */
function connectorsOf(mod: Record<string, unknown>): {
  found: AnySourceConnector[];
  otherVersions: string[];
} {
  const found: AnySourceConnector[] = [];
  const otherVersions: string[] = [];
  const values = ['default', ...Object.keys(mod).filter((k) => k !== 'default')].map((k) => mod[k]);
  for (const value of values) {
    if (value === null || typeof value !== 'object') continue;
    const v = value as { specificationVersion?: unknown; id?: unknown; connectionSpec?: { id?: unknown } };
    if (v.specificationVersion === undefined) continue;
    if (v.specificationVersion !== 'v1') {
      otherVersions.push(String(v.specificationVersion));
      continue;
    }
    const ok =
      typeof v.id === 'string' &&
      v.connectionSpec !== null &&
      typeof v.connectionSpec === 'object' &&
      typeof v.connectionSpec.id === 'string' &&
      v.connectionSpec.id !== '';
    if (ok && !found.includes(value as AnySourceConnector)) found.push(value as AnySourceConnector);
  }
  return { found, otherVersions };
}

const firstLine = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

const looksLikePath = (spec: string): boolean =>
  isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../') || spec === '.';

/** Where an explicit specifier points: a package folder (with its package.json) or a module file. */
function locate(spec: string, searchPaths: readonly string[]): { dir?: string; file?: string } | undefined {
  if (looksLikePath(spec)) {
    const path = resolve(spec);
    try {
      return statSync(path).isDirectory() ? { dir: path } : { file: path };
    } catch {
      return undefined;
    }
  }
  // Named packages are looked for where the scan looks, not above the project: a listed name
  // that is not installed must not pick up a same-named package dropped higher up.
  for (const nodeModules of connectorScanFolders(searchPaths)) {
    const dir = join(nodeModules, spec);
    if (readPackageJson(dir)) return { dir };
  }
  return undefined;
}

/** Imports one package (or module file) and returns its connectors, or why there are none. */
async function importConnectors(where: {
  dir?: string;
  file?: string;
}): Promise<{ connectors: AnySourceConnector[]; problem?: string; version?: string }> {
  let file = where.file;
  let version: string | undefined;
  if (where.dir) {
    const pkg = readPackageJson(where.dir);
    if (!pkg) return { connectors: [], problem: `${where.dir} has no readable package.json` };
    version = typeof pkg.version === 'string' ? pkg.version : undefined;
    try {
      file = packageEntry(realpathSync(where.dir), pkg);
    } catch (error) {
      return { connectors: [], problem: `cannot find its entry: ${firstLine(error)}` };
    }
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file as string).href)) as Record<string, unknown>;
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    return {
      connectors: [],
      problem: `it failed to load (${firstLine(error)})${missing ? ': is it built, and are its dependencies installed?' : ''}`,
    };
  }
  const { found, otherVersions } = connectorsOf(mod);
  if (found.length === 0) {
    const problem =
      otherVersions.length > 0
        ? `it exports a connector of specification ${otherVersions.map((v) => `"${v}"`).join(', ')}, and this server knows "v1": upgrade @inflow/server`
        : 'it exports no SourceConnectorV1 (a value with specificationVersion "v1" and a connectionSpec id): export what defineSourceConnector() returns';
    return { connectors: [], problem };
  }
  return { connectors: found, ...(version ? { version } : {}) };
}

/**
 * The connectors to serve: the built-ins, then those of `explicit` or, without it, every
 * installed package with the keyword `inflow-connector`. A package that fails to load, exports
 * no v1 connector, or serves a spec id, spec name or connector id already taken is skipped with a
 * warning; loading never throws, so a broken plugin cannot keep the server from starting.
 */
export async function loadConnectors(options: LoadConnectorsOptions = {}): Promise<ConnectorLoad> {
  const events: ConnectorLoadEvent[] = [];
  const connectors: AnySourceConnector[] = [];
  const owners = new Map<string, string>();
  const searchPaths = options.searchPaths ?? defaultSearchPaths();

  /** Adds a connector unless something already serves its spec id, spec name or connector id. */
  const add = (connector: AnySourceConnector, from: string, pkg?: string): boolean => {
    if (connectors.includes(connector)) return false;
    const keys = [
      ['connection spec id', connector.connectionSpec.id],
      ['connection spec name', connector.connectionSpec.name],
      ['connector id', connector.id],
    ] as const;
    for (const [what, value] of keys) {
      const owner = owners.get(`${what}:${value}`);
      if (owner) {
        events.push({
          level: 'warn',
          ...(pkg ? { package: pkg } : {}),
          message: `ignored connector "${connector.id}" from ${from}: its ${what} "${value}" is already served by ${owner}`,
        });
        return false;
      }
    }
    const name = `${connector.displayName} (${from})`;
    for (const [what, value] of keys) owners.set(`${what}:${value}`, name);
    connectors.push(connector);
    return true;
  };

  for (const connector of options.builtIns ?? BUILT_IN_CONNECTORS) add(connector, 'built-in');

  const loadPackage = async (label: string, where: { dir?: string; file?: string }) => {
    const result = await importConnectors(where);
    if (result.problem) {
      events.push({
        level: 'error',
        package: label,
        message: `skipped connector package ${label}: ${result.problem}`,
      });
      return;
    }
    for (const connector of result.connectors) {
      const from = result.version ? `${label}@${result.version}` : label;
      if (add(connector, from, label)) {
        events.push({
          level: 'info',
          package: label,
          message: `loaded connector "${connector.id}" (${connector.connectionSpec.name}, connection spec ${connector.connectionSpec.id}) from ${from}`,
        });
      }
    }
  };

  if (options.explicit) {
    for (const entry of options.explicit) {
      if (typeof entry !== 'string') {
        const check = connectorsOf({ default: entry });
        if (check.found.length === 1) add(entry, 'the connectors option');
        else {
          events.push({
            level: 'error',
            message:
              'skipped a value of the connectors option: it is not a SourceConnectorV1 (use defineSourceConnector())',
          });
        }
        continue;
      }
      const where = locate(entry, searchPaths);
      if (!where) {
        events.push({
          level: 'error',
          package: entry,
          message: looksLikePath(entry)
            ? `skipped connector ${entry}: no such file or folder`
            : `skipped connector package ${entry}: it is not installed (npm install ${entry}) in ${connectorScanFolders(searchPaths).join(', ')}; or give its path`,
        });
        continue;
      }
      await loadPackage(entry, where);
    }
    return { connectors, events };
  }

  for (const [name, dir] of scan(searchPaths)) {
    if (BUILT_IN_PACKAGES.has(name)) {
      events.push({
        level: 'debug',
        package: name,
        message: `${name} is built in: served from the server's own copy`,
      });
      continue;
    }
    await loadPackage(name, { dir });
  }
  return { connectors, events };
}

/**
 * The connectors a server started from `from` would serve: the built-ins and every installed
 * package with the keyword `inflow-connector`. Never throws; see `loadConnectors` for the report.
 */
export async function discoverConnectors(from?: string): Promise<AnySourceConnector[]> {
  const searchPaths = from === undefined ? undefined : [from];
  return (await loadConnectors({ searchPaths })).connectors;
}
