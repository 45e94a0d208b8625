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

/**
 * A value as its column stores it (bigint for INT64, nested objects for groups, the value itself
 * for JSON columns: the writer serialises it). Throws `ShapeMismatch` when it does not fit, or
 * when an object carries a field the schema does not declare: the record then fails with that
 * path instead of losing the field.
 */
export function columnValue(node: ColumnNode, value: unknown, path: string): unknown {
  if (value === null || value === undefined) return null;
  switch (node.kind) {
    case 'string':
      if (typeof value !== 'string') throw new ShapeMismatch(path, `must be a string, got ${typeof value}`);
      return value;
    case 'int64':
      if (typeof value === 'bigint') return value;
      if (typeof value !== 'number' || !Number.isInteger(value))
        throw new ShapeMismatch(path, `must be a whole number, got ${JSON.stringify(value)}`);
      return BigInt(value);
    case 'double':
      if (typeof value !== 'number') throw new ShapeMismatch(path, `must be a number, got ${typeof value}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw new ShapeMismatch(path, `must be a boolean, got ${typeof value}`);
      return value;
    case 'json':
      return value;
    case 'group': {
      if (!isPlainObject(value)) throw new ShapeMismatch(path, 'must be an object');
      const out: Record<string, unknown> = {};
      const declared = new Set<string>();
      for (const child of node.children ?? []) {
        declared.add(child.name);
        out[child.name] = columnValue(child, value[child.name], `${path}.${child.name}`);
      }
      for (const key of Object.keys(value)) {
        if (!declared.has(key))
          throw new ShapeMismatch(`${path}.${key}`, "is not a field of the dataset's schema");
      }
      return out;
    }
  }
}

/** A record's row: one value per top-level column (see `columnValue`). */
export function rowOf(columns: readonly ColumnNode[], record: Record<string, unknown>): unknown[] {
  const declared = new Set(columns.map((c) => c.name));
  for (const key of Object.keys(record)) {
    if (!declared.has(key)) throw new ShapeMismatch(key, "is not a field of the dataset's schema");
  }
  return columns.map((c) => columnValue(c, record[c.name], c.name));
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
