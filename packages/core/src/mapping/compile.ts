import { InflowValidationError } from '../errors/inflow-error.js';
import {
  type BinaryOperator,
  type Expr,
  isTrustedExpression,
  MappingExpressionError,
  type PathSegment,
  parseExpression,
} from './expression.js';
import {
  compare,
  createFunctions,
  defaultUuid,
  type FunctionSpec,
  looseEquals,
  MappingFunctionError,
  toNumber,
  toText,
  truthy,
} from './functions.js';
import {
  isNormalizedMappingSet,
  type MappingSourceType,
  type NormalizedMappingSet,
  normalizeMappingSet,
  parseXdmPath,
} from './mapping-set.js';

/** One field of one record that could not be mapped. */
export interface MappingFailure {
  /** The destination XDM path that got no value, e.g. `_tenant.age`; `""` for the whole record. */
  path: string;
  /** Why, naming the function: `to_integer: "abc" is not a number`. */
  reason: string;
  /** Index of the mapping in the set. */
  mapping?: number;
}

/**
 * The mapped record. On failure `value` still holds every field that did map (Data Prep ingests
 * the rest of the row); the failed fields are absent from it.
 */
export type MapResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; errors: MappingFailure[]; value?: Record<string, unknown> };

/** A mapping set compiled into one function: call it once per record. */
export interface CompiledMappingSet {
  (record: Record<string, unknown>): MapResult;
  /** The generated JS source, for debugging and tests. */
  readonly source: string;
}

export interface CompileOptions {
  /** Shown in stack traces of the generated code (`inflow-mapping:<name>`). */
  name?: string;
  /** The clock behind `now()` and `timestamp()`; the system clock by default. */
  now?: () => Date;
  /** The id source behind `uuid()`/`guid()`; `crypto.randomUUID` by default. */
  uuid?: () => string;
}

interface ResolvedMapping {
  sourceType: MappingSourceType;
  source: string;
  destination: string;
  expression?: Expr;
}

const SOURCE_TYPES: Record<string, MappingSourceType> = {
  ATTRIBUTE: 'ATTRIBUTE',
  STATIC: 'STATIC',
  EXPRESSION: 'EXPRESSION',
  'text/x.schema-path': 'ATTRIBUTE',
  'text/x.aep-xl': 'EXPRESSION',
};

/** Names no destination may use: writing them would reach an object's prototype. */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Source field names that a plain property read would resolve on a prototype (`toString`,
 * `constructor`, `__proto__`, `length`, …): these are read as own properties only.
 */
const INHERITED_NAMES: ReadonlySet<string> = (() => {
  const names = new Set<string>(['__proto__', 'prototype']);
  for (const proto of [
    Object.prototype,
    Array.prototype,
    String.prototype,
    Number.prototype,
    Boolean.prototype,
    Function.prototype,
  ]) {
    for (const name of Object.getOwnPropertyNames(proto)) names.add(name);
  }
  return names;
})();

// ---------------------------------------------------------------------------------------------
// Input
//
// The compiler turns expression trees into JavaScript source, so it never takes a tree from its
// input: a set is either one `normalizeMappingSet` returned (whose trees `parseExpression` made
// and froze) or it goes through `normalizeMappingSet` here, exactly as the create route does.

/** The source types of a normalised mapping (the stored spellings are mapped to these on input). */
const NORMALIZED_TYPES: Record<string, MappingSourceType> = {
  ATTRIBUTE: 'ATTRIBUTE',
  STATIC: 'STATIC',
  EXPRESSION: 'EXPRESSION',
};

/**
 * The mappings of a set `normalizeMappingSet` returned, re-checked field by field (the object is
 * the caller's and may have been edited since): `undefined` when one no longer fits. A tree is
 * kept only if `parseExpression` made it from this very source; otherwise it is parsed again.
 */
function trustedMappings(input: NormalizedMappingSet): ResolvedMapping[] | undefined {
  const mappings: unknown = input.mappings;
  if (!Array.isArray(mappings) || mappings.length === 0) return undefined;
  const resolved: ResolvedMapping[] = [];
  for (const mapping of mappings as unknown[]) {
    if (typeof mapping !== 'object' || mapping === null) return undefined;
    // Each field is read once: what is checked is what is compiled.
    const { sourceType, source, destination, expression } = mapping as Record<string, unknown>;
    if (
      typeof sourceType !== 'string' ||
      !Object.hasOwn(NORMALIZED_TYPES, sourceType) ||
      typeof source !== 'string' ||
      typeof destination !== 'string'
    ) {
      return undefined;
    }
    const type = NORMALIZED_TYPES[sourceType] as MappingSourceType;
    resolved.push({
      sourceType: type,
      source,
      destination,
      ...(type !== 'STATIC' && isTrustedExpression(expression, source) ? { expression } : {}),
    });
  }
  return resolved;
}

/** Re-throws a parse error so that it names the mapping it came from. */
function located(error: unknown, source: string, where: { mapping: number; destination: string }): never {
  if (MappingExpressionError.isInstance(error) && error.mapping === undefined) {
    throw new MappingExpressionError(source, error.position, error.problem, error.hint, where);
  }
  throw error;
}

function notAPath(source: string, at: number, where: { mapping: number; destination: string }): never {
  throw new MappingExpressionError(
    source,
    at,
    'not a field path',
    `an ATTRIBUTE source is a path such as a.b[0].c or \${First Name}; use sourceType EXPRESSION for a calculated value`,
    where,
  );
}

function duplicate(
  destination: string,
  first: number,
  where: { mapping: number; destination: string },
): never {
  throw new MappingExpressionError(
    destination,
    0,
    `duplicate destination: mappings[${first}] already maps it`,
    undefined,
    where,
  );
}

function resolve(input: unknown): ResolvedMapping[] {
  if (isNormalizedMappingSet(input)) {
    const mappings = trustedMappings(input);
    if (mappings) return mappings;
  }
  let normalized: NormalizedMappingSet;
  try {
    normalized = normalizeMappingSet(input);
  } catch (error) {
    if (InflowValidationError.isInstance(error)) locateFailure(input);
    throw error;
  }
  return trustedMappings(normalized) as ResolvedMapping[];
}

/**
 * When normalisation failed on an expression or a destination, throws that as a located
 * `MappingExpressionError` (mapping, line, column), as compiling would have; returns otherwise.
 */
function locateFailure(input: unknown): void {
  const mappings: unknown =
    typeof input === 'object' && input !== null ? (input as { mappings?: unknown }).mappings : undefined;
  if (!Array.isArray(mappings)) return;
  const seen = new Map<string, number>();
  (mappings as unknown[]).forEach((item, index) => {
    if (typeof item !== 'object' || item === null) return;
    const raw = item as Record<string, unknown>;
    const source = raw.source ?? raw.sourceAttribute;
    const destination = raw.destination ?? raw.destinationXdmPath;
    const where = { mapping: index, destination: typeof destination === 'string' ? destination : '?' };
    const typeName = raw.sourceType ?? 'ATTRIBUTE';
    const type =
      typeof typeName === 'string' && Object.hasOwn(SOURCE_TYPES, typeName)
        ? SOURCE_TYPES[typeName]
        : undefined;
    if (typeof source === 'string' && type && type !== 'STATIC') {
      let expression: Expr;
      try {
        expression = parseExpression(source);
      } catch (error) {
        located(error, source, where);
      }
      if (type === 'ATTRIBUTE' && expression.kind !== 'path') notAPath(source, expression.start, where);
    }
    if (typeof destination === 'string') {
      try {
        parseXdmPath(destination);
      } catch (error) {
        located(error, destination, where);
      }
      const first = seen.get(destination);
      if (first !== undefined) duplicate(destination, first, where);
      seen.set(destination, index);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Runtime helpers the generated code calls (passed in as H)

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Segment = { kind: 'field'; name: string } | { kind: 'index'; index: number } | { kind: 'wildcard' };

function putPath(container: unknown, segments: readonly Segment[], at: number, value: unknown): unknown {
  const segment = segments[at] as Segment;
  if (segment.kind === 'wildcard') {
    return spread(Array.isArray(container) ? container : undefined, segments, at + 1, value);
  }
  const last = at === segments.length - 1;
  if (segment.kind === 'field') {
    const target = isPlainObject(container) ? container : {};
    target[segment.name] = last ? value : putPath(target[segment.name], segments, at + 1, value);
    return target;
  }
  const target = Array.isArray(container) ? container : [];
  target[segment.index] = last ? value : putPath(target[segment.index], segments, at + 1, value);
  return target;
}

/** Writes element i of `values` to element i of `target` (then down `segments[at…]`). */
function spread(
  target: unknown[] | undefined,
  segments: readonly Segment[],
  at: number,
  values: unknown,
): unknown[] {
  const list = Array.isArray(values) ? values : [values];
  const out = target ?? [];
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (v === undefined) continue;
    out[i] = at === segments.length ? v : putPath(out[i], segments, at, v);
  }
  return out;
}

const METHODS: Record<string, { min: number; max: number; helper: string }> = {
  equals: { min: 1, max: 1, helper: '$mEquals' },
  equalsIgnoreCase: { min: 1, max: 1, helper: '$mEqualsIgnoreCase' },
  get: { min: 1, max: 1, helper: '$mGet' },
  startsWith: { min: 1, max: 1, helper: '$mStartsWith' },
  endsWith: { min: 1, max: 1, helper: '$mEndsWith' },
  contains: { min: 1, max: 1, helper: '$mContains' },
  length: { min: 0, max: 0, helper: '$mLength' },
  isEmpty: { min: 0, max: 0, helper: '$mIsEmpty' },
  toLowerCase: { min: 0, max: 0, helper: '$mLower' },
  toUpperCase: { min: 0, max: 0, helper: '$mUpper' },
  trim: { min: 0, max: 0, helper: '$mTrim' },
};

const nullish = (v: unknown): v is null | undefined => v == null;

function arith(op: string, a: unknown, b: unknown): number | null {
  if (a == null || b == null) return null;
  const x = toNumber(op, a);
  const y = toNumber(op, b);
  switch (op) {
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      if (y === 0) throw new MappingFunctionError('/: division by zero');
      return x / y;
    default:
      if (y === 0) throw new MappingFunctionError('%: division by zero');
      return x % y;
  }
}

function makeHelpers(destinations: readonly string[]) {
  return {
    truthy,
    own: (target: unknown, key: string) =>
      typeof target === 'object' && target !== null && Object.hasOwn(target, key)
        ? (target as Record<string, unknown>)[key]
        : undefined,
    each: (list: unknown, read: (e: unknown) => unknown) =>
      Array.isArray(list) ? list.map(read) : undefined,
    spread: (target: unknown[] | undefined, segments: readonly Segment[], values: unknown) =>
      spread(target, segments, 0, values),
    fail: (error: unknown, mapping: number): MappingFailure => ({
      path: destinations[mapping] as string,
      reason:
        error instanceof MappingFunctionError
          ? error.message
          : error instanceof Error
            ? `${error.name}: ${error.message}`
            : String(error),
      mapping,
    }),
    add: (a: unknown, b: unknown) => {
      if (typeof a === 'number' && typeof b === 'number') return a + b;
      if (typeof a === 'string' || typeof b === 'string') {
        if (a == null) return b;
        if (b == null) return a;
        return toText(a) + toText(b);
      }
      if (a == null || b == null) return null;
      return toNumber('+', a) + toNumber('+', b);
    },
    sub: (a: unknown, b: unknown) => arith('-', a, b),
    mul: (a: unknown, b: unknown) => arith('*', a, b),
    div: (a: unknown, b: unknown) => arith('/', a, b),
    mod: (a: unknown, b: unknown) => arith('%', a, b),
    neg: (a: unknown) => (a == null ? null : -toNumber('-', a)),
    bnot: (a: unknown) => {
      if (a == null) return null;
      const n = toNumber('~', a);
      if (!Number.isInteger(n)) throw new MappingFunctionError(`~: ${toText(a)} is not a whole number`);
      return ~n;
    },
    eq: looseEquals,
    lt: (a: unknown, b: unknown) => !nullish(a) && !nullish(b) && compare('<', a, b) < 0,
    le: (a: unknown, b: unknown) => !nullish(a) && !nullish(b) && compare('<=', a, b) <= 0,
    gt: (a: unknown, b: unknown) => !nullish(a) && !nullish(b) && compare('>', a, b) > 0,
    ge: (a: unknown, b: unknown) => !nullish(a) && !nullish(b) && compare('>=', a, b) >= 0,
    mEquals: (t: unknown, a: unknown) => t != null && a != null && toText(t) === toText(a),
    mEqualsIgnoreCase: (t: unknown, a: unknown) =>
      t != null && a != null && toText(t).toLowerCase() === toText(a).toLowerCase(),
    mGet: (t: unknown, k: unknown) =>
      isPlainObject(t) && k != null && Object.hasOwn(t, toText(k)) ? t[toText(k)] : undefined,
    mStartsWith: (t: unknown, a: unknown) => t != null && a != null && toText(t).startsWith(toText(a)),
    mEndsWith: (t: unknown, a: unknown) => t != null && a != null && toText(t).endsWith(toText(a)),
    mContains: (t: unknown, a: unknown) =>
      Array.isArray(t)
        ? t.some((v) => looseEquals(v, a))
        : t != null && a != null && toText(t).includes(toText(a)),
    mLength: (t: unknown) => (t == null ? t : Array.isArray(t) ? t.length : toText(t).length),
    mIsEmpty: (t: unknown) => t == null || t === '' || (Array.isArray(t) && t.length === 0),
    mLower: (t: unknown) => (t == null ? t : toText(t).toLowerCase()),
    mUpper: (t: unknown) => (t == null ? t : toText(t).toUpperCase()),
    mTrim: (t: unknown) => (t == null ? t : toText(t).trim()),
    notObject: (record: unknown): MapResult => ({
      ok: false,
      errors: [
        {
          path: '',
          reason: `the record is ${record === null ? 'null' : Array.isArray(record) ? 'an array' : `a ${typeof record}`}, not a JSON object`,
        },
      ],
    }),
  };
}

const HELPER_NAMES = Object.keys(makeHelpers([]));

// ---------------------------------------------------------------------------------------------
// Code generation

/** A node of the destination tree: the output's shape, known at compile time. */
interface DestNode {
  kind?: 'object' | 'array';
  children: Map<string | number, DestNode>;
  /** The mapping that writes this node whole. */
  leaf?: number;
  /** Mappings that write `[*]` below this (array) node, with the segments after the `[*]`. */
  spreads: { mapping: number; rest: Segment[] }[];
  /** Which mapping created the node, for conflict messages. */
  owner: number;
}

/** The helper behind each arithmetic and comparison operator (the others are written inline). */
const BINARY_HELPERS: ReadonlyMap<BinaryOperator, string> = new Map<BinaryOperator, string>([
  ['+', '$add'],
  ['-', '$sub'],
  ['*', '$mul'],
  ['/', '$div'],
  ['%', '$mod'],
  ['<', '$lt'],
  ['<=', '$le'],
  ['>', '$gt'],
  ['>=', '$ge'],
]);

/** An array index as JS source: a non-negative safe integer, or nothing. */
function indexCode(index: unknown): string | undefined {
  return typeof index === 'number' && Number.isSafeInteger(index) && index >= 0 ? String(index) : undefined;
}

/**
 * Writes the generated function. Nothing from a mapping set reaches the source as text of its
 * own: names and strings go through `JSON.stringify` (or the constants array `K`), indices are
 * checked integers, and operators, methods, functions and node kinds are looked up in closed
 * tables; anything else is refused, so even a tree the parser never produced cannot add code.
 */
class Generator {
  private readonly constants: unknown[] = [];
  private readonly functionIds = new Map<string, string>();
  private readonly declarations: string[] = [];
  private lambdas = 0;
  private nodes = 0;
  /** The mapping being generated, for errors. */
  private context: { source: string; where: { mapping: number; destination: string } } = {
    source: '',
    where: { mapping: 0, destination: '' },
  };

  constructor(private readonly functions: Record<string, FunctionSpec>) {}

  /** Starts generating mapping `where.mapping`, whose source text is `source`. */
  begin(source: string, where: { mapping: number; destination: string }): void {
    this.context = { source, where };
  }

  /** Refuses a node that is not one the parser produces (never reached with a parsed tree). */
  private invalid(what: string): never {
    throw new MappingExpressionError(
      this.context.source,
      0,
      `invalid ${what} in the expression tree`,
      'send the expression as text in source',
      this.context.where,
    );
  }

  constant(value: unknown): string {
    this.constants.push(value);
    return `K[${this.constants.length - 1}]`;
  }

  /** JS for reading `segments` from the value `base` (an identifier or a parenthesised expression). */
  read(base: string, segments: readonly PathSegment[]): string {
    if (!Array.isArray(segments)) this.invalid('path');
    let code = base;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i] as PathSegment;
      if (typeof segment !== 'object' || segment === null) this.invalid('path segment');
      switch (segment.kind) {
        case 'wildcard': {
          const id = `$w${this.lambdas++}`;
          this.declarations.push(`const ${id} = (e) => ${this.read('e', segments.slice(i + 1))};`);
          return `$each(${code}, ${id})`;
        }
        case 'index': {
          const index = indexCode(segment.index);
          if (index === undefined) this.invalid('array index');
          code += `?.[${index}]`;
          break;
        }
        case 'field': {
          const name: unknown = segment.name;
          if (typeof name !== 'string') this.invalid('field name');
          code = INHERITED_NAMES.has(name)
            ? `$own(${code}, ${JSON.stringify(name)})`
            : `${code}?.[${JSON.stringify(name)}]`;
          break;
        }
        default:
          this.invalid('path segment');
      }
    }
    return code;
  }

  private fn(name: string): string {
    let id = this.functionIds.get(name);
    if (!id) {
      id = `$f${this.functionIds.size}`;
      this.functionIds.set(name, id);
      this.declarations.push(`const ${id} = F[${JSON.stringify(name)}].impl;`);
    }
    return id;
  }

  /** The argument list of a call or method call, checked to be an array of nodes. */
  private args(args: unknown): readonly Expr[] {
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'object' && a !== null)) {
      this.invalid('argument list');
    }
    return args as readonly Expr[];
  }

  /** JS for an expression; throws `MappingExpressionError` (with `where`) for unknown functions and wrong arity. */
  expr(node: Expr, source: string, where: { mapping: number; destination: string }): string {
    const sub = (n: Expr) => this.expr(n, source, where);
    const fail = (at: number, problem: string, hint?: string): never => {
      throw new MappingExpressionError(source, at, problem, hint, where);
    };
    if (typeof node !== 'object' || node === null) return this.invalid('node');
    switch (node.kind) {
      case 'number': {
        const value: unknown = node.value;
        if (typeof value !== 'number') return this.invalid('number');
        // String() of a finite number is a numeric literal; NaN and the infinities go by constant.
        return Number.isFinite(value) ? `(${String(value)})` : this.constant(value);
      }
      case 'string': {
        const value: unknown = node.value;
        if (typeof value !== 'string') return this.invalid('string');
        return JSON.stringify(value);
      }
      case 'boolean':
        if (typeof node.value !== 'boolean') return this.invalid('boolean');
        return node.value ? 'true' : 'false';
      case 'null':
        return 'null';
      case 'path':
        return this.read('r', node.segments);
      case 'access':
        return this.read(`(${sub(node.target)})`, node.segments);
      case 'unary': {
        const operand = sub(node.operand);
        switch (node.operator) {
          case '!':
            return `(!$truthy(${operand}))`;
          case '-':
            return `$neg(${operand})`;
          case '~':
            return `$bnot(${operand})`;
          default:
            return this.invalid('unary operator');
        }
      }
      case 'binary': {
        const a = sub(node.left);
        const b = sub(node.right);
        switch (node.operator) {
          case '&&':
            return `($truthy(${a}) && $truthy(${b}))`;
          case '||':
            return `($truthy(${a}) || $truthy(${b}))`;
          case '==':
            return `$eq(${a}, ${b})`;
          case '!=':
            return `(!$eq(${a}, ${b}))`;
          default: {
            const helper = BINARY_HELPERS.get(node.operator);
            if (helper === undefined) return this.invalid('binary operator');
            return `${helper}(${a}, ${b})`;
          }
        }
      }
      case 'conditional':
        return `($truthy(${sub(node.test)}) ? ${sub(node.consequent)} : ${sub(node.alternate)})`;
      case 'method': {
        const name: unknown = node.name;
        if (typeof name !== 'string') return this.invalid('method name');
        const args = this.args(node.args);
        const method = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined;
        if (!method) {
          return fail(
            node.start,
            `unknown method "${name}"`,
            `methods are ${Object.keys(METHODS).join(', ')}`,
          );
        }
        if (args.length < method.min || args.length > method.max) {
          return fail(
            node.start,
            `${name}() takes ${method.min} argument${method.min === 1 ? '' : 's'}, not ${args.length}`,
          );
        }
        return `${method.helper}(${[sub(node.target), ...args.map(sub)].join(', ')})`;
      }
      case 'call': {
        const name: unknown = node.name;
        if (typeof name !== 'string') return this.invalid('function name');
        const args = this.args(node.args);
        const spec = Object.hasOwn(this.functions, name) ? this.functions[name] : undefined;
        if (!spec) {
          return fail(
            node.start,
            `unknown function "${name}"`,
            'see docs/data-prep.md for the functions Inflow supports (names are lower case)',
          );
        }
        const n = args.length;
        if (n < spec.min || n > spec.max) {
          const range =
            spec.min === spec.max
              ? `${spec.min}`
              : spec.max === Number.POSITIVE_INFINITY
                ? `at least ${spec.min}`
                : `${spec.min} to ${spec.max}`;
          return fail(
            node.start,
            `${name}() takes ${range} argument${spec.max === 1 && spec.min === 1 ? '' : 's'}, not ${n}`,
            `syntax: ${spec.syntax}`,
          );
        }
        if (name === 'iif') {
          const [test, yes, no] = args as [Expr, Expr, Expr];
          return `($truthy(${sub(test)}) ? ${sub(yes)} : ${sub(no)})`;
        }
        if (name === 'contains_key' || name === 'is_set') {
          let target = args[0] as Expr;
          if (target.kind === 'string') {
            try {
              const parsed = parseExpression(target.value);
              if (parsed.kind === 'path') target = parsed;
            } catch {
              // Reported below as "takes a field path".
            }
          }
          if (target.kind !== 'path' && target.kind !== 'access') {
            return fail(
              (args[0] as Expr).start,
              `${name}() takes a field path`,
              `write ${name}(a.b) or ${name}("a.b")`,
            );
          }
          return `(${target.kind === 'path' ? this.read('r', target.segments) : sub(target)} !== undefined)`;
        }
        return `${this.fn(name)}(${args.map(sub).join(', ')})`;
      }
      default:
        return this.invalid('node kind');
    }
  }

  /** Statements that build the output object from the mapping values `v0…`. */
  assemble(root: DestNode, staticValues: Map<number, string>): string[] {
    const lines: string[] = ['const o = {};'];
    const valueCode = (mapping: number) => staticValues.get(mapping) ?? `v${mapping}`;
    const isStatic = (mapping: number) => staticValues.has(mapping);
    const visit = (node: DestNode, ref: string, isRoot: boolean) => {
      const create = node.kind === 'array' ? '[]' : '{}';
      const target = isRoot ? ref : `(${ref} ??= ${create})`;
      for (const [key, child] of node.children) {
        const keyCode = typeof key === 'number' ? indexCode(key) : JSON.stringify(key);
        if (keyCode === undefined) this.invalid('destination index');
        const slot = `${target}[${keyCode}]`;
        if (child.leaf !== undefined) {
          const value = valueCode(child.leaf);
          lines.push(
            isStatic(child.leaf) ? `${slot} = ${value};` : `if (${value} !== undefined) ${slot} = ${value};`,
          );
          continue;
        }
        const id = `n${this.nodes++}`;
        lines.push(`let ${id};`);
        visit(child, id, false);
        lines.push(`if (${id} !== undefined) ${slot} = ${id};`);
      }
      for (const { mapping, rest } of node.spreads) {
        const value = valueCode(mapping);
        const write = `${ref} = $spread(${ref}, ${this.constant(rest)}, ${value});`;
        lines.push(isStatic(mapping) ? write : `if (${value} !== undefined) ${write}`);
      }
    };
    visit(root, 'o', true);
    return lines;
  }

  /** The helper-lambda declarations written so far (wildcards, functions). */
  get prelude(): readonly string[] {
    return this.declarations;
  }

  finish(body: string[], count: number, name: string): { source: string; constants: unknown[] } {
    const helpers = HELPER_NAMES.map((h) => `${h}: $${h}`).join(', ');
    const vars = count > 0 ? `  let ${Array.from({ length: count }, (_, i) => `v${i}`).join(', ')};\n` : '';
    const source = [
      '"use strict";',
      `const { ${helpers} } = H;`,
      ...this.declarations,
      `return function ${name}(r) {`,
      `  if (r === null || typeof r !== 'object' || Array.isArray(r)) return $notObject(r);`,
      '  let e = null;',
      `${vars}${body.map((l) => `  ${l}`).join('\n')}`,
      '  return e === null ? { ok: true, value: o } : { ok: false, errors: e, value: o };',
      '};',
    ].join('\n');
    return { source, constants: this.constants };
  }
}

function toSegments(segments: readonly PathSegment[]): Segment[] {
  return segments.map((s) =>
    s.kind === 'field'
      ? { kind: 'field', name: s.name }
      : s.kind === 'index'
        ? { kind: 'index', index: s.index }
        : { kind: 'wildcard' },
  );
}

/** Adds mapping `index`'s destination to the tree; throws when it overlaps another mapping's. */
function place(
  root: DestNode,
  segments: readonly PathSegment[],
  index: number,
  mappings: readonly ResolvedMapping[],
): void {
  const destination = (mappings[index] as ResolvedMapping).destination;
  const where = { mapping: index, destination };
  const conflict = (segment: PathSegment, other: number): never => {
    throw new MappingExpressionError(
      destination,
      segment.start,
      `destination overlaps mappings[${other}] (→ ${(mappings[other] as ResolvedMapping).destination})`,
      'a field is either written whole by one mapping or built from its children, and a name is either an object or an array',
      where,
    );
  };
  let node = root;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as PathSegment;
    if (node.leaf !== undefined) conflict(segment, node.leaf);
    const kind = segment.kind === 'field' ? 'object' : 'array';
    if (node.kind !== undefined && node.kind !== kind) conflict(segment, node.owner);
    node.kind = kind;
    if (segment.kind === 'wildcard') {
      node.spreads.push({ mapping: index, rest: toSegments(segments.slice(i + 1)) });
      return;
    }
    const key = segment.kind === 'field' ? segment.name : segment.index;
    let child = node.children.get(key);
    const last = i === segments.length - 1;
    if (!child) {
      child = { children: new Map(), spreads: [], owner: index };
      node.children.set(key, child);
    } else if (last) {
      conflict(segment, child.leaf ?? child.owner);
    }
    if (last) child.leaf = index;
    node = child;
  }
}

/**
 * The JS the generator writes for one expression tree, trusted or not, without running it (not
 * exported from the package: tests feed it trees the parser never made, to check that nothing in
 * a tree reaches the source except through a string literal, and that anything else is refused
 * with a `MappingExpressionError`).
 */
export function expressionCode(tree: unknown, options: Pick<CompileOptions, 'now' | 'uuid'> = {}): string {
  const generator = new Generator(
    createFunctions({ now: options.now ?? (() => new Date()), uuid: options.uuid ?? defaultUuid }),
  );
  const where = { mapping: 0, destination: 'x' };
  generator.begin('', where);
  const code = generator.expr(tree as Expr, '', where);
  return [...generator.prelude, `return ${code};`].join('\n');
}

/**
 * Compiles a Data Prep mapping set (either dialect, or the output of `normalizeMappingSet`) into
 * one JavaScript function, once; calling it maps one record with no interpretation left to do.
 *
 * Anything but an object `normalizeMappingSet` returned goes through `normalizeMappingSet` first,
 * and only trees `parseExpression` made are compiled: an `expression` field in the input (or one
 * edited into a normalised set) is ignored and the source text parsed again.
 *
 * Throws `MappingExpressionError` naming the mapping (`mappings[2] (→ a.b): …`, plus `mapping`
 * and `destination` fields) and the line and column for a parse error, an unknown function or
 * method, a wrong number of arguments, a destination field named `__proto__`, `constructor` or
 * `prototype`, or destinations that overlap. Other invalid bodies throw `InflowValidationError`.
 *
 * Per record: a missing source leaves its field out; a function that cannot produce a value
 * reports `{path, reason}` and the record's other fields still map.
 */
export function compileMappingSet(
  mappingSet: NormalizedMappingSet | unknown,
  options: CompileOptions = {},
): CompiledMappingSet {
  const mappings = resolve(mappingSet);
  const functions = createFunctions({
    now: options.now ?? (() => new Date()),
    uuid: options.uuid ?? defaultUuid,
  });
  const generator = new Generator(functions);
  const root: DestNode = { kind: 'object', children: new Map(), spreads: [], owner: 0 };
  const body: string[] = [];
  const staticValues = new Map<number, string>();
  const seen = new Map<string, number>();

  mappings.forEach((mapping, index) => {
    const where = { mapping: index, destination: mapping.destination };
    let segments: PathSegment[];
    try {
      segments = parseXdmPath(mapping.destination);
    } catch (error) {
      located(error, mapping.destination, where);
    }
    for (const segment of segments) {
      if (segment.kind === 'field' && FORBIDDEN_NAMES.has(segment.name)) {
        throw new MappingExpressionError(
          mapping.destination,
          segment.start,
          `field name "${segment.name}" is not allowed in a destination`,
          'it would reach the prototype of the output object',
          where,
        );
      }
    }
    const first = seen.get(mapping.destination);
    if (first !== undefined) duplicate(mapping.destination, first, where);
    seen.set(mapping.destination, index);
    place(root, segments, index, mappings);

    if (mapping.sourceType === 'STATIC') {
      // A static value is always text (resolve() checked it), so this is one string literal.
      staticValues.set(index, JSON.stringify(String(mapping.source)));
      return;
    }
    let expression = mapping.expression;
    if (!expression) {
      try {
        expression = parseExpression(mapping.source);
      } catch (error) {
        located(error, mapping.source, where);
      }
    }
    generator.begin(mapping.source, where);
    if (mapping.sourceType === 'ATTRIBUTE') {
      if (expression.kind !== 'path') notAPath(mapping.source, expression.start, where);
      body.push(`v${index} = ${generator.read('r', expression.segments)};`);
      return;
    }
    const code = generator.expr(expression, mapping.source, where);
    body.push(`try { v${index} = ${code}; } catch (x) { (e ??= []).push($fail(x, ${index})); }`);
  });

  body.push(...generator.assemble(root, staticValues));
  const name = `inflow_mapping_${String(options.name ?? 'set')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .slice(0, 60)}`;
  const { source, constants } = generator.finish(body, mappings.length, name);
  const factory = new Function('K', 'F', 'H', source) as (
    K: unknown[],
    F: Record<string, FunctionSpec>,
    H: ReturnType<typeof makeHelpers>,
  ) => (record: Record<string, unknown>) => MapResult;
  const map = factory(
    constants,
    functions,
    makeHelpers(mappings.map((m) => m.destination)),
  ) as CompiledMappingSet;
  Object.defineProperty(map, 'source', { value: source, enumerable: true });
  return map;
}
