import { defineSourceConnector } from '@inflow/core';
import { z } from 'zod';
import { batchDouble, CLOUD_STORAGE_FLOW_SPEC } from './batch-double.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { FS, postOk as post, type TestServer } from './helpers.js';

/*
 * A source the test steps through, for runs on the real server: after each batch its read stops
 * (the executor has landed the chunk before it asks for the next batch) until the test lets it
 * go on. Start the server with `connectors: [...CONNECTORS, stepped]` and
 * `runs: { chunkRecords: 100 }`, so each batch of 100 is one chunk.
 */

const T = `_${TENANT}`;
const STEPPED_SPEC = '5d0c7a36-3f7e-4b8e-9a61-2c4f8e1b7d90';
const DATA_LAKE_SPEC = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';

export class Stepper {
  private readonly stops: number[] = [];
  private readonly waiters: ((offset: number) => void)[] = [];
  private go: (() => void) | undefined;
  /** Throw once the read reaches this offset (first time only), as a dropped connection would. */
  failAt: number | undefined;

  /** Called by the read: it reached `offset` and waits for `release()`. */
  async stop(offset: number): Promise<void> {
    const waiter = this.waiters.shift();
    if (waiter) waiter(offset);
    else this.stops.push(offset);
    await new Promise<void>((resolve) => {
      this.go = resolve;
    });
  }

  /** The offset of the read's next stop, once it is there. */
  reached(): Promise<number> {
    const offset = this.stops.shift();
    if (offset !== undefined) return Promise.resolve(offset);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const go = this.go;
    this.go = undefined;
    go?.();
  }
}
const steppers = new Map<string, Stepper>();

/** Batches of `batch` generated records, state `{offset}`; every 10th record fails validation. */
export const stepped = defineSourceConnector({
  id: 'stepped',
  displayName: 'Stepped records (test double)',
  ...batchDouble({
    id: 'stepped',
    specId: STEPPED_SPEC,
    description: 'a test double: generated records, one batch at a time as the test says',
    dataFormats: ['json'],
    setupName: 'stepped',
    setupParams: { source: 'setup', total: 0, batch: 1 },
  }),
  sourceParams: z.object({
    source: z.string(),
    total: z.number().int(),
    batch: z.number().int(),
    fileType: z.string().optional(),
  }),
  async *read({ params, state }) {
    const stepper = steppers.get(params.source) as Stepper;
    let offset = (state as { offset?: number } | undefined)?.offset ?? 0;
    while (offset < params.total) {
      if (stepper.failAt !== undefined && offset >= stepper.failAt) {
        stepper.failAt = undefined;
        throw new Error('connection reset by peer');
      }
      const records = Array.from({ length: Math.min(params.batch, params.total - offset) }, (_, k) => {
        const i = offset + k;
        return { _id: `r-${i}`, [T]: { memberId: i % 10 === 9 ? `bad-${i}` : i, name: `Member ${i}` } };
      });
      offset += records.length;
      yield { records, state: { offset }, bytes: records.length * 10, files: 1 };
      await stepper.stop(offset);
    }
  },
});

/**
 * A flow reading `total` stepped records (batches of 100) into a new dataset, named `name` (one
 * stepper per name). Its schedule is a `once` a day from now, plus `scheduleParams` if given.
 */
export async function steppedFlow(
  t: TestServer,
  name: string,
  total: number,
  scheduleParams: Record<string, unknown> = {},
): Promise<{ flowId: string; stepper: Stepper }> {
  const stepper = new Stepper();
  steppers.set(name, stepper);
  const { dataSetId } = await createDataset(t, name);
  const source = await post(t, `${FS}/sourceConnections`, {
    name,
    data: { format: 'json' },
    params: { source: name, total, batch: 100 },
    connectionSpec: { id: STEPPED_SPEC, version: '1.0' },
  });
  const target = await post(t, `${FS}/targetConnections`, {
    name: 'lake',
    params: { dataSetId },
    connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
  });
  const flow = await post(t, `${FS}/flows`, {
    name,
    flowSpec: { id: CLOUD_STORAGE_FLOW_SPEC, version: '1.0' },
    sourceConnectionIds: [source.id],
    targetConnectionIds: [target.id],
    scheduleParams: {
      startTime: String(Math.floor(Date.now() / 1000) + 86_400),
      frequency: 'once',
      ...scheduleParams,
    },
  });
  return { flowId: flow.id as string, stepper };
}
