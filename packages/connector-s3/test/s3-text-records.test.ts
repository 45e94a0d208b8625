// The text read path from bytes to records (`textRecords`: decoding, the delimited parser, the
// compiled record builder, JSON records), fed in chunks cut at every kind of position: inside a
// quoted field, between the two quotes of a doubled quote, between CR and LF, inside a multi-byte
// UTF-8 character. A seeded generator checks the parser against what wrote the file.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type FileFormat, type ReadFileOptions, textRecords } from '../src/s3-format.js';
import { DelimitedParser, type DelimitedRow, MAX_RECORD_CHARS, TextFormatError } from '../src/s3-text.js';

const CSV: FileFormat = { fileType: 'delimited', delimiter: ',', compression: 'none', encoding: 'UTF-8' };

/** `bytes` cut into pieces of `size` bytes (the last one shorter). */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield Buffer.from(bytes.subarray(i, i + size));
}

/** Every record `textRecords` yields for `text` read in byte chunks of `size`. */
async function records(
  input: string | Uint8Array,
  size: number,
  format: Partial<FileFormat> = {},
  options: ReadFileOptions = {},
): Promise<Record<string, unknown>[]> {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const out: Record<string, unknown>[] = [];
  // Copied as they come: the array a chunk arrives in is reused for the next one.
  for await (const chunk of textRecords(pieces(bytes, size), { ...CSV, ...format }, options))
    out.push(...chunk);
  return out;
}

/** The rows of `text` fed in pieces whose lengths come from `sizes`, round and round. */
function rows(text: string, sizes: readonly number[], delimiter = ','): DelimitedRow[] {
  const out: DelimitedRow[] = [];
  const parser = new DelimitedParser(delimiter, (fields, count) => out.push(fields.slice(0, count)));
  let k = 0;
  for (let i = 0; i < text.length; ) {
    const size = sizes[k++ % sizes.length] as number;
    parser.push(text.slice(i, i + size));
    i += size;
  }
  parser.end();
  return out;
}

const BYTE_SIZES = [1, 2, 3, 4, 5, 7, 13, 64, 1 << 20];

describe('delimited text read in byte chunks', () => {
  it.each(BYTE_SIZES)('splits multi-byte UTF-8 characters anywhere (chunks of %i bytes)', async (size) => {
    const text = 'id,name,note\n1,Zoë,"日本, 東京"\n2,😀🎉,"a ""ü"" b"\n3,naïve café,∑\n';
    expect(await records(text, size)).toEqual([
      { id: '1', name: 'Zoë', note: '日本, 東京' },
      { id: '2', name: '😀🎉', note: 'a "ü" b' },
      { id: '3', name: 'naïve café', note: '∑' },
    ]);
  });

  it.each(BYTE_SIZES)(
    'reads CRLF rows, empty fields and no final line break (chunks of %i bytes)',
    async (size) => {
      const text = 'a,b,c\r\n1,,3\r\n,,\r\n"",x,\r\n\r\n4,"5\r\n6",7';
      expect(await records(text, size)).toEqual([
        { a: '1', b: null, c: '3' },
        { a: null, b: null, c: null },
        { a: '', b: 'x', c: null },
        { a: '4', b: '5\r\n6', c: '7' },
      ]);
    },
  );

  it('drops a byte order mark, and reads ISO-8859-1 one byte a character', async () => {
    expect(await records('\uFEFFid\n1\n', 1)).toEqual([{ id: '1' }]);
    const latin1 = Buffer.from('name\ncaf\xe9\nna\xefve\n', 'latin1');
    expect(await records(latin1, 3, { encoding: 'ISO-8859-1' })).toEqual([
      { name: 'café' },
      { name: 'naïve' },
    ]);
  });

  it('replaces bytes that are not UTF-8, and a character cut off by the end of the file', async () => {
    const bytes = Buffer.concat([
      Buffer.from('a\nx'),
      Buffer.from([0xff]),
      Buffer.from('y\nz'),
      Buffer.from([0xe6, 0x97]),
    ]);
    expect(await records(bytes, 2)).toEqual([{ a: 'x\uFFFDy' }, { a: 'z\uFFFD' }]);
  });

  it('names blank and repeated header cells, fills missing fields and keeps extra ones', async () => {
    expect(await records('id,,id\n1,2,3,4\n5\n', 4)).toEqual([
      { id: '1', _c2: '2', id_2: '3', _c4: '4' },
      { id: '5', _c2: null, id_2: null },
    ]);
  });

  it('uses the delimiter given', async () => {
    expect(await records('a;b\n1,5;"x;y"\n', 3, { delimiter: ';' })).toEqual([{ a: '1,5', b: 'x;y' }]);
    expect(await records('a\tb\n"1\t2"\t3\n', 2, { delimiter: '\t' })).toEqual([{ a: '1\t2', b: '3' }]);
  });

  it('skips the records a resumed read has delivered, and stops about where a preview asks', async () => {
    const text = `id\n${Array.from({ length: 50 }, (_, i) => i + 1).join('\n')}\n`;
    const skipped = await records(text, 7, {}, { skip: 45 });
    expect(skipped.map((r) => r.id)).toEqual(['46', '47', '48', '49', '50']);
    const preview = await records(text, 16, {}, { stopAfter: 3 });
    expect(preview.length).toBeGreaterThanOrEqual(3);
    expect(preview.length).toBeLessThan(50);
    expect(preview.slice(0, 3).map((r) => r.id)).toEqual(['1', '2', '3']);
  });

  it('reads JSON lines the same way, characters split across chunks', async () => {
    const text = '{"id":1,"s":"Zoë 😀"}\n{"id":2,"s":"a\\"}b"}\n';
    for (const size of BYTE_SIZES) {
      expect(await records(text, size, { fileType: 'json' })).toEqual([
        { id: 1, s: 'Zoë 😀' },
        { id: 2, s: 'a"}b' },
      ]);
    }
  });

  it('reads JSON lines whole, and falls back to scanning for lines that are not one object', async () => {
    const text =
      '{"id":1}\r\n{"id":2} \n{"id":3}{"id":4}\n{\n  "id": 5,\n  "s": "}\\n{"\n}\n{"id":6}\n{"id":7}';
    const expected = [1, 2, 3, 4, 5, 6, 7];
    for (const size of BYTE_SIZES) {
      const got = await records(text, size, { fileType: 'json' });
      expect(got.map((r) => r.id)).toEqual(expected);
      expect(got[4]).toEqual({ id: 5, s: '}\n{' });
    }
  });

  it.each([
    ['{"a":1}\n{"a":2}\n{"a":tru}\n{"a":4}\n', 'record 3 is not valid JSON'],
    ['{"a":1}\n{"a":2}\n[1]\n', 'record 3 is not a JSON object'],
    ['{"a":1}\n{"a":2}, {"a":3}\n', 'record 3 is not a JSON object'],
    ['{"a":1}\n{"a":2}\n{"a":\n', 'record 3 is cut off'],
  ])('names the bad record of JSON lines %j', async (text, message) => {
    for (const size of [1, 5, 64]) {
      await expect(records(text, size, { fileType: 'json' })).rejects.toThrow(message);
    }
  });

  it('reads what gunzip gives, as the reader feeds it', async () => {
    // The S3 reader gunzips before `textRecords`; this is the same bytes through a gzip round trip.
    const { gunzipSync } = await import('node:zlib');
    const bytes = gunzipSync(gzipSync(Buffer.from('a,b\n1,"x\ny"\n')));
    expect(await records(bytes, 5)).toEqual([{ a: '1', b: 'x\ny' }]);
  });
});

describe('DelimitedParser chunk boundaries', () => {
  it('reads a doubled quote split between two chunks, and a quote closing a chunk', () => {
    const text = 'a,"x""y",b\n"q""",2\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(rows(text, [cut, text.length])).toEqual([
        ['a', 'x"y', 'b'],
        ['q"', '2'],
      ]);
    }
  });

  it('reads text after a closing quote, CR before LF after a quote, and a lone CR inside a field', () => {
    for (const sizes of [[1], [2], [3], [1000]]) {
      expect(rows('"a"b,c\r\n"x"\r\n1\r2,3\n"end"', sizes)).toEqual([
        ['ab', 'c'],
        ['x'],
        ['1\r2', '3'],
        ['end'],
      ]);
    }
  });

  it('keeps a trailing delimiter as an empty last field, with or without the last line break', () => {
    expect(rows('a,b,\n1,2,', [3])).toEqual([
      ['a', 'b', null],
      ['1', '2', null],
    ]);
    expect(rows('a,b,\n1,2,\n', [100])).toEqual([
      ['a', 'b', null],
      ['1', '2', null],
    ]);
  });

  it('reads a quoted field that spans many chunks', () => {
    const long = 'x'.repeat(300_000).replace(/x{1000}/g, (m) => `${m}\n""`);
    const text = `a,b\n1,"${long}"\n2,end\n`;
    const expected = [
      ['a', 'b'],
      ['1', long.replace(/""/g, '"')],
      ['2', 'end'],
    ];
    expect(rows(text, [4096])).toEqual(expected);
    expect(rows(text, [1, 7, 65536])).toEqual(expected);
  });

  it('fails on a row longer than the limit rather than buffering the file', () => {
    const parser = new DelimitedParser(',', () => {});
    const piece = `"${'x'.repeat(1 << 20)}`;
    let error: unknown;
    try {
      for (let i = 0; i <= MAX_RECORD_CHARS / (1 << 20) + 1; i++)
        parser.push(i === 0 ? piece : piece.slice(1));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TextFormatError);
    expect((error as Error).message).toContain('is a quote left open?');
  });

  it('fails on a quoted field still open at the end of the file', () => {
    expect(() => rows('a\n"open,\n1\n', [3])).toThrow(TextFormatError);
    expect(() => rows('a\n"open""\n', [100])).toThrow('a quoted field is not closed');
  });
});

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A field as RFC 4180 writes it: quoted when it holds a delimiter, quote or line break, or is empty text. */
function write(field: string | null, delimiter: string): string {
  if (field === null) return '';
  if (field === '' || /["\r\n]/.test(field) || field.includes(delimiter))
    return `"${field.replace(/"/g, '""')}"`;
  return field;
}

describe('DelimitedParser against what wrote the file', () => {
  const ALPHABET = ['a', 'b', 'Z', '1', ' ', ',', ';', '"', '\n', '\r', 'é', '😀', '日'];

  it.each([1, 2, 3, 4, 5])('reads back 300 random rows, cut at random places (seed %i)', (seed) => {
    const next = random(seed);
    const delimiter = next() < 0.5 ? ',' : ';';
    const expected: DelimitedRow[] = [];
    let text = '';
    for (let r = 0; r < 300; r++) {
      const width = 1 + Math.floor(next() * 6);
      const row: DelimitedRow = [];
      for (let f = 0; f < width; f++) {
        const kind = next();
        if (kind < 0.15) row.push(null);
        else if (kind < 0.2) row.push('');
        else {
          let value = '';
          const length = 1 + Math.floor(next() * 12);
          for (let c = 0; c < length; c++) value += ALPHABET[Math.floor(next() * ALPHABET.length)];
          row.push(value);
        }
      }
      // A row of one empty field is a blank line, which is no row.
      if (width === 1 && row[0] === null) row[0] = 'x';
      expected.push(row);
      text += row.map((f) => write(f, delimiter)).join(delimiter);
      if (r < 299 || next() < 0.5) text += next() < 0.5 ? '\r\n' : '\n';
    }
    const sizes = Array.from({ length: 17 }, () => 1 + Math.floor(next() * 40));
    expect(rows(text, sizes, delimiter)).toEqual(expected);
    expect(rows(text, [text.length], delimiter)).toEqual(expected);
  });
});

describe('records from rows, the compiled row reader and the general parser together', () => {
  const ALPHABET = ['a', 'Z', '1', ' ', ',', '"', '\n', '\r', 'é', '😀'];

  it.each([11, 12, 13])('reads back random rows of the header width or not (seed %i)', async (seed) => {
    const next = random(seed);
    const names = ['id', 'name', 'note', 'x'];
    const expected: Record<string, unknown>[] = [];
    let text = `${names.join(',')}\n`;
    for (let r = 0; r < 400; r++) {
      // Mostly the header's width (the compiled reader), sometimes fewer or more fields.
      const kind = next();
      const width = kind < 0.8 ? names.length : kind < 0.9 ? 2 : 6;
      const row: (string | null)[] = [String(r)];
      for (let f = 1; f < width; f++) {
        const pick = next();
        if (pick < 0.15) row.push(null);
        else if (pick < 0.2) row.push('');
        else {
          let value = '';
          const length = 1 + Math.floor(next() * 8);
          // Plain text most of the time, so that many rows take the compiled reader.
          const plain = next() < 0.6;
          for (let c = 0; c < length; c++) {
            value += plain
              ? 'abcxyz'[Math.floor(next() * 6)]
              : ALPHABET[Math.floor(next() * ALPHABET.length)];
          }
          row.push(value);
        }
      }
      const record: Record<string, unknown> = {};
      names.forEach((name, j) => {
        record[name] = j < row.length ? row[j] : null;
      });
      for (let j = names.length; j < row.length; j++) record[`_c${j + 1}`] = row[j];
      expected.push(record);
      // Quoted now and then even when it needs no quotes.
      text += row
        .map((f) => (f !== null && f !== '' && next() < 0.2 ? `"${f.replace(/"/g, '""')}"` : write(f, ',')))
        .join(',');
      text += next() < 0.3 ? '\r\n' : '\n';
    }
    for (const size of [1, 3, 7, 100, 1 << 20]) {
      expect(await records(text, size)).toEqual(expected);
    }
    // A resumed read skips rows with the general parser, then goes on as before.
    expect(await records(text, 64, {}, { skip: 150 })).toEqual(expected.slice(150));
  });
});
