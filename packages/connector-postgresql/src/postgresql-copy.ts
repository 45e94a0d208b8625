import pg from 'pg';

/**
 * The SQL of a `COPY (query) TO STDOUT` for a query written with `$n` parameters. COPY runs
 * over the simple query protocol, which has no parameters, so each `$n` outside quoted
 * identifiers and string literals is replaced by the value as a literal: strings escaped with
 * `pg.escapeLiteral` (an untyped literal, resolved to the column's type exactly as an untyped
 * parameter is), arrays of strings as an array literal, finite integers as digits. Anything
 * else is a programming error and throws.
 */
export function copyStatement(sql: string, values: readonly unknown[]): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === '"' || ch === "'") {
      // Skip the quoted part; a doubled quote inside it is an escaped quote.
      for (i++; i < sql.length; i++) {
        if (sql[i] === ch) {
          if (sql[i + 1] === ch) i++;
          else break;
        }
      }
    } else if (ch === '$') {
      let end = i + 1;
      while (end < sql.length && sql.charCodeAt(end) >= 48 && sql.charCodeAt(end) <= 57) end++;
      if (end === i + 1) continue;
      const n = Number(sql.slice(i + 1, end));
      if (n < 1 || n > values.length) throw new Error(`parameter $${n} has no value`);
      out += sql.slice(from, i) + literalOf(values[n - 1]);
      from = end;
      i = end - 1;
    }
  }
  return `COPY (${out + sql.slice(from)}) TO STDOUT`;
}

function literalOf(value: unknown): string {
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    const elements = value.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
    return pg.escapeLiteral(`{${elements.join(',')}}`);
  }
  throw new Error(`cannot write ${typeof value} as an SQL literal`);
}

/**
 * Reads one field's value from `text[start, end)`, which holds the field's text with COPY's
 * escapes already undone (see `readerFor` in `postgresql-types.ts`). Never called for NULL.
 */
export type FieldReader = (text: string, start: number, end: number) => unknown;

/** Reads a field as its text. */
export const textReader: FieldReader = (text, start, end) => text.slice(start, end);

/**
 * Called with each row's values (a reused array, valid only during the call) and the length of
 * the row's text in characters, newline included (what a batch bound by size counts).
 */
export type RowHandler = (values: unknown[], length: number) => void;

const TAB = '\t';
const NEWLINE = '\n';
const BACKSLASH = '\\';

/**
 * Parses the text format of `COPY … TO STDOUT` from the chunks of a copy stream: rows end with
 * a newline, fields are separated by tabs, `\N` is NULL, and a backslash escapes a newline,
 * carriage return, tab, backspace, form feed, vertical tab or backslash in a value (PostgreSQL
 * writes no other escapes; any other escaped character stands for itself). Data arrives in
 * UTF-8 (pg sets `client_encoding`); chunks may end anywhere, even inside a character.
 *
 * Each chunk is decoded to one string (its complete rows) and scanned with `indexOf`; each
 * field's reader takes its value straight from that string (a number needs no string of its
 * own), and only fields holding a backslash are rebuilt first. Call `end` after the last chunk.
 */
export class CopyTextParser {
  private readonly fields: unknown[];
  private readonly fieldCount: number;
  /** The start of a row that has not ended yet: the chunks since the last newline. */
  private pending: Buffer[] = [];
  /** Rows parsed so far. */
  rows = 0;

  /** One reader per field, in order: the values handed to `onRow` are what they return. */
  constructor(private readonly readers: readonly FieldReader[]) {
    this.fieldCount = readers.length;
    this.fields = new Array<unknown>(this.fieldCount).fill(null);
  }

  /** Parses every complete row of the data so far, calling `onRow` for each. */
  write(chunk: Buffer, onRow: RowHandler): void {
    const first = chunk.indexOf(10);
    if (first === -1) {
      this.pending.push(chunk);
      return;
    }
    let start = 0;
    if (this.pending.length > 0) {
      // The row the last chunks began ends here: only its bytes are joined, not the chunk.
      const row = Buffer.concat([...this.pending, chunk.subarray(0, first + 1)]);
      this.pending = [];
      this.parse(row.toString('utf8'), onRow);
      start = first + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) this.parse(chunk.toString('utf8', start, last + 1), onRow);
    if (last + 1 < chunk.length) this.pending.push(chunk.subarray(last + 1));
  }

  /** Checks that the data ended at the end of a row. */
  end(): void {
    const left = this.pending.reduce((sum, b) => sum + b.length, 0);
    if (left > 0) {
      throw new Error(
        `malformed COPY data: it ended inside row ${this.rows + 1} (${left} bytes without a newline)`,
      );
    }
  }

  private parse(text: string, onRow: RowHandler): void {
    const fields = this.fields;
    const readers = this.readers;
    const last = this.fieldCount - 1;
    const length = text.length;
    let pos = 0;
    if (last < 0) {
      for (let nl = text.indexOf(NEWLINE); nl !== -1; nl = text.indexOf(NEWLINE, nl + 1)) {
        if (nl !== pos) this.fail('a row of no columns has text', text, pos);
        pos = nl + 1;
        this.rows++;
        onRow(fields, 1);
      }
      return;
    }
    let tab = indexOr(text, TAB, 0, length);
    let backslash = indexOr(text, BACKSLASH, 0, length);
    while (pos < length) {
      const rowStart = pos;
      const nl = text.indexOf(NEWLINE, pos);
      for (let f = 0; f < last; f++) {
        if (tab > nl) this.fail(`a row has ${f + 1} fields, expected ${this.fieldCount}`, text, pos);
        const read = readers[f] as FieldReader;
        if (backslash < tab) {
          fields[f] = fieldWithEscapes(text, pos, tab, read);
          backslash = indexOr(text, BACKSLASH, tab, length);
        } else {
          fields[f] = read(text, pos, tab);
        }
        pos = tab + 1;
        tab = indexOr(text, TAB, pos, length);
      }
      if (tab < nl) this.fail(`a row has more than ${this.fieldCount} fields`, text, pos);
      const read = readers[last] as FieldReader;
      if (backslash < nl) {
        fields[last] = fieldWithEscapes(text, pos, nl, read);
        backslash = indexOr(text, BACKSLASH, nl, length);
      } else {
        fields[last] = read(text, pos, nl);
      }
      pos = nl + 1;
      this.rows++;
      onRow(fields, pos - rowStart);
    }
  }

  private fail(problem: string, text: string, pos: number): never {
    const row = text.slice(pos, text.indexOf(NEWLINE, pos));
    throw new Error(
      `malformed COPY data in row ${this.rows + 1}: ${problem} (${row.length > 80 ? `${row.slice(0, 80)}…` : row})`,
    );
  }
}

function indexOr(text: string, search: string, from: number, none: number): number {
  const at = text.indexOf(search, from);
  return at === -1 ? none : at;
}

/** A field `text[start, end)` that holds a backslash: `\N` (NULL) or a value with escapes. */
function fieldWithEscapes(text: string, start: number, end: number, read: FieldReader): unknown {
  if (end - start === 2 && text.charCodeAt(start + 1) === 78 /* N */) return null;
  const value = unescapeCopyText(text.slice(start, end));
  return read(value, 0, value.length);
}

/** Undoes COPY's text escapes in one value (not `\N`, which is a whole field). */
export function unescapeCopyText(value: string): string {
  let out = '';
  let from = 0;
  for (let i = value.indexOf(BACKSLASH); i !== -1; i = value.indexOf(BACKSLASH, from)) {
    if (i + 1 >= value.length) throw new Error('malformed COPY data: a value ends with a lone backslash');
    out += value.slice(from, i) + unescaped(value.charAt(i + 1));
    from = i + 2;
  }
  return out + value.slice(from);
}

function unescaped(ch: string): string {
  switch (ch) {
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      return ch;
  }
}
