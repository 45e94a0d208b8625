// A benchmark target, run as its own process so the load generator does not share its core:
//   node bench/server-target.mjs inflow   → the Inflow server (in-memory PGlite), seeded with N connections
//   node bench/server-target.mjs bare     → a bare Fastify route returning a constant
// Prints one JSON line {url, ...} when ready.
import Fastify from 'fastify';

const mode = process.argv[2];
const count = Number(process.env.BENCH_CONNECTIONS ?? 10000);

if (mode === 'bare') {
  const app = Fastify({ logger: false });
  const constant = { items: [{ id: 'x', name: 'constant' }] };
  app.get('/const', async () => constant);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  console.log(JSON.stringify({ url }));
} else {
  const { buildServer, configFromEnv } = await import('../packages/server/dist/index.js');
  const server = await buildServer({
    ...configFromEnv({}),
    dataDir: undefined,
    port: 0,
    logLevel: 'silent',
    bootstrap: { clientSecret: 'bench-secret' },
  });
  const url = await server.listen();
  const { store } = server.services;
  const { orgId, clientId } = server.bootstrap;
  const sandbox = await server.services.tenancy.sandbox(orgId, 'prod');
  const specs = ['ecadc60c-7455-4d87-84dc-2a0e293d997b', '74a1c565-4e59-48d7-9d67-7c03b8a13137'];
  const ids = [];
  const now = Date.now();
  await server.db.transaction(async (tx) => {
    for (let i = 0; i < count; i++) {
      const id = crypto.randomUUID();
      ids.push(id);
      const doc = {
        id,
        createdAt: now + i,
        updatedAt: now + i,
        createdBy: clientId,
        sandboxId: sandbox.id,
        sandboxName: 'prod',
        imsOrgId: orgId,
        name: `connection ${i}`,
        // 1% of rows (all of them enabled) are S3 connections: a filter that matches few rows.
        connectionSpec: { id: specs[i % 100 === 1 ? 0 : 1], version: '1.0' },
        state: i % 2 ? 'enabled' : 'disabled',
        auth: {
          specName: 'Access Key',
          params: { s3AccessKey: `AK${i}`, s3SecretKey: server.services.box.encrypt('x') },
        },
        version: '"e"',
        etag: '"e"',
      };
      const text = JSON.stringify(doc);
      await tx.query(
        'insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at) values ($1,$2,$3,$4,$5::jsonb,$6::text,$7,$8,$8)',
        ['connections', id, orgId, 'prod', text, text, 'e', now + i],
      );
    }
  });
  await server.db.exec('analyze resources');
  void store;
  console.log(
    JSON.stringify({
      url,
      orgId,
      clientId,
      clientSecret: 'bench-secret',
      ids: ids.filter((_, i) => i % 97 === 0),
    }),
  );
}
