import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliHarness, startHarness } from './helpers.js';

interface PlanBody {
  plan: { action: string; kind: string; key: string; changes?: { path: string }[] }[];
  summary: Record<string, number>;
  state: string;
}
interface ApplyBody {
  applied: { action: string; kind: string; key: string; id?: string }[];
  summary: Record<string, number>;
  ids: Record<string, Record<string, string>>;
  state: string;
}

const fixture = readFileSync(new URL('./fixtures/inflow.yaml', import.meta.url), 'utf8');
const SECRET = 's3-secret-value-that-must-never-be-printed';
let h: CliHarness;
let file: string;
const env = { S3_SECRET: SECRET };

beforeAll(async () => {
  h = await startHarness();
  expect((await h.run(['login', '--from-bootstrap', h.bootstrapFile, '--endpoint', h.url])).code).toBe(0);
  file = join(h.dir, 'inflow.yaml');
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('inflow apply', { timeout: 60_000 }, () => {
  it('a missing env var stops before anything is sent (exit 2), naming the variable and where', async () => {
    writeFileSync(file, fixture);
    const r = await h.run(['apply', '-f', file, '--json']);
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stderr).error;
    expect(err.message).toContain('S3_SECRET');
    expect(err.message).toContain('connections.s3');
    expect((await h.json<unknown[]>(['connections', 'list'])).body).toEqual([]);
  });

  it('an invalid file lists every problem with its path (exit 2)', async () => {
    const bad = join(h.dir, 'bad.yaml');
    writeFileSync(bad, 'version: 2\nflows:\n  f:\n    name: x\n    colour: red\n');
    const r = await h.run(['apply', '-f', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('version: must be 1');
    expect(r.stderr).toContain('flows.f.colour: unknown field');
    expect(r.stderr).toContain('flows.f.flowSpec: required');
  });

  it('a first apply that fails mid-way keeps what it made; the fixed file then finishes without duplicates', async () => {
    writeFileSync(file, fixture.replace('interval: 15', 'interval: 5'));
    const plan = await h.json<PlanBody>(['apply', '-f', file, '--plan'], { env });
    expect(plan.code).toBe(0);
    expect(plan.body.summary).toMatchObject({ create: 7, change: 0, delete: 0 });
    expect(plan.stdout).not.toContain(SECRET);
    // --plan sends nothing.
    expect((await h.json<unknown[]>(['connections', 'list'])).body).toEqual([]);

    const failed = await h.run(['apply', '-f', file, '--json'], { env });
    expect(failed.code).toBe(1);
    const err = JSON.parse(failed.stderr).error;
    expect(err).toMatchObject({ status: 400 });
    expect(err.detail).toContain('scheduleParams.interval');
    expect(failed.stderr).not.toContain(SECRET);

    writeFileSync(file, fixture);
    const resumed = await h.json<PlanBody>(['apply', '-f', file, '--plan'], { env });
    expect(resumed.body.summary).toMatchObject({ create: 1, change: 0, unchanged: 6 });
    expect(resumed.body.plan.find((p) => p.action === 'create')).toMatchObject({
      kind: 'flows',
      key: 'people',
    });

    const applied = await h.json<ApplyBody>(['apply', '-f', file], { env });
    expect(applied.code).toBe(0);
    expect(applied.body.summary).toMatchObject({ create: 1, unchanged: 6 });
    expect(Object.keys(applied.body.ids.flows ?? {})).toEqual(['people']);
    const connections = (await h.json<{ id: string }[]>(['connections', 'list'])).body;
    expect(connections).toHaveLength(1);
    expect(connections[0]?.id).toBe(applied.body.ids.connections?.s3);
    // The state holds ids and references, never the secret.
    const state = readFileSync(applied.body.state, 'utf8');
    expect(state).not.toContain(SECRET);
    expect(state).toContain('${S3_SECRET}');
  });

  it('a second apply with no edits changes nothing', async () => {
    const plan = await h.json<PlanBody>(['apply', '-f', file, '--plan', '--exit-code'], { env });
    expect(plan.code).toBe(0);
    expect(plan.body.summary).toMatchObject({ create: 0, change: 0, delete: 0, replace: 0, unchanged: 7 });
    const again = await h.json<ApplyBody>(['apply', '-f', file], { env });
    expect(again.body.summary).toMatchObject({ create: 0, change: 0, delete: 0, unchanged: 7 });
  });

  it('an edit is planned as a change and patched in place; --exit-code reports pending changes', async () => {
    writeFileSync(
      file,
      fixture
        .replace('name: People from S3', 'name: People from S3 (hourly)')
        .replace('frequency: minute, interval: 15', 'frequency: hour, interval: 1'),
    );
    const plan = await h.json<PlanBody>(['apply', '-f', file, '--plan', '--exit-code'], { env });
    expect(plan.code).toBe(5);
    const change = plan.body.plan.find((p) => p.action === 'change');
    expect(change).toMatchObject({ kind: 'flows', key: 'people' });
    expect(change?.changes?.map((c) => c.path).sort()).toEqual([
      'name',
      'scheduleParams.frequency',
      'scheduleParams.interval',
    ]);
    const applied = await h.json<ApplyBody>(['apply', '-f', file], { env });
    expect(applied.body.summary).toMatchObject({ change: 1, create: 0 });
    const flow = (
      await h.json<{ name: string; scheduleParams: { frequency: string } }>([
        'flows',
        'get',
        applied.body.ids.flows?.people as string,
      ])
    ).body;
    expect(flow).toMatchObject({ name: 'People from S3 (hourly)', scheduleParams: { frequency: 'hour' } });
    expect((await h.json<PlanBody>(['apply', '-f', file, '--plan'], { env })).body.summary.change).toBe(0);
  });

  it('a changed secret reference is sent; the same reference with no edit is not', async () => {
    writeFileSync(file, fixture.replace('${S3_SECRET}', '${S3_SECRET_2}'));
    const plan = await h.json<PlanBody>(['apply', '-f', file, '--plan'], {
      env: { ...env, S3_SECRET_2: 'rotated' },
    });
    const change = plan.body.plan.find((p) => p.kind === 'connections');
    expect(change).toMatchObject({ action: 'change', changes: [{ path: 'auth.params.s3SecretKey' }] });
    expect(plan.stdout).not.toContain('rotated');
    const applied = await h.json<ApplyBody>(['apply', '-f', file], {
      env: { ...env, S3_SECRET_2: 'rotated' },
    });
    expect(applied.body.summary.change).toBeGreaterThanOrEqual(1);
    const again = await h.json<PlanBody>(['apply', '-f', file, '--plan'], {
      env: { ...env, S3_SECRET_2: 'rotated' },
    });
    expect(again.body.summary.change).toBe(0);
  });

  it('resources removed from the file are deleted (flows first); create-only ones are forgotten', async () => {
    const trimmed = fixture.slice(0, fixture.indexOf('sourceConnections:'));
    writeFileSync(file, trimmed.replace('${S3_SECRET}', '${S3_SECRET_2}'));
    const plan = await h.json<PlanBody>(['apply', '-f', file, '--plan'], { env: { S3_SECRET_2: 'rotated' } });
    expect(plan.body.plan.filter((p) => p.action === 'delete').map((p) => p.kind)).toEqual([
      'flows',
      'targetConnections',
      'sourceConnections',
    ]);
    expect(plan.body.plan.filter((p) => p.action === 'forget').map((p) => p.kind)).toEqual(['mappingSets']);
    const applied = await h.json<ApplyBody>(['apply', '-f', file], { env: { S3_SECRET_2: 'rotated' } });
    expect(applied.code).toBe(0);
    expect((await h.json<unknown[]>(['flows', 'list'])).body).toEqual([]);
    expect((await h.json<unknown[]>(['source-connections', 'list'])).body).toEqual([]);
    expect((await h.json<unknown[]>(['connections', 'list'])).body).toHaveLength(1);
    expect(existsSync(applied.body.state)).toBe(true);
  });
});
