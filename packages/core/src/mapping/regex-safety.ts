/**
 * A check for the one shape of regular expression that makes a backtracking engine (V8's, Java's)
 * take exponential time on a short input that fails to match: a group repeated without bound
 * that itself holds a repetition, such as `(a+)+`, `(\w+\s?)*` or `(x{1,9})+`. Against 34
 * characters, `^(a+)+$` took V8 about 90 s, on the thread that runs it. Patterns users give
 * (mapping functions, schema `pattern`s) are checked before they run, and one of that shape is
 * refused with this reason, naming the group.
 *
 * It reads the pattern's syntax only. Other slow shapes (alternatives that overlap under a
 * repetition, `(a|a)+`; repetitions in a row, `a*a*b`, polynomial rather than exponential) are
 * not caught here; callers bound the input's length where that matters.
 */
export function nestedRepetition(source: string): string | undefined {
  /**
   * One open group. Per alternative: whether it holds a variable repetition (`repeats`) and an
   * atom it must match exactly once or a fixed number of times (`fixed`). An alternative that
   * repeats and has nothing fixed can split a run of text between iterations in many ways.
   */
  interface Group {
    start: number;
    zeroWidth: boolean;
    repeats: boolean;
    fixed: boolean;
    /** Some alternative so far repeats with nothing fixed. */
    loose: boolean;
    /** Every alternative so far has a fixed atom (so an iteration always consumes one). */
    allFixed: boolean;
    /** A variable repetition anywhere inside, nested groups included. */
    anyRepeats: boolean;
  }
  const open = (start: number, zeroWidth: boolean): Group => ({
    start,
    zeroWidth,
    repeats: false,
    fixed: false,
    loose: false,
    allFixed: true,
    anyRepeats: false,
  });
  const endAlternative = (g: Group) => {
    if (g.repeats && !g.fixed) g.loose = true;
    if (!g.fixed) g.allFixed = false;
    g.repeats = false;
    g.fixed = false;
  };
  const groups: Group[] = [open(0, false)];
  const top = () => groups[groups.length - 1] as Group;
  /** The atom a quantifier would apply to, not yet counted in its group. */
  let pending: { start: number; end: number; group?: Group } | undefined;
  const settle = () => {
    // The pending atom had no quantifier: it is matched exactly once (a group, as if written out).
    const group = pending?.group;
    if (pending && (!group || (!group.zeroWidth && group.allFixed))) top().fixed = true;
    if (group?.loose) top().repeats = true;
    pending = undefined;
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    const quantifier = pending ? quantifierAt(source, i) : undefined;
    if (pending && quantifier) {
      const atom = pending;
      pending = undefined;
      const g = top();
      const unbounded = quantifier.max === Number.POSITIVE_INFINITY;
      if (unbounded && atom.group?.anyRepeats && atom.group.loose) {
        return `the group ${source.slice(atom.start, atom.end)} repeats without bound and can match the same text in many ways (it repeats inside, with nothing it must match once), which can take exponential time on a text that does not match: repeat one or the other (e.g. (a+)+ is a+)`;
      }
      if (quantifier.max > quantifier.min && quantifier.max > 1) {
        g.repeats = true;
        g.anyRepeats = true;
      } else if (quantifier.min >= 1 && (!atom.group || atom.group.allFixed)) g.fixed = true;
      if (atom.group?.anyRepeats) g.anyRepeats = true;
      i = quantifier.end;
      continue;
    }
    settle();
    if (c === '\\') {
      const next = source[i + 1];
      // `\b`, `\B` match no text.
      if (next !== 'b' && next !== 'B') pending = { start: i, end: i + 2 };
      i += 2;
      continue;
    }
    if (c === '[') {
      const start = i;
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i++;
      pending = { start, end: i };
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
      groups.push(open(start, zeroWidth));
      continue;
    }
    if (c === ')') {
      i++;
      if (groups.length === 1) continue;
      const g = groups.pop() as Group;
      endAlternative(g);
      if (g.anyRepeats) top().anyRepeats = true;
      pending = { start: g.start, end: i, group: g };
      continue;
    }
    if (c === '|') {
      endAlternative(top());
      i++;
      continue;
    }
    // `^` and `$` match no text; anything else is one character.
    if (c !== '^' && c !== '$') pending = { start: i, end: i + 1 };
    i++;
  }
  return undefined;
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
