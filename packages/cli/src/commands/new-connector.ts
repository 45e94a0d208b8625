import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE_VERSION, InflowValidationError } from '@inflow/core';

/** What `inflow new connector <id>` is asked for. */
export interface NewConnectorOptions {
  /** The connector id: lower-case, `[a-z][a-z0-9-]*` (what `defineSourceConnector` accepts). */
  id: string;
  /** Where the package goes; created if missing, refused if not empty (unless `force`). */
  dir: string;
  /** The template folder; default the one shipped with the CLI (or the repository's, from a checkout). */
  templateDir?: string;
  /** Write into a folder that is not empty, overwriting the template's files. */
  force?: boolean;
  /** The npm package name; default `inflow-connector-<id>`. */
  packageName?: string;
  /** The source's name for people; default the id in title case (`acme-crm` → `Acme Crm`). */
  displayName?: string;
}

/** What was written: the package folder (absolute) and its files, relative to it, sorted. */
export interface NewConnectorResult {
  dir: string;
  files: string[];
}

const CONNECTOR_ID = /^[a-z][a-z0-9-]*$/;
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
/** npm drops `.gitignore` from published packages, so the template carries it under this name. */
const RENAMED: Record<string, string> = { _gitignore: '.gitignore' };

/**
 * The template folder: the nearest `templates/connector` above this module. Installed, that is
 * the CLI package's own copy (`@inflow/cli/templates`, copied at pack time); in a checkout of the
 * repository, the one at its root.
 */
export function defaultTemplateDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'templates', 'connector');
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) {
      throw new InflowValidationError('the connector template is missing from this installation', [
        { path: 'templateDir', message: `no templates/connector above ${from}: reinstall @inflow/cli` },
      ]);
    }
  }
}

const camelCase = (id: string): string => id.replace(/-+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const titleCase = (id: string): string =>
  id
    .split('-')
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join(' ');

function listFiles(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === 'node_modules' || entry.name === 'dist' ? [] : listFiles(root, path);
    return entry.isFile() ? [relative(root, path)] : [];
  });
}

function validate(options: NewConnectorOptions): void {
  const issues = [];
  if (!CONNECTOR_ID.test(options.id) || options.id.endsWith('-')) {
    issues.push({
      path: 'id',
      message: `"${options.id}" is not a connector id: use lower-case letters, digits and dashes, starting with a letter (e.g. acme-crm)`,
    });
  }
  if (options.packageName !== undefined && !PACKAGE_NAME.test(options.packageName)) {
    issues.push({ path: 'packageName', message: `"${options.packageName}" is not a valid npm package name` });
  }
  if (options.displayName !== undefined && /['\\\n]/.test(options.displayName)) {
    issues.push({ path: 'displayName', message: 'must not contain quotes, backslashes or line breaks' });
  }
  if (issues.length > 0) {
    throw new InflowValidationError(`cannot create connector "${options.id}"`, issues);
  }
}

/**
 * Scaffolds a connector package from the template: a webhook-style source with an `inlet`, a
 * fresh connection spec id, the conformance test and a README. Placeholders: `{{id}}`,
 * `{{name}}`, `{{displayName}}`, `{{specId}}`, `{{coreRange}}`, and `__camelId__` inside
 * identifiers (so the template itself stays valid TypeScript).
 */
export async function newConnector(options: NewConnectorOptions): Promise<NewConnectorResult> {
  validate(options);
  const dir = resolve(options.dir);
  const templateDir = resolve(options.templateDir ?? defaultTemplateDir());
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) {
      throw new InflowValidationError(`cannot create connector "${options.id}"`, [
        { path: 'dir', message: `${dir} is a file: choose a folder` },
      ]);
    }
    if (readdirSync(dir).length > 0 && !options.force) {
      throw new InflowValidationError(`cannot create connector "${options.id}"`, [
        { path: 'dir', message: `${dir} is not empty: choose another folder, or pass --force to overwrite` },
      ]);
    }
  }
  const values: Record<string, string> = {
    id: options.id,
    name: options.packageName ?? `inflow-connector-${options.id}`,
    displayName: options.displayName ?? titleCase(options.id),
    specId: randomUUID(),
    coreRange: `^${CORE_VERSION}`,
  };
  const fill = (text: string) =>
    text
      .replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole)
      .replaceAll('__camelId__', camelCase(options.id));

  const files: string[] = [];
  for (const file of listFiles(templateDir).sort()) {
    const base = file.split(/[\\/]/).pop() as string;
    const target = RENAMED[base] ? join(dirname(file), RENAMED[base]) : file;
    mkdirSync(dirname(join(dir, target)), { recursive: true });
    writeFileSync(join(dir, target), fill(readFileSync(join(templateDir, file), 'utf8')));
    files.push(target.split('\\').join('/'));
  }
  return { dir, files: files.sort() };
}
