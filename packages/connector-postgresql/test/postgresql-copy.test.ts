import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';
import {
  CopyTextParser,
  copyStatement,
  type FieldReader,
  textReader,
  unescapeCopyText,
} from '../src/postgresql-copy.js';
import { converterFor, PG_OID, type PgResolvedType, readerFor } from '../src/postgresql-types.js';

/** Every row of `data` fed in `chunks` (byte lengths, cycled), as fresh arrays. */
function parseRows(
  data: string | Buffer,
  fields: number | FieldReader[],
  chunks: number[] = [data.length],
): unknown[][] {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
  const parser = new CopyTextParser(
    typeof fields === 'number' ? Array<FieldReader>(fields).fill(textReader) : fields,
  );
  const rows: unknown[][] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = Math.max(1, chunks[i % chunks.length] as number);
    parser.write(bytes.subarray(at, at + size), (fields) => rows.push([...fields]));
    at += size;
  }
  parser.end();
  return rows;
}

describe('CopyTextParser', () => {
  it('splits rows at newlines and fields at tabs', () => {
    expect(parseRows('1\tone\t\n22\ttwo\tx\n', 3)).toEqual([
      ['1', 'one', ''],
      ['22', 'two', 'x'],
    ]);
  });

  it('reads \\N as NULL, and an empty field as the empty string', () => {
    expect(parseRows('\\N\t\t\\N\n', 3)).toEqual([[null, '', null]]);
  });

  it('undoes every escape PostgreSQL writes, and keeps a backslash-N text apart from NULL', () => {
    const line = 'a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh\t\\\\N\t\\N\\N\tx\\\\\n';
    expect(parseRows(line, 4)).toEqual([['a\tb\nc\rd\\e\bf\fg\vh', '\\N', 'NN', 'x\\']]);
  });

  it('gives the same rows whatever the chunks, even split inside a character or an escape', () => {
    const data =
      'héllo wörld\t{"emoji": "😀"}\t\\N\n' +
      'tab\\there\t日本語テキスト\t\\\\\n' +
      '\\N\t\t\n' +
      `${'long '.repeat(5000)}\tend\tx\n`;
    const whole = parseRows(data, 3);
    expect(whole).toHaveLength(4);
    expect(whole[0]).toEqual(['héllo wörld', '{"emoji": "😀"}', null]);
    expect(whole[1]).toEqual(['tab\there', '日本語テキスト', '\\']);
    for (const chunks of [[1], [2], [3], [7, 1, 13], [64], [1000, 1]]) {
      expect(parseRows(data, 3, chunks)).toEqual(whole);
    }
  });

  it('parses rows of a single field, and rows of no field', () => {
    expect(parseRows('a\n\\N\n\n', 1)).toEqual([['a'], [null], ['']]);
    expect(parseRows('\n\n\n', 0)).toEqual([[], [], []]);
  });

  it("gives each row's length in characters, newline included, whatever the chunks", () => {
    const data = `héllo\t😀\n\\N\t\n${'long '.repeat(5000)}\tend\n`;
    const expected = data.split(/(?<=\n)/).map((row) => row.length);
    expect(expected).toEqual([9, 4, 25005]);
    for (const size of [1, 3, 64, data.length]) {
      const bytes = Buffer.from(data, 'utf8');
      const parser = new CopyTextParser([textReader, textReader]);
      const lengths: number[] = [];
      for (let at = 0; at < bytes.length; at += size) {
        parser.write(bytes.subarray(at, at + size), (_, length) => lengths.push(length));
      }
      parser.end();
      expect(lengths).toEqual(expected);
    }
  });

  it('counts the rows it parsed', () => {
    const parser = new CopyTextParser([textReader]);
    parser.write(Buffer.from('a\nb\nc'), () => {});
    expect(parser.rows).toBe(2);
    parser.write(Buffer.from('\n'), () => {});
    expect(parser.rows).toBe(3);
  });

  it('rejects rows with too few or too many fields, naming the row', () => {
    expect(thrownBy(() => parseRows('a\tb\nc\n', 2))).toMatchObject({
      message: expect.stringMatching(/malformed COPY data in row 2: a row has 1 fields, expected 2 \(c\)/),
    });
    expect(thrownBy(() => parseRows('a\tb\tc\n', 2))).toMatchObject({
      message: expect.stringMatching(/malformed COPY data in row 1: a row has more than 2 fields/),
    });
    expect(thrownBy(() => parseRows('x\n', 0))).toMatchObject({
      message: expect.stringMatching(/a row of no columns has text/),
    });
  });

  it('rejects data that ends inside a row', () => {
    expect(thrownBy(() => parseRows('a\tb\nc\td', 2))).toMatchObject({
      message: 'malformed COPY data: it ended inside row 2 (3 bytes without a newline)',
    });
  });
});

describe('unescapeCopyText', () => {
  it('undoes escapes, and keeps any other escaped character as itself', () => {
    expect(unescapeCopyText('a\\\\b\\tc\\.d')).toBe('a\\b\tc.d');
    expect(unescapeCopyText('plain')).toBe('plain');
  });

  it('rejects a lone backslash at the end', () => {
    expect(() => unescapeCopyText('abc\\')).toThrow(/lone backslash/);
  });
});

describe('COPY text through the column converters', () => {
  const scalar = (baseOid: number): PgResolvedType => ({ baseOid, isArray: false, delimiter: ',' });
  const arrayOf = (baseOid: number): PgResolvedType => ({ baseOid, isArray: true, delimiter: ',' });
  const types: PgResolvedType[] = [
    scalar(PG_OID.int4),
    scalar(PG_OID.int8),
    scalar(PG_OID.numeric),
    scalar(PG_OID.float8),
    scalar(PG_OID.bool),
    scalar(PG_OID.timestamptz),
    scalar(PG_OID.timestamp),
    scalar(PG_OID.date),
    scalar(PG_OID.jsonb),
    scalar(PG_OID.bytea),
    scalar(2950),
    scalar(25),
    arrayOf(25),
    arrayOf(PG_OID.int4),
    arrayOf(PG_OID.jsonb),
  ];
  /** The row through each column's reader, checked against the converter of each raw text. */
  const decode = (line: string) => {
    const rows = parseRows(line, types.map(readerFor));
    const texts = parseRows(line, types.length);
    expect(rows).toEqual(
      texts.map((row) =>
        row.map((text, i) =>
          text === null ? null : converterFor(types[i] as PgResolvedType)(text as string),
        ),
      ),
    );
    return rows;
  };

  it('decodes a row of every type as COPY writes it (arrays with quotes, NULLs, escapes, nesting)', () => {
    const line = [
      '-2147483648',
      '9223372036854775807',
      '12345678901234567.89',
      '-1.5e-10',
      't',
      '2024-02-29 23:59:59.000001+00',
      '2024-02-29 23:59:59',
      '2024-02-29',
      '{"a": "tab\\\\there", "b": [1, null]}',
      '\\\\x00ff',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      'multi\\nline \\\\ text',
      '{"a,b","c\\\\"d","e\\\\\\\\f",NULL,"NULL",""}',
      '{{1,NULL},{3,4}}',
      '{"{\\\\"k\\\\": \\\\"v\\\\"}",NULL}',
    ].join('\t');
    expect(decode(`${line}\n`)).toEqual([
      [
        -2147483648,
        '9223372036854775807',
        '12345678901234567.89',
        -1.5e-10,
        true,
        '2024-02-29T23:59:59.000001Z',
        '2024-02-29T23:59:59Z',
        '2024-02-29',
        { a: 'tab\there', b: [1, null] },
        Buffer.from([0, 255]).toString('base64'),
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        'multi\nline \\ text',
        ['a,b', 'c"d', 'e\\f', null, 'NULL', ''],
        [
          [1, null],
          [3, 4],
        ],
        [{ k: 'v' }, null],
      ],
    ]);
  });

  it('decodes a row of NULLs', () => {
    expect(decode(`${Array(types.length).fill('\\N').join('\t')}\n`)).toEqual([
      Array(types.length).fill(null),
    ]);
  });
});

describe('copyStatement', () => {
  it('writes each parameter as a literal and wraps the query in COPY … TO STDOUT', () => {
    expect(
      copyStatement('SELECT t."a" FROM "s"."t" AS t WHERE t."a" > $1 AND t."b" = $2 LIMIT $3', [
        "it's",
        'back\\slash',
        10,
      ]),
    ).toBe(
      `COPY (SELECT t."a" FROM "s"."t" AS t WHERE t."a" > 'it''s' AND t."b" =  E'back\\\\slash' LIMIT 10) TO STDOUT`,
    );
  });

  it('writes a list of texts as an array literal', () => {
    expect(copyStatement('SELECT $1::jsonb[]', [['["7"]', 'a\\b', "it's"]])).toBe(
      `COPY (SELECT  E'{"[\\\\"7\\\\"]","a\\\\\\\\b","it''s"}'::jsonb[]) TO STDOUT`,
    );
  });

  it('leaves $n inside quoted identifiers and string literals alone, and reads $10 as one parameter', () => {
    const values = Array.from({ length: 10 }, (_, i) => String(i + 1));
    expect(copyStatement(`SELECT "a$1""$2", 'x$1''$3', $10, $ FROM t`, values)).toBe(
      `COPY (SELECT "a$1""$2", 'x$1''$3', '10', $ FROM t) TO STDOUT`,
    );
  });

  it('refuses a parameter without a value, and a value it cannot write exactly', () => {
    expect(() => copyStatement('SELECT $2', ['a'])).toThrow('parameter $2 has no value');
    expect(() => copyStatement('SELECT $0', ['a'])).toThrow('parameter $0 has no value');
    expect(() => copyStatement('SELECT $1', [1.5])).toThrow(/cannot write number/);
    expect(() => copyStatement('SELECT $1', [{}])).toThrow(/cannot write object/);
  });
});
