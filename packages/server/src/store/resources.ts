import type { Db } from './db.js';

/** Which org and sandbox a request acts in; every read and write is confined to it. */
export interface Scope {
  orgId: string;
  sandbox: string;
}

/** A stored document: an object with at least an `id`. */
export type Doc = Record<string, unknown> & { id: string };

export interface Stored {
  doc: Doc;
  /** Unquoted. */
  etag: string;
  createdAt: number;
  updatedAt: number;
}

/** CRUD on the `resources` table; listing lives in `list-query.ts`. */
export class ResourceStore {
  constructor(readonly db: Db) {}

  async insert(kind: string, scope: Scope, doc: Doc, etag: string, now: number): Promise<void> {
    await this.db.query(
      `insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at)
       values ($1, $2, $3, $4, $5::jsonb, $6::text, $7, $8, $8)`,
      [kind, doc.id, scope.orgId, scope.sandbox, JSON.stringify(doc), JSON.stringify(doc), etag, now],
    );
  }

  async get(kind: string, scope: Scope, id: string): Promise<Stored | undefined> {
    const res = await this.db.query<{ body: string; etag: string; created_at: number; updated_at: number }>(
      'select coalesce(body, doc::text) as body, etag, created_at, updated_at from resources where kind = $1 and id = $2 and org_id = $3 and sandbox = $4',
      [kind, id, scope.orgId, scope.sandbox],
    );
    const row = res.rows[0];
    return row
      ? {
          doc: JSON.parse(row.body) as Doc,
          etag: row.etag,
          createdAt: Number(row.created_at),
          updatedAt: Number(row.updated_at),
        }
      : undefined;
  }

  /**
   * Replaces a document if its etag is still `expectedEtag`. The check and the write are one
   * statement, so of two concurrent updates with the same etag exactly one wins.
   *
   * `keep` names top-level fields the service writes without changing the etag (a flow's
   * `lastRunDetails`): the statement takes them from the row as it is when it runs, whatever
   * `doc` holds, so a write based on an earlier read never puts back an older value nor drops one
   * written since. In the served text they come last.
   */
  async replace(
    kind: string,
    scope: Scope,
    doc: Doc,
    expectedEtag: string,
    newEtag: string,
    now: number,
    keep: readonly string[] = [],
  ): Promise<'ok' | 'stale' | 'missing'> {
    if (keep.includes('id')) throw new Error('replace: the id is never taken from the stored row');
    const json = JSON.stringify(
      keep.length === 0 ? doc : Object.fromEntries(Object.entries(doc).filter(([k]) => !keep.includes(k))),
    );
    // `body` keeps the order people read: each kept value is cut verbatim from the row's own text
    // (a `json` value keeps its text as written) and appended to the new text before its closing
    // brace. The new text is never `{}`: it holds the id.
    const set =
      keep.length === 0
        ? 'doc = $1::jsonb, body = $9::text'
        : `doc = ($1::jsonb - $10::text[]) || coalesce(
             (select jsonb_object_agg(k.key, k.value) from jsonb_each(resources.doc) k
              where k.key = any($10::text[])),
             '{}'::jsonb),
           body = left($9::text, -1) || coalesce(
             (select string_agg(',' || to_json(k.key)::text || ':' || v.value::text, '' order by k.ord)
              from unnest($10::text[]) with ordinality k(key, ord),
                lateral (select coalesce(resources.body, resources.doc::text)::json -> k.key as value) v
              where v.value is not null),
             '') || '}'`;
    const params: unknown[] = [
      json,
      newEtag,
      now,
      kind,
      doc.id,
      scope.orgId,
      scope.sandbox,
      expectedEtag,
      json,
    ];
    if (keep.length > 0) params.push(keep);
    const res = await this.db.query(
      `update resources set ${set}, etag = $2, updated_at = $3
       where kind = $4 and id = $5 and org_id = $6 and sandbox = $7 and etag = $8`,
      params,
    );
    if ((res.affectedRows ?? 0) > 0) return 'ok';
    return (await this.get(kind, scope, doc.id)) ? 'stale' : 'missing';
  }

  async delete(kind: string, scope: Scope, id: string): Promise<boolean> {
    const res = await this.db.query(
      'delete from resources where kind = $1 and id = $2 and org_id = $3 and sandbox = $4',
      [kind, id, scope.orgId, scope.sandbox],
    );
    return (res.affectedRows ?? 0) > 0;
  }

  /** Documents of `kind` in scope that contain `match` (a `@>` containment on the GIN index). */
  async findContaining(
    kind: string,
    scope: Scope,
    match: Record<string, unknown>,
    limit = 10,
  ): Promise<Doc[]> {
    const res = await this.db.query<{ body: string }>(
      `select coalesce(body, doc::text) as body from resources where kind = $1 and org_id = $2 and sandbox = $3 and doc @> $4::jsonb
       order by created_at limit $5`,
      [kind, scope.orgId, scope.sandbox, JSON.stringify(match), limit],
    );
    return res.rows.map((r) => JSON.parse(r.body) as Doc);
  }

  /** A flow (its id) whose source connection reads through base connection `id`, if any. */
  async flowUsingBaseConnection(scope: Scope, id: string): Promise<string | undefined> {
    const res = await this.db.query<{ id: string }>(
      `select f.id from resources s
       join resources f on f.kind = 'flows' and f.org_id = s.org_id and f.sandbox = s.sandbox
         and f.doc @> jsonb_build_object('sourceConnectionIds', jsonb_build_array(s.id))
       where s.kind = 'sourceConnections' and s.org_id = $1 and s.sandbox = $2 and s.doc @> $3::jsonb
       limit 1`,
      [scope.orgId, scope.sandbox, JSON.stringify({ baseConnectionId: id })],
    );
    return res.rows[0]?.id;
  }

  /** Any document of `kind`, in any scope, that contains `match` (inlets are addressed globally). */
  async findAnywhere(
    kind: string,
    match: Record<string, unknown>,
  ): Promise<{ doc: Doc; scope: Scope } | undefined> {
    const res = await this.db.query<{ body: string; org_id: string; sandbox: string }>(
      'select coalesce(body, doc::text) as body, org_id, sandbox from resources where kind = $1 and doc @> $2::jsonb limit 1',
      [kind, JSON.stringify(match)],
    );
    const row = res.rows[0];
    return row
      ? { doc: JSON.parse(row.body) as Doc, scope: { orgId: row.org_id, sandbox: row.sandbox } }
      : undefined;
  }

  /**
   * Inserts a Catalog batch record and, in the same statement, sets its dataset's last-batch
   * fields (`lastBatchId`, `lastBatchStatus`, `lastSuccessfulBatch`, `updated`) if the batch is
   * newer than the one they name; see `RECORD_BATCH`. A dataset that is gone is left alone.
   * Throws like `insert` when the batch id is taken.
   */
  async insertBatch(
    scope: Scope,
    doc: Doc,
    batch: { datasetId: string; created: number; status: string },
    now: number,
  ): Promise<void> {
    await this.db.query(RECORD_BATCH, [
      doc.id,
      scope.orgId,
      scope.sandbox,
      JSON.stringify(doc),
      batch.created,
      batch.datasetId,
      batch.status,
      now,
      [...LAST_BATCH_FIELDS, 'updated'],
    ]);
  }

  /**
   * The last batch, last successful batch and last failed batch of each of `datasetIds` (in that
   * order), read from the batch records themselves (`LAST_BATCHES`), not from the dataset's
   * fields. Ids that are not datasets in `scope`, and datasets without a batch, are left out.
   */
  async lastBatches(scope: Scope, datasetIds: readonly string[]): Promise<LastBatches[]> {
    const res = await this.db.query<{
      data_set_id: string;
      last_id: string;
      status: string;
      created_at: number | string;
      updated: number | string | null;
      success_id: string | null;
      failed_id: string | null;
    }>(LAST_BATCHES, [scope.orgId, scope.sandbox, datasetIds]);
    return res.rows.map((r) => ({
      dataSetId: r.data_set_id,
      lastBatchId: r.last_id,
      lastBatchStatus: r.status,
      created: Number(r.created_at),
      updated: Number(r.updated ?? r.created_at),
      lastSuccessfulBatchId: r.success_id ?? undefined,
      lastFailedBatchId: r.failed_id ?? undefined,
    }));
  }
}

/**
 * The fields of a dataset the service keeps from its batches (reference §13.2 `GET /dataSets/{id}`),
 * besides `updated`. A write of the dataset by a client (a future PATCH or PUT) must keep them as
 * stored and refuse to change them, as flows do with `lastRunDetails` (`replace`'s `keep`).
 */
export const LAST_BATCH_FIELDS = ['lastBatchId', 'lastBatchStatus', 'lastSuccessfulBatch'] as const;

/**
 * `insertBatch`: inserts a batch record and, in the same statement, sets its dataset's last-batch
 * fields (decision 0012, addendum of 2026-11-23). $1 batch id, $2 org, $3 sandbox, $4 the batch
 * document as JSON text (typed `text` at its first use: typed `jsonb`, its `body` would be jsonb's
 * normalised text, keys re-sorted), $5 its `created`, $6 the dataset id, $7 the batch status, $8 now, $9 the fields in the
 * order they are appended to `body` when the dataset does not have them yet.
 *
 * "Last" is the newest `created`, ties broken by the batch id (code point order): the batch named
 * in `lastBatchId` (`lastSuccessfulBatch`) is looked up by its primary key, and only a newer batch
 * replaces it, so a batch recorded late (startup recovery, a slow run) never hides a newer one.
 * The two fields move independently: an older successful batch recorded after a newer failed one
 * may still be the newest success. `updated` moves (never backwards) only when one of them does.
 * The etag and the row's `updated_at` stay: this is the service's record of its batches, not an
 * edit of the dataset. A dataset that is gone is simply not updated. `body` keeps its field order:
 * changed fields keep their place, new ones are appended before the closing brace.
 */
const RECORD_BATCH = `
with batch as (
  insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at)
  values ('batches', $1::text, $2::text, $3::text, $4::text::jsonb, $4::text, '0', $5::bigint, $5::bigint)
),
next as (
  select
    jsonb_build_object('updated',
      case when jsonb_typeof(d.doc -> 'updated') = 'number'
        then greatest((d.doc ->> 'updated')::numeric, $8::bigint) else $8::bigint end)
    || case when c.newest then jsonb_build_object('lastBatchId', $1::text, 'lastBatchStatus', $7::text)
         else '{}'::jsonb end
    || case when c.newest_success then jsonb_build_object('lastSuccessfulBatch', $1::text)
         else '{}'::jsonb end as fields
  from resources d,
    lateral (select
      not exists (
        select 1 from resources b
        where b.kind = 'batches' and b.id = d.doc ->> 'lastBatchId' and b.org_id = d.org_id
          and b.sandbox = d.sandbox
          and (b.created_at > $5::bigint or (b.created_at = $5::bigint and b.id collate "C" >= $1::text collate "C"))
      ) as newest,
      $7::text = 'success' and not exists (
        select 1 from resources b
        where b.kind = 'batches' and b.id = d.doc ->> 'lastSuccessfulBatch' and b.org_id = d.org_id
          and b.sandbox = d.sandbox
          and (b.created_at > $5::bigint or (b.created_at = $5::bigint and b.id collate "C" >= $1::text collate "C"))
      ) as newest_success) c
  where d.kind = 'dataSets' and d.id = $6::text and d.org_id = $2::text and d.sandbox = $3::text
    and (c.newest or c.newest_success)
)
update resources set
  doc = resources.doc || next.fields,
  body = ${bodyWith('next.fields', '$9::text[]')}
from next
where resources.kind = 'dataSets' and resources.id = $6::text and resources.org_id = $2::text
  and resources.sandbox = $3::text`;

/**
 * The SQL text of a dataset row's `body` once `fields` (a jsonb expression) is merged into its
 * `doc`: fields it has keep their place and take the new value, the others are appended before
 * the closing brace in the order of `order` (a text[] expression). The row is `resources`.
 */
function bodyWith(fields: string, order: string): string {
  return `'{' || (
      select string_agg(to_json(e.key)::text || ':' || coalesce((${fields} -> e.key)::text, e.value::text), ','
        order by e.n)
      from json_each(coalesce(resources.body, resources.doc::text)::json) with ordinality e(key, value, n)
    ) || coalesce((
      select string_agg(',' || to_json(k.key)::text || ':' || (${fields} -> k.key)::text, '' order by k.n)
      from unnest(${order}) with ordinality k(key, n)
      where ${fields} ? k.key and not resources.doc ? k.key
    ), '') || '}'`;
}

/**
 * The id of the dataset a batch row's `doc` (an SQL expression) belongs to: the `id` of its
 * `relatedObjects` entry of type `dataSet`, as text (null when it has none). Every batch names
 * exactly one (the lake's `record` in `datasets/writer.ts`). The indexes of `openDb`
 * (`resources_batch_dataset*`) are built on this expression, and a query uses them only when it
 * writes the very same one. `jsonb_path_query_first` is immutable, and in lax mode a document of
 * another shape gives null instead of an error, so no batch write fails on it.
 */
export function batchDataset(doc: string): string {
  return `(jsonb_path_query_first(${doc}, '$.relatedObjects[*] ? (@.type == "dataSet").id') #>> '{}')`;
}

/**
 * The newest batch of the dataset whose row is `d`, with `status` null, or the newest one with
 * that status; as a subquery of at most one row. "Newest" is `RECORD_BATCH`'s: the newest
 * `created`, ties by the greater id in code point order. The conditions and the order are those
 * of one of the indexes `resources_batch_dataset`, `_success` and `_failed` (`openDb`), `id`
 * under the same `collate "C"`: the planner walks it backwards from the dataset's newest entry
 * and stops there, one index descent whatever the dataset's or the sandbox's batch count. No
 * planner switch is needed for that, with or without fresh statistics
 * (`last-batches-plans.test.ts`).
 */
function newestBatch(status: 'success' | 'failed' | null, columns: string): string {
  return `select ${columns}
      from resources b
      where b.kind = 'batches' and b.org_id = d.org_id and b.sandbox = d.sandbox
        and ${batchDataset('b.doc')} = d.id${status ? ` and b.doc ->> 'status' = '${status}'` : ''}
      order by b.created_at desc, b.id collate "C" desc
      limit 1`;
}

/**
 * The last batches of the dataset whose row is `d`, joined to it: `last` (its newest batch:
 * `last.id`, `last.status`, `last.created_at`, and `last.updated`, the batch document's
 * `updated` when it is a number), `ok.id` (its newest successful batch) and `ko.id` (its newest
 * failed batch), each null when there is none. A dataset without a batch has no row. Three
 * `newestBatch` lookups, each one index descent (decision 0012, addendum "GET /lastBatches in
 * three index lookups").
 */
const LAST_OF_DATASET = `cross join lateral (
    ${newestBatch(
      null,
      `b.id, b.doc ->> 'status' as status, b.created_at,
        case when jsonb_typeof(b.doc -> 'updated') = 'number' then (b.doc ->> 'updated')::numeric end as updated`,
    )}
  ) last
  left join lateral (
    ${newestBatch('success', 'b.id')}
  ) ok on true
  left join lateral (
    ${newestBatch('failed', 'b.id')}
  ) ko on true`;

/**
 * `backfillLastBatches`: sets the last-batch fields of every dataset that has batches but no
 * `lastBatchId` (its batches were all recorded before the fields existed), by `RECORD_BATCH`'s
 * rules: `lastBatchId` and `lastBatchStatus` from the newest batch, `lastSuccessfulBatch` from the
 * newest successful one (left out when none succeeded). One statement for all of them. The etag,
 * `updated` and the row's `updated_at` stay; `body` gets the fields appended in the order of $1.
 * A dataset that has its fields, or no batch, is not written at all, so running it again changes
 * nothing and leaves no dead row.
 */
const BACKFILL_LAST_BATCHES = `
with found as (
  select d.id,
    jsonb_build_object('lastBatchId', last.id, 'lastBatchStatus', last.status)
      || case when ok.id is null then '{}'::jsonb
           else jsonb_build_object('lastSuccessfulBatch', ok.id) end as fields
  from resources d
  ${LAST_OF_DATASET}
  where d.kind = 'dataSets' and not d.doc ? 'lastBatchId'
)
update resources set
  doc = resources.doc || found.fields,
  body = ${bodyWith('found.fields', '$1::text[]')}
from found
where resources.kind = 'dataSets' and resources.id = found.id`;

/**
 * Gives the last-batch fields to the datasets whose batches were all recorded before the fields
 * existed (`BACKFILL_LAST_BATCHES`); run when the store opens. Returns how many it set.
 */
export async function backfillLastBatches(db: Db): Promise<number> {
  const res = await db.query(BACKFILL_LAST_BATCHES, [LAST_BATCH_FIELDS]);
  return res.affectedRows ?? 0;
}

/** One dataset's entry of `GET /lastBatches`, read from its batches (`lastBatches`). */
export interface LastBatches {
  dataSetId: string;
  lastBatchId: string;
  lastBatchStatus: string;
  /** The last batch's `created` and `updated` (ms). */
  created: number;
  updated: number;
  lastSuccessfulBatchId: string | undefined;
  lastFailedBatchId: string | undefined;
}

/**
 * `lastBatches`: for each dataset id of $3 (in that order) that is a dataset in org $1 and
 * sandbox $2 and has a batch, its last batches (`LAST_OF_DATASET`). Each dataset is looked up by
 * its id: the `limit 1` (the primary key holds one row at most) keeps that lookup a subquery run
 * per id, where a join let the planner, on statistics older than the datasets, read every dataset
 * of the sandbox into a hash. So a request costs, per id, one index lookup of the dataset and
 * three index descents for its batches, whatever the sandbox holds.
 */
const LAST_BATCHES = `
select d.id as data_set_id, last.id as last_id, last.status, last.created_at, last.updated,
  ok.id as success_id, ko.id as failed_id
from unnest($3::text[]) with ordinality r(id, n)
cross join lateral (
  select d.id, d.org_id, d.sandbox from resources d
  where d.kind = 'dataSets' and d.id = r.id and d.org_id = $1::text and d.sandbox = $2::text
  limit 1
) d
${LAST_OF_DATASET}
order by r.n`;
