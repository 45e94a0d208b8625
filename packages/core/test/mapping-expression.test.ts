import { InflowError } from '@inflow/core';
import { describe, expect, it } from 'vitest';
import {
  type Expr,
  lineColumn,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  MappingExpressionError,
  type PathSegment,
  parseExpression,
  RESERVED_WORDS,
} from '../src/mapping/expression.js';

const segment = (s: PathSegment): string =>
  s.kind === 'field' ? `.${s.name}` : s.kind === 'index' ? `[${s.index}]` : '[*]';

/** A compact S-expression of the AST: paths as `$.a.b[0]`, accesses as `(@ target .x)`. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return e.raw;
    case 'string':
      return JSON.stringify(e.value);
    case 'boolean':
      return String(e.value);
    case 'null':
      return 'null';
    case 'path':
      return `$${e.segments.map(segment).join('')}`;
    case 'access':
      return `(@ ${show(e.target)} ${e.segments.map(segment).join('')})`;
    case 'call':
      return `(${[e.name, ...e.args.map(show)].join(' ')})`;
    case 'method':
      return `(.${[e.name, show(e.target), ...e.args.map(show)].join(' ')})`;
    case 'unary':
      return `(${e.operator} ${show(e.operand)})`;
    case 'binary':
      return `(${e.operator} ${show(e.left)} ${show(e.right)})`;
    case 'conditional':
      return `(? ${show(e.test)} ${show(e.consequent)} ${show(e.alternate)})`;
  }
}

const p = (source: string) => show(parseExpression(source));

function errorOf(source: string): MappingExpressionError {
  try {
    parseExpression(source);
  } catch (error) {
    if (MappingExpressionError.isInstance(error)) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to parse`);
}

describe('literals', () => {
  it('numbers: integers, decimals and exponents keep their raw text', () => {
    expect(parseExpression('42')).toEqual({ kind: 'number', value: 42, raw: '42', start: 0, end: 2 });
    expect(parseExpression('3.25')).toEqual({ kind: 'number', value: 3.25, raw: '3.25', start: 0, end: 4 });
    expect(parseExpression('1.0')).toMatchObject({ value: 1, raw: '1.0' });
    expect(parseExpression('2e3')).toMatchObject({ value: 2000, raw: '2e3' });
    expect(parseExpression('1.5E-2')).toMatchObject({ value: 0.015, raw: '1.5E-2' });
    expect(parseExpression('007')).toMatchObject({ value: 7, raw: '007' });
  });

  it('double- and single-quoted strings with backslash escapes', () => {
    expect(parseExpression('"Hi, there!"')).toEqual({
      kind: 'string',
      value: 'Hi, there!',
      start: 0,
      end: 12,
    });
    expect(parseExpression("'single'")).toMatchObject({ kind: 'string', value: 'single' });
    expect(parseExpression(String.raw`"a\"b"`)).toMatchObject({ value: 'a"b' });
    expect(parseExpression(String.raw`'it\'s'`)).toMatchObject({ value: "it's" });
    expect(parseExpression(`"it's"`)).toMatchObject({ value: "it's" });
    expect(parseExpression(`'say "hi"'`)).toMatchObject({ value: 'say "hi"' });
    expect(parseExpression(String.raw`"\n\t\r\b\f\\"`)).toMatchObject({ value: '\n\t\r\b\f\\' });
    expect(parseExpression(String.raw`"caf\u00e9"`)).toMatchObject({ value: 'café' });
    expect(parseExpression('""')).toMatchObject({ value: '' });
  });

  it('an unknown escape keeps its backslash, so regex arguments arrive intact (as in JEXL)', () => {
    expect(parseExpression(String.raw`"\d+\."`)).toMatchObject({ value: String.raw`\d+\.` });
    expect(p(String.raw`explode(a, "\|")`)).toBe(String.raw`(explode $.a "\\|")`);
  });

  it('true, false and null', () => {
    expect(parseExpression('true')).toEqual({ kind: 'boolean', value: true, start: 0, end: 4 });
    expect(parseExpression('false')).toEqual({ kind: 'boolean', value: false, start: 0, end: 5 });
    expect(parseExpression(' null ')).toEqual({ kind: 'null', start: 1, end: 5 });
  });
});

describe('paths', () => {
  it('identifiers and dotted paths', () => {
    expect(parseExpression('firstName')).toEqual({
      kind: 'path',
      segments: [{ kind: 'field', name: 'firstName', start: 0, end: 9 }],
      start: 0,
      end: 9,
    });
    expect(p('a.b.c')).toBe('$.a.b.c');
    expect(p('$amount._raw')).toBe('$.$amount._raw');
    expect(p('prénom.größe')).toBe('$.prénom.größe');
    expect(p('a . b')).toBe('$.a.b');
  });

  it('array indexes and wildcards', () => {
    const e = parseExpression('customerInfo.emails[0].email');
    expect(e).toEqual({
      kind: 'path',
      segments: [
        { kind: 'field', name: 'customerInfo', start: 0, end: 12 },
        { kind: 'field', name: 'emails', start: 13, end: 19 },
        { kind: 'index', index: 0, start: 19, end: 22 },
        { kind: 'field', name: 'email', start: 23, end: 28 },
      ],
      start: 0,
      end: 28,
    });
    expect(p('customerInfo.emails[*].name')).toBe('$.customerInfo.emails[*].name');
    expect(p('m[*][12]')).toBe('$.m[*][12]');
    expect(p('a[ * ][ 3 ]')).toBe('$.a[*][3]');
    expect(parseExpression('a[*]')).toMatchObject({ segments: [{}, { kind: 'wildcard', start: 1, end: 4 }] });
  });

  it(`\${…} wraps names with spaces or reserved words; unescaped dots inside still separate fields`, () => {
    expect(parseExpression(`\${First Name}`)).toEqual({
      kind: 'path',
      segments: [{ kind: 'field', name: 'First Name', start: 2, end: 12 }],
      start: 0,
      end: 13,
    });
    expect(p(`\${First\\.Name}`)).toBe('$.First.Name');
    expect(parseExpression(`\${First\\.Name}`)).toMatchObject({ segments: [{ name: 'First.Name' }] });
    expect(parseExpression(`\${a.b}`)).toMatchObject({ segments: [{ name: 'a' }, { name: 'b' }] });
    expect(parseExpression(`\${new}`)).toMatchObject({ segments: [{ name: 'new' }] });
    expect(parseExpression(`person.\${last name}[0]`)).toMatchObject({
      kind: 'path',
      segments: [{ name: 'person' }, { name: 'last name' }, { kind: 'index', index: 0 }],
    });
    expect(parseExpression(`\${a\\}b\\\\c}`)).toMatchObject({ segments: [{ name: 'a}b\\c' }] });
    expect(parseExpression(`\${segmentMembership.ups.seg_id.status}=="exited"`)).toMatchObject({
      kind: 'binary',
      left: { kind: 'path', segments: [{ name: 'segmentMembership' }, {}, {}, { name: 'status' }] },
    });
  });

  it('escaped dots in bare names', () => {
    expect(parseExpression('address.street\\.name')).toMatchObject({
      segments: [
        { name: 'address', start: 0, end: 7 },
        { name: 'street.name', start: 8, end: 20 },
      ],
      end: 20,
    });
  });

  it('paths into computed values are accesses, not input paths', () => {
    expect(p('split(a, ",")[0]')).toBe('(@ (split $.a ",") [0])');
    expect(p('split(a, ",")[0].b[*].c')).toBe('(@ (split $.a ",") [0].b[*].c)');
    expect(p('(a.b).c')).toBe('(@ $.a.b .c)');
    expect(p('"x".length')).toBe('(@ "x" .length)');
    expect(parseExpression('f(x).y')).toMatchObject({ kind: 'access', start: 0, end: 6 });
  });
});

describe('calls and methods', () => {
  it('function calls with any name, nested, with or without arguments', () => {
    expect(p('concat(a, "x", upper(b))')).toBe('(concat $.a "x" (upper $.b))');
    expect(p('now()')).toBe('(now)');
    expect(p('concat(upper(lastName), upper(firstName), now())')).toBe(
      '(concat (upper $.lastName) (upper $.firstName) (now))',
    );
    expect(p('iif(a > 1, "big", "small")')).toBe('(iif (> $.a 1) "big" "small")');
    expect(p('my_func (a)')).toBe('(my_func $.a)');
    expect(parseExpression('f(a, b)')).toMatchObject({ kind: 'call', name: 'f', start: 0, end: 7 });
  });

  it('method calls on paths, literals and results', () => {
    expect(p('a.equals("b")')).toBe('(.equals $.a "b")');
    expect(p('a.b.equalsIgnoreCase(c)')).toBe('(.equalsIgnoreCase $.a.b $.c)');
    expect(p('"string1".equals("STRING1")')).toBe('(.equals "string1" "STRING1")');
    expect(p('str_to_object(s).get("k")')).toBe('(.get (str_to_object $.s) "k")');
    expect(p('a.trim().equals(b).x')).toBe('(@ (.equals (.trim $.a) $.b) .x)');
    expect(p('a[0].equals(b[1])')).toBe('(.equals $.a[0] $.b[1])');
    expect(parseExpression('a.equals("b")')).toMatchObject({ kind: 'method', start: 0, end: 13 });
  });

  it(`a \${…} name is never a function or a method`, () => {
    expect(errorOf(`\${f}(a)`).message).toBe(
      'unexpected "(" at 1:5: expected an operator or the end of the expression',
    );
    expect(errorOf(`a.\${m}(b)`).message).toBe(
      'unexpected "(" at 1:7: expected an operator or the end of the expression',
    );
  });
});

describe('operators', () => {
  it.each([
    ['*', '*'],
    ['/', '/'],
    ['%', '%'],
    ['mod', '%'],
    ['div', '/'],
    ['+', '+'],
    ['-', '-'],
    ['<', '<'],
    ['>', '>'],
    ['<=', '<='],
    ['>=', '>='],
    ['lt', '<'],
    ['gt', '>'],
    ['le', '<='],
    ['ge', '>='],
    ['==', '=='],
    ['!=', '!='],
    ['eq', '=='],
    ['ne', '!='],
    ['&&', '&&'],
    ['and', '&&'],
    ['||', '||'],
    ['or', '||'],
  ])('binary %s is %s', (spelled, canonical) => {
    expect(parseExpression(`a ${spelled} b`)).toMatchObject({
      kind: 'binary',
      operator: canonical,
      left: { kind: 'path' },
      right: { kind: 'path' },
      start: 0,
      end: 4 + spelled.length,
    });
  });

  it.each([
    ['-a', '(- $.a)'],
    ['!a', '(! $.a)'],
    ['not a', '(! $.a)'],
    ['~a', '(~ $.a)'],
    ['- -a', '(- (- $.a))'],
    ['!!a', '(! (! $.a))'],
    ['not not a', '(! (! $.a))'],
    ['-1', '(- 1)'],
    ['-a.b[0]', '(- $.a.b[0])'],
    ['!a.equals(b)', '(! (.equals $.a $.b))'],
  ])('unary %s', (source, expected) => {
    expect(p(source)).toBe(expected);
  });

  it('operators need no spaces', () => {
    expect(p('a+b*-c')).toBe('(+ $.a (* $.b (- $.c)))');
    expect(p('a<=b&&c!=d')).toBe('(&& (<= $.a $.b) (!= $.c $.d))');
  });
});

describe('precedence and associativity', () => {
  it.each([
    ['a || b && c', '(|| $.a (&& $.b $.c))'],
    ['a && b || c', '(|| (&& $.a $.b) $.c)'],
    ['a or b and c', '(|| $.a (&& $.b $.c))'],
    ['a == b && c != d', '(&& (== $.a $.b) (!= $.c $.d))'],
    ['a < b == c > d', '(== (< $.a $.b) (> $.c $.d))'],
    ['a + b < c * d', '(< (+ $.a $.b) (* $.c $.d))'],
    ['a + b * c - d', '(- (+ $.a (* $.b $.c)) $.d)'],
    ['a * b / c % d', '(% (/ (* $.a $.b) $.c) $.d)'],
    ['a div b mod c', '(% (/ $.a $.b) $.c)'],
    ['-a * b', '(* (- $.a) $.b)'],
    ['!a && b', '(&& (! $.a) $.b)'],
    ['not a == b', '(== (! $.a) $.b)'],
    ['(a + b) * c', '(* (+ $.a $.b) $.c)'],
    ['a * (b + c)', '(* $.a (+ $.b $.c))'],
    ['-(a + b)', '(- (+ $.a $.b))'],
    ['a - b - c', '(- (- $.a $.b) $.c)'],
    ['a / b / c', '(/ (/ $.a $.b) $.c)'],
    ['a == b == c', '(== (== $.a $.b) $.c)'],
    ['a < b < c', '(< (< $.a $.b) $.c)'],
    ['a && b && c', '(&& (&& $.a $.b) $.c)'],
    ['a || b || c', '(|| (|| $.a $.b) $.c)'],
    ['a ? b : c', '(? $.a $.b $.c)'],
    ['a ? b : c ? d : e', '(? $.a $.b (? $.c $.d $.e))'],
    ['a ? b ? c : d : e', '(? $.a (? $.b $.c $.d) $.e)'],
    ['a || b ? c + 1 : d', '(? (|| $.a $.b) (+ $.c 1) $.d)'],
    ['(a ? b : c) ? d : e', '(? (? $.a $.b $.c) $.d $.e)'],
    ['f(a ? b : c, d)', '(f (? $.a $.b $.c) $.d)'],
    ['a.b.c + d[0] * -2', '(+ $.a.b.c (* $.d[0] (- 2)))'],
  ])('%s', (source, expected) => {
    expect(p(source)).toBe(expected);
  });

  it('spans: binary from left to right, parentheses included', () => {
    const e = parseExpression('(a + b) * c');
    expect(e).toMatchObject({
      kind: 'binary',
      start: 0,
      end: 11,
      left: { kind: 'binary', start: 0, end: 7 },
    });
    const t = parseExpression('x ? 1 : 2');
    expect(t).toMatchObject({
      start: 0,
      end: 9,
      test: { start: 0, end: 1 },
      alternate: { start: 8, end: 9 },
    });
    expect(parseExpression('-a')).toMatchObject({ start: 0, end: 2 });
  });
});

describe('errors carry the position, line and column', () => {
  it.each([
    ['concat(a, b, )', 'unexpected ")" at 1:14: expected an expression', 13],
    ['a +', 'unexpected end of expression at 1:4: expected an expression', 3],
    ['(a + b', 'unexpected end of expression at 1:7: expected ")"', 6],
    ['concat(a, "x"', 'unexpected end of expression at 1:14: expected "," or ")"', 13],
    ['f(a b)', 'unexpected "b" at 1:5: expected "," or ")"', 4],
    ['a b', 'unexpected "b" at 1:3: expected an operator or the end of the expression', 2],
    ['a)', 'unexpected ")" at 1:2: expected an operator or the end of the expression', 1],
    ['', 'unexpected end of expression at 1:1: expected an expression', 0],
    ['a = b', 'unexpected character "=" at 1:3: compare with == (there is no assignment)', 2],
    ['a & b', 'unexpected character "&" at 1:3: use && or and', 2],
    ['a | b', 'unexpected character "|" at 1:3: use || or or', 2],
    ['a # b', 'unexpected character "#" at 1:3: it is not part of the expression language', 2],
    ['"abc', 'unterminated string at 1:1: expected a closing "', 0],
    ["x + 'abc", "unterminated string at 1:5: expected a closing '", 4],
    ['"\\u12"', 'invalid \\u escape at 1:2: write \\u and four hex digits', 1],
    [`\${a`, `unterminated \${ at 1:1: expected "}"`, 0],
    [`\${}`, `empty field name at 1:3: write a name between \${ and } (escape a dot in a name as \\.)`, 2],
    [
      `\${a..b}`,
      `empty field name at 1:5: write a name between \${ and } (escape a dot in a name as \\.)`,
      4,
    ],
    ['a[x]', 'unexpected "x" at 1:3: expected an array index (a whole number) or *', 2],
    ['a[1.5]', 'unexpected number 1.5 at 1:3: expected an array index (a whole number) or *', 2],
    ['a[-1]', 'unexpected "-" at 1:3: expected an array index (a whole number) or *', 2],
    ['a[*', 'unexpected end of expression at 1:4: expected "]"', 3],
    ['a[]', 'unexpected "]" at 1:3: expected an array index (a whole number) or *', 2],
    ['a.', 'unexpected end of expression at 1:3: expected a field or method name', 2],
    ['a.1', 'unexpected number 1 at 1:3: expected a field or method name', 2],
    ['a.(b)', 'unexpected "(" at 1:3: expected a field or method name', 2],
    [
      'a\\b',
      `unexpected character "\\" at 1:2: only a dot may be escaped in a field name (\\.); wrap other names as \${…}`,
      1,
    ],
    ['1abc', 'invalid number "1abc" at 1:1: a number is digits with an optional fraction and exponent', 0],
    ['x ? y', 'unexpected end of expression at 1:6: expected ":" of the conditional (test ? a : b)', 5],
    ['x ? y :', 'unexpected end of expression at 1:8: expected an expression', 7],
    ['* a', 'unexpected "*" at 1:1: expected an expression', 0],
    ['and', 'unexpected reserved word "and" at 1:1: expected an expression', 0],
    [
      'a.true',
      `unexpected reserved word "true" at 1:3: expected a field or method name (write \${true} for a field named "true")`,
      2,
    ],
  ])('%j', (source, message, position) => {
    const error = errorOf(source);
    expect(error.message).toBe(message);
    expect(error.position).toBe(position);
  });

  it('counts lines and columns across newlines', () => {
    const error = errorOf('concat(\n  firstName,\n  ]\n)');
    expect(error.message).toBe('unexpected "]" at 3:3: expected an expression');
    expect({ position: error.position, line: error.line, column: error.column }).toEqual({
      position: 23,
      line: 3,
      column: 3,
    });
    expect(errorOf('a +\r\n)').message).toBe('unexpected ")" at 2:1: expected an expression');
  });

  it('lineColumn', () => {
    expect(lineColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd', 2)).toEqual({ line: 1, column: 3 });
    expect(lineColumn('ab\ncd', 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumn('ab\ncd', 5)).toEqual({ line: 2, column: 3 });
  });

  it('is an InflowError and recognisable by name', () => {
    const error = errorOf(')');
    expect(error).toBeInstanceOf(MappingExpressionError);
    expect(InflowError.isInstance(error)).toBe(true);
    expect(error.name).toBe('MappingExpressionError');
    expect(MappingExpressionError.isInstance(new InflowError('x'))).toBe(false);
    expect(MappingExpressionError.isInstance(new Error('x'))).toBe(false);
  });
});

describe('the 4096-character limit of a calculated field', () => {
  const stringOf = (length: number) => `"${'x'.repeat(length - 2)}"`;

  it('accepts exactly 4096 characters', () => {
    expect(MAX_EXPRESSION_LENGTH).toBe(4096);
    expect(parseExpression(stringOf(4096))).toMatchObject({ kind: 'string', end: 4096 });
  });

  it('refuses 4097 before parsing', () => {
    const error = errorOf(`${stringOf(4097)}`);
    expect(error.message).toBe(
      'expression too long at 1:4097: a calculated field may have at most 4096 characters; this one has 4097',
    );
    expect(error.position).toBe(4096);
    // Checked before parsing: even a broken source gets the length error.
    expect(errorOf(')'.repeat(5000)).message).toMatch(
      /^expression too long at 1:4097: .* this one has 5000$/,
    );
  });
});

describe('nesting depth', () => {
  it(`parses ${MAX_EXPRESSION_DEPTH - 1} nested parentheses and refuses one more with a position`, () => {
    const nested = (n: number) => `${'('.repeat(n)}a${')'.repeat(n)}`;
    expect(parseExpression(nested(MAX_EXPRESSION_DEPTH - 1))).toMatchObject({ kind: 'path' });
    const error = errorOf(nested(MAX_EXPRESSION_DEPTH));
    expect(error.message).toBe(
      `expression nested too deeply at 1:${MAX_EXPRESSION_DEPTH + 1}: at most ${MAX_EXPRESSION_DEPTH} levels of parentheses, calls and conditionals`,
    );
  });

  it.each([
    ['parentheses', `${'('.repeat(2040)}a${')'.repeat(2040)}`],
    ['calls', `${'f('.repeat(1360)}${')'.repeat(1360)}`],
    ['conditionals', `${'a ? b : '.repeat(511)}c`],
  ])('the deepest 4096-character %s fail cleanly, never with a stack overflow', (_name, source) => {
    expect(source.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
    expect(errorOf(source).message).toMatch(/^expression nested too deeply at /);
  });

  it('long flat chains are not nesting', () => {
    expect(parseExpression(`${'-'.repeat(4095)}a`)).toMatchObject({ kind: 'unary' });
    expect(parseExpression(`a${' + a'.repeat(1000)}`)).toMatchObject({ kind: 'binary', operator: '+' });
    expect(parseExpression(`a${'[0]'.repeat(1365)}`)).toMatchObject({ kind: 'path' });
  });
});

describe('reserved words', () => {
  const reference = [
    'new',
    'mod',
    'or',
    'break',
    'var',
    'lt',
    'for',
    'false',
    'while',
    'eq',
    'gt',
    'div',
    'not',
    'null',
    'continue',
    'else',
    'and',
    'ne',
    'true',
    'le',
    'if',
    'ge',
    'return',
    '_errors',
  ];

  it('is the reference list', () => {
    expect([...RESERVED_WORDS].sort()).toEqual([...reference].sort());
  });

  it.each(['new', 'break', 'var', 'for', 'while', 'continue', 'else', 'if', 'return', '_errors'])(
    `%s cannot be a bare field name, but \${%s} can`,
    (word) => {
      expect(errorOf(word).message).toBe(
        `unexpected reserved word "${word}" at 1:1: expected an expression (write \${${word}} for a field named "${word}")`,
      );
      expect(errorOf(`a.${word}`).message).toBe(
        `unexpected reserved word "${word}" at 1:3: expected a field or method name (write \${${word}} for a field named "${word}")`,
      );
      expect(errorOf(`f(${word})`).position).toBe(2);
      expect(p(`\${${word}}`)).toBe(`$.${word}`);
      expect(p(`a.\${${word}}`)).toBe(`$.a.${word}`);
    },
  );

  it.each(['mod', 'or', 'lt', 'eq', 'gt', 'div', 'not', 'and', 'ne', 'le', 'ge', 'true', 'false', 'null'])(
    'the operator or literal %s is not a field name after a dot',
    (word) => {
      expect(errorOf(`a.${word}`).message).toContain(`write \${${word}} for a field named "${word}"`);
      expect(p(`\${${word}}`)).toBe(`$.${word}`);
    },
  );

  it('words that merely start with a reserved word are ordinary names; reserved words are case-sensitive', () => {
    expect(p('android + order + newer + iffy + nullable + notes + True + NULL')).toBe(
      '(+ (+ (+ (+ (+ (+ (+ $.android $.order) $.newer) $.iffy) $.nullable) $.notes) $.True) $.NULL)',
    );
    expect(parseExpression('if\\.x')).toMatchObject({ kind: 'path', segments: [{ name: 'if.x' }] });
  });
});
