// Incremental parsers for delimited and JSON text: fed chunk by chunk, they hold at most one
// unfinished record besides the chunk, so a file of any size parses in bounded memory.

/** A record longer than this is an error (an unclosed quote or bracket), not a reason to buffer the file. */
export const MAX_RECORD_CHARS = 64 * 1024 * 1024;

/** A row of a delimited file: `null` for an empty unquoted field, `''` for `""`. */
export type DelimitedRow = (string | null)[];

/** Thrown by the parsers: the reader adds the file and record number. */
export class TextFormatError extends Error {
  override readonly name = 'TextFormatError';
}

/**
 * RFC 4180 delimited text with a configurable one-character delimiter: fields may be quoted
 * (`"a, b"`), quotes doubled inside (`""`), line breaks inside quotes kept; rows end with LF or
 * CRLF; blank lines are skipped. Lenient where RFC 4180 is strict: text after a closing quote
 * is kept, a quote inside an unquoted field is literal. Rows without any quote take a fast path
 * (`String.prototype.split`). Each row goes to `onRow` in an array the parser reuses: copy what
 * you keep (fewer allocations: at 1 GB of CSV the garbage collector is the bottleneck).
 */
export class DelimitedParser {
  private buf = '';
  private pos = 0;
  /** Index of the next `"` at or after `pos` in `buf`, or `buf.length` when none. */
  private quoteAt = -1;
  private readonly fields: DelimitedRow = [];

  constructor(
    private readonly delimiter: string,
    private readonly onRow: (row: DelimitedRow) => void,
  ) {}

  /** Parses what `text` completes. */
  push(text: string): void {
    this.buf = this.pos < this.buf.length ? this.buf.slice(this.pos) + text : text;
    this.pos = 0;
    this.quoteAt = -1;
    this.parse(false);
    if (this.buf.length - this.pos > MAX_RECORD_CHARS) {
      throw new TextFormatError(
        `a row longer than ${MAX_RECORD_CHARS / 1024 / 1024} MiB characters: is a quote left open?`,
      );
    }
  }

  /** Parses the rest at the end of the file. */
  end(): void {
    this.parse(true);
    this.buf = '';
    this.pos = 0;
  }

  private parse(final: boolean): void {
    const buf = this.buf;
    const n = buf.length;
    const d = this.delimiter;
    let pos = this.pos;
    while (pos < n) {
      let nl = buf.indexOf('\n', pos);
      if (nl === -1) {
        if (!final) break;
        nl = n;
      }
      if (this.quoteAt < pos) {
        const q = buf.indexOf('"', pos);
        this.quoteAt = q === -1 ? n : q;
      }
      if (this.quoteAt > nl) {
        const end = nl > pos && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        if (end > pos) {
          const fields: DelimitedRow = buf.slice(pos, end).split(d);
          for (let i = 0; i < fields.length; i++) if (fields[i] === '') fields[i] = null;
          this.onRow(fields);
        }
        pos = nl + 1;
        continue;
      }
      const next = this.quotedRow(buf, pos, final);
      if (next === -1) break;
      pos = next;
    }
    this.pos = Math.min(pos, n);
  }

  /** Parses one row that holds a quote, from `start`. Returns where the next row starts, or -1 for more input. */
  private quotedRow(buf: string, start: number, final: boolean): number {
    const n = buf.length;
    const d = this.delimiter;
    const fields = this.fields;
    fields.length = 0;
    let i = start;
    // The next delimiter and line feed at or after `i`, found once and reused field by field.
    let nextD = -2;
    let nextNl = -2;
    const stopAfter = (from: number): number => {
      if (nextD !== -1 && nextD < from) nextD = buf.indexOf(d, from);
      if (nextNl !== -1 && nextNl < from) nextNl = buf.indexOf('\n', from);
      if (nextD === -1) return nextNl;
      if (nextNl === -1) return nextD;
      return nextD < nextNl ? nextD : nextNl;
    };
    for (;;) {
      let value: string | null;
      if (buf.charCodeAt(i) === 34) {
        // A quoted field: up to the quote that is not doubled.
        let j = i + 1;
        value = '';
        for (;;) {
          const q = buf.indexOf('"', j);
          if (q === -1) {
            if (!final) return -1;
            throw new TextFormatError('a quoted field is not closed before the end of the file');
          }
          if (q + 1 >= n && !final) return -1;
          if (buf.charCodeAt(q + 1) === 34) {
            value += `${buf.slice(j, q)}"`;
            j = q + 2;
            continue;
          }
          value = value === '' ? buf.slice(j, q) : value + buf.slice(j, q);
          i = q + 1;
          break;
        }
        const c = buf.charCodeAt(i);
        if (i < n && c !== d.charCodeAt(0) && c !== 10 && !(c === 13 && buf.charCodeAt(i + 1) === 10)) {
          // Text after the closing quote, up to the delimiter or the line end, is kept.
          const rest = stopAfter(i);
          if (rest === -1 && !final) return -1;
          const stop = rest === -1 ? n : rest;
          value += trimCr(buf, i, stop);
          i = stop;
        } else if (c === 13) {
          i++;
        }
      } else {
        const end = stopAfter(i);
        if (end === -1 && !final) return -1;
        const stop = end === -1 ? n : end;
        const text = trimCr(buf, i, stop);
        value = text === '' ? null : text;
        i = stop;
      }
      fields.push(value);
      if (i >= n) {
        this.onRow(fields);
        return n;
      }
      if (buf.charCodeAt(i) === d.charCodeAt(0)) {
        i++;
        continue;
      }
      // A line feed ends the row.
      this.onRow(fields);
      return i + 1;
    }
  }
}

/** `buf[from, to)` without a carriage return just before `to`. */
function trimCr(buf: string, from: number, to: number): string {
  return buf.slice(from, to > from && buf.charCodeAt(to - 1) === 13 ? to - 1 : to);
}

/**
 * The records of a JSON file, fed in chunks: JSON lines (one object per line, or any sequence
 * of objects however they are spread over lines) or one JSON array of objects. Only the text of
 * the record being read is held; each is parsed with `JSON.parse`.
 */
export class JsonRecordScanner {
  private buf = '';
  /** Where scanning resumes in `buf`. */
  private i = 0;
  /** Where the current record starts in `buf`, or -1 between records. */
  private start = -1;
  private depth = 0;
  private inString = false;
  /** `undefined` until the first non-space character says which. */
  private mode: 'array' | 'values' | 'done' | undefined;
  /** In array mode: a record has ended and a comma or `]` must come next. */
  private needSeparator = false;
  private count = 0;

  /** Parses what `text` completes; records go to `out`. */
  push(text: string, out: Record<string, unknown>[]): void {
    const keep = this.start >= 0 ? this.start : this.i;
    this.buf = keep < this.buf.length ? this.buf.slice(keep) + text : text;
    this.i -= keep;
    if (this.start >= 0) this.start -= keep;
    this.scan(out);
    if (this.start >= 0 && this.buf.length - this.start > MAX_RECORD_CHARS) {
      throw new TextFormatError(
        `record ${this.count + 1} is longer than ${MAX_RECORD_CHARS / 1024 / 1024} MiB characters: is a bracket or quote left open?`,
      );
    }
  }

  /** Checks the end of the file: nothing may be left open. */
  end(): void {
    if (this.start >= 0 || this.inString) {
      throw new TextFormatError(`record ${this.count + 1} is cut off by the end of the file`);
    }
    if (this.mode === 'array') throw new TextFormatError('the JSON array is not closed with ]');
  }

  private fail(message: string): never {
    throw new TextFormatError(message);
  }

  private scan(out: Record<string, unknown>[]): void {
    const buf = this.buf;
    const n = buf.length;
    let i = this.i;
    while (i < n) {
      if (this.inString) {
        const q = buf.indexOf('"', i);
        if (q === -1) {
          i = n;
          break;
        }
        // An odd run of backslashes escapes the quote. The run may have begun in an earlier
        // chunk: `buf` keeps the whole record, and the string's opening quote bounds the run.
        let backslashes = 0;
        for (let k = q - 1; k > this.start && buf.charCodeAt(k) === 92; k--) backslashes++;
        i = q + 1;
        if (backslashes % 2 === 0) this.inString = false;
        continue;
      }
      const c = buf.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) {
        i++;
        continue;
      }
      if (this.start < 0) {
        // Between records.
        if (this.mode === undefined) {
          if (c === 0xfeff) {
            i++;
            continue;
          }
          this.mode = c === 91 ? 'array' : 'values';
          if (c === 91) {
            i++;
            continue;
          }
        }
        if (this.mode === 'done') this.fail('text after the end of the JSON array');
        if (this.mode === 'array') {
          if (c === 93) {
            this.mode = 'done';
            i++;
            continue;
          }
          if (this.needSeparator) {
            if (c !== 44) this.fail(`expected , or ] after record ${this.count}`);
            this.needSeparator = false;
            i++;
            continue;
          }
        }
        if (c !== 123) {
          this.fail(
            `record ${this.count + 1} is not a JSON object (it starts with ${JSON.stringify(buf[i])}): each record must be {…}`,
          );
        }
        this.start = i;
        this.depth = 1;
        i++;
        continue;
      }
      if (c === 34) this.inString = true;
      else if (c === 123 || c === 91) this.depth++;
      else if (c === 125 || c === 93) {
        this.depth--;
        if (this.depth === 0) {
          const text = buf.slice(this.start, i + 1);
          this.start = -1;
          this.count++;
          try {
            out.push(JSON.parse(text) as Record<string, unknown>);
          } catch (error) {
            this.fail(`record ${this.count} is not valid JSON: ${(error as Error).message}`);
          }
          if (this.mode === 'array') this.needSeparator = true;
        }
      }
      i++;
    }
    this.i = i;
  }
}
