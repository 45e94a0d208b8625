import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { FlowServiceClient, ImsServerToServerTokenProvider } from '@inflow/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo, main, resolveProfile } from '../src/index.js';
import { type CliHarness, startHarness } from './helpers.js';

type Obj = Record<string, unknown>;
interface Batch extends Obj {
  id: string;
  status: string;
  recordCount: number;
  failedRecordCount: number;
  errors: { code: string; recordCount?: number }[];
}

const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
const CONFIG = `version: 1
schemas:
  events:
    title: Catalog CLI events
    class: profile
    fields: { email: string, seq: integer }
datasets:
  alpha:
    name: Catalog alpha
    schema: events
  beta:
    name: Catalog beta
    schema: events
`;

let h: CliHarness;
let api: FlowServiceClient;
let schemaId: string;
let alpha: string;
let beta: string;
let inletUrl: string;

/** The Catalog's own answer, for comparing with what the CLI prints. */
async function catalog(path: string, query: Record<string, string | number> = {}): Promise<Obj> {
  return (await api.send<Obj>({ method: 'GET', service: 'catalog', path, query })) ?? {};
}
const asList = (map: Obj) => Object.entries(map).map(([id, o]) => ({ id, ...(o as Obj) }));

/** Streams XDM messages to a dataset with `inflow send`, then waits until they landed as a new batch. */
async function land(datasetId: string, entities: Obj[]): Promise<void> {
  const before = Object.keys(await catalog('/batches', { dataSet: datasetId, limit: 100 })).length;
  const file = join(h.dir, `msgs-${Date.now()}.jsonl`);
  const lines = entities.map((e) =>
    JSON.stringify({
      header: { schemaRef: { id: schemaId, contentType: XDM_FULL }, datasetId },
      body: { xdmEntity: { _acme: e } },
    }),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  const sent = await h.json<{ accepted: number }>(['send', inletUrl, file]);
  expect(sent.code, sent.stderr).toBe(0);
  expect(sent.body.accepted).toBe(entities.length);
  // Streamed messages land a moment after they were accepted; the deadline only stops a hang.
  const deadline = Date.now() + 60_000;
  while (Object.keys(await catalog('/batches', { dataSet: datasetId, limit: 100 })).length === before) {
    if (Date.now() > deadline) throw new Error(`no batch landed in dataset ${datasetId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  h = await startHarness();
  expect((await h.run(['login', '--from-bootstrap', h.bootstrapFile, '--endpoint', h.url])).code).toBe(0);
  const p = resolveProfile(h.env, {});
  api = new FlowServiceClient({
    endpoint: p.endpoint,
    apiKey: p.clientId as string,
    orgId: p.orgId as string,
    sandboxName: p.sandbox,
    token: new ImsServerToServerTokenProvider({
      clientId: p.clientId as string,
      clientSecret: p.clientSecret as string,
      imsEndpoint: p.imsEndpoint,
    }),
  });
  writeFileSync(join(h.dir, 'catalog.yaml'), CONFIG);
  const applied = await h.json<{ ids: { schemas: { events: string }; datasets: Record<string, string> } }>([
    'apply',
    '-f',
    join(h.dir, 'catalog.yaml'),
  ]);
  expect(applied.code, applied.stderr).toBe(0);
  schemaId = applied.body.ids.schemas.events;
  alpha = applied.body.ids.datasets.alpha as string;
  beta = applied.body.ids.datasets.beta as string;
  const inlet = await h.json<{ outputs: { inletUrl: string } }>([
    'connect',
    'streaming',
    '--name',
    'Catalog inlet',
  ]);
  expect(inlet.code, inlet.stderr).toBe(0);
  inletUrl = inlet.body.outputs.inletUrl;
  // alpha: a clean batch of 3, then 2 landed + 1 failed; beta: one batch whose every record failed.
  await land(alpha, [
    { email: 'a@example.com', seq: 1 },
    { email: 'b@example.com', seq: 2 },
    { email: 'c@example.com', seq: 3 },
  ]);
  await land(alpha, [
    { email: 'd@example.com', seq: 4 },
    { email: 'e@example.com', seq: 'not a number' },
    { email: 'f@example.com', seq: 6 },
  ]);
  await land(beta, [{ seq: 'x' }, { seq: 'y' }]);
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('inflow batches list / get', { timeout: 60_000 }, () => {
  it('lists a dataset’s batches newest first with their status and counts; --json is the API’s objects', async () => {
    const r = await h.json<Batch[]>(['batches', 'list', '--dataset', alpha]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.body.map((b) => [b.status, b.recordCount, b.failedRecordCount])).toEqual([
      ['success', 2, 1],
      ['success', 3, 0],
    ]);
    expect(r.body).toEqual(asList(await catalog('/batches', { dataSet: alpha, orderBy: 'desc:created' })));

    const table = await h.run(['batches', 'list', '--dataset', alpha]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+CREATED\s+RECORDS\s+FAILED\s+DATASET$/);
    expect(lines).toHaveLength(3);
    const [newest, oldest] = r.body as [Batch, Batch];
    expect(lines[1]).toMatch(new RegExp(`^${newest.id}\\s+success\\s+\\d{4}-\\S+Z\\s+2\\s+1\\s+${alpha}$`));
    expect(lines[2]).toMatch(new RegExp(`^${oldest.id}\\s+success\\s+\\d{4}-\\S+Z\\s+3\\s+0\\s+${alpha}$`));
  });

  it('--status filters by status; --dataset takes a dataset’s name', async () => {
    const failed = await h.json<Batch[]>(['batches', 'list', '--status', 'failed']);
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.body.map((b) => [b.status, b.recordCount, b.failedRecordCount])).toEqual([
      ['failed', 0, 2],
    ]);
    const betaBatches = await h.json<Batch[]>(['batches', 'list', '--dataset', 'Catalog beta']);
    expect(betaBatches.body.map((b) => b.id)).toEqual(failed.body.map((b) => b.id));
    const notFailed = await h.json<Batch[]>(['batches', 'list', '--status', '!failed']);
    expect(notFailed.body.map((b) => b.status)).toEqual(['success', 'success']);
    const table = await h.run(['batches', 'list', '--status', 'failed']);
    expect(table.stdout).toMatch(new RegExp(`${failed.body[0]?.id}\\s+failed\\s+\\S+\\s+0\\s+2\\s+${beta}`));
    const both = await h.json<Batch[]>(['batches', 'list', '--dataset', alpha, '--status', 'failed']);
    expect(both.body).toEqual([]);
    // A status the Catalog does not document is still sent (the list may know more), with a note.
    const typo = await h.run(['batches', 'list', '--status', 'fail']);
    expect(typo.code).toBe(0);
    expect(typo.stdout).toContain('(none)');
    expect(typo.stderr).toContain('the Catalog documents no batch status fail');
  });

  it('--limit shows the newest N (with a note that there are more); --all pages to the end', async () => {
    const all = await h.json<Batch[]>(['batches', 'list', '--all']);
    expect(all.body).toHaveLength(3);
    expect(all.body.map((b) => b.id)).toEqual(
      asList(await catalog('/batches', { orderBy: 'desc:created' })).map((b) => b.id),
    );
    const one = await h.json<Batch[]>(['batches', 'list', '--limit', '1']);
    expect(one.body.map((b) => b.id)).toEqual([all.body[0]?.id]);
    const table = await h.run(['batches', 'list', '--limit', '2']);
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(table.stderr).toBe('showing the newest 2 batches; --limit N or --all for more\n');
    // Exactly as many as there are: nothing more to show.
    const exact = await h.run(['batches', 'list', '--limit', '3']);
    expect(exact.stdout.trimEnd().split('\n')).toHaveLength(4);
    expect(exact.stderr).toBe('');
  });

  it('get shows one batch with its errors; an unknown id is exit 4 with the service’s message', async () => {
    const [partial] = (await h.json<Batch[]>(['batches', 'list', '--dataset', alpha, '--limit', '1'])).body;
    const got = await h.json<Batch>(['batches', 'get', partial?.id as string]);
    expect(got.code, got.stderr).toBe(0);
    const fromApi = (await catalog(`/batches/${partial?.id}`))[partial?.id as string] as Obj;
    expect(got.body).toEqual({ ...fromApi, id: partial?.id });
    expect(got.body.errors.map((e) => e.code)).toContain('INGEST-1212-400');
    expect(got.body.errors.find((e) => e.code !== 'INGEST-1212-400')?.recordCount).toBe(1);
    const human = await h.run(['batches', 'get', partial?.id as string]);
    expect(human.stdout).toContain(`id: ${partial?.id}`);
    expect(human.stdout).toMatch(/errors:\n\s+- code: INGEST-1212-400/);

    const missing = await h.run(['batches', 'get', 'no-such-batch', '--json']);
    expect(missing.code).toBe(4);
    const error = JSON.parse(missing.stderr).error;
    expect(error).toMatchObject({ status: 404, exitCode: 4 });
    expect(error.message).toContain('no-such-batch');
  });
});

describe('inflow datasets list / get', { timeout: 60_000 }, () => {
  it('lists datasets newest first with schema and last batch status; --json is the API’s objects', async () => {
    const r = await h.json<Obj[]>(['datasets', 'list']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.body.map((d) => d.id).sort()).toEqual([alpha, beta].sort());
    expect(r.body).toEqual(asList(await catalog('/dataSets', { orderBy: 'desc:created' })));

    const table = await h.run(['datasets', 'list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+SCHEMA\s+CREATED\s+LAST BATCH\n/);
    expect(table.stdout).toMatch(
      new RegExp(`${alpha}\\s+Catalog alpha\\s+${schemaId.replace(/[.]/g, '\\.')}\\s+\\S+Z\\s+success\\n`),
    );
    expect(table.stdout).toMatch(new RegExp(`${beta}\\s+Catalog beta\\s+\\S+\\s+\\S+Z\\s+failed\\n`));
  });

  it('--name and --filter narrow the list', async () => {
    const named = await h.json<Obj[]>(['datasets', 'list', '--name', 'Catalog b*']);
    expect(named.body.map((d) => d.id)).toEqual([beta]);
    const regex = await h.json<Obj[]>(['datasets', 'list', '--filter', 'name~alpha$']);
    expect(regex.body.map((d) => d.id)).toEqual([alpha]);
    const both = await h.json<Obj[]>([
      'datasets',
      'list',
      '--filter',
      'property=name~^Catalog',
      '--filter',
      'name!=Catalog alpha',
    ]);
    expect(both.body.map((d) => d.id)).toEqual([beta]);
  });

  it('get shows one dataset by id or name; an unknown id is exit 4 with the service’s message', async () => {
    const got = await h.json<Obj>(['datasets', 'get', alpha]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.body).toEqual({ id: alpha, ...((await catalog(`/dataSets/${alpha}`))[alpha] as Obj) });
    const byName = await h.json<Obj>(['datasets', 'get', 'Catalog beta']);
    expect(byName.body.id).toBe(beta);
    const human = await h.run(['datasets', 'get', alpha]);
    expect(human.stdout).toContain('name: Catalog alpha');

    const missing = await h.run(['datasets', 'get', '0123456789abcdef01234567', '--json']);
    expect(missing.code).toBe(4);
    const error = JSON.parse(missing.stderr).error;
    expect(error).toMatchObject({ status: 404, exitCode: 4 });
    expect(error.message).toContain('0123456789abcdef01234567');
  });

  it('pages past 100 datasets: --limit N and --all read page after page', async () => {
    const created: string[] = [];
    for (let i = 0; i < 101; i++) {
      const { id } = await api.catalog.dataSets.create({
        name: `Paged ${i}`,
        schemaRef: { id: schemaId, contentType: XDM_FULL },
      });
      created.push(id);
    }
    const all = await h.json<Obj[]>(['datasets', 'list', '--all']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.body).toHaveLength(103);
    expect(new Set(all.body.map((d) => d.id)).size).toBe(103);
    expect(all.body.slice(0, 101).map((d) => d.id)).toEqual(created.reverse());
    const some = await h.json<Obj[]>(['datasets', 'list', '--limit', '102']);
    expect(some.body.map((d) => d.id)).toEqual(all.body.slice(0, 102).map((d) => d.id));
    // A limit of 100 or more is paged by 100: "more" only when there are more.
    const exact = await h.run(['datasets', 'list', '--limit', '103']);
    expect(exact.code, exact.stderr).toBe(0);
    expect(exact.stdout.trimEnd().split('\n')).toHaveLength(104);
    expect(exact.stderr).not.toContain('showing the newest');
    const hundred = await h.run(['datasets', 'list', '--limit', '100']);
    expect(hundred.stderr).toContain('showing the newest 100 datasets');
    // Exactly 100 match, with a limit of 100: a full page, and nothing after it.
    const justHundred = await h.run([
      'datasets',
      'list',
      '--limit',
      '100',
      '--name',
      'Paged *',
      '--filter',
      'name!=Paged 0',
    ]);
    expect(justHundred.code, justHundred.stderr).toBe(0);
    expect(justHundred.stdout.trimEnd().split('\n')).toHaveLength(101);
    expect(justHundred.stderr).not.toContain('showing the newest');
    const first = await h.run(['datasets', 'list']);
    expect(first.stdout.trimEnd().split('\n')).toHaveLength(21);
    expect(first.stderr).toContain('showing the newest 20 datasets');
  });

  it('a dataset name is matched exactly: commas, a * and a name another one extends', async () => {
    const make = async (name: string) =>
      (await api.catalog.dataSets.create({ name, schemaRef: { id: schemaId, contentType: XDM_FULL } })).id;
    const comma = await make('Resolve, with a comma');
    const star = await make('Resolve * star');
    await make('Resolve x star');
    await make('Resolve * star and more');
    const byComma = await h.json<Obj>(['datasets', 'get', 'Resolve, with a comma']);
    expect(byComma.code, byComma.stderr).toBe(0);
    expect(byComma.body.id).toBe(comma);
    // As a wildcard, the * would also match "Resolve x star". Over 100 datasets exist by now, so
    // paging through them would take more than one request: the lookup takes one, filtered.
    const listings: string[] = [];
    const record = (req: IncomingMessage) => {
      const url = new URL(req.url ?? '/', 'http://cli.test');
      if (url.pathname.endsWith('/dataSets')) listings.push(url.searchParams.get('property') ?? '');
    };
    h.server.app.server.on('request', record);
    const byStar = await h.json<Obj>(['datasets', 'get', 'Resolve * star']);
    h.server.app.server.off('request', record);
    expect(byStar.code, byStar.stderr).toBe(0);
    expect(byStar.body.id).toBe(star);
    expect(listings).toEqual(['name==Resolve ** star']);
    const prefix = await h.run(['datasets', 'get', 'Resolve']);
    expect(prefix.code).toBe(4);
    expect(prefix.stderr).toContain('no dataset with the id or name "Resolve"');
    const twice = await make('Resolve, with a comma');
    const ambiguous = await h.run(['datasets', 'get', 'Resolve, with a comma']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('2 datasets are named "Resolve, with a comma"');
    expect(ambiguous.stderr).toContain(twice);
  });
});

describe('catalog commands: help and errors', { timeout: 60_000 }, () => {
  it('are listed in the help, each with usage and examples', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    for (const name of ['datasets list', 'datasets get', 'batches list', 'batches get'])
      expect(io.out()).toMatch(new RegExp(`^  ${name}\\s+\\S`, 'm'));
    const help = await h.run(['batches', 'list', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--status STATUS');
    expect(help.stdout).toContain('--all');
  });

  it('bad flags are exit 2 with a usage message, before anything is sent', async () => {
    const cases: [string[], RegExp][] = [
      [['batches', 'list', '--limit', 'x'], /--limit must be a whole number ≥ 1, got "x"/],
      [['batches', 'list', '--limit', '0'], /--limit must be a whole number ≥ 1, got "0"/],
      [['datasets', 'list', '--limit', '5', '--all'], /--limit and --all cannot be combined/],
      [['datasets', 'list', '--filter', 'name=alpha'], /"name=alpha" is not a Catalog property expression/],
      [['batches', 'list', '--status', 'fai led'], /--status "fai led" is not a status/],
      [['datasets', 'list', '--nope'], /Unknown option '--nope'/],
      [['batches', 'get'], /missing argument: inflow batches get <batchId>/],
      [['datasets', 'get', 'a', 'b'], /unexpected argument "b"/],
    ];
    for (const [argv, message] of cases) {
      const io = captureIo({ env: h.env });
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.err(), argv.join(' ')).toMatch(/Error: .*\n.*Fix: /);
      expect(io.err(), argv.join(' ')).toMatch(message);
      expect(io.out(), argv.join(' ')).toBe('');
    }
  });

  it('an API 400 is exit 1 with the service’s message', async () => {
    const dotted = await h.run(['datasets', 'list', '--filter', 'schemaRef.id==x', '--json']);
    expect(dotted.code).toBe(1);
    expect(JSON.parse(dotted.stderr).error).toMatchObject({ status: 400 });
    expect(JSON.parse(dotted.stderr).error.message).toContain('only top-level fields');
    const unknown = await h.run(['batches', 'list', '--dataset', '0123456789abcdef01234567']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('is not a dataset in this sandbox');
  });
});
