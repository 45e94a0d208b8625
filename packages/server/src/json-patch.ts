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

/** Applies operations to a deep copy of `doc`; a path that does not exist is 1455. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  const out = structuredClone(doc) as unknown;
  for (const op of ops) {
    const parts = op.path.slice(1).split('/').map(unescapePointer);
    const last = parts.pop() as string;
    let parent: unknown = out;
    for (const part of parts) {
      const next = Array.isArray(parent)
        ? parent[Number(part)]
        : (parent as Record<string, unknown> | null)?.[part];
      if (next === undefined || next === null || typeof next !== 'object') {
        throw new FlowProblem(
          '1455-400',
          `error validating patch instructions: Missing field "${part}" in ${op.path}`,
        );
      }
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (
        !Number.isInteger(index) ||
        index < 0 ||
        index > parent.length ||
        (op.op !== 'add' && index >= parent.length)
      ) {
        throw new FlowProblem(
          '1455-400',
          `error validating patch instructions: Missing field "${last}" in ${op.path}`,
        );
      }
      if (op.op === 'add') parent.splice(index, 0, op.value);
      else if (op.op === 'replace') parent[index] = op.value;
      else parent.splice(index, 1);
      continue;
    }
    const obj = parent as Record<string, unknown>;
    if (op.op !== 'add' && !(last in obj)) {
      throw new FlowProblem('1455-400', `error validating patch instructions: Missing field "${last}"`);
    }
    if (op.op === 'remove') delete obj[last];
    else obj[last] = op.value;
  }
  return out as T;
}
