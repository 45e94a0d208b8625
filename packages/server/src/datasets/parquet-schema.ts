import type { SchemaElement } from 'hyparquet';
import type { JsonSchema } from '../xdm/schema-registry.js';

/**
 * How a dataset's XDM schema becomes Parquet columns (decision 0012):
 * - a top-level field is a column; an XDM object with declared `properties` is a Parquet group
 *   (a STRUCT to DuckDB, Spark and Arrow), recursively;
 * - `string` → UTF8, `integer` → INT64, `number` → DOUBLE, `boolean` → BOOLEAN. Date and
 *   date-time fields stay the ISO strings the record carried, so what is read back equals what
 *   was landed (no time zone is lost);
 * - arrays, maps (objects without declared properties) and anything else are JSON columns
 *   (`BYTE_ARRAY` + `JSON`): readers see the JSON text.
 * Every column is OPTIONAL: XDM fields are optional unless `required`, and ajv has checked those.
 */
export type ColumnKind = 'string' | 'int64' | 'double' | 'boolean' | 'json' | 'group';

export interface ColumnNode {
  name: string;
  kind: ColumnKind;
  /** For groups: the declared fields, in schema order. */
  children?: ColumnNode[];
}

/** A record does not fit the dataset's columns: the path and why. */
export class ShapeMismatch extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path} ${reason}`);
  }
}

function nodeOf(name: string, schema: unknown): ColumnNode {
  const s = (schema ?? {}) as JsonSchema;
  const type = Array.isArray(s.type) ? undefined : s.type;
  if (type === 'string') return { name, kind: 'string' };
  if (type === 'integer') return { name, kind: 'int64' };
  if (type === 'number') return { name, kind: 'double' };
  if (type === 'boolean') return { name, kind: 'boolean' };
  const properties = s.properties as Record<string, unknown> | undefined;
  if ((type === 'object' || type === undefined) && properties && Object.keys(properties).length > 0) {
    return {
      name,
      kind: 'group',
      children: Object.entries(properties).map(([k, v]) => nodeOf(k, v)),
    };
  }
  return { name, kind: 'json' };
}

/** The columns of a dataset whose records follow `fullSchema` (a `xed-full` view). */
export function columnsOf(fullSchema: JsonSchema | undefined): ColumnNode[] {
  const properties = (fullSchema?.properties ?? {}) as Record<string, unknown>;
  return Object.entries(properties).map(([k, v]) => nodeOf(k, v));
}

/** The Parquet schema (flattened, depth-first, as the file footer holds it) of `columns`. */
export function parquetSchemaOf(columns: readonly ColumnNode[]): SchemaElement[] {
  const out: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  const visit = (node: ColumnNode) => {
    switch (node.kind) {
      case 'group':
        out.push({ name: node.name, repetition_type: 'OPTIONAL', num_children: node.children?.length ?? 0 });
        for (const child of node.children ?? []) visit(child);
        return;
      case 'string':
        out.push({
          name: node.name,
          type: 'BYTE_ARRAY',
          converted_type: 'UTF8',
          repetition_type: 'OPTIONAL',
        });
        return;
      case 'int64':
        out.push({ name: node.name, type: 'INT64', repetition_type: 'OPTIONAL' });
        return;
      case 'double':
        out.push({ name: node.name, type: 'DOUBLE', repetition_type: 'OPTIONAL' });
        return;
      case 'boolean':
        out.push({ name: node.name, type: 'BOOLEAN', repetition_type: 'OPTIONAL' });
        return;
      case 'json':
        out.push({
          name: node.name,
          type: 'BYTE_ARRAY',
          converted_type: 'JSON',
          repetition_type: 'OPTIONAL',
        });
        return;
    }
  };
  for (const c of columns) visit(c);
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object literal (or `Object.create(null)`): what JSON parsing and the mapping produce. A Date, Map or class instance is not one. */
const isRecord = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/** What a value is, for a reason: `a string`, `NaN`, `an array`, `a Date`, `a bigint`. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `a bigint (${value})`;
  if (typeof value === 'object') {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor
      ?.name;
    return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** 2^63 as a double: the smallest number above INT64 (INT64_MAX itself is not a double). */
const TWO_63 = 2 ** 63;
const INT64_RANGE = `${INT64_MIN} to ${INT64_MAX}`;
/** JSON values nest at most this deep in a JSON column (deeper is almost surely a cycle, and would overflow the stack). */
export const MAX_JSON_DEPTH = 1000;

/** `String.prototype.isWellFormed` (Node 20+; ES2024, newer than the compiler's lib). */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * A JSON column's value as plain JSON, copied so the Parquet writer serialises exactly what was
 * checked (getters run once). What JSON cannot hold fails instead of changing on the way
 * (`JSON.stringify` turns NaN into null, drops functions and throws on bigints and cycles): -0 is
 * 0 (JSON has one zero), a valid Date is its ISO string (what `JSON.stringify` writes), `undefined`
 * in an object is an absent field and in an array a null (JSON's own rules).
 */
function jsonCopy(value: unknown, path: string, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'undefined':
      return null;
    case 'number':
      if (!Number.isFinite(value))
        throw new ShapeMismatch(path, `must be a finite number, got ${value} (JSON has no ${value})`);
      return value === 0 ? 0 : value;
    case 'bigint':
      if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER))
        return Number(value);
      throw new ShapeMismatch(
        path,
        `is the bigint ${value}, which a JSON number cannot hold exactly (beyond ±2^53): land it as a string`,
      );
    case 'object': {
      if (value === null) return null;
      if (depth > MAX_JSON_DEPTH)
        throw new ShapeMismatch(path, `is nested deeper than ${MAX_JSON_DEPTH} levels (or refers to itself)`);
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) out[i] = jsonCopy(value[i], `${path}[${i}]`, depth + 1);
        return out;
      }
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new ShapeMismatch(path, 'is an invalid Date');
        return value.toISOString();
      }
      if (!isRecord(value)) throw new ShapeMismatch(path, `is ${describe(value)}, not a JSON value`);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const v = value[key];
        if (v !== undefined) out[key] = jsonCopy(v, `${path}.${key}`, depth + 1);
      }
      return out;
    }
    default:
      throw new ShapeMismatch(path, `is ${describe(value)}, not a JSON value`);
  }
}

/**
 * A value as its column stores it: a well-formed string for UTF8, a bigint within INT64 for
 * INT64, a finite number for DOUBLE, a boolean, a plain JSON copy for JSON columns, nested
 * objects for groups. Each is exactly what the Parquet writer encodes without failing or changing
 * it, so a value either converts or throws `ShapeMismatch` (path and reason) and only its record
 * fails. An object carrying a field the schema does not declare fails too, instead of losing the
 * field.
 */
export function columnValue(node: ColumnNode, value: unknown, path: string): unknown {
  if (value === null || value === undefined) return null;
  switch (node.kind) {
    case 'string':
      if (typeof value !== 'string')
        throw new ShapeMismatch(path, `must be a string, got ${describe(value)}`);
      // UTF-8 cannot encode a lone surrogate: the writer would store U+FFFD instead.
      if (!isWellFormed(value))
        throw new ShapeMismatch(path, 'is not valid Unicode text (it holds a lone UTF-16 surrogate)');
      return value;
    case 'int64':
      if (typeof value === 'bigint') {
        if (value < INT64_MIN || value > INT64_MAX)
          throw new ShapeMismatch(path, `is out of the 64-bit integer range (${INT64_RANGE}), got ${value}`);
        return value;
      }
      if (typeof value !== 'number' || !Number.isInteger(value))
        throw new ShapeMismatch(path, `must be a whole number, got ${describe(value)}`);
      if (value < -TWO_63 || value >= TWO_63)
        throw new ShapeMismatch(path, `is out of the 64-bit integer range (${INT64_RANGE}), got ${value}`);
      return BigInt(value);
    case 'double':
      if (typeof value !== 'number')
        throw new ShapeMismatch(path, `must be a number, got ${describe(value)}`);
      if (!Number.isFinite(value)) throw new ShapeMismatch(path, `must be a finite number, got ${value}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean')
        throw new ShapeMismatch(path, `must be a boolean, got ${describe(value)}`);
      return value;
    case 'json':
      return jsonCopy(value, path, 1);
    case 'group': {
      if (!isRecord(value)) throw new ShapeMismatch(path, `must be an object, got ${describe(value)}`);
      const out: Record<string, unknown> = {};
      const declared = new Set<string>();
      for (const child of node.children ?? []) {
        declared.add(child.name);
        out[child.name] = columnValue(child, value[child.name], `${path}.${child.name}`);
      }
      for (const key of Object.keys(value)) {
        if (!declared.has(key) && value[key] !== undefined)
          throw new ShapeMismatch(`${path}.${key}`, "is not a field of the dataset's schema");
      }
      return out;
    }
  }
}

/**
 * A record's row: one value per top-level column (see `columnValue`). Anything that goes wrong
 * converting a record (a getter that throws, a stack overflow) is that record's `ShapeMismatch`:
 * one record never fails its batch.
 */
export function rowOf(columns: readonly ColumnNode[], record: unknown): unknown[] {
  if (!isRecord(record)) throw new ShapeMismatch('(record)', `must be an object, got ${describe(record)}`);
  let path = '(record)';
  try {
    const declared = new Set(columns.map((c) => c.name));
    for (const key of Object.keys(record)) {
      if (!declared.has(key) && record[key] !== undefined)
        throw new ShapeMismatch(key, "is not a field of the dataset's schema");
    }
    return columns.map((c) => {
      path = c.name;
      return columnValue(c, record[c.name], c.name);
    });
  } catch (error) {
    if (error instanceof ShapeMismatch) throw error;
    throw new ShapeMismatch(
      path,
      `cannot be converted (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** A value read back from Parquet (by hyparquet, which parses JSON columns) as JSON: bigints become numbers, null fields are left out. */
export function jsonValue(node: ColumnNode | undefined, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map((v) => jsonValue(undefined, v));
  if (isPlainObject(value)) {
    const children = node?.kind === 'group' ? node.children : undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const child = children?.find((c) => c.name === k);
      const json = jsonValue(child, v);
      if (json !== null || !children) out[k] = json;
    }
    return out;
  }
  return value;
}
