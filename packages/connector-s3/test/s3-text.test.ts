import { InflowValidationError } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';
import { formatOf, inferColumns, recordMaker, toJsonValue } from '../src/s3-format.js';
import { globMatcher, parsePath } from '../src/s3-path.js';
import { advanceMark, compareObjects, isPending, parseReadState } from '../src/s3-read.js';
import { DelimitedParser, type DelimitedRow, JsonRecordScanner, TextFormatError } from '../src/s3-text.js';

/** Parses `text` fed in pieces of `size` characters (every split position is a chunk boundary somewhere). */
function delimited(text: string, size: number, delimiter = ','): DelimitedRow[] {
  const rows: DelimitedRow[] = [];
  const parser = new DelimitedParser(delimiter, (fields, count) => rows.push(fields.slice(0, count)));
  for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
  parser.end();
  return rows;
}

function json(text: string, size: number): Record<string, unknown>[] {
  const scanner = new JsonRecordScanner();
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < text.length; i += size) scanner.push(text.slice(i, i + size), out);
  scanner.end();
  return out;
}

const SIZES = [1, 2, 3, 5, 7, 64, 100_000];

describe('DelimitedParser', () => {
  const csv =
    'id,name,note\r\n1,"Smith, Ada","said ""hi"""\r\n2,Grace,"line one\nline two"\n\n3,,""\n4,"x"y,last';
  const expected: DelimitedRow[] = [
    ['id', 'name', 'note'],
    ['1', 'Smith, Ada', 'said "hi"'],
    ['2', 'Grace', 'line one\nline two'],
    ['3', null, ''],
    ['4', 'xy', 'last'],
  ];

  it.each(SIZES)('parses quotes, doubled quotes, embedded line breaks and CRLF in chunks of %i', (size) => {
    expect(delimited(csv, size)).toEqual(expected);
  });

  it('uses the delimiter given, and keeps commas then', () => {
    expect(delimited('a|b\n1,5|"x|y"\n', 3, '|')).toEqual([
      ['a', 'b'],
      ['1,5', 'x|y'],
    ]);
    expect(delimited('a\tb\nc\td', 100, '\t')).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  it('fails on a quote left open at the end of the file', () => {
    expect(() => delimited('a,b\n1,"open\n2,3\n', 4)).toThrow(TextFormatError);
  });
});

describe('recordMaker', () => {
  it('builds records with the header names, whatever they hold, nulls for missing fields and _cN for extra ones', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a header that looks like a template literal is the point
    const make = recordMaker(['id', 'a "quoted" name', "it's", '`x`${y}']);
    expect(make(['1', 'b', null, 'd', 'extra'], 5)).toEqual({
      id: '1',
      'a "quoted" name': 'b',
      "it's": null,
      '`x`${y}': 'd',
      _c5: 'extra',
    });
    expect(make(['2'], 1)).toEqual({ id: '2', 'a "quoted" name': null, "it's": null, '`x`${y}': null });
    // Only the first `count` fields count: the parser reuses its array.
    expect(make(['3', 'b', 'c', 'd', 'stale'], 4)).toEqual({
      id: '3',
      'a "quoted" name': 'b',
      "it's": 'c',
      '`x`${y}': 'd',
    });
  });

  it('keeps a column named __proto__ as an own field, not the prototype', () => {
    const record = recordMaker(['__proto__', 'id'])(['{}', '1'], 2);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.keys(record)).toEqual(['__proto__', 'id']);
    expect(Object.getOwnPropertyDescriptor(record, '__proto__')?.value).toBe('{}');
  });
});

describe('JsonRecordScanner', () => {
  const records = [
    { id: 1, s: 'a "quoted" } ] { [ text\\' },
    { id: 2, nested: { list: [1, { x: '}' }] } },
    { id: 3 },
  ];

  it.each(SIZES)('reads JSON lines in chunks of %i', (size) => {
    expect(json(`${records.map((r) => JSON.stringify(r)).join('\n')}\n`, size)).toEqual(records);
  });

  it.each(SIZES)('reads a JSON array, pretty-printed, in chunks of %i', (size) => {
    expect(json(`\uFEFF${JSON.stringify(records, null, 2)}\n`, size)).toEqual(records);
  });

  it('reads objects spread over lines one after another', () => {
    expect(json('{"a":\n1}\n{"a":2}{"a":3}', 2)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('reads an empty array and an empty file as no records', () => {
    expect(json('[]', 1)).toEqual([]);
    expect(json('  \n', 1)).toEqual([]);
  });

  it.each([
    ['[1, 2]', 'record 1 is not a JSON object'],
    ['{"a":1}\n"text"', 'record 2 is not a JSON object'],
    ['[{"a":1} {"a":2}]', 'expected , or ] after record 1'],
    ['[{"a":1}', 'the JSON array is not closed'],
    ['{"a":1', 'record 1 is cut off'],
    ['{"a":tru}', 'record 1 is not valid JSON'],
    ['[{"a":1}] {"b":2}', 'text after the end of the JSON array'],
  ])('rejects %j, saying "%s"', (text, message) => {
    const error = thrownBy(() => json(text, 3));
    expect(error).toBeInstanceOf(TextFormatError);
    expect((error as Error).message).toContain(message);
  });
});

describe('paths', () => {
  it('splits the bucket from the key, with or without a leading slash', () => {
    expect(parsePath('/acme/in/a.csv', 'object')).toEqual({ bucket: 'acme', key: 'in/a.csv' });
    expect(parsePath('acme/in/', 'object')).toEqual({ bucket: 'acme', key: 'in/' });
    expect(parsePath('/acme', 'object')).toEqual({ bucket: 'acme', key: '' });
  });

  it.each([
    ['/acme/../other/x.csv', '".." segments'],
    ['/acme/in/../../x', '".." segments'],
    ['/acme/./x', '".." segments'],
    ['/acme//x', 'empty segments'],
    ['/', 'must start with a bucket'],
    ['/acme/a\u0000b', 'control characters'],
    ['/a/b', 'not a bucket name'],
  ])('rejects %j with an InflowValidationError at the field', (path, message) => {
    const error = thrownBy(() => parsePath(path, 'object'));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe('object');
    expect((error as Error).message).toContain(message);
  });

  it('matches globs within a segment, and across with **', () => {
    const one = globMatcher('in/*.csv');
    expect(one.prefix).toBe('in/');
    expect(['in/a.csv', 'in/sub/b.csv', 'in/a.json'].filter(one.test)).toEqual(['in/a.csv']);
    const deep = globMatcher('in/**.csv');
    expect(['in/a.csv', 'in/sub/b.csv'].filter(deep.test)).toEqual(['in/a.csv', 'in/sub/b.csv']);
    expect(globMatcher('in/*premium*.c?v').test('in/x-premium-1.csv')).toBe(true);
  });
});

describe('formats', () => {
  it('tells the type and compression from the name when not given', () => {
    expect(formatOf('a/b.csv.gz', {}, { prefix: '' })).toMatchObject({
      fileType: 'delimited',
      compression: 'gzip',
      delimiter: ',',
    });
    expect(formatOf('b.tsv', {}, { prefix: '' }).delimiter).toBe('\t');
    expect(formatOf('b.jsonl', {}, { prefix: '' }).fileType).toBe('json');
    expect(
      formatOf('b.dat', { fileType: 'DELIMITED', columnDelimiter: '\\t' }, { prefix: '' }),
    ).toMatchObject({
      fileType: 'delimited',
      delimiter: '\t',
    });
  });

  it.each([
    [{}, 'params.fileType', 'b.dat'],
    [{ fileType: 'xml' }, 'params.fileType', 'b.xml'],
    [{ compressionType: 'bzip2' }, 'params.compressionType', 'b.csv'],
    [{ compressionType: 'gzip' }, 'params.compressionType', 'b.parquet'],
    [{ columnDelimiter: ';;' }, 'params.columnDelimiter', 'b.csv'],
  ])('rejects %j for %s', (options, field, key) => {
    const error = thrownBy(() => formatOf(key, options, { prefix: 'params.' }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe(field);
  });

  it('infers text column types, keeping leading zeros as text', () => {
    const columns = inferColumns(
      [
        {
          id: '1',
          zip: '02134',
          price: '1.5',
          ok: 'true',
          day: '2024-05-01',
          at: '2024-05-01T10:00:00Z',
          s: 'x',
        },
        { id: '22', zip: '10001', price: '2', ok: 'FALSE', day: '2024-05-02', at: null, s: '3' },
      ],
      true,
    );
    expect(Object.fromEntries(columns.map((c) => [c.name, c.xdm]))).toEqual({
      id: { type: 'integer' },
      zip: { type: 'string' },
      price: { type: 'number' },
      ok: { type: 'boolean' },
      day: { type: 'string', format: 'date' },
      at: { type: 'string', format: 'date-time' },
      s: { type: 'string' },
    });
  });

  it('turns Parquet values into JSON', () => {
    expect(
      toJsonValue({ a: 5n, b: 2n ** 60n, c: new Date(0), d: new Uint8Array([1, 2]), e: [1n], f: Number.NaN }),
    ).toEqual({ a: 5, b: '1152921504606846976', c: '1970-01-01T00:00:00.000Z', d: 'AQI=', e: [1], f: 'NaN' });
  });
});

describe('read state', () => {
  const o = (key: string, modified: number, etag = 'e1') => ({ bucket: 'b', key, size: 1, modified, etag });

  it('orders by (LastModified, key) and keeps what follows the mark, ties included', () => {
    const objects = [o('z', 2), o('a', 3), o('b', 2), o('c', 1)].sort(compareObjects);
    expect(objects.map((x) => x.key)).toEqual(['c', 'b', 'z', 'a']);
    let mark = advanceMark(undefined, o('c', 1));
    mark = advanceMark(mark, o('b', 2));
    expect(mark).toEqual({ modified: 2, done: [['b/b', 'e1']] });
    expect(objects.filter((x) => isPending(x, mark)).map((x) => x.key)).toEqual(['z', 'a']);
    // The same key rewritten at the same instant (a new etag) is read again.
    expect(isPending(o('b', 2, 'e2'), mark)).toBe(true);
    expect(isPending(o('late', 1), mark)).toBe(false);
  });

  it('refuses a state of another shape', () => {
    const error = thrownBy(() => parseReadState({ v: 1, mode: 'full' }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect(parseReadState(null)).toBeUndefined();
  });
});
