import { describe, expect, it } from 'vitest';
import { dueSlot, intervalSeconds, scheduleOf, slotAtOrAfter } from '../src/runs/schedule.js';

const MIN = 60_000;

describe('schedules', () => {
  it('reads scheduleParams as the docs send them (strings, epoch seconds) and as numbers', () => {
    expect(scheduleOf({ startTime: '1612310466', frequency: 'minute', interval: '15' })).toEqual({
      startMs: 1_612_310_466_000,
      periodMs: 15 * MIN,
    });
    expect(scheduleOf({ startTime: 1_612_310_466, frequency: 'week', interval: 2 })?.periodMs).toBe(
      14 * 86_400_000,
    );
    expect(scheduleOf({ startTime: 1_612_310_466, frequency: 'once' })).toEqual({
      startMs: 1_612_310_466_000,
      periodMs: undefined,
    });
    expect(scheduleOf({ startTime: 'soon', frequency: 'day', interval: 1 })).toBeUndefined();
    expect(scheduleOf({ startTime: 1, frequency: 'fortnight', interval: 1 })).toBeUndefined();
    expect(intervalSeconds({ startTime: 1, frequency: 'hour', interval: '3' })).toBe(10_800);
  });

  it('runs once per slot; missed slots become one catch-up run', () => {
    const s = { startMs: 1_000_000, periodMs: 15 * MIN };
    expect(dueSlot(s, s.startMs, s.startMs - 1)).toBeUndefined();
    expect(dueSlot(s, s.startMs, s.startMs)).toEqual({ due: s.startMs, next: s.startMs + 15 * MIN });
    // Down for an hour: one run for the latest slot, then the next one.
    const later = s.startMs + 61 * MIN;
    expect(dueSlot(s, s.startMs + 15 * MIN, later)).toEqual({
      due: s.startMs + 60 * MIN,
      next: s.startMs + 75 * MIN,
    });
    expect(dueSlot({ startMs: 5, periodMs: undefined }, 5, 10)).toEqual({ due: 5, next: undefined });
    expect(slotAtOrAfter(s, s.startMs + 16 * MIN)).toBe(s.startMs + 30 * MIN);
    expect(slotAtOrAfter(s, s.startMs - 5)).toBe(s.startMs);
  });
});
