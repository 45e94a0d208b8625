import type { Run } from '@inflow/core';
import type { CommandDef } from '../command.js';
import { apiErrorOf, EXIT, UsageError } from '../errors.js';
import { bar, isoTime, Progress } from '../output.js';
import { resolveDataset } from './resolve.js';

type Json = Record<string, unknown>;
const at = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), value);

/** The run's status in the service's words (`statusSummary.status`), lower-cased. */
export function runStatus(run: Run | Json): string {
  return String(at(run, 'metrics.statusSummary.status') ?? (run as Json).state ?? 'pending').toLowerCase();
}

const FINISHED = new Set(['success', 'failed', 'partialsuccess', 'cancelled', 'canceled', 'completed']);
export const isFinished = (status: string) => FINISHED.has(status);
/** How many of the newest runs each poll reads. */
const PAGE = 50;

function summary(run: Json) {
  const rec = (k: string) => at(run, `metrics.recordSummary.${k}`) as number | undefined;
  const errors = ((at(run, 'metrics.statusSummary.errors') as Json[] | undefined) ?? []).map((e) =>
    `${e.code ?? ''} ${e.message ?? ''}`.trim(),
  );
  return {
    id: String(run.id),
    flowId: run.flowId as string | undefined,
    status: runStatus(run),
    read: rec('inputRecordCount') ?? 0,
    written: rec('outputRecordCount') ?? 0,
    failed: rec('failedRecordCount') ?? 0,
    percent: (at(run, 'metrics.statusSummary.extensions.percentCompleted') ??
      at(run, 'metrics.percentCompleted')) as number | undefined,
    started: at(run, 'metrics.durationSummary.startedAtUTC') as number | undefined,
    completed: at(run, 'metrics.durationSummary.completedAtUTC') as number | undefined,
    errors,
  };
}

export const runsWatchCommand: CommandDef = {
  name: 'runs watch',
  summary: 'Follow runs as they happen: status, records read/written/failed, errors',
  usage: 'inflow runs watch [--flow ID | --run ID] [--interval SECONDS] [--until-done]',
  description: [
    'Polls GET /runs (filtered by flowId) and prints a line whenever a run starts, progresses or ends; on a',
    'terminal the in-progress runs are drawn as a live status line. --run waits for one run to end; with',
    '--until-done it stops once no watched run is in progress. Runs that ended before watching began are',
    'not shown, except the newest: so `POST /runs` then `runs watch --flow ID --until-done` reports that run',
    'even if it ended before the first poll. Exit code 5 if a watched run failed. --json prints one JSON',
    'object per change (JSON lines).',
  ].join('\n'),
  api: true,
  options: {
    flow: { type: 'string', value: 'ID', description: 'Only the runs of this flow' },
    run: { type: 'string', value: 'ID', description: 'Only this run: stop when it ends' },
    interval: { type: 'string', value: 'SECONDS', description: 'How often to poll (default 2)' },
    'until-done': { type: 'boolean', description: 'Stop when no watched run is in progress' },
  },
  examples: [
    'inflow runs watch --flow 2edc08ac-4df5-4fe6-936f-81a19ce92f5c',
    'inflow runs watch --run 9830305a-985f-47d0-b030-5a985fd7d004 && echo done',
    'inflow runs watch --flow 2edc08ac-… --until-done --json',
  ],
  async run(ctx) {
    const { out, io } = ctx;
    const intervalText = ctx.string('interval') ?? '2';
    const interval = Number(intervalText);
    if (!Number.isFinite(interval) || interval <= 0)
      throw new UsageError(`--interval must be a number of seconds > 0, got "${intervalText}"`);
    const flow = ctx.string('flow');
    const runId = ctx.string('run');
    const untilDone = ctx.flag('until-done') || runId !== undefined;
    const client = ctx.client();
    // The newest page only: a flow's run history grows without end (a 15-minute schedule makes
    // 35,000 runs a year), and reading all of it every poll would make each poll slower.
    const newestRuns = async (flowId: string | undefined): Promise<Json[]> => {
      const runs: Json[] = [];
      for await (const run of client.runs.iterate({
        ...(flowId ? { property: `flowId==${flowId}` } : {}),
        orderby: '-createdAt',
        limit: PAGE,
      })) {
        runs.push(run as unknown as Json);
        if (runs.length >= PAGE) break;
      }
      return runs;
    };
    const seen = new Map<string, string>();
    const progress = new Progress(out, io.now);
    let failed = false;
    // Runs in progress at the last poll: fetched by id if they drop off the newest page, so a
    // run being watched is followed to its end however many runs start meanwhile.
    let following = new Set<string>();
    for (let poll = 0; ; poll++) {
      const runs = runId ? [(await client.runs.get(runId)) as unknown as Json] : await newestRuns(flow);
      const newest = runs[0]?.id;
      if (!runId) {
        const listed = new Set(runs.map((r) => String(r.id)));
        for (const id of following) {
          if (listed.has(id)) continue;
          // Deleted meanwhile (404): nothing more to follow. Any other error stops the watch.
          const run = await client.runs.get(id).catch((error: unknown) => {
            if (apiErrorOf(error)?.status === 404) return undefined;
            throw error;
          });
          if (run) runs.push(run as unknown as Json);
        }
      }
      const active: ReturnType<typeof summary>[] = [];
      // Oldest first, so the lines read top-down in the order things happened.
      for (const run of runs.reverse()) {
        const s = summary(run);
        const fingerprint = `${s.status}|${s.read}|${s.written}|${s.failed}|${s.errors.length}`;
        // Runs that ended before watching began are history, not shown, except the newest: a run
        // started just before `runs watch` (POST /runs, then watch) may end before the first poll,
        // and its outcome is what the caller is waiting for (and sets the exit code).
        if (poll === 0 && isFinished(s.status) && !runId && run.id !== newest) {
          seen.set(s.id, fingerprint);
          continue;
        }
        if (!isFinished(s.status)) active.push(s);
        if (seen.get(s.id) === fingerprint) continue;
        seen.set(s.id, fingerprint);
        if (isFinished(s.status) && s.status !== 'success' && s.status !== 'completed') failed = true;
        if (out.json) ctx.io.stdout.write(`${JSON.stringify(s)}\n`);
        else {
          progress.done();
          const color = s.status === 'success' ? 'green' : isFinished(s.status) ? 'red' : 'cyan';
          out.line(
            `${isoTime(s.completed ?? s.started) || isoTime((io.now ?? Date.now)())}  ${s.id}  ${out.paint(color, s.status.padEnd(11))} read ${s.read}  written ${s.written}  failed ${s.failed}`,
          );
          for (const e of s.errors) out.line(out.paint('red', `    ${e}`));
        }
      }
      following = new Set(active.map((a) => a.id));
      if (active.length && progress.enabled) {
        const a = active[0] as ReturnType<typeof summary>;
        progress.update(
          `${active.length} running · ${a.id.slice(0, 8)} ${a.percent !== undefined ? bar(a.percent / 100) : ''} read ${a.read} written ${a.written} failed ${a.failed}`,
          true,
        );
      }
      if (untilDone && active.length === 0) break;
      if (io.signal?.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval * 1000);
        io.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (io.signal?.aborted) break;
    }
    progress.done();
    return failed ? EXIT.partial : EXIT.ok;
  },
};

export const datasetsPreviewCommand: CommandDef = {
  name: 'datasets preview',
  summary: "Show a dataset's latest rows as a table",
  usage: 'inflow datasets preview <dataSetId | name> [--limit N] [--wait SECONDS]',
  description:
    'Reads GET /data/foundation/export/datasets/{id}/preview. Nested values are shown as JSON; --json prints the rows.',
  api: true,
  minPositionals: 1,
  maxPositionals: 1,
  options: {
    limit: { type: 'string', value: 'N', description: 'At most N rows (default 20)' },
    wait: {
      type: 'string',
      value: 'SECONDS',
      description: 'Poll until the dataset has rows, for up to this long',
    },
  },
  examples: [
    'inflow datasets preview 5f3c3cedb2805c194ff0b69a',
    'inflow datasets preview "Quickstart people" --wait 30',
    'inflow datasets preview 5f3c3cedb2805c194ff0b69a --json | jq length',
  ],
  async run(ctx) {
    const id = await resolveDataset(ctx, ctx.positionals[0] as string);
    const waitText = ctx.string('wait');
    const wait = waitText === undefined ? 0 : Number(waitText);
    if (!Number.isFinite(wait) || wait < 0)
      throw new UsageError(`--wait must be a number of seconds, got "${waitText}"`);
    const limitText = ctx.string('limit');
    const limit = limitText === undefined ? 20 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError(`--limit must be a whole number ≥ 1, got "${limitText}"`);
    const now = ctx.io.now ?? Date.now;
    const deadline = now() + wait * 1000;
    let rows: Json[] = [];
    for (;;) {
      const body = await ctx.client().send<{ data?: Json[] }>({
        method: 'GET',
        service: 'export',
        path: `/datasets/${encodeURIComponent(id)}/preview`,
        query: { limit },
      });
      rows = (body?.data ?? []).slice(0, limit);
      if (rows.length > 0 || now() >= deadline || ctx.io.signal?.aborted) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    ctx.out.result(rows, () => {
      const flat = rows.map((r) => flatten(r));
      const keys = [...new Set(flat.flatMap((r) => Object.keys(r)))];
      ctx.out.table(
        flat,
        keys.map((k) => ({ key: k, label: k })),
      );
      ctx.out.line(
        ctx.out.paint('dim', `${rows.length} row${rows.length === 1 ? '' : 's'} of dataset ${id}`),
      );
    });
    return EXIT.ok;
  },
};

/** `{_acme: {email: "x"}}` → `{"_acme.email": "x"}`: one column per leaf, arrays kept as JSON. */
export function flatten(value: Json, prefix = '', out: Json = {}): Json {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0)
      flatten(v as Json, key, out);
    else out[key] = v;
  }
  return out;
}
