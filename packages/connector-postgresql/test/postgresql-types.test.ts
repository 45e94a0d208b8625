import { describe, expect, it } from 'vitest';
import {
  byteaToBase64,
  converterFor,
  floatValue,
  int8Value,
  integerValue,
  numericValue,
  PG_OID,
  type PgResolvedType,
  type PgTypeRow,
  parseArrayLiteral,
  readerFor,
  resolvePgType,
  timestampToIso,
  timestamptzToIso,
  xdmTypeOf,
} from '../src/postgresql-types.js';

const scalar = (baseOid: number): PgResolvedType => ({ baseOid, isArray: false, delimiter: ',' });
const arrayOf = (baseOid: number, delimiter = ','): PgResolvedType => ({ baseOid, isArray: true, delimiter });

describe('int8Value: bigint', () => {
  it.each([
    ['0', 0],
    ['-42', -42],
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
    ['9007199254740992', '9007199254740992'],
    ['9223372036854775807', '9223372036854775807'],
    ['-9223372036854775808', '-9223372036854775808'],
  ])('%s → %j', (text, value) => {
    expect(int8Value(text)).toBe(value);
  });
});

describe('numericValue: numbers only when exact', () => {
  it.each([
    ['0', 0],
    ['0.000', 0],
    ['12.50', 12.5],
    ['-0.1', -0.1],
    ['123456789012345', 123456789012345],
    ['1234567890.12345', 1234567890.12345],
    ['9007199254740991', 9007199254740991],
    ['9007199254740991.000', 9007199254740991],
    ['0.000000000000000000001', 1e-21],
  ])('%s → the number %j', (text, value) => {
    expect(numericValue(text)).toBe(value);
  });

  it.each([
    '9007199254740993',
    '12345678901234567.89',
    '0.1234567890123456789',
    '1234567890.123456',
    `1${'0'.repeat(400)}`,
    `0.${'0'.repeat(400)}1`,
    'NaN',
    'Infinity',
    '-Infinity',
  ])('%s stays its exact text', (text) => {
    expect(numericValue(text)).toBe(text);
  });
});

describe('floatValue', () => {
  it('reads finite values as numbers and NaN/±Infinity as text (not JSON numbers)', () => {
    expect(floatValue('1.5')).toBe(1.5);
    expect(floatValue('-1e+300')).toBe(-1e300);
    expect(floatValue('NaN')).toBe('NaN');
    expect(floatValue('Infinity')).toBe('Infinity');
    expect(floatValue('-Infinity')).toBe('-Infinity');
  });
});

describe('timestamps as RFC 3339', () => {
  it.each([
    ['2024-03-05 12:34:56+00', '2024-03-05T12:34:56Z'],
    ['2024-03-05 12:34:56.123456+00', '2024-03-05T12:34:56.123456Z'],
    ['2024-03-05 12:34:56.5+05:30', '2024-03-05T12:34:56.5+05:30'],
    ['2024-03-05 12:34:56-08', '2024-03-05T12:34:56-08:00'],
    ['12024-03-05 00:00:00+00', '12024-03-05T00:00:00Z'],
    ['infinity', 'infinity'],
    ['-infinity', '-infinity'],
    ['0044-03-15 12:00:00+00 BC', '0044-03-15 12:00:00+00 BC'],
    ['1850-01-01 00:00:00+00:53:28', '1850-01-01 00:00:00+00:53:28'],
  ])('timestamptz %s → %s', (text, iso) => {
    expect(timestamptzToIso(text)).toBe(iso);
  });

  it.each([
    ['2024-03-05 12:34:56', '2024-03-05T12:34:56Z'],
    ['2024-03-05 12:34:56.000001', '2024-03-05T12:34:56.000001Z'],
    ['infinity', 'infinity'],
    ['0044-03-15 12:00:00 BC', '0044-03-15 12:00:00 BC'],
  ])('timestamp %s → %s (read as UTC)', (text, iso) => {
    expect(timestampToIso(text)).toBe(iso);
  });
});

describe('bytea', () => {
  it('turns hex output into base64', () => {
    expect(byteaToBase64('\\x00ff10')).toBe(Buffer.from([0, 255, 16]).toString('base64'));
    expect(byteaToBase64('\\x')).toBe('');
  });
});

describe('parseArrayLiteral', () => {
  const text = (s: string) => s;
  it.each([
    ['{}', []],
    ['{1,2,3}', ['1', '2', '3']],
    ['{NULL,"NULL",null}', [null, 'NULL', 'null']],
    ['{"a b","c,d","e\\"f","g\\\\h",""}', ['a b', 'c,d', 'e"f', 'g\\h', '']],
    [
      '{{1,2},{3,4}}',
      [
        ['1', '2'],
        ['3', '4'],
      ],
    ],
    ['[0:1]={7,8}', ['7', '8']],
    ['{"{not nested}"}', ['{not nested}']],
  ])('%s', (literal, expected) => {
    expect(parseArrayLiteral(literal, text)).toEqual(expected);
  });

  it('uses the element delimiter (box uses ";")', () => {
    expect(parseArrayLiteral('{(1,1),(0,0);(2,2),(1,1)}', text, ';')).toEqual(['(1,1),(0,0)', '(2,2),(1,1)']);
  });

  it.each(['{1,2', '1,2}', '{"a}', '{1}x', '[1:2]'])('rejects the malformed %s', (literal) => {
    expect(() => parseArrayLiteral(literal, text)).toThrow(/malformed array literal/);
  });
});

describe('converterFor', () => {
  it('decodes each scalar type', () => {
    expect(converterFor(scalar(PG_OID.bool))('t')).toBe(true);
    expect(converterFor(scalar(PG_OID.bool))('f')).toBe(false);
    expect(converterFor(scalar(PG_OID.int2))('-7')).toBe(-7);
    expect(converterFor(scalar(PG_OID.int4))('2147483647')).toBe(2147483647);
    expect(converterFor(scalar(PG_OID.int8))('9223372036854775807')).toBe('9223372036854775807');
    expect(converterFor(scalar(PG_OID.numeric))('10.25')).toBe(10.25);
    expect(converterFor(scalar(PG_OID.jsonb))('{"a":[1,null,{"b":true}]}')).toEqual({
      a: [1, null, { b: true }],
    });
    expect(converterFor(scalar(PG_OID.json))('"just a string"')).toBe('just a string');
    expect(converterFor(scalar(PG_OID.date))('2024-02-29')).toBe('2024-02-29');
    expect(converterFor(scalar(PG_OID.timestamptz))('2024-02-29 23:59:59.999999+00')).toBe(
      '2024-02-29T23:59:59.999999Z',
    );
    expect(converterFor(scalar(2950))('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
  });

  it('decodes arrays element by element', () => {
    expect(converterFor(arrayOf(PG_OID.int4))('{1,NULL,3}')).toEqual([1, null, 3]);
    expect(converterFor(arrayOf(PG_OID.bool))('{{t,f},{f,t}}')).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(converterFor(arrayOf(PG_OID.jsonb))('{"{\\"a\\": 1}",NULL}')).toEqual([{ a: 1 }, null]);
    expect(converterFor(arrayOf(PG_OID.timestamptz))('{"2024-01-01 00:00:00+00"}')).toEqual([
      '2024-01-01T00:00:00Z',
    ]);
  });
});

describe('xdmTypeOf', () => {
  it.each([
    [scalar(25), { xdm: { type: 'string' }, meta: 'string' }],
    [scalar(PG_OID.int2), { xdm: { type: 'integer' }, meta: 'short' }],
    [scalar(PG_OID.int4), { xdm: { type: 'integer' }, meta: 'int' }],
    [scalar(PG_OID.int8), { xdm: { type: 'integer' }, meta: 'long' }],
    [scalar(PG_OID.numeric), { xdm: { type: 'number' }, meta: 'number' }],
    [scalar(PG_OID.float8), { xdm: { type: 'number' }, meta: 'number' }],
    [scalar(PG_OID.bool), { xdm: { type: 'boolean' }, meta: 'boolean' }],
    [scalar(PG_OID.date), { xdm: { type: 'string', format: 'date' }, meta: 'date' }],
    [scalar(PG_OID.timestamp), { xdm: { type: 'string', format: 'date-time' }, meta: 'date-time' }],
    [scalar(PG_OID.timestamptz), { xdm: { type: 'string', format: 'date-time' }, meta: 'date-time' }],
    [scalar(PG_OID.jsonb), { xdm: { type: 'object' }, meta: 'object' }],
    [scalar(PG_OID.json), { xdm: { type: 'object' }, meta: 'object' }],
    [arrayOf(PG_OID.int4), { xdm: { type: 'array' }, meta: 'array' }],
  ])('%j → %j', (type, mapping) => {
    expect(xdmTypeOf(type)).toEqual(mapping);
  });
});

describe('resolvePgType', () => {
  const row = (r: Partial<PgTypeRow> & { oid: number }): [number, PgTypeRow] => [
    r.oid,
    { typtype: 'b', typcategory: 'N', typelem: 0, typbasetype: 0, typdelim: ',', typarray: 0, ...r },
  ];
  const types = new Map<number, PgTypeRow>([
    row({ oid: 23, typarray: 1007 }),
    row({ oid: 1007, typcategory: 'A', typelem: 23 }),
    row({ oid: 21, typarray: 1005 }),
    // int2vector: category A with an element, but not that element's array type.
    row({ oid: 22, typcategory: 'A', typelem: 21 }),
    // A domain over a domain over numeric, and an array of the domain.
    row({ oid: 1700, typarray: 1231 }),
    row({ oid: 90001, typtype: 'd', typbasetype: 1700, typarray: 90003 }),
    row({ oid: 90002, typtype: 'd', typbasetype: 90001 }),
    row({ oid: 90003, typcategory: 'A', typelem: 90001 }),
    // A domain over an array.
    row({ oid: 90004, typtype: 'd', typbasetype: 1007 }),
    // box: arrays of it use ';'.
    row({ oid: 603, typdelim: ';', typarray: 1020, typcategory: 'G' }),
    row({ oid: 1020, typcategory: 'A', typelem: 603 }),
  ]);

  it.each([
    [23, { baseOid: 23, isArray: false, delimiter: ',' }],
    [1007, { baseOid: 23, isArray: true, delimiter: ',' }],
    [22, { baseOid: 22, isArray: false, delimiter: ',' }],
    [90002, { baseOid: 1700, isArray: false, delimiter: ',' }],
    [90003, { baseOid: 1700, isArray: true, delimiter: ',' }],
    [90004, { baseOid: 23, isArray: true, delimiter: ',' }],
    [1020, { baseOid: 603, isArray: true, delimiter: ';' }],
    [424242, { baseOid: 424242, isArray: false, delimiter: ',' }],
  ])('%i → %j', (oid, resolved) => {
    expect(resolvePgType(oid, types)).toEqual(resolved);
  });
});

describe('integerValue: the integer types', () => {
  it.each(['0', '-0', '7', '-32768', '2147483647', '-2147483648', '123456789012345', '-123456789012345'])(
    '%s is Number(text)',
    (text) => {
      expect(integerValue(text)).toBe(Number(text));
    },
  );

  it.each(['1234567890123456', '', '-', '+5', ' 5', '1e3', 'x'])('%j takes Number(text)', (text) => {
    expect(integerValue(text)).toBe(Number(text));
  });
});

describe('fast paths agree with the general rules', () => {
  // The rules as first written (regular expressions only): the fast paths must not change a result.
  const numericReference = (text: string): number | string => {
    const match = /^-?(\d+)(?:\.(\d+))?$/.exec(text);
    if (!match) return text;
    const n = Number(text);
    if (!Number.isFinite(n)) return text;
    const fraction = (match[2] ?? '').replace(/0+$/, '');
    if (fraction === '' && Number.isSafeInteger(n)) return n;
    const digits = `${match[1]}${fraction}`.replace(/^0+/, '').replace(/0+$/, '');
    if (digits.length > 15) return text;
    if (digits.length === 0) return 0;
    return Math.abs(n) >= 2.2250738585072014e-308 ? n : text;
  };

  it('numericValue, for random decimals of 1 to 18 digits and edge texts', () => {
    let seed = 42;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    const texts = ['0', '-0', '-0.00', '1.', '.5', '1.2.3', '--1', '1-', '000123.4500', '999999999999999.9'];
    for (let i = 0; i < 5000; i++) {
      const digits = Array.from({ length: 1 + random(18) }, () => String(random(10))).join('');
      const point = random(digits.length + 1);
      const text =
        point === 0 || point === digits.length ? digits : `${digits.slice(0, point)}.${digits.slice(point)}`;
      texts.push(random(2) ? `-${text}` : text);
    }
    for (const text of texts) expect([text, numericValue(text)]).toEqual([text, numericReference(text)]);
  });

  it('int8Value, for short texts that are not integers', () => {
    for (const text of ['', '-', 'x', '1e3', '+5']) {
      const n = Number(text);
      expect(int8Value(text)).toBe(Number.isSafeInteger(n) ? n : text);
    }
  });

  it('timestamptzToIso, for every fraction length and near-misses of the UTC form', () => {
    for (const fraction of ['', '.1', '.12', '.123', '.1234', '.12345', '.123456']) {
      expect(timestamptzToIso(`2024-03-05 12:34:56${fraction}+00`)).toBe(`2024-03-05T12:34:56${fraction}Z`);
    }
    for (const text of [
      '2024-03-05 12:34:56.+00',
      '2024-03-05T12:34:56+00',
      '2024-03-05 12:34:5x+00',
      '2024-03-05 12:34:56+01',
      '2024-03-05 12:34:56+00:00',
      '2024-03-05 12:34:56.1234567+00',
      '202a-03-05 12:34:56+00',
    ]) {
      const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::(\d\d))?(?::(\d\d))?$/.exec(
        text,
      );
      const expected =
        !m || m[5] !== undefined
          ? text
          : `${m[1]}T${m[2]}${m[3] === '+00' && (m[4] === undefined || m[4] === '00') ? 'Z' : `${m[3]}:${m[4] ?? '00'}`}`;
      expect([text, timestamptzToIso(text)]).toEqual([text, expected]);
    }
  });
});

describe('readerFor: the converter, read from a range of a larger text', () => {
  const samples: [PgResolvedType, string[]][] = [
    [scalar(PG_OID.int4), ['0', '-7', '2147483647', '-2147483648', '12a', '']],
    [scalar(PG_OID.int2), ['-32768', '5']],
    [scalar(PG_OID.int8), ['9007199254740991', '9223372036854775807', '-1', '123456789012345', 'x']],
    [
      scalar(PG_OID.numeric),
      ['0', '-0.00', '12.50', '1234567890.12345', '1234567890.123456', 'NaN', '1.', '9007199254740993'],
    ],
    [scalar(PG_OID.bool), ['t', 'f', 'true', 'false']],
    [
      scalar(PG_OID.timestamptz),
      [
        '2024-03-05 12:34:56+00',
        '2024-03-05 12:34:56.123456+00',
        '2024-03-06 00:00:00.5+00',
        '2024-03-05 12:34:56-08',
        'infinity',
        '0044-03-15 12:00:00+00 BC',
      ],
    ],
    [scalar(PG_OID.jsonb), ['{"a": [1, null]}', '"s"']],
    [scalar(PG_OID.float8), ['1.5', 'NaN', '-1e+300']],
    [arrayOf(PG_OID.int4), ['{1,NULL,3}', '{}']],
    [scalar(25), ['any text', '']],
  ];

  it.each(samples)('%j', (type, texts) => {
    const read = readerFor(type);
    const convert = converterFor(type);
    for (const text of texts) {
      expect([text, read(text, 0, text.length)]).toEqual([text, convert(text)]);
      const padded = `9\t${text}\t9`;
      expect([text, read(padded, 2, 2 + text.length)]).toEqual([text, convert(text)]);
    }
  });
});
