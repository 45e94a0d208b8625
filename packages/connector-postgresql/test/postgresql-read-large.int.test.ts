import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { postgresqlConnector, READ_BATCH_SIZE } from '@inflow/connector-postgresql';
import { beforeAll, expect, it } from 'vitest';
import { credentials, sql } from './pg-fixture.js';

const ROWS = 1_000_000;
const MB = 1024 * 1024;

/** A full garbage collection, to tell memory the read holds from garbage not yet collected. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

beforeAll(async () => {
  await sql(`
    DROP SCHEMA IF EXISTS it_large CASCADE;
    CREATE SCHEMA it_large;
    CREATE TABLE it_large.events (
      id bigint PRIMARY KEY, kind text, amount numeric(12,2), at timestamptz, payload jsonb, tags text[]
    );
    INSERT INTO it_large.events
      SELECT g, 'kind-' || (g % 17), (g % 100000) / 100.0,
             TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 second',
             jsonb_build_object('n', g, 'label', 'event number ' || g), ARRAY['a', 'b' || (g % 5)]
        FROM generate_series(1, ${ROWS}) g;
    ANALYZE it_large.events;
  `);
}, 120_000);

it(`reads ${ROWS.toLocaleString('en')} rows with bounded memory`, async () => {
  const read = postgresqlConnector.read;
  if (!read) throw new Error('no read verb');
  collectGarbage();
  const before = process.memoryUsage();
  const live: number[] = [];
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  let count = 0;
  let lastId = 0;
  let ordered = true;
  let batches = 0;
  // The live heap is measured after 100k and after 900k rows.
  const probes = [100_000 / READ_BATCH_SIZE, 900_000 / READ_BATCH_SIZE];
  const started = performance.now();
  for await (const batch of read({
    credentials: credentials(),
    params: { tableName: 'it_large.events' },
    state: undefined,
  })) {
    batches++;
    for (const record of batch.records) {
      const id = record.id as number;
      if (id !== lastId + 1) ordered = false;
      lastId = id;
    }
    count += batch.records.length;
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
    if (probes.includes(batches)) {
      collectGarbage();
      live.push((process.memoryUsage().heapUsed - before.heapUsed) / MB);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const rssGrowth = (peakRss - before.rss) / MB;
  const heapGrowth = (peakHeap - before.heapUsed) / MB;
  console.log(
    `1M-row read: ${count} rows in ${batches} batches, ${seconds.toFixed(1)} s (${Math.round(count / seconds)} rows/s); ` +
      `peak growth while reading: RSS ${rssGrowth.toFixed(0)} MB, heap ${heapGrowth.toFixed(0)} MB; ` +
      `live heap after 100k / 900k rows: ${live.map((m) => `${m.toFixed(0)} MB`).join(' / ')}`,
  );
  expect(count).toBe(ROWS);
  expect(batches).toBe(ROWS / READ_BATCH_SIZE + 1);
  expect(ordered).toBe(true);
  // What the read holds (two batches: the one delivered, the one being fetched) does not grow with
  // the rows read: the same after 900k rows as after 100k.
  const [early = 0, late = 0] = live;
  expect(early).toBeLessThan(64);
  expect(late - early).toBeLessThan(20);
  // The peaks add garbage V8 has not collected yet (150-190 MB here); holding the table's
  // records instead takes about 650 MB more RSS.
  expect(rssGrowth).toBeLessThan(300);
  expect(heapGrowth).toBeLessThan(300);
});
