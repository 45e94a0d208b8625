import { createHash, randomUUID } from 'node:crypto';
import {
  compileDatePattern,
  DateTimeError,
  formatDate,
  fromFields,
  inZone,
  isoWeek,
  localFields,
  toIsoString,
  toZonedTime,
  type ZonedTime,
  zoneRule,
} from './datetime.js';
import { nestedRepetition } from './regex-safety.js';

/**
 * A function or operator that cannot produce a value for this record (`to_integer("abc")`). The
 * compiled mapping catches it and reports `{path, reason: message}`; the record's other fields
 * still map.
 */
export class MappingFunctionError extends Error {
  override readonly name = 'MappingFunctionError';
}

/** What a compiled mapping set's functions need from outside: the clock and an id source. */
export interface FunctionContext {
  now: () => Date;
  uuid: () => string;
}

/** One Data Prep function: how many arguments it takes and what it does. */
export interface FunctionSpec {
  /** Category as in the Data Prep function reference (`String`, `Date and time`, …). */
  category: string;
  /** Call shape, e.g. `substr(INPUT, START_INDEX, LENGTH?)`. */
  syntax: string;
  /** Fewest arguments. */
  min: number;
  /** Most arguments (`Infinity` for variadic). */
  max: number;
  /** `false` for Inflow additions the Data Prep reference does not list. */
  documented: boolean;
  impl: (...args: never[]) => unknown;
}

type Fn = (...args: never[]) => unknown;

const fail = (fn: string, reason: string): never => {
  throw new MappingFunctionError(`${fn}: ${reason}`);
};

function show(value: unknown): string {
  if (value === undefined) return 'a missing value';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** How a value reads as text: strings as they are, numbers and booleans as JS prints them, the rest as JSON. */
export function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? String(value);
}

// Unambiguous on purpose: `\d+\.?\d*` backtracks quadratically on a long run of digits that fails.
const NUMERIC = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** A number from a number or numeric text; throws naming `fn` otherwise. */
export function toNumber(fn: string, value: unknown): number {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) fail(fn, 'NaN is not a number');
    return value;
  }
  if (typeof value === 'string' && NUMERIC.test(value)) return Number(value);
  return fail(fn, `${show(value)} is not a number`);
}

function intArg(fn: string, value: unknown, what: string): number {
  const n = toNumber(fn, value);
  if (!Number.isInteger(n)) fail(fn, `${what} must be a whole number, not ${show(value)}`);
  return n;
}

function textArg(fn: string, value: unknown, what: string): string {
  if (value == null) fail(fn, `${what} is required`);
  return toText(value);
}

/** Compiled patterns by flags and source, or why one is refused (checked once, not per record). */
const regexCache = new Map<string, RegExp | string>();

/**
 * The longest text `lpad` and `rpad` make. A COUNT of hundreds of millions made a string of that
 * size from a request of a few hundred bytes (or, past V8's limit, an internal error); padding is
 * for codes and identifiers.
 */
export const MAX_PAD = 65_536;

function regex(fn: string, source: string, flags = ''): RegExp {
  const key = `${flags}/${source}`;
  let re = regexCache.get(key);
  if (re === undefined) {
    re = compileRegex(source, flags);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(key, re);
  }
  if (typeof re === 'string') return fail(fn, re);
  re.lastIndex = 0;
  return re;
}

/** A pattern compiled, or why it is refused: not valid, or one that backtracks exponentially. */
function compileRegex(source: string, flags: string): RegExp | string {
  const problem = nestedRepetition(source);
  if (problem) return `the regular expression ${show(source)} is refused: ${problem}`;
  try {
    return new RegExp(source, flags);
  } catch (error) {
    return `invalid regular expression ${show(source)}: ${(error as Error).message}`;
  }
}

/** Java's `String.split`: trailing empty strings are dropped. */
function javaSplit(text: string, separator: RegExp | string): string[] {
  const parts = text.split(separator);
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function date(fn: string, value: unknown): ZonedTime {
  const time = toZonedTime(value);
  if (!time)
    fail(fn, `${show(value)} is not a date (write ISO-8601, or parse it first with date(value, "pattern"))`);
  return time as ZonedTime;
}

function pattern(fn: string, value: unknown) {
  if (typeof value !== 'string') return fail(fn, `the format must be a string, not ${show(value)}`);
  try {
    return compileDatePattern(value);
  } catch (error) {
    return fail(fn, (error as Error).message);
  }
}

function withDates<T extends Fn>(fn: string, impl: T): T {
  return ((...args: never[]) => {
    try {
      return impl(...args);
    } catch (error) {
      if (error instanceof DateTimeError) fail(fn, error.message);
      throw error;
    }
  }) as T;
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function setKey(fn: string, target: Record<string, unknown>, key: unknown, value: unknown): void {
  const name = textArg(fn, key, 'a key');
  if (UNSAFE_KEYS.has(name)) fail(fn, `the key ${show(name)} is not allowed`);
  target[name] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmpty(value: unknown): boolean {
  if (value == null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isPlainObject(value)) return Object.keys(value).length === 0;
  return false;
}

const TRUE_WORDS = new Set(['y', 'yes', 'on', 'true', 't', '1']);
const FALSE_WORDS = new Set(['n', 'no', 'off', 'false', 'f', '0']);

const hash =
  (fn: string, algorithm: string) =>
  (input: unknown, charset?: unknown): string | null | undefined => {
    if (input == null) return input as null | undefined;
    const cs = charset == null ? 'UTF-8' : toText(charset).toUpperCase();
    let encoding: 'utf8' | 'latin1' | 'utf16le';
    if (cs === 'UTF-8' || cs === 'UTF8') encoding = 'utf8';
    else if (cs === 'ISO-8859-1' || cs === 'US-ASCII' || cs === 'ASCII' || cs === 'LATIN1')
      encoding = 'latin1';
    else if (cs === 'UTF-16LE') encoding = 'utf16le';
    else return fail(fn, `charset ${show(charset)} is not supported (UTF-8, ISO-8859-1, US-ASCII, UTF-16LE)`);
    return createHash(algorithm).update(toText(input), encoding).digest('hex');
  };

let crcTable: Int32Array | undefined;

function crc32(input: unknown, charset?: unknown): string | null | undefined {
  if (input == null) return input as null | undefined;
  const cs = charset == null ? 'UTF-8' : toText(charset).toUpperCase();
  const latin = cs === 'ISO-8859-1' || cs === 'US-ASCII' || cs === 'ASCII';
  if (!latin && cs !== 'UTF-8' && cs !== 'UTF8')
    fail('crc32', `charset ${show(charset)} is not supported (UTF-8, ISO-8859-1, US-ASCII)`);
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  const bytes = Buffer.from(toText(input), latin ? 'latin1' : 'utf8');
  let crc = -1;
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  // The service prints the checksum's bytes least significant first: crc32("my text") is 8df92e80
  // (reference §7), where zlib's big-endian hex is 802ef98d.
  const value = (crc ^ -1) >>> 0;
  const le = ((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24);
  return (le >>> 0).toString(16).padStart(8, '0');
}

const DEFAULT_PORTS: Record<string, number> = {
  http: 80,
  https: 443,
  ftp: 21,
  sftp: 22,
  ssh: 22,
  ws: 80,
  wss: 443,
  ldap: 389,
  smtp: 25,
};

function url(fn: string, value: unknown): URL {
  try {
    return new URL(toText(value));
  } catch {
    return fail(fn, `${show(value)} is not a URL`);
  }
}

/** Java's `URLEncoder.encode(s, UTF-8)`: space is `+`, only `A-Za-z0-9.-*_` stay as they are. */
function javaUrlEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/%20/g, '+')
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const COMPONENTS: Record<string, string> = {
  year: 'year',
  yyyy: 'year',
  yy: 'year',
  quarter: 'quarter',
  qq: 'quarter',
  q: 'quarter',
  month: 'month',
  mm: 'month',
  m: 'month',
  dayofyear: 'dayofyear',
  dy: 'dayofyear',
  y: 'dayofyear',
  day: 'day',
  dd: 'day',
  d: 'day',
  week: 'week',
  ww: 'week',
  w: 'week',
  weekday: 'weekday',
  dw: 'weekday',
  hour: 'hour',
  hh: 'hour',
  hh24: 'hour',
  hh12: 'hour12',
  minute: 'minute',
  mi: 'minute',
  n: 'minute',
  second: 'second',
  ss: 'second',
  s: 'second',
  millisecond: 'millisecond',
  sss: 'millisecond',
};

function component(fn: string, value: unknown): string {
  const name = typeof value === 'string' ? COMPONENTS[value.toLowerCase()] : undefined;
  if (!name)
    return fail(
      fn,
      `${show(value)} is not a date component (year, quarter, month, dayofyear, day, week, weekday, hour, minute, second, millisecond)`,
    );
  return name;
}

function flatten(values: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of values) {
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

function extreme(fn: string, values: readonly unknown[], sign: 1 | -1): unknown {
  let best: unknown;
  for (const v of flatten(values)) {
    if (v == null) continue;
    if (best === undefined) {
      best = v;
      continue;
    }
    const c = compare(fn, v, best);
    if (c * sign < 0) best = v;
  }
  return best === undefined ? null : best;
}

/** Orders two values: numbers (and numeric text) by value, text by code unit; throws for anything else. */
export function compare(fn: string, a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') {
    if (NUMERIC.test(a) && NUMERIC.test(b)) return Number(a) - Number(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if ((typeof a === 'number' || typeof a === 'string') && (typeof b === 'number' || typeof b === 'string')) {
    return toNumber(fn, a) - toNumber(fn, b);
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return fail(fn, `cannot compare ${show(a)} with ${show(b)}`);
}

/** Data Prep's equality: same value, numbers equal to their numeric text, null equal to missing. */
export function looseEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a == null || b == null) return a == null && b == null;
  if (typeof a === 'number' && typeof b === 'string') return NUMERIC.test(b) && Number(b) === a;
  if (typeof a === 'string' && typeof b === 'number') return NUMERIC.test(a) && Number(a) === b;
  return false;
}

function toInteger(
  fn: string,
  value: unknown,
  min: number,
  max: number,
  hint: string,
): number | null | undefined {
  if (value == null) return value as null | undefined;
  let n: number;
  if (typeof value === 'boolean') n = value ? 1 : 0;
  else if (typeof value === 'number' || typeof value === 'string') n = Math.trunc(toNumber(fn, value));
  else return fail(fn, `${show(value)} is not a number`);
  if (!Number.isFinite(n) || n < min || n > max) fail(fn, `${show(value)} is out of range${hint}`);
  return n === 0 ? 0 : n;
}

function toFloat(fn: string, value: unknown): number | null | undefined {
  if (value == null) return value as null | undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  const n = toNumber(fn, value);
  if (!Number.isFinite(n)) fail(fn, `${show(value)} is out of range`);
  return n;
}

const numeric =
  (fn: string, op: (n: number) => number) =>
  (value: unknown): number | null | undefined =>
    value == null ? (value as null | undefined) : op(toNumber(fn, value));

const text =
  (op: (s: string) => string) =>
  (value: unknown): string | null | undefined =>
    value == null ? (value as null | undefined) : op(toText(value));

/**
 * The Data Prep function catalogue (reference §7, the Data Prep functions reference), bound to a
 * clock and an id source. Names are the service's; `documented: false` marks Inflow additions.
 */
export function createFunctions(context: FunctionContext): Record<string, FunctionSpec> {
  const specs: Record<string, FunctionSpec> = Object.create(null);
  const def = (
    category: string,
    syntax: string,
    min: number,
    max: number,
    impl: Fn,
    documented = true,
  ): FunctionSpec => {
    const name = syntax.slice(0, syntax.indexOf('('));
    const spec: FunctionSpec = { category, syntax, min, max, documented, impl };
    specs[name] = spec;
    return spec;
  };
  const alias = (name: string, of: string) => {
    specs[name] = specs[of] as FunctionSpec;
  };

  // String
  def('String', 'concat(STRING, …)', 0, Infinity, (...values: unknown[]) => {
    let out = '';
    let any = false;
    let sawNull = false;
    for (const v of values) {
      if (v == null) {
        if (v === null) sawNull = true;
        continue;
      }
      any = true;
      out += toText(v);
    }
    return any ? out : sawNull ? null : undefined;
  });
  def('String', 'explode(STRING, REGEX?)', 1, 2, (s: unknown, re?: unknown) =>
    s == null ? s : javaSplit(toText(s), regex('explode', re == null ? ',' : toText(re))),
  );
  def(
    'String',
    'instr(INPUT, SUBSTRING, START_POSITION?, OCCURRENCE?)',
    2,
    4,
    (s: unknown, sub: unknown, start?: unknown, occurrence?: unknown) => {
      if (s == null) return s;
      const hay = toText(s);
      const needle = textArg('instr', sub, 'SUBSTRING');
      let from = start == null ? 0 : intArg('instr', start, 'START_POSITION');
      const nth = occurrence == null ? 1 : intArg('instr', occurrence, 'OCCURRENCE');
      if (nth < 1) fail('instr', 'OCCURRENCE must be 1 or more');
      let at = -1;
      for (let i = 0; i < nth; i++) {
        at = hay.indexOf(needle, from);
        if (at < 0) return -1;
        from = at + 1;
      }
      return at;
    },
  );
  def('String', 'replacestr(INPUT, TO_FIND, TO_REPLACE)', 3, 3, (s: unknown, find: unknown, repl: unknown) =>
    s == null
      ? s
      : toText(s).replaceAll(textArg('replacestr', find, 'TO_FIND'), repl == null ? '' : toText(repl)),
  );
  def(
    'String',
    'substr(INPUT, START_INDEX, LENGTH?)',
    2,
    3,
    (s: unknown, start: unknown, length?: unknown) => {
      if (s == null) return s;
      const str = toText(s);
      const from = Math.max(0, intArg('substr', start, 'START_INDEX'));
      if (length == null) return str.slice(from);
      const len = intArg('substr', length, 'LENGTH');
      if (len < 0) fail('substr', 'LENGTH must not be negative');
      return str.slice(from, from + len);
    },
  );
  def(
    'String',
    'lower(INPUT)',
    1,
    1,
    text((s) => s.toLowerCase()),
  );
  alias('lcase', 'lower');
  def(
    'String',
    'upper(INPUT)',
    1,
    1,
    text((s) => s.toUpperCase()),
  );
  alias('ucase', 'upper');
  def('String', 'split(INPUT, SEPARATOR)', 2, 2, (s: unknown, sep: unknown) =>
    s == null ? s : javaSplit(toText(s), textArg('split', sep, 'SEPARATOR')),
  );
  def('String', 'join(SEPARATOR, OBJECTS…)', 1, Infinity, (sep: unknown, ...values: unknown[]) => {
    const parts = flatten(values).filter((v) => v != null);
    return parts.map(toText).join(sep == null ? '' : toText(sep));
  });
  const padder = (fn: string, left: boolean) => (s: unknown, count: unknown, padding: unknown) => {
    if (s == null) return s;
    const n = intArg(fn, count, 'COUNT');
    if (n > MAX_PAD) fail(fn, `COUNT must be at most ${MAX_PAD.toLocaleString('en')}, not ${show(count)}`);
    const p = textArg(fn, padding, 'PADDING');
    if (p === '') fail(fn, 'PADDING must not be empty');
    return left ? toText(s).padStart(n, p) : toText(s).padEnd(n, p);
  };
  def('String', 'lpad(INPUT, COUNT, PADDING)', 3, 3, padder('lpad', true));
  def('String', 'rpad(INPUT, COUNT, PADDING)', 3, 3, padder('rpad', false));
  def('String', 'left(STRING, COUNT)', 2, 2, (s: unknown, count: unknown) =>
    s == null ? s : toText(s).slice(0, Math.max(0, intArg('left', count, 'COUNT'))),
  );
  def('String', 'right(STRING, COUNT)', 2, 2, (s: unknown, count: unknown) => {
    if (s == null) return s;
    const n = Math.max(0, intArg('right', count, 'COUNT'));
    const str = toText(s);
    return n === 0 ? '' : str.slice(-n);
  });
  def(
    'String',
    'ltrim(STRING)',
    1,
    1,
    text((s) => s.trimStart()),
  );
  def(
    'String',
    'rtrim(STRING)',
    1,
    1,
    text((s) => s.trimEnd()),
  );
  def(
    'String',
    'trim(STRING)',
    1,
    1,
    text((s) => s.trim()),
  );
  def(
    'String',
    'length(INPUT)',
    1,
    1,
    (s: unknown) => (s == null ? s : Array.isArray(s) ? s.length : toText(s).length),
    false,
  );
  def('String', 'to_string(INPUT)', 1, 1, (s: unknown) => (s == null ? s : toText(s)), false);

  // Regular expressions
  def('Regular expression', 'matches_regex(STRING, REGEX)', 2, 2, (s: unknown, re: unknown) =>
    s == null
      ? false
      : regex('matches_regex', `^(?:${textArg('matches_regex', re, 'REGEX')})$`, 'u').test(toText(s)),
  );
  def('Regular expression', 'extract_regex(STRING, REGEX)', 2, 2, (s: unknown, re: unknown) => {
    if (s == null) return s;
    const m = regex('extract_regex', textArg('extract_regex', re, 'REGEX'), 'u').exec(toText(s));
    return m ? Array.from(m, (g) => (g === undefined ? null : g)) : null;
  });

  // Hashing
  def('Hashing', 'sha1(INPUT, CHARSET?)', 1, 2, hash('sha1', 'sha1'));
  def('Hashing', 'sha256(INPUT, CHARSET?)', 1, 2, hash('sha256', 'sha256'));
  def('Hashing', 'sha512(INPUT, CHARSET?)', 1, 2, hash('sha512', 'sha512'));
  def('Hashing', 'md5(INPUT, CHARSET?)', 1, 2, hash('md5', 'md5'));
  def('Hashing', 'crc32(INPUT, CHARSET?)', 1, 2, crc32);

  // URL
  def('URL', 'get_url_protocol(URL)', 1, 1, (u: unknown) =>
    u == null ? u : url('get_url_protocol', u).protocol.replace(/:$/, ''),
  );
  def('URL', 'get_url_host(URL)', 1, 1, (u: unknown) => (u == null ? u : url('get_url_host', u).hostname));
  def('URL', 'get_url_port(URL)', 1, 1, (u: unknown) => {
    if (u == null) return u;
    const parsed = url('get_url_port', u);
    if (parsed.port !== '') return Number(parsed.port);
    return DEFAULT_PORTS[parsed.protocol.replace(/:$/, '')] ?? null;
  });
  def('URL', 'get_url_path(URL, FULL_PATH?)', 1, 2, (u: unknown, full?: unknown) => {
    if (u == null) return u;
    const parsed = url('get_url_path', u);
    return full === true ? `${parsed.pathname}${parsed.search}${parsed.hash}` : parsed.pathname;
  });
  def('URL', 'get_url_query_str(URL, ANCHOR)', 2, 2, (u: unknown, anchor: unknown) => {
    if (u == null) return u;
    const parsed = url('get_url_query_str', u);
    const query = parsed.search.replace(/^\?/, '');
    const fragment = parsed.hash.replace(/^#/, '');
    switch (anchor) {
      case 'retain':
        return fragment ? `${query}#${fragment}` : query;
      case 'remove':
        return query;
      case 'append':
        return fragment ? (query ? `${query}&${fragment}` : fragment) : query;
      default:
        return fail(
          'get_url_query_str',
          `ANCHOR must be "retain", "remove" or "append", not ${show(anchor)}`,
        );
    }
  });
  def('URL', 'get_url_encoded(URL)', 1, 1, text(javaUrlEncode));
  def('URL', 'get_url_decoded(URL)', 1, 1, (u: unknown) => {
    if (u == null) return u;
    try {
      return decodeURIComponent(toText(u).replace(/\+/g, ' '));
    } catch {
      return fail('get_url_decoded', `${show(u)} is not URL-encoded text`);
    }
  });

  // Date and time
  const nowTime = (): ZonedTime => {
    const d = context.now();
    return { ms: d.getTime(), nanos: 0, offset: 0 };
  };
  def('Date and time', 'now()', 0, 0, () => toIsoString(nowTime()));
  def('Date and time', 'timestamp()', 0, 0, () => context.now().getTime());
  def(
    'Date and time',
    'format(DATE, FORMAT)',
    2,
    2,
    withDates('format', (d: unknown, f: unknown) => {
      if (d == null) return d;
      return formatDate(date('format', d), pattern('format', f));
    }),
  );
  def(
    'Date and time',
    'dformat(TIMESTAMP, FORMAT)',
    2,
    2,
    withDates('dformat', (ms: unknown, f: unknown) => {
      if (ms == null) return ms;
      return formatDate(date('dformat', toNumber('dformat', ms)), pattern('dformat', f));
    }),
  );
  def(
    'Date and time',
    'date(DATE, FORMAT?, DEFAULT_DATE?)',
    1,
    3,
    withDates('date', (d: unknown, f?: unknown, fallback?: unknown) => {
      if (d == null) return fallback == null ? d : toIsoString(date('date', fallback));
      const p = f == null ? undefined : pattern('date', f);
      const time = toZonedTime(d, p);
      if (!time)
        fail(
          'date',
          `${show(d)} does not match ${p ? `the format ${show(p.source)}` : 'ISO-8601 or any of the fallback formats'}`,
        );
      return toIsoString(time as ZonedTime);
    }),
  );
  def(
    'Date and time',
    'date_part(COMPONENT, DATE)',
    2,
    2,
    withDates('date_part', (c: unknown, d: unknown) => {
      const part = component('date_part', c);
      if (d == null) return d;
      const f = localFields(date('date_part', d));
      switch (part) {
        case 'year':
          return f.year;
        case 'quarter':
          return Math.ceil(f.month / 3);
        case 'month':
          return f.month;
        case 'dayofyear':
          return f.dayOfYear;
        case 'day':
          return f.day;
        case 'week':
          return isoWeek(f);
        case 'weekday':
          return f.weekday;
        case 'hour':
          return f.hour;
        case 'hour12':
          return f.hour % 12 === 0 ? 12 : f.hour % 12;
        case 'minute':
          return f.minute;
        case 'second':
          return f.second;
        default:
          return Math.floor(f.nano / 1_000_000);
      }
    }),
  );
  def(
    'Date and time',
    'set_date_part(COMPONENT, VALUE, DATE)',
    3,
    3,
    withDates('set_date_part', (c: unknown, v: unknown, d: unknown) => {
      const part = component('set_date_part', c);
      if (d == null) return d;
      const time = date('set_date_part', d);
      const value = intArg('set_date_part', v, 'VALUE');
      const f = localFields(time);
      const fields = {
        year: f.year,
        month: f.month,
        day: f.day,
        hour: f.hour,
        minute: f.minute,
        second: f.second,
        nano: f.nano,
      };
      switch (part) {
        case 'year':
        case 'month':
        case 'day':
        case 'hour':
        case 'minute':
        case 'second':
          fields[part] = value;
          break;
        case 'hour12':
          fields.hour = value;
          break;
        case 'millisecond':
          fields.nano = value * 1_000_000 + (f.nano % 1_000_000);
          break;
        default:
          fail(
            'set_date_part',
            `${show(c)} cannot be set (year, month, day, hour, minute, second, millisecond)`,
          );
      }
      const rule = time.zone !== undefined ? zoneRule(time.zone) : { fixed: time.offset };
      const result = fromFields(fields, rule);
      if (!result) fail('set_date_part', `${show(v)} is out of range for ${show(c)}`);
      return toIsoString(result as ZonedTime);
    }),
  );
  def(
    'Date and time',
    'make_date_time(YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, NANOSECOND, TIMEZONE)',
    8,
    8,
    withDates('make_date_time', (...args: unknown[]) => {
      const names = ['YEAR', 'MONTH', 'DAY', 'HOUR', 'MINUTE', 'SECOND', 'NANOSECOND'];
      const [year, month, day, hour, minute, second, nano] = names.map((n, i) =>
        intArg('make_date_time', args[i], n),
      ) as [number, number, number, number, number, number, number];
      const rule = zoneRule(textArg('make_date_time', args[7], 'TIMEZONE'));
      const result = fromFields({ year, month, day, hour, minute, second, nano }, rule);
      if (!result) fail('make_date_time', 'a field is out of range');
      return toIsoString(result as ZonedTime);
    }),
  );
  alias('make_timestamp', 'make_date_time');
  def(
    'Date and time',
    'zone_date_to_utc(DATE)',
    1,
    1,
    withDates('zone_date_to_utc', (d: unknown) => {
      if (d == null) return d;
      const time = date('zone_date_to_utc', d);
      return toIsoString({ ms: time.ms, nanos: time.nanos, offset: 0 });
    }),
  );
  def(
    'Date and time',
    'zone_date_to_zone(DATE, ZONE)',
    2,
    2,
    withDates('zone_date_to_zone', (d: unknown, zone: unknown) => {
      if (d == null) return d;
      return toIsoString(inZone(date('zone_date_to_zone', d), textArg('zone_date_to_zone', zone, 'ZONE')));
    }),
  );
  def(
    'Date and time',
    'get_epoch(DATE)',
    1,
    1,
    withDates('get_epoch', (d: unknown) => (d == null ? d : date('get_epoch', d).ms)),
    false,
  );

  // Hierarchies: objects
  def('Objects', 'is_empty(INPUT)', 1, 1, isEmpty);
  def('Objects', 'to_object(KEY, VALUE, …)', 2, Infinity, (...args: unknown[]) => {
    if (args.length % 2 !== 0) fail('to_object', 'takes key/value pairs (an even number of arguments)');
    const out: Record<string, unknown> = {};
    for (let i = 0; i < args.length; i += 2) setKey('to_object', out, args[i], args[i + 1]);
    return out;
  });
  def('Objects', 'arrays_to_object(KEY, ARRAY, …)', 2, Infinity, (...args: unknown[]) => {
    if (args.length % 2 !== 0)
      fail('arrays_to_object', 'takes key/array pairs (an even number of arguments)');
    let length = 0;
    for (let i = 1; i < args.length; i += 2) {
      const a = args[i];
      if (a != null && !Array.isArray(a)) fail('arrays_to_object', `${show(a)} is not an array`);
      length = Math.max(length, (a as unknown[] | null | undefined)?.length ?? 0);
    }
    const out: Record<string, unknown>[] = [];
    for (let row = 0; row < length; row++) {
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < args.length; i += 2) {
        const value = (args[i + 1] as unknown[] | null | undefined)?.[row];
        if (value !== undefined) setKey('arrays_to_object', obj, args[i], value);
      }
      out.push(obj);
    }
    return out;
  });
  def(
    'Objects',
    'str_to_object(STRING, VALUE_DELIMITER?, FIELD_DELIMITER?)',
    1,
    3,
    (s: unknown, vd?: unknown, fd?: unknown) => {
      if (s == null) return s;
      const valueDelim = vd == null ? ':' : toText(vd);
      const fieldDelim = fd == null ? ',' : toText(fd);
      if (valueDelim === '' || fieldDelim === '') fail('str_to_object', 'delimiters must not be empty');
      const out: Record<string, unknown> = {};
      for (const field of toText(s).split(fieldDelim)) {
        if (field === '') continue;
        const at = field.indexOf(valueDelim);
        if (at < 0) fail('str_to_object', `${show(field)} has no ${show(valueDelim)}`);
        setKey('str_to_object', out, field.slice(0, at), field.slice(at + valueDelim.length));
      }
      return out;
    },
  );
  def('Objects', 'nullify()', 0, 0, () => null);
  def('Objects', 'get_keys(OBJECT)', 1, 1, (o: unknown) => {
    if (o == null) return o;
    if (!isPlainObject(o)) fail('get_keys', `${show(o)} is not an object`);
    return Object.keys(o as object);
  });
  def('JSON', 'json_to_object(STRING)', 1, 1, (s: unknown) => {
    if (s == null) return s;
    try {
      return JSON.parse(toText(s));
    } catch (error) {
      return fail('json_to_object', `not JSON: ${(error as Error).message}`);
    }
  });

  // Arrays
  def('Arrays', 'coalesce(VALUE, …)', 1, Infinity, (...values: unknown[]) => {
    for (const v of values) if (v != null) return v;
    return values.includes(null) ? null : undefined;
  });
  const ends =
    (last: boolean) =>
    (...values: unknown[]) => {
      const list = values.length === 1 && Array.isArray(values[0]) ? (values[0] as unknown[]) : values;
      if (list.length === 0) return null;
      return list[last ? list.length - 1 : 0];
    };
  def('Arrays', 'first(VALUE, …)', 1, Infinity, ends(false));
  def('Arrays', 'last(VALUE, …)', 1, Infinity, ends(true));
  def('Arrays', 'add_to_array(ARRAY, VALUES…)', 1, Infinity, (a: unknown, ...values: unknown[]) => {
    const base = a == null ? [] : Array.isArray(a) ? a : [a];
    return [...base, ...values];
  });
  def('Arrays', 'join_arrays(ARRAY, ARRAYS…)', 1, Infinity, (...arrays: unknown[]) =>
    flatten(arrays.filter((a) => a != null)),
  );
  def('Arrays', 'to_array(INCLUDE_NULLS, VALUES…)', 1, Infinity, (include: unknown, ...values: unknown[]) => {
    if (typeof include !== 'boolean')
      fail('to_array', `INCLUDE_NULLS must be true or false, not ${show(include)}`);
    const list = flatten(values);
    return include ? list.map((v) => (v === undefined ? null : v)) : list.filter((v) => v != null);
  });
  def('Arrays', 'size_of(INPUT)', 1, 1, (v: unknown) => {
    if (v == null) return 0;
    if (Array.isArray(v) || typeof v === 'string') return v.length;
    if (isPlainObject(v)) return Object.keys(v).length;
    return fail('size_of', `${show(v)} has no size (an array, an object or a string does)`);
  });
  def('Arrays', 'array_to_string(SEPARATOR, ARRAY)', 2, 2, (sep: unknown, a: unknown) => {
    if (a == null) return a;
    if (!Array.isArray(a)) fail('array_to_string', `${show(a)} is not an array`);
    return (a as unknown[])
      .filter((v) => v != null)
      .map(toText)
      .join(sep == null ? '' : toText(sep));
  });
  def('Arrays', 'upsert_array_append(ARRAY)', 1, 1, (a: unknown) => a);
  def('Arrays', 'upsert_array_replace(ARRAY)', 1, 1, (a: unknown) => a);

  // Logical
  def(
    'Logical operators',
    'decode(KEY, K1, V1, …, DEFAULT?)',
    3,
    Infinity,
    (key: unknown, ...pairs: unknown[]) => {
      const paired = pairs.length - (pairs.length % 2);
      for (let i = 0; i < paired; i += 2) if (looseEquals(key, pairs[i])) return pairs[i + 1];
      return pairs.length % 2 === 1 ? pairs[pairs.length - 1] : null;
    },
  );
  // `iif` is compiled inline so only the chosen branch runs; this is its arity entry.
  def(
    'Logical operators',
    'iif(EXPRESSION, TRUE_VALUE, FALSE_VALUE)',
    3,
    3,
    (c: unknown, a: unknown, b: unknown) => (truthy(c) ? a : b),
  );

  // Aggregation
  def('Aggregation', 'min(VALUES…)', 1, Infinity, (...values: unknown[]) => extreme('min', values, 1));
  def('Aggregation', 'max(VALUES…)', 1, Infinity, (...values: unknown[]) => extreme('max', values, -1));

  // Math (Inflow additions)
  def(
    'Math',
    'round(NUMBER, DIGITS?)',
    1,
    2,
    (v: unknown, digits?: unknown) => {
      if (v == null) return v;
      const n = toNumber('round', v);
      const d = digits == null ? 0 : intArg('round', digits, 'DIGITS');
      if (d < 0 || d > 15) fail('round', 'DIGITS must be 0 to 15');
      const f = 10 ** d;
      // Half away from zero, as Java's RoundingMode.HALF_UP; the epsilon undoes binary noise (1.005).
      return (Math.sign(n) * Math.round(Math.abs(n) * f * (1 + Number.EPSILON))) / f || 0;
    },
    false,
  );
  def('Math', 'ceil(NUMBER)', 1, 1, numeric('ceil', Math.ceil), false);
  def('Math', 'floor(NUMBER)', 1, 1, numeric('floor', Math.floor), false);
  def('Math', 'abs(NUMBER)', 1, 1, numeric('abs', Math.abs), false);

  // Type conversions
  def('Type conversions', 'to_integer(INPUT)', 1, 1, (v: unknown) =>
    toInteger('to_integer', v, -2147483648, 2147483647, ' for an integer (use to_bigint)'),
  );
  def('Type conversions', 'to_bigint(INPUT)', 1, 1, (v: unknown) =>
    toInteger(
      'to_bigint',
      v,
      Number.MIN_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER,
      ' (Inflow keeps integers within ±2^53)',
    ),
  );
  def('Type conversions', 'to_float(INPUT)', 1, 1, (v: unknown) => toFloat('to_float', v));
  def('Type conversions', 'to_decimal(INPUT)', 1, 1, (v: unknown) => toFloat('to_decimal', v));
  def(
    'Type conversions',
    'to_bool(INPUT)',
    1,
    1,
    (v: unknown) => {
      if (v == null || typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      if (typeof v === 'string') {
        const word = v.trim().toLowerCase();
        if (TRUE_WORDS.has(word)) return true;
        if (FALSE_WORDS.has(word)) return false;
      }
      return fail('to_bool', `${show(v)} is not a boolean (true/false, yes/no, y/n, on/off, 1/0)`);
    },
    false,
  );

  // Null handling (Inflow additions; is_set is the old name of contains_key)
  def('Null handling', 'is_null(INPUT)', 1, 1, (v: unknown) => v == null, false);
  // contains_key/is_set take a path and are compiled inline; these entries carry their arity.
  def('Objects', 'contains_key(PATH)', 1, 1, (v: unknown) => v !== undefined);
  def('Null handling', 'is_set(PATH)', 1, 1, (v: unknown) => v !== undefined, false);

  // Special
  def('Special', 'uuid()', 0, 0, () => context.uuid());
  alias('guid', 'uuid');

  return specs;
}

/** JEXL truthiness: `false`, null, missing, 0, NaN and "" are false. */
export function truthy(value: unknown): boolean {
  return (
    value === true ||
    (value !== false && value != null && value !== 0 && value !== '' && !Number.isNaN(value))
  );
}

/** The default id source. */
export const defaultUuid = (): string => randomUUID();
