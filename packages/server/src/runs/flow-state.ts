import type { Db } from '../store/db.js';
import type { Doc, Scope } from '../store/resources.js';

/** What a conditional write of a flow's state did. */
export type FlowStateWrite = 'ok' | 'stale' | 'flowGone';

/**
 * Writes a document the run engine keeps under a flow's id (its read state, its schedule slot)
 * only while the flow exists and each top-level field named in `flowMatch` equals the given
 * value (e.g. `{state: 'enabled'}`; JSON equality, so a schedule with a field added is not the
 * same schedule). The check and
 * the write are one statement, like the flow's DELETE, which removes these documents in its own
 * statement: a scheduler tick or a run that read the flow before it was deleted can no longer
 * write one back afterwards. Without `etags.expected` it inserts (`stale` if the document
 * appeared meanwhile), otherwise it replaces the document if its etag is still that one.
 */
export async function saveFlowState(
  db: Db,
  kind: string,
  scope: Scope,
  doc: Doc,
  etags: { expected: string | undefined; next: string },
  now: number,
  flowMatch: Record<string, unknown> = {},
): Promise<FlowStateWrite> {
  const json = JSON.stringify(doc);
  const flow = `flow as (
      select 1 from resources
      where kind = 'flows' and id = $2::text and org_id = $3::text and sandbox = $4::text
        and coalesce((select bool_and(resources.doc -> m.key = m.value) from jsonb_each($8::jsonb) m), true))`;
  const write =
    etags.expected === undefined
      ? `insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at)
         select $1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::text, $7::text, $9::bigint, $9::bigint
         where exists (select 1 from flow)
         on conflict (kind, id) do nothing
         returning 1`
      : `update resources set doc = $5::jsonb, body = $6::text, etag = $7::text, updated_at = $9::bigint
         where kind = $1 and id = $2 and org_id = $3 and sandbox = $4 and etag = $10::text
           and exists (select 1 from flow)
         returning 1`;
  const params: unknown[] = [
    kind,
    doc.id,
    scope.orgId,
    scope.sandbox,
    json,
    json,
    etags.next,
    JSON.stringify(flowMatch),
    now,
  ];
  if (etags.expected !== undefined) params.push(etags.expected);
  const res = await db.query<{ flow: boolean; written: boolean }>(
    `with ${flow}, written as (${write})
     select exists (select 1 from flow) as flow, exists (select 1 from written) as written`,
    params,
  );
  const row = res.rows[0];
  if (row?.written) return 'ok';
  return row?.flow ? 'stale' : 'flowGone';
}
