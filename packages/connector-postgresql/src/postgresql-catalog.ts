import type { ExploreColumn, ExploreItem } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import pg from 'pg';
import {
  type Converter,
  converterFor,
  type PgResolvedType,
  type PgTypeRow,
  resolvePgType,
  xdmTypeOf,
} from './postgresql-types.js';

/** A table, view, materialized view or foreign table, as the catalog names it. */
export interface TableRef {
  schema: string;
  name: string;
  oid: number;
}

/** A column of a table, with how its values are decoded. */
export interface ColumnInfo {
  name: string;
  /** `format_type()`: `integer`, `numeric(12,2)`, `timestamp with time zone`, `text[]`, … */
  type: string;
  resolved: PgResolvedType;
  convert: Converter;
}

/** The relation kinds a source can read: tables, partitioned tables, views, materialized views, foreign tables. */
const READABLE_KINDS = "('r','p','v','m','f')";

/** `"schema"."table"` for SQL text, each part escaped. */
export function qualifiedName(table: Pick<TableRef, 'schema' | 'name'>): string {
  return `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.name)}`;
}

/** `schema.table`: how `explore` paths and messages name a table. */
export function pathOf(table: Pick<TableRef, 'schema' | 'name'>): string {
  return `${table.schema}.${table.name}`;
}

const QUOTED_PART = '"((?:[^"]|"")+)"';
const QUOTED = new RegExp(`^(?:${QUOTED_PART}\\.)?${QUOTED_PART}$`);

/**
 * The (schema, table) pairs a name could mean. `explore` paths are `schema.table` with the
 * catalog's names as they are (so `public.Order Items` and `sales.q1.2024` work: every dot is a
 * candidate split); a bare name means a table on the search path; SQL's quoted form
 * `"Schema"."Table"` is read too. Nothing here is ever put into SQL text: the candidates are
 * query parameters.
 */
export function nameCandidates(text: string): { pairs: [string, string][]; bare: string | undefined } {
  const quoted = QUOTED.exec(text);
  if (quoted) {
    const unquote = (part: string) => part.replaceAll('""', '"');
    const table = unquote(quoted[2] as string);
    return quoted[1] === undefined
      ? { pairs: [], bare: table }
      : { pairs: [[unquote(quoted[1]), table]], bare: undefined };
  }
  const pairs: [string, string][] = [];
  for (let i = text.indexOf('.'); i !== -1; i = text.indexOf('.', i + 1)) {
    pairs.push([text.slice(0, i), text.slice(i + 1)]);
  }
  return { pairs, bare: text };
}

/**
 * Finds the relation `text` names (see `nameCandidates`). Throws `InflowValidationError` at
 * `field` when there is none the user can see, or when the name is ambiguous.
 */
export async function resolveTable(client: pg.Client, text: string, field: string): Promise<TableRef> {
  const { pairs, bare } = nameCandidates(text);
  const result = await client.query<{ oid: number; schema: string; name: string }>(
    `SELECT c.oid, n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ${READABLE_KINDS}
        AND ((n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
             OR (c.relname = $3 AND pg_catalog.pg_table_is_visible(c.oid)))`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1]), bare ?? null],
  );
  if (result.rows.length === 1) return result.rows[0] as TableRef;
  if (result.rows.length === 0) {
    throw new InflowValidationError(
      `${field}: table "${text}" does not exist or user cannot see it: explore objectType=root lists the tables (as schema.table)`,
      [{ path: field, message: `table "${text}" does not exist` }],
    );
  }
  const found = result.rows.map((r) => `"${r.schema}"."${r.name}"`).join(', ');
  throw new InflowValidationError(`${field}: "${text}" could mean ${found}: name it as "schema"."table"`, [
    { path: field, message: `is ambiguous: ${found}` },
  ]);
}

/** The `pg_type` rows of `oids` and of every type they are built on (domain bases, array elements). */
async function typeRows(client: pg.Client, oids: number[]): Promise<Map<number, PgTypeRow>> {
  const result = await client.query<PgTypeRow>(
    `WITH RECURSIVE ts AS (
       SELECT t.oid, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typdelim, t.typarray
         FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::oid[])
       UNION
       SELECT t.oid, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typdelim, t.typarray
         FROM pg_catalog.pg_type t JOIN ts ON t.oid = ts.typelem OR t.oid = ts.typbasetype
     )
     SELECT * FROM ts`,
    [oids],
  );
  return new Map(result.rows.map((row) => [row.oid, row]));
}

/** The columns of a table in their order, with their decoders. */
export async function tableColumns(client: pg.Client, table: TableRef): Promise<ColumnInfo[]> {
  const result = await client.query<{ name: string; type: string; oid: number }>(
    `SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.atttypid AS oid
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table.oid],
  );
  const types = await typeRows(
    client,
    result.rows.map((r) => r.oid),
  );
  return result.rows.map((row) => {
    const resolved = resolvePgType(row.oid, types);
    return { name: row.name, type: row.type, resolved, convert: converterFor(resolved) };
  });
}

/** The primary key's columns in key order; empty when the relation has none (views always). */
export async function primaryKey(client: pg.Client, table: TableRef): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_catalog.pg_index i
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisprimary
      ORDER BY k.ord`,
    [table.oid],
  );
  return result.rows.map((r) => r.name);
}

/** The explore structure of columns: PostgreSQL type, XDM type and `meta:xdmType`. */
export function exploreColumns(columns: readonly ColumnInfo[]): ExploreColumn[] {
  return columns.map((column) => {
    const { xdm, meta } = xdmTypeOf(column.resolved);
    return { name: column.name, type: column.type, xdm, 'meta:xdmType': meta };
  });
}

/**
 * Every relation a source could read, outside the system schemas and partitions (a partitioned
 * table is listed once, as its parent), in schemas the user may use. `canPreview` says whether
 * the user may SELECT from it.
 */
export async function listTables(client: pg.Client): Promise<ExploreItem[]> {
  const result = await client.query<{ schema: string; name: string; readable: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ${READABLE_KINDS} AND NOT c.relispartition
        AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
        AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
      ORDER BY n.nspname, c.relname`,
  );
  return result.rows.map((row) => ({
    type: 'table',
    name: row.name,
    path: pathOf(row),
    canPreview: row.readable,
    canFetchSchema: true,
  }));
}

/**
 * The columns of `table` named by `names` (all of them when absent or empty), in the order
 * asked. Throws `InflowValidationError` at `field` naming each unknown column.
 */
export function pickColumns(
  table: TableRef,
  columns: readonly ColumnInfo[],
  names: readonly string[] | undefined,
  field: string,
): ColumnInfo[] {
  if (!names || names.length === 0) return [...columns];
  const byName = new Map(columns.map((c) => [c.name, c]));
  const unknown = names.map((name, i) => ({ name, i })).filter(({ name }) => !byName.has(name));
  if (unknown.length > 0) {
    const known = columns.map((c) => c.name);
    const list = known.length > 20 ? `${known.slice(0, 20).join(', ')}, …` : known.join(', ');
    throw new InflowValidationError(
      `${unknown.map(({ name }) => `column "${name}"`).join(', ')} not in table ${pathOf(table)} (its columns: ${list})`,
      unknown.map(({ name, i }) => ({
        path: `${field}.${i}.name`,
        message: `column "${name}" is not in the table`,
      })),
    );
  }
  const seen = new Set<string>();
  return names.filter((n) => !seen.has(n) && seen.add(n)).map((n) => byName.get(n) as ColumnInfo);
}
