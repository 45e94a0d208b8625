import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdirDurable } from '../src/durable-dirs.js';
import { openStreaming } from '../src/streaming/index.js';
import { StreamLog } from '../src/streaming/log.js';
import { call, startTestServer } from './helpers.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const dirs: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'inflow-durability-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A log with two frames and `garbage` after them, as a crash mid-write leaves it. */
async function tornLog(dir: string, garbage: Buffer) {
  const log = await StreamLog.open(dir);
  await log.append([Buffer.from('{"first":1}'), Buffer.from('{"second":2}')]);
  const end = log.durableEnd;
  await log.close();
  appendFileSync(join(dir, '00000000000000000000.log'), garbage);
  return end;
}

describe('durable directories (review item 8)', () => {
  it('fsyncs the parent of every directory it creates, top down', async () => {
    const root = tmp();
    const synced: string[] = [];
    await mkdirDurable(join(root, 'a', 'b', 'c'), async (dir) => {
      synced.push(dir);
    });
    expect(synced).toEqual([root, join(root, 'a'), join(root, 'a', 'b')]);
    expect(existsSync(join(root, 'a', 'b', 'c'))).toBe(true);
    synced.length = 0;
    await mkdirDurable(join(root, 'a', 'b', 'c'), async (dir) => {
      synced.push(dir);
    });
    expect(synced).toEqual([]);
  });
});

describe('torn tails and a checkpoint that cannot be used (review item 5)', () => {
  it('keeps the cut bytes of a torn tail and says how many', async () => {
    const dir = join(tmp(), 'log');
    const garbage = Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5, 6, 7]);
    const end = await tornLog(dir, garbage);
    const log = await StreamLog.open(dir);
    expect(log.durableEnd).toBe(end);
    expect(log.stats).toMatchObject({ truncatedBytes: garbage.length, truncatedAt: end });
    expect(readFileSync(log.stats.truncatedFile as string)).toEqual(garbage);
    await log.close();
  });

  it('logs the torn tail when streaming opens', async () => {
    const dataDir = tmp();
    await tornLog(join(dataDir, 'streaming', 'log'), Buffer.from('partial frame'));
    const t = await startTestServer({});
    try {
      const warnings: { message: string; detail?: Record<string, unknown> }[] = [];
      const streaming = await openStreaming(
        { ...t.server.services, config: { ...t.server.services.config, dataDir } },
        { consumerThread: 'main', warn: (message, detail) => warnings.push({ message, detail }) },
      );
      await streaming.close();
      expect(warnings).toContainEqual({
        message: expect.stringMatching(/torn tail/),
        detail: expect.objectContaining({ bytes: 'partial frame'.length }),
      });
    } finally {
      await t.close();
    }
  });

  it('answers 503 on /ready, with the reason, while the consumer cannot trust its checkpoint', async () => {
    const dataDir = tmp();
    mkdirSync(join(dataDir, 'streaming'), { recursive: true });
    writeFileSync(join(dataDir, 'streaming', 'consumer.checkpoint.json'), '{"logId": "x", "off');
    const t = await startTestServer({ dataDir, streaming: { consumerThread: 'main' } });
    try {
      const ready = await call(t.url, 'GET', '/ready');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        status: 'not ready',
        streaming: { error: expect.stringMatching(/consumer.checkpoint.json cannot be used/) },
      });
      expect(t.server.app.streaming?.consumer.fault).toMatch(/cannot be used/);
      // Inlets still ack into the log: nothing acked is lost, it waits for an operator.
      expect((await call(t.url, 'GET', '/health')).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
