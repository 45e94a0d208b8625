import { FlowProblem } from './errors.js';

/** One operation of a PATCH body (RFC 6902); the service supports add, replace and remove. */
export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** Validates a PATCH body: an array of add/replace/remove operations with JSON Pointer paths. */
export function parsePatch(body: unknown): PatchOp[] {
  if (!Array.isArray(body)) {
    throw new FlowProblem(
      '1460-400',
      'the body must be a JSON Patch array such as [{"op": "replace", "path": "/name", "value": "…"}]',
    );
  }
  if (body.length === 0) throw new FlowProblem('1405-400', 'The request body cannot be null or empty');
  return body.map((raw, i) => {
    const op = raw as Partial<PatchOp> & { op?: unknown; path?: unknown };
    if (typeof op !== 'object' || op === null)
      throw new FlowProblem('1460-400', `operation ${i} is not an object`);
    const name = typeof op.op === 'string' ? op.op.toLowerCase() : op.op;
    if (name !== 'add' && name !== 'replace' && name !== 'remove') {
      throw new FlowProblem(
        '1434-400',
        `Unsupported operation '${String(op.op)}' received: use add, replace or remove`,
      );
    }
    if (typeof op.path !== 'string' || !op.path.startsWith('/')) {
      throw new FlowProblem('1460-400', `operation ${i} needs a path such as "/name"`);
    }
    if (name !== 'remove' && !('value' in op))
      throw new FlowProblem('1460-400', `operation ${i} (${name}) needs a value`);
    return { op: name, path: op.path, ...(name === 'remove' ? {} : { value: op.value }) };
  });
}

const unescapePointer = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');

/** Keys that would reach an object's prototype: never a field of a document. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const ARRAY_INDEX = /^(0|[1-9]\d*)$/;

const missing = (part: string, path: string) =>
  new FlowProblem('1455-400', `error validating patch instructions: Missing field "${part}" in ${path}`);

/** The JSON Pointer's segments; a segment naming a prototype key is refused. */
export function pointerSegments(path: string): string[] {
  const parts = path.slice(1).split('/').map(unescapePointer);
  const bad = parts.find((p) => FORBIDDEN_KEYS.has(p));
  if (bad !== undefined)
    throw new FlowProblem('1460-400', `"${bad}" is not allowed in a patch path`, { field: path });
  return parts;
}

/** Applies operations to a deep copy of `doc`; a path that does not exist is 1455. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  const out = structuredClone(doc) as unknown;
  for (const op of ops) {
    const parts = pointerSegments(op.path);
    const last = parts.pop() as string;
    let parent: unknown = out;
    for (const part of parts) {
      let next: unknown;
      if (Array.isArray(parent)) next = ARRAY_INDEX.test(part) ? parent[Number(part)] : undefined;
      else if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, part)) {
        next = (parent as Record<string, unknown>)[part];
      }
      if (next === undefined || next === null || typeof next !== 'object') throw missing(part, op.path);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index =
        last === '-' && op.op === 'add' ? parent.length : ARRAY_INDEX.test(last) ? Number(last) : -1;
      if (index < 0 || index > parent.length || (op.op !== 'add' && index >= parent.length))
        throw missing(last, op.path);
      if (op.op === 'add') parent.splice(index, 0, op.value);
      else if (op.op === 'replace') parent[index] = op.value;
      else parent.splice(index, 1);
      continue;
    }
    const obj = parent as Record<string, unknown>;
    if (op.op !== 'add' && !Object.hasOwn(obj, last)) throw missing(last, op.path);
    if (op.op === 'remove') delete obj[last];
    else obj[last] = op.value;
  }
  return out as T;
}
