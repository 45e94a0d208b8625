import { randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * The streaming log: what "acknowledged" means. An append-only sequence of frames in segment
 * files under one directory; a frame is `u32 length | u32 crc32(payload) | payload` (big-endian).
 * Offsets are global byte positions: a segment is named by the offset of its first byte
 * (`00000000000000000000.log`), so an offset names one frame for the life of the log.
 *
 * Appends are group-committed: frames queue while a write + `fdatasync` is in flight, and the
 * next flush writes every queued frame in one write and one `fdatasync`. An append resolves only
 * after its frame is synced, so concurrent requests share fsyncs instead of each paying for one.
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
  /** Bytes cut from a torn tail when the log was opened. */
  truncatedBytes: number;
}

interface Segment {
  base: number;
  /** Bytes in the file (for the active segment: written and synced). */
  size: number;
}

interface Waiter {
  frames: Buffer[];
  bytes: number;
  resolve: (offsets: number[]) => void;
  reject: (error: Error) => void;
}

/** Thrown by `append` when the log cannot make the frame durable (disk full, I/O error). */
export class LogWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LogWriteError';
  }
}

const segmentName = (base: number) => `${String(base).padStart(NAME_DIGITS, '0')}${SEGMENT_SUFFIX}`;

/** Encodes one frame around `payload`. */
export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, FRAME_HEADER);
  return out;
}

/** Syncs a directory so that a file created, renamed or removed in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('the write made no progress');
    done += bytesWritten;
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

export class StreamLog {
  /** A random id made when the log is created: consumers key their work by it. */
  readonly id: string;
  readonly stats: LogStats = { appends: 0, fsyncs: 0, bytes: 0, segmentsRolled: 0, truncatedBytes: 0 };
  private readonly segments: Segment[];
  private active: FileHandle;
  private readonly segmentBytes: number;
  private queue: Waiter[] = [];
  private flushing = false;
  private closed = false;
  private broken: Error | undefined;
  private durable: number;
  private readonly listeners = new Set<(end: number) => void>();
  private readonly readHandles = new Map<number, FileHandle>();

  private constructor(
    readonly dir: string,
    id: string,
    segments: Segment[],
    active: FileHandle,
    options: StreamLogOptions,
    truncated: number,
  ) {
    this.id = id;
    this.segments = segments;
    this.active = active;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    const last = segments[segments.length - 1] as Segment;
    this.durable = last.base + last.size;
    this.stats.truncatedBytes = truncated;
  }

  /**
   * Opens (or creates) the log in `dir`. A torn tail — a partial frame or one whose CRC does not
   * match, left by a crash mid-write — is cut off: nothing there was ever acknowledged.
   */
  static async open(dir: string, options: StreamLogOptions = {}): Promise<StreamLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const idFile = join(dir, 'log.id');
    let id: string;
    try {
      id = (await readFile(idFile, 'utf8')).trim();
    } catch {
      id = randomUUID();
      const tmp = `${idFile}.tmp`;
      const handle = await open(tmp, 'w', 0o600);
      await handle.writeFile(id);
      await handle.sync();
      await handle.close();
      await rename(tmp, idFile);
      await syncDir(dir);
    }
    const names = (await readdir(dir))
      .filter((n) => new RegExp(`^\\d{${NAME_DIGITS}}\\.log$`).test(n))
      .sort();
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
    const handle = await open(join(dir, segmentName(last.base)), 'r+');
    const valid = await StreamLog.validLength(handle, last.size);
    const truncated = last.size - valid;
    if (truncated > 0) {
      await handle.truncate(valid);
      await handle.sync();
      last.size = valid;
    }
    return new StreamLog(dir, id, segments, handle, options, truncated);
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
      if (length > MAX_FRAME || !(await need(FRAME_HEADER + length))) return pos;
      const start = pos - bufStart + FRAME_HEADER;
      if (crc32(buf.subarray(start, start + length)) !== crc) return pos;
      pos += FRAME_HEADER + length;
    }
    return pos;
  }

  /** The offset up to which frames are synced: what readers may see. */
  get durableEnd(): number {
    return this.durable;
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
  append(payloads: readonly Buffer[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new LogWriteError('the streaming log is closed'));
    if (this.broken) return Promise.reject(this.broken);
    const frames = payloads.map(frame);
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    return new Promise((resolve, reject) => {
      this.queue.push({ frames, bytes, resolve, reject });
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
    for (const w of batch) {
      const mine: number[] = [];
      for (const f of w.frames) {
        mine.push(at);
        at += f.length;
      }
      offsets.push(mine);
    }
    const data = Buffer.concat(batch.flatMap((w) => w.frames));
    try {
      await writeFully(this.active, data, seg.size);
      await this.active.datasync();
    } catch (error) {
      const failure = new LogWriteError('the streaming log could not write durably', { cause: error });
      // Cut what may have been written: later frames must follow the last durable one.
      try {
        await this.active.truncate(seg.size);
        await this.active.datasync();
      } catch (truncateError) {
        this.broken = new LogWriteError('the streaming log is unusable after a failed write', {
          cause: truncateError,
        });
      }
      for (const w of batch) w.reject(failure);
      return;
    }
    seg.size += data.length;
    this.durable = seg.base + seg.size;
    this.stats.fsyncs++;
    this.stats.appends += batch.length;
    this.stats.bytes += data.length;
    batch.forEach((w, i) => {
      w.resolve(offsets[i] as number[]);
    });
    for (const listener of this.listeners) listener(this.durable);
  }

  private async roll(current: Segment): Promise<Segment> {
    const base = current.base + current.size;
    const handle = await open(join(this.dir, segmentName(base)), 'wx', 0o600);
    await syncDir(this.dir);
    const previous = this.active;
    this.active = handle;
    const seg = { base, size: 0 };
    this.segments.push(seg);
    this.stats.segmentsRolled++;
    await previous.close();
    return seg;
  }

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
    while (pos < this.durable && taken < maxBytes) {
      const index = this.segmentIndexOf(pos);
      if (index < 0)
        throw new Error(`offset ${pos} is not in the streaming log (it starts at ${this.startOffset})`);
      const seg = this.segments[index] as Segment;
      const segEnd = index === this.segments.length - 1 ? this.durable : seg.base + seg.size;
      if (pos >= segEnd) {
        const next = this.segments[index + 1];
        if (!next) break;
        pos = next.base;
        continue;
      }
      const handle = await this.readHandle(seg.base);
      const want = Math.min(segEnd - pos, Math.max(maxBytes - taken, FRAME_HEADER), READ_CHUNK);
      let buf = await readAt(handle, pos - seg.base, want);
      let at = 0;
      while (at + FRAME_HEADER <= buf.length) {
        const length = buf.readUInt32BE(at);
        if (at + FRAME_HEADER + length > buf.length) {
          if (at > 0) break;
          // One frame longer than what was read: read exactly it.
          if (pos + FRAME_HEADER + length > segEnd) throw new Error(`frame at ${pos} runs past its segment`);
          buf = await readAt(handle, pos - seg.base, FRAME_HEADER + length);
          continue;
        }
        const payload = buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
        if (crc32(payload) !== buf.readUInt32BE(at + 4))
          throw new Error(`frame at ${pos + at} fails its CRC`);
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

  private segmentIndexOf(offset: number): number {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      if ((this.segments[i] as Segment).base <= offset) return i;
    }
    return -1;
  }

  private async readHandle(base: number): Promise<FileHandle> {
    let handle = this.readHandles.get(base);
    if (!handle) {
      handle = await open(join(this.dir, segmentName(base)), 'r');
      this.readHandles.set(base, handle);
    }
    return handle;
  }

  /** Deletes whole segments that lie before `offset` (consumed); never the active one. */
  async deleteBefore(offset: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1) {
      const first = this.segments[0] as Segment;
      const next = this.segments[1] as Segment;
      if (next.base > offset) break;
      const handle = this.readHandles.get(first.base);
      if (handle) {
        this.readHandles.delete(first.base);
        await handle.close();
      }
      await unlink(join(this.dir, segmentName(first.base)));
      this.segments.shift();
      removed++;
    }
    if (removed > 0) await syncDir(this.dir);
    return removed;
  }

  /** Waits for queued appends, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
    for (const handle of this.readHandles.values()) await handle.close();
    this.readHandles.clear();
    await this.active.close();
  }
}
