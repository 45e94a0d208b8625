import { FlowServiceClient, InflowError, nextPageRequest, PlatformTransport, paginate } from '@inflow/core';
import { type RecordingServer, startRecordingServer } from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

describe('pagination over _links.next.href', () => {
  it('follows three pages, keeping the filter, and stops at an empty _links', async () => {
    server.handle((req) => {
      const token = req.query.continuationToken?.[0];
      const page = token === 'p2' ? 2 : token === 'p3' ? 3 : 1;
      const next =
        page < 3 ? `/connections?property=state%3D%3Denabled&continuationToken=p${page + 1}` : undefined;
      return {
        status: 200,
        body: {
          items: [{ id: `c${page}a` }, { id: `c${page}b` }],
          _links: next ? { next: { href: next } } : {},
        },
      };
    });
    const client = new FlowServiceClient({ endpoint: server.url, token: 't' });
    const ids: string[] = [];
    for await (const c of client.connections.iterate({ property: 'state==enabled', limit: 2 }))
      ids.push(c.id);
    expect(ids).toEqual(['c1a', 'c1b', 'c2a', 'c2b', 'c3a', 'c3b']);
    expect(server.requests.map((r) => [r.path, r.query])).toEqual([
      ['/data/foundation/flowservice/connections', { property: ['state==enabled'], limit: ['2'] }],
      [
        '/data/foundation/flowservice/connections',
        { property: ['state==enabled'], continuationToken: ['p2'] },
      ],
      [
        '/data/foundation/flowservice/connections',
        { property: ['state==enabled'], continuationToken: ['p3'] },
      ],
    ]);
    expect((await client.connections.list({ limit: 2 })).length).toBe(6);
  });

  it('resolves service-relative, full-path and absolute next links alike', () => {
    const t = new PlatformTransport({ endpoint: 'https://platform.adobe.io' });
    const first = { method: 'GET', service: 'flowservice', path: '/flows', query: { limit: 1 } } as const;
    for (const href of [
      '/flows?continuationToken=abc',
      '/data/foundation/flowservice/flows?continuationToken=abc',
      'https://platform.adobe.io/data/foundation/flowservice/flows?continuationToken=abc',
    ]) {
      const next = nextPageRequest(t, first, href);
      expect(t.url(next)).toBe(
        'https://platform.adobe.io/data/foundation/flowservice/flows?continuationToken=abc',
      );
    }
  });

  it('stops with an error instead of looping when the service repeats a next link', async () => {
    server.handle(() => ({
      status: 200,
      body: { items: [{ id: 'x' }], _links: { next: { href: '/runs?continuationToken=same' } } },
    }));
    const t = new PlatformTransport({ endpoint: server.url });
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const item of paginate(t, { method: 'GET', service: 'flowservice', path: '/runs' }))
        seen.push(item);
    })().catch((e: unknown) => e);
    expect(InflowError.isInstance(err)).toBe(true);
    expect((err as Error).message).toMatch(/twice/);
    expect(seen).toHaveLength(2);
  });

  it('page() returns one page and the continuation token of the next', async () => {
    server.handle(() => ({
      status: 200,
      body: { items: [{ id: 'f1' }], _links: { next: { href: '/flows?continuationToken=tok%2B1' } } },
    }));
    const client = new FlowServiceClient({ endpoint: server.url });
    expect(await client.flows.page({ limit: 1 })).toEqual({
      items: [{ id: 'f1' }],
      continuationToken: 'tok+1',
    });
  });
});
