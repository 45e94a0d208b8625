/** A flow's `scheduleParams` as stored (the docs send numbers and booleans as strings too). */
export interface ScheduleParams {
  startTime: number | string;
  frequency: string;
  interval?: number | string;
  backfill?: boolean | string;
}

/** Seconds in one unit of each periodic frequency. */
export const FREQUENCY_SECONDS: Readonly<Record<string, number>> = {
  minute: 60,
  hour: 3600,
  day: 86_400,
  week: 604_800,
};

/** The real service's shortest schedule: 15 minutes. */
export const DEFAULT_MIN_INTERVAL_SECONDS = 900;

/** A schedule in numbers: its first slot and period in ms (`undefined` period: `once`). */
export interface Schedule {
  startMs: number;
  periodMs: number | undefined;
}

/** The schedule of `params`, or undefined when it cannot be read (the flow route validated it on write). */
export function scheduleOf(params: ScheduleParams | undefined): Schedule | undefined {
  if (!params) return undefined;
  const start = Number(params.startTime);
  if (!Number.isFinite(start)) return undefined;
  // `startTime` is epoch seconds; a value in ms (13 digits) is taken as such.
  const startMs = start > 100_000_000_000 ? start : start * 1000;
  const frequency = String(params.frequency).toLowerCase();
  if (frequency === 'once') return { startMs, periodMs: undefined };
  const unit = FREQUENCY_SECONDS[frequency];
  const interval = Number(params.interval ?? 1);
  if (!unit || !Number.isSafeInteger(interval) || interval < 1) return undefined;
  return { startMs, periodMs: unit * interval * 1000 };
}

/** The seconds between runs of a periodic schedule (for the minimum-interval check). */
export function intervalSeconds(params: ScheduleParams): number | undefined {
  const unit = FREQUENCY_SECONDS[String(params.frequency).toLowerCase()];
  if (!unit) return undefined;
  const interval = Number(params.interval);
  return Number.isFinite(interval) ? unit * interval : undefined;
}

/** The first slot of `schedule` at or after `atMs`. */
export function slotAtOrAfter(schedule: Schedule, atMs: number): number {
  if (!schedule.periodMs || atMs <= schedule.startMs) return schedule.startMs;
  const periods = Math.ceil((atMs - schedule.startMs) / schedule.periodMs);
  return schedule.startMs + periods * schedule.periodMs;
}

/**
 * Given the slot a flow is waiting for and the time now, what to do: run for `due` (the latest
 * slot that has come, so missed slots while the server was down become one catch-up run, not a
 * burst), then wait for `next` (`undefined` after a `once` schedule has run).
 */
export function dueSlot(
  schedule: Schedule,
  waitingFor: number,
  nowMs: number,
): { due: number; next: number | undefined } | undefined {
  if (nowMs < waitingFor) return undefined;
  if (!schedule.periodMs) return { due: waitingFor, next: undefined };
  const latest =
    schedule.startMs + Math.floor((nowMs - schedule.startMs) / schedule.periodMs) * schedule.periodMs;
  const due = Math.max(latest, waitingFor);
  return { due, next: due + schedule.periodMs };
}
