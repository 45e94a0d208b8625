import { randomUUID } from 'node:crypto';
import { constants, readdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { mkdirDurable, syncDir } from '../durable-dirs.js';

/**
 * The streaming log: what "acknowledged" means. An append-only sequence of frames in segment
 * files under one directory; a frame is `u32 length | u32 crc32(payload) | payload` (big-endian).
 * Offsets are global byte positions: a segment is named by the offset of its first byte
 * (`00000000000000000000.log`), so an offset names one frame for the life of the log.
 *
 * Appends are group-committed: frames queue while a durable write is in flight, and the next
 * flush writes every queued frame with one `writev` (the payload pieces as they are, no copy) on
 * a file opened `O_DSYNC` (or a `writev` and an `fdatasync` where there is no `O_DSYNC`). An
 * append resolves only after its frame is synced, so concurrent requests share syncs instead of
 * each paying for one. `stats.fsyncs` counts these durable commits.
 */

const FRAME_HEADER = 8;
/** Longer frames are a torn or corrupt length, not a real one (requests are capped at 1 MB). */
const MAX_FRAME = 64 * 1024 * 1024;
const SEGMENT_SUFFIX = '.log';
/** Reads go in pieces of this size, so a stop condition met early does not read a whole backlog. */
const READ_CHUNK = 4 * 1024 * 1024;
const NAME_DIGITS = 20;

export interface StreamLogOptions {
  /** Roll to a new segment once the active one holds this many bytes. Default 64 MiB. */
  segmentBytes?: number;
  /**
   * Write zeros ahead of the data (see `PREALLOCATE`). Default false: on the disks measured
   * (bench/RESULTS.md, 2026-11-22) it did not shorten commits, and it doubles the bytes written.
   */
  preallocate?: boolean;
}

/** One frame read back: its payload and where it lies. */
export interface LogEntry {
  offset: number;
  /** The offset of the next frame. */
  end: number;
  payload: Buffer;
}

export interface LogStats {
  appends: number;
  fsyncs: number;
  bytes: number;
  segmentsRolled: number;
  /** Bytes cut from a torn tail when the log was opened (zeros written ahead not counted). */
  truncatedBytes: number;
  /** Where the torn tail began (the log's durable end on open), when one was cut. */
  truncatedAt?: number;
  /** The cut bytes, kept for inspection (`torn-{offset}.bin` in the log's folder). */
  truncatedFile?: string;
  /** Milliseconds spent writing and syncing (summed over commits): commit latency is this / fsyncs. */
  commitMs: number;
}

interface Segment {
  base: number;
  /** Bytes in the file (for the active segment: written and synced). */
  size: number;
}

/** A frame's payload: one buffer, or pieces written one after another (no copy to join them). */
export type Payload = Buffer | readonly Buffer[];

interface Waiter {
  /** Frame headers and payload pieces, in write order. */
  bufs: Buffer[];
  /** Each frame's length, header included. */
  lengths: number[];
  bytes: number;
  resolve: (offsets: number[]) => void;
  reject: (error: Error) => void;
}

/** Buffers per `writev` call: under every platform's IOV_MAX (1024 on Linux). */
const IOV_MAX = 512;
/**
 * With `preallocate`, the active segment is extended with zeros this far ahead of its data.
 * Overwriting blocks that are already allocated and written changes no metadata the data depends
 * on (size, extents), so a commit's durable write only flushes data and need not wait for a
 * filesystem journal commit; one commit in this many bytes pays for the extension.
 */
const PREALLOCATE = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
/**
 * On Linux the active segment is opened with `O_DSYNC`: each `writev` returns only once its data
 * is durable, as a `write` + `fdatasync` would, but in one thread-pool call. Two calls cost two
 * trips through the event loop between them, and on a busy loop those trips, not the disk, were
 * most of a commit's time (bench/RESULTS.md, 2026-11-22). Elsewhere (0) the commit writes, then
 * calls `fdatasync`: on macOS libuv's `fdatasync` is `F_FULLFSYNC`, which also flushes the
 * drive's cache, and an `O_DSYNC` write there would not; Windows has no `O_DSYNC`.
 */
const O_DSYNC = process.platform === 'linux' ? (constants.O_DSYNC ?? 0) : 0;

/** Thrown by `append` when the log cannot make the frame durable (disk full, I/O error). */
export class LogWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LogWriteError';
  }
}

/**
 * Thrown by reads when the log's bytes are not what was written: a frame that fails its CRC or
 * runs past its segment, an offset outside the log. Retrying cannot fix it; the consumer stops
 * with this error rather than skip acknowledged frames.
 */
export class LogCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogCorruptError';
  }
}

const SEGMENT_NAME = new RegExp(`^\\d{${NAME_DIGITS}}\\.log$`);

const segmentName = (base: number) => `${String(base).padStart(NAME_DIGITS, '0')}${SEGMENT_SUFFIX}`;

/** The 8-byte frame header of a payload given in pieces: its length and the CRC32 of all of it. */
function frameHeader(pieces: readonly Buffer[]): Buffer {
  let length = 0;
  let crc = 0;
  for (const piece of pieces) {
    length += piece.length;
    crc = crc32(piece, crc);
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER);
  out.writeUInt32BE(length, 0);
  out.writeUInt32BE(crc, 4);
  return out;
}

/** Encodes one frame around `payload` (tests and tools: appends write the pieces without joining them). */
export function frame(payload: Payload): Buffer {
  const pieces = Buffer.isBuffer(payload) ? [payload] : payload;
  return Buffer.concat([frameHeader(pieces), ...pieces]);
}

/** Writes every buffer, in order, from `position`: `writev` calls until all bytes are down. */
async function writevFully(handle: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let list = bufs;
  let pos = position;
  while (list.length > 0) {
    const { bytesWritten } = await handle.writev(list.length > IOV_MAX ? list.slice(0, IOV_MAX) : list, pos);
    if (bytesWritten <= 0) throw new Error('the write made no progress');
    pos += bytesWritten;
    let left = bytesWritten;
    let i = 0;
    while (i < list.length && left >= (list[i] as Buffer).length) {
      left -= (list[i] as Buffer).length;
      i++;
    }
    list = list.slice(i);
    if (left > 0) list[0] = (list[0] as Buffer).subarray(left);
  }
}

/** Reads `length` bytes at `position`, or fewer at the end of the file. */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** What the consumer needs of the log: whole frames up to the durable end, and dropping consumed segments. */
export interface ConsumableLog {
  readonly id: string;
  readonly durableEnd: number;
  readonly startOffset: number;
  onDurable(listener: (end: number) => void): () => void;
  read(from: number, maxBytes?: number, stop?: (entry: LogEntry) => boolean): Promise<LogEntry[]>;
  deleteBefore(offset: number): Promise<number>;
}

function segmentIndexOf(bases: readonly number[], offset: number): number {
  for (let i = bases.length - 1; i >= 0; i--) if ((bases[i] as number) <= offset) return i;
  return -1;
}

/**
 * Reading frames back, shared by the log itself and by `LogView` (the consumer's read-only view
 * from a worker thread). Segments are contiguous: one ends where the next begins, the last at the
 * durable end.
 */
abstract class FrameReader {
  protected readonly readHandles = new Map<number, FileHandle>();

  constructor(readonly dir: string) {}

  /** The offset up to which frames are synced: what readers may see. */
  abstract get durableEnd(): number;
  /** The segments' first offsets, ascending. */
  protected abstract bases(): readonly number[];

  /**
   * Reads whole frames from `from` (a frame offset) up to the durable end, stopping after about
   * `maxBytes` (always at least one frame) or when `stop(entry)` returns true after an entry.
   */
  async read(
    from: number,
    maxBytes = 8 * 1024 * 1024,
    stop?: (entry: LogEntry) => boolean,
  ): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    let pos = from;
    let taken = 0;
    while (pos < this.durableEnd && taken < maxBytes) {
      const bases = this.bases();
      const index = segmentIndexOf(bases, pos);
      if (index < 0) {
        throw new LogCorruptError(`offset ${pos} is not in the streaming log (it starts at ${bases[0]})`);
      }
      const base = bases[index] as number;
      const next = bases[index + 1];
      const segEnd = next ?? this.durableEnd;
      if (pos >= segEnd) {
        if (next === undefined) break;
        pos = next;
        continue;
      }
      const handle = await this.readHandle(base);
      const want = Math.min(segEnd - pos, Math.max(maxBytes - taken, FRAME_HEADER), READ_CHUNK);
      let buf = await readAt(handle, pos - base, want);
      let at = 0;
      while (at + FRAME_HEADER <= buf.length) {
        const length = buf.readUInt32BE(at);
        if (at + FRAME_HEADER + length > buf.length) {
          if (at > 0) break;
          // One frame longer than what was read: read exactly it.
          if (pos + FRAME_HEADER + length > segEnd) {
            throw new LogCorruptError(`the frame at ${pos} runs past its segment (${segmentName(base)})`);
          }
          buf = await readAt(handle, pos - base, FRAME_HEADER + length);
          continue;
        }
        const payload = buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
        if (crc32(payload) !== buf.readUInt32BE(at + 4)) {
          throw new LogCorruptError(`the frame at ${pos + at} fails its CRC (${segmentName(base)})`);
        }
        const entry = { offset: pos + at, end: pos + at + FRAME_HEADER + length, payload };
        out.push(entry);
        at += FRAME_HEADER + length;
        if (stop?.(entry)) return out;
      }
      if (at === 0) break;
      pos += at;
      taken += at;
    }
    return out;
  }

  protected async readHandle(base: number): Promise<FileHandle> {
    let handle = this.readHandles.get(base);
    if (!handle) {
      handle = await open(join(this.dir, segmentName(base)), 'r');
      this.readHandles.set(base, handle);
    }
    return handle;
  }

  protected async closeReadHandle(base: number): Promise<void> {
    const handle = this.readHandles.get(base);
    if (handle) {
      this.readHandles.delete(base);
      await handle.close();
    }
  }

  protected async closeReadHandles(): Promise<void> {
    for (const handle of this.readHandles.values()) await handle.close();
    this.readHandles.clear();
  }
}

export class StreamLog extends FrameReader implements ConsumableLog {
  /** A random id made when the log is created: consumers key their work by it. */
  readonly id: string;
  readonly stats: LogStats = {
    appends: 0,
    fsyncs: 0,
    bytes: 0,
    segmentsRolled: 0,
    truncatedBytes: 0,
    commitMs: 0,
  };
  private readonly segments: Segment[];
  private active: FileHandle;
  private readonly segmentBytes: number;
  private readonly preallocate: boolean;
  private queue: Waiter[] = [];
  private flushing = false;
  private closed = false;
  private broken: Error | undefined;
  private durable: number;
  /** Bytes in the active segment's file: its data, then zeros written ahead (`PREALLOCATE`). */
  private allocated: number;
  private readonly listeners = new Set<(end: number) => void>();
  /** Shared with a consumer thread: the durable end, a commit counter, a segment-list generation. */
  private shared: SharedLogState | undefined;
  /** See `plainHandle`. */
  private plain: { base: number; handle: FileHandle } | undefined;

  private constructor(
    dir: string,
    id: string,
    segments: Segment[],
    active: FileHandle,
    options: StreamLogOptions,
    torn: { bytes: number; at: number; file?: string },
  ) {
    super(dir);
    this.id = id;
    this.segments = segments;
    this.active = active;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.preallocate = options.preallocate ?? false;
    const last = segments[segments.length - 1] as Segment;
    this.durable = last.base + last.size;
    this.allocated = last.size;
    this.stats.truncatedBytes = torn.bytes;
    if (torn.bytes > 0) {
      this.stats.truncatedAt = torn.at;
      if (torn.file) this.stats.truncatedFile = torn.file;
    }
  }

  /**
   * Opens (or creates) the log in `dir`. A torn tail — a partial frame or one whose CRC does not
   * match, left by a crash mid-write — is cut off: nothing there was ever acknowledged. The cut
   * bytes are kept in `torn-{offset}.bin` and counted in `stats` (the caller logs them): if they
   * were ever anything but an unacknowledged tail, they are not gone.
   */
  static async open(dir: string, options: StreamLogOptions = {}): Promise<StreamLog> {
    await mkdirDurable(dir);
    const idFile = join(dir, 'log.id');
    let id: string;
    try {
      id = (await readFile(idFile, 'utf8')).trim();
      if (id === '') throw new Error(`${idFile} is empty`);
    } catch (error) {
      // Only a missing id means a new log: a new id for an existing log would make the consumer
      // land everything retained again, under new keys.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(
          `the streaming log id ${idFile} cannot be read (${(error as Error).message}): restore it, or move the log folder away to start a new log`,
          { cause: error },
        );
      }
      id = randomUUID();
      const tmp = `${idFile}.tmp`;
      const handle = await open(tmp, 'w', 0o600);
      await handle.writeFile(id);
      await handle.sync();
      await handle.close();
      await rename(tmp, idFile);
      await syncDir(dir);
    }
    const names = (await readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    const segments: Segment[] = [];
    for (const name of names) {
      segments.push({ base: Number(name.slice(0, NAME_DIGITS)), size: (await stat(join(dir, name))).size });
    }
    if (segments.length === 0) {
      segments.push({ base: 0, size: 0 });
      await (await open(join(dir, segmentName(0)), 'a', 0o600)).close();
      await syncDir(dir);
    }
    const last = segments[segments.length - 1] as Segment;
    const handle = await open(join(dir, segmentName(last.base)), constants.O_RDWR | O_DSYNC);
    const valid = await StreamLog.validLength(handle, last.size);
    const torn: { bytes: number; at: number; file?: string } = { bytes: 0, at: last.base + valid };
    if (last.size > valid) {
      // Zeros after the data were written ahead (preallocated); anything else is a torn tail.
      torn.bytes = (await StreamLog.nonZeroEnd(handle, valid, last.size)) - valid;
      if (torn.bytes > 0) torn.file = await StreamLog.keepTorn(dir, handle, valid, torn.bytes, torn.at);
      await handle.truncate(valid);
      await handle.sync();
      last.size = valid;
    }
    return new StreamLog(dir, id, segments, handle, options, torn);
  }

  /** Copies a torn tail aside before it is cut (at most one commit's bytes). Returns the file's path. */
  private static async keepTorn(
    dir: string,
    handle: FileHandle,
    from: number,
    bytes: number,
    offset: number,
  ): Promise<string> {
    const file = join(dir, `torn-${String(offset).padStart(NAME_DIGITS, '0')}.bin`);
    const out = await open(file, 'w', 0o600);
    try {
      for (let done = 0; done < bytes; done += ZEROS.length) {
        await out.write(await readAt(handle, from + done, Math.min(ZEROS.length, bytes - done)));
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await syncDir(dir);
    return file;
  }

  /** The end of the last byte that is not zero in `[from, size)`, or `from` when all are zero. */
  private static async nonZeroEnd(handle: FileHandle, from: number, size: number): Promise<number> {
    let end = from;
    for (let pos = from; pos < size; pos += ZEROS.length) {
      const buf = await readAt(handle, pos, Math.min(ZEROS.length, size - pos));
      for (let i = buf.length - 1; i >= 0; i--) {
        if (buf[i] !== 0) {
          end = pos + i + 1;
          break;
        }
      }
    }
    return end;
  }

  /** The length of the run of whole, CRC-valid frames at the start of a segment. */
  private static async validLength(handle: FileHandle, size: number): Promise<number> {
    const chunk = 4 * 1024 * 1024;
    let pos = 0;
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    while (pos < size) {
      const need = async (n: number) => {
        if (pos - bufStart + n <= buf.length) return true;
        const want = Math.max(n, chunk);
        buf = await readAt(handle, pos, Math.min(want, size - pos));
        bufStart = pos;
        return buf.length >= n;
      };
      if (!(await need(FRAME_HEADER))) return pos;
      const at = pos - bufStart;
      const length = buf.readUInt32BE(at);
      const crc = buf.readUInt32BE(at + 4);
      if (length === 0 || length > MAX_FRAME || !(await need(FRAME_HEADER + length))) return pos;
      const start = pos - bufStart + FRAME_HEADER;
      if (crc32(buf.subarray(start, start + length)) !== crc) return pos;
      pos += FRAME_HEADER + length;
    }
    return pos;
  }

  get durableEnd(): number {
    return this.durable;
  }

  protected bases(): readonly number[] {
    return this.segments.map((s) => s.base);
  }

  /**
   * Memory shared with a reader in another thread (`LogView`): the log publishes its durable end
   * there after each commit and wakes the reader with `Atomics.notify`, no message per commit.
   */
  share(): SharedArrayBuffer {
    if (!this.shared) {
      this.shared = new SharedLogState(new SharedArrayBuffer(SHARED_BYTES));
      this.shared.publish(this.durable);
    }
    return this.shared.buffer;
  }

  /** The offset of the oldest frame still kept. */
  get startOffset(): number {
    return (this.segments[0] as Segment).base;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Calls `listener(durableEnd)` after each group commit. Returns the unsubscribe function. */
  onDurable(listener: (end: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Appends payloads as consecutive frames; resolves with the offset of each once all are synced.
   * Rejects with `LogWriteError` when they could not be made durable: the caller must not ack.
   */
  append(payloads: readonly Payload[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new LogWriteError('the streaming log is closed'));
    if (this.broken) return Promise.reject(this.broken);
    const bufs: Buffer[] = [];
    const lengths: number[] = [];
    let bytes = 0;
    for (const payload of payloads) {
      const pieces = Buffer.isBuffer(payload) ? [payload] : payload;
      const header = frameHeader(pieces);
      const length = header.readUInt32BE(0);
      // A zero length is what unwritten (zeroed) space reads as: never a frame.
      if (length === 0) return Promise.reject(new Error('a streaming log frame cannot be empty'));
      bufs.push(header);
      for (const piece of pieces) if (piece.length > 0) bufs.push(piece);
      lengths.push(FRAME_HEADER + length);
      bytes += FRAME_HEADER + length;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ bufs, lengths, bytes, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        if (this.broken) {
          for (const w of batch) w.reject(this.broken);
          continue;
        }
        await this.commit(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async commit(batch: Waiter[]): Promise<void> {
    let seg = this.segments[this.segments.length - 1] as Segment;
    try {
      if (seg.size >= this.segmentBytes) seg = await this.roll(seg);
    } catch (error) {
      const failure = new LogWriteError('could not start a new streaming log segment', { cause: error });
      for (const w of batch) w.reject(failure);
      return;
    }
    const start = seg.base + seg.size;
    const offsets: number[][] = [];
    let at = start;
    const bufs: Buffer[] = [];
    for (const w of batch) {
      const mine: number[] = [];
      for (const length of w.lengths) {
        mine.push(at);
        at += length;
      }
      offsets.push(mine);
      for (const b of w.bufs) bufs.push(b);
    }
    const written = at - start;
    // Out of written-ahead space: extend by `PREALLOCATE` in the same write (this commit's
    // fdatasync then records the new size, once).
    const end = seg.size + written;
    let allocated = this.allocated;
    if (end > allocated) {
      allocated = end + (this.preallocate ? Math.min(PREALLOCATE, this.segmentBytes) : 0);
      for (let left = allocated - end; left > 0; left -= ZEROS.length) {
        bufs.push(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
      }
    }
    const began = performance.now();
    try {
      if (O_DSYNC === 0) {
        await writevFully(this.active, bufs, seg.size);
        await this.active.datasync();
      } else if (bufs.length <= IOV_MAX) {
        await writevFully(this.active, bufs, seg.size);
      } else {
        // More buffers than one `writev` takes: each `O_DSYNC` call would be a flush of its own,
        // so a commit this large writes through a plain handle and syncs once.
        const plain = await this.plainHandle(seg);
        await writevFully(plain, bufs, seg.size);
        await plain.datasync();
      }
      this.stats.commitMs += performance.now() - began;
    } catch (error) {
      const failure = new LogWriteError('the streaming log could not write durably', { cause: error });
      // Cut what may have been written: later frames must follow the last durable one.
      try {
        await this.active.truncate(seg.size);
        await this.active.datasync();
        this.allocated = seg.size;
      } catch (truncateError) {
        this.broken = new LogWriteError('the streaming log is unusable after a failed write', {
          cause: truncateError,
        });
      }
      for (const w of batch) w.reject(failure);
      return;
    }
    seg.size += written;
    this.allocated = allocated;
    this.durable = seg.base + seg.size;
    this.stats.fsyncs++;
    this.stats.appends += batch.length;
    this.stats.bytes += written;
    batch.forEach((w, i) => {
      w.resolve(offsets[i] as number[]);
    });
    this.shared?.publish(this.durable);
    for (const listener of this.listeners) listener(this.durable);
  }

  /** The active segment opened without `O_DSYNC`, for commits of more than `IOV_MAX` buffers. */
  private async plainHandle(seg: Segment): Promise<FileHandle> {
    if (this.plain?.base !== seg.base) {
      await this.plain?.handle.close();
      this.plain = {
        base: seg.base,
        handle: await open(join(this.dir, segmentName(seg.base)), constants.O_WRONLY),
      };
    }
    return this.plain.handle;
  }

  private async roll(current: Segment): Promise<Segment> {
    const base = current.base + current.size;
    // A segment that is not the last one ends exactly at its data: the zeros written ahead go
    // before the next segment exists (so on open only the last segment can hold any).
    if (this.allocated > current.size) {
      await this.active.truncate(current.size);
      await this.active.datasync();
      this.allocated = current.size;
    }
    const handle = await open(
      join(this.dir, segmentName(base)),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_DSYNC,
      0o600,
    );
    await syncDir(this.dir);
    const previous = this.active;
    this.active = handle;
    const seg = { base, size: 0 };
    this.allocated = 0;
    this.segments.push(seg);
    this.stats.segmentsRolled++;
    this.shared?.segmentsChanged();
    await previous.close();
    await this.plain?.handle.close();
    this.plain = undefined;
    return seg;
  }

  /** Deletes whole segments that lie before `offset` (consumed); never the active one. */
  async deleteBefore(offset: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1) {
      const first = this.segments[0] as Segment;
      const next = this.segments[1] as Segment;
      if (next.base > offset) break;
      await this.closeReadHandle(first.base);
      await unlink(join(this.dir, segmentName(first.base)));
      this.segments.shift();
      removed++;
    }
    if (removed > 0) this.shared?.segmentsChanged();
    if (removed > 0) await syncDir(this.dir);
    return removed;
  }

  /** Waits for queued appends, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
    await this.closeReadHandles();
    const last = this.segments[this.segments.length - 1] as Segment;
    if (!this.broken && this.allocated > last.size) {
      // A clean shutdown leaves the segment at its data's length.
      await this.active.truncate(last.size).catch(() => undefined);
    }
    await this.active.close();
    await this.plain?.handle.close();
    this.plain = undefined;
  }
}

const SHARED_BYTES = 16;

/** A `LogView` tells its listeners of new commits at most once per this many ms. */
const WATCH_COALESCE_MS = 20;

/** `Atomics.waitAsync` (V8, every supported Node) is in TypeScript's ES2024 lib only. */
interface AtomicsWaitAsync {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeout: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
}

/** The log's state as shared between threads: `[durableEnd: i64][commits: i32][segmentGeneration: i32]`. */
export class SharedLogState {
  private readonly end: BigInt64Array;
  private readonly counters: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.end = new BigInt64Array(buffer, 0, 1);
    this.counters = new Int32Array(buffer, 8, 2);
  }

  get durableEnd(): number {
    return Number(Atomics.load(this.end, 0));
  }

  get commits(): number {
    return Atomics.load(this.counters, 0);
  }

  get segmentGeneration(): number {
    return Atomics.load(this.counters, 1);
  }

  publish(end: number): void {
    Atomics.store(this.end, 0, BigInt(end));
    Atomics.add(this.counters, 0, 1);
    Atomics.notify(this.counters, 0);
  }

  segmentsChanged(): void {
    Atomics.add(this.counters, 1, 1);
  }

  /** Resolves once a commit after `seen` is published, or after `ms`. */
  async waitForCommit(seen: number, ms: number): Promise<void> {
    const waited = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.counters, 0, seen, ms);
    if (waited.async) await waited.value;
  }
}

/**
 * A read-only view of a log that another thread appends to: the consumer's, in its worker. The
 * durable end comes from the shared state; the segment list is read from the directory again
 * whenever the log rolled or deleted a segment. Deleting is the log's job: `deleteBefore` only
 * closes this view's files and asks `requestDelete` (the owning thread) to do it.
 */
export class LogView extends FrameReader implements ConsumableLog {
  private segmentBases: number[] = [];
  private generation = -1;
  private readonly listeners = new Set<(end: number) => void>();
  private watching = false;
  private closed = false;

  constructor(
    dir: string,
    readonly id: string,
    private readonly state: SharedLogState,
    private readonly requestDelete: (offset: number) => void,
  ) {
    super(dir);
  }

  get durableEnd(): number {
    return this.state.durableEnd;
  }

  get startOffset(): number {
    return this.bases()[0] ?? 0;
  }

  protected bases(): readonly number[] {
    const generation = this.state.segmentGeneration;
    if (generation !== this.generation) {
      this.generation = generation;
      this.segmentBases = readdirSync(this.dir)
        .filter((n) => SEGMENT_NAME.test(n))
        .sort()
        .map((n) => Number(n.slice(0, NAME_DIGITS)));
    }
    return this.segmentBases;
  }

  onDurable(listener: (end: number) => void): () => void {
    this.listeners.add(listener);
    if (!this.watching) {
      this.watching = true;
      void this.watch();
    }
    return () => this.listeners.delete(listener);
  }

  private async watch(): Promise<void> {
    let seen = this.state.commits;
    while (!this.closed && this.listeners.size > 0) {
      await this.state.waitForCommit(seen, 1000);
      const now = this.state.commits;
      if (now === seen) continue;
      seen = now;
      const end = this.durableEnd;
      for (const listener of this.listeners) listener(end);
      // Commits in the next few ms are told together: under load the log commits hundreds of
      // times a second, and this thread woke for each one (now a third as often, decision 0011).
      await new Promise((resolve) => setTimeout(resolve, WATCH_COALESCE_MS));
    }
    this.watching = false;
  }

  async deleteBefore(offset: number): Promise<number> {
    const bases = this.bases();
    for (let i = 0; i + 1 < bases.length && (bases[i + 1] as number) <= offset; i++) {
      await this.closeReadHandle(bases[i] as number);
    }
    this.requestDelete(offset);
    return 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.closeReadHandles();
  }
}
