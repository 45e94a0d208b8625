import { FlowProblem } from '../errors.js';
import type { Db } from './db.js';
import type { Scope } from './resources.js';

/**
 * Listing for the Flow Service collections (reference §2, decisions 0005): `property` filters,
 * `orderby`, `limit`, `count` and keyset paging with an opaque `continuationToken`. Everything
 * runs in the database: equality as `doc @> …` containment (GIN index `resources_doc`), time
 * ranges and time ordering on the `(kind, org_id, sandbox, created_at|updated_at, id)` indexes.
 * Every value reaches SQL as a bind parameter; only fixed fragments are concatenated.
 */

export interface ListSpec {
  /** The `resources.kind` value, e.g. 'connections'. */
  kind: string;
  /** The collection path relative to the service base, used in next links, e.g. '/connections'. */
  basePath: string;
  /** Top-level fields that filters and orderby may name (a filter path's first segment). */
  fields: readonly string[];
  /**
   * The fields orderby may name, when fewer than `fields`: scalar ones. Ordering by an object would
   * put the whole object (secrets included) in the continuation token. Default: all of `fields`.
   */
  sortable?: readonly string[];
  /** Extra query params this route accepts besides the listing ones (passed through to next links). */
  extraParams?: readonly string[];
}

/** Which org and sandbox a list reads: the same scope every store call is confined to. */
export type ListScope = Scope;

export type ListQuery = Record<string, string | string[] | undefined>;

export type ListResult = { items: unknown[]; _links: { next?: { href: string } } } | { count: number };

/** A parameterised statement. */
export interface ListSql {
  text: string;
  params: unknown[];
}

const LISTING_PARAMS = ['property', 'orderby', 'limit', 'continuationToken', 'count'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const DEFAULT_ORDER = '-createdAt';
/** Bounds the work a forged token can cause; real ones hold one sort value and an id. */
const MAX_TOKEN_LENGTH = 16_000;

/** Fields with their own indexed bigint column. */
const TIME_COLUMNS: Record<string, string> = { createdAt: 'created_at', updatedAt: 'updated_at' };

type Operator = '==' | '!=' | '>' | '<' | '>=' | '<=';
type RangeOperator = Exclude<Operator, '==' | '!='>;
const OPERATORS: readonly string[] = ['==', '!=', '>', '<', '>=', '<='];
const OPERATOR_CHARS = '=!<>~';

interface Segment {
  name: string;
  /** Written with `[]`: any element of this array. */
  each: boolean;
}

/** One value of a comma list, as written. */
interface Token {
  text: string;
  quoted: boolean;
}

/** A parsed `property` filter, ready to compile; every value in it is bound as a parameter. */
type Condition =
  /** Any of (or, negated, none of) these `doc @> …` containment documents. */
  | { kind: 'contains'; negate: boolean; docs: string[] }
  /** A range on an indexed time column. */
  | { kind: 'column'; op: RangeOperator; column: string; value: string }
  /** A range on a plain path, compared with values of the same JSON type. */
  | { kind: 'path'; op: RangeOperator; path: string[]; type: 'number' | 'string'; json: string }
  /** A range on a path through arrays: some element matches. */
  | { kind: 'jsonpath'; op: RangeOperator; path: Segment[]; json: string };

interface Order {
  field: string;
  descending: boolean;
  /** Normalised `+field` / `-field`; continuation tokens are bound to it. */
  key: string;
}

/** Where the previous page stopped: its last row's sort value (text) and id. */
interface Cursor {
  value: string;
  id: string;
  /** As the client sent it, for error messages. */
  token: string;
}

interface ListRequest {
  filters: Condition[];
  order: Order;
  limit: number;
  count: boolean;
  after: Cursor | undefined;
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Lists `spec.kind` resources in `scope` as the route's query asks: a page of docs or a count. */
export async function listResources(
  db: Db,
  spec: ListSpec,
  scope: ListScope,
  query: ListQuery,
): Promise<ListResult> {
  const request = parseListQuery(spec, query);
  const sql = compile(spec, scope, request);
  if (request.count) {
    const res = await db.query<{ n: number }>(sql.text, sql.params);
    return { count: Number(res.rows[0]?.n ?? 0) };
  }
  const res = await pageRows(db, spec, scope, request, sql).catch((e: unknown) => {
    throw request.after && isDataException(e) ? invalidValue(request.after.token, 'continuationToken') : e;
  });
  const rows = res.rows.slice(0, request.limit);
  const last = rows[rows.length - 1];
  // `body` keeps the field order of the stored document (jsonb does not).
  const items = rows.map((r) => JSON.parse(r.body) as unknown);
  if (res.rows.length <= request.limit || !last) return { items, _links: {} };
  const token = encodeCursor(request.order, last.sort_key, last.id);
  return { items, _links: { next: { href: nextHref(spec.basePath, query, token) } } };
}

/** How many of the newest rows (in index order) a filtered page is first looked for in. */
export const WINDOW_ROWS = 5000;

type PageRow = { body: string; sort_key: string; id: string };

/**
 * Finds one page. The planner cannot choose well on its own: PGlite keeps no statistics on jsonb
 * containment, and it multiplies the selectivities of correlated filters. So: with a filter and
 * a time order, look in the newest `WINDOW_ROWS` rows first (index order, cheap); a full page
 * there is the right page. Otherwise, or for orders without an index, let the GIN index find the
 * matching rows and sort only those (see docs/decisions/0005-listing.md).
 */
async function pageRows(db: Db, spec: ListSpec, scope: ListScope, request: ListRequest, sql: ListSql) {
  const filtered = request.filters.some((f) => f.kind === 'contains' && !f.negate);
  if (!filtered) return db.query<PageRow>(sql.text, sql.params);
  if (TIME_COLUMNS[request.order.field]) {
    const window = compile(spec, scope, request, WINDOW_ROWS);
    const found = await db.query<PageRow>(window.text, window.params);
    if (found.rows.length > request.limit) return found;
    // A short page is the whole answer when the window held every remaining row.
    if ((await windowCount(db, spec, scope, request)) < WINDOW_ROWS) return found;
  }
  return queryWithBitmapScans<PageRow>(db, sql);
}

/**
 * Runs `sql` with the planner's plain and ordered index scans and its sequential scans off, so
 * that it finds rows through bitmap scans: the GIN index `resources_doc` for a containment
 * (`doc @> …`), then a sort of the rows found. The planner, left alone, may instead walk the
 * scope in `resources_scope_created` order and filter every row (see `pageRows`). Also used by
 * the Catalog's listings (routes/catalog-filters.ts).
 */
export async function queryWithBitmapScans<T>(db: Db, sql: ListSql) {
  return db.transaction(async (tx) => {
    await tx.exec('set local enable_indexscan = off; set local enable_seqscan = off');
    return tx.query<T>(sql.text, sql.params);
  });
}

/** How many rows (up to `WINDOW_ROWS`) the window held. */
async function windowCount(db: Db, spec: ListSpec, scope: ListScope, request: ListRequest): Promise<number> {
  // The same window with no filters and a page as large as the window: every row it held.
  const window = compile(spec, scope, { ...request, filters: [], limit: WINDOW_ROWS - 1 }, WINDOW_ROWS);
  const res = await db.query<{ n: number }>(
    `select count(*)::int as n from (${window.text}) x`,
    window.params,
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** The statement `listResources` would run (for EXPLAIN in tests and diagnostics). */
export function buildListSql(spec: ListSpec, scope: ListScope, query: ListQuery): ListSql {
  return compile(spec, scope, parseListQuery(spec, query));
}

// ---------------------------------------------------------------------------------------------
// Query parameters

function parseListQuery(spec: ListSpec, query: ListQuery): ListRequest {
  const allowed = new Set([...LISTING_PARAMS, ...(spec.extraParams ?? [])]);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && !allowed.has(name)) {
      throw new FlowProblem('1451-400', `Invalid params ${name} provided in query params`);
    }
  }
  const count = parseCount(single(query, 'count'));
  const limitText = single(query, 'limit');
  if (count && limitText !== undefined) {
    throw new FlowProblem(
      '1401-400',
      'The limit and count parameters cannot be given together in the same request',
    );
  }
  const order = parseOrder(spec, single(query, 'orderby') ?? DEFAULT_ORDER);
  const tokenText = single(query, 'continuationToken');
  return {
    filters: all(query, 'property').map((p) => parseFilter(spec, p)),
    order,
    limit: parseLimit(limitText),
    count,
    after: tokenText === undefined ? undefined : decodeCursor(order, tokenText),
  };
}

/** A param that may be given once; repeating it is an invalid value. */
function single(query: ListQuery, name: string): string | undefined {
  const value = query[name];
  if (!Array.isArray(value)) return value;
  if (value.length === 1) return value[0];
  throw invalidValue(value.join(','), name);
}

function all(query: ListQuery, name: string): string[] {
  const value = query[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function parseCount(text: string | undefined): boolean {
  if (text === undefined || text === 'false') return false;
  if (text === 'true') return true;
  throw invalidValue(text, 'count');
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  const n = /^[0-9]{1,7}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw invalidValue(text, 'limit');
  return n;
}

function parseOrder(spec: ListSpec, text: string): Order {
  const first = text.charAt(0);
  // A raw `+` in a query string decodes to a space, so ` name` is how `+name` usually arrives.
  const signed = first === '+' || first === '-' || first === ' ';
  if (!signed && !/^[A-Za-z]$/.test(first)) {
    throw new FlowProblem(
      '1432-400',
      'Sort order specified is not correct, prepend + for ascending order and - for descending order',
    );
  }
  const field = signed ? text.slice(1) : text;
  if (!(spec.sortable ?? spec.fields).includes(field)) {
    throw new FlowProblem(
      '1433-400',
      `Incorrect field= #${field} passed in orderBy, example are +name, -name, name`,
    );
  }
  const descending = first === '-';
  return { field, descending, key: `${descending ? '-' : '+'}${field}` };
}

function invalidValue(value: string, field: string): FlowProblem {
  return new FlowProblem('1452-400', `Invalid value ${value} for field ${field}`);
}

// ---------------------------------------------------------------------------------------------
// Filters: `path OP value[,value…]`

function parseFilter(spec: ListSpec, source: string): Condition {
  // Paths hold no operator characters, so the first one starts the operator, whatever the value holds.
  const opStart = source.search(/[=!<>~]/);
  if (opStart < 0) throw invalidQueryValue(source);
  let opEnd = opStart;
  while (opEnd < source.length && OPERATOR_CHARS.includes(source.charAt(opEnd))) opEnd++;
  const op = checkOperator(source.slice(opStart, opEnd));
  const pathText = source.slice(0, opStart).trim();
  if (pathText === '') throw invalidQueryValue(source);
  const path = parsePath(spec, pathText);
  const tokens = splitValues(source.slice(opEnd), source);
  for (const token of tokens) {
    if (!isSafeText(token.text)) throw invalidValue(token.text, pathText);
  }
  if (op === '==' || op === '!=') {
    const docs = tokens.flatMap(equalityJson).map((json) => containment(path, json));
    return { kind: 'contains', negate: op === '!=', docs };
  }
  return rangeCondition(op, path, pathText, tokens);
}

function checkOperator(op: string): Operator {
  if (op.includes('~')) throw new FlowProblem('1440-400', `Operator '${op}' not implemented`);
  if (!OPERATORS.includes(op)) throw new FlowProblem('1450-400', `Invalid operator ${op} in filter params`);
  return op as Operator;
}

function invalidQueryValue(source: string): FlowProblem {
  return new FlowProblem('1453-400', `Invalid query value ${source} provided in query param`);
}

/** Dotted segments, each optionally suffixed `[]`; names exclude quotes, brackets and controls. */
function parsePath(spec: ListSpec, pathText: string): Segment[] {
  const segments = pathText.split('.').map((part) => {
    const match = /^([^\s.[\]"\\\p{Cc}]+)(\[\])?$/u.exec(part);
    if (!match?.[1] || !isSafeText(part)) return undefined;
    return { name: match[1], each: match[2] !== undefined };
  });
  const first = segments[0];
  if (!first || !spec.fields.includes(first.name) || segments.some((s) => !s)) {
    throw new FlowProblem('1449-400', `Invalid field ${pathText} in filter params`);
  }
  return segments as Segment[];
}

/** Splits `a,"b,c", d` into tokens; quotes group (with `\"` and `\\` escapes), spaces are trimmed. */
function splitValues(text: string, source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    while (text.charAt(i) === ' ') i++;
    let token: Token;
    if (text.charAt(i) === '"') {
      const quoted = readQuoted(text, i + 1);
      if (!quoted) throw invalidQueryValue(source);
      token = { text: quoted.value, quoted: true };
      i = quoted.end;
      while (text.charAt(i) === ' ') i++;
      if (i < text.length && text.charAt(i) !== ',') throw invalidQueryValue(source);
    } else {
      const comma = text.indexOf(',', i);
      const end = comma < 0 ? text.length : comma;
      token = { text: text.slice(i, end).trim(), quoted: false };
      if (token.text === '') throw invalidQueryValue(source);
      i = end;
    }
    tokens.push(token);
    if (i >= text.length) return tokens;
    i++; // the comma
  }
}

function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  let value = '';
  for (let i = start; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === '"') return { value, end: i + 1 };
    if (c === '\\' && (text.charAt(i + 1) === '"' || text.charAt(i + 1) === '\\')) {
      value += text.charAt(++i);
    } else {
      value += c;
    }
  }
  return undefined;
}

function rangeCondition(op: RangeOperator, path: Segment[], pathText: string, tokens: Token[]): Condition {
  const [token, ...more] = tokens as [Token, ...Token[]];
  if (more.length > 0) {
    throw new FlowProblem('1443-400', `Operator '${op}' is not allowed for multiple values`);
  }
  if (pathText === 'id') throw new FlowProblem('1448-400', `Operator ${op} not supported for field id`);
  const column = path.length === 1 && !path[0]?.each ? TIME_COLUMNS[pathText] : undefined;
  if (column) {
    if (token.quoted || !BIGINT.test(token.text)) throw invalidValue(token.text, pathText);
    return { kind: 'column', op, column, value: token.text };
  }
  const type = token.quoted ? 'string' : NUMBER.test(token.text) ? 'number' : undefined;
  if (!type) throw invalidValue(token.text, pathText);
  const json = type === 'string' ? JSON.stringify(token.text) : token.text;
  return path.some((s) => s.each)
    ? { kind: 'jsonpath', op, path, json }
    : { kind: 'path', op, path: path.map((s) => s.name), type, json };
}

// ---------------------------------------------------------------------------------------------
// Values as JSON text, built by hand so numbers keep their exact digits

/** A JSON number as text (digits bounded): what a filter value must look like to compare as a number. */
export const NUMBER = /^-?(0|[1-9][0-9]{0,29})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?$/;
const BIGINT = /^-?[0-9]{1,18}$/;

/** The JSON values an equality token matches: a bare `123`/`true`/`null` also matches its string. */
function equalityJson(token: Token): string[] {
  const asString = JSON.stringify(token.text);
  if (token.quoted) return [asString];
  const bare = NUMBER.test(token.text) || ['true', 'false', 'null'].includes(token.text);
  return bare ? [token.text, asString] : [asString];
}

/** `{"a":[{"b":<value>}]}` for the path `a[].b`: what `doc @> …` needs to match it. */
function containment(path: Segment[], valueJson: string): string {
  return path.reduceRight((inner, segment) => {
    const wrapped = segment.each ? `[${inner}]` : inner;
    return `{${JSON.stringify(segment.name)}:${wrapped}}`;
  }, valueJson);
}

/** `$."a"[*]."b"` for the path `a[].b` (lax mode, so a missing key in one element is no error). */
function jsonPath(path: Segment[]): string {
  return `$${path.map((s) => `.${JSON.stringify(s.name)}${s.each ? '[*]' : ''}`).join('')}`;
}

/** Postgres text and jsonb strings cannot hold NUL or lone surrogates; refuse them up front. */
export function isSafeText(text: string): boolean {
  return (
    !text.includes('\u0000') &&
    !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)
  );
}

// ---------------------------------------------------------------------------------------------
// SQL

/** Collects bind parameters and hands back their placeholders. */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The scope and the filters, as SQL conditions (no cursor). */
function whereOf(spec: ListSpec, scope: ListScope, request: ListRequest, params: Params): string[] {
  return [
    `kind = ${params.add(spec.kind)}`,
    `org_id = ${params.add(scope.orgId)}`,
    `sandbox = ${params.add(scope.sandbox)}`,
    ...request.filters.map((f) => filterSql(f, params)),
  ];
}

/**
 * The page query; with `window`, the filters run over only the first `window` rows of the scope
 * in sort order.
 */
function compile(spec: ListSpec, scope: ListScope, request: ListRequest, window?: number): ListSql {
  const params = new Params();
  const where = whereOf(spec, scope, window ? { ...request, filters: [] } : request, params);
  if (request.count) {
    return {
      text: `select count(*)::int as n from resources where ${where.join(' and ')}`,
      params: params.values,
    };
  }
  const sort = sortSql(request.order, params);
  const dir = request.order.descending ? 'desc' : 'asc';
  if (request.after) {
    const cmp = request.order.descending ? '<' : '>';
    const value = params.add(request.after.value);
    where.push(`(${sort.expr}, id) ${cmp} (${value}::${sort.type}, ${params.add(request.after.id)})`);
  }
  if (window) {
    // A subquery, not a materialized CTE: the index scan streams through the filters and stops
    // as soon as the page is full.
    const inner =
      `select id, body, doc, created_at, updated_at, ${sort.expr} as sk from resources ` +
      `where ${where.join(' and ')} order by ${sort.expr} ${dir}, id ${dir} limit ${params.add(window)}`;
    const filters = request.filters.map((f) => filterSql(f, params));
    const text =
      `select coalesce(body, doc::text) as body, sk::text as sort_key, id from (${inner}) w ` +
      `${filters.length ? `where ${filters.join(' and ')} ` : ''}order by sk ${dir}, id ${dir} limit ${params.add(request.limit + 1)}`;
    return { text, params: params.values };
  }
  const text =
    `select coalesce(body, doc::text) as body, ${sort.expr}::text as sort_key, id from resources where ${where.join(' and ')} ` +
    `order by ${sort.expr} ${dir}, id ${dir} limit ${params.add(request.limit + 1)}`;
  return { text, params: params.values };
}

function sortSql(order: Order, params: Params): { expr: string; type: 'bigint' | 'jsonb' } {
  const column = TIME_COLUMNS[order.field];
  if (column) return { expr: column, type: 'bigint' };
  // Missing fields sort as JSON null, so every row has a comparable key for keyset paging.
  return { expr: `coalesce(doc -> ${params.add(order.field)}, 'null'::jsonb)`, type: 'jsonb' };
}

function filterSql(condition: Condition, params: Params): string {
  switch (condition.kind) {
    case 'contains': {
      const anyOf = `(${condition.docs.map((doc) => `doc @> ${params.add(doc)}::jsonb`).join(' or ')})`;
      return condition.negate ? `not ${anyOf}` : anyOf;
    }
    case 'column':
      return `${condition.column} ${condition.op} ${params.add(condition.value)}::bigint`;
    case 'path': {
      const target = `doc #> ${params.add(condition.path)}::text[]`;
      // jsonb orders every number before every string; comparing like types keeps `>` meaningful.
      const value = params.add(condition.json);
      return `(jsonb_typeof(${target}) = '${condition.type}' and ${target} ${condition.op} ${value}::jsonb)`;
    }
    case 'jsonpath': {
      const path = params.add(`${jsonPath(condition.path)} ? (@ ${condition.op} $v)`);
      return `jsonb_path_exists(doc, ${path}::jsonpath, ${params.add(`{"v":${condition.json}}`)}::jsonb)`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Paging

interface TokenBody {
  o: string;
  v: string;
  i: string;
}

function encodeCursor(order: Order, value: string, id: string): string {
  const body: TokenBody = { o: order.key, v: value, i: id };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/**
 * A token from a listing with the same orderby. The token is not signed: a forged sort value
 * that passes these checks but that Postgres cannot cast (a jsonb `\u0000`, a numeric overflow)
 * fails as a data exception, which `listResources` reports as the same 1452.
 */
function decodeCursor(order: Order, token: string): Cursor {
  const body = parseTokenBody(token);
  const valid =
    body !== undefined &&
    body.o === order.key &&
    isSafeText(body.i) &&
    (TIME_COLUMNS[order.field] ? BIGINT.test(body.v) : isJson(body.v));
  if (!valid) throw invalidValue(token, 'continuationToken');
  return { value: body.v, id: body.i, token };
}

function parseTokenBody(token: string): TokenBody | undefined {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    const body: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof body !== 'object' || body === null) return undefined;
    const { o, v, i } = body as Record<string, unknown>;
    return typeof o === 'string' && typeof v === 'string' && typeof i === 'string' ? { o, v, i } : undefined;
  } catch {
    return undefined;
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** SQLSTATE class 22: a value Postgres could not cast or hold. */
function isDataException(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('22');
}

/** The same request with the new token: original params in order, minus the old token. */
function nextHref(basePath: string, query: ListQuery, token: string): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (name === 'continuationToken' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(name, v);
  }
  search.append('continuationToken', token);
  return `${basePath}?${search.toString()}`;
}
