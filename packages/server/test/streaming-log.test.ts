import {
  appendFileSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { frame, LogView, SharedLogState, StreamLog } from '../src/streaming/log.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'inflow-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const payload = (i: number, size = 100) => Buffer.from(`${String(i).padStart(8, '0')}:${'x'.repeat(size)}`);
const segmentFiles = () =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort();

describe('StreamLog', () => {
  it('group-commits concurrent appends: many appends share one fdatasync', async () => {
    const log = await StreamLog.open(dir);
    const n = 500;
    const offsets = await Promise.all(Array.from({ length: n }, (_, i) => log.append([payload(i)])));
    expect(log.stats.appends).toBe(n);
    expect(log.stats.fsyncs).toBeGreaterThan(0);
    expect(log.stats.fsyncs).toBeLessThan(n / 5);
    const entries = await log.read(log.startOffset, Number.POSITIVE_INFINITY);
    expect(entries).toHaveLength(n);
    expect(entries.map((e) => e.offset)).toEqual(offsets.map((o) => o[0]));
    expect(entries.map((e) => e.payload.toString())).toEqual(
      Array.from({ length: n }, (_, i) => payload(i).toString()),
    );
    await log.close();
  });

  // Linux only opens segments O_DSYNC (elsewhere the commit writes, then calls fdatasync: macOS's
  // is F_FULLFSYNC, which an O_DSYNC write is not). Both branches assert what that platform does.
  const dsync = process.platform === 'linux' && constants.O_DSYNC !== undefined;
  const handleOf = (log: StreamLog) => (log as unknown as { active: FileHandle }).active;
  const flagsOf = (fd: number) =>
    Number.parseInt(
      /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '',
      8,
    );

  it('commits with one durable write: segments are opened O_DSYNC on Linux, with no fdatasync per commit', async () => {
    // Small segments, so a rolled (newly created) segment is checked as well as the reopened one.
    const log = await StreamLog.open(dir, { segmentBytes: 4096 });
    const datasync = vi.spyOn(Object.getPrototypeOf(handleOf(log)) as FileHandle, 'datasync');
    try {
      const first = handleOf(log).fd;
      for (let i = 0; i < 60; i++) await log.append([payload(i)]);
      expect(log.stats.segmentsRolled).toBeGreaterThan(0);
      expect(handleOf(log).fd).not.toBe(first);
      expect(log.stats.fsyncs).toBe(60);
      if (dsync) {
        expect(datasync).not.toHaveBeenCalled();
        expect(flagsOf(handleOf(log).fd) & constants.O_DSYNC).toBe(constants.O_DSYNC);
      } else {
        // Every commit syncs after its write.
        expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(60);
      }
    } finally {
      datasync.mockRestore();
    }
    await log.close();
    const again = await StreamLog.open(dir);
    const entries = await again.read(again.startOffset, Number.POSITIVE_INFINITY);
    expect(entries.map((e) => e.payload.toString())).toEqual(
      Array.from({ length: 60 }, (_, i) => payload(i).toString()),
    );
    // The reopened last segment is written the same way.
    if (dsync) expect(flagsOf(handleOf(again).fd) & constants.O_DSYNC).toBe(constants.O_DSYNC);
    await again.close();
  });

  it('writes a commit of more buffers than one writev takes through a plain handle, synced once', async () => {
    const log = await StreamLog.open(dir);
    const proto = Object.getPrototypeOf(handleOf(log)) as FileHandle;
    const datasync = vi.spyOn(proto, 'datasync');
    const writev = vi.spyOn(proto, 'writev');
    const n = 700;
    let offsets: number[][];
    try {
      // The first append commits alone; the other 699 queue behind it and commit together: two
      // buffers each (frame header, payload), well past the 512 one writev takes.
      offsets = await Promise.all(Array.from({ length: n }, (_, i) => log.append([payload(i, 20)])));
      expect(log.stats.fsyncs).toBe(2);
      if (dsync) {
        // The single append: one O_DSYNC writev, no sync. The big commit: its writevs, one sync.
        expect(datasync).toHaveBeenCalledTimes(1);
        expect(writev.mock.calls.length).toBeGreaterThanOrEqual(3);
      } else {
        expect(datasync).toHaveBeenCalledTimes(2);
      }
    } finally {
      datasync.mockRestore();
      writev.mockRestore();
    }
    const entries = await log.read(log.startOffset, Number.POSITIVE_INFINITY);
    expect(entries.map((e) => e.offset)).toEqual(offsets.map((o) => o[0]));
    expect(entries.map((e) => e.payload.toString())).toEqual(
      Array.from({ length: n }, (_, i) => payload(i, 20).toString()),
    );
    await log.close();
  });

  it('resolves an append only once its frame is on disk, and reopens with every acked frame', async () => {
    const log = await StreamLog.open(dir, { preallocate: true });
    const [offset] = await log.append([Buffer.from('{"a":1}')]);
    expect(log.durableEnd).toBe((offset as number) + 8 + 7);
    // The file holds the frame, then zeros written ahead of the data (preallocation).
    const file = join(dir, segmentFiles()[0] as string);
    expect(statSync(file).size).toBeGreaterThan(log.durableEnd);
    expect(
      readFileSync(file)
        .subarray(log.durableEnd)
        .every((b) => b === 0),
    ).toBe(true);
    await log.close();
    // A clean close leaves the segment at its data's length.
    expect(statSync(file).size).toBe(log.durableEnd);
    const again = await StreamLog.open(dir);
    expect(again.id).toBe(log.id);
    expect((await again.read(0)).map((e) => e.payload.toString())).toEqual(['{"a":1}']);
    await again.close();
  });

  it('cuts a torn tail (a partial frame) on open and keeps appending after the last whole frame', async () => {
    const log = await StreamLog.open(dir);
    await log.append([payload(1), payload(2)]);
    const end = log.durableEnd;
    await log.close();
    const file = join(dir, segmentFiles()[0] as string);
    appendFileSync(file, frame(payload(3)).subarray(0, 50));
    const reopened = await StreamLog.open(dir);
    expect(reopened.stats.truncatedBytes).toBe(50);
    expect(reopened.durableEnd).toBe(end);
    expect(statSync(file).size).toBe(end);
    await reopened.append([payload(4)]);
    expect((await reopened.read(0)).map((e) => e.payload.toString())).toEqual(
      [1, 2, 4].map((i) => payload(i).toString()),
    );
    await reopened.close();
  });

  it('cuts a tail frame whose CRC does not match, and a length that is garbage', async () => {
    const log = await StreamLog.open(dir);
    await log.append([payload(1)]);
    const end = log.durableEnd;
    await log.close();
    const file = join(dir, segmentFiles()[0] as string);
    const bad = frame(payload(2));
    bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1);
    appendFileSync(file, bad);
    let reopened = await StreamLog.open(dir);
    expect(reopened.durableEnd).toBe(end);
    await reopened.close();
    appendFileSync(file, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3]));
    reopened = await StreamLog.open(dir);
    expect(reopened.durableEnd).toBe(end);
    expect((await reopened.read(0)).map((e) => e.payload.toString())).toEqual([payload(1).toString()]);
    await reopened.close();
  });

  it('rolls segments by size, reads across them, and deletes consumed ones (never the active one)', async () => {
    const log = await StreamLog.open(dir, { segmentBytes: 1000 });
    for (let i = 0; i < 30; i++) await log.append([payload(i)]);
    expect(log.stats.segmentsRolled).toBeGreaterThan(2);
    expect(segmentFiles().length).toBe(log.segmentCount);
    const all = await log.read(0, Number.POSITIVE_INFINITY);
    expect(all.map((e) => e.payload.toString())).toEqual(
      Array.from({ length: 30 }, (_, i) => payload(i).toString()),
    );
    // Reading from the middle, with a small budget, still yields whole frames in order.
    const middle = all[13] as { offset: number };
    const some = await log.read(middle.offset, 300);
    expect(some[0]?.payload.toString()).toBe(payload(13).toString());
    const stopAt = await log.read(0, Number.POSITIVE_INFINITY, (e) => e.offset >= middle.offset);
    expect(stopAt).toHaveLength(14);

    const before = log.segmentCount;
    const removed = await log.deleteBefore(middle.offset);
    expect(removed).toBeGreaterThan(0);
    expect(log.segmentCount).toBe(before - removed);
    expect(log.startOffset).toBeLessThanOrEqual(middle.offset);
    expect((await log.read(middle.offset, 200))[0]?.payload.toString()).toBe(payload(13).toString());
    await log.deleteBefore(log.durableEnd);
    expect(log.segmentCount).toBe(1);
    await log.close();

    const reopened = await StreamLog.open(dir, { segmentBytes: 1000 });
    expect(reopened.durableEnd).toBe(all.at(-1)?.end);
    await reopened.close();
  });

  it('writes zeros ahead of the data; after a kill they are not frames, and a torn frame before them is cut', async () => {
    const log = await StreamLog.open(dir, { preallocate: true });
    await log.append([payload(1)]);
    await log.append([payload(2), [Buffer.from('pie'), Buffer.from('ces')]]);
    const end = log.durableEnd;
    const file = join(dir, segmentFiles()[0] as string);
    const afterKill = readFileSync(file);
    expect(afterKill.length).toBeGreaterThan(end);
    // What a kill -9 leaves: the file with its zeros, and half of a frame written into them.
    writeFileSync(`${file}.killed`, afterKill);
    await log.close();
    const torn = frame(payload(3)).subarray(0, 30);
    const image = readFileSync(`${file}.killed`);
    torn.copy(image, end);
    writeFileSync(file, image);
    rmSync(`${file}.killed`);
    const reopened = await StreamLog.open(dir, { preallocate: true });
    expect(reopened.durableEnd).toBe(end);
    expect(reopened.stats.truncatedBytes).toBe(30);
    expect(statSync(file).size).toBe(end);
    expect((await reopened.read(0)).map((e) => e.payload.toString())).toEqual([
      payload(1).toString(),
      payload(2).toString(),
      'pieces',
    ]);
    await reopened.close();
    // Only zeros after the data: nothing was torn.
    appendFileSync(file, Buffer.alloc(5000));
    const clean = await StreamLog.open(dir);
    expect(clean.stats.truncatedBytes).toBe(0);
    expect(clean.durableEnd).toBe(end);
    await clean.close();
    await expect(log.append([Buffer.alloc(0)])).rejects.toThrow();
  });

  it('is read from another thread through a LogView: the durable end and commits come through shared memory', async () => {
    const log = await StreamLog.open(dir, { segmentBytes: 1000 });
    const deletes: number[] = [];
    const view = new LogView(dir, log.id, new SharedLogState(log.share()), (offset) => deletes.push(offset));
    const ends: number[] = [];
    const stop = view.onDurable((end) => ends.push(end));
    for (let i = 0; i < 20; i++) await log.append([payload(i)]);
    expect(log.stats.segmentsRolled).toBeGreaterThan(0);
    expect(view.durableEnd).toBe(log.durableEnd);
    const entries = await view.read(view.startOffset, Number.POSITIVE_INFINITY);
    expect(entries.map((e) => e.payload.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => payload(i).toString()),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(ends.at(-1)).toBe(log.durableEnd);
    // The view never deletes: it asks the log's owner.
    const middle = (entries[10] as { offset: number }).offset;
    await view.deleteBefore(middle);
    expect(deletes).toEqual([middle]);
    expect(segmentFiles().length).toBe(log.segmentCount);
    await log.deleteBefore(middle);
    expect((await view.read(middle, 300))[0]?.payload.toString()).toBe(payload(10).toString());
    stop();
    await view.close();
    await log.close();
  });

  it('refuses appends after close, and a log id file that is kept', async () => {
    writeFileSync(join(dir, 'log.id'), 'fixed-id\n');
    const log = await StreamLog.open(dir);
    expect(log.id).toBe('fixed-id');
    await log.close();
    await expect(log.append([payload(1)])).rejects.toThrow(/closed/);
  });
});
