import type { JsonValue } from '@inflow/core';

/**
 * Built-in type OIDs the connector maps specially (they are fixed in every PostgreSQL release).
 * Every other type (text, varchar, uuid, time, interval, enums, composites, ranges, …) is read
 * as its text output.
 */
export const PG_OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802,
} as const;

/** A `pg_type` row, as much of it as resolving domains and arrays needs. */
export interface PgTypeRow {
  oid: number;
  /** `b` base, `d` domain, `e` enum, `c` composite, `r` range, `m` multirange, `p` pseudo. */
  typtype: string;
  /** `A` for arrays (and a few vector types, told apart by `typarray`). */
  typcategory: string;
  typelem: number;
  typbasetype: number;
  typdelim: string;
  typarray: number;
}

/**
 * A column type reduced to what decoding needs: the OID of the scalar type after domains are
 * resolved (the element type for arrays) and, for arrays, the element delimiter.
 */
export interface PgResolvedType {
  baseOid: number;
  isArray: boolean;
  /** The array element delimiter (`,` for every built-in type except `box`). */
  delimiter: string;
}

/**
 * Resolves domains (over domains, over arrays) to their base type and arrays to their element
 * type. `int2vector`/`oidvector` are category `A` but not arrays (no braces in their text): an
 * array is a type whose element's `typarray` points back at it.
 */
export function resolvePgType(oid: number, types: ReadonlyMap<number, PgTypeRow>): PgResolvedType {
  const unDomain = (row: PgTypeRow | undefined): PgTypeRow | undefined => {
    let current = row;
    for (let depth = 0; current?.typtype === 'd' && depth < 32; depth++)
      current = types.get(current.typbasetype);
    return current;
  };
  const row = unDomain(types.get(oid));
  if (!row) return { baseOid: oid, isArray: false, delimiter: ',' };
  const element = row.typcategory === 'A' && row.typelem !== 0 ? types.get(row.typelem) : undefined;
  if (element && element.typarray === row.oid) {
    const base = unDomain(element) ?? element;
    return { baseOid: base.oid, isArray: true, delimiter: element.typdelim || ',' };
  }
  return { baseOid: row.oid, isArray: false, delimiter: ',' };
}

/** The XDM type a column maps to in `explore`, and its `meta:xdmType`. */
export interface XdmMapping {
  xdm: { type: string; format?: string };
  meta: string;
}

/**
 * The XDM type of a PostgreSQL column: text-like types (and everything without a closer match:
 * uuid, time, interval, enums, money, bytea as base64) → string; smallint/integer/bigint →
 * integer (`short`/`int`/`long`); real, double precision and numeric → number; boolean →
 * boolean; date → string `date`; timestamp and timestamptz → string `date-time`; json/jsonb →
 * object; arrays → array.
 */
export function xdmTypeOf(type: PgResolvedType): XdmMapping {
  if (type.isArray) return { xdm: { type: 'array' }, meta: 'array' };
  switch (type.baseOid) {
    case PG_OID.bool:
      return { xdm: { type: 'boolean' }, meta: 'boolean' };
    case PG_OID.int2:
      return { xdm: { type: 'integer' }, meta: 'short' };
    case PG_OID.int4:
      return { xdm: { type: 'integer' }, meta: 'int' };
    case PG_OID.int8:
    case PG_OID.oid:
      return { xdm: { type: 'integer' }, meta: 'long' };
    case PG_OID.float4:
    case PG_OID.float8:
    case PG_OID.numeric:
      return { xdm: { type: 'number' }, meta: 'number' };
    case PG_OID.date:
      return { xdm: { type: 'string', format: 'date' }, meta: 'date' };
    case PG_OID.timestamp:
    case PG_OID.timestamptz:
      return { xdm: { type: 'string', format: 'date-time' }, meta: 'date-time' };
    case PG_OID.json:
    case PG_OID.jsonb:
      return { xdm: { type: 'object' }, meta: 'object' };
    default:
      return { xdm: { type: 'string' }, meta: 'string' };
  }
}

/** Turns a value's PostgreSQL text output into its JSON value. Never called for NULL. */
export type Converter = (text: string) => JsonValue;

const asText: Converter = (text) => text;

/**
 * `bigint`: a JSON number when it is a safe integer (|n| ≤ 2^53 − 1), otherwise its exact
 * decimal text. Ids and counts stay numbers; nothing is ever rounded.
 */
export function int8Value(text: string): number | string {
  const n = text.length <= 15 ? integerValue(text) : Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/**
 * `Number(text)` for an integer's text (`-?\d+`), read digit by digit up to 15 digits, where
 * the result is exact: a read of a million rows converts millions of these, and V8's general
 * string-to-number path costs several times more. Any other text takes `Number`.
 */
export function integerValue(text: string): number {
  return integerIn(text, 0, text.length) ?? Number(text);
}

/** The integer `text[start, end)` spells (`-?\d{1,15}`), or undefined for any other text. */
function integerIn(text: string, start: number, end: number): number | undefined {
  const negative = text.charCodeAt(start) === 45; /* - */
  let i = negative ? start + 1 : start;
  if (i === end || end - i > 15) return undefined;
  let n = 0;
  for (; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  return negative ? -n : n;
}

const NUMERIC_TEXT = /^-?(\d+)(?:\.(\d+))?$/;
/** The smallest normal double: below it a double keeps fewer than 15 significant digits. */
const MIN_NORMAL = 2.2250738585072014e-308;

/**
 * `numeric`: a JSON number when the double is exactly that decimal for any reader: a safe
 * integer (|n| ≤ 2^53 − 1, fraction zero), or a value of at most 15 significant digits (every
 * such decimal survives the trip through a double and back). Otherwise its exact decimal text,
 * as are `NaN` and `±Infinity`. So `12.50` is `12.5`, while `12345678901234567.89`,
 * `9007199254740993` or `0.1234567890123456789` stay strings: never a silently rounded amount.
 */
export function numericValue(text: string): number | string {
  if (text.length <= 16) {
    const short = decimalIn(text, 0, text.length);
    if (short !== undefined) return short;
  }
  const match = NUMERIC_TEXT.exec(text);
  if (!match) return text;
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction === '' && Number.isSafeInteger(n)) return n;
  const digits = `${match[1]}${fraction}`.replace(/^0+/, '').replace(/0+$/, '');
  if (digits.length > 15) return text;
  if (digits.length === 0) return 0;
  return Math.abs(n) >= MIN_NORMAL ? n : text;
}

const EXACT_POWERS_OF_TEN = Array.from({ length: 16 }, (_, k) => 10 ** k);

/**
 * The value of the decimal text (`-?\d+(\.\d+)?`) at `text[start, end)` when it has at most 15
 * digits, which `numericValue` always returns as a number: its digits as an integer divided by a power of ten. Both are
 * exact doubles, and IEEE division rounds correctly, so this is exactly `Number(text)` (the
 * fast path of Clinger's algorithm). Undefined for any other text.
 */
function decimalIn(text: string, start: number, end: number): number | undefined {
  const negative = text.charCodeAt(start) === 45; /* - */
  let i = negative ? start + 1 : start;
  let n = 0;
  let digits = 0;
  let point = -1;
  for (; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === 46 /* . */ && point === -1 && digits > 0) {
      point = i;
      continue;
    }
    const digit = code - 48;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
    digits++;
  }
  if (digits === 0 || digits > 15 || point === end - 1) return undefined;
  const value = point === -1 ? n : n / (EXACT_POWERS_OF_TEN[end - 1 - point] as number);
  return negative ? -value : value;
}

/** `real`/`double precision`: a number; `NaN` and `±Infinity` (not JSON numbers) as text. */
export function floatValue(text: string): number | string {
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

const TIMESTAMP_TEXT = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$/;
const TIMESTAMPTZ_TEXT = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/**
 * Whether `text` is `YYYY-MM-DD HH:MM:SS[.f…]+00`, what a timestamptz prints in the session's
 * UTC (nearly every value): checked by position, no regular expression, no match array.
 */
function isUtcTimestamptz(text: string, start: number, end: number): boolean {
  const length = end - start;
  if (length < 22 || length === 23 || length > 29) return false;
  if (
    text.charCodeAt(start + 4) !== 45 /* - */ ||
    text.charCodeAt(start + 7) !== 45 ||
    text.charCodeAt(start + 10) !== 32 /* space */ ||
    text.charCodeAt(start + 13) !== 58 /* : */ ||
    text.charCodeAt(start + 16) !== 58 ||
    text.charCodeAt(end - 3) !== 43 /* + */ ||
    text.charCodeAt(end - 2) !== 48 /* 0 */ ||
    text.charCodeAt(end - 1) !== 48
  ) {
    return false;
  }
  if (length > 22 && text.charCodeAt(start + 19) !== 46 /* . */) return false;
  for (let i = 0; i < length - 3; i++) {
    if (i === 4 || i === 7 || i === 10 || i === 13 || i === 16 || i === 19) continue;
    const digit = text.charCodeAt(start + i) - 48;
    if (digit < 0 || digit > 9) return false;
  }
  return true;
}

/**
 * `timestamp with time zone` (output in the session's UTC, DateStyle ISO) as RFC 3339:
 * `2024-03-05 12:34:56.123456+00` → `2024-03-05T12:34:56.123456Z`, keeping microseconds.
 * `infinity`, `-infinity`, BC dates and offsets with seconds stay as PostgreSQL wrote them.
 */
export function timestamptzToIso(text: string): string {
  if (isUtcTimestamptz(text, 0, text.length))
    return `${text.slice(0, 10)}T${text.slice(11, text.length - 3)}Z`;
  const m = TIMESTAMPTZ_TEXT.exec(text);
  if (!m || m[5] !== undefined) return text;
  const offset = m[3] === '+00' && (m[4] === undefined || m[4] === '00') ? 'Z' : `${m[3]}:${m[4] ?? '00'}`;
  return `${m[1]}T${m[2]}${offset}`;
}

/**
 * `timestamp without time zone` as RFC 3339, read as UTC (it carries no zone; UTC is the only
 * reading that does not depend on where Inflow runs): `2024-03-05 12:34:56` →
 * `2024-03-05T12:34:56Z`. `infinity` and BC dates stay as PostgreSQL wrote them.
 */
export function timestampToIso(text: string): string {
  const m = TIMESTAMP_TEXT.exec(text);
  return m ? `${m[1]}T${m[2]}Z` : text;
}

/** `bytea` (hex output, `\x0aff`) as base64. */
export function byteaToBase64(text: string): string {
  return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex').toString('base64') : text;
}

const boolValue: Converter = (text) => text === 't' || text === 'true';
const jsonValue: Converter = (text) => JSON.parse(text) as JsonValue;

function scalarConverter(baseOid: number): Converter {
  switch (baseOid) {
    case PG_OID.bool:
      return boolValue;
    case PG_OID.int2:
    case PG_OID.int4:
    case PG_OID.oid:
      return integerValue;
    case PG_OID.int8:
      return int8Value;
    case PG_OID.float4:
    case PG_OID.float8:
      return floatValue;
    case PG_OID.numeric:
      return numericValue;
    case PG_OID.json:
    case PG_OID.jsonb:
      return jsonValue;
    case PG_OID.timestamp:
      return timestampToIso;
    case PG_OID.timestamptz:
      return timestamptzToIso;
    case PG_OID.bytea:
      return byteaToBase64;
    default:
      return asText;
  }
}

/**
 * The converter for a column: see each value function for the rules. Arrays become JSON arrays
 * (nested for multi-dimensional ones) of converted elements, NULL elements as `null`.
 */
export function converterFor(type: PgResolvedType): Converter {
  const scalar = scalarConverter(type.baseOid);
  if (!type.isArray) return scalar;
  return (text) => parseArrayLiteral(text, scalar, type.delimiter);
}

/**
 * Reads a value from `text[start, end)`: the same value `converterFor(type)` gives for that
 * slice, taken without making the slice where the value is not a string (integers, short
 * decimals, booleans) or is built from parts of it (UTC timestamptz). The COPY read calls one
 * per field of a million rows; every string it does not make is less garbage to collect.
 */
export function readerFor(type: PgResolvedType): (text: string, start: number, end: number) => JsonValue {
  const convert = converterFor(type);
  const sliced = (text: string, start: number, end: number) => convert(text.slice(start, end));
  if (type.isArray) return sliced;
  switch (type.baseOid) {
    case PG_OID.int2:
    case PG_OID.int4:
    case PG_OID.oid:
      return (text, start, end) => integerIn(text, start, end) ?? convert(text.slice(start, end));
    case PG_OID.int8:
      return (text, start, end) =>
        (end - start <= 15 ? integerIn(text, start, end) : undefined) ?? convert(text.slice(start, end));
    case PG_OID.numeric:
      return (text, start, end) =>
        (end - start <= 16 ? decimalIn(text, start, end) : undefined) ?? convert(text.slice(start, end));
    case PG_OID.bool:
      return (text, start, end) =>
        end - start === 1 ? text.charCodeAt(start) === 116 /* t */ : convert(text.slice(start, end));
    case PG_OID.timestamptz:
      return (text, start, end) => {
        if (!isUtcTimestamptz(text, start, end)) return convert(text.slice(start, end));
        // Time and `Z` first: up to 12 characters V8 copies into one string, not a chain of parts.
        const time = `${text.slice(start + 11, end - 3)}Z`;
        return datePrefix(text, start) + time;
      };
    default:
      return sliced;
  }
}

let lastDay = '';
let lastDatePrefix = '';

/**
 * `YYYY-MM-DDT` for the date at `text[start]`: rows read in order mostly share their date,
 * so the last one is kept and reused rather than built again for every row.
 */
function datePrefix(text: string, start: number): string {
  if (lastDay !== '' && text.startsWith(lastDay, start)) return lastDatePrefix;
  lastDay = text.slice(start, start + 10);
  lastDatePrefix = `${lastDay}T`;
  return lastDatePrefix;
}

/**
 * Parses PostgreSQL's array output (`{1,2,NULL}`, `{{"a b","c\"d"},{e,f}}`, with an optional
 * `[0:1]=` bounds prefix), converting each non-NULL element. Throws on malformed text.
 */
export function parseArrayLiteral(text: string, convert: Converter, delimiter = ','): JsonValue[] {
  let i = 0;
  if (text.startsWith('[')) {
    const eq = text.indexOf('=');
    if (eq === -1) throw new Error('malformed array literal: bounds without "="');
    i = eq + 1;
  }
  const fail = (): never => {
    throw new Error(`malformed array literal at offset ${i}`);
  };
  const parseLevel = (): JsonValue[] => {
    if (text[i] !== '{') fail();
    i++;
    const out: JsonValue[] = [];
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      const ch = text[i];
      if (ch === '{') {
        out.push(parseLevel());
      } else if (ch === '"') {
        i++;
        let value = '';
        let start = i;
        for (;;) {
          const next = text.indexOf('"', i);
          const backslash = text.indexOf('\\', i);
          if (next === -1) fail();
          if (backslash !== -1 && backslash < next) {
            value += text.slice(start, backslash) + text.charAt(backslash + 1);
            i = backslash + 2;
            start = i;
            continue;
          }
          value += text.slice(start, next);
          i = next + 1;
          break;
        }
        out.push(convert(value));
      } else {
        const start = i;
        while (i < text.length && text[i] !== delimiter && text[i] !== '}') i++;
        const raw = text.slice(start, i);
        out.push(raw === 'NULL' ? null : convert(raw));
      }
      if (text[i] === delimiter) {
        i++;
      } else if (text[i] === '}') {
        i++;
        return out;
      } else {
        fail();
      }
    }
  };
  const result = parseLevel();
  if (i !== text.length) fail();
  return result;
}
