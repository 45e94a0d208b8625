import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Services } from '../services.js';
import { type ConsumerOptions, StreamConsumer } from './consumer.js';
import { InletDirectory } from './inlets.js';
import { StreamLog } from './log.js';
import { SyncValidators } from './validation.js';

/** Streaming knobs (`ServerConfig.streaming`); the defaults suit production. */
export interface StreamingOptions extends Omit<ConsumerOptions, 'warn'> {
  /** Roll log segments at this size. Default 64 MiB. */
  segmentBytes?: number;
}

/** The streaming side of the server: the durable log, its consumer, and the inlet lookups. */
export interface Streaming {
  log: StreamLog;
  consumer: StreamConsumer;
  inlets: InletDirectory;
  validators: SyncValidators;
  /** Where the log, the checkpoint and the dead-letter file live. */
  dir: string;
  close(): Promise<void>;
}

/**
 * Opens the log under `{dataDir}/streaming` (a temporary directory for an in-memory server,
 * removed on close) and starts the consumer from its checkpoint.
 */
export async function openStreaming(
  services: Services,
  options: StreamingOptions & { warn?: ConsumerOptions['warn'] } = {},
): Promise<Streaming> {
  const dataDir = services.config.dataDir;
  const temporary = dataDir ? undefined : await mkdtemp(join(tmpdir(), 'inflow-streaming-'));
  const dir = dataDir ? join(dataDir, 'streaming') : (temporary as string);
  const log = await StreamLog.open(join(dir, 'log'), { segmentBytes: options.segmentBytes });
  const consumer = new StreamConsumer(
    {
      log,
      dir,
      pipelines: () => services.pipelines,
      datasets: () => services.datasets,
    },
    options,
  );
  await consumer.start();
  let closed = false;
  return {
    log,
    consumer,
    inlets: new InletDirectory(services),
    validators: new SyncValidators(services),
    dir,
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
