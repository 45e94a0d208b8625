import { UsageError } from './errors.js';

const REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface Interpolated<T> {
  value: T;
  /** Every resolved value: treated as secrets (redacted from anything printed). */
  resolved: string[];
  /** JSON paths of the strings that held a reference, with their text before resolution. */
  templates: Map<string, string>;
}

/** Whether a string holds a `${VAR}` reference. */
export const hasRef = (text: string): boolean =>
  /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(text.replace(/\$\$\{/g, ''));

/**
 * Replaces `${VAR}` in every string of a value with the environment variable (`$${` is a literal
 * `${`). A variable that is not set is an error naming where it was used: secrets come from the
 * environment, never from the file, and a blank one would only fail later, less clearly.
 */
export function interpolate<T>(
  value: T,
  env: Record<string, string | undefined>,
  where = '',
): Interpolated<T> {
  const resolved: string[] = [];
  const templates = new Map<string, string>();
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('$')) return v;
      let touched = false;
      const out = v.replace(REF, (match, name: string | undefined) => {
        if (match === '$${') return '${';
        touched = true;
        const found = env[name as string];
        if (found === undefined || found === '') {
          throw new UsageError(
            `environment variable ${name} is not set (used at ${path || 'the top level'}${where ? ` in ${where}` : ''})`,
            `export ${name}=… before running this command`,
          );
        }
        resolved.push(found);
        return found;
      });
      if (touched) templates.set(path, v);
      return out;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, path ? `${path}.${k}` : k)]));
    }
    return v;
  };
  return { value: walk(value, '') as T, resolved, templates };
}
