import { beforeAll, describe, expect, it } from 'vitest';
import { saveFlowState } from '../src/runs/flow-state.js';
import { memoryStore } from './memory-store.js';

const SCOPE = { orgId: 'o', sandbox: 'prod' };
const mem = memoryStore();

beforeAll(async () => {
  await mem.store.insert(
    'flows',
    SCOPE,
    { id: 'f1', state: 'enabled', scheduleParams: { frequency: 'minute', interval: 15, startTime: 1 } },
    'e1',
    1,
  );
});

const save = (id: string, flowMatch: Record<string, unknown>) =>
  saveFlowState(mem.db, 'flowSchedules', SCOPE, { id }, { expected: undefined, next: 'n1' }, 2, flowMatch);

describe('saveFlowState', () => {
  it('writes only while each matched field of the flow equals the value given, not merely contains it', async () => {
    // The schedule the tick read had no interval: the flow's schedule is another one now.
    expect(
      await save('f1', { state: 'enabled', scheduleParams: { frequency: 'minute', startTime: 1 } }),
    ).toBe('flowGone');
    expect(await save('f1', { state: 'disabled' })).toBe('flowGone');
    expect(await mem.store.get('flowSchedules', SCOPE, 'f1')).toBeUndefined();
    // Key order does not matter; the same schedule is the same.
    expect(
      await save('f1', {
        scheduleParams: { startTime: 1, interval: 15, frequency: 'minute' },
        state: 'enabled',
      }),
    ).toBe('ok');
    expect(await mem.store.get('flowSchedules', SCOPE, 'f1')).toBeDefined();
  });

  it('writes nothing for a flow that does not exist, in this scope or at all', async () => {
    expect(await save('nope', {})).toBe('flowGone');
    expect(
      await saveFlowState(
        mem.db,
        'flowSchedules',
        { orgId: 'o', sandbox: 'dev' },
        { id: 'f1' },
        {
          expected: undefined,
          next: 'n2',
        },
        2,
      ),
    ).toBe('flowGone');
  });
});
