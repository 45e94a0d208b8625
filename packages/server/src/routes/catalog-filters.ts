import { invalid } from '../errors.js';
import type { Db } from '../store/db.js';
import { isSafeText, NUMBER, Params } from '../store/list-query.js';
import type { Scope } from '../store/resources.js';

/**
 * The Catalog's listing filters (reference §13.2, decision 0012 addendum 2026-11-23): `properties`
 * projection, simple filters `field=a,b` / `field=!a,b`, `property=` expressions, `tags=`,
 * `createdAfter` / `createdBefore`, and for batches `dataSet=` and `batch=`. Everything runs in
 * the database against `resources`; every field name and value reaches SQL as a bind parameter,
 * only the fixed fragments below are concatenated.
 *
 * PGlite runs on the server's main thread and `statement_timeout` does not fire there, so a
 * listing's cost must be bounded whatever the input: `~` refuses back-references and lookaround
 * (`regexFeatureRefused`), a `tags=` pair is one condition however many colons it holds, and a
 * listing carries at most `MAX_CONDITIONS` conditions.
 *
 * The Flow Service has its own `property=` grammar (store/list-query.ts: quoted comma lists,
 * nested paths, `~` refused with 1440-400); the Catalog's is different (bare `name` for exists,
 * `!name` for absent, `~` for a regex, top-level fields only), so it is parsed here.
 */

export type CatalogKind = 'dataSets' | 'batches';

/** The raw query string as Fastify parses it: a repeated parameter is an array. */
export type CatalogQuery = Record<string, string | string[] | undefined>;

/** Parameters with their own meaning; every other parameter is a simple filter on a field. */
const LISTING_PARAMS = [
  'start',
  'limit',
  'orderBy',
  'properties',
  'property',
  'tags',
  'createdAfter',
  'createdBefore',
];
/**
 * `aggregate` (batches): the reference documents `aggregate=true` on `GET /batches/{id}`, which
 * lifts a batch's aggregated status and metrics to the top level. Inflow's batches carry them
 * there already, so it is accepted and ignored rather than read as a filter on a field.
 */
const OWN_PARAMS: Record<CatalogKind, readonly string[]> = {
  dataSets: LISTING_PARAMS,
  batches: [...LISTING_PARAMS, 'dataSet', 'batch', 'aggregate'],
};

/** A top-level field name: what may name a field in a filter or in `properties`. */
const FIELD = /^[A-Za-z0-9_@]{1,128}$/;
/** A dotted version (`1.0.3`) or a whole number: compared part by part, numerically. */
const VERSION = /^[0-9]{1,18}(\.[0-9]{1,18})*$/;
/** Epoch milliseconds for createdAfter / createdBefore. */
const EPOCH_MS = /^-?[0-9]{1,15}$/;
/**
 * The longest `~` pattern. It keeps the pattern PostgreSQL compiles (and the error that echoes
 * it) small; it does not bound the time a match takes: `regexFeatureRefused` does that.
 */
const MAX_REGEX = 1000;
/**
 * The most conditions one listing may carry: each value of a simple filter, `dataSet=` or
 * `batch=`, each `property=` expression, each `tags=` pair and each time bound counts one. The
 * Flow Service's `property=` parser has no such limit to match; a Catalog client filters on a
 * handful of fields, and a few thousand conditions in one query string stall the planner.
 */
const MAX_CONDITIONS = 100;

type RangeOp = '<' | '<=' | '>' | '>=';
/** Longest first, so `<=` is not read as `<` followed by `=`. */
const RANGE_OPS: readonly string[] = ['<=', '>=', '<', '>'];

/** One parsed filter; all conditions of a listing must hold. */
type Condition =
  /** The field is one of `values` (negated: is none of them, or is missing). */
  | { kind: 'equals'; field: string; values: string[]; negate: boolean }
  /** The field is present (negated: absent). */
  | { kind: 'exists'; field: string; negate: boolean }
  /** The field is a string matching a PostgreSQL regular expression. */
  | { kind: 'regex'; field: string; pattern: string }
  | { kind: 'compare'; field: string; op: RangeOp; value: string }
  | { kind: 'created'; op: '>=' | '<='; ms: string }
  /** The object's own id (batches `batch=`). */
  | { kind: 'ids'; ids: string[]; negate: boolean }
  /** A batch's dataset link in `relatedObjects` (batches `dataSet=`). */
  | { kind: 'dataSet'; ids: string[]; negate: boolean }
  /**
   * One `name:value` of `tags=`, split at whichever colon ends a tag name the object has:
   * `token` as given, and `segments` its colon-separated parts, each as a LIKE pattern.
   */
  | { kind: 'tag'; token: string; segments: string[] };

export interface CatalogFilter {
  conditions: Condition[];
  /** `properties=`: the top-level fields to return, or undefined for whole objects. */
  properties: string[] | undefined;
  /** Regexes to compile before the listing runs, with the expression that gave each. */
  regexes: { pattern: string; source: string }[];
  /** Dataset ids named in a positive `dataSet=` filter (the route checks they exist). */
  dataSets: string[];
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Reads a Catalog listing's query into filters, or throws a 400 naming the bad parameter. */
export function parseCatalogFilter(kind: CatalogKind, query: CatalogQuery): CatalogFilter {
  const filter: CatalogFilter = { conditions: [], properties: undefined, regexes: [], dataSets: [] };
  const own = OWN_PARAMS[kind];
  for (const [param, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = Array.isArray(raw) ? raw : [raw];
    for (const value of values) {
      if (!isSafeText(value) || !isSafeText(param)) {
        throw invalid(
          safeName(param),
          'holds a NUL character or a lone surrogate, which no stored value can',
        );
      }
    }
    if (!own.includes(param)) {
      const field = fieldName(param, param);
      for (const value of values) filter.conditions.push(simpleFilter(field, value));
    } else {
      for (const value of values) parseOwn(param, value, filter);
    }
    // Checked after each parameter, so the 400 names the one that went over.
    if (filter.conditions.reduce((n, c) => n + weight(c), 0) > MAX_CONDITIONS) {
      throw invalid(
        safeName(param),
        `takes the listing past ${MAX_CONDITIONS} filter conditions (each value of a simple filter, dataSet= or batch=, each property= expression, each tags= pair and each time bound counts one)`,
      );
    }
  }
  return filter;
}

/** How many conditions `c` counts for against `MAX_CONDITIONS`. */
function weight(c: Condition): number {
  switch (c.kind) {
    case 'equals':
      return c.values.length;
    case 'ids':
    case 'dataSet':
      return c.ids.length;
    default:
      return 1;
  }
}

function parseOwn(param: string, value: string, filter: CatalogFilter): void {
  switch (param) {
    case 'properties': {
      const fields = value.split(',').map((f) => fieldName(f.trim(), 'properties'));
      filter.properties = [...(filter.properties ?? []), ...fields];
      return;
    }
    case 'property': {
      const condition = propertyExpression(value);
      if (condition.kind === 'regex') filter.regexes.push({ pattern: condition.pattern, source: value });
      filter.conditions.push(condition);
      return;
    }
    case 'tags':
      for (const token of value.split(',')) filter.conditions.push(tagCondition(token));
      return;
    case 'createdAfter':
    case 'createdBefore':
      if (!EPOCH_MS.test(value))
        throw invalid(param, `must be epoch milliseconds (a whole number), not ${value}`);
      filter.conditions.push({ kind: 'created', op: param === 'createdAfter' ? '>=' : '<=', ms: value });
      return;
    case 'dataSet':
    case 'batch': {
      const { values, negate } = valueList(value);
      if (values.some((v) => v === '')) throw invalid(param, 'must be an id or a comma list of ids');
      if (param === 'batch') {
        filter.conditions.push({ kind: 'ids', ids: values, negate });
      } else {
        filter.conditions.push({ kind: 'dataSet', ids: values, negate });
        if (!negate) filter.dataSets.push(...values);
      }
      return;
    }
    default:
    // start, limit and orderBy: the route reads them. aggregate (batches): ignored, see OWN_PARAMS.
  }
}

/** `x,y` (any of) or `!x,y` (none of). */
function valueList(value: string): { values: string[]; negate: boolean } {
  const negate = value.startsWith('!');
  return { values: (negate ? value.slice(1) : value).split(','), negate };
}

function simpleFilter(field: string, value: string): Condition {
  const { values, negate } = valueList(value);
  return { kind: 'equals', field, values, negate };
}

/**
 * `name` (exists), `!name` (absent), `name~regex`, `name==v`, `name!=v`, `name<v`, `<=`, `>`,
 * `>=`. The value is everything after the operator, verbatim (commas included).
 */
function propertyExpression(expr: string): Condition {
  const bad = (why: string) =>
    invalid(
      'property',
      `${expr} ${why}: use name, !name, name~regex, name==v, name!=v or name<v (<=, >, >=)`,
    );
  if (expr.startsWith('!')) {
    const field = expr.slice(1);
    if (/[=!<>~]/.test(field)) throw bad('negates an expression; ! only goes before a bare field name');
    return { kind: 'exists', field: fieldName(field, 'property'), negate: true };
  }
  const at = expr.search(/[=!<>~]/);
  if (at < 0) return { kind: 'exists', field: fieldName(expr, 'property'), negate: false };
  if (at === 0) throw bad('names no field');
  const field = fieldName(expr.slice(0, at), 'property');
  if (expr.charAt(at) === '~') {
    const pattern = expr.slice(at + 1);
    if (pattern.length > MAX_REGEX)
      throw invalid('property', `${field}~… is longer than ${MAX_REGEX} characters`);
    const refused = regexFeatureRefused(pattern);
    if (refused) throw invalid('property', `${safeName(expr)}: ${refused}`);
    return { kind: 'regex', field, pattern };
  }
  const rest = expr.slice(at);
  if (rest.startsWith('==') || rest.startsWith('!=')) {
    return { kind: 'equals', field, values: [rest.slice(2)], negate: rest.startsWith('!') };
  }
  const op = RANGE_OPS.find((o) => rest.startsWith(o) && !/^[=!<>]/.test(rest.slice(o.length)));
  if (!op) throw bad(`has the unknown operator ${/^[=!<>]+/.exec(rest)?.[0] ?? rest.charAt(0)}`);
  const value = rest.slice(op.length);
  if (value === '') throw bad(`compares ${field} with nothing`);
  return { kind: 'compare', field, op: op as RangeOp, value };
}

/**
 * Why PostgreSQL may take more than linear time to match `pattern`, or undefined. Its engine
 * runs a regex without back-references or lookaround as an automaton, in time linear in the
 * value; a back-reference makes it backtrack (cost grows as a power of the value's length) and a
 * lookahead or lookbehind constraint re-runs a sub-match at each position (quadratic). PGlite
 * runs on the server's main thread and `statement_timeout` does not fire there, so one such
 * match on a long description would stall every request of every tenant.
 *
 * The rule is deliberately coarser than PostgreSQL's parser, so that nothing slips through:
 * - A pattern starting `***=` is a literal string (PostgreSQL reads nothing after it as regex
 *   syntax): always allowed.
 * - Otherwise, reading left to right, a backslash takes the next character with it. If that
 *   character is a digit 1–9, the pattern is refused: it is a back-reference `\m` or `\mnn` in
 *   an ARE or a BRE (`(?b)`), even inside a bracket expression (where PostgreSQL refuses it
 *   anyway) or a comment. `\0…` (octal) passes; `\\1` is an escaped backslash, then `1`.
 * - An unescaped `(?=`, `(?!`, `(?<=` or `(?<!` is refused wherever it stands, also inside a
 *   bracket expression or a comment, where it would be harmless.
 * Embedded options (`(?i)`, `(?x)`, `(?e)`, `(?b)`, `(?q)`, `***:`) get no special reading: in
 * every mode a backslash either escapes the next character or is literal in a place (a bracket
 * expression of a BRE/ERE, a comment) where hiding that next character cannot hide a
 * back-reference or a lookaround, and PostgreSQL needs `(?=` written without spaces even under
 * `(?x)`. So `(?q)\1` (a literal) is refused; `***=` is the way to a literal. PostgreSQL has no
 * `\k<name>`; it is an invalid escape, a 400 like any invalid regex.
 */
function regexFeatureRefused(pattern: string): string | undefined {
  if (pattern.startsWith('***=')) return undefined;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '\\') {
      const next = pattern.charAt(i + 1);
      if (next >= '1' && next <= '9') {
        return `uses a back-reference, \\${next}, which is not supported: matching one can take time that grows as a power of the value's length, and every request waits for it. A backslash before a digit 1-9 counts as one anywhere in the pattern (write \\\\ for a literal backslash, [${next}] for the digit)`;
      }
      i++;
    } else if (c === '(' && pattern.charAt(i + 1) === '?') {
      const look = /^(?:[=!]|<[=!])/.exec(pattern.slice(i + 2, i + 4))?.[0];
      if (look) {
        return `uses a ${look.startsWith('<') ? 'lookbehind' : 'lookahead'} constraint, (?${look}, which is not supported: matching one can take time that grows with the square of the value's length, and every request waits for it`;
      }
    }
  }
  return undefined;
}

/**
 * `name:value` of `tags=`; `name:*` is "has the tag", `*` in a value is a wildcard. Tag names
 * and values may hold colons (`inflow:flowId`, `enabled:true`), so the token is kept whole and
 * split in SQL at the colon that ends a tag name the object has: one condition per token,
 * however many colons it holds.
 */
function tagCondition(token: string): Condition {
  if (token.indexOf(':', 1) < 0) {
    throw invalid(
      'tags',
      `${safeName(token)} must be tagName:value (value may hold * wildcards; tagName:* means the tag is set)`,
    );
  }
  // A `*` run never spans a colon, so each part translates on its own.
  return { kind: 'tag', token, segments: token.split(':').map(likePattern) };
}

/** A field name that may reach SQL (as a bound parameter), or a 400 naming `param`. */
function fieldName(name: string, param: string): string {
  if (FIELD.test(name)) return name;
  const shown = safeName(name);
  if (name.includes('.') && name.split('.').every((part) => FIELD.test(part))) {
    throw invalid(param, `${shown}: only top-level fields can be named (no dotted paths)`);
  }
  if (param === name) {
    throw invalid(shown, 'is neither a listing parameter nor a field name (letters, digits, _ and @)');
  }
  throw invalid(param, `${shown} is not a field name (letters, digits, _ and @)`);
}

/** A name short enough to echo back in an error. */
function safeName(name: string): string {
  return name.length > 130 ? `${name.slice(0, 127)}…` : name;
}

/**
 * The LIKE pattern of a Catalog wildcard value: `*` matches anything, `**` is a literal `*`,
 * every other character is itself.
 */
function likePattern(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '*') {
      if (value.charAt(i + 1) === '*') {
        out += '*';
        i++;
      } else {
        out += '%';
      }
    } else {
      out += c === '%' || c === '_' || c === '\\' ? `\\${c}` : c;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SQL

/**
 * The listing statement: scope, filters, `order` (a fixed fragment from `catalogOrder`), then
 * `limit`/`offset`. Rows are `{ id, body }`, body the stored JSON text (projected when
 * `properties` is given, keeping the stored field order).
 */
export function catalogListSql(
  kind: CatalogKind,
  scope: Scope,
  filter: CatalogFilter,
  order: string,
  page: { start: number; limit: number },
): { text: string; params: unknown[] } {
  const p = new Params();
  const where = [
    `kind = ${p.add(kind)}`,
    `org_id = ${p.add(scope.orgId)}`,
    `sandbox = ${p.add(scope.sandbox)}`,
    ...filter.conditions.map((c) => conditionSql(c, p)),
  ];
  const body = filter.properties
    ? `(select coalesce(json_object_agg(e.key, e.value order by e.n), '{}')
         from json_each(coalesce(body, doc::text)::json) with ordinality as e(key, value, n)
         where e.key = any(${p.add(filter.properties)}::text[]))::text`
    : 'coalesce(body, doc::text)';
  return {
    text: `select id, ${body} as body from resources where ${where.join(' and ')}
           order by ${order} limit ${p.add(page.limit)} offset ${p.add(page.start)}`,
    params: p.values,
  };
}

function conditionSql(c: Condition, p: Params): string {
  switch (c.kind) {
    case 'equals':
      return equalsSql(c.field, c.values, c.negate, p);
    case 'exists': {
      const present = `(doc ? ${p.add(c.field)}::text)`;
      return c.negate ? `not ${present}` : present;
    }
    case 'regex': {
      const k = p.add(c.field);
      return `(jsonb_typeof(doc -> ${k}::text) = 'string' and (doc ->> ${k}::text) ~ ${p.add(c.pattern)}::text)`;
    }
    case 'compare':
      return compareSql(c.field, c.op, c.value, p);
    case 'created':
      return `created_at ${c.op} ${p.add(c.ms)}::bigint`;
    case 'ids': {
      const anyOf = `(id = any(${p.add(c.ids)}::text[]))`;
      return c.negate ? `not ${anyOf}` : anyOf;
    }
    case 'dataSet': {
      // Containment, so the GIN index on doc finds the batches.
      const docs = c.ids.map((id) => JSON.stringify({ relatedObjects: [{ type: 'dataSet', id }] }));
      const anyOf = `(${docs.map((d) => `doc @> ${p.add(d)}::jsonb`).join(' or ')})`;
      return c.negate ? `not ${anyOf}` : anyOf;
    }
    case 'tag':
      return tagSql(c.token, c.segments, p);
  }
}

/**
 * Equality with any of `values`: strings and booleans by their text (`name` with `*`
 * wildcards), numbers numerically (`5` matches 5 and 5.0). Objects, arrays, null and missing
 * fields equal nothing, so a negated filter keeps them.
 */
function equalsSql(field: string, values: string[], negate: boolean, p: Params): string {
  const k = p.add(field);
  const text = `(doc ->> ${k}::text)`;
  const texts = p.add(values);
  const strings =
    field === 'name'
      ? `${text} like any(${p.add(values.map(likePattern))}::text[])`
      : `${text} = any(${texts}::text[])`;
  const numbers = values.filter((v) => NUMBER.test(v));
  const numeric = numbers.length
    ? `(doc -> ${k}::text)::numeric = any(${p.add(numbers)}::numeric[])`
    : 'false';
  const match = `(case jsonb_typeof(doc -> ${k}::text) when 'string' then ${strings}
    when 'boolean' then ${text} = any(${texts}::text[]) when 'number' then ${numeric} else false end)`;
  return negate ? `not coalesce(${match}, false)` : `coalesce(${match}, false)`;
}

/**
 * A range: numbers numerically when the value is a number; versions part by part when both the
 * value and a string field are dotted whole numbers (`1.0.10 > 1.0.3`); other strings by their
 * code points (collation "C"). A field of another type, or a number against a non-number, never
 * matches.
 */
function compareSql(field: string, op: RangeOp, value: string, p: Params): string {
  const k = p.add(field);
  const text = `(doc ->> ${k}::text)`;
  const numeric = NUMBER.test(value)
    ? `(doc -> ${k}::text)::numeric ${op} ${p.add(value)}::numeric`
    : 'false';
  // Only placeholders that are used: Postgres cannot type an unused parameter.
  const string = VERSION.test(value)
    ? `(case when ${text} ~ '^[0-9]{1,18}(\\.[0-9]{1,18})*$'
         then string_to_array(${text}, '.')::numeric[] ${op} ${p.add(value.split('.'))}::numeric[]
         else false end)`
    : `${text} collate "C" ${op} ${p.add(value)}::text`;
  return `coalesce((case jsonb_typeof(doc -> ${k}::text) when 'number' then ${numeric}
    when 'string' then ${string} else false end), false)`;
}

/**
 * One `tags=` token as one condition: some tag `k` of the object is a name the token starts
 * with (`k:`), and the rest of the token (its LIKE pattern: the segments after the ones `k`
 * spans) is `*` (the tag is set, whatever its values) or matches one of the tag's values. The
 * work per object is a prefix test per tag it has, plus one pattern for each tag that is a
 * prefix, whatever the token holds.
 */
function tagSql(token: string, segments: string[], p: Params): string {
  const segs = p.add(segments);
  // The pattern after `k:`: segment (colons in k) + 2 onwards, 1-based.
  const pattern = `array_to_string((${segs}::text[])[length(t.k) - length(replace(t.k, ':', '')) + 2:], ':')`;
  // A tag's values are an array of strings; a single value (batches' acp_* tags) counts as one.
  // likePattern('*') is '%', and no other value gives '%'.
  return `exists (select 1 from jsonb_each(case jsonb_typeof(doc -> 'tags') when 'object' then doc -> 'tags' end) as t(k, v)
    where t.k <> '' and starts_with(${p.add(token)}::text, t.k || ':')
      and (select s.p = '%' or exists (select 1 from jsonb_array_elements_text(case jsonb_typeof(t.v)
            when 'array' then t.v else jsonb_build_array(t.v) end) as e(x) where e.x like s.p)
           from (select ${pattern} as p) as s))`;
}

// ---------------------------------------------------------------------------------------------
// Running

/** SQLSTATE 2201B: invalid_regular_expression. */
function isInvalidRegex(e: unknown): e is { message?: string } {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '2201B';
}

/**
 * Compiles each `~` regex on its own first, so a bad one is a 400 naming it even when no row
 * would have reached it; then runs the listing. Returns rows in order as `[id, object]`.
 */
export async function runCatalogList(
  db: Db,
  kind: CatalogKind,
  scope: Scope,
  filter: CatalogFilter,
  order: string,
  page: { start: number; limit: number },
): Promise<[string, unknown][]> {
  for (const { pattern, source } of filter.regexes) {
    await db.query(`select '' ~ $1::text`, [pattern]).catch((e: unknown) => {
      throw isInvalidRegex(e)
        ? invalid('property', `${source}: ${e.message ?? 'invalid regular expression'}`)
        : e;
    });
  }
  const sql = catalogListSql(kind, scope, filter, order, page);
  const res = await db.query<{ id: string; body: string }>(sql.text, sql.params).catch((e: unknown) => {
    throw isInvalidRegex(e) ? invalid('property', e.message ?? 'invalid regular expression') : e;
  });
  return res.rows.map((row) => [
    row.id,
    withoutId(JSON.parse(row.body) as Record<string, unknown>, filter.properties),
  ]);
}

/** The object as listings serve it: without its `id` (it is the key) unless `properties` asks for it. */
function withoutId(doc: Record<string, unknown>, properties: string[] | undefined): Record<string, unknown> {
  if (properties?.includes('id')) return doc;
  const { id: _id, ...rest } = doc;
  return rest;
}

/**
 * `?properties=a,b` of a single-object GET: those top-level fields of `doc` (in its order), or
 * the whole object without `id` when the query has none.
 */
export function projectOne(doc: Record<string, unknown>, query: CatalogQuery): Record<string, unknown> {
  const raw = query.properties;
  if (raw === undefined) return withoutId(doc, undefined);
  const filter = parseCatalogFilter('dataSets', { properties: raw });
  const wanted = new Set(filter.properties);
  return withoutId(Object.fromEntries(Object.entries(doc).filter(([k]) => wanted.has(k))), filter.properties);
}
