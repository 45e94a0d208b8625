import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { DatasetSchemas } from '../datasets/dataset-schema.js';
import { FlowPipelines } from '../datasets/pipeline.js';
import { DatasetLake } from '../datasets/writer.js';
import type { Services } from '../services.js';
import type { ResourceStore } from '../store/resources.js';
import { type ConsumerOptions, type ConsumerStats, emptyConsumerStats, StreamConsumer } from './consumer.js';
import { LogView, SharedLogState, type StreamLog } from './log.js';

/**
 * The consumer in a worker thread, so that landing (decoding the log, mapping, validation,
 * Parquet encoding, its fsyncs) does not share the event loop that acknowledges requests.
 *
 * The worker is this module's own file loaded again (in a build, the chunk that holds the server
 * code), told by `workerData` to run the consumer. It reads the log files itself through a
 * `LogView` (the durable end and a commit counter are in shared memory: no message per commit),
 * lands through its own `DatasetLake` and `FlowPipelines`, and asks the main thread for the few
 * metadata reads and writes these make (the metadata database is single-threaded: a dataset and
 * schema lookup per micro-batch, one insert per landed batch). The checkpoint, the keys and so the
 * exactly-once guarantee are the consumer's, unchanged. Deleting consumed segments is left to
 * the log's owner, the main thread.
 */

const MARK = 'inflowStreamingConsumer';

/** What the consumer needs from either thread: the same surface as `StreamConsumer`. */
export interface ConsumerHandle {
  readonly stats: ConsumerStats;
  readonly committedOffset: number;
  /** Why the consumer stopped for good, if it did (see `StreamConsumer.fault`). */
  readonly fault: string | undefined;
  /** Resolves once everything durable in the log now has landed (or the consumer stopped). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

interface WorkerSetup {
  [MARK]: true;
  logDir: string;
  logId: string;
  shared: SharedArrayBuffer;
  dir: string;
  datasetsRoot: string;
  options: Pick<ConsumerOptions, 'flushMs' | 'batchRecords'>;
}

/** The store methods the worker's pipelines and lake call; nothing else crosses. */
const STORE_METHODS = new Set(['get', 'findContaining', 'insert', 'insertBatch']);

type ToWorker =
  | { type: 'store-result'; id: number; ok: true; value: unknown }
  | { type: 'store-result'; id: number; ok: false; message: string; code?: unknown }
  | { type: 'stop' };

type FromWorker =
  | { type: 'store'; id: number; method: string; args: unknown[] }
  | { type: 'progress'; stats: ConsumerStats; offset: number; fault?: string }
  | { type: 'warn'; message: string; detail?: Record<string, unknown> }
  | { type: 'error'; message: string; detail?: Record<string, unknown> }
  | { type: 'delete-before'; offset: number }
  | { type: 'stopped' };

/**
 * The file a worker can load to run the consumer, or undefined when there is none: the TypeScript
 * sources (tests run them in this thread), or a program's own entry bundled into one file
 * (loading it again would start a second program).
 */
export function workerScript(): URL | undefined {
  const url = import.meta.url;
  if (!url.startsWith('file:')) return undefined;
  let file: string;
  try {
    file = realpathSync(fileURLToPath(url));
  } catch {
    return undefined;
  }
  if (!/\.(c|m)?js$/.test(file)) return undefined;
  const entry = process.argv[1];
  if (entry) {
    try {
      if (realpathSync(entry) === file) return undefined;
    } catch {
      // An entry that cannot be resolved is not this file.
    }
  }
  return new URL(url);
}

/**
 * Starts the consumer in a worker thread. Resolves once it has read its checkpoint; rejects if the
 * worker could not start (the caller then runs the consumer in this thread).
 */
export function startConsumerWorker(args: {
  script: URL;
  services: Services;
  log: StreamLog;
  dir: string;
  datasetsRoot: string;
  options: ConsumerOptions;
}): Promise<ConsumerHandle> {
  const { services, log, options } = args;
  const setup: WorkerSetup = {
    [MARK]: true,
    logDir: log.dir,
    logId: log.id,
    shared: log.share(),
    dir: args.dir,
    datasetsRoot: args.datasetsRoot,
    options: { flushMs: options.flushMs, batchRecords: options.batchRecords },
  };
  const warn = (message: string, detail?: Record<string, unknown>) => options.warn?.(message, detail);
  const error = (message: string, detail?: Record<string, unknown>) =>
    (options.error ?? options.warn)?.(message, detail);

  let stats: ConsumerStats = emptyConsumerStats();
  let offset = -1;
  let fault: string | undefined;
  let stopping = false;
  let stopped = false;
  let worker: Worker;
  let onStopped: (() => void) | undefined;
  let waiters: { target: number; resolve: () => void }[] = [];

  const settle = () => {
    const left: typeof waiters = [];
    for (const w of waiters) {
      if (stopped || fault !== undefined || offset >= w.target) w.resolve();
      else left.push(w);
    }
    waiters = left;
  };

  const handle: ConsumerHandle = {
    get stats() {
      return stats;
    },
    get committedOffset() {
      return offset;
    },
    get fault() {
      return fault;
    },
    idle() {
      const target = log.durableEnd;
      return new Promise((resolve) => {
        waiters.push({ target, resolve });
        settle();
      });
    },
    async stop() {
      if (stopped) return;
      stopping = true;
      const done = new Promise<void>((resolve) => {
        onStopped = resolve;
      });
      worker.postMessage({ type: 'stop' } satisfies ToWorker);
      // A worker that died meanwhile never answers: its exit settles the wait too.
      await done;
      stopped = true;
      settle();
      await worker.terminate();
    },
  };

  async function answer(message: Extract<FromWorker, { type: 'store' }>) {
    const reply = (result: ToWorker) => worker.postMessage(result);
    if (!STORE_METHODS.has(message.method)) {
      reply({
        type: 'store-result',
        id: message.id,
        ok: false,
        message: `no store method ${message.method}`,
      });
      return;
    }
    try {
      const method = (services.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
        message.method
      ] as (...a: unknown[]) => Promise<unknown>;
      const value = await method.apply(services.store, message.args);
      reply({ type: 'store-result', id: message.id, ok: true, value });
    } catch (error) {
      reply({
        type: 'store-result',
        id: message.id,
        ok: false,
        message: error instanceof Error ? error.message : String(error),
        code: (error as { code?: unknown }).code,
      });
    }
  }

  return new Promise((resolve, reject) => {
    let started = false;
    const spawn = () => {
      worker = new Worker(args.script, { workerData: setup });
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'store':
            void answer(message);
            break;
          case 'progress':
            stats = message.stats;
            offset = message.offset;
            fault = message.fault;
            if (!started) {
              started = true;
              resolve(handle);
            }
            settle();
            break;
          case 'warn':
            warn(message.message, message.detail);
            break;
          case 'error':
            error(message.message, message.detail);
            break;
          case 'delete-before':
            log.deleteBefore(message.offset).catch((error: unknown) =>
              warn('could not delete consumed streaming log segments', {
                error: error instanceof Error ? error.message : String(error),
              }),
            );
            break;
          case 'stopped':
            onStopped?.();
            break;
        }
      });
      worker.on('error', (error) => {
        warn('the streaming consumer thread failed', { error: error.message });
      });
      worker.on('exit', (code) => {
        if (!started) {
          reject(new Error(`the streaming consumer thread exited (${code}) before it started`));
          return;
        }
        if (stopping) {
          onStopped?.();
          return;
        }
        // Nothing is lost: the new thread resumes from the checkpoint and re-lands the range in flight.
        warn('the streaming consumer thread stopped; starting it again', { code });
        setTimeout(() => {
          if (!stopping) spawn();
        }, 1000).unref();
      });
    };
    spawn();
  });
}

/** The worker side: builds the consumer over a read-only view of the log and a store that asks the parent. */
async function runWorker(setup: WorkerSetup): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const post = (message: FromWorker) => port.postMessage(message);
  const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const call = (method: string, args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++nextId;
      calls.set(id, { resolve, reject });
      post({ type: 'store', id, method, args });
    });
  const store = Object.fromEntries(
    [...STORE_METHODS].map((method) => [method, (...args: unknown[]) => call(method, args)]),
  ) as unknown as ResourceStore;
  const schemas = new DatasetSchemas(store);
  const pipelines = new FlowPipelines(store, schemas);
  const lake = new DatasetLake(setup.datasetsRoot, store, schemas);
  const view = new LogView(setup.logDir, setup.logId, new SharedLogState(setup.shared), (offset) =>
    post({ type: 'delete-before', offset }),
  );
  const consumer: StreamConsumer = new StreamConsumer(
    { log: view, dir: setup.dir, pipelines: () => pipelines, datasets: () => lake },
    {
      ...setup.options,
      warn: (message, detail) => post({ type: 'warn', message, ...(detail ? { detail } : {}) }),
      error: (message, detail) => post({ type: 'error', message, ...(detail ? { detail } : {}) }),
      onProgress: () => progress(),
    },
  );
  const progress = () =>
    post({
      type: 'progress',
      stats: { ...consumer.stats },
      offset: consumer.committedOffset,
      ...(consumer.fault !== undefined ? { fault: consumer.fault } : {}),
    });
  port.on('message', (message: ToWorker) => {
    if (message.type === 'store-result') {
      const pending = calls.get(message.id);
      if (!pending) return;
      calls.delete(message.id);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(Object.assign(new Error(message.message), { code: message.code }));
    } else if (message.type === 'stop') {
      void consumer
        .stop()
        .then(() => view.close())
        .finally(() => post({ type: 'stopped' }));
    }
  });
  await consumer.start();
  progress();
}

if (!isMainThread && (workerData as Partial<WorkerSetup> | null)?.[MARK]) {
  void runWorker(workerData as WorkerSetup);
}
