/**
 * A check for the shape of regular expression that makes a backtracking engine (V8's, Java's)
 * take exponential (or high polynomial) time on a short input that fails to match: a group
 * repeated a variable number of times whose body repeats too and can split the same text between
 * rounds in many ways, such as `(a+)+`, `(\w+\s?)*`, `(a+a)+`, `(.*,)*` or `(a+){1,9}`. Against 34
 * characters, `^(a+)+$` took V8 about 90 s, on the thread that runs it. Patterns users give
 * (mapping functions, schema `pattern`s) are checked before they run, and one of that shape is
 * refused with this reason, naming the group.
 *
 * A round of a group cannot be split in many ways when it must match, once, a literal character
 * that none of its repeated parts can match: `(\w+\.)+`, `([a-z0-9]+(-[a-z0-9]+)*\.)+` and
 * `(\d{1,3}\.){3}` pass. That is a rule on the pattern's syntax, so it refuses some safe patterns
 * (`^\w+(\s+\w+)*$`: rewrite as `^\w+(?:\s\w+)*$` or `^[\w\s]+$`) and misses alternatives that
 * overlap under a repetition (`(a|aa)+`). See decision 0010's addendum.
 */
export function nestedRepetition(source: string): string | undefined {
  /** The atoms of one alternative of a group: the repeated ones, and those matched exactly once. */
  interface Alternative {
    repeated: Matcher[];
    fixed: Matcher[];
  }
  interface Group {
    start: number;
    zeroWidth: boolean;
    alternative: Alternative;
    /** Some alternative so far repeats with no atom matched once that its repeated atoms cannot match. */
    loose: boolean;
    /** Every atom inside, nested groups included. */
    atoms: Matcher[];
  }
  const newAlternative = (): Alternative => ({ repeated: [], fixed: [] });
  const endAlternative = (g: Group) => {
    const { repeated, fixed } = g.alternative;
    if (repeated.length > 0 && !fixed.some((f) => repeated.every((r) => disjoint(f, r)))) g.loose = true;
    g.alternative = newAlternative();
  };
  const groups: Group[] = [
    { start: 0, zeroWidth: false, alternative: newAlternative(), loose: false, atoms: [] },
  ];
  const top = () => groups[groups.length - 1] as Group;
  /** The atom a quantifier would apply to, not yet placed in its group. */
  let pending: { start: number; end: number; matcher?: Matcher; group?: Group } | undefined;
  /** Places the pending atom: repeated (a quantifier lets it take text in more than one way) or not. */
  const place = (repeated: boolean) => {
    const atom = pending;
    pending = undefined;
    if (!atom) return;
    const g = top();
    if (atom.group) {
      if (atom.group.zeroWidth) return;
      g.atoms.push(...atom.group.atoms);
      // A group that can split text in many ways makes its parent's alternative do so too.
      if (repeated || atom.group.loose) g.alternative.repeated.push(...atom.group.atoms);
      return;
    }
    const matcher = atom.matcher as Matcher;
    g.atoms.push(matcher);
    if (repeated) g.alternative.repeated.push(matcher);
    else g.alternative.fixed.push(matcher);
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    const quantifier = pending ? quantifierAt(source, i) : undefined;
    if (pending && quantifier) {
      const variable = quantifier.max > quantifier.min && quantifier.max > 1;
      const group = pending.group;
      if (variable && group?.loose) {
        return `the group ${source.slice(pending.start, pending.end)} repeats and can match the same text in many ways (it repeats inside, and has no character it must match once that its repeated parts cannot), which can take exponential time on a text that does not match: repeat one or the other, or separate the rounds (e.g. (a+)+ is a+)`;
      }
      // Matched once (`{1}`), or a single atom a fixed number of times (`x{3}`): what it matches is
      // fixed. Anything else (`?`, `*`, `{1,3}`, a group `{2}` that repeats inside) can take text
      // in more than one way.
      const once = quantifier.min === quantifier.max && (quantifier.max === 1 || group === undefined);
      place(!once);
      i = quantifier.end;
      continue;
    }
    place(false);
    if (c === '\\') {
      const end = escapeEnd(source, i);
      const matcher = escapeMatcher(source.slice(i, end));
      if (matcher) pending = { start: i, end, matcher };
      i = end;
      continue;
    }
    if (c === '[') {
      const start = i;
      i++;
      if (source[i] === '^') i++;
      while (i < source.length && source[i] !== ']') i = source[i] === '\\' ? escapeEnd(source, i) : i + 1;
      i++;
      pending = { start, end: i, matcher: classMatcher(source.slice(start, i)) };
      continue;
    }
    if (c === '(') {
      const start = i;
      i++;
      let zeroWidth = false;
      if (source[i] === '?') {
        // `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!`, `(?<name>`: none of it is a quantifier.
        i++;
        if (source[i] === '<' && source[i + 1] !== '=' && source[i + 1] !== '!') {
          const close = source.indexOf('>', i);
          i = close === -1 ? source.length : close + 1;
        } else {
          zeroWidth = source[i] !== ':';
          i += source[i] === '<' ? 2 : 1;
        }
      }
      groups.push({ start, zeroWidth, alternative: newAlternative(), loose: false, atoms: [] });
      continue;
    }
    if (c === ')') {
      i++;
      if (groups.length === 1) continue;
      const g = groups.pop() as Group;
      endAlternative(g);
      pending = { start: g.start, end: i, group: g };
      continue;
    }
    if (c === '|') {
      endAlternative(top());
      i++;
      continue;
    }
    i++;
    // `^` and `$` match no text; `.` any character but a line break; anything else itself.
    if (c === '.') pending = { start: i - 1, end: i, matcher: (x) => x !== 10 && x !== 13 };
    else if (c !== '^' && c !== '$') {
      const code = c.charCodeAt(0);
      pending = { start: i - 1, end: i, matcher: sameLetter(code) };
    }
  }
  return undefined;
}

/** Whether an atom can match the character `code`; conservative (true) where unsure. */
type Matcher = (code: number) => boolean;

const ANY: Matcher = () => true;

/** Characters two atoms are compared on: Latin, general punctuation and spaces, a few beyond. */
const SAMPLE = [
  ...Array.from({ length: 0x250 }, (_, i) => i),
  0x2000,
  0x2028,
  0x3000,
  0x4e00,
  0xfeff,
  0xfffd,
];
/** Whether no character is matched by both (on `SAMPLE`; matchers are conservative beyond ASCII). */
const disjoint = (a: Matcher, b: Matcher) => SAMPLE.every((x) => !(a(x) && b(x)));
const isDigit = (x: number) => x >= 48 && x <= 57;
const isWord = (x: number) => isDigit(x) || (x >= 65 && x <= 90) || (x >= 97 && x <= 122) || x === 95;
const isSpace = (x: number) => x === 32 || (x >= 9 && x <= 13) || x === 0xa0 || x > 0x7f;
/** A literal, either case (the `i` flag is not known here). */
const sameLetter = (code: number): Matcher => {
  const lower = String.fromCharCode(code).toLowerCase();
  return (x) => x === code || String.fromCharCode(x).toLowerCase() === lower;
};

/** The character in the other case (itself when it has none). */
function otherCase(x: number): number {
  const c = String.fromCharCode(x);
  const lower = c.toLowerCase();
  return (lower === c ? c.toUpperCase() : lower).charCodeAt(0);
}

/** Where the escape at `i` (a backslash) ends. */
function escapeEnd(source: string, i: number): number {
  const c = source[i + 1];
  const braced = (from: number) => {
    const close = source.indexOf('}', from);
    return close === -1 ? source.length : close + 1;
  };
  if ((c === 'p' || c === 'P' || c === 'u') && source[i + 2] === '{') return braced(i + 3);
  if (c === 'u') return Math.min(source.length, i + 6);
  if (c === 'x') return Math.min(source.length, i + 4);
  if (c === 'c') return Math.min(source.length, i + 3);
  if (c === 'k' && source[i + 2] === '<') {
    const close = source.indexOf('>', i);
    return close === -1 ? source.length : close + 1;
  }
  return Math.min(source.length, i + 2);
}

/** The character an escape stands for, when it is one known character. */
function escapedLiteral(sequence: string): number | undefined {
  const c = sequence[1];
  if (c === undefined) return undefined;
  if (sequence.length === 2) {
    if (/[dDwWsSbBpPkcux0-9]/.test(c)) return undefined;
    const controls: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11 };
    return controls[c] ?? c.charCodeAt(0);
  }
  if (c === 'x' || (c === 'u' && sequence[2] !== '{')) {
    const code = Number.parseInt(sequence.slice(2), 16);
    return Number.isNaN(code) ? undefined : code;
  }
  return undefined;
}

/** What an sequence matches; undefined for one that matches no text (`\b`, `\B`). */
function escapeMatcher(sequence: string): Matcher | undefined {
  switch (sequence) {
    case '\\b':
    case '\\B':
      return undefined;
    case '\\d':
      return isDigit;
    case '\\D':
      return (x) => !isDigit(x);
    case '\\w':
      return isWord;
    case '\\W':
      return (x) => !isWord(x);
    case '\\s':
      return isSpace;
    case '\\S':
      return (x) => !isSpace(x) || x > 0x7f;
  }
  const literal = escapedLiteral(sequence);
  return literal === undefined ? ANY : sameLetter(literal);
}

/** What a character class matches: its characters, ranges and escapes, negated by `^`. */
function classMatcher(cls: string): Matcher {
  const body = cls.slice(1, -1);
  const negated = body.startsWith('^');
  const parts: Matcher[] = [];
  let i = negated ? 1 : 0;
  while (i < body.length) {
    let from: number | undefined;
    let end: number;
    if (body[i] === '\\') {
      end = escapeEnd(body, i);
      const sequence = body.slice(i, end);
      from = escapedLiteral(sequence);
      if (from === undefined) {
        parts.push(escapeMatcher(sequence) ?? ANY);
        i = end;
        continue;
      }
    } else {
      from = body.charCodeAt(i);
      end = i + 1;
    }
    if (body[end] === '-' && end + 1 < body.length) {
      const toEnd = body[end + 1] === '\\' ? escapeEnd(body, end + 1) : end + 2;
      const to =
        body[end + 1] === '\\' ? escapedLiteral(body.slice(end + 1, toEnd)) : body.charCodeAt(end + 1);
      if (to === undefined) parts.push(ANY);
      else {
        const [lo, hi] = [from, to];
        const inRange = (y: number) => y >= lo && y <= hi;
        // Either case: the `i` flag is not known here.
        parts.push((x) => inRange(x) || inRange(otherCase(x)));
      }
      i = toEnd;
      continue;
    }
    parts.push(sameLetter(from));
    i = end;
  }
  // A negated class matches nearly everything: only a character it lists is sure to be outside.
  if (negated) return (x) => !parts.some((m) => m(x));
  return (x) => parts.some((m) => m(x));
}

/** The quantifier at `i` (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, each maybe lazy), or undefined. */
function quantifierAt(source: string, i: number): { min: number; max: number; end: number } | undefined {
  const c = source[i];
  let min: number;
  let max: number;
  let end = i + 1;
  if (c === '*') [min, max] = [0, Number.POSITIVE_INFINITY];
  else if (c === '+') [min, max] = [1, Number.POSITIVE_INFINITY];
  else if (c === '?') [min, max] = [0, 1];
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 32));
    if (!m) return undefined;
    min = Number(m[1]);
    max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
    end = i + m[0].length;
  } else return undefined;
  if (source[end] === '?') end++;
  return { min, max, end };
}
