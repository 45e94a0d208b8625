import { InflowError } from '../errors/inflow-error.js';

/** The longest source a calculated field may have, in UTF-16 code units (reference §7). */
export const MAX_EXPRESSION_LENGTH = 4096;

/** How deeply parentheses, calls and conditionals may nest (keeps the parser off the stack limit). */
export const MAX_EXPRESSION_DEPTH = 200;

/**
 * Words that cannot be bare field names; wrap them as `${new}` (reference §7). Some are operators
 * (`and`, `mod`, `eq`, …) or literals (`true`, `null`); the rest are reserved for the language.
 */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
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
]);

/** Where a node is in the source: 0-based offsets, `end` exclusive, so `source.slice(start, end)` is its text. */
export interface Span {
  start: number;
  end: number;
}

/** `12`, `1.5`, `2e3`. `raw` is the source text, so a compiler can tell `1` from `1.0`. */
export interface NumberLiteral extends Span {
  kind: 'number';
  value: number;
  raw: string;
}

/** `"a"` or `'a'`, with escapes already applied to `value`. */
export interface StringLiteral extends Span {
  kind: 'string';
  value: string;
}

/** `true` or `false`. */
export interface BooleanLiteral extends Span {
  kind: 'boolean';
  value: boolean;
}

/** `null`. */
export interface NullLiteral extends Span {
  kind: 'null';
}

/** One field name in a path: `a`, `${First Name}`, or `street\.name` (whose `name` is `street.name`). */
export interface FieldSegment extends Span {
  kind: 'field';
  name: string;
}

/** `[0]`: one element of an array. The span covers the brackets. */
export interface IndexSegment extends Span {
  kind: 'index';
  index: number;
}

/** `[*]`: every element of an array; the rest of the path applies to each. The span covers the brackets. */
export interface WildcardSegment extends Span {
  kind: 'wildcard';
}

/** One step of a path. */
export type PathSegment = FieldSegment | IndexSegment | WildcardSegment;

/**
 * A path into the input record: `a.b[0].c`, `a[*].b`, `${First Name}`. It always starts with a
 * field. This is the only node an ATTRIBUTE mapping's source may be.
 */
export interface PathExpr extends Span {
  kind: 'path';
  segments: readonly [FieldSegment, ...PathSegment[]];
}

/** A path into a computed value: `split(a, ",")[0]`, `to_object("k", v).k`. */
export interface AccessExpr extends Span {
  kind: 'access';
  target: Expr;
  segments: readonly [PathSegment, ...PathSegment[]];
}

/** A function call `concat(a, "x")`. Any name parses; the compiler checks it against the catalogue. */
export interface CallExpr extends Span {
  kind: 'call';
  name: string;
  args: readonly Expr[];
}

/** A method called on a value: `a.equals("b")`, `"x".equalsIgnoreCase(b)`, `str_to_object(s).get("k")`. */
export interface MethodCallExpr extends Span {
  kind: 'method';
  target: Expr;
  name: string;
  args: readonly Expr[];
}

/** `-` negates, `!` (also spelled `not`) is logical not, `~` is bitwise complement. */
export type UnaryOperator = '-' | '!' | '~';

/**
 * Binary operators in their canonical spelling: `div` is `/`, `mod` is `%`, `eq ne lt gt le ge` are
 * `== != < > <= >=`, `and`/`or` are `&&`/`||` (the word forms are JEXL aliases, not other operators).
 */
export type BinaryOperator =
  | '*'
  | '/'
  | '%'
  | '+'
  | '-'
  | '<'
  | '>'
  | '<='
  | '>='
  | '=='
  | '!='
  | '&&'
  | '||';

/** A prefix operator applied to one operand. */
export interface UnaryExpr extends Span {
  kind: 'unary';
  operator: UnaryOperator;
  operand: Expr;
}

/** An infix operator; all are left-associative. */
export interface BinaryExpr extends Span {
  kind: 'binary';
  operator: BinaryOperator;
  left: Expr;
  right: Expr;
}

/** `test ? consequent : alternate`, right-associative. */
export interface ConditionalExpr extends Span {
  kind: 'conditional';
  test: Expr;
  consequent: Expr;
  alternate: Expr;
}

/**
 * A parsed Data Prep expression, discriminated by `kind`. The span of a parenthesised expression
 * includes its parentheses.
 */
export type Expr =
  | NumberLiteral
  | StringLiteral
  | BooleanLiteral
  | NullLiteral
  | PathExpr
  | AccessExpr
  | CallExpr
  | MethodCallExpr
  | UnaryExpr
  | BinaryExpr
  | ConditionalExpr;

/** 1-based line and column of a 0-based offset (lines end at `\n`). */
export function lineColumn(source: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}

/**
 * An expression or path that does not parse. The message reads
 * `unexpected ")" at 1:14: expected an expression`.
 */
export class MappingExpressionError extends InflowError {
  override readonly name = 'MappingExpressionError';
  /** 0-based offset of the problem in the source. */
  readonly position: number;
  /** 1-based line of `position`. */
  readonly line: number;
  /** 1-based column of `position`. */
  readonly column: number;
  /** Index of the mapping in its mapping set, when the error came from compiling one. */
  readonly mapping?: number;
  /** That mapping's destination path, when the error came from compiling one. */
  readonly destination?: string;
  /** What was found, without the position (`unexpected ")"`). */
  readonly problem: string;
  /** What would have fitted, when known. */
  readonly hint?: string;

  /**
   * @param problem what was found, e.g. `unexpected ")"`
   * @param hint what would have fitted or how to fix it, e.g. `expected an expression`
   * @param where the mapping the source belongs to; the message then starts `mappings[2] (→ a.b): `
   */
  constructor(
    source: string,
    position: number,
    problem: string,
    hint?: string,
    where?: { mapping: number; destination: string },
  ) {
    const { line, column } = lineColumn(source, position);
    const prefix = where ? `mappings[${where.mapping}] (→ ${where.destination}): ` : '';
    super(`${prefix}${problem} at ${line}:${column}${hint ? `: ${hint}` : ''}`);
    this.position = position;
    this.line = line;
    this.column = column;
    this.problem = problem;
    if (hint) this.hint = hint;
    if (where) {
      this.mapping = where.mapping;
      this.destination = where.destination;
    }
  }

  static override isInstance(error: unknown): error is MappingExpressionError {
    return InflowError.isInstance(error) && error.name === 'MappingExpressionError';
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** Punctuation, and every operator symbol (binary and unary). */
type Punct = '(' | ')' | '[' | ']' | ',' | '.' | '?' | ':' | BinaryOperator | UnaryOperator;

type Token =
  | ({ type: 'number'; value: number; raw: string } & Span)
  | ({ type: 'string'; value: string } & Span)
  /** A bare identifier (one segment) or `${…}` (one or more segments). */
  | ({ type: 'name'; quoted: boolean; segments: FieldSegment[] } & Span)
  | ({ type: 'keyword'; value: string } & Span)
  | ({ type: 'punct'; value: Punct } & Span)
  | ({ type: 'eof' } & Span);

const TWO_CHAR_PUNCT = new Set(['<=', '>=', '==', '!=', '&&', '||']);
const ONE_CHAR_PUNCT = new Set('()[],.?:*/%+-<>!~');
const IDENT_START = /[\p{L}\p{Nl}$_]/u;
const IDENT_PART = /[\p{L}\p{Nl}\p{Nd}\p{Mn}\p{Mc}\p{Pc}$_]/u;
const DIGIT = /[0-9]/;
const SPACE = /\s/;

function quote(text: string): string {
  return JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}…` : text);
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const fail = (pos: number, problem: string, hint?: string): never => {
    throw new MappingExpressionError(source, pos, problem, hint);
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (SPACE.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (DIGIT.test(c)) {
      while (i < source.length && DIGIT.test(source[i] as string)) i++;
      if (source[i] === '.' && DIGIT.test(source[i + 1] ?? '')) {
        i++;
        while (i < source.length && DIGIT.test(source[i] as string)) i++;
      }
      const exponent = /^[eE][+-]?[0-9]+/.exec(source.slice(i));
      if (exponent) i += exponent[0].length;
      if (i < source.length && IDENT_PART.test(source[i] as string)) {
        let end = i;
        while (end < source.length && IDENT_PART.test(source[end] as string)) end++;
        fail(
          start,
          `invalid number ${quote(source.slice(start, end))}`,
          'a number is digits with an optional fraction and exponent',
        );
      }
      const raw = source.slice(start, i);
      tokens.push({ type: 'number', value: Number(raw), raw, start, end: i });
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      let value = '';
      for (;;) {
        if (i >= source.length) fail(start, 'unterminated string', `expected a closing ${c}`);
        const ch = source[i] as string;
        if (ch === c) {
          i++;
          break;
        }
        if (ch !== '\\') {
          value += ch;
          i++;
          continue;
        }
        const next = source[i + 1];
        if (next === undefined) fail(start, 'unterminated string', `expected a closing ${c}`);
        switch (next) {
          case 'n':
            value += '\n';
            break;
          case 't':
            value += '\t';
            break;
          case 'r':
            value += '\r';
            break;
          case 'b':
            value += '\b';
            break;
          case 'f':
            value += '\f';
            break;
          case '\\':
          case '"':
          case "'":
            value += next;
            break;
          case 'u': {
            const hex = source.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(i, 'invalid \\u escape', 'write \\u and four hex digits');
            value += String.fromCharCode(Number.parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            // As in JEXL, an unknown escape keeps its backslash: "\." reaches a regex as \. .
            value += `\\${next}`;
        }
        i += 2;
      }
      tokens.push({ type: 'string', value, start, end: i });
      continue;
    }
    if (c === '$' && source[i + 1] === '{') {
      i += 2;
      const segments: FieldSegment[] = [];
      let name = '';
      let segStart = i;
      const endSegment = (end: number) => {
        if (name === '')
          fail(
            segStart,
            'empty field name',
            `write a name between \${ and } (escape a dot in a name as \\.)`,
          );
        segments.push({ kind: 'field', name, start: segStart, end });
        name = '';
      };
      for (;;) {
        if (i >= source.length) fail(start, 'unterminated ${', 'expected "}"');
        const ch = source[i] as string;
        if (ch === '}') {
          endSegment(i);
          i++;
          break;
        }
        if (ch === '.') {
          endSegment(i);
          i++;
          segStart = i;
          continue;
        }
        if (ch === '\\') {
          const next = source[i + 1];
          if (next === undefined) fail(start, 'unterminated ${', 'expected "}"');
          name += next;
          i += 2;
          continue;
        }
        name += ch;
        i++;
      }
      tokens.push({ type: 'name', quoted: true, segments, start, end: i });
      continue;
    }
    if (IDENT_START.test(c) || (c === '\\' && source[i + 1] === '.')) {
      let name = '';
      let escaped = false;
      while (i < source.length) {
        const ch = source[i] as string;
        if (IDENT_PART.test(ch)) {
          name += ch;
          i++;
        } else if (ch === '\\' && source[i + 1] === '.') {
          name += '.';
          escaped = true;
          i += 2;
        } else {
          break;
        }
      }
      if (source[i] === '\\') {
        fail(
          i,
          'unexpected character "\\"',
          `only a dot may be escaped in a field name (\\.); wrap other names as \${…}`,
        );
      }
      if (!escaped && RESERVED_WORDS.has(name)) {
        tokens.push({ type: 'keyword', value: name, start, end: i });
      } else {
        tokens.push({
          type: 'name',
          quoted: false,
          segments: [{ kind: 'field', name, start, end: i }],
          start,
          end: i,
        });
      }
      continue;
    }
    const two = source.slice(i, i + 2);
    if (TWO_CHAR_PUNCT.has(two)) {
      tokens.push({ type: 'punct', value: two as Punct, start, end: i + 2 });
      i += 2;
      continue;
    }
    if (ONE_CHAR_PUNCT.has(c)) {
      tokens.push({ type: 'punct', value: c as Punct, start, end: i + 1 });
      i++;
      continue;
    }
    const hints: Record<string, string> = {
      '=': 'compare with == (there is no assignment)',
      '&': 'use && or and',
      '|': 'use || or or',
      '\\': 'only a dot may be escaped in a field name (\\.)',
      $: `wrap a field name as \${…}`,
    };
    const ch = String.fromCodePoint(source.codePointAt(i) as number);
    fail(i, `unexpected character ${quote(ch)}`, hints[ch] ?? 'it is not part of the expression language');
  }
  tokens.push({ type: 'eof', start: source.length, end: source.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

const UNARY: Record<string, UnaryOperator> = { '-': '-', '!': '!', not: '!', '~': '~' };
const MULTIPLICATIVE: Record<string, BinaryOperator> = { '*': '*', '/': '/', div: '/', '%': '%', mod: '%' };
const ADDITIVE: Record<string, BinaryOperator> = { '+': '+', '-': '-' };
const RELATIONAL: Record<string, BinaryOperator> = {
  '<': '<',
  '>': '>',
  '<=': '<=',
  '>=': '>=',
  lt: '<',
  gt: '>',
  le: '<=',
  ge: '>=',
};
const EQUALITY: Record<string, BinaryOperator> = { '==': '==', '!=': '!=', eq: '==', ne: '!=' };
const AND: Record<string, BinaryOperator> = { '&&': '&&', and: '&&' };
const OR: Record<string, BinaryOperator> = { '||': '||', or: '||' };

class Parser {
  private index = 0;
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  parse(): Expr {
    const expr = this.conditional();
    const next = this.peek();
    if (next.type !== 'eof') this.fail(next, 'expected an operator or the end of the expression');
    return expr;
  }

  private peek(offset = 0): Token {
    return (this.tokens[this.index + offset] ?? this.tokens[this.tokens.length - 1]) as Token;
  }

  private advance(): Token {
    const token = this.peek();
    if (token.type !== 'eof') this.index++;
    return token;
  }

  private isPunct(value: Punct, token = this.peek()): boolean {
    return token.type === 'punct' && token.value === value;
  }

  private expectPunct(value: Punct, hint = `expected "${value}"`): Token {
    const token = this.peek();
    if (!this.isPunct(value, token)) this.fail(token, hint);
    return this.advance();
  }

  private describe(token: Token): string {
    const text = this.source.slice(token.start, token.end);
    switch (token.type) {
      case 'eof':
        return 'end of expression';
      case 'number':
        return `number ${text}`;
      case 'string':
        return `string ${text.length > 26 ? `${text.slice(0, 25)}…` : text}`;
      case 'keyword':
        return `reserved word ${quote(text)}`;
      default:
        return quote(text);
    }
  }

  /** Throws at `token`; `wantsName` says a field name was expected there (so any reserved word gets the ${} hint). */
  private fail(token: Token, hint: string, wantsName = false): never {
    let fullHint = hint;
    if (
      token.type === 'keyword' &&
      (wantsName || (!OPERATOR_WORDS.has(token.value) && !LITERAL_WORDS.has(token.value)))
    ) {
      fullHint += ` (write \${${token.value}} for a field named "${token.value}")`;
    }
    throw new MappingExpressionError(
      this.source,
      token.start,
      `unexpected ${this.describe(token)}`,
      fullHint,
    );
  }

  /** The operator spelled by the next token, if it is one of `table`'s. */
  private operator<T extends string>(table: Record<string, T>): T | undefined {
    const token = this.peek();
    if (token.type !== 'punct' && token.type !== 'keyword') return undefined;
    return Object.hasOwn(table, token.value) ? table[token.value] : undefined;
  }

  private conditional(): Expr {
    if (++this.depth > MAX_EXPRESSION_DEPTH) {
      throw new MappingExpressionError(
        this.source,
        this.peek().start,
        'expression nested too deeply',
        `at most ${MAX_EXPRESSION_DEPTH} levels of parentheses, calls and conditionals`,
      );
    }
    try {
      return this.conditionalBody();
    } finally {
      this.depth--;
    }
  }

  private conditionalBody(): Expr {
    const test = this.binary(0);
    if (!this.isPunct('?')) return test;
    this.advance();
    const consequent = this.conditional();
    this.expectPunct(':', 'expected ":" of the conditional (test ? a : b)');
    const alternate = this.conditional();
    return { kind: 'conditional', test, consequent, alternate, start: test.start, end: alternate.end };
  }

  private static readonly LEVELS = [OR, AND, EQUALITY, RELATIONAL, ADDITIVE, MULTIPLICATIVE];

  private binary(level: number): Expr {
    const table = Parser.LEVELS[level];
    if (!table) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const operator = this.operator(table);
      if (!operator) return left;
      this.advance();
      const right = this.binary(level + 1);
      left = { kind: 'binary', operator, left, right, start: left.start, end: right.end };
    }
  }

  private unary(): Expr {
    const operator = this.operator(UNARY);
    if (!operator) return this.postfix();
    const token = this.advance();
    const operand = this.unary();
    return { kind: 'unary', operator, operand, start: token.start, end: operand.end };
  }

  private postfix(): Expr {
    const { expr: first, grouped } = this.primary();
    let expr = first;
    // A path written from a name keeps growing as a path, an access as the same access; a method
    // call or a parenthesised expression starts a new access.
    let chain: 'path' | 'access' | 'none' = expr.kind === 'path' && !grouped ? 'path' : 'none';
    for (;;) {
      let segments: PathSegment[];
      let tail: number;
      if (this.isPunct('.')) {
        this.advance();
        const nameToken = this.peek();
        if (nameToken.type !== 'name') this.fail(nameToken, 'expected a field or method name', true);
        this.advance();
        if (!nameToken.quoted && this.isPunct('(')) {
          const name = (nameToken.segments[0] as FieldSegment).name;
          const { args, end } = this.arguments();
          expr = { kind: 'method', target: expr, name, args, start: expr.start, end };
          chain = 'none';
          continue;
        }
        segments = nameToken.segments;
        tail = nameToken.end;
      } else if (this.isPunct('[')) {
        const open = this.advance();
        const inner = this.peek();
        if (this.isPunct('*', inner)) {
          this.advance();
          const close = this.expectPunct(']');
          segments = [{ kind: 'wildcard', start: open.start, end: close.end }];
          tail = close.end;
        } else if (
          inner.type === 'number' &&
          /^[0-9]+$/.test(inner.raw) &&
          Number.isSafeInteger(inner.value)
        ) {
          this.advance();
          const close = this.expectPunct(']');
          segments = [{ kind: 'index', index: inner.value, start: open.start, end: close.end }];
          tail = close.end;
        } else {
          this.fail(inner, 'expected an array index (a whole number) or *');
        }
      } else {
        return expr;
      }
      if (chain === 'path' && expr.kind === 'path') {
        expr = { kind: 'path', segments: [...expr.segments, ...segments], start: expr.start, end: tail };
      } else if (chain === 'access' && expr.kind === 'access') {
        expr = {
          kind: 'access',
          target: expr.target,
          segments: [...expr.segments, ...segments],
          start: expr.start,
          end: tail,
        };
      } else {
        const [head, ...rest] = segments as [PathSegment, ...PathSegment[]];
        expr = { kind: 'access', target: expr, segments: [head, ...rest], start: expr.start, end: tail };
        chain = 'access';
      }
    }
  }

  private arguments(): { args: Expr[]; end: number } {
    this.expectPunct('(');
    const args: Expr[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        args.push(this.conditional());
        if (this.isPunct(',')) {
          this.advance();
          continue;
        }
        break;
      }
    }
    const close = this.expectPunct(
      ')',
      args.length === 0 ? 'expected an expression or ")"' : 'expected "," or ")"',
    );
    return { args, end: close.end };
  }

  private primary(): { expr: Expr; grouped: boolean } {
    const token = this.peek();
    const plain = (expr: Expr) => ({ expr, grouped: false });
    switch (token.type) {
      case 'number':
        this.advance();
        return plain({
          kind: 'number',
          value: token.value,
          raw: token.raw,
          start: token.start,
          end: token.end,
        });
      case 'string':
        this.advance();
        return plain({ kind: 'string', value: token.value, start: token.start, end: token.end });
      case 'keyword':
        if (token.value === 'true' || token.value === 'false') {
          this.advance();
          return plain({
            kind: 'boolean',
            value: token.value === 'true',
            start: token.start,
            end: token.end,
          });
        }
        if (token.value === 'null') {
          this.advance();
          return plain({ kind: 'null', start: token.start, end: token.end });
        }
        return this.fail(token, 'expected an expression');
      case 'name': {
        this.advance();
        if (!token.quoted && this.isPunct('(')) {
          const name = (token.segments[0] as FieldSegment).name;
          const { args, end } = this.arguments();
          return plain({ kind: 'call', name, args, start: token.start, end });
        }
        const [first, ...rest] = token.segments as [FieldSegment, ...FieldSegment[]];
        return plain({ kind: 'path', segments: [first, ...rest], start: token.start, end: token.end });
      }
      case 'punct':
        if (token.value === '(') {
          this.advance();
          const inner = this.conditional();
          const close = this.expectPunct(')');
          return { expr: { ...inner, start: token.start, end: close.end }, grouped: true };
        }
        return this.fail(token, 'expected an expression');
      default:
        return this.fail(token, 'expected an expression');
    }
  }
}

const OPERATOR_WORDS: ReadonlySet<string> = new Set([
  'and',
  'or',
  'not',
  'eq',
  'ne',
  'lt',
  'gt',
  'le',
  'ge',
  'mod',
  'div',
]);
const LITERAL_WORDS: ReadonlySet<string> = new Set(['true', 'false', 'null']);

/**
 * Parses a Data Prep expression (JEXL-like, reference §7) into an AST. Throws
 * `MappingExpressionError` with the offset, line and column of the first problem; a source longer
 * than `MAX_EXPRESSION_LENGTH` is refused before parsing.
 *
 * Precedence, loosest first: `?:` (right-assoc) · `|| or` · `&& and` · `== != eq ne` ·
 * `< > <= >= lt gt le ge` · `+ -` · `* / % div mod` · unary `- ! not ~` · postfix `.name`,
 * `[n]`, `[*]`, `.method(…)`, calls `name(…)`. Binary operators are left-associative.
 */
export function parseExpression(source: string): Expr {
  if (typeof source !== 'string') {
    throw new MappingExpressionError(String(source), 0, 'not an expression', 'an expression is text');
  }
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new MappingExpressionError(
      source,
      MAX_EXPRESSION_LENGTH,
      'expression too long',
      `a calculated field may have at most ${MAX_EXPRESSION_LENGTH} characters; this one has ${source.length}`,
    );
  }
  const expr = new Parser(source, tokenize(source)).parse();
  freezeTree(expr);
  TRUSTED.set(expr, source);
  return expr;
}

/**
 * Every tree `parseExpression` has returned, with the source it was parsed from. The mapping
 * compiler generates JavaScript from a tree, so it only uses one found here for the very same
 * source; anything else (a tree that arrived as JSON, one built by hand) is parsed again from its
 * text. A WeakMap, not a marker on the node: nothing outside this module can add to it.
 */
const TRUSTED = new WeakMap<object, string>();

/** Trees are frozen so that a trusted one cannot be edited into something the parser never produced. */
function freezeTree(node: unknown): void {
  if (typeof node !== 'object' || node === null || Object.isFrozen(node)) return;
  Object.freeze(node);
  for (const value of Object.values(node)) freezeTree(value);
}

/** Whether `node` is a tree `parseExpression(source)` returned (and so safe to compile as is). */
export function isTrustedExpression(node: unknown, source: string): node is Expr {
  return typeof node === 'object' && node !== null && TRUSTED.get(node) === source;
}
