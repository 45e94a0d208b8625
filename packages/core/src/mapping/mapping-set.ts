import { z } from 'zod';
import { InflowValidationError, type ValidationIssue } from '../errors/inflow-error.js';
import { zodIssues } from '../spec/define-source-connector.js';
import {
  type Expr,
  type FieldSegment,
  MappingExpressionError,
  type PathSegment,
  parseExpression,
} from './expression.js';

/**
 * How a mapping's `source` is read (reference §7): a path into the input record, a literal value,
 * or a calculated expression. The stored spellings `text/x.schema-path` and `text/x.aep-xl` are
 * accepted on input as ATTRIBUTE and EXPRESSION.
 */
export type MappingSourceType = 'ATTRIBUTE' | 'STATIC' | 'EXPRESSION';

/** The content type a legacy body's `xdmSchema` is given, and the default when `schemaRef` has none. */
export const DEFAULT_SCHEMA_CONTENT_TYPE = 'application/vnd.adobe.xed-full+json;version=1';

/** One mapping in the one shape both request dialects normalise to. */
export interface NormalizedMapping {
  sourceType: MappingSourceType;
  /** The path, literal or expression text, exactly as sent. */
  source: string;
  /** The XDM path written to, e.g. `_tenant.field`, `pi[*].names`. */
  destination: string;
  /** Same as `source`: the service stores both spellings. */
  sourceAttribute: string;
  /** Same as `destination`: the service stores both spellings. */
  destinationXdmPath: string;
  name?: string;
  description?: string;
  /** Whether the destination is an identity field (legacy dialect); `false` when not sent. */
  identity: boolean;
  /** Legacy identity namespace code (e.g. `Email`), when sent and not null. */
  namespaceCode?: string;
  /** Legacy identity group, when sent and not null. */
  identityGroup?: string;
  /**
   * The parsed source: a `path` node for ATTRIBUTE, any node for EXPRESSION, absent for STATIC
   * (whose source is the value itself).
   */
  expression?: Expr;
}

/** A mapping set body after validation, whichever dialect it was written in. */
export interface NormalizedMappingSet {
  outputSchema: { schemaRef: { id: string; contentType: string } };
  mappings: NormalizedMapping[];
}

const SOURCE_TYPES: Record<string, MappingSourceType> = {
  ATTRIBUTE: 'ATTRIBUTE',
  STATIC: 'STATIC',
  EXPRESSION: 'EXPRESSION',
  'text/x.schema-path': 'ATTRIBUTE',
  'text/x.aep-xl': 'EXPRESSION',
};

const optionalText = z.string({ error: 'must be a string' }).nullish();

const mappingSchema = z.object(
  {
    sourceType: z
      .enum(Object.keys(SOURCE_TYPES) as [string, ...string[]], {
        error: 'must be ATTRIBUTE, STATIC or EXPRESSION',
      })
      .optional(),
    source: optionalText,
    sourceAttribute: optionalText,
    destination: optionalText,
    destinationXdmPath: optionalText,
    name: optionalText,
    description: optionalText,
    identity: z.boolean({ error: 'must be true or false' }).nullish(),
    identityGroup: optionalText,
    namespaceCode: optionalText,
  },
  { error: 'must be an object' },
);

const bodySchema = z.object(
  {
    outputSchema: z
      .object(
        {
          schemaRef: z.object(
            {
              id: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
              contentType: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
            },
            { error: 'is required' },
          ),
        },
        { error: 'must be an object' },
      )
      .optional(),
    xdmSchema: z.string({ error: 'must be a string' }).min(1, 'must not be empty').nullish(),
    xdmVersion: optionalText,
    mappings: z
      .array(mappingSchema, { error: 'must be an array of mappings' })
      .min(1, 'must have at least one mapping'),
  },
  { error: 'must be a JSON object' },
);

const XDM_NAME = /[\p{L}_][\p{L}\p{N}_]*/uy;

/**
 * Parses an XDM destination path: dotted field names (letters, digits, `_`; not starting with a
 * digit), each optionally followed by `[n]` or `[*]`, e.g. `_tenant.field`, `pi[*].names`,
 * `identityMap.Email[0].id`. Throws `MappingExpressionError` at the first problem.
 */
export function parseXdmPath(path: string): [FieldSegment, ...PathSegment[]] {
  const segments: PathSegment[] = [];
  const fail = (pos: number, hint: string): never => {
    const found = pos >= path.length ? 'end of path' : JSON.stringify(path[pos]);
    throw new MappingExpressionError(path, pos, `unexpected ${found}`, hint);
  };
  let i = 0;
  for (;;) {
    XDM_NAME.lastIndex = i;
    const match = XDM_NAME.exec(path);
    if (!match) fail(i, 'expected a field name (letters, digits and _)');
    const name = (match as RegExpExecArray)[0];
    segments.push({ kind: 'field', name, start: i, end: i + name.length });
    i += name.length;
    while (path[i] === '[') {
      const close = path.indexOf(']', i);
      const inner = close < 0 ? '' : path.slice(i + 1, close);
      if (inner === '*') {
        segments.push({ kind: 'wildcard', start: i, end: close + 1 });
      } else if (/^[0-9]+$/.test(inner) && Number.isSafeInteger(Number(inner))) {
        segments.push({ kind: 'index', index: Number(inner), start: i, end: close + 1 });
      } else {
        fail(i + 1, 'expected an array index (a whole number) or * and then "]"');
      }
      i = close + 1;
    }
    if (i === path.length) return segments as [FieldSegment, ...PathSegment[]];
    if (path[i] !== '.') fail(i, 'expected "." or "[" or the end of the path');
    i++;
  }
}

/** `mappings.2.source` → `mappings[2].source`, as people write it. */
function displayPath(path: string): string {
  return path === '' ? '(body)' : path.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

function fail(issues: ValidationIssue[]): never {
  const summary = issues.map((i) => `${displayPath(i.path)}: ${i.message}`).join('; ');
  throw new InflowValidationError(`Invalid mapping set: ${summary}`, issues);
}

/** Two spellings of one field: the one sent, or both if they agree; an issue if they differ. */
function pick(
  mapping: Record<string, unknown>,
  current: 'source' | 'destination',
  legacy: 'sourceAttribute' | 'destinationXdmPath',
  prefix: string,
  issues: ValidationIssue[],
): { value: string; key: string } | undefined {
  const a = mapping[current];
  const b = mapping[legacy];
  if (typeof a === 'string' && typeof b === 'string' && a !== b) {
    issues.push({ path: `${prefix}.${legacy}`, message: `differs from ${current}; send one of them` });
    return undefined;
  }
  if (typeof a === 'string') return { value: a, key: current };
  if (typeof b === 'string') return { value: b, key: legacy };
  issues.push({ path: `${prefix}.${current}`, message: `is required (${current} or ${legacy})` });
  return undefined;
}

/**
 * Validates a Data Prep mapping set body in either dialect (reference §7) and returns it in one
 * shape. Current: `{outputSchema: {schemaRef: {id, contentType}}, mappings: [{sourceType, source,
 * destination, name?, description?}]}`. Legacy: `{xdmSchema, xdmVersion, version, id: null,
 * mappings: [{sourceAttribute, destinationXdmPath, identity, identityGroup, namespaceCode,
 * version}]}`. Mixes of the two (Customer.io sends `outputSchema` with legacy mappings) are fine.
 *
 * Every problem is reported at once in an `InflowValidationError` whose issue paths read
 * `mappings.2.source`; parse errors carry their line and column.
 */
export function normalizeMappingSet(body: unknown): NormalizedMappingSet {
  // reportInput lets zodIssues tell a missing field ("is required") from a wrong one.
  const parsed = bodySchema.safeParse(body, { reportInput: true });
  if (!parsed.success) fail(zodIssues(parsed.error, ''));
  const input = parsed.data;
  const issues: ValidationIssue[] = [];

  const schemaRef = input.outputSchema?.schemaRef;
  const schemaId = schemaRef?.id ?? input.xdmSchema ?? undefined;
  if (schemaId === undefined) {
    issues.push({
      path: 'outputSchema.schemaRef.id',
      message: 'is required (or xdmSchema in the legacy form)',
    });
  } else if (schemaRef && input.xdmSchema && input.xdmSchema !== schemaRef.id) {
    issues.push({ path: 'xdmSchema', message: 'differs from outputSchema.schemaRef.id; send one of them' });
  }
  const major = /^(\d+)/.exec(input.xdmVersion ?? '')?.[1] ?? '1';
  const contentType =
    schemaRef?.contentType ??
    (schemaRef ? DEFAULT_SCHEMA_CONTENT_TYPE : `application/vnd.adobe.xed-full+json;version=${major}`);

  const mappings: NormalizedMapping[] = [];
  const destinations = new Map<string, number>();
  input.mappings.forEach((raw, index) => {
    const prefix = `mappings.${index}`;
    const before = issues.length;
    const source = pick(raw, 'source', 'sourceAttribute', prefix, issues);
    const destination = pick(raw, 'destination', 'destinationXdmPath', prefix, issues);
    const sourceType = SOURCE_TYPES[raw.sourceType ?? 'ATTRIBUTE'] as MappingSourceType;

    let expression: Expr | undefined;
    if (source && sourceType !== 'STATIC') {
      const path = `${prefix}.${source.key}`;
      try {
        expression = parseExpression(source.value);
        if (sourceType === 'ATTRIBUTE' && expression.kind !== 'path') {
          const where = new MappingExpressionError(source.value, expression.start, 'not a field path');
          issues.push({
            path,
            message: `${where.message}: an ATTRIBUTE source is a path such as a.b[0].c or \${First Name}; use sourceType EXPRESSION for a calculated value`,
          });
        }
      } catch (error) {
        if (!MappingExpressionError.isInstance(error)) throw error;
        issues.push({ path, message: error.message });
      }
    }

    if (destination) {
      const path = `${prefix}.${destination.key}`;
      try {
        parseXdmPath(destination.value);
        const first = destinations.get(destination.value);
        if (first === undefined) {
          destinations.set(destination.value, index);
        } else {
          issues.push({
            path,
            message: `duplicate destination "${destination.value}": mappings[${first}] already maps it`,
          });
        }
      } catch (error) {
        if (!MappingExpressionError.isInstance(error)) throw error;
        issues.push({ path, message: error.message });
      }
    }

    if (issues.length > before || !source || !destination) return;
    const mapping: NormalizedMapping = {
      sourceType,
      source: source.value,
      destination: destination.value,
      sourceAttribute: source.value,
      destinationXdmPath: destination.value,
      identity: raw.identity ?? false,
    };
    if (raw.name != null) mapping.name = raw.name;
    if (raw.description != null) mapping.description = raw.description;
    if (raw.namespaceCode != null) mapping.namespaceCode = raw.namespaceCode;
    if (raw.identityGroup != null) mapping.identityGroup = raw.identityGroup;
    if (expression) mapping.expression = expression;
    mappings.push(mapping);
  });

  if (issues.length > 0 || schemaId === undefined) fail(issues);
  const normalized: NormalizedMappingSet = {
    outputSchema: { schemaRef: { id: schemaId, contentType } },
    mappings,
  };
  NORMALIZED.add(normalized);
  return normalized;
}

/**
 * The sets `normalizeMappingSet` returned. The compiler uses the parsed expressions of these only
 * (and checks each again, as the set may have been edited since); any other object, even one of
 * the same shape, is normalised again from its text.
 */
const NORMALIZED = new WeakSet<object>();

/** Whether `value` is an object `normalizeMappingSet` returned. */
export function isNormalizedMappingSet(value: unknown): value is NormalizedMappingSet {
  return typeof value === 'object' && value !== null && NORMALIZED.has(value);
}
