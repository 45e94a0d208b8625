import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliHarness, startHarness } from './helpers.js';

const quickstart = new URL('../../../examples/quickstart/', import.meta.url);
const people = readFileSync(new URL('people.jsonl', quickstart), 'utf8');

interface SendSummary {
  records: number;
  accepted: number;
  rejected: number;
  batches: number;
  flowId?: string;
  reasons: { reason: string; count: number; lines: number[] }[];
}

let h: CliHarness;
let ids: Record<string, Record<string, string>>;
beforeAll(async () => {
  h = await startHarness();
  expect((await h.run(['login', '--from-bootstrap', h.bootstrapFile, '--endpoint', h.url])).code).toBe(0);
  const applied = await h.json<{ ids: typeof ids }>([
    'apply',
    '-f',
    new URL('inflow.yaml', quickstart).pathname,
  ]);
  expect(applied.code, applied.stderr).toBe(0);
  ids = applied.body.ids;
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('inflow send and datasets preview', { timeout: 60_000 }, () => {
  it('sends a JSON-lines file to a flow named by its name, and the rows land in the dataset', async () => {
    const file = join(h.dir, 'people.jsonl');
    writeFileSync(file, people);
    const sent = await h.json<SendSummary>(['send', '--flow', 'Quickstart people', file]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.body).toMatchObject({
      records: 3,
      accepted: 3,
      rejected: 0,
      batches: 1,
      flowId: ids.flows?.people,
    });
    const preview = await h.json<Record<string, unknown>[]>([
      'datasets',
      'preview',
      'Quickstart people',
      '--wait',
      '30',
    ]);
    expect(preview.code, preview.stderr).toBe(0);
    const emails = preview.body.map((r) => (r._acme as { email?: string } | undefined)?.email).sort();
    expect(emails).toEqual(['ada@example.com', 'alan@example.com', 'grace@example.com']);
    const plans = preview.body.map((r) => (r._acme as { plan?: string } | undefined)?.plan).sort();
    expect(plans).toEqual(['FREE', 'PRO', 'TEAM']);
    const table = await h.run(['datasets', 'preview', ids.datasets?.people as string]);
    expect(table.stdout).toContain('_acme.email');
    expect(table.stdout).toContain('grace@example.com');
  });

  it('reports rejected records with their reasons and line numbers (exit 5), from stdin, in batches', async () => {
    const lines = [
      '{"email": "a@example.com", "first_name": "A"}',
      'not json',
      '',
      '[1, 2',
      '{"email": "b@example.com"}',
    ];
    const inletUrl = (
      await h.json<{ auth: { params: { inletUrl: string } } }>([
        'connections',
        'get',
        ids.connections?.inlet as string,
      ])
    ).body.auth.params.inletUrl;
    const r = await h.json<SendSummary>(
      ['send', inletUrl, '--flow', ids.flows?.people as string, '-', '--batch-size', '1'],
      {
        stdin: `${lines.join('\n')}\n`,
      },
    );
    expect(r.code).toBe(5);
    expect(r.body).toMatchObject({ records: 4, accepted: 2, rejected: 2, batches: 2 });
    expect(r.body.reasons).toEqual([
      { reason: 'not valid JSON (each line must be one JSON value)', count: 2, lines: [2, 4] },
    ]);
  });

  it('gives the human summary on stdout', async () => {
    const r = await h.run(['send', '--flow', 'Quickstart people', '-'], { stdin: `${people}not json\n` });
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/Sent 4 records in 1 batch .*3 accepted, 1 rejected/);
    expect(r.stdout).toContain('(line 4)');
  });

  it('an unknown flow name is exit 4; a URL that is not an inlet is exit 2', async () => {
    expect((await h.run(['send', '--flow', 'no such flow', '-'], { stdin: '' })).code).toBe(4);
    const bad = await h.run(['send', `${h.url}/not-an-inlet`, '-'], { stdin: '{}' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not an inlet URL');
  });

  it('an authenticated inlet without --auth fails with the fix; with --auth it accepts', async () => {
    const created = await h.json<{ outputs: { inletUrl: string } }>([
      'connect',
      'streaming',
      '--name',
      'Authenticated inlet',
      '--authentication-required',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const url = created.body.outputs.inletUrl;
    const message = JSON.stringify({
      header: { datasetId: ids.datasets?.people },
      body: { xdmEntity: { _acme: { email: 'x@example.com' } } },
    });
    const denied = await h.run(['send', url, '-', '--json'], { stdin: `${message}\n` });
    expect(denied.code).toBe(3);
    expect(JSON.parse(denied.stderr).error.fix).toContain('--auth');
    const allowed = await h.json<SendSummary>(['send', url, '-', '--auth'], { stdin: `${message}\n` });
    expect(allowed.body.records).toBe(1);
    expect(allowed.body.accepted + allowed.body.rejected).toBe(1);
  });
});
