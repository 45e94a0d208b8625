import { newEtag } from '../crypto.js';
import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';
import type { RunExecutor } from './executor.js';
import { saveFlowState } from './flow-state.js';
import { dueSlot, type ScheduleParams, scheduleOf, slotAtOrAfter } from './schedule.js';

/** The internal resource kind holding each scheduled flow's next slot (never served by a route). */
export const SCHEDULE_STATE_KIND = 'flowSchedules';

interface ScheduleState extends Doc {
  /** The schedule this state was computed for; a PATCH to `scheduleParams` starts over. */
  scheduleKey: string;
  /** Epoch ms of the slot the flow waits for; absent after a `once` flow has run. */
  nextRunAt?: number;
}

/**
 * Creates runs of enabled batch flows on their schedules. Every tick it reads the enabled flows
 * that have `scheduleParams` and, for each whose slot has come and that has no run queued or in
 * progress, creates one run (missed slots while the server was down become one catch-up run).
 * The next slot is stored, so schedules resume after a restart; a disabled or deleted flow is
 * simply not read, which stops its schedule. A flow deleted or disabled (or rescheduled) after a
 * tick read it is caught when the slot is saved: the save happens only while the flow is still
 * there, enabled, with the same schedule (one statement, see `saveFlowState`), and without it the
 * tick starts nothing.
 */
export class RunScheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly services: Services,
    private readonly executor: RunExecutor,
    private readonly tickMs: number,
    private readonly log: { error(obj: object, msg: string): void } = { error: () => {} },
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .then(() => undefined)
        .catch((error) =>
          this.log.error({ err: { message: (error as Error).message } }, 'scheduler tick failed'),
        )
        .finally(() => {
          this.ticking = undefined;
        });
    }, this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** One pass over the scheduled flows (also called directly by tests). */
  async tick(): Promise<number> {
    const res = await this.services.store.db.query<{ body: string; org_id: string; sandbox: string }>(
      `select coalesce(body, doc::text) as body, org_id, sandbox from resources
       where kind = 'flows' and doc @> '{"state":"enabled"}' and doc ? 'scheduleParams'`,
    );
    let created = 0;
    for (const row of res.rows) {
      const flow = JSON.parse(row.body) as Doc;
      const scope = { orgId: row.org_id, sandbox: row.sandbox };
      if (await this.consider(scope, flow)) created++;
    }
    return created;
  }

  private async consider(scope: Scope, flow: Doc): Promise<boolean> {
    const params = flow.scheduleParams as ScheduleParams | undefined;
    const schedule = scheduleOf(params);
    if (!schedule) return false;
    const { store } = this.services;
    const now = this.services.now();
    const scheduleKey = JSON.stringify(params);
    const stored = await store.get(SCHEDULE_STATE_KIND, scope, flow.id);
    let state = stored?.doc as ScheduleState | undefined;
    if (!state || state.scheduleKey !== scheduleKey) {
      // A new flow waits for its start time (a past one runs now); a changed schedule for its next slot.
      const nextRunAt = state ? slotAtOrAfter(schedule, now) : schedule.startMs;
      state = { id: flow.id, scheduleKey, nextRunAt };
      await this.save(scope, flow, state, stored?.etag);
      return false;
    }
    if (state.nextRunAt === undefined || this.executor.busy(scope, flow.id)) return false;
    const slot = dueSlot(schedule, state.nextRunAt, now);
    if (!slot) return false;
    const windowStart = schedule.periodMs ? slot.due - schedule.periodMs : schedule.startMs;
    // The slot moves on before the run exists: a crash in between skips one slot rather than running it twice.
    const next: ScheduleState = { id: flow.id, scheduleKey };
    if (slot.next !== undefined) next.nextRunAt = slot.next;
    if (!(await this.save(scope, flow, next, stored?.etag))) return false;
    await this.executor.create(
      scope,
      flow,
      {
        startTime: Math.floor(slot.due / 1000),
        windowStartTime: Math.floor(windowStart / 1000),
        windowEndTime: Math.floor(slot.due / 1000),
      },
      { clientId: String(flow.createdClient ?? 'inflow-scheduler') },
    );
    return true;
  }

  /**
   * Saves the flow's schedule state if the flow is, at that instant, still as this tick read it:
   * there, enabled, with the same `scheduleParams`. False when it is not (deleted, disabled or
   * rescheduled meanwhile), or when the state changed under this tick: then nothing was written.
   */
  private async save(
    scope: Scope,
    flow: Doc,
    state: ScheduleState,
    etag: string | undefined,
  ): Promise<boolean> {
    const now = this.services.now();
    const written = await saveFlowState(
      this.services.store.db,
      SCHEDULE_STATE_KIND,
      scope,
      state,
      { expected: etag, next: newEtag(now) },
      now,
      { state: 'enabled', scheduleParams: flow.scheduleParams },
    );
    return written === 'ok';
  }
}
