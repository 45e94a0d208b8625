/**
 * Dates for the Data Prep functions: Java `DateTimeFormatter` patterns (the subset mappings use),
 * parsing with the service's fallback formats, fixed offsets and IANA zones through `Intl`.
 *
 * A date travels between functions as a `ZonedTime` and leaves a mapping as an ISO-8601 string
 * (`2019-10-23T11:24:00Z`, `2019-10-17T11:55:12.000000999-07:00`), which is what XDM date-time
 * fields take. Functions also accept such strings and epoch milliseconds wherever a date goes.
 */

/** An instant and the UTC offset it is shown in. */
export interface ZonedTime {
  /** Epoch milliseconds. */
  ms: number;
  /** Nanoseconds beyond `ms` (0–999,999), from `make_date_time` or a 9-digit fraction. */
  nanos: number;
  /** Minutes east of UTC the instant is shown in. */
  offset: number;
  /** The IANA zone the offset came from, when one was named. */
  zone?: string;
}

/** Thrown for a value or pattern a date function cannot use; the compiler reports its message. */
export class DateTimeError extends Error {
  override readonly name = 'DateTimeError';
}

// ---------------------------------------------------------------------------------------------
// Zones

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

function zoneFormat(zone: string): Intl.DateTimeFormat {
  let format = zoneFormats.get(zone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        era: 'short',
      });
    } catch {
      throw new DateTimeError(
        `unknown time zone ${JSON.stringify(zone)} (use an IANA name such as Europe/London, or +02:00)`,
      );
    }
    if (zoneFormats.size > 1000) zoneFormats.clear();
    zoneFormats.set(zone, format);
  }
  return format;
}

/** How a zone spec turns an instant into an offset. */
export type ZoneRule = { fixed: number; zone?: undefined } | { fixed?: undefined; zone: string };

const FIXED_ZONE = /^(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?$/;

/** `Z`, `UTC`, `+02:00`, `-0700`, `GMT+1`, or an IANA name such as `America/Los_Angeles`. */
export function zoneRule(spec: string): ZoneRule {
  const text = spec.trim();
  if (text === 'Z' || text === 'UTC' || text === 'GMT' || text === 'UT') return { fixed: 0 };
  const fixed = FIXED_ZONE.exec(text);
  if (fixed) {
    const hours = Number(fixed[2]);
    const minutes = Number(fixed[3] ?? 0);
    if (hours > 18 || minutes > 59) throw new DateTimeError(`offset ${JSON.stringify(spec)} is out of range`);
    return { fixed: (fixed[1] === '-' ? -1 : 1) * (hours * 60 + minutes) };
  }
  zoneFormat(text);
  return { zone: text };
}

/** The offset (minutes east of UTC) of `zone` at instant `ms`. */
export function zoneOffsetAt(zone: string, ms: number): number {
  const parts = zoneFormat(zone).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  let year = get('year');
  if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
  const local = Date.UTC(year, get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
  const whole = Math.floor(ms / 1000) * 1000;
  return Math.round((local - whole) / 60000);
}

function offsetFor(rule: ZoneRule, ms: number): number {
  return rule.zone === undefined ? rule.fixed : zoneOffsetAt(rule.zone, ms);
}

/** The instant in `zone` whose wall-clock time is `localMs` (as if it were UTC). */
function fromLocal(localMs: number, rule: ZoneRule): { ms: number; offset: number } {
  if (rule.zone === undefined) return { ms: localMs - rule.fixed * 60000, offset: rule.fixed };
  let offset = zoneOffsetAt(rule.zone, localMs);
  let ms = localMs - offset * 60000;
  const again = zoneOffsetAt(rule.zone, ms);
  if (again !== offset) {
    // A wall-clock time in a spring-forward gap: like Java, move it later by the gap, which
    // shows the same instant in the offset that holds there (01:30 London → 02:30+01:00).
    ms = localMs - again * 60000;
    offset = zoneOffsetAt(rule.zone, ms);
  }
  return { ms, offset };
}

/** The same instant shown in another zone. */
export function inZone(time: ZonedTime, spec: string): ZonedTime {
  const rule = zoneRule(spec);
  const result: ZonedTime = { ms: time.ms, nanos: time.nanos, offset: offsetFor(rule, time.ms) };
  if (rule.zone !== undefined) result.zone = rule.zone;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Fields

/** Calendar fields of a time in its own offset. */
export interface LocalFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Nanoseconds within the second. */
  nano: number;
  /** 1 = Monday … 7 = Sunday (ISO). */
  weekday: number;
  dayOfYear: number;
}

export function localFields(time: ZonedTime): LocalFields {
  const d = new Date(time.ms + time.offset * 60000);
  const year = d.getUTCFullYear();
  const startOfYear = Date.UTC(year, 0, 1);
  const day = Date.UTC(year, d.getUTCMonth(), d.getUTCDate());
  return {
    year,
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    nano: d.getUTCMilliseconds() * 1_000_000 + time.nanos,
    weekday: ((d.getUTCDay() + 6) % 7) + 1,
    dayOfYear: Math.round((day - startOfYear) / 86_400_000) + 1,
  };
}

/** ISO-8601 week of year (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(fields: LocalFields): number {
  const date = new Date(Date.UTC(fields.year, fields.month - 1, fields.day));
  date.setUTCDate(date.getUTCDate() + 4 - fields.weekday);
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  return Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
}

/** Builds a time from wall-clock fields in a zone; `undefined` when a field is out of range. */
export function fromFields(
  f: { year: number; month: number; day: number; hour: number; minute: number; second: number; nano: number },
  rule: ZoneRule,
): ZonedTime | undefined {
  if (
    !Number.isInteger(f.year) ||
    f.month < 1 ||
    f.month > 12 ||
    f.day < 1 ||
    f.hour < 0 ||
    f.hour > 23 ||
    f.minute < 0 ||
    f.minute > 59 ||
    f.second < 0 ||
    f.second > 59 ||
    f.nano < 0 ||
    f.nano > 999_999_999
  )
    return undefined;
  const date = new Date(0);
  date.setUTCFullYear(f.year, f.month - 1, f.day);
  if (date.getUTCMonth() !== f.month - 1 || date.getUTCDate() !== f.day) return undefined;
  date.setUTCHours(f.hour, f.minute, f.second, Math.floor(f.nano / 1_000_000));
  const { ms, offset } = fromLocal(date.getTime(), rule);
  const time: ZonedTime = { ms, nanos: f.nano % 1_000_000, offset };
  if (rule.zone !== undefined) time.zone = rule.zone;
  return time;
}

// ---------------------------------------------------------------------------------------------
// ISO output

const pad = (n: number, width: number) => {
  const s = String(Math.abs(n)).padStart(width, '0');
  return n < 0 ? `-${s}` : s;
};

function offsetText(offset: number, colon: boolean, zeroAsZ: boolean): string {
  if (offset === 0 && zeroAsZ) return 'Z';
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${sign}${pad(Math.floor(abs / 60), 2)}${colon ? ':' : ''}${pad(abs % 60, 2)}`;
}

function fractionText(nano: number): string {
  if (nano === 0) return '';
  if (nano % 1_000_000 === 0) return `.${pad(nano / 1_000_000, 3)}`;
  if (nano % 1000 === 0) return `.${pad(nano / 1000, 6)}`;
  return `.${pad(nano, 9)}`;
}

/** `2019-10-23T11:24:00Z`, `2019-10-17T11:55:12.000000999-07:00`: seconds always, a fraction when not zero. */
export function toIsoString(time: ZonedTime): string {
  const f = localFields(time);
  const year =
    f.year >= 0 && f.year <= 9999 ? pad(f.year, 4) : (f.year < 0 ? '-' : '+') + pad(Math.abs(f.year), 6);
  return `${year}-${pad(f.month, 2)}-${pad(f.day, 2)}T${pad(f.hour, 2)}:${pad(f.minute, 2)}:${pad(f.second, 2)}${fractionText(f.nano)}${offsetText(time.offset, true, true)}`;
}

// ---------------------------------------------------------------------------------------------
// Patterns

type PatternToken = { kind: 'literal'; text: string } | { kind: 'field'; letter: string; count: number };

/** A compiled Java `DateTimeFormatter` pattern. */
export interface DatePattern {
  source: string;
  tokens: readonly PatternToken[];
}

const SUPPORTED_LETTERS = 'GuyYMLdDEeaHhKkmsSnXxZzVQq';
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

const patternCache = new Map<string, DatePattern>();

/** Compiles a Java date pattern (`yyyy-MM-dd'T'HH:mm:ss.SSSX`); throws `DateTimeError` on a letter it does not know. */
export function compileDatePattern(source: string): DatePattern {
  const cached = patternCache.get(source);
  if (cached) return cached;
  const tokens: PatternToken[] = [];
  const literal = (text: string) => {
    const last = tokens[tokens.length - 1];
    if (last?.kind === 'literal') last.text += text;
    else tokens.push({ kind: 'literal', text });
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === "'") {
      if (source[i + 1] === "'") {
        literal("'");
        i += 2;
        continue;
      }
      const close = source.indexOf("'", i + 1);
      if (close < 0) throw new DateTimeError(`date pattern ${JSON.stringify(source)}: unterminated quote`);
      let text = '';
      let j = i + 1;
      // '' inside quotes is one quote.
      for (;;) {
        const end = source.indexOf("'", j);
        if (end < 0) throw new DateTimeError(`date pattern ${JSON.stringify(source)}: unterminated quote`);
        text += source.slice(j, end);
        if (source[end + 1] === "'") {
          text += "'";
          j = end + 2;
          continue;
        }
        i = end + 1;
        break;
      }
      literal(text);
      continue;
    }
    if (/[A-Za-z]/.test(c)) {
      if (!SUPPORTED_LETTERS.includes(c)) {
        throw new DateTimeError(
          `date pattern ${JSON.stringify(source)}: pattern letter "${c}" is not supported (quote literal text as '${c}')`,
        );
      }
      let j = i;
      while (source[j] === c) j++;
      tokens.push({ kind: 'field', letter: c, count: j - i });
      i = j;
      continue;
    }
    if (c === '[' || c === ']' || c === '{' || c === '}' || c === '#') {
      throw new DateTimeError(
        `date pattern ${JSON.stringify(source)}: "${c}" is reserved (quote it as '${c}')`,
      );
    }
    literal(c);
    i++;
  }
  const pattern: DatePattern = { source, tokens };
  if (patternCache.size > 1000) patternCache.clear();
  patternCache.set(source, pattern);
  return pattern;
}

/** Formats a time with a compiled pattern, in the time's own offset. */
export function formatDate(time: ZonedTime, pattern: DatePattern): string {
  const f = localFields(time);
  let out = '';
  for (const token of pattern.tokens) {
    if (token.kind === 'literal') {
      out += token.text;
      continue;
    }
    const n = token.count;
    switch (token.letter) {
      case 'G':
        out += f.year > 0 ? 'AD' : 'BC';
        break;
      case 'u':
      case 'y':
      case 'Y':
        out += n === 2 ? pad(((f.year % 100) + 100) % 100, 2) : pad(f.year, n);
        break;
      case 'M':
      case 'L':
        out +=
          n >= 4
            ? (MONTHS[f.month - 1] as string)
            : n === 3
              ? (MONTHS[f.month - 1] as string).slice(0, 3)
              : pad(f.month, n);
        break;
      case 'Q':
      case 'q':
        out += pad(Math.ceil(f.month / 3), n);
        break;
      case 'd':
        out += pad(f.day, n);
        break;
      case 'D':
        out += pad(f.dayOfYear, n);
        break;
      case 'E':
      case 'e':
        out += n >= 4 ? (DAYS[f.weekday - 1] as string) : (DAYS[f.weekday - 1] as string).slice(0, 3);
        break;
      case 'a':
        out += f.hour < 12 ? 'AM' : 'PM';
        break;
      case 'H':
        out += pad(f.hour, n);
        break;
      case 'k':
        out += pad(f.hour === 0 ? 24 : f.hour, n);
        break;
      case 'h':
        out += pad(f.hour % 12 === 0 ? 12 : f.hour % 12, n);
        break;
      case 'K':
        out += pad(f.hour % 12, n);
        break;
      case 'm':
        out += pad(f.minute, n);
        break;
      case 's':
        out += pad(f.second, n);
        break;
      case 'S':
        out += pad(f.nano, 9).slice(0, Math.min(n, 9)).padEnd(n, '0');
        break;
      case 'n':
        out += pad(f.nano, n);
        break;
      case 'X':
        out += time.offset === 0 ? 'Z' : xOffset(time.offset, n);
        break;
      case 'x':
        out += xOffset(time.offset, n);
        break;
      case 'Z':
        out +=
          n === 4
            ? `GMT${time.offset === 0 ? '' : offsetText(time.offset, true, false)}`
            : n === 5
              ? offsetText(time.offset, true, true)
              : offsetText(time.offset, false, false);
        break;
      case 'z':
      case 'V':
        out += time.zone ?? (time.offset === 0 ? 'UTC' : offsetText(time.offset, true, false));
        break;
    }
  }
  return out;
}

function xOffset(offset: number, count: number): string {
  if (count === 1) {
    const abs = Math.abs(offset);
    const text = `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60), 2)}`;
    return abs % 60 === 0 ? text : text + pad(abs % 60, 2);
  }
  return offsetText(offset, count === 3 || count === 5, false);
}

/** Parses `text` with a compiled pattern; `undefined` when it does not match. A pattern without a zone reads UTC. */
export function parseDate(text: string, pattern: DatePattern): ZonedTime | undefined {
  const f = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, nano: 0 };
  let hour12: number | undefined;
  let pm: boolean | undefined;
  let dayOfYear: number | undefined;
  let rule: ZoneRule = { fixed: 0 };
  let pos = 0;
  const tokens = pattern.tokens;
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t] as PatternToken;
    if (token.kind === 'literal') {
      if (!text.startsWith(token.text, pos)) return undefined;
      pos += token.text.length;
      continue;
    }
    const next = tokens[t + 1];
    // Java's adjacent value parsing: a number followed directly by another number field takes its width.
    const adjacent =
      next?.kind === 'field' &&
      !'aEeGXxZzV'.includes(next.letter) &&
      !((next.letter === 'M' || next.letter === 'L') && next.count >= 3);
    const digits = (min: number, max: number, signed = false): number | undefined => {
      const re = new RegExp(`^${signed ? '[+-]?' : ''}[0-9]{${min},${max}}`);
      const m = re.exec(text.slice(pos));
      if (!m) return undefined;
      pos += m[0].length;
      return Number(m[0]);
    };
    const width = (n: number, greedyMax: number) =>
      n === 1 ? digits(1, adjacent ? 1 : greedyMax) : digits(n, n);
    const word = (names: readonly string[], short: boolean): number | undefined => {
      const rest = text.slice(pos).toLowerCase();
      for (let i = 0; i < names.length; i++) {
        const name = (short ? (names[i] as string).slice(0, 3) : (names[i] as string)).toLowerCase();
        if (rest.startsWith(name)) {
          pos += name.length;
          return i;
        }
      }
      return undefined;
    };
    const n = token.count;
    let value: number | undefined;
    switch (token.letter) {
      case 'G': {
        const m = /^(AD|BC)/i.exec(text.slice(pos));
        if (!m) return undefined;
        pos += 2;
        continue;
      }
      case 'u':
      case 'y':
      case 'Y':
        if (n === 2) {
          value = digits(2, 2);
          if (value !== undefined) value += 2000;
        } else {
          value = n === 1 ? digits(1, adjacent ? 4 : 9, true) : digits(n, adjacent ? n : 9, true);
        }
        if (value === undefined) return undefined;
        f.year = value;
        continue;
      case 'M':
      case 'L':
        value = n >= 3 ? word(MONTHS, n === 3) : width(n, 2);
        if (value === undefined) return undefined;
        f.month = n >= 3 ? value + 1 : value;
        continue;
      case 'Q':
      case 'q':
        value = width(n, 1);
        if (value === undefined) return undefined;
        continue;
      case 'd':
        value = width(n, 2);
        if (value === undefined) return undefined;
        f.day = value;
        continue;
      case 'D':
        value = n === 1 ? digits(1, 3) : digits(n, 3);
        if (value === undefined) return undefined;
        dayOfYear = value;
        continue;
      case 'E':
      case 'e':
        if (word(DAYS, n < 4) === undefined) return undefined;
        continue;
      case 'a': {
        const m = /^(AM|PM)/i.exec(text.slice(pos));
        if (!m) return undefined;
        pm = (m[1] as string).toUpperCase() === 'PM';
        pos += 2;
        continue;
      }
      case 'H':
      case 'k':
        value = width(n, 2);
        if (value === undefined) return undefined;
        f.hour = token.letter === 'k' && value === 24 ? 0 : value;
        continue;
      case 'h':
      case 'K':
        value = width(n, 2);
        if (value === undefined) return undefined;
        hour12 = token.letter === 'h' && value === 12 ? 0 : value;
        if (hour12 > 11) return undefined;
        continue;
      case 'm':
        value = width(n, 2);
        if (value === undefined) return undefined;
        f.minute = value;
        continue;
      case 's':
        value = width(n, 2);
        if (value === undefined) return undefined;
        f.second = value;
        continue;
      case 'S': {
        const m = new RegExp(`^[0-9]{${n}}`).exec(text.slice(pos));
        if (!m || n > 9) return undefined;
        pos += n;
        f.nano = Number(m[0].padEnd(9, '0'));
        continue;
      }
      case 'n':
        value = digits(1, 9);
        if (value === undefined) return undefined;
        f.nano = value;
        continue;
      case 'X':
      case 'x':
      case 'Z': {
        const m = /^(?:Z|[+-]\d{2}(?::?\d{2})?)/.exec(text.slice(pos));
        if (!m || (m[0] === 'Z' && token.letter === 'x')) return undefined;
        pos += m[0].length;
        rule = zoneRule(m[0]);
        continue;
      }
      case 'z':
      case 'V': {
        const m = /^[A-Za-z][A-Za-z0-9_/+-]*|^[+-]\d{2}(?::?\d{2})?/.exec(text.slice(pos));
        if (!m) return undefined;
        pos += m[0].length;
        try {
          rule = zoneRule(m[0]);
        } catch {
          return undefined;
        }
        continue;
      }
    }
  }
  if (pos !== text.length) return undefined;
  if (hour12 !== undefined) f.hour = hour12 + (pm ? 12 : 0);
  else if (pm !== undefined && f.hour < 12 && pm) f.hour += 12;
  if (dayOfYear !== undefined) {
    const d = new Date(Date.UTC(2000, 0, dayOfYear));
    d.setUTCFullYear(f.year);
    if (d.getUTCFullYear() !== f.year) return undefined;
    f.month = d.getUTCMonth() + 1;
    f.day = d.getUTCDate();
  }
  return fromFields(f, rule);
}

const ISO =
  /^([+-]?\d{4,9})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?(?:\[([A-Za-z0-9_/+-]+)\])?$/;

/**
 * The formats Data Prep tries, in order, when a date string comes without a format (Data Prep
 * "Handling data formats", date function conversions). ISO-8601 is tried before all of them.
 */
export const FALLBACK_DATE_PATTERNS: readonly string[] = [
  'yyyy-MM-dd HH:mm:ssZ',
  'yyyy-MM-dd HH:mm:ss.SSSZ',
  'yyyy-MM-dd HH:mm:ss.SSS',
  "yyyy-MM-dd'T'HH:mm:ss.SSSX",
  "yyyy-MM-dd'T'HH:mm:ss'Z'",
  'yyyy-MM-dd',
  'yyyy/MM/dd',
  'yyyy.MM.dd',
  'yyyy-MMM-dd',
  'yyyyMMdd',
  'MM-dd-yyyy',
  'MMddyyyy',
  'M/dd/yyyy',
  'dd.M.yyyy',
  'M/dd/yyyy hh:mm:ss a',
  'dd.M.yyyy hh:mm:ss a',
  'dd.MMM.yyyy',
  'dd-MMM-yyyy',
];

/** ISO-8601 with an optional time, fraction, offset and `[Zone/Id]`; `undefined` when it is not. */
export function parseIsoDate(text: string): ZonedTime | undefined {
  const m = ISO.exec(text.trim());
  if (!m) return undefined;
  let rule: ZoneRule = { fixed: 0 };
  try {
    if (m[9]) rule = zoneRule(m[9]);
    else if (m[8]) rule = zoneRule(m[8]);
  } catch {
    return undefined;
  }
  const time = fromFields(
    {
      year: Number(m[1]),
      month: Number(m[2]),
      day: Number(m[3]),
      hour: Number(m[4] ?? 0),
      minute: Number(m[5] ?? 0),
      second: Number(m[6] ?? 0),
      nano: Number((m[7] ?? '0').padEnd(9, '0')),
    },
    rule,
  );
  // An explicit offset wins over the zone's idea of the local time ("…+02:00[Europe/Paris]").
  if (time && m[8] && m[9]) {
    const offset = zoneRule(m[8]);
    if (offset.zone === undefined && offset.fixed !== time.offset) return undefined;
  }
  return time;
}

const fallbackPatterns = () => FALLBACK_DATE_PATTERNS.map(compileDatePattern);
let fallbacks: DatePattern[] | undefined;

/**
 * Reads a date argument: a `ZonedTime`, epoch milliseconds, or a string (ISO-8601, then the
 * fallback formats; or exactly `pattern` when given). `undefined` when nothing matches.
 */
export function toZonedTime(value: unknown, pattern?: DatePattern): ZonedTime | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && Math.abs(value) <= 8.64e15
      ? { ms: Math.floor(value), nanos: 0, offset: 0 }
      : undefined;
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? undefined : { ms, nanos: 0, offset: 0 };
  }
  if (typeof value === 'object' && value !== null && 'ms' in value && 'offset' in value)
    return value as ZonedTime;
  if (typeof value !== 'string') return undefined;
  if (pattern) return parseDate(value, pattern);
  const iso = parseIsoDate(value);
  if (iso) return iso;
  fallbacks ??= fallbackPatterns();
  for (const p of fallbacks) {
    const time = parseDate(value, p);
    if (time) return time;
  }
  return undefined;
}
