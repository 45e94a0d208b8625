import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetLake } from '../datasets/writer.js';
import type { Services } from '../services.js';
import { type ConsumerOptions, StreamConsumer } from './consumer.js';
import { type ConsumerHandle, startConsumerWorker, workerScript } from './consumer-worker.js';
import { InletDirectory } from './inlets.js';
import { StreamLog } from './log.js';
import { SyncValidators } from './validation.js';

/** Streaming knobs (`ServerConfig.streaming`); the defaults suit production. */
export interface StreamingOptions extends Omit<ConsumerOptions, 'warn' | 'error'> {
  /** Roll log segments at this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Write zeros ahead of the log's data, so commits change no file metadata. Default false. */
  preallocate?: boolean;
  /**
   * Where the consumer runs: `worker` (the default) lands in a worker thread, so landing does not
   * take the event loop from the inlets; `main` runs it on the server's event loop. The worker
   * needs the built JavaScript: from the TypeScript sources (tests) it runs on the main thread.
   */
  consumerThread?: 'worker' | 'main';
}

/** The streaming side of the server: the durable log, its consumer, and the inlet lookups. */
export interface Streaming {
  log: StreamLog;
  consumer: ConsumerHandle;
  inlets: InletDirectory;
  validators: SyncValidators;
  /** Where the log, the checkpoint and the dead-letter file live. */
  dir: string;
  /** Why streaming cannot land (the consumer stopped for good), if so: the server is not ready. */
  fault(): string | undefined;
  close(): Promise<void>;
}

/**
 * Opens the log under `{dataDir}/streaming` (a temporary directory for an in-memory server,
 * removed on close) and starts the consumer from its checkpoint.
 */
export async function openStreaming(
  services: Services,
  options: StreamingOptions & Pick<ConsumerOptions, 'warn' | 'error'> = {},
): Promise<Streaming> {
  const dataDir = services.config.dataDir;
  const temporary = dataDir ? undefined : await mkdtemp(join(tmpdir(), 'inflow-streaming-'));
  const dir = dataDir ? join(dataDir, 'streaming') : (temporary as string);
  const log = await StreamLog.open(join(dir, 'log'), {
    segmentBytes: options.segmentBytes,
    preallocate: options.preallocate,
  });
  if (log.stats.truncatedBytes > 0) {
    // Not acknowledged (a crash mid-write), so not lost; but said, with the bytes kept aside.
    options.warn?.(
      'cut a torn tail off the streaming log (a write a crash interrupted; it was never acked)',
      {
        bytes: log.stats.truncatedBytes,
        offset: log.stats.truncatedAt,
        keptIn: log.stats.truncatedFile,
      },
    );
  }
  const consumerOptions: ConsumerOptions = {
    flushMs: options.flushMs,
    batchRecords: options.batchRecords,
    warn: options.warn,
    error: options.error,
  };
  const inThread = async () => {
    const consumer = new StreamConsumer(
      {
        log,
        dir,
        pipelines: () => services.pipelines,
        datasets: () => services.datasets,
      },
      consumerOptions,
    );
    await consumer.start();
    return consumer;
  };
  const script = options.consumerThread === 'main' ? undefined : workerScript();
  // The worker lands through its own lake over the same folder; a writer that is not the lake
  // (a test's stand-in) is only reachable from this thread.
  const lake = services.datasets instanceof DatasetLake ? services.datasets : undefined;
  let consumer: ConsumerHandle;
  if (script && lake) {
    try {
      consumer = await startConsumerWorker({
        script,
        services,
        log,
        dir,
        datasetsRoot: lake.root,
        options: consumerOptions,
      });
    } catch (error) {
      options.warn?.('the streaming consumer thread did not start; landing on the main thread', {
        error: error instanceof Error ? error.message : String(error),
      });
      consumer = await inThread();
    }
  } else {
    consumer = await inThread();
  }
  let closed = false;
  return {
    log,
    consumer,
    inlets: new InletDirectory(services),
    validators: new SyncValidators(services),
    dir,
    fault: () => consumer.fault,
    async close() {
      if (closed) return;
      closed = true;
      await consumer.stop();
      await log.close();
      if (temporary) await rm(temporary, { recursive: true, force: true });
    },
  };
}

export { StreamConsumer } from './consumer.js';
export { StreamLog } from './log.js';
