import {
  compileMappingSet,
  InflowError,
  InflowValidationError,
  MappingExpressionError,
  normalizeMappingSet,
  parseExpression,
} from '@inflow/core';
import { afterEach, describe, expect, it } from 'vitest';
import { expressionCode } from '../src/mapping/compile.js';

// The review's payload (issue 5, item 1): an ATTRIBUTE mapping that carries its own syntax tree,
// whose array "index" closes the generated property read and runs code. Here the code sets a
// global flag instead of reading /etc/hostname.
const FLAG = '__inflowMappingPwned';
const CODE = `0]; globalThis.${FLAG} = 1; if(0) r?.[0`;
const exploit = () => ({
  mappings: [
    {
      sourceType: 'ATTRIBUTE',
      source: 'a',
      destination: 'b',
      expression: { kind: 'path', segments: [{ kind: 'index', index: CODE }] },
    },
  ],
});

const SCHEMA = { schemaRef: { id: 'https://ns.adobe.com/acme/schemas/1' } };
const flag = () => (globalThis as Record<string, unknown>)[FLAG];

afterEach(() => {
  expect(flag()).toBeUndefined();
});

/** Mulberry32: the same "random" trees on every run, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text planted in every tree; it may reach generated code only inside a string literal. */
const MARK = 'zqMARKqz';

/** The generated source with its string literals removed (they are all JSON.stringify output). */
const outsideStrings = (source: string) => source.replace(/"(?:[^"\\\n]|\\.)*"/g, '""');

function expectNoMarkOutsideStrings(source: string): void {
  expect(outsideStrings(source)).not.toContain(MARK);
  expect(outsideStrings(source)).not.toContain(FLAG);
}

/** Only clear errors of the Inflow family: never a SyntaxError or TypeError from generated code. */
function expectClearError(error: unknown): void {
  expect(InflowError.isInstance(error), String(error)).toBe(true);
  expect(
    MappingExpressionError.isInstance(error) || InflowValidationError.isInstance(error),
    String(error),
  ).toBe(true);
}

/** Values that would break out of the source if spliced in raw. */
const EVIL: readonly unknown[] = [
  `${MARK}"]; globalThis.${FLAG} = 1; //`,
  `0]; globalThis.${FLAG} = 1; //${MARK}`,
  `) || (globalThis.${FLAG} = 1) || (${MARK}`,
  { toString: () => `0]; globalThis.${FLAG} = 1; //${MARK}` },
  { valueOf: () => 0, toString: () => `${MARK}` },
  [`${MARK}`],
  -1,
  1.5,
  2 ** 60,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  undefined,
  true,
  {},
];

const KINDS = [
  'number',
  'string',
  'boolean',
  'null',
  'path',
  'access',
  'unary',
  'binary',
  'conditional',
  'method',
  'call',
];

function randomTree(next: () => number, depth = 0): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const evil = () => pick(EVIL);
  const maybe = <T>(good: T): unknown => (next() < 0.25 ? evil() : good);
  const child = (): unknown =>
    depth > 4 || next() < 0.1 ? maybe({ kind: 'null' }) : randomTree(next, depth + 1);
  const segment = (): unknown =>
    pick([
      () => ({ kind: 'field', name: maybe(pick(['a', 'toString', '__proto__', `${MARK}"]`])) }),
      () => ({ kind: 'index', index: maybe(Math.floor(next() * 4)) }),
      () => ({ kind: 'wildcard' }),
      () => ({ kind: evil(), name: evil(), index: evil() }),
      () => evil(),
    ])();
  const segments = (): unknown => maybe(Array.from({ length: 1 + Math.floor(next() * 3) }, segment));
  const args = (): unknown => maybe(Array.from({ length: Math.floor(next() * 4) }, child));
  const kind = next() < 0.15 ? evil() : pick(KINDS);
  const start = Math.floor(next() * 5);
  switch (kind) {
    case 'number':
      return { kind, value: maybe(pick([0, 1, 42, 3.5])), raw: evil(), start, end: start };
    case 'string':
      return { kind, value: maybe(`${MARK}\u2028"\\`), start, end: start };
    case 'boolean':
      return { kind, value: maybe(next() < 0.5), start, end: start };
    case 'path':
      return { kind, segments: segments(), start, end: start };
    case 'access':
      return { kind, target: child(), segments: segments(), start, end: start };
    case 'unary':
      return { kind, operator: maybe(pick(['-', '!', '~'])), operand: child(), start, end: start };
    case 'binary':
      return {
        kind,
        operator: maybe(
          pick(['+', '-', '*', '/', '%', '<', '<=', '>', '>=', '==', '!=', '&&', '||', 'constructor']),
        ),
        left: child(),
        right: child(),
        start,
        end: start,
      };
    case 'conditional':
      return { kind, test: child(), consequent: child(), alternate: child(), start, end: start };
    case 'method':
      return {
        kind,
        target: child(),
        name: maybe(pick(['equals', 'length', 'trim', 'toString', MARK])),
        args: args(),
        start,
        end: start,
      };
    case 'call':
      return {
        kind,
        name: maybe(pick(['upper', 'concat', 'iif', 'contains_key', 'is_set', 'substr', 'now', MARK])),
        args: args(),
        start,
        end: start,
      };
    default:
      return { kind, start, end: start };
  }
}

describe('compileMappingSet: the expression tree of the input is never trusted (issue 5)', () => {
  it('the review payload (no outputSchema) is refused as an invalid mapping set and never runs', () => {
    expect(() => compileMappingSet(exploit())).toThrow(InflowValidationError);
    expect(() => compileMappingSet(exploit())).toThrow('outputSchema.schemaRef.id: is required');
    expect(flag()).toBeUndefined();
  });

  it('with an outputSchema, the payload is plain data: the source text is compiled, the tree ignored', () => {
    const map = compileMappingSet({ outputSchema: SCHEMA, ...exploit() });
    expect(map({ a: 7 })).toEqual({ ok: true, value: { b: 7 } });
    expect(map.source).not.toContain(FLAG);
    expect(map.source).toContain('v0 = r?.["a"];');
    expect(flag()).toBeUndefined();
  });

  it('a tree edited into a normalised set is ignored too', () => {
    const normalized = normalizeMappingSet({
      outputSchema: SCHEMA,
      mappings: [{ sourceType: 'ATTRIBUTE', source: 'a', destination: 'b' }],
    });
    const [mapping] = normalized.mappings;
    if (!mapping) throw new Error('no mapping');
    // Replacing the (frozen) tree with one from a request body: not a tree the parser made.
    Object.assign(mapping, { expression: exploit().mappings[0]?.expression });
    const map = compileMappingSet(normalized);
    expect(map({ a: 1 })).toEqual({ ok: true, value: { b: 1 } });
    expect(map.source).not.toContain(FLAG);
  });

  it('a tree parsed from other text is not used for this source', () => {
    const normalized = normalizeMappingSet({
      outputSchema: SCHEMA,
      mappings: [{ sourceType: 'EXPRESSION', source: 'upper(a)', destination: 'b' }],
    });
    const [mapping] = normalized.mappings;
    if (!mapping) throw new Error('no mapping');
    mapping.expression = parseExpression('lower(a)');
    expect(compileMappingSet(normalized)({ a: 'x' })).toEqual({ ok: true, value: { b: 'X' } });
    // And a changed source is compiled from its new text.
    mapping.source = 'concat(a, "!")';
    expect(compileMappingSet(normalized)({ a: 'x' })).toEqual({ ok: true, value: { b: 'x!' } });
  });

  it('parsed trees are frozen, so a trusted tree cannot be edited into a payload', () => {
    const normalized = normalizeMappingSet({
      outputSchema: SCHEMA,
      mappings: [{ sourceType: 'ATTRIBUTE', source: 'a[0]', destination: 'b' }],
    });
    const tree = normalized.mappings[0]?.expression;
    if (tree?.kind !== 'path') throw new Error('expected a path');
    const index = tree.segments[1] as { index: unknown };
    expect(() => {
      index.index = CODE;
    }).toThrow(TypeError);
    expect(() => {
      (tree.segments as unknown as unknown[]).push({ kind: 'index', index: CODE });
    }).toThrow(TypeError);
    expect(compileMappingSet(normalized)({ a: [5] })).toEqual({ ok: true, value: { b: 5 } });
  });

  it('a normalised set edited into something invalid is normalised again and refused clearly', () => {
    const fresh = () =>
      normalizeMappingSet({
        outputSchema: SCHEMA,
        mappings: [{ sourceType: 'ATTRIBUTE', source: 'a', destination: 'b' }],
      });
    const edits: ((m: Record<string, unknown>, set: Record<string, unknown>) => void)[] = [
      (m) => {
        m.sourceType = `${MARK}"]`;
      },
      (m) => {
        m.source = { toString: () => CODE };
      },
      (m) => {
        m.destination = `b]; globalThis.${FLAG} = 1; //`;
      },
      (m) => {
        m.sourceType = 'STATIC';
        m.source = { toString: () => `"; globalThis.${FLAG} = 1; "` };
      },
      (_m, set) => {
        set.mappings = `${MARK}`;
      },
      (_m, set) => {
        (set.mappings as unknown[]).push(null);
      },
    ];
    for (const edit of edits) {
      const set = fresh() as unknown as Record<string, unknown>;
      edit((set.mappings as Record<string, unknown>[])[0] as Record<string, unknown>, set);
      try {
        const map = compileMappingSet(set);
        expectNoMarkOutsideStrings(map.source);
        map({ a: 1 });
      } catch (error) {
        expectClearError(error);
      }
    }
  });

  it('fuzz: random trees in input, JSON or edited into normalised sets never reach the source', () => {
    const next = prng(5);
    for (let i = 0; i < 1500; i++) {
      const tree = randomTree(next);
      const sourceType = (['ATTRIBUTE', 'EXPRESSION', 'STATIC'] as const)[i % 3];
      const raw = {
        outputSchema: SCHEMA,
        mappings: [{ sourceType, source: 'a', destination: 'b', expression: tree }],
      };
      const normalized = normalizeMappingSet(raw);
      (normalized.mappings[0] as unknown as Record<string, unknown>).expression = tree;
      for (const input of [raw, normalized]) {
        const map = compileMappingSet(input);
        expectNoMarkOutsideStrings(map.source);
        expect(map({ a: 1 })).toEqual({ ok: true, value: { b: sourceType === 'STATIC' ? 'a' : 1 } });
      }
      // The plain tutorial shape without an outputSchema is refused, as create refuses it.
      expect(() => compileMappingSet({ mappings: raw.mappings })).toThrow(InflowValidationError);
    }
  });

  it('fuzz: the generator refuses any tree the parser would not produce, and splices nothing raw', () => {
    const next = prng(17);
    let generated = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const tree = randomTree(next);
      let code: string;
      try {
        code = expressionCode(tree);
      } catch (error) {
        expect(MappingExpressionError.isInstance(error), String(error)).toBe(true);
        refused++;
        continue;
      }
      generated++;
      expectNoMarkOutsideStrings(code);
      // It parses as a function body (it is never run here).
      expect(() => new Function('r', 'K', 'F', code)).not.toThrow();
    }
    // Both branches were exercised.
    expect(generated).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });

  it('the generator refuses the payload index and unknown kinds and operators by name', () => {
    const refuse = (tree: unknown, what: string) => {
      expect(() => expressionCode(tree)).toThrow(MappingExpressionError);
      expect(() => expressionCode(tree)).toThrow(`invalid ${what} in the expression tree`);
    };
    refuse({ kind: 'path', segments: [{ kind: 'index', index: CODE }] }, 'array index');
    refuse({ kind: 'path', segments: [{ kind: 'index', index: -1 }] }, 'array index');
    refuse({ kind: 'path', segments: [{ kind: 'index', index: 1.5 }] }, 'array index');
    refuse({ kind: 'path', segments: [{ kind: 'field', name: { toString: () => CODE } }] }, 'field name');
    refuse({ kind: 'path', segments: [{ kind: CODE }] }, 'path segment');
    refuse({ kind: CODE }, 'node kind');
    refuse({ kind: 'number', value: CODE }, 'number');
    refuse({ kind: 'unary', operator: CODE, operand: { kind: 'null' } }, 'unary operator');
    refuse(
      { kind: 'binary', operator: 'constructor', left: { kind: 'null' }, right: { kind: 'null' } },
      'binary operator',
    );
    refuse({ kind: 'call', name: 'upper', args: [null] }, 'argument list');
    refuse({ kind: 'method', target: { kind: 'null' }, name: ['trim'], args: [] }, 'method name');
  });

  it('fuzz: expression text with code in names and strings compiles it only as string literals', () => {
    const next = prng(99);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    const payload = `${MARK}"]; globalThis.${FLAG} = 1; //`;
    const atoms = [
      `\${${payload.replace(/[.\\}]/g, '\\$&')}}`,
      `"${payload.replace(/["\\]/g, '\\$&')}"`,
      `'${payload.replace(/['\\]/g, '\\$&')}'`,
      `${MARK}`,
      `${MARK}[0]`,
      `${MARK}[*].${MARK}`,
      '1',
      'a.b',
    ];
    const operators = ['+', '-', '==', '&&', ' or ', '<'];
    let compiled = 0;
    for (let i = 0; i < 600; i++) {
      const term = (): string => {
        const r = next();
        if (r < 0.5) return pick(atoms);
        if (r < 0.65) return `concat(${pick(atoms)}, ${pick(atoms)})`;
        if (r < 0.8) return `${pick(atoms)}.equals(${pick(atoms)})`;
        if (r < 0.9) return `${MARK}(${pick(atoms)})`;
        return `iif(${pick(atoms)}, ${pick(atoms)}, ${pick(atoms)})`;
      };
      let source = term();
      for (let n = Math.floor(next() * 3); n > 0; n--) source += ` ${pick(operators)} ${term()}`;
      const destination = next() < 0.9 ? `x.${MARK}` : `x[${MARK}]`;
      try {
        const map = compileMappingSet({
          outputSchema: SCHEMA,
          mappings: [{ sourceType: 'EXPRESSION', source, destination }],
        });
        compiled++;
        expectNoMarkOutsideStrings(map.source);
        map({ [MARK]: [{ [MARK]: 1 }], [payload]: 'x', a: { b: 2 } });
      } catch (error) {
        expectClearError(error);
      }
    }
    expect(compiled).toBeGreaterThan(100);
  });
});
