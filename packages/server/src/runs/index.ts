import type { Services } from '../services.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_RECORDS, RunExecutor } from './executor.js';
import { DEFAULT_MIN_INTERVAL_SECONDS } from './schedule.js';
import { RunScheduler } from './scheduler.js';

export interface Runs {
  executor: RunExecutor;
  scheduler: RunScheduler;
  /** The shortest schedule interval flows may have, in seconds. */
  minIntervalSeconds: number;
  /** Queues the runs a previous process left unfinished, then starts the scheduler. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Batch runs of a server, configured by `config.runs` (see `RunsConfig`). */
export function openRuns(services: Services, log?: { error(obj: object, msg: string): void }): Runs {
  const c = services.config.runs ?? {};
  const executor = new RunExecutor(
    services,
    {
      maxAttempts: c.maxAttempts ?? 3,
      retryBaseMs: c.retryBaseMs ?? 30_000,
      concurrency: 2,
      chunkRecords: c.chunkRecords ?? DEFAULT_CHUNK_RECORDS,
      chunkBytes: c.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    },
    log,
  );
  const scheduler = new RunScheduler(services, executor, c.tickMs ?? 1000, log);
  return {
    executor,
    scheduler,
    minIntervalSeconds: c.minScheduleIntervalSeconds ?? DEFAULT_MIN_INTERVAL_SECONDS,
    async start() {
      await executor.recover();
      scheduler.start();
    },
    async stop() {
      await scheduler.stop();
      await executor.stop();
    },
  };
}
