import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';

/** A tenant schema of this sandbox by `$id` or `meta:altId` (as sent, or URL-encoded). */
export async function findSchema(
  services: Services,
  scope: Scope,
  idOrAltId: string,
): Promise<Doc | undefined> {
  let id = idOrAltId;
  try {
    id = decodeURIComponent(idOrAltId);
  } catch {
    // not encoded
  }
  const [byId] = await services.store.findContaining('schemas', scope, { $id: id }, 1);
  if (byId) return byId;
  const [byAlt] = await services.store.findContaining('schemas', scope, { 'meta:altId': id }, 1);
  return byAlt;
}
