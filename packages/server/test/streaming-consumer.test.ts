import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DatasetWriter, LandRequest } from '../src/datasets/writer.js';
import { StreamConsumer } from '../src/streaming/consumer.js';
import { encodeEntry } from '../src/streaming/entry.js';
import { StreamLog } from '../src/streaming/log.js';
import { startTestServer, type TestServer } from './helpers.js';
import {
  createSchemaAndDataset,
  envelope,
  eventually,
  expectCatalogCounts,
  readDataset,
} from './streaming-helpers.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

let t: TestServer;
let dataDir: string;
let schemaId: string;
let datasetId: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'inflow-consumer-test-'));
  t = await startTestServer({
    dataDir,
    bootstrap: { clientSecret: 'consumer-secret', tenantId: 'extconndev' },
  });
  ({ schemaId, datasetId } = await createSchemaAndDataset(t));
});
afterAll(async () => {
  await t?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** One logged XDM message, as the single-message route writes it. */
function entry(xactionId: string, target: string, entity: Record<string, unknown>): Buffer {
  return encodeEntry(
    {
      v: 1,
      inletId: 'a'.repeat(64),
      orgId: t.orgId,
      sandbox: 'prod',
      receivedTimeMs: Date.now(),
      body: 'one',
      xactionIds: [xactionId],
      datasetIds: [target],
    },
    Buffer.from(JSON.stringify(envelope(schemaId, target, entity))),
  );
}

describe('StreamConsumer', () => {
  it('lands each message exactly once across a crash between landing and the checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inflow-consumer-log-'));
    const log = await StreamLog.open(join(dir, 'log'), { segmentBytes: 4096 });
    const payloads = Array.from({ length: 40 }, (_, i) =>
      entry(`x:${i}`, datasetId, { _extconndev: { seq: i } }),
    );
    payloads.push(entry('x:bad', datasetId, { _extconndev: { seq: 'not a number' } }));
    payloads.push(entry('x:gone', 'nosuchdataset', { _extconndev: { seq: 999 } }));
    payloads.push(entry('x:3', datasetId, { _extconndev: { seq: 3 } })); // the same xactionId again
    for (const p of payloads) await log.append([p]);
    expect(log.segmentCount).toBeGreaterThan(1);

    const real = t.server.services.datasets;
    let crashed = false;
    const crashing: DatasetWriter = {
      async land(request: LandRequest) {
        const landed = await real.land(request);
        if (!crashed) {
          crashed = true;
          throw new Error('simulated crash after the land, before the checkpoint');
        }
        return landed;
      },
    };
    const deps = { log, dir, pipelines: () => t.server.services.pipelines };
    const first = new StreamConsumer({ ...deps, datasets: () => crashing }, { flushMs: 10 });
    await first.start();
    await eventually(async () => (crashed ? true : undefined));
    await first.stop();
    const checkpoint = JSON.parse(readFileSync(join(dir, 'consumer.checkpoint.json'), 'utf8'));
    expect(checkpoint.inFlight).toBeGreaterThan(checkpoint.offset);

    const second = new StreamConsumer({ ...deps, datasets: () => real }, { flushMs: 10 });
    await second.start();
    await second.idle();
    expect(second.committedOffset).toBe(log.durableEnd);
    await second.stop();

    const { rows, failures } = await readDataset(dataDir, datasetId);
    const seqs = rows.map((r) => (r._extconndev as { seq: number }).seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(failures).toHaveLength(1);
    expect(JSON.stringify(failures[0])).toMatch(/seq/);
    await expectCatalogCounts(t, datasetId, 40, 1);
    expect(second.stats.duplicates).toBe(1);
    // A message whose dataset does not exist has nowhere to land: it is kept, with the reason.
    const deadFiles = readdirSync(join(dir, 'dead-letter'));
    expect(deadFiles).toHaveLength(1);
    const dead = readFileSync(join(dir, 'dead-letter', deadFiles[0] as string), 'utf8')
      .trim()
      .split('\n');
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0] as string)).toMatchObject({ xactionId: 'x:gone', reason: expect.any(String) });
    // Consumed segments are gone; the active one stays.
    expect(log.segmentCount).toBe(1);
    expect(existsSync(join(dir, 'log', '00000000000000000000.log'))).toBe(false);
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lands by size before the time trigger, in micro-batches of at most batchRecords', async () => {
    const other = await createSchemaAndDataset(t, 'sized');
    const dir = mkdtempSync(join(tmpdir(), 'inflow-consumer-log-'));
    const log = await StreamLog.open(join(dir, 'log'));
    const consumer = new StreamConsumer(
      { log, dir, pipelines: () => t.server.services.pipelines, datasets: () => t.server.services.datasets },
      // A time trigger that would not fire during the test: only size can land these.
      { flushMs: 1000, batchRecords: 10 },
    );
    await consumer.start();
    const payloads = Array.from({ length: 25 }, (_, i) =>
      encodeEntry(
        {
          v: 1,
          inletId: 'b'.repeat(64),
          orgId: t.orgId,
          sandbox: 'prod',
          receivedTimeMs: Date.now(),
          body: 'one',
          xactionIds: [`s:${i}`],
          datasetIds: [other.datasetId],
        },
        Buffer.from(JSON.stringify(envelope(other.schemaId, other.datasetId, { _extconndev: { seq: i } }))),
      ),
    );
    await log.append(payloads);
    await consumer.idle();
    const { rows, batches } = await readDataset(dataDir, other.datasetId);
    expect(rows).toHaveLength(25);
    expect(batches).toBe(3);
    await consumer.stop();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
