import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveFlowState } from '../src/runs/flow-state.js';
import { type Db, openDb } from '../src/store/db.js';
import { ResourceStore } from '../src/store/resources.js';

const SCOPE = { orgId: 'o', sandbox: 'prod' };
let db: Db;
let store: ResourceStore;

beforeAll(async () => {
  db = await openDb(undefined);
  store = new ResourceStore(db);
  await store.insert(
    'flows',
    SCOPE,
    { id: 'f1', state: 'enabled', scheduleParams: { frequency: 'minute', interval: 15, startTime: 1 } },
    'e1',
    1,
  );
});
afterAll(async () => {
  await db.close();
});

const save = (id: string, flowMatch: Record<string, unknown>) =>
  saveFlowState(db, 'flowSchedules', SCOPE, { id }, { expected: undefined, next: 'n1' }, 2, flowMatch);

describe('saveFlowState', () => {
  it('writes only while each matched field of the flow equals the value given, not merely contains it', async () => {
    // The schedule the tick read had no interval: the flow's schedule is another one now.
    expect(
      await save('f1', { state: 'enabled', scheduleParams: { frequency: 'minute', startTime: 1 } }),
    ).toBe('flowGone');
    expect(await save('f1', { state: 'disabled' })).toBe('flowGone');
    expect(await store.get('flowSchedules', SCOPE, 'f1')).toBeUndefined();
    // Key order does not matter; the same schedule is the same.
    expect(
      await save('f1', {
        scheduleParams: { startTime: 1, interval: 15, frequency: 'minute' },
        state: 'enabled',
      }),
    ).toBe('ok');
    expect(await store.get('flowSchedules', SCOPE, 'f1')).toBeDefined();
  });

  it('writes nothing for a flow that does not exist, in this scope or at all', async () => {
    expect(await save('nope', {})).toBe('flowGone');
    expect(
      await saveFlowState(
        db,
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
