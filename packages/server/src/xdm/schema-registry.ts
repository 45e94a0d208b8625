import { createHash } from 'node:crypto';
import { nestedRepetition } from '@inflow/core';
import { Ajv, type ErrorObject, type Format, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { type JsonSchema, standardClass, type XdmClass, type XdmResource } from './xdm-classes.js';

/**
 * Schema Registry logic (reference §13.1) as pure functions: create a tenant schema from a request
 * body, resolve a stored schema into the `xed-full` view, and compile that view with ajv. Storage
 * stays with the caller, which passes lookups in.
 */

// ---------------------------------------------------------------------------------------------
// Problems

/**
 * The registry's error codes Inflow uses. 1010-404, 1021-400, 1413-400 and 1521-400 are the real
 * registry's (XDM troubleshooting guide); 1000-400 is Inflow's own for a body that fails validation,
 * because the real code for that is not documented.
 */
export const XDM_ERRORS = {
  invalidSchema: { code: 'XDM-1000-400', title: 'Invalid schema' },
  notFound: { code: 'XDM-1010-404', title: 'Resource not found' },
  namespace: { code: 'XDM-1021-400', title: 'Namespace validation error' },
  merge: { code: 'XDM-1413-400', title: 'Merge Schema Error' },
  titleNotUnique: { code: 'XDM-1521-400', title: 'Title not unique' },
} as const;

/** `MM-dd-yyyy HH:mm:ss` in UTC, as the registry writes `report.timestamp`. */
function registryTimestamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}-${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}

/**
 * A Schema Registry error. `code` is `XDM-NNNN-SSS`, whose tail is the HTTP status; `body()` is the
 * registry's real error shape.
 */
export class XdmProblem extends Error {
  override readonly name = 'XdmProblem';
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string;

  constructor(error: { code: string; title: string }, detail: string, options: { cause?: unknown } = {}) {
    super(
      `${error.code} ${error.title}: ${detail}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = error.code;
    this.status = Number(error.code.split('-')[2]);
    this.title = error.title;
    this.detail = detail;
  }

  /** The response body; `at` (ms) is the report's timestamp. */
  body(requestId: string, at: number = Date.now()): Record<string, unknown> {
    return {
      type: `http://ns.adobe.com/aep/errors/${this.code}`,
      title: this.title,
      status: this.status,
      report: {
        registryRequestId: requestId,
        timestamp: registryTimestamp(at),
        'detailed-message': this.detail,
        'sub-errors': [],
      },
      detail: this.detail,
    };
  }

  static isInstance(error: unknown): error is XdmProblem {
    return (
      error instanceof Error && error.name === 'XdmProblem' && typeof (error as XdmProblem).code === 'string'
    );
  }
}

const invalidSchema = (detail: string) => new XdmProblem(XDM_ERRORS.invalidSchema, detail);

// ---------------------------------------------------------------------------------------------
// Records and context

/** Finds a tenant resource (field group, data type, tenant class) by `$id`; standard classes are built in. */
export type ResolveRef = (id: string) => XdmResource | undefined;

/** What `createTenantSchema` needs from the caller: who is asking, where, and storage lookups. */
export interface CreateSchemaContext {
  /** The org's tenant id, without the underscore (`extconndev`). */
  tenantId: string;
  orgId: string;
  sandboxId: string;
  /** `production` or `development`; written to `meta:sandboxType` when given. */
  sandboxType?: string;
  clientId: string;
  /** Written to `xdm:createdUserId`/`xdm:lastModifiedUserId` when given. */
  userId?: string;
  /** Creation time, ms since the epoch. */
  now: number;
  /** A fresh opaque hash for the `$id` (the real registry uses 32 or 48 hex digits). */
  newHash: () => string;
  resolveRef: ResolveRef;
  /** Whether a resource with this title already exists in the org and sandbox. */
  titleTaken: (title: string) => boolean;
}

/** One `allOf` entry as stored: the reference plus the registry's type annotations. */
export type XdmAllOfEntry = { $ref: string; type: 'object'; 'meta:xdmType': 'object' };

/** A tenant schema as stored: the registry's 201 body (raw `xed` view). */
export interface XdmSchemaRecord extends XdmResource {
  $id: string;
  'meta:altId': string;
  'meta:resourceType': 'schemas';
  version: string;
  title: string;
  type: 'object';
  description: string;
  allOf: XdmAllOfEntry[];
  /** The body's inline field definitions, referenced from `allOf` as `#/definitions/<name>`. */
  definitions?: Record<string, JsonSchema>;
  /** The class and field groups, by `$id`. */
  refs: string[];
  imsOrg: string;
  'meta:extensible': false;
  'meta:abstract': false;
  'meta:extends': string[];
  'meta:xdmType': 'object';
  'meta:registryMetadata': Record<string, unknown>;
  'meta:class': string;
  'meta:containerId': 'tenant';
  'meta:sandboxId': string;
  'meta:sandboxType'?: string;
  'meta:tenantNamespace': string;
  'meta:immutableTags'?: string[];
  /** The class's required fields by their JSON-LD names (`@id`, `xdm:timestamp`). */
  required?: string[];
}

// ---------------------------------------------------------------------------------------------
// ajv

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?$/;

function isDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= days;
}

/** The formats XDM fields use, checked as ajv-formats' "full" mode does. */
export const XDM_FORMATS: Readonly<Record<string, Format>> = {
  date: isDate,
  'date-time': (value: string) => {
    const m = DATE_TIME.exec(value);
    if (!m || !isDate(m[1] as string)) return false;
    const [h, min, s] = [Number(m[2]), Number(m[3]), Number(m[4])];
    const offsetOk = m[5] === undefined || (Number(m[5]) < 24 && Number(m[6]) < 60);
    return h < 24 && min < 60 && s <= 60 && offsetOk;
  },
  time: (value: string) => {
    const m = TIME.exec(value);
    return !!m && Number(m[1]) < 24 && Number(m[2]) < 60 && Number(m[3]) <= 60;
  },
  email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
  uri: /^[a-z][a-z0-9+.-]*:[^\s]*$/i,
  'uri-reference': /^[^\s]*$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};

let sharedAjv: Ajv | undefined;

/**
 * One ajv (draft-07) for every XDM schema: strict about keywords and formats (so a typo fails
 * instead of silently validating nothing), lenient about draft-07 idioms XDM uses (properties
 * without `type`), collecting all errors.
 */
function xdmAjv(): Ajv {
  sharedAjv ??= new Ajv({
    strictSchema: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    allErrors: true,
    addUsedSchema: false,
    formats: XDM_FORMATS,
  });
  return sharedAjv;
}

/** Registers the registry's annotations (`meta:*`, `xdm:*`, `version`, …) as no-op keywords. */
function registerAnnotations(ajv: Ajv, schema: unknown): void {
  const visit = (node: unknown) => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (
        (/^[a-z]+:[A-Za-z0-9_$:-]+$/i.test(key) || TOP_LEVEL_ANNOTATIONS.has(key)) &&
        !ajv.getKeyword(key)
      ) {
        ajv.addKeyword({ keyword: key });
      }
      visit(value);
    }
  };
  visit(schema);
}

const TOP_LEVEL_ANNOTATIONS = new Set(['version', 'imsOrg', 'refs']);

/**
 * Compiles an XDM schema (a `xed-full` view from `resolveSchemaFull`) with the shared ajv. Throws
 * ajv's error if the schema is not valid JSON Schema. The instance keeps no reference to the schema.
 */
export function compileXdmSchema(schema: JsonSchema): ValidateFunction {
  const ajv = xdmAjv();
  registerAnnotations(ajv, schema);
  try {
    return ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
}

/** `/a/b~1c` → `a.b/c`; the root is `(root)`. */
function pointerToPath(pointer: string, root = '(root)'): string {
  if (pointer === '') return root;
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describeError(error: ErrorObject, root: string): string {
  const path = pointerToPath(error.instancePath, root);
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') {
    const field = String(params.missingProperty);
    return `${path === root ? field : `${path}.${field}`} is required`;
  }
  if (error.keyword === 'additionalProperties') {
    return `${path} must not have the field ${JSON.stringify(params.additionalProperty)}`;
  }
  const allowed = Array.isArray(params.allowedValues) ? ` (${params.allowedValues.join(', ')})` : '';
  return `${path} ${error.message ?? 'is invalid'}${allowed}`;
}

/**
 * One message per failing location: ajv reports every branch of an `anyOf`, and the first says
 * most. With `deepestOnly` (for schemas checked against the meta-schema) an error is dropped when
 * another one lies inside it: `items.type must be one of …` says more than `items must be array`.
 */
function describeErrors(
  errors: readonly ErrorObject[] | null | undefined,
  root: string,
  deepestOnly = false,
): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const all = errors ?? [];
  for (const error of all) {
    if (deepestOnly && all.some((other) => other.instancePath.startsWith(`${error.instancePath}/`))) continue;
    const key = `${error.instancePath}|${error.keyword === 'required' ? String(error.params.missingProperty) : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(describeError(error, root));
  }
  return out;
}

/**
 * Compiles a `xed-full` schema into a record validator: it returns the problems with a record,
 * e.g. `_extconndev.email must be string`, `timestamp is required`; none when the record is valid.
 */
export function recordValidator(fullSchema: JsonSchema): (record: unknown) => string[] {
  const validate = compileXdmSchema(fullSchema);
  return (record) => (validate(record) ? [] : describeErrors(validate.errors, '(record)'));
}

// ---------------------------------------------------------------------------------------------
// Keyword check (names the path in the body, which ajv's strict mode does not)

/** Every draft-07 keyword; anything else in a field definition must be an annotation such as `meta:xdmType`. */
const DRAFT7_KEYWORDS = new Set(
  (
    '$id $schema $ref $comment title description default readOnly writeOnly examples multipleOf ' +
    'maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength pattern ' +
    'additionalItems items maxItems minItems uniqueItems contains maxProperties minProperties ' +
    'required additionalProperties definitions properties patternProperties dependencies ' +
    'propertyNames const enum type format contentMediaType contentEncoding if then else allOf ' +
    'anyOf oneOf not'
  ).split(' '),
);
const SCHEMA_MAPS = ['properties', 'patternProperties', 'definitions', 'dependencies'];
const SCHEMA_VALUES = [
  'additionalProperties',
  'items',
  'additionalItems',
  'contains',
  'propertyNames',
  'if',
  'then',
  'else',
  'not',
];
const SCHEMA_ARRAYS = ['allOf', 'anyOf', 'oneOf', 'items'];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function checkKeywords(schema: unknown, path: string, problems: string[]): void {
  if (!isObject(schema)) return;
  for (const key of Object.keys(schema)) {
    if (!DRAFT7_KEYWORDS.has(key) && !/^[a-z]+:/i.test(key))
      problems.push(`${path}: unknown keyword "${key}"`);
  }
  const patterns = [
    ...(typeof schema.pattern === 'string' ? [[`${path}.pattern`, schema.pattern]] : []),
    ...(isObject(schema.patternProperties)
      ? Object.keys(schema.patternProperties).map((p) => [`${path}.patternProperties`, p])
      : []),
  ];
  for (const [where, pattern] of patterns) {
    try {
      new RegExp(pattern as string, 'u');
    } catch (error) {
      problems.push(`${where}: ${(error as Error).message}`);
      continue;
    }
    // Validation runs the pattern on every value (on the server thread with syncValidation).
    const problem = nestedRepetition(pattern as string);
    if (problem) problems.push(`${where}: ${problem}`);
  }
  if (typeof schema.format === 'string' && !Object.hasOwn(XDM_FORMATS, schema.format)) {
    problems.push(
      `${path}.format: unknown format "${schema.format}" (use ${Object.keys(XDM_FORMATS).join(', ')})`,
    );
  }
  for (const key of SCHEMA_MAPS) {
    const map = schema[key];
    if (isObject(map))
      for (const [name, sub] of Object.entries(map)) checkKeywords(sub, `${path}.${key}.${name}`, problems);
  }
  for (const key of SCHEMA_VALUES)
    if (isObject(schema[key])) checkKeywords(schema[key], `${path}.${key}`, problems);
  for (const key of SCHEMA_ARRAYS) {
    const list = schema[key];
    if (!Array.isArray(list)) continue;
    list.forEach((sub, i) => {
      checkKeywords(sub, `${path}.${key}.${i}`, problems);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Resolution: allOf/$ref into one properties object

interface Flat {
  properties: Record<string, JsonSchema>;
  required: string[];
}

function typeOf(schema: JsonSchema): string | undefined {
  const t = schema.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return [...t].map(String).sort().join('|');
  return undefined;
}

function mergeSchemas(a: JsonSchema, b: JsonSchema, path: string): JsonSchema {
  const [ta, tb] = [typeOf(a), typeOf(b)];
  if (ta !== undefined && tb !== undefined && ta !== tb) {
    throw new XdmProblem(
      XDM_ERRORS.merge,
      `Cannot merge incompatible data types. The path ${path} has already been defined using a different data type. Types: ${ta}, ${tb}`,
    );
  }
  const merged: JsonSchema = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (key === 'properties' && isObject(a.properties) && isObject(value)) {
      merged.properties = mergeProperties(
        a.properties as Record<string, JsonSchema>,
        value as Record<string, JsonSchema>,
        path,
      );
    } else if (key === 'required' && Array.isArray(a.required) && Array.isArray(value)) {
      merged.required = [...new Set([...a.required, ...value])];
    } else if (!(key in merged)) {
      merged[key] = value;
    }
  }
  return merged;
}

function mergeProperties(
  into: Record<string, JsonSchema>,
  from: Record<string, JsonSchema>,
  path: string,
): Record<string, JsonSchema> {
  const out = { ...into };
  for (const [key, schema] of Object.entries(from)) {
    const existing = out[key];
    out[key] = existing ? mergeSchemas(existing, schema, `${path}/${key}`) : schema;
  }
  return out;
}

class Resolver {
  private readonly stack: string[] = [];

  constructor(private readonly resolveRef: ResolveRef) {}

  lookup(id: string): XdmResource | undefined {
    return standardClass(id) ?? this.resolveRef(id);
  }

  /** Where a `$ref` points: a definition of its owner, or another resource. */
  private target(ref: string, owner: XdmResource): { schema: JsonSchema; owner: XdmResource; key: string } {
    if (ref.startsWith('#/definitions/')) {
      const name = ref.slice('#/definitions/'.length).replace(/~1/g, '/').replace(/~0/g, '~');
      const schema = owner.definitions?.[name];
      if (!isObject(schema)) {
        throw invalidSchema(`${ref} is not in the definitions of ${owner.$id || 'the schema'}`);
      }
      return { schema, owner, key: `${owner.$id}${ref}` };
    }
    const resource = this.lookup(ref);
    if (!resource) {
      throw new XdmProblem(XDM_ERRORS.notFound, `The requested resource ${ref} with version 1 is not found.`);
    }
    return { schema: resource as JsonSchema, owner: resource, key: ref };
  }

  private enter<T>(key: string, fn: () => T): T {
    if (this.stack.includes(key)) throw invalidSchema(`circular $ref: ${[...this.stack, key].join(' → ')}`);
    this.stack.push(key);
    try {
      return fn();
    } finally {
      this.stack.pop();
    }
  }

  /** A schema's own properties and required, plus everything its `allOf` pulls in. */
  flatten(schema: JsonSchema, owner: XdmResource, path = ''): Flat {
    let properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    const add = (part: Flat) => {
      properties = mergeProperties(properties, part.properties, path);
      for (const r of part.required) if (!required.includes(r)) required.push(r);
    };
    if (isObject(schema.properties)) {
      const own: Record<string, JsonSchema> = {};
      for (const [key, value] of Object.entries(schema.properties)) {
        own[key] = this.inline(value, owner, `${path}/${key}`) as JsonSchema;
      }
      add({ properties: own, required: [] });
    }
    if (Array.isArray(schema.required)) add({ properties: {}, required: schema.required.map(String) });
    if (Array.isArray(schema.allOf)) {
      for (const entry of schema.allOf) {
        if (!isObject(entry)) continue;
        if (typeof entry.$ref === 'string') {
          const target = this.target(entry.$ref, owner);
          add(this.enter(target.key, () => this.flatten(target.schema, target.owner, path)));
        } else {
          add(this.flatten(entry, owner, path));
        }
      }
    }
    return { properties, required };
  }

  /** A copy of a field's schema with every `$ref` inside replaced by what it points to. */
  inline(schema: unknown, owner: XdmResource, path: string): unknown {
    if (Array.isArray(schema)) return schema.map((s) => this.inline(s, owner, path));
    if (!isObject(schema)) return schema;
    if (typeof schema.$ref === 'string') {
      const { $ref, ...siblings } = schema;
      const target = this.target($ref, owner);
      return this.enter(target.key, () => {
        const t = target.schema;
        const composite = isObject(t.properties) || Array.isArray(t.allOf);
        let resolved: JsonSchema;
        if (composite) {
          const flat = this.flatten(t, target.owner, path);
          resolved = { type: 'object', 'meta:xdmType': 'object', properties: flat.properties };
          if (flat.required.length > 0) resolved.required = flat.required;
          if (typeof t.title === 'string') resolved.title = t.title;
          if (typeof t.description === 'string') resolved.description = t.description;
        } else {
          resolved = this.inline(t, target.owner, path) as JsonSchema;
        }
        return { ...resolved, ...(this.inline(siblings, owner, path) as JsonSchema) };
      });
    }
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(schema)) {
      if (SCHEMA_MAPS.includes(key) && isObject(value)) {
        out[key] = Object.fromEntries(
          Object.entries(value).map(([k, v]) => [
            k,
            this.inline(v, owner, key === 'properties' ? `${path}/${k}` : path),
          ]),
        );
      } else if (SCHEMA_VALUES.includes(key) || SCHEMA_ARRAYS.includes(key)) {
        out[key] = this.inline(value, owner, path);
      } else {
        out[key] = value;
      }
    }
    return out;
  }
}

const NOT_IN_FULL = new Set(['allOf', 'definitions', 'refs', 'required', 'properties']);

/**
 * The `xed-full` view of a stored schema: `allOf`/`$ref` resolved into one `properties` object
 * (class fields, field groups, inline definitions; tenant fields under `_{tenantId}`), `required`
 * merged from all of them by field name. This is what ingestion validates records against; it
 * compiles with `compileXdmSchema`. Throws `XdmProblem` for an unknown ref (404) or a type clash
 * between two parts (XDM-1413-400).
 */
export function resolveSchemaFull(record: XdmResource, resolveRef: ResolveRef): JsonSchema {
  // The record's own `required` lists JSON-LD names (`@id`); the full view requires field names.
  const { required: _jsonLdNames, ...composition } = record;
  const flat = new Resolver(resolveRef).flatten(composition as JsonSchema, record);
  const full: JsonSchema = {};
  for (const [key, value] of Object.entries(record)) if (!NOT_IN_FULL.has(key)) full[key] = value;
  full.type = 'object';
  full.properties = flat.properties;
  if (flat.required.length > 0) full.required = flat.required;
  return full;
}

/** Whether `idOrAltId` (a `$id` or `meta:altId`, URL-encoded or not) names this resource. */
export function schemaIdMatches(idOrAltId: string, record: Pick<XdmResource, '$id' | 'meta:altId'>): boolean {
  const candidates = new Set([idOrAltId]);
  try {
    candidates.add(decodeURIComponent(idOrAltId));
  } catch {
    // not encoded
  }
  return (
    candidates.has(record.$id) || (record['meta:altId'] !== undefined && candidates.has(record['meta:altId']))
  );
}

// ---------------------------------------------------------------------------------------------
// Create

const createBody = z.looseObject(
  {
    type: z.literal('object', { error: 'must be "object"' }),
    title: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty'),
    description: z.string({ error: 'must be a string' }),
    allOf: z
      .array(
        z.looseObject(
          { $ref: z.string({ error: 'must be a string' }).min(1, 'must not be empty') },
          { error: 'must be an object such as {"$ref": "https://ns.adobe.com/xdm/context/profile"}' },
        ),
        { error: 'must be an array of {"$ref": …}' },
      )
      .min(1, 'must reference one class'),
    definitions: z
      .record(z.string(), z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }), {
        error: 'must be an object of named field definitions',
      })
      .optional(),
    'meta:immutableTags': z.array(z.string(), { error: 'must be an array of strings' }).optional(),
  },
  { error: 'must be a JSON object' },
);

function zodDetail(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.') || '(body)';
      const missing = issue.code === 'invalid_type' && issue.input === undefined;
      return `${path} ${missing ? 'is required' : issue.message}`;
    })
    .join('; ');
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Custom fields must live under `_{tenantId}`; standard fields may be restated, nothing else added. */
function checkNamespace(
  fields: Record<string, JsonSchema>,
  standard: Record<string, JsonSchema> | undefined,
  tenantNs: string,
  path: string,
  where: string,
): void {
  for (const [key, schema] of Object.entries(fields)) {
    const fieldPath = path ? `${path}.${key}` : key;
    if (key === tenantNs) {
      checkTenantFields(schema, tenantNs, fieldPath, where);
      continue;
    }
    const known = standard?.[key];
    if (!known) {
      throw new XdmProblem(
        XDM_ERRORS.namespace,
        `A custom field is defined under an invalid namespace: ${fieldPath} (in ${where}). All custom fields must be defined under a top-level field named ${tenantNs}.`,
      );
    }
    if (isObject(schema.properties)) {
      checkNamespace(
        schema.properties as Record<string, JsonSchema>,
        isObject(known.properties) ? (known.properties as Record<string, JsonSchema>) : undefined,
        tenantNs,
        fieldPath,
        where,
      );
    }
  }
}

function checkTenantFields(schema: JsonSchema, tenantNs: string, path: string, where: string): void {
  if (!isObject(schema.properties)) return;
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (key.startsWith('_')) {
      throw new XdmProblem(
        XDM_ERRORS.namespace,
        `Field names may not start with an underscore: ${path}.${key} (in ${where}); only the namespace ${tenantNs} does.`,
      );
    }
    if (isObject(sub)) checkTenantFields(sub, tenantNs, `${path}.${key}`, where);
  }
}

/**
 * Validates a `POST /tenant/schemas` body (reference §13.1) and returns the record to store, which
 * is also the 201 body. The body needs `type: "object"`, `title`, `description` and an `allOf` of
 * exactly one class plus any field groups (`{"$ref": <$id>}`) and inline definitions
 * (`{"$ref": "#/definitions/<name>"}` with `definitions` in the body). Inline fields must live under
 * `_{tenantId}` unless they restate a field of the class or a field group.
 *
 * Throws `XdmProblem`: XDM-1000-400 (malformed body or not valid JSON Schema, naming the path),
 * XDM-1010-404 (a `$ref` that does not resolve), XDM-1021-400 (custom field outside the tenant
 * namespace), XDM-1413-400 (a field redefined with another type), XDM-1521-400 (title taken).
 */
export function createTenantSchema(body: unknown, ctx: CreateSchemaContext): XdmSchemaRecord {
  const parsed = createBody.safeParse(body, { reportInput: true });
  if (!parsed.success) throw invalidSchema(zodDetail(parsed.error));
  const input = parsed.data;
  const definitions = input.definitions as Record<string, JsonSchema> | undefined;

  // JSON Schema validity of the body itself (draft-07 meta-schema), with paths into the body.
  const ajv = xdmAjv();
  const { $schema: _ignored, ...asSchema } = body as JsonSchema;
  if (!ajv.validateSchema(asSchema)) {
    throw invalidSchema(describeErrors(ajv.errors, '(body)', true).join('; '));
  }
  const keywordProblems: string[] = [];
  for (const [name, definition] of Object.entries(definitions ?? {})) {
    checkKeywords(definition, `definitions.${name}`, keywordProblems);
  }
  if (keywordProblems.length > 0) throw invalidSchema(keywordProblems.join('; '));

  // Sort the allOf references into the class, field groups and inline definitions.
  const resolver = new Resolver(ctx.resolveRef);
  const classes: XdmResource[] = [];
  const fieldGroups: XdmResource[] = [];
  input.allOf.forEach((entry, i) => {
    const ref = entry.$ref;
    if (ref.startsWith('#')) {
      const name = ref.startsWith('#/definitions/') ? ref.slice('#/definitions/'.length) : undefined;
      if (name === undefined || !definitions || !isObject(definitions[name])) {
        throw invalidSchema(
          `allOf.${i}.$ref ${ref} does not name one of the body's definitions (#/definitions/<name>)`,
        );
      }
      return;
    }
    const resource = resolver.lookup(ref);
    if (!resource) {
      throw new XdmProblem(
        XDM_ERRORS.notFound,
        `The requested resource ${ref} (allOf.${i}) with version 1 is not found.`,
      );
    }
    const kind = resource['meta:resourceType'];
    if (kind === 'classes') classes.push(resource);
    else if (kind === 'mixins') fieldGroups.push(resource);
    else {
      throw invalidSchema(
        `allOf.${i} references ${ref}, a ${String(kind ?? 'resource')}; a schema is one class plus field groups`,
      );
    }
  });
  const [cls, ...extraClasses] = classes;
  if (!cls) {
    throw invalidSchema(
      'allOf has no class: add one, e.g. {"$ref": "https://ns.adobe.com/xdm/context/experienceevent"}',
    );
  }
  if (extraClasses.length > 0) {
    throw invalidSchema(
      `allOf has ${classes.length} classes (${classes.map((c) => c.$id).join(', ')}); a schema has exactly one`,
    );
  }
  const classFamily = new Set([cls.$id, ...(cls['meta:extends'] ?? [])]);
  for (const group of fieldGroups) {
    const intended = group['meta:intendedToExtend'];
    if (Array.isArray(intended) && intended.length > 0 && !intended.some((c) => classFamily.has(c))) {
      throw invalidSchema(
        `field group ${group.$id} extends ${intended.join(', ')}, not the class ${cls.$id}`,
      );
    }
  }

  // Inline fields: under the tenant namespace, or restating standard fields.
  const tenantNs = `_${ctx.tenantId}`;
  let standard: Record<string, JsonSchema> = {};
  for (const part of [cls, ...fieldGroups]) {
    standard = mergeProperties(standard, resolver.flatten(part as JsonSchema, part).properties, '');
  }
  const bodyOwner: XdmResource = { $id: '', definitions: definitions ?? {} };
  for (const [name, definition] of Object.entries(definitions ?? {})) {
    const fields = resolver.flatten(definition, bodyOwner).properties;
    checkNamespace(fields, standard, tenantNs, '', `definitions.${name}`);
  }

  const hash = ctx.newHash();
  const refs = unique([cls.$id, ...fieldGroups.map((g) => g.$id)]);
  const classProperties = (cls.properties ?? {}) as Record<string, JsonSchema>;
  const required = (Array.isArray(cls.required) ? cls.required : []).map((field) => {
    const xdmField = classProperties[field]?.['meta:xdmField'];
    return typeof xdmField === 'string' ? xdmField : field;
  });
  const record: XdmSchemaRecord = {
    $id: `https://ns.adobe.com/${ctx.tenantId}/schemas/${hash}`,
    'meta:altId': `${tenantNs}.schemas.${hash}`,
    'meta:resourceType': 'schemas',
    version: '1.0',
    title: input.title,
    type: 'object',
    description: input.description,
    ...(definitions ? { definitions } : {}),
    allOf: input.allOf.map((entry) => ({ $ref: entry.$ref, type: 'object', 'meta:xdmType': 'object' })),
    refs,
    imsOrg: ctx.orgId,
    'meta:extensible': false,
    'meta:abstract': false,
    'meta:extends': unique([
      ...(cls['meta:extends'] ?? []),
      cls.$id,
      ...fieldGroups.flatMap((g) => [...(g['meta:extends'] ?? []), g.$id]),
    ]),
    'meta:xdmType': 'object',
    'meta:registryMetadata': {},
    'meta:class': cls.$id,
    'meta:containerId': 'tenant',
    'meta:sandboxId': ctx.sandboxId,
    ...(ctx.sandboxType ? { 'meta:sandboxType': ctx.sandboxType } : {}),
    'meta:tenantNamespace': tenantNs,
    ...(input['meta:immutableTags'] ? { 'meta:immutableTags': input['meta:immutableTags'] } : {}),
    ...(required.length > 0 ? { required } : {}),
  };

  // The resolved view must merge and compile: this is what records are validated against.
  const full = resolveSchemaFull(record, ctx.resolveRef);
  try {
    compileXdmSchema(full);
  } catch (error) {
    throw new XdmProblem(XDM_ERRORS.invalidSchema, (error as Error).message, { cause: error });
  }

  if (ctx.titleTaken(input.title)) {
    throw new XdmProblem(
      XDM_ERRORS.titleNotUnique,
      `Object titles must be unique. An object already exists with the title "${input.title}"`,
    );
  }

  const { 'meta:registryMetadata': _empty, ...content } = record;
  record['meta:registryMetadata'] = {
    'repo:createdDate': ctx.now,
    'repo:lastModifiedDate': ctx.now,
    'xdm:createdClientId': ctx.clientId,
    'xdm:lastModifiedClientId': ctx.clientId,
    ...(ctx.userId ? { 'xdm:createdUserId': ctx.userId, 'xdm:lastModifiedUserId': ctx.userId } : {}),
    eTag: createHash('sha256').update(JSON.stringify(content)).digest('hex'),
  };
  return record;
}

export type { JsonSchema, XdmClass, XdmResource };
