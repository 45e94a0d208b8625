import type { ErrorObject, ValidateFunction } from 'ajv';
import { findSchema } from '../routes/schema-lookup.js';
import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';
import { compileXdmSchema, resolveSchemaFull, schemaIdMatches } from '../xdm/schema-registry.js';
import type { XdmResource } from '../xdm/xdm-classes.js';
import { CACHE_MS } from './inlets.js';

/** The streaming service's problem `type` (reference §6.3). */
export const INLET_PROBLEM_TYPE = 'http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet';
/** Validation stops after this many violations per message, as the real service's does. */
export const MAX_VIOLATIONS = 5;

/** One Everit-style violation, the shape of `report.cause._streamingValidation[].causingExceptions`. */
export interface Violation {
  schemaLocation: string;
  pointerToViolation: string;
  causingExceptions: Violation[];
  keyword: string;
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The prefix of every message about a message: which inlet and org it came to (reference §6.3). */
export function messagePrefix(inletId: string, orgId: string): string {
  return `inletId: [${inletId}] imsOrgId: [${orgId}]`;
}

/** Why an XDM envelope is refused before it is logged, or undefined when its shape is sound. */
export function envelopeProblem(message: unknown, orgId: string): string | undefined {
  if (!isObject(message) || !isObject(message.header) || !isObject(message.body)) {
    return 'Message has unknown xdm format';
  }
  const header = message.header;
  if (header.imsOrgId !== undefined && header.imsOrgId !== orgId) {
    return 'Message has an absent or wrong ims org in the header';
  }
  const schemaRef = header.schemaRef;
  if (!isObject(schemaRef) || typeof schemaRef.id !== 'string' || schemaRef.id === '') {
    return 'Message has unknown xdm format: header.schemaRef.id is required';
  }
  const body = message.body;
  if (!isObject(body.xdmEntity)) return 'Message has unknown xdm format: body.xdmEntity is required';
  const metaRef = isObject(body.xdmMeta) ? body.xdmMeta.schemaRef : undefined;
  if (body.xdmMeta !== undefined && !(isObject(metaRef) && metaRef.id === schemaRef.id)) {
    return 'Message has an xdmMeta.schemaRef that does not match header.schemaRef';
  }
  if (header.datasetId !== undefined && (typeof header.datasetId !== 'string' || header.datasetId === '')) {
    return 'Message has an invalid header.datasetId';
  }
  if (header.flowId !== undefined && (typeof header.flowId !== 'string' || header.flowId === '')) {
    return 'Message has an invalid header.flowId';
  }
  return undefined;
}

/** Whether the dataset's schema is the one the envelope names. */
export function datasetMatchesSchema(dataset: Doc, schemaId: string): boolean {
  const ref = (dataset.schemaRef as { id?: string } | undefined)?.id;
  if (!ref) return false;
  return schemaIdMatches(schemaId, { $id: ref, 'meta:altId': undefined } as Pick<
    XdmResource,
    '$id' | 'meta:altId'
  >);
}

const TYPE_NAMES: Record<string, string> = {
  string: 'String',
  integer: 'Integer',
  number: 'Number',
  boolean: 'Boolean',
  object: 'JSONObject',
  array: 'JSONArray',
  null: 'Null',
};

function everitType(value: unknown): string {
  if (value === null) return 'Null';
  if (Array.isArray(value)) return 'JSONArray';
  if (typeof value === 'number') return Number.isInteger(value) ? 'Long' : 'Double';
  if (typeof value === 'string') return 'String';
  if (typeof value === 'boolean') return 'Boolean';
  return 'JSONObject';
}

function valueAt(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  let node = root;
  for (const part of pointer.slice(1).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

/** An ajv error as the real service's (Everit) report words it. */
function violation(error: ErrorObject, record: unknown): Violation {
  const params = error.params as Record<string, unknown>;
  const value = valueAt(record, error.instancePath);
  const location = `#${error.schemaPath.replace(/^#/, '').replace(/\/[^/]+$/, '')}`;
  let message: string;
  switch (error.keyword) {
    case 'additionalProperties':
      message = `extraneous key [${String(params.additionalProperty)}] is not permitted`;
      break;
    case 'required':
      message = `required key [${String(params.missingProperty)}] not found`;
      break;
    case 'type': {
      const expected = String(params.type)
        .split(',')
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(' or ');
      message = `expected type: ${expected}, found: ${everitType(value)}`;
      break;
    }
    case 'enum':
      message = `${JSON.stringify(value)} is not a valid enum value`;
      break;
    case 'pattern':
      message = `string [${String(value)}] does not match pattern ${String(params.pattern)}`;
      break;
    case 'format':
      message = `[${String(value)}] is not a valid ${String(params.format)}`;
      break;
    case 'minimum':
      message = `${String(value)} is not greater or equal to ${String(params.limit)}`;
      break;
    case 'maximum':
      message = `${String(value)} is not less or equal to ${String(params.limit)}`;
      break;
    case 'minLength':
      message = `expected minLength: ${String(params.limit)}, actual: ${String(value).length}`;
      break;
    case 'maxLength':
      message = `expected maxLength: ${String(params.limit)}, actual: ${String(value).length}`;
      break;
    default:
      message = error.message ?? 'is invalid';
  }
  return {
    schemaLocation: location,
    pointerToViolation: `#${error.instancePath}`,
    causingExceptions: [],
    keyword: error.keyword,
    message,
  };
}

/** `report.cause` of a sync validation 400: up to five violations, as the real service reports them. */
export function streamingValidationCause(violations: Violation[]): Record<string, unknown> {
  const shown = violations.slice(0, MAX_VIOLATIONS);
  return {
    _streamingValidation: [
      {
        schemaLocation: '#',
        pointerToViolation: '#',
        causingExceptions: shown,
        message:
          shown.length === 1 ? (shown[0] as Violation).message : `${shown.length} schema violations found`,
      },
    ],
  };
}

/** The dataset schemas sync validation checks against: compiled once per schema, kept for `CACHE_MS`. */
export class SyncValidators {
  private readonly cache = new Map<string, { validate: ValidateFunction | undefined; expires: number }>();

  constructor(private readonly services: Services) {}

  /** The violations of `record` against the dataset's schema (empty when valid or the schema is gone). */
  async check(scope: Scope, dataset: Doc, record: unknown): Promise<Violation[]> {
    const schemaId = (dataset.schemaRef as { id?: string } | undefined)?.id;
    if (!schemaId) return [];
    const key = `${scope.orgId}\0${scope.sandbox}\0${schemaId}`;
    let hit = this.cache.get(key);
    if (!hit || hit.expires <= Date.now()) {
      const doc = await findSchema(this.services, scope, schemaId);
      let validate: ValidateFunction | undefined;
      if (doc) {
        const { id: _id, ...record } = doc;
        validate = compileXdmSchema(resolveSchemaFull(record as unknown as XdmResource, () => undefined));
      }
      hit = { validate, expires: Date.now() + CACHE_MS };
      if (this.cache.size > 1000) this.cache.clear();
      this.cache.set(key, hit);
    }
    if (!hit.validate || hit.validate(record)) return [];
    const seen = new Set<string>();
    const out: Violation[] = [];
    for (const error of hit.validate.errors ?? []) {
      const v = violation(error, record);
      const id = `${v.pointerToViolation}|${v.keyword}|${v.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(v);
    }
    return out;
  }
}
