import { invalid } from '../errors.js';
import type { Db } from '../store/db.js';
import { isSafeText, NUMBER, Params, queryWithBitmapScans, WINDOW_ROWS } from '../store/list-query.js';
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
 * (`regexFeatureRefused`), a listing's `~` regexes are few and small (`MAX_REGEXES`,
 * `REGEX_BUDGET`, `regexSize`) and see only the start of a value (`REGEX_WINDOW`), a `tags=`
 * pair is one condition however many colons it holds, and a listing carries at most
 * `MAX_CONDITIONS` conditions.
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
 * it) small; it does not bound the time a match takes: `regexFeatureRefused`, `REGEX_BUDGET`,
 * `MAX_REGEXES` and `REGEX_WINDOW` do that.
 */
const MAX_REGEX = 1000;
/**
 * The most `~` conditions one listing may carry. PostgreSQL keeps its last 32 compiled regexes;
 * a statement holding more than 32 recompiles them row after row (40 on 20 datasets: 8 s).
 */
const MAX_REGEXES = 4;
/**
 * The most atoms (characters, classes, anchors) a listing's `~` regexes may hold together once
 * their counted repetitions are written out (`regexSize`). PostgreSQL's engine is an automaton
 * whose states are those atoms; on a value made to defeat its cache of states it pays for each
 * character of the value in proportion to their number (about 4 ns each in PGlite, decision 0012
 * addendum), and compiling `(.{1,120}){1,120}` fails silently in PGlite.
 */
const REGEX_BUDGET = 128;
/**
 * How many characters of a value a `~` regex sees: the first `REGEX_WINDOW`, as if the value
 * ended there. Names and ids are shorter; descriptions can be ~1 MB, and the regex's cost is
 * linear in what it reads.
 */
const REGEX_WINDOW = 256;
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
  /** The field is a string whose first `REGEX_WINDOW` characters match a PostgreSQL regex. */
  | { kind: 'regex'; field: string; pattern: string; size: number }
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
  /**
   * Regexes to compile before the listing runs, with the expression that gave each and its size
   * (`regexSize`).
   */
  regexes: { pattern: string; source: string; size: number }[];
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
      if (condition.kind === 'regex') addRegex(filter, condition.pattern, condition.size, value);
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

/** Records a `~` regex of the listing, or a 400 when it takes the listing past the limits. */
function addRegex(filter: CatalogFilter, pattern: string, size: number, source: string): void {
  if (filter.regexes.length >= MAX_REGEXES) {
    throw invalid(
      'property',
      `${safeName(source)} takes the listing past ${MAX_REGEXES} regular expressions (~): each one is matched against every object listed, and every request waits for it`,
    );
  }
  const total = filter.regexes.reduce((n, r) => n + r.size, size);
  if (total > REGEX_BUDGET) {
    throw invalid(
      'property',
      `${safeName(source)} takes the listing's regular expressions (~) to ${total} atoms together with their counted repetitions written out, past ${REGEX_BUDGET}: ${WHY_BUDGET}`,
    );
  }
  filter.regexes.push({ pattern, source, size });
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
    const size = regexSize(pattern);
    if (size > REGEX_BUDGET) {
      const shown = size > 1e6 ? 'over a million' : String(size);
      throw invalid(
        'property',
        `${safeName(expr)} is too complex: with its counted repetitions written out ({m}, {m,} and {m,n} repeat what they follow, and nested ones multiply) it holds ${shown} atoms (characters, classes, anchors), past the ${REGEX_BUDGET} a listing's regular expressions may hold together: ${WHY_BUDGET}`,
      );
    }
    return { kind: 'regex', field, pattern, size };
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

/** Why `REGEX_BUDGET` holds, and the way around it, for its 400s. */
const WHY_BUDGET =
  'matching takes time in proportion to that number, and every request waits for it. Use * or + rather than large bounds, or start the pattern with ***= to search for a literal text of any length';

/**
 * The size of `pattern`: roughly how many states and arcs PostgreSQL's automaton for it holds,
 * which is what a match pays for at each character of the value. Each character, `.`, class,
 * bracket expression, escape and anchor counts one and a group what it holds (at least one). A
 * quantifier multiplies what it follows: `{m}` by m (PostgreSQL writes out m copies), `{m,n}` by
 * n + 1 (n copies, each of which may end the repetition), `{m,}` by m + 1, and `*`, `+` and `?` by
 * 2 (a loop or a way round), as BRE `\{m,n\}` and `*` under `(?b)` do. So bounds in sequence add
 * and nested bounds multiply: `^\d{4}-\d{2}-\d{2}$` is 12, `(.{1,255}){1,255}` is 65,536. The
 * largest product of nested bounds is never more than the size, so bounding the size bounds it.
 *
 * It follows PostgreSQL's lexer (regc_lex.c) where that decides what is a group, a bound or a
 * bracket expression: the `***=`, `***:` and `(?flags)` prefixes (`b` BRE, `e` ERE, `q` literal,
 * `x` expanded, `t` tight), `(?:` and `(?#…)`, brackets with `[.x.]`, `[=x=]`, `[:x:]` and a
 * leading `]`, ARE escapes (`\cX` takes the character after it; ERE and BRE brackets take `\`
 * literally), `{` as a plain character unless a digit follows, BRE `\(`, `\)`, `\{` and a
 * leading `*`, and, under `x`, white space and `#` comments between tokens. Where PostgreSQL
 * would refuse the pattern it stops counting (the compile check gives the 400). Anything
 * uncertain is counted high, never low. A literal pattern (`***=`, `(?q)`) is 0: it matches in
 * time linear in the value whatever its length, since there is nothing to repeat or choose.
 */
function regexSize(pattern: string): number {
  let i = 0;
  const peek = (k = 0) => pattern.charAt(i + k);
  const end = () => i >= pattern.length;
  const digit = (c: string) => c >= '0' && c <= '9';

  // Prefixes. `~` compiles an ARE: extended syntax with the advanced features.
  let extended = true;
  let advanced = true;
  let expanded = false;
  if (pattern.startsWith('***')) {
    if (peek(3) !== ':') return 0; // `***=` is a literal; anything else is an error
    i = 4;
  }
  if (peek() === '(' && peek(1) === '?' && /^[a-zA-Z]$/.test(peek(2))) {
    let quote = false;
    for (i += 2; !end() && /^[a-zA-Z]$/.test(peek()); i++) {
      switch (peek()) {
        case 'b':
          extended = advanced = quote = false;
          break;
        case 'e':
          extended = true;
          advanced = quote = false;
          break;
        case 'q':
          quote = true;
          extended = advanced = false;
          break;
        case 'x':
          expanded = true;
          break;
        case 't':
          expanded = false;
          break;
        case 'c':
        case 'i':
        case 'm':
        case 'n':
        case 'p':
        case 's':
        case 'w':
          break;
        default:
          return 0; // an invalid option: PostgreSQL refuses the pattern
      }
    }
    if (peek() !== ')' || quote) return 0;
    i++;
  }
  const bre = !extended;

  /** Skips white space and `#` comments where PostgreSQL does under `x`. */
  const skip = () => {
    while (expanded && !end()) {
      if (/^\s$/.test(peek())) i++;
      else if (peek() === '#') while (!end() && peek() !== '\n') i++;
      else return;
    }
  };

  // One frame per open group: the atoms it holds so far, and those of its last item (what a
  // quantifier that comes next repeats; 0 after `|` or a group's start).
  const frames = [{ total: 0, last: 0 }];
  const top = () => frames[frames.length - 1] as { total: number; last: number };
  const item = (size: number) => {
    top().total += size;
    top().last = size;
  };
  const repeat = (times: number) => {
    top().total += top().last * (times - 1);
    top().last *= times;
  };
  const close = () => {
    const group = frames.length > 1 ? frames.pop() : undefined;
    item(group ? Math.max(1, group.total) : 1);
  };

  /** A bound's digits, or undefined when there are none. */
  const number = (): number | undefined => {
    let n: number | undefined;
    for (skip(); digit(peek()); skip()) n = (n ?? 0) * 10 + Number(pattern.charAt(i++));
    return n;
  };
  /**
   * After `{` or `\{`: how many times the bound multiplies what it follows (`{m}`: m, `{m,n}`:
   * n + 1, `{m,}`: m + 1, never less than 1), or undefined if PostgreSQL refuses it.
   */
  const bound = (): number | undefined => {
    const m = number() ?? 0; // ERE and ARE bounds start with a digit; BRE ones may not
    let times = Math.max(1, m);
    skip();
    if (peek() === ',') {
      i++;
      const n = number();
      times = n === undefined ? Math.max(2, m + 1) : n > m ? n + 1 : Math.max(1, m);
      skip();
    }
    if (bre) {
      if (peek() !== '\\' || peek(1) !== '}') return undefined;
      i += 2;
    } else {
      if (peek() !== '}') return undefined;
      i++;
      if (advanced && peek() === '?') i++;
    }
    return times;
  };
  /** After `[`: to the end of the bracket expression; false if it has none. */
  const bracket = (): boolean => {
    if (peek() === '^') i++;
    for (let first = true; !end(); first = false) {
      const c = pattern.charAt(i++);
      if (c === ']' && !first) return true;
      if (c === '[' && (peek() === '.' || peek() === '=' || peek() === ':')) {
        const close = pattern.indexOf(`${peek()}]`, i + 1);
        if (close < 0) return false;
        i = close + 2;
      } else if (c === '\\' && advanced) {
        i += peek() === 'c' ? 2 : 1;
      }
    }
    return false;
  };

  // What the last token was, for BRE's leading `*` (plain at the start, after `\(` or `^`).
  type Token = 'start' | '(' | '^' | 'other';
  let last = 'start' as Token;
  while (true) {
    skip();
    if (end()) break;
    const c = pattern.charAt(i++);
    let now: Token = 'other';
    if (c === '[') {
      if (/^\[:[<>]:\]\]/.test(pattern.slice(i, i + 6))) i += 6;
      else if (!bracket()) break;
      item(1);
    } else if (bre) {
      if (c === '*') {
        if (last === 'other') repeat(2);
        else item(1);
      } else if (c === '^') {
        item(1);
        if (last === 'start' || last === '(') now = '^';
      } else if (c === '\\') {
        if (end()) break;
        const e = pattern.charAt(i++);
        if (e === '{') {
          const times = bound();
          if (times === undefined) break;
          repeat(times);
        } else if (e === '(') {
          frames.push({ total: 0, last: 0 });
          now = '(';
        } else if (e === ')') close();
        else item(1);
      } else item(1);
    } else if (c === '|') {
      top().last = 0;
    } else if (c === '*' || c === '+' || c === '?') {
      if (advanced && peek() === '?') i++;
      repeat(2);
    } else if (c === '{') {
      skip();
      if (digit(peek())) {
        const times = bound();
        if (times === undefined) break;
        repeat(times);
      } else item(1);
    } else if (c === '(') {
      if (advanced && peek() === '?') {
        const kind = peek(1);
        i += 2;
        if (kind === '#') {
          const close = pattern.indexOf(')', i);
          i = close < 0 ? pattern.length : close + 1;
          continue;
        }
        if (kind === '<') i++;
        else if (kind !== ':' && kind !== '=' && kind !== '!') break;
      }
      frames.push({ total: 0, last: 0 });
    } else if (c === ')') {
      close();
    } else if (c === '\\') {
      if (end()) break;
      const e = pattern.charAt(i++);
      if (advanced) {
        if (e === 'c') i++;
        else if (e === 'x') while (/^[0-9a-fA-F]$/.test(peek())) i++;
        else if (e === 'u' || e === 'U')
          for (let k = e === 'u' ? 4 : 8; k > 0 && /^[0-9a-fA-F]$/.test(peek()); k--) i++;
        else if (e === '0') for (let k = 2; k > 0 && /^[0-7]$/.test(peek()); k--) i++;
      }
      item(1);
    } else {
      item(1);
    }
    last = now;
  }
  while (frames.length > 1) close();
  return frames[0]?.total ?? 0;
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
 * A Catalog wildcard value cut at its wildcards: `*` matches anything, `**` is a literal `*`,
 * every other character is itself. `a*b**c` is `['a', 'b*c']`; a value without a wildcard is
 * one part.
 */
function wildcardParts(value: string): string[] {
  const parts = [''];
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '*' && value.charAt(i + 1) !== '*') parts.push('');
    else {
      if (c === '*') i++;
      parts[parts.length - 1] += c;
    }
  }
  return parts;
}

/** The LIKE pattern of a Catalog wildcard value (`wildcardParts`). */
function likePattern(value: string): string {
  return wildcardParts(value)
    .map((part) => part.replace(/[%_\\]/g, '\\$&'))
    .join('%');
}

// ---------------------------------------------------------------------------------------------
// SQL

/**
 * How a listing statement finds its rows (`runCatalogList` chooses):
 * - undefined: as the planner likes; the statement holds the scope and the conditions alone.
 * - `{ walk: n }`: the conditions run over only the first `n` rows of the scope in `order` (a
 *   walk of `resources_scope_created` that stops there, or sooner once the page is full).
 * - `'lookup'`: the GIN index `resources_doc` finds the objects that hold the conditions'
 *   containments; scope and conditions are checked on those, and only those are sorted. The
 *   containments sit in a subquery with a `limit`, which the planner neither merges into the
 *   statement nor pushes the scope into, so no btree index on the scope can stand in for the GIN
 *   index (without fresh statistics the planner prefers one, and reads the whole scope). The
 *   index finds the objects of every org, sandbox and kind, so the subquery reads at most
 *   `LOOKUP_ROWS + 1` of them. Each row carries `found`, how many the subquery read; when it
 *   read more than `LOOKUP_ROWS`, every one of them passes (scope and conditions unchecked), so
 *   the page is never empty and `runCatalogList` sees that the lookup was cut short (a lookup
 *   serves pages starting no deeper than `LOOKUP_ROWS`).
 */
export type CatalogPlan = { walk: number } | 'lookup';

/**
 * The listing statement: scope, filters, `order` (a fixed fragment from `catalogOrder`), then
 * `limit`/`offset`, found as `plan` says. Rows are `{ id, body }`, body the stored JSON text
 * (projected when `properties` is given, keeping the stored field order).
 */
export function catalogListSql(
  kind: CatalogKind,
  scope: Scope,
  filter: CatalogFilter,
  order: string,
  page: { start: number; limit: number },
  plan?: CatalogPlan,
): { text: string; params: unknown[] } {
  const p = new Params();
  const inScope = [
    `kind = ${p.add(kind)}`,
    `org_id = ${p.add(scope.orgId)}`,
    `sandbox = ${p.add(scope.sandbox)}`,
  ];
  let from = 'resources';
  let cut = '';
  if (plan === 'lookup') {
    const found = lookupDocs(filter).map((docs) => anyContains(docs, p));
    from = `(select *, count(*) over () as found
        from (select * from resources where ${found.join(' and ')} limit ${p.add(LOOKUP_ROWS + 1)}) as capped
      ) as looked_up`;
    cut = `found > ${p.add(LOOKUP_ROWS)} or `;
  } else if (plan) {
    // A subquery, not a materialized CTE: the walk streams through the conditions and stops as
    // soon as the page is full.
    from = `(select * from resources where ${inScope.join(' and ')}
        order by ${order} limit ${p.add(plan.walk)}) as walked`;
  }
  const where = [
    ...(plan && plan !== 'lookup' ? [] : inScope),
    ...filter.conditions.map((c) => conditionSql(c, p)),
  ];
  const body = filter.properties
    ? `(select coalesce(json_object_agg(e.key, e.value order by e.n), '{}')
         from json_each(coalesce(body, doc::text)::json) with ordinality as e(key, value, n)
         where e.key = any(${p.add(filter.properties)}::text[]))::text`
    : 'coalesce(body, doc::text)';
  const found = plan === 'lookup' ? ', found' : '';
  return {
    text: `select id, ${body} as body${found} from ${from}${where.length ? ` where ${cut}(${where.join(' and ')})` : ''}
           order by ${order} limit ${p.add(page.limit)} offset ${p.add(page.start)}`,
    params: p.values,
  };
}

/**
 * The most objects a lookup reads from the GIN index before it gives up for the planner's own
 * plan. The index holds every org's, sandbox's and kind's objects, and the scope is checked only
 * on those read, so this bounds what another tenant's matching objects cost a listing (decision
 * 0012, addendum "A lookup reads at most 5,000 objects").
 */
export const LOOKUP_ROWS = 5000;

/**
 * The most documents a lookup asks the GIN index for, once it has the conditions' fewest
 * (`lookupDocs`). Any one condition's containment finds every object the listing keeps; more of
 * them find fewer objects to read, but each document is an index search.
 */
const MAX_LOOKUP_DOCS = 32;

/**
 * The containments a lookup finds its objects by (all must hold, one document of each): the
 * conditions' with the fewest documents first, as many as `MAX_LOOKUP_DOCS` allows; none (no
 * lookup) when even the fewest are more than that.
 */
function lookupDocs(filter: CatalogFilter): string[][] {
  const all = filter.conditions
    .map(containmentOf)
    .filter((docs): docs is string[] => docs !== undefined)
    .sort((a, b) => a.length - b.length);
  let total = 0;
  return all.filter((docs) => {
    total += docs.length;
    return total <= MAX_LOOKUP_DOCS;
  });
}

/** `doc` contains one of `docs` (JSON texts): the GIN index `resources_doc` finds these. */
function anyContains(docs: string[], p: Params): string {
  return `(${docs.map((d) => `doc @> ${p.add(d)}::jsonb`).join(' or ')})`;
}

/**
 * The most colons a `tags=` token may hold and still be looked up through the GIN index: the tag
 * name may end at any of them, and each adds up to four documents to look up.
 */
const MAX_TAG_SPLITS = 8;

/**
 * Documents (JSON texts) such that every object the condition keeps contains at least one of
 * them, or undefined when there are none: a negation, a `*` wildcard, a range, a regex, a field's
 * presence or absence. The GIN index `resources_doc` (`jsonb_path_ops`) finds the objects that
 * contain a document, so a selective condition need not read every object of the sandbox.
 * - `dataSet=a,b`: the batch's `relatedObjects` link (the condition is this containment).
 * - `field=a,b` and `property=field==a`: `{field: "a"}`, plus `{field: a}` when `a` is a number
 *   (jsonb compares numbers by value, as the condition does) or `true`/`false`. For `name`,
 *   values with a `*` wildcard have none; `**` is a literal `*`.
 * - `tags=k:v` with no wildcard in `v`: for each colon the tag name may end at, the tag holding
 *   `v` as an element of its array or as its single value, as a string and, when `v` is a number
 *   or `true`/`false`, as that too (the condition compares an element's text, and jsonb compares
 *   numbers by value, so `5.0` is among the objects found for `5` and the condition drops it).
 *   A `v` that reads as other JSON (an object, an array, a number written otherwise) has none:
 *   an element of that type may have `v` as its text.
 * Objects found are a superset: the condition itself still decides.
 */
function containmentOf(c: Condition): string[] | undefined {
  switch (c.kind) {
    case 'dataSet':
      return c.negate ? undefined : dataSetDocs(c.ids);
    case 'equals':
      return c.negate ? undefined : equalsContainment(c.field, c.values);
    case 'tag':
      return tagContainment(c.token);
    default:
      return undefined;
  }
}

/** A batch's link to each of the datasets `ids`, as in its `relatedObjects`. */
function dataSetDocs(ids: string[]): string[] {
  return ids.map((id) => JSON.stringify({ relatedObjects: [{ type: 'dataSet', id }] }));
}

function equalsContainment(field: string, values: string[]): string[] | undefined {
  const key = JSON.stringify(field);
  const docs: string[] = [];
  for (const value of values) {
    const text = field === 'name' ? literalOf(value) : value;
    if (text === undefined) return undefined;
    docs.push(`{${key}:${JSON.stringify(text)}}`);
    if (value === 'true' || value === 'false' || NUMBER.test(value)) docs.push(`{${key}:${value}}`);
  }
  return docs;
}

function tagContainment(token: string): string[] | undefined {
  const docs: string[] = [];
  let splits = 0;
  for (let at = token.indexOf(':', 1); at >= 0; at = token.indexOf(':', at + 1)) {
    if (++splits > MAX_TAG_SPLITS) return undefined;
    const key = JSON.stringify(token.slice(0, at));
    const value = literalOf(token.slice(at + 1));
    if (value === undefined) return undefined;
    const forms = [JSON.stringify(value)];
    if (value === 'true' || value === 'false' || NUMBER.test(value)) forms.push(value);
    else if (readsAsJson(value)) return undefined;
    for (const form of forms) docs.push(`{"tags":{${key}:[${form}]}}`, `{"tags":{${key}:${form}}}`);
  }
  return docs;
}

/** A Catalog wildcard value without its wildcards (`**` is a literal `*`), or undefined if it has one. */
function literalOf(value: string): string | undefined {
  const parts = wildcardParts(value);
  return parts.length === 1 ? parts[0] : undefined;
}

/** `value` parses as JSON to something other than a string or null. */
function readsAsJson(value: string): boolean {
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed !== 'string';
  } catch {
    return false;
  }
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
      return `(jsonb_typeof(doc -> ${k}::text) = 'string'
        and left(doc ->> ${k}::text, ${REGEX_WINDOW}) ~ ${p.add(c.pattern)}::text)`;
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
      const anyOf = anyContains(dataSetDocs(c.ids), p);
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

/**
 * Rows a walk of the scope in `resources_scope_created` order reads, per row the page needs
 * (`start + limit`), before the listing turns to the GIN index instead; at least
 * `MIN_WALK_ROWS` and at most `WINDOW_ROWS` (list-query.ts). A filter that keeps fewer than one
 * object in `WALK_ROWS_PER_ROW` at the top of the order is looked up through the index.
 */
const WALK_ROWS_PER_ROW = 50;
const MIN_WALK_ROWS = 500;

/**
 * How many rows of the scope a walk in `order` may read before the GIN index takes over, or
 * undefined when no index gives that order (the rows are sorted anyway) or the page lies too
 * deep for a walk to be cheap.
 */
function walkRows(order: string, page: { start: number; limit: number }): number | undefined {
  if (!order.startsWith('created_at ')) return undefined;
  const needed = page.start + page.limit;
  const rows = Math.min(WINDOW_ROWS, Math.max(MIN_WALK_ROWS, WALK_ROWS_PER_ROW * needed));
  return needed < rows ? rows : undefined;
}

/** SQLSTATE 2201B: invalid_regular_expression. */
function isInvalidRegex(e: unknown): e is { message?: string } {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '2201B';
}

/**
 * Compiles each `~` regex on its own first, so a bad one is a 400 naming it even when no row
 * would have reached it; then runs the listing. Returns rows in order as `[id, object]`.
 * PGlite answers a regex too big to compile (PostgreSQL: "regular expression is too complex")
 * with no row and no error, and a listing using it may then spin: that is a 400 too, although
 * `REGEX_BUDGET` keeps such patterns from getting this far.
 *
 * The plan (decision 0012, addendum "Catalog listings and their plans"): PGlite's planner cannot
 * be relied on to tell a selective containment from an unselective one (it estimates one from a
 * sample of whole documents, and knows nothing of the rows added since the last `analyze`, when
 * it walks the whole scope), so with a condition the GIN index can serve (`containmentOf`) the
 * listing chooses. In `created` order it first walks the newest (or oldest) `walkRows` rows of
 * the scope; a full page there is the right page, found at the cost of a plain walk. Otherwise,
 * and for orders no index gives, the GIN index finds the matching objects (`lookupDocs`,
 * `queryWithBitmapScans`) and only those are sorted, if they are at most `LOOKUP_ROWS` in the
 * whole store. Without such a condition, with `batch=` (the primary key finds those, and the
 * planner knows it), with more matches than that (other tenants' count too, so the lookup stops
 * there) or a page deeper than that, the planner's own plan stands: the ordered walk with its
 * limit, or a read of the scope, whose cost is the caller's own data.
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
    const compiled = await db.query(`select '' ~ $1::text as m`, [pattern]).catch((e: unknown) => {
      throw isInvalidRegex(e)
        ? invalid('property', `${source}: ${e.message ?? 'invalid regular expression'}`)
        : e;
    });
    if (compiled.rows.length !== 1) {
      throw invalid('property', `${safeName(source)}: regular expression is too complex`);
    }
  }
  type Row = { id: string; body: string; found?: number | bigint };
  const run = async (sql: { text: string; params: unknown[] }, bitmap: boolean) => {
    const res = await (bitmap
      ? queryWithBitmapScans<Row>(db, sql)
      : db.query<Row>(sql.text, sql.params)
    ).catch((e: unknown) => {
      throw isInvalidRegex(e) ? invalid('property', e.message ?? 'invalid regular expression') : e;
    });
    return res.rows;
  };
  let rows: Row[] | undefined;
  // `batch=a,b` names its rows: the primary key finds them, and the planner knows it.
  const byId = filter.conditions.some((c) => c.kind === 'ids' && !c.negate);
  if (!byId && lookupDocs(filter).length > 0) {
    const walk = walkRows(order, page);
    if (walk !== undefined) {
      const found = await run(catalogListSql(kind, scope, filter, order, page, { walk }), false);
      if (found.length === page.limit) rows = found;
    }
    if (!rows && page.start <= LOOKUP_ROWS) {
      const found = await run(catalogListSql(kind, scope, filter, order, page, 'lookup'), true);
      // More than LOOKUP_ROWS objects hold the containments (in any scope): the planner's plan,
      // whose cost is the scope's own.
      if (!found.some((row) => Number(row.found) > LOOKUP_ROWS)) rows = found;
    }
  }
  rows ??= await run(catalogListSql(kind, scope, filter, order, page), false);
  return rows.map((row) => [
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
