import { type JsonSchema, REDACTED } from '@inflow/core';

type Node = {
  format?: unknown;
  properties?: Record<string, Node>;
  items?: Node | Node[];
  additionalProperties?: Node | boolean;
  anyOf?: Node[];
  oneOf?: Node[];
  allOf?: Node[];
};

/**
 * A copy of `value` with `fn` applied to every string the JSON Schema marks `format: "password"`:
 * how credentials are encrypted before they are stored, decrypted for a connector call, and
 * masked in every response.
 */
export function mapSecrets(
  schema: JsonSchema | undefined,
  value: unknown,
  fn: (secret: string) => string,
): unknown {
  const visit = (node: Node | undefined, v: unknown): unknown => {
    if (!node || v === undefined || v === null) return v;
    if (typeof v === 'string') {
      const subs = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
      return node.format === 'password' || subs.some((s) => s.format === 'password') ? fn(v) : v;
    }
    if (Array.isArray(v)) {
      const items = node.items;
      return v.map((item, i) => visit(Array.isArray(items) ? items[i] : items, item));
    }
    if (typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        const prop =
          node.properties?.[k] ??
          (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
        out[k] = visit(prop, item);
      }
      return out;
    }
    return v;
  };
  return schema ? visit(schema as Node, value) : value;
}

/** The top-level property names a JSON Schema allows (for refusing unknown fields by name). */
export function knownProperties(schema: JsonSchema | undefined): Set<string> {
  return new Set(Object.keys((schema?.properties as Record<string, unknown> | undefined) ?? {}));
}

export const mask = (schema: JsonSchema | undefined, value: unknown): unknown =>
  mapSecrets(schema, value, () => REDACTED);

/**
 * The part of a JSON Schema that describes the value at a JSON Pointer's segments (following
 * `properties`, `additionalProperties` and `items`); undefined where the schema says nothing.
 */
export function schemaAt(
  schema: JsonSchema | undefined,
  segments: readonly string[],
): JsonSchema | undefined {
  let node = schema as Node | undefined;
  for (const seg of segments) {
    if (!node) return undefined;
    const items = node.items;
    node =
      node.properties?.[seg] ??
      (Array.isArray(items) ? items[Number(seg)] : items) ??
      (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
  }
  return node as JsonSchema | undefined;
}
