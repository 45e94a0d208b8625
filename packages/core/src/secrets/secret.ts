import { z } from 'zod';

/** What every redacted secret is replaced with, in logs, errors, plans and API responses. */
export const REDACTED = '[REDACTED]';

/**
 * A credential value: a non-empty string branded `InflowSecret`. In the JSON Schema the
 * service serves it is `format: "password"`, which is how the server, the client and the CLI
 * know which values to encrypt at rest, mask in responses and redact everywhere else.
 */
export function secret(description?: string) {
  const schema = z.string().min(1, 'must not be empty').brand<'InflowSecret'>();
  return schema.meta(description ? { format: 'password', description } : { format: 'password' });
}

/** The value type of a `secret()` field. */
export type Secret = z.infer<ReturnType<typeof secret>>;

/** A secret shorter than this is only redacted where it is a whole value, never inside text. */
const MIN_SUBSTRING_LENGTH = 4;

/**
 * The one redaction every log line, error message, `plan()` output and API response goes
 * through: returns a deep copy of `value` in which every occurrence of any of `secrets` is
 * `[REDACTED]`: whole string values, and (for secrets of 4+ characters) inside longer text
 * such as a URL, a connection string or an error message.
 */
export function redact<T>(value: T, secrets: Iterable<string | undefined | null>): T {
  const list = [
    ...new Set([...secrets].filter((s): s is string => typeof s === 'string' && s.length > 0)),
  ].sort((a, b) => b.length - a.length);
  if (list.length === 0) return value;
  const whole = new Set(list);
  const inner = list.filter((s) => s.length >= MIN_SUBSTRING_LENGTH);
  const seen = new WeakMap<object, unknown>();

  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (whole.has(v)) return REDACTED;
      let out = v;
      for (const s of inner) if (out.includes(s)) out = out.split(s).join(REDACTED);
      return out;
    }
    if (typeof v !== 'object' || v === null) return v;
    if (seen.has(v)) return seen.get(v);
    if (Array.isArray(v)) {
      const arr: unknown[] = [];
      seen.set(v, arr);
      for (const item of v) arr.push(walk(item));
      return arr;
    }
    if (v instanceof Error) {
      const copy = new Error(walk(v.message) as string);
      seen.set(v, copy);
      return copy;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v;
    const obj: Record<string, unknown> = {};
    seen.set(v, obj);
    for (const [k, item] of Object.entries(v)) obj[k] = walk(item);
    return obj;
  };
  return walk(value) as T;
}

type JsonSchemaNode = {
  format?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode | JsonSchemaNode[];
  additionalProperties?: JsonSchemaNode | boolean;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  allOf?: JsonSchemaNode[];
};

/**
 * The secret values inside `value`, by its JSON Schema: every string at a place the schema
 * marks `format: "password"`. Works on the spec JSON alone, so the server (which only has the
 * connection spec) and the client agree on what is secret.
 */
export function secretValues(schema: unknown, value: unknown): string[] {
  const out: string[] = [];
  const visit = (node: JsonSchemaNode | undefined, v: unknown): void => {
    if (!node || typeof node !== 'object' || v === undefined || v === null) return;
    if (node.format === 'password' && typeof v === 'string') out.push(v);
    for (const sub of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) visit(sub, v);
    if (Array.isArray(v)) {
      const items = node.items;
      for (const [i, item] of v.entries()) visit(Array.isArray(items) ? items[i] : items, item);
      return;
    }
    if (typeof v === 'object') {
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        const prop = node.properties?.[k];
        if (prop) visit(prop, item);
        else if (typeof node.additionalProperties === 'object') visit(node.additionalProperties, item);
      }
    }
  };
  visit(schema as JsonSchemaNode, value);
  return out;
}

/** Replaces every secret value (by the JSON Schema, as in `secretValues`) with `[REDACTED]`. */
export function maskBySchema<T>(schema: unknown, value: T): T {
  return redact(value, secretValues(schema, value));
}
