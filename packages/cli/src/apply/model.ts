import { UsageError } from '../errors.js';

/**
 * The config-as-code file (`inflow.yaml`, version 1), described in docs/config-as-code.md. Each
 * section maps a key (the name this file gives a resource, and what other entries reference) to
 * the resource's API body with a few conveniences: references by key instead of ids, and spec
 * names instead of spec ids.
 */
export const KINDS = [
  'schemas',
  'datasets',
  'connections',
  'sourceConnections',
  'targetConnections',
  'mappingSets',
  'flows',
] as const;
export type Kind = (typeof KINDS)[number];

/** Kinds the API can update in place (JSON Patch) and delete; the others are create-only. */
export const MUTABLE: ReadonlySet<Kind> = new Set([
  'connections',
  'sourceConnections',
  'targetConnections',
  'flows',
]);

export const SINGULAR: Record<Kind, string> = {
  schemas: 'schema',
  datasets: 'dataset',
  connections: 'connection',
  sourceConnections: 'source connection',
  targetConnections: 'target connection',
  mappingSets: 'mapping set',
  flows: 'flow',
};

export type Json = Record<string, unknown>;

export interface ConfigFileV1 {
  version: 1;
  schemas: Record<string, Json>;
  datasets: Record<string, Json>;
  connections: Record<string, Json>;
  sourceConnections: Record<string, Json>;
  targetConnections: Record<string, Json>;
  mappingSets: Record<string, Json>;
  flows: Record<string, Json>;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields each kind knows (besides the API body fields passed through as they are). */
const ALLOWED: Record<Kind, string[]> = {
  schemas: ['title', 'description', 'class', 'fields', 'allOf', 'definitions', 'type'],
  datasets: [
    'name',
    'description',
    'schema',
    'contentType',
    'tags',
    'enableErrorDiagnostics',
    'fileDescription',
  ],
  connections: ['name', 'description', 'connectionSpec', 'auth', 'providerId'],
  sourceConnections: [
    'name',
    'description',
    'connectionSpec',
    'connection',
    'baseConnectionId',
    'providerId',
    'data',
    'params',
  ],
  targetConnections: ['name', 'description', 'connectionSpec', 'dataset', 'data', 'params'],
  mappingSets: ['schema', 'contentType', 'mappings'],
  flows: [
    'name',
    'description',
    'flowSpec',
    'sources',
    'targets',
    'mapping',
    'transformations',
    'scheduleParams',
    'options',
    'state',
  ],
};

const REQUIRED: Record<Kind, string[]> = {
  schemas: ['title'],
  datasets: ['name', 'schema'],
  connections: ['name', 'connectionSpec', 'auth'],
  sourceConnections: ['name'],
  targetConnections: ['name'],
  mappingSets: ['schema', 'mappings'],
  flows: ['name', 'flowSpec', 'sources', 'targets'],
};

/** Validates the parsed YAML: every problem is reported with its path, all at once. */
export function parseConfig(value: unknown, file: string): ConfigFileV1 {
  const problems: string[] = [];
  if (!isObj(value)) throw new UsageError(`${file} is not a YAML mapping`, 'start it with `version: 1`');
  if (value.version !== 1) problems.push(`version: must be 1 (got ${JSON.stringify(value.version)})`);
  for (const k of Object.keys(value)) {
    if (k !== 'version' && !(KINDS as readonly string[]).includes(k)) {
      problems.push(`${k}: unknown section (known: ${KINDS.join(', ')})`);
    }
  }
  const out: Partial<ConfigFileV1> = { version: 1 };
  for (const kind of KINDS) {
    const section = value[kind] ?? {};
    if (!isObj(section)) {
      problems.push(`${kind}: must be a mapping of key → ${SINGULAR[kind]}`);
      continue;
    }
    for (const [key, entry] of Object.entries(section)) {
      const at = `${kind}.${key}`;
      if (!/^[A-Za-z0-9_.-]+$/.test(key)) problems.push(`${at}: keys use letters, digits, "-", "_" and "."`);
      if (!isObj(entry)) {
        problems.push(`${at}: must be a mapping`);
        continue;
      }
      for (const f of Object.keys(entry)) {
        if (!ALLOWED[kind].includes(f))
          problems.push(`${at}.${f}: unknown field (known: ${ALLOWED[kind].join(', ')})`);
      }
      for (const f of REQUIRED[kind]) if (entry[f] === undefined) problems.push(`${at}.${f}: required`);
      if (kind === 'schemas' && entry.fields === undefined && entry.allOf === undefined) {
        problems.push(`${at}: give either fields (with class) or allOf/definitions`);
      }
      if (kind === 'flows') {
        for (const f of ['sources', 'targets']) {
          const v = entry[f];
          if (
            v !== undefined &&
            !(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))
          ) {
            problems.push(`${at}.${f}: a key or a list of keys`);
          }
        }
        if (entry.state !== undefined && entry.state !== 'enabled' && entry.state !== 'disabled') {
          problems.push(`${at}.state: enabled or disabled`);
        }
      }
      if (kind === 'mappingSets' && entry.mappings !== undefined && !Array.isArray(entry.mappings)) {
        problems.push(`${at}.mappings: must be a list`);
      }
      if (kind === 'connections' && entry.auth !== undefined && !isObj(entry.auth)) {
        problems.push(`${at}.auth: must be a mapping with params (and specName)`);
      }
    }
    (out as Record<string, unknown>)[kind] = section;
  }
  if (problems.length) {
    throw new UsageError(`${file} is not valid:\n  ${problems.join('\n  ')}`, 'see docs/config-as-code.md');
  }
  return out as ConfigFileV1;
}

/** `https://ns.adobe.com/xdm/context/profile` for the class shorthands. */
export const CLASSES: Record<string, string> = {
  profile: 'https://ns.adobe.com/xdm/context/profile',
  experienceevent: 'https://ns.adobe.com/xdm/context/experienceevent',
  'experience-event': 'https://ns.adobe.com/xdm/context/experienceevent',
};

/** A field shorthand (`string`, `number`, …) or a JSON Schema; nested objects recurse. */
export function fieldSchema(v: unknown, path: string): Json {
  if (typeof v === 'string') {
    const formats: Record<string, Json> = {
      'date-time': { type: 'string', format: 'date-time' },
      date: { type: 'string', format: 'date' },
      email: { type: 'string', format: 'email' },
    };
    if (formats[v]) return formats[v] as Json;
    if (['string', 'number', 'integer', 'boolean'].includes(v)) return { type: v };
    throw new UsageError(
      `${path}: unknown field type "${v}"`,
      'use string, number, integer, boolean, date-time, date, email, or a JSON Schema',
    );
  }
  if (isObj(v)) {
    if (v.type !== undefined) return v;
    return {
      type: 'object',
      properties: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fieldSchema(x, `${path}.${k}`)])),
    };
  }
  throw new UsageError(`${path}: a field is a type name or a JSON Schema`);
}
