// The daemon's poll timing, as one piece: the schedule (wall-clock slots, monotonic waits; see
// scheduler.ts), the watchdog watching it (watchdog.ts), and what both say: metrics and log lines.
// The daemon gives it the poll guard and hooks for the self-alert; nothing here polls or alerts.
import type { Logger } from './log.js';
import type { SelfMetrics } from './metrics/self.js';
import { onSchedule, routeCronLogs, type NonOverlapping } from './scheduler.js';
import { systemClock, type TimeSource } from './util/monotonic.js';
import { PollWatchdog, type WatchdogEvents } from './watchdog.js';

export interface PollTimingOptions {
  /** The node-cron expression (config.schedule). */
  schedule: string;
  logger: Logger;
  metrics: SelfMetrics;
  /** Both clocks (default the system's); tests step the wall clock through it. */
  time?: TimeSource;
  /**
   * Grace after a due slot before a poll counts as overdue (default 1.5 schedule intervals, 30 s to
   * 5 min), how often the watchdog looks, and hooks called besides the metric and the log line (the
   * self-alert).
   */
  watchdog?: { graceMs?: number; checkEveryMs?: number } & Partial<WatchdogEvents>;
}

/** The self-alert id of an overdue poll. */
export const POLL_OVERDUE_ALERT = 'poll-overdue';

/** The self-alert raised when the watchdog finds a poll overdue (see src/alert/self-alerts.ts). */
export function pollOverdueSelfAlert(e: { slot: number | null; overdueMs: number; graceMs: number }, schedule: string) {
  const due = e.slot === null ? 'a poll' : `the poll due at ${new Date(e.slot).toISOString()}`;
  return {
    id: POLL_OVERDUE_ALERT,
    severity: 'critical' as const,
    summary: `keystore-watch is not polling: ${due} has not started (${Math.round(e.overdueMs / 1000)} s overdue)`,
    detail: 'No poll has started within the grace after one was due (measured on the monotonic clock). A poll is hanging or the scheduler is stuck: key store states are going stale and no new alert can be raised until polls run again. This resolves when a poll starts.',
    details: { Schedule: schedule, 'Grace (s)': String(Math.round(e.graceMs / 1000)) },
  };
}

export class PollTiming {
  private readonly watchdog: PollWatchdog;
  private stopSchedule: (() => void) | null = null;

  constructor(private readonly opts: PollTimingOptions) {
    const { logger, metrics, schedule } = opts;
    const hooks = opts.watchdog ?? {};
    const iso = (slot: number | null) => (slot === null ? null : new Date(slot).toISOString());
    metrics.pollOverdue.set(0);
    const time = opts.time ?? systemClock;
    this.watchdog = new PollWatchdog({
      graceMs: hooks.graceMs,
      checkEveryMs: hooks.checkEveryMs,
      monotonic: () => time.monotonic(),
      onOverdue: (e) => {
        metrics.pollOverdue.set(1);
        metrics.pollOverdueTotal.inc();
        logger.error({ slot: iso(e.slot), overdueSeconds: Math.round(e.overdueMs / 1000), graceSeconds: Math.round(e.graceMs / 1000), schedule }, 'poll overdue: no poll has started since it was due');
        hooks.onOverdue?.(e);
      },
      onRecovered: (e) => {
        metrics.pollOverdue.set(0);
        logger.warn({ slot: iso(e.slot), lateSeconds: Math.round(e.lateMs / 1000) }, 'polling resumed after being overdue');
        hooks.onRecovered?.(e);
      },
    });
  }

  /** For the poll guard's onStart: a poll started. */
  started(): void {
    this.watchdog.started();
  }

  /** Starts triggering `guard` on the schedule, and the watchdog. */
  start(guard: NonOverlapping): void {
    if (this.stopSchedule) return;
    const { logger, metrics, schedule } = this.opts;
    // node-cron only computes slots (its timer is not used), but it has a global console logger.
    routeCronLogs(logger);
    this.stopSchedule = onSchedule(schedule, guard, {
      time: this.opts.time ?? systemClock,
      onArmed: (e) => this.watchdog.expect(e),
      onError: (err) => logger.error({ err, schedule }, 'scheduler error (next slot or poll); trying again'),
      onStep: (e) => {
        metrics.clockSteps.inc({ direction: e.stepMs > 0 ? 'forward' : 'backward' });
        logger.warn({ stepSeconds: Number((e.stepMs / 1000).toFixed(3)), catchUpPoll: e.catchUp, nextSlot: new Date(e.nextSlot).toISOString() }, 'wall clock stepped; schedule re-anchored on the new time');
      },
    });
    this.watchdog.start();
  }

  stop(): void {
    this.stopSchedule?.();
    this.stopSchedule = null;
    this.watchdog.stop();
  }
}
