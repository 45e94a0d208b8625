import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, captureIo, main } from '../src/index.js';
import { type CliHarness, startHarness } from './helpers.js';

let h: CliHarness;
beforeAll(async () => {
  h = await startHarness();
  expect((await h.run(['login', '--from-bootstrap', h.bootstrapFile, '--endpoint', h.url])).code).toBe(0);
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('help and usage', () => {
  it('lists every command with the exit codes; no arguments is a usage error', async () => {
    const io = captureIo();
    expect(await main([], io)).toBe(2);
    for (const c of COMMANDS) expect(io.out()).toContain(c.name);
    expect(io.out()).toContain('Exit codes: 0 ok');
    const help = captureIo();
    expect(await main(['--help'], help)).toBe(0);
  });

  it('every command has --help with usage, flags and examples', async () => {
    for (const c of COMMANDS) {
      const io = captureIo();
      expect(await main([...c.name.split(' '), '--help'], io), c.name).toBe(0);
      expect(io.out(), c.name).toContain(`Usage: ${c.usage}`);
      expect(io.out(), c.name).toContain('--json');
      expect(io.out(), c.name).toContain('Examples:');
    }
  });

  it('bad flags, unknown commands and missing arguments are exit 2 with a pointer to --help', async () => {
    const cases = [
      ['connections', 'list', '--nope'],
      ['frobnicate'],
      ['flows'],
      ['flows', 'get'],
      ['runs', 'list', '--limit', 'x'],
    ];
    for (const argv of cases) {
      const io = captureIo({ env: h.env });
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.err(), argv.join(' ')).toMatch(/Error: .*\n.*Fix: /);
    }
  });

  it('--json errors are one JSON object on stderr', async () => {
    const io = captureIo({ env: h.env });
    expect(await main(['frobnicate', '--json'], io)).toBe(2);
    expect(JSON.parse(io.err())).toMatchObject({
      error: { exitCode: 2, message: 'unknown command "frobnicate"' },
    });
  });

  it('help for one connector lists the flags derived from its setup input', async () => {
    const r = await h.run(['connect', 's3', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--s3-access-key');
    expect(r.stdout).toContain('--s3-secret-key SECRET');
    expect(r.stdout).toContain('--service-url');
  });
});

describe('reading the service', { timeout: 60_000 }, () => {
  it('specs lists the installed connectors and shows one with its fields', async () => {
    const all = await h.json<{ name: string }[]>(['specs']);
    expect(all.body.map((s) => s.name)).toEqual(
      expect.arrayContaining(['amazon-s3', 'postgresql', 'http-api']),
    );
    const one = await h.run(['specs', '--name', 'amazon-s3']);
    expect(one.stdout).toMatch(/s3SecretKey\s+string\s+required, secret/);
    const flows = await h.json<{ name: string }[]>(['specs', '--flows']);
    expect(flows.body.map((s) => s.name)).toContain('CloudStorageToAEP');
    const missing = await h.json(['specs', '--name', 'nope']);
    expect(missing.code).toBe(4);
  });

  it('list --filter sends the property filter; get shows one; a missing id is exit 4 with the API problem', async () => {
    const a = await h.json<{ outputs: { connectionId: string } }>([
      'connect',
      'streaming',
      '--name',
      'alpha',
    ]);
    const b = await h.json<{ outputs: { connectionId: string } }>(['connect', 'streaming', '--name', 'beta']);
    expect(a.code, a.stderr).toBe(0);
    const filtered = await h.json<{ id: string; name: string }[]>([
      'connections',
      'list',
      '--filter',
      'name==beta',
    ]);
    expect(filtered.body.map((c) => c.id)).toEqual([b.body.outputs.connectionId]);
    const limited = await h.json<unknown[]>(['connections', 'list', '--limit', '1']);
    expect(limited.body).toHaveLength(1);
    const table = await h.run(['connections', 'list', '--filter', 'state==enabled']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+STATE/);
    expect(table.stdout).toContain('alpha');
    const got = await h.json<{ id: string }>(['connections', 'get', a.body.outputs.connectionId]);
    expect(got.body.id).toBe(a.body.outputs.connectionId);
    const missing = await h.run(['flows', 'get', '84224def-1e2a-4d95-9ea2-132d697ed2aa', '--json']);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stderr).error).toMatchObject({ status: 404, title: 'Resource not found' });
    const badFilter = await h.run(['flows', 'list', '--filter', 'colour~red', '--json']);
    expect(badFilter.code).toBe(2);
  });

  it('runs watch --until-done ends at once when nothing runs', async () => {
    const r = await h.run(['runs', 'watch', '--until-done', '--interval', '0.1']);
    expect(r.code).toBe(0);
  });
});

describe('inflow connect', { timeout: 60_000 }, () => {
  it('--plan prints the requests with secrets redacted and sends nothing', async () => {
    const before = (await h.json<unknown[]>(['connections', 'list'])).body.length;
    const r = await h.json<{
      steps: { id: string; request: { method: string; url: string; body?: unknown } }[];
    }>(
      [
        'connect',
        's3',
        '--s3-access-key',
        'AKIAIOSFODNN7EXAMPLE',
        '--s3-secret-key',
        '${S3_SECRET}',
        '--plan',
      ],
      { env: { S3_SECRET: 'the-real-secret' } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.body.steps.map((s) => s.id)).toEqual(['lookupSpec', 'createConnection']);
    expect(r.body.steps[1]?.request).toMatchObject({
      method: 'POST',
      url: `${h.url}/data/foundation/flowservice/connections`,
    });
    expect(r.stdout).not.toContain('the-real-secret');
    expect(r.stdout).toContain('[REDACTED]');
    expect((await h.json<unknown[]>(['connections', 'list'])).body.length).toBe(before);
  });

  it('applies and prints the created ids', async () => {
    const r = await h.run(['connect', 'postgresql', '--connection-string', '${PG}'], {
      env: { PG: 'Server=127.0.0.1;Database=shop;Port=5432;UID=reader;Password=pw-not-printed' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/connectionId\s+[0-9a-f-]{36}/);
    expect(r.stdout + r.stderr).not.toContain('pw-not-printed');
  });

  it('a missing connector names the package to install (exit 2)', async () => {
    const r = await h.run(['connect', 'salesforce']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('npm install @inflow/connector-salesforce');
  });

  it('invalid input is exit 2 and names the field', async () => {
    const r = await h.run(['connect', 's3', '--s3-access-key', 'AK']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('s3SecretKey');
  });

  it('after a failed step it resumes from that step, without creating again what exists', async () => {
    // The real server behind a gateway that is down for the first POST /targetConnections.
    let failNext = true;
    const proxy: Server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (failNext && req.method === 'POST' && req.url?.endsWith('/targetConnections')) {
        failNext = false;
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            type: 'https://ns.adobe.com/aep/errors/FLOW-1103-503',
            title: 'Service Unavailable',
            status: 503,
            report: { 'detailed-message': 'The service is temporarily unavailable' },
          }),
        );
        return;
      }
      const upstream = await fetch(`${h.url}${req.url}`, {
        method: req.method as string,
        headers: Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)),
        ) as Record<string, string>,
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      });
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const address = proxy.address() as { port: number };
    const endpoint = `http://127.0.0.1:${address.port}`;
    writeFileSync(
      join(h.dir, 'cio.yaml'),
      'version: 1\nschemas:\n  cio:\n    title: Customer.io events (cli)\n    class: experienceevent\n    fields: { cio_id: string, email: string, event_id0: string, metricx: string, object_type1: string, timestampx: string }\ndatasets:\n  cio:\n    name: Customer.io events (cli)\n    schema: cio\n',
    );
    const made = await h.json<{ ids: { schemas: { cio: string }; datasets: { cio: string } } }>([
      'apply',
      '-f',
      join(h.dir, 'cio.yaml'),
    ]);
    expect(made.code, made.stderr).toBe(0);
    const args = [
      'connect',
      'customerio',
      '--data-set-id',
      made.body.ids.datasets.cio,
      '--schema-id',
      made.body.ids.schemas.cio,
      '--tenant-id',
      'acme',
      '--endpoint',
      endpoint,
    ];
    try {
      const first = await h.run([...args, '--json']);
      expect(first.code).toBe(1);
      expect(JSON.parse(first.stderr).error).toMatchObject({ status: 503, step: 'createTargetConnection' });
      expect(JSON.parse(first.stderr).error.fix).toContain('resumes at step 2');
      const stateDir = join(h.dir, 'config', 'state');
      expect(readdirSync(stateDir).some((f) => f.startsWith('connect-default-customerio'))).toBe(true);

      const second = await h.json<{ outputs: Record<string, string>; sent: string[]; resumed: boolean }>(
        args,
      );
      expect(second.code, second.stderr).toBe(0);
      expect(second.body.resumed).toBe(true);
      expect(second.body.sent).toEqual([
        'createTargetConnection',
        'createMapping',
        'createFlow',
        'getInletUrl',
      ]);
      expect(second.body.outputs.inletUrl).toMatch(/\/collection\/[0-9a-f]+$/);
      const sources = await h.json<unknown[]>([
        'source-connections',
        'list',
        '--filter',
        'connectionSpec.id==96479064-7b8a-4d69-b9ed-21c5683837ea',
      ]);
      expect(sources.body).toHaveLength(1);
      expect(existsSync(join(stateDir, 'connect-default-customerio.json'))).toBe(false);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});
