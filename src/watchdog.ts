// The poll watchdog: notices, on monotonic time, a poll that has not *started* when it was due, and
// says so (the daemon turns that into a metric, a log line and a self-alert). It watches the
// scheduler from outside, with its own timer: whatever stops polls from starting (a scheduler whose
// timer no longer fires, a poll hanging so every tick is skipped, an event loop starved) shows as
// "due, plus the grace, and nothing started".
//
// The scheduler tells it each slot it arms (expect), the poll guard each poll that starts (started).
// The earliest due time not yet followed by a start is what counts: a tick skipped because the
// previous poll still runs keeps the older due time. A re-anchored schedule (the wall clock stepped)
// replaces the due time unless it is already overdue, so a clock step cannot raise a false alarm, nor
// hide a real one.
import { monotonicNow } from './util/monotonic.js';

export interface WatchdogState {
  /** Monotonic time the earliest unmet slot fell due, or null when every due poll has started. */
  dueMono: number | null;
  /** That slot (wall-clock epoch ms), for the messages. */
  slot: number | null;
  /** Grace for that slot. */
  graceMs: number;
  /** An overdue episode is open (reported, not yet recovered). */
  overdue: boolean;
}

export const IDLE_WATCHDOG: WatchdogState = { dueMono: null, slot: null, graceMs: 0, overdue: false };

/**
 * The grace after a due time before a poll counts as overdue: 1.5 schedule intervals (one tick skipped
 * behind a slow poll is normal and counted by keystore_watch_polls_skipped_total; two in a row is not),
 * at least 30 s (event-loop pauses, start-up) and at most 5 min (an hourly schedule must not wait an
 * hour to say it is stuck).
 */
export function defaultGraceMs(intervalMs: number): number {
  return Math.min(300_000, Math.max(30_000, Math.round(1.5 * intervalMs)));
}

/**
 * The scheduler awaits `slot`, due at `dueMono` as estimated now. Nothing pending: it becomes the
 * pending due time. The pending slot itself: a fresher estimate of the same due time (a slewing wall
 * clock moves it by milliseconds). A later slot while an earlier one is pending (its tick was
 * skipped): the earlier one stays. A re-anchor replaces it unless an episode is open.
 */
export function expectPoll(s: WatchdogState, e: { dueMono: number; slot: number; graceMs: number; reanchored: boolean }): WatchdogState {
  if (s.dueMono === null || (!s.overdue && (e.reanchored || e.slot === s.slot))) return { ...s, dueMono: e.dueMono, slot: e.slot, graceMs: e.graceMs };
  return s;
}

/**
 * A poll started at monotonic `mono`. It meets the pending due time if it started at or after it
 * (`earlyMs` absorbs the rounding between the two clocks); a poll started earlier (pollNow(), the
 * start-up poll, a catch-up run before a re-anchor) leaves the pending slot waiting for its own poll,
 * so a scheduler that stops right after such a poll is still noticed. Any start ends an open overdue
 * episode (`recovered` says how late it was).
 */
export function pollStarted(s: WatchdogState, mono: number, earlyMs = 50): { state: WatchdogState; recovered: { slot: number | null; lateMs: number } | null } {
  if (s.overdue) return { state: { ...IDLE_WATCHDOG }, recovered: { slot: s.slot, lateMs: Math.max(0, mono - (s.dueMono ?? mono)) } };
  if (s.dueMono !== null && mono >= s.dueMono - earlyMs) return { state: { ...IDLE_WATCHDOG }, recovered: null };
  return { state: s, recovered: null };
}

/** At monotonic `mono`: opens an overdue episode when the pending due time plus its grace has passed. */
export function checkOverdue(s: WatchdogState, mono: number): { state: WatchdogState; overdue: { slot: number | null; overdueMs: number; graceMs: number } | null } {
  if (s.overdue || s.dueMono === null || mono - s.dueMono <= s.graceMs) return { state: s, overdue: null };
  return { state: { ...s, overdue: true }, overdue: { slot: s.slot, overdueMs: mono - s.dueMono, graceMs: s.graceMs } };
}

export interface WatchdogEvents {
  /** No poll started within the grace after it was due (`slot` is the missed wall-clock slot). */
  onOverdue(e: { slot: number | null; overdueMs: number; graceMs: number }): void;
  /** A poll started again after an overdue episode; `lateMs` past the due time. */
  onRecovered(e: { slot: number | null; lateMs: number }): void;
}

export interface WatchdogOptions extends WatchdogEvents {
  /** Fixed grace; default defaultGraceMs(schedule interval). */
  graceMs?: number;
  /** How often the watchdog looks (default 1 s). */
  checkEveryMs?: number;
  monotonic?: () => number;
}

export class PollWatchdog {
  private state: WatchdogState = { ...IDLE_WATCHDOG };
  private timer: NodeJS.Timeout | null = null;
  private readonly mono: () => number;

  constructor(private readonly opts: WatchdogOptions) {
    this.mono = opts.monotonic ?? monotonicNow;
  }

  get overdue(): boolean {
    return this.state.overdue;
  }

  /** Starts the watchdog's own timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.opts.checkEveryMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** From the scheduler's onArmed. */
  expect(e: { slot: number; dueMono: number; intervalMs: number; reanchored: boolean }): void {
    this.state = expectPoll(this.state, { dueMono: e.dueMono, slot: e.slot, reanchored: e.reanchored, graceMs: this.opts.graceMs ?? defaultGraceMs(e.intervalMs) });
  }

  /** From the poll guard: a poll started. */
  started(): void {
    const r = pollStarted(this.state, this.mono());
    this.state = r.state;
    if (r.recovered) this.opts.onRecovered(r.recovered);
  }

  check(): void {
    const r = checkOverdue(this.state, this.mono());
    this.state = r.state;
    if (r.overdue) this.opts.onOverdue(r.overdue);
  }
}
