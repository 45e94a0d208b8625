import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  compileMappingSet,
  InflowValidationError,
  MappingExpressionError,
  type MapResult,
  normalizeMappingSet,
} from '@inflow/core';
import { describe, expect, it } from 'vitest';

const SCHEMA = {
  schemaRef: {
    id: 'https://ns.adobe.com/acme/schemas/1',
    contentType: 'application/vnd.adobe.xed-full+json;version=1',
  },
};

const current = (...mappings: unknown[]) => ({ outputSchema: SCHEMA, mappings });
const attr = (source: string, destination: string) => ({ sourceType: 'ATTRIBUTE', source, destination });
const expr = (source: string, destination: string) => ({ sourceType: 'EXPRESSION', source, destination });

function mapped(result: MapResult): Record<string, unknown> {
  if (!result.ok) throw new Error(`mapping failed: ${JSON.stringify(result.errors)}`);
  return result.value;
}

function compileError(body: unknown): MappingExpressionError {
  try {
    compileMappingSet(body);
  } catch (error) {
    if (MappingExpressionError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected the mapping set not to compile');
}

/** Seed 004's `POST /conversion/mappingSets` body, verbatim. */
function customerIoBody(): unknown {
  const seed = readFileSync(
    fileURLToPath(new URL('../../../fixtures/seeds/004_26329b1a04782839.txt', import.meta.url)),
    'utf8',
  );
  const match = /conversion\/mappingSets' \\[\s\S]*?-d '([\s\S]*?)'\n/.exec(seed);
  if (!match?.[1]) throw new Error('seed 004 has no POST /mappingSets body');
  return JSON.parse(match[1]);
}

/** The Customer.io Reporting Webhook sample Adobe used for the source schema (reference §10.2). */
const CUSTOMER_IO_EVENT = {
  event_id: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
  object_type: 'customer',
  metric: 'subscribed',
  timestamp: 1613063089,
  data: {
    customer_id: '42',
    email_address: 'test@example.com',
    identifiers: { id: '42', email: 'test@example.com', cio_id: 'd9c106000001' },
  },
};

describe('compileMappingSet: seed 004 (Customer.io)', () => {
  it('maps a Customer.io webhook event to the _extconndev fields', () => {
    const map = compileMappingSet(customerIoBody());
    expect(map(CUSTOMER_IO_EVENT)).toEqual({
      ok: true,
      value: {
        _extconndev: {
          cio_id: 'd9c106000001',
          email: 'test@example.com',
          event_id0: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
          metricx: 'subscribed',
          object_type1: 'customer',
          timestampx: 1613063089,
        },
      },
    });
  });

  it('leaves out what a test-mode event does not send (no cio_id)', () => {
    const map = compileMappingSet(customerIoBody());
    const { identifiers, ...data } = CUSTOMER_IO_EVENT.data;
    const value = mapped(
      map({ ...CUSTOMER_IO_EVENT, data: { ...data, identifiers: { email: identifiers.email } } }),
    );
    expect(value._extconndev).not.toHaveProperty('cio_id');
    expect(value._extconndev).toMatchObject({ email: 'test@example.com', metricx: 'subscribed' });
  });

  it('accepts the normalised form as well as the raw body', () => {
    const normalized = normalizeMappingSet(customerIoBody());
    expect(compileMappingSet(normalized)(CUSTOMER_IO_EVENT)).toEqual(
      compileMappingSet(customerIoBody())(CUSTOMER_IO_EVENT),
    );
  });

  it('compiles once into one function whose source reads each field', () => {
    const map = compileMappingSet(customerIoBody());
    expect(typeof map).toBe('function');
    expect(map.source).toContain('r?.["data"]?.["identifiers"]?.["cio_id"]');
  });
});

describe('compileMappingSet: dialects and sources', () => {
  it('legacy sourceAttribute/destinationXdmPath', () => {
    const map = compileMappingSet({
      version: 0,
      xdmSchema: 'https://ns.adobe.com/acme/schemas/1',
      xdmVersion: '1.0',
      id: null,
      mappings: [
        {
          destinationXdmPath: '_id',
          sourceAttribute: 'Id',
          identity: false,
          identityGroup: null,
          namespaceCode: null,
          version: 0,
        },
        {
          destinationXdmPath: 'person.name.firstName',
          sourceAttribute: 'FirstName',
          identity: false,
          version: 0,
        },
      ],
    });
    expect(mapped(map({ Id: 'c1', FirstName: 'Ada' }))).toEqual({
      _id: 'c1',
      person: { name: { firstName: 'Ada' } },
    });
  });

  it('ATTRIBUTE, STATIC and EXPRESSION, and the stored spellings of sourceType', () => {
    const map = compileMappingSet(
      current(
        attr('id', '_id'),
        { sourceType: 'STATIC', source: '42', destination: '_acme.static' },
        expr('concat(upper(lastName), ", ", firstName)', '_acme.display'),
        { sourceType: 'text/x.schema-path', source: 'firstName', destination: 'person.name.firstName' },
        { sourceType: 'text/x.aep-xl', source: 'lower(lastName)', destination: 'person.name.lastName' },
      ),
    );
    expect(mapped(map({ id: 'x', firstName: 'Ada', lastName: 'Lovelace' }))).toEqual({
      _id: 'x',
      _acme: { static: '42', display: 'LOVELACE, Ada' },
      person: { name: { firstName: 'Ada', lastName: 'lovelace' } },
    });
  });

  it('a missing source leaves the field out, not null; a present null is kept', () => {
    const map = compileMappingSet(current(attr('a', 'x.a'), attr('b', 'x.b'), expr('upper(c)', 'x.c')));
    expect(mapped(map({ a: 1 }))).toEqual({ x: { a: 1 } });
    expect(mapped(map({ b: null }))).toEqual({ x: { b: null } });
    expect(mapped(map({}))).toEqual({});
  });

  it('STATIC values are kept exactly as given, even text that looks like code', () => {
    const map = compileMappingSet(
      current({ sourceType: 'STATIC', source: '"];process.exit(1);//', destination: 'x' }),
    );
    expect(mapped(map({}))).toEqual({ x: '"];process.exit(1);//' });
  });

  it('copies objects and arrays whole (object copy)', () => {
    const map = compileMappingSet(current(attr('address', 'homeAddress'), attr('tags', '_acme.tags')));
    expect(mapped(map({ address: { city: 'Basel', zip: '4051' }, tags: ['a', 'b'] }))).toEqual({
      homeAddress: { city: 'Basel', zip: '4051' },
      _acme: { tags: ['a', 'b'] },
    });
  });

  it('keeps field order as the mappings give it', () => {
    const map = compileMappingSet(current(attr('b', 'b'), attr('a', 'a.y'), attr('c', 'a.x')));
    expect(Object.keys(mapped(map({ a: 1, b: 2, c: 3 })))).toEqual(['b', 'a']);
    expect(Object.keys(mapped(map({ a: 1, b: 2, c: 3 })).a as object)).toEqual(['y', 'x']);
  });
});

describe('compileMappingSet: paths', () => {
  const record = {
    customerInfo: {
      emails: [
        { email: 'a@x.io', name: 'home' },
        { email: 'b@x.io', name: 'work' },
      ],
    },
    'First Name': 'Ada',
    'street.name': 'Main',
    matrix: [
      [1, 2],
      [3, 4],
    ],
  };

  it('nested and indexed source paths', () => {
    const map = compileMappingSet(
      current(attr('customerInfo.emails[1].email', 'x.email'), attr('matrix[1][0]', 'x.n')),
    );
    expect(mapped(map(record))).toEqual({ x: { email: 'b@x.io', n: 3 } });
  });

  it(`\${…} names and escaped dots`, () => {
    const map = compileMappingSet(
      current(attr(`\${First Name}`, 'x.first'), attr('street\\.name', 'x.street')),
    );
    expect(mapped(map(record))).toEqual({ x: { first: 'Ada', street: 'Main' } });
  });

  it('a wildcard source into a wildcard destination (pi[*].names)', () => {
    const map = compileMappingSet(
      current(
        attr('customerInfo.emails[*].name', 'pi[*].names'),
        attr('customerInfo.emails[*].email', 'pi[*].address'),
      ),
    );
    expect(mapped(map(record))).toEqual({
      pi: [
        { names: 'home', address: 'a@x.io' },
        { names: 'work', address: 'b@x.io' },
      ],
    });
  });

  it('a wildcard source into a plain destination gives the array', () => {
    const map = compileMappingSet(current(attr('customerInfo.emails[*].email', 'x.emails')));
    expect(mapped(map(record))).toEqual({ x: { emails: ['a@x.io', 'b@x.io'] } });
  });

  it('nested wildcards', () => {
    const map = compileMappingSet(current(attr('matrix[*][*]', 'x.m')));
    expect(mapped(map(record))).toEqual({
      x: {
        m: [
          [1, 2],
          [3, 4],
        ],
      },
    });
  });

  it('a wildcard over something that is not an array is missing', () => {
    const map = compileMappingSet(current(attr('customerInfo[*].email', 'x.e'), attr('nothing[*].x', 'x.f')));
    expect(mapped(map(record))).toEqual({});
  });

  it('array destinations: indexes create arrays, fields create objects', () => {
    const map = compileMappingSet(
      current(
        attr('a', 'identityMap.Email[0].id'),
        attr('b', 'identityMap.Email[0].primary'),
        attr('c', 'list[1]'),
      ),
    );
    expect(mapped(map({ a: 'a@x.io', b: true, c: 'second' }))).toEqual({
      identityMap: { Email: [{ id: 'a@x.io', primary: true }] },
      list: [undefined, 'second'],
    });
  });

  it('a wildcard destination from a single value writes element 0', () => {
    const map = compileMappingSet(current(attr('a', 'x[*].v')));
    expect(mapped(map({ a: 7 }))).toEqual({ x: [{ v: 7 }] });
  });

  it('paths into computed values', () => {
    const map = compileMappingSet(
      current(expr('split(tags, ",")[1]', 'x.second'), expr('to_object("k", v).k', 'x.k')),
    );
    expect(mapped(map({ tags: 'a,b,c', v: 5 }))).toEqual({ x: { second: 'b', k: 5 } });
  });

  it('reading through something that is not an object is missing, not an error', () => {
    const map = compileMappingSet(current(attr('a.b.c', 'x')));
    expect(map({ a: 'text' })).toEqual({ ok: true, value: {} });
    expect(map({ a: null })).toEqual({ ok: true, value: {} });
  });

  it('a record that is not an object fails as a whole', () => {
    const map = compileMappingSet(current(attr('a', 'x')));
    for (const record of [null, [1], 'text', 3]) {
      const result = map(record as never);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors[0]).toMatchObject({ path: '' });
    }
  });
});

describe('compileMappingSet: per-record failures', () => {
  it('names the destination and the reason, and maps the other fields', () => {
    const map = compileMappingSet(
      current(attr('id', '_id'), expr('to_integer(age)', 'person.age'), expr('upper(name)', 'person.name')),
    );
    expect(map({ id: 'x', age: 'abc', name: 'ada' })).toEqual({
      ok: false,
      errors: [{ path: 'person.age', reason: 'to_integer: "abc" is not a number', mapping: 1 }],
      value: { _id: 'x', person: { name: 'ADA' } },
    });
    expect(map({ id: 'y', age: '41', name: 'bob' })).toEqual({
      ok: true,
      value: { _id: 'y', person: { age: 41, name: 'BOB' } },
    });
  });

  it('reports every failing field of a record', () => {
    const map = compileMappingSet(
      current(expr('to_float(a)', 'x.a'), expr('1 / b', 'x.b'), expr('json_to_object(c)', 'x.c')),
    );
    const result = map({ a: 'n/a', b: 0, c: '{' });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.map((e) => e.path)).toEqual(['x.a', 'x.b', 'x.c']);
      expect(result.errors[1]?.reason).toBe('/: division by zero');
      expect(result.value).toEqual({});
    }
  });

  it('a very long number-like text fails without backtracking for ever', () => {
    const map = compileMappingSet(current(expr('to_integer(n)', 'x')));
    const result = map({ n: `${'1'.repeat(200_000)}x` });
    expect(result).toMatchObject({ ok: false, errors: [{ path: 'x' }] });
  });

  it('one compiled set maps many records independently', () => {
    const map = compileMappingSet(current(expr('to_integer(n) * 2', 'x')));
    expect([1, 2, 'bad', 4].map((n) => map({ n }).ok)).toEqual([true, true, false, true]);
  });
});

describe('compileMappingSet: compile errors', () => {
  it('a parse error names the mapping, its destination and the position', () => {
    const error = compileError(current(attr('a', 'x'), expr('concat(a,\n  b c)', '_acme.full')));
    expect(error.mapping).toBe(1);
    expect(error.destination).toBe('_acme.full');
    expect(error.line).toBe(2);
    expect(error.column).toBe(5);
    expect(error.message).toBe('mappings[1] (→ _acme.full): unexpected "c" at 2:5: expected "," or ")"');
  });

  it('a parse error in a raw legacy body is a located MappingExpressionError too', () => {
    const error = compileError({
      outputSchema: SCHEMA,
      mappings: [{ sourceAttribute: 'a..b', destinationXdmPath: 'x.y' }],
    });
    expect(error.mapping).toBe(0);
    expect(error.destination).toBe('x.y');
    expect(error.column).toBe(3);
  });

  it('an unknown function, at its position', () => {
    const error = compileError(current(expr('upper(frobnicate(a))', 'x')));
    expect(error.message).toMatch(/^mappings\[0\] \(→ x\): unknown function "frobnicate" at 1:7/);
    expect(error.position).toBe(6);
  });

  it('a wrong number of arguments', () => {
    expect(compileError(current(expr('substr(a)', 'x'))).message).toBe(
      'mappings[0] (→ x): substr() takes 2 to 3 arguments, not 1 at 1:1: syntax: substr(INPUT, START_INDEX, LENGTH?)',
    );
    expect(compileError(current(expr('now(1)', 'x'))).message).toContain('now() takes 0 arguments, not 1');
    expect(compileError(current(expr('lower()', 'x'))).message).toContain('lower() takes 1 argument, not 0');
  });

  it('an unknown method', () => {
    expect(compileError(current(expr('a.explode(",")', 'x'))).message).toContain('unknown method "explode"');
  });

  it('an ATTRIBUTE source that is not a path', () => {
    const error = compileError(
      current({ sourceType: 'ATTRIBUTE', source: 'upper(a)', destination: 'x', expression: undefined }),
    );
    expect(error.message).toContain('not a field path');
  });

  it('overlapping destinations', () => {
    expect(compileError(current(attr('a', 'x'), attr('b', 'x.y'))).message).toContain(
      'mappings[1] (→ x.y): destination overlaps mappings[0] (→ x)',
    );
    expect(compileError(current(attr('a', 'x.y'), attr('b', 'x'))).message).toContain('overlaps mappings[0]');
    expect(compileError(current(attr('a', 'x.y'), attr('b', 'x[0]'))).message).toContain(
      'overlaps mappings[0]',
    );
    expect(compileError(current(attr('a', 'x'), attr('b', 'x'))).message).toContain('duplicate destination');
  });

  it('other invalid bodies are validation errors', () => {
    expect(() => compileMappingSet({ mappings: [] })).toThrow(InflowValidationError);
    expect(() => compileMappingSet(null)).toThrow(InflowValidationError);
  });
});

describe('compileMappingSet: injection and prototype pollution', () => {
  const evil = '"];process.exit(1);//';

  it('a source attribute named like code is only ever a property name', () => {
    // Inside ${…} a dot separates fields, so the one in the name is escaped.
    const written = `\${${evil.replace('.', '\\.')}}`;
    const map = compileMappingSet(current(attr(written, 'x.a'), expr(`concat(${written}, "!")`, 'x.b')));
    expect(mapped(map({ [evil]: 'safe' }))).toEqual({ x: { a: 'safe', b: 'safe!' } });
    // It reaches the generated code only as a JSON string literal.
    expect(map.source).toContain(`r?.[${JSON.stringify(evil)}]`);
  });

  it('string literals that look like code stay strings', () => {
    const map = compileMappingSet(current(expr(`concat("\\"); globalThis.pwned = 1; (\\"", a)`, 'x')));
    expect(mapped(map({ a: 'z' }))).toEqual({ x: '"); globalThis.pwned = 1; ("z' });
    expect((globalThis as Record<string, unknown>).pwned).toBeUndefined();
  });

  it('a compile name that closes the generated function is harmless', () => {
    const name = '}; return 1; function f(){';
    const map = compileMappingSet(current(attr('a', 'x')), { name });
    expect(mapped(map({ a: 2 }))).toEqual({ x: 2 });
  });

  it('refuses __proto__, constructor and prototype in destinations', () => {
    for (const destination of ['__proto__.polluted', 'a.constructor.prototype', 'x.prototype']) {
      const error = compileError(current(attr('a', destination)));
      expect(error.message).toMatch(
        /field name "(__proto__|constructor|prototype)" is not allowed in a destination/,
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads __proto__, constructor and inherited names as own properties only', () => {
    const map = compileMappingSet(
      current(
        attr(`\${__proto__}`, 'x.p'),
        attr('a.constructor', 'x.c'),
        attr('toString', 'x.t'),
        attr('b.hasOwnProperty', 'x.h'),
      ),
    );
    expect(mapped(map({ a: {}, b: {} }))).toEqual({});
    const record = JSON.parse(
      '{"__proto__": {"polluted": 1}, "a": {"constructor": "mine"}, "toString": "text"}',
    );
    expect(mapped(map(record))).toEqual({ x: { p: { polluted: 1 }, c: 'mine', t: 'text' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('objects built by functions refuse prototype keys', () => {
    const map = compileMappingSet(current(expr('to_object(k, 1)', 'x'), expr('str_to_object(s)', 'y')));
    const result = map({ k: '__proto__', s: '__proto__:1' });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.map((e) => e.reason)).toEqual([
        'to_object: the key "__proto__" is not allowed',
        'str_to_object: the key "__proto__" is not allowed',
      ]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('wildcard writes cannot reach a prototype either', () => {
    const map = compileMappingSet(current(attr('items[*]', 'list[*].v')));
    const items = JSON.parse('[{"__proto__": {"polluted": 1}}]');
    expect(mapped(map({ items }))).toEqual({ list: [{ v: items[0] }] });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('compileMappingSet: operators', () => {
  const one = (source: string, record: Record<string, unknown> = {}) =>
    compileMappingSet(current(expr(source, 'x')))(record);
  const value = (source: string, record: Record<string, unknown> = {}) => {
    const result = one(source, record);
    if (!result.ok) throw new Error(result.errors[0]?.reason);
    return result.value.x;
  };

  it('arithmetic, with numeric text and precedence', () => {
    expect(value('1 + 2 * 3')).toBe(7);
    expect(value('(1 + 2) * 3')).toBe(9);
    expect(value('10 / 4')).toBe(2.5);
    expect(value('10 div 4')).toBe(2.5);
    expect(value('10 % 4 + (10 mod 3)')).toBe(3);
    expect(value('a - 1', { a: '5' })).toBe(4);
    expect(value('-a', { a: 3 })).toBe(-3);
    expect(value('~a', { a: 5 })).toBe(-6);
  });

  it('+ joins text', () => {
    expect(value('"a" + 1')).toBe('a1');
    expect(value('first + " " + last', { first: 'Ada', last: 'L' })).toBe('Ada L');
    expect(value('first + " " + last', { first: 'Ada' })).toBe('Ada ');
  });

  it('arithmetic on a missing value is null; on text that is not a number it fails', () => {
    expect(value('a * 2')).toBeNull();
    expect(one('a * 2', { a: 'x' })).toMatchObject({
      ok: false,
      errors: [{ reason: '*: "x" is not a number' }],
    });
    expect(one('1 % 0')).toMatchObject({ ok: false, errors: [{ reason: '%: division by zero' }] });
    expect(one('~a', { a: 1.5 })).toMatchObject({ ok: false });
  });

  it('comparison and equality', () => {
    expect(value('a == "5"', { a: 5 })).toBe(true);
    expect(value('a eq b', {})).toBe(true);
    expect(value('a != 1', { a: 2 })).toBe(true);
    expect(value('a < 10 && a ge 2', { a: 5 })).toBe(true);
    expect(value('a lt b', { a: 'apple', b: 'banana' })).toBe(true);
    expect(value('a > 1', {})).toBe(false);
    expect(value('a <= "10"', { a: 9 })).toBe(true);
    expect(one('a < b', { a: {}, b: 1 })).toMatchObject({
      ok: false,
      errors: [{ reason: '<: cannot compare {} with 1' }],
    });
  });

  it('logic and the conditional', () => {
    expect(value('!a || b', { a: true, b: false })).toBe(false);
    expect(value('not a and b', { a: false, b: 'yes' })).toBe(true);
    expect(value('a ? "y" : "n"', { a: 0 })).toBe('n');
    expect(value('a ? "y" : "n"', { a: 'text' })).toBe('y');
  });

  it('methods on values', () => {
    expect(value('a.equals("x")', { a: 'x' })).toBe(true);
    expect(value('a.equalsIgnoreCase("ABC")', { a: 'abc' })).toBe(true);
    expect(value('a.equals("x")')).toBe(false);
    expect(value('str_to_object("a:1,b:2").get("b")')).toBe('2');
    expect(value('a.startsWith("ab") && a.endsWith("yz") && a.contains("m")', { a: 'ab-m-yz' })).toBe(true);
    expect(value('a.length()', { a: 'four' })).toBe(4);
    expect(value('a.toUpperCase() + a.toLowerCase() + b.trim()', { a: 'Ab', b: ' c ' })).toBe('ABabc');
    expect(value('a.isEmpty()', { a: '' })).toBe(true);
  });
});
