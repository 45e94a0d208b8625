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
 * is kept, a quote inside an unquoted field is literal.
 *
 * Built for millions of rows: one pass over each chunk, character by character for unquoted
 * fields and by `indexOf` to the closing quote for quoted ones, one string per field and nothing
 * else per row. The fields go to `onRow` in an array the parser reuses, valid for the first
 * `count` entries and only during the call: copy what you keep.
 */
export class DelimitedParser {
  /** The start of a row that the last chunk cut off. */
  private rest = '';
  /**
   * `rest` is parsed again once it is this long: a row that spans many chunks (a long quoted
   * field) is rescanned each time the text doubles, not at every chunk.
   */
  private retryAt = 0;
  private readonly fields: DelimitedRow = [];
  private readonly delimiterCode: number;
  /**
   * Tried first on each row that ends with a line feed in the text at hand: consumes the row
   * (`start` to the line feed at `lineEnd`) and returns true, or returns false to leave it to the
   * general parser. See `rowReader`.
   */
  fastRow: ((buf: string, start: number, lineEnd: number) => boolean) | undefined;

  constructor(
    private readonly delimiter: string,
    private readonly onRow: (fields: DelimitedRow, count: number) => void,
  ) {
    this.delimiterCode = delimiter.charCodeAt(0);
  }

  /** Parses the rows that `text` completes. */
  push(text: string): void {
    const rest = this.rest;
    if (rest === '') {
      this.keep(text, this.parse(text, 0, false));
      return;
    }
    if (rest.length + text.length < this.retryAt) {
      this.keep(rest + text, 0, false);
      return;
    }
    // The row the last chunk cut off is finished on a short string (the rest, and `text` to its
    // first line feed); the chunk itself is then parsed where it is: searching a concatenated
    // string is markedly slower than searching a flat one.
    const nl = text.indexOf('\n');
    let buf = rest + text;
    if (nl !== -1) {
      const head = rest + text.slice(0, nl + 1);
      const done = this.parse(head, 0, false);
      if (done >= head.length) {
        this.keep(text, this.parse(text, nl + 1, false));
        return;
      }
      // The row goes on past that line feed (quoted): parse on from where it starts.
      buf = head.slice(done) + text.slice(nl + 1);
    }
    this.keep(buf, this.parse(buf, 0, false));
  }

  /** Parses the rest at the end of the file. */
  end(): void {
    const buf = this.rest;
    this.rest = '';
    this.retryAt = 0;
    this.parse(buf, 0, true);
  }

  /** Keeps `buf` from `done` on for the next chunk; `parsed` when it was just scanned. */
  private keep(buf: string, done: number, parsed = true): void {
    this.rest = done === 0 ? buf : done >= buf.length ? '' : buf.slice(done);
    if (parsed) this.retryAt = 2 * this.rest.length;
    if (this.rest.length > MAX_RECORD_CHARS) {
      throw new TextFormatError(
        `a row longer than ${MAX_RECORD_CHARS / 1024 / 1024} MiB characters: is a quote left open?`,
      );
    }
  }

  /**
   * Parses the complete rows of `buf` from `start` (all of them when `final`); returns where the
   * first incomplete one starts.
   */
  private parse(buf: string, start: number, final: boolean): number {
    const n = buf.length;
    const d = this.delimiter;
    const dc = this.delimiterCode;
    const fields = this.fields;
    // The next delimiter and line feed at or after the field being read (`n` when there is
    // none), each found by `indexOf` once and reused: a native search is several times faster
    // than a loop over the characters in JS.
    let nextD = -1;
    let nextNl = -1;
    let nextQ = -1;
    let pos = start;
    row: while (pos < n) {
      let i = pos;
      let k = 0;
      if (nextNl < pos) {
        nextNl = buf.indexOf('\n', pos);
        if (nextNl === -1) nextNl = n;
      }
      if (nextNl < n && this.fastRow?.(buf, pos, nextNl)) {
        pos = nextNl + 1;
        continue;
      }
      for (;;) {
        // `i` is where a field starts. A quoted one is read to its closing quote; what follows
        // that quote, if not a delimiter or line feed, is kept as unquoted text.
        let quoted: string | undefined;
        if (nextQ < i) {
          nextQ = buf.indexOf('"', i);
          // None: past any place a field can start.
          if (nextQ === -1) nextQ = n + 1;
        }
        if (nextQ === i) {
          let from = i + 1;
          let q = buf.indexOf('"', from);
          for (;;) {
            if (q === -1) {
              if (!final) return pos;
              throw new TextFormatError('a quoted field is not closed before the end of the file');
            }
            // A quote at the end of the chunk may be the first of a doubled pair.
            if (q + 1 >= n && !final) return pos;
            if (buf.charCodeAt(q + 1) !== 34) break;
            quoted = quoted === undefined ? buf.slice(from, q + 1) : quoted + buf.slice(from, q + 1);
            from = q + 2;
            q = buf.indexOf('"', from);
          }
          quoted = quoted === undefined ? buf.slice(from, q) : quoted + buf.slice(from, q);
          i = q + 1;
          nextQ = -1;
          // The quotes held a line feed: the row ends at a later one.
          if (nextNl < i) {
            nextNl = buf.indexOf('\n', i);
            if (nextNl === -1) nextNl = n;
          }
          const c = buf.charCodeAt(i);
          if (c === dc) {
            fields[k++] = quoted;
            i++;
            continue;
          }
          if (c === 10) {
            fields[k++] = quoted;
            this.onRow(fields, k);
            pos = i + 1;
            continue row;
          }
        }
        if (nextD < i) {
          nextD = buf.indexOf(d, i);
          if (nextD === -1) nextD = n;
        }
        if (nextD < nextNl) {
          fields[k++] =
            quoted === undefined
              ? nextD === i
                ? null
                : buf.slice(i, nextD)
              : nextD === i
                ? quoted
                : quoted + buf.slice(i, nextD);
          i = nextD + 1;
          continue;
        }
        // The row ends at the line feed, or at the end of the text.
        if (nextNl === n && !final) return pos;
        // A carriage return before the line feed (or the end) belongs to the line break.
        const end = nextNl > i && buf.charCodeAt(nextNl - 1) === 13 ? nextNl - 1 : nextNl;
        if (quoted === undefined) fields[k++] = end === i ? null : buf.slice(i, end);
        else fields[k++] = end === i ? quoted : quoted + buf.slice(i, end);
        // A blank line (nothing, or a lone carriage return) is no row.
        if (k > 1 || fields[0] !== null) this.onRow(fields, k);
        pos = nextNl + 1;
        continue row;
      }
    }
    return pos;
  }
}

/** Headers wider than this are read by the general parser only (the reader is one function). */
const ROW_READER_MAX_COLUMNS = 64;

/**
 * A reader compiled for one header, for `DelimitedParser.fastRow`: reads a row of exactly
 * `names.length` fields, each unquoted or quoted without doubled quotes or line breaks, straight
 * into a record literal pushed to `out` (no field array, no call per field), and returns true.
 * Any other row (missing or extra fields, `""` inside quotes, text after a closing quote, a
 * blank line) returns false and goes to the general parser, which reads it the same way it
 * reads every row. `undefined` for headers it does not handle.
 */
export function rowReader(
  names: readonly string[],
  delimiter: string,
  out: Record<string, unknown>[],
): ((buf: string, start: number, lineEnd: number) => boolean) | undefined {
  const width = names.length;
  if (width === 0 || width > ROW_READER_MAX_COLUMNS || names.includes('__proto__')) return undefined;
  const d = JSON.stringify(delimiter);
  const dc = delimiter.charCodeAt(0);
  const lines = ['if (nl - i <= 1) return false;', 'let e, q;'];
  for (let j = 0; j < width - 1; j++) {
    lines.push(
      `let v${j};`,
      'if (s.charCodeAt(i) === 34) {',
      `  q = s.indexOf('"', i + 1);`,
      `  if (q === -1 || q > nl || s.charCodeAt(q + 1) !== ${dc}) return false;`,
      `  v${j} = s.slice(i + 1, q);`,
      '  i = q + 2;',
      '} else {',
      `  e = s.indexOf(${d}, i);`,
      '  if (e === -1 || e > nl) return false;',
      `  v${j} = e === i ? null : s.slice(i, e);`,
      '  i = e + 1;',
      '}',
    );
  }
  const last = width - 1;
  lines.push(
    `let v${last};`,
    'e = nl > i && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;',
    'if (s.charCodeAt(i) === 34) {',
    `  if (e - i < 2 || s.indexOf('"', i + 1) !== e - 1) return false;`,
    `  v${last} = s.slice(i + 1, e - 1);`,
    '} else {',
    `  q = s.indexOf(${d}, i);`,
    '  if (q !== -1 && q < nl) return false;',
    `  v${last} = e === i ? null : s.slice(i, e);`,
    '}',
    `out.push({ ${names.map((name, j) => `${JSON.stringify(name)}: v${j}`).join(', ')} });`,
    'return true;',
  );
  // `out` is bound once, so the parser makes one call per row.
  return new Function('out', `return function (s, i, nl) {\n${lines.join('\n')}\n};`)(out) as ReturnType<
    typeof rowReader
  >;
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
  /** Whole lines are still tried as records (see `scan`). */
  private lines = true;

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
        if (this.lines && this.mode === 'values') {
          // JSON lines: a line that holds one whole object goes to `JSON.parse` as it is, not
          // scanned character by character first. Any other line (part of an object, two
          // objects, invalid JSON) turns this off for the file and is scanned as before.
          const nl = buf.indexOf('\n', i);
          if (nl !== -1) {
            let end = nl;
            while (end > i && isJsonSpace(buf.charCodeAt(end - 1))) end--;
            if (buf.charCodeAt(end - 1) === 125) {
              let record: Record<string, unknown> | undefined;
              try {
                record = JSON.parse(buf.slice(i, end)) as Record<string, unknown>;
              } catch {
                this.lines = false;
              }
              if (record !== undefined) {
                out.push(record);
                this.count++;
                i = nl + 1;
                continue;
              }
            }
          }
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

/** JSON's white space: space, tab, line feed, carriage return. */
function isJsonSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}
