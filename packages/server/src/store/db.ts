import { closeSync, existsSync, fsyncSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { backfillLastBatches, batchDataset } from './resources.js';

/** The metadata database: PGlite in the data dir (or in memory for tests). */
export type Db = PGlite;

/**
 * Every stored resource is one row: its kind, scope (org and sandbox), id, the document exactly
 * as the API serves it (secrets encrypted in place) twice — `doc` (jsonb, for filters and
 * indexes) and `body` (the JSON text, which keeps the field order people read) — its etag
 * (unquoted) and timestamps (ms).
 * Listing filters run here: equality on any field through the GIN index (`doc @> …`), time
 * ranges and ordering on the columns.
 */
const MIGRATIONS = [
  `create table if not exists orgs (
     id text primary key,
     tenant_id text not null,
     created_at bigint not null
   )`,
  `create table if not exists sandboxes (
     org_id text not null references orgs(id),
     name text not null,
     id text not null unique,
     type text not null default 'development',
     created_at bigint not null,
     primary key (org_id, name)
   )`,
  `create table if not exists clients (
     id text primary key,
     org_id text not null references orgs(id),
     secret_hash text not null,
     name text not null,
     created_at bigint not null
   )`,
  `create table if not exists resources (
     kind text not null,
     id text not null,
     org_id text not null,
     sandbox text not null,
     doc jsonb not null,
     body text,
     etag text not null,
     created_at bigint not null,
     updated_at bigint not null,
     primary key (kind, id)
   )`,
  'create index if not exists resources_scope_created on resources (kind, org_id, sandbox, created_at, id)',
  'create index if not exists resources_scope_updated on resources (kind, org_id, sandbox, updated_at, id)',
  // fastupdate off: PGlite has no autovacuum to flush a GIN pending list, and a long pending list
  // makes the planner skip the index.
  'create index if not exists resources_doc on resources using gin (doc jsonb_path_ops) with (fastupdate = off)',
  // A dataset's newest batch, newest successful and newest failed one: each is the first entry of
  // a backward walk of one of these (`LAST_OF_DATASET` in resources.ts, decision 0012). The order
  // is `RECORD_BATCH`'s "newest": `created_at`, ties by id in code point order (`collate "C"`).
  // `is not null` in the predicate keeps them out of every other statement: only one that
  // compares a batch's dataset proves it, so a Catalog listing of batches, which has the same
  // scope columns first, is never planned on them (a scan of the scope's batches and a sort).
  `create index if not exists resources_batch_dataset on resources
     (org_id, sandbox, ${batchDataset('doc')}, created_at, id collate "C")
     where kind = 'batches' and ${batchDataset('doc')} is not null`,
  `create index if not exists resources_batch_dataset_success on resources
     (org_id, sandbox, ${batchDataset('doc')}, created_at, id collate "C")
     where kind = 'batches' and ${batchDataset('doc')} is not null and doc ->> 'status' = 'success'`,
  `create index if not exists resources_batch_dataset_failed on resources
     (org_id, sandbox, ${batchDataset('doc')}, created_at, id collate "C")
     where kind = 'batches' and ${batchDataset('doc')} is not null and doc ->> 'status' = 'failed'`,
];

/** fsyncs made for the metadata database (its commits, checkpoints, a new data dir's files): for tests. */
let syncs = 0;
export const databaseSyncs = (): number => syncs;

type EmscriptenOptions = Parameters<NodeFS['init']>[1];
type PreRun = (mod: EmscriptenOptions & { NODEFS: unknown; FS: unknown }) => void;
/** The parts of Emscripten's NODEFS and FS that `DurableNodeFS` uses (not in PGlite's types). */
interface NodeFsInternals {
  stream_ops: { fsync?: (stream: { nfd?: number }) => number };
}
interface FsInternals {
  ErrnoError: new (errno: number) => Error;
}
/** Emscripten's EIO, what PostgreSQL is told of any failed fsync. */
const EMSCRIPTEN_EIO = 29;

/**
 * PGlite's Node file system with a working fsync. Emscripten's NODEFS has none, so PGlite passes
 * `-F` (fsync off), and its `fdatasync` does nothing either: a commit was acknowledged once in
 * the page cache, and a power loss could take flows, connections or batches acknowledged just
 * before. Here an fsync of a file is Node's `fsyncSync` of it (any failure is EIO to PostgreSQL,
 * which treats a failed fsync as fatal), and PostgreSQL runs with fsync on and
 * `wal_sync_method=fsync`, the one sync call that reaches the file system. See decision 0006.
 */
class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: EmscriptenOptions) {
    const { emscriptenOpts } = await super.init(pg, opts);
    const withSync: PreRun = (mod) => {
      const nodefs = mod.NODEFS as NodeFsInternals;
      const { ErrnoError } = mod.FS as FsInternals;
      nodefs.stream_ops.fsync = (stream) => {
        const fd = stream.nfd;
        if (fd === undefined) return 0;
        try {
          fsyncSync(fd);
        } catch {
          // Whatever Node says, PostgreSQL reads EIO, and treats a failed fsync as fatal.
          throw new ErrnoError(EMSCRIPTEN_EIO);
        }
        syncs++;
        return 0;
      };
    };
    const preRun = [...((emscriptenOpts.preRun as PreRun[] | undefined) ?? []), withSync];
    return { emscriptenOpts: { ...emscriptenOpts, preRun } as EmscriptenOptions };
  }
}

/** PGlite's start parameters with fsync on, through the sync call `DurableNodeFS` provides. */
const DURABLE_START_PARAMS = [
  ...PGlite.defaultStartParams.filter((param) => param !== '-F'),
  '-c',
  'wal_sync_method=fsync',
];

/** The file that says a data dir was synced whole (`syncDataDir`). */
const SYNCED = 'inflow-synced';

/**
 * Makes a data dir durable once, before anything is acknowledged: every file and folder in it,
 * and its entry in its parent (about 1,000 entries, 0.2 s for a new one). From then on PostgreSQL
 * syncs what it writes. Then `SYNCED`, itself synced, so it is not done again.
 */
function syncDataDir(dir: string): void {
  syncTree(dir);
  syncPath(dirname(dir));
  const marker = join(dir, SYNCED);
  writeFileSync(
    marker,
    'the files of this data dir were fsynced once; PostgreSQL syncs what it writes since\n',
  );
  syncPath(marker);
  syncPath(dir);
}

/** fsyncs every file and folder under `dir`, the folders after what they hold. */
function syncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) syncPath(path);
  }
  syncPath(dir);
}

function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
    syncs++;
  } finally {
    closeSync(fd);
  }
}

/** Opens (creating if needed) the database at `dir`, or in memory when `dir` is undefined. */
export async function openDb(dir: string | undefined): Promise<Db> {
  const fresh = dir !== undefined && !existsSync(join(dir, 'PG_VERSION'));
  if (fresh) await createApart(dir);
  const db = dir
    ? await PGlite.create({ fs: new DurableNodeFS(dir), startParams: DURABLE_START_PARAMS })
    : await PGlite.create();
  // A data dir never synced whole: new (initdb writes without syncing), made by a version before
  // this one, or new when the process stopped before its sync. `SYNCED` is written once it is.
  if (dir !== undefined && !existsSync(join(dir, SYNCED))) syncDataDir(dir);
  for (const sql of MIGRATIONS) await db.exec(sql);
  await db.exec('analyze resources');
  // Datasets whose batches were all recorded before datasets carried their last batch get the
  // fields now, before anything records a batch (decision 0012).
  await backfillLastBatches(db);
  return db;
}

/** How long `createApart`'s worker may take (initdb takes seconds on a busy machine). */
const CREATE_APART_MS = 120_000;

/**
 * The first open of a data dir runs initdb, whose WebAssembly memory (about 450 MB) stayed in the
 * process after it was garbage: nothing allocates in an idle server, so no major GC collected it,
 * and a fresh server sat at about 880 MB RSS against 410 MB for the same one restarted. So a new
 * database is created in a short-lived worker thread, whose memory goes when it exits, and this
 * thread opens it as a restart would. If the worker cannot run or does not finish within
 * `CREATE_APART_MS`, a warning says why and the open in this thread creates the database.
 */
async function createApart(dir: string): Promise<void> {
  if (existsSync(join(dir, 'PG_VERSION'))) return;
  const url = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  // Code that runs whether the process evaluates it as CommonJS or as a module (--input-type).
  const code = `
    const { workerData } = process.getBuiltinModule('node:worker_threads');
    import(workerData.url)
      .then(({ PGlite }) => PGlite.create(workerData.dir))
      .then((db) => db.close());
  `;
  const problem = await new Promise<string | undefined>((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(code, { eval: true, workerData: { url, dir } });
    } catch (error) {
      // Worker threads not allowed (Node's permission model without --allow-worker), say.
      resolve(error instanceof Error ? error.message : String(error));
      return;
    }
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `it did not finish within ${CREATE_APART_MS / 1000} s`;
      void worker.terminate();
    }, CREATE_APART_MS);
    worker.on('error', (error) => {
      failure = error.message;
    });
    worker.on('exit', () => {
      clearTimeout(timer);
      resolve(failure);
    });
  });
  if (problem !== undefined) {
    process.emitWarning(
      `the metadata database in ${dir} is created in the server thread, which keeps initdb's memory (about 450 MB) until a major GC: a worker thread could not create it (${problem})`,
    );
  }
}

/**
 * Vacuums `resources` and refreshes the planner's statistics now and then. PGlite runs no
 * autovacuum: without statistics the planner may scan instead of using the indexes, and without
 * a vacuum every updated row (a dataset's last batch, a flow's run details, each edit) leaves a
 * dead version behind for good, so the table and its indexes only grow. A plain `VACUUM` makes
 * that room reusable; it takes no exclusive lock. Returns a stop function.
 */
export function keepStatisticsFresh(db: Db, everyMs = 600_000): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    db.exec('vacuum analyze resources').finally(() => {
      busy = false;
    });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
