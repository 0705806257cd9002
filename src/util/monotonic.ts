// Two clocks, two jobs.
//
//   wall       Date.now(): epoch milliseconds. Right for timestamps people read, for what is persisted
//              and compared across restarts, and for deciding *which* cron slot is next. It can be
//              stepped at any moment: NTP correcting a fast or slow clock, an operator's `date -s`, a
//              VM restored from a snapshot. Never measure an interval with it.
//   monotonic  performance.now(): milliseconds since an arbitrary origin (process start), never
//              stepped (CLOCK_MONOTONIC). Right for every interval and deadline inside one process:
//              timeouts, backoff, pacing, "due in N ms", watchdogs. Meaningless across processes, so
//              never persist it.
//
// Node's timers (setTimeout/setInterval, timers/promises) run on libuv's loop time, which is
// CLOCK_MONOTONIC: a delay of N ms is N ms of monotonic time whatever the wall clock does. Verified
// under libfaketime with FAKETIME_DONT_FAKE_MONOTONIC=1 (test/reliability/clock-jump.test.ts); without
// that variable libfaketime fakes the monotonic clock too and a backward step stalls every timer, which
// is a property of the fake, not of a real clock step.
import { setTimeout as sleepTimer } from 'node:timers/promises';

/** Monotonic milliseconds (arbitrary origin, never stepped). */
export const monotonicNow = (): number => performance.now();

/** A source of both readings, injectable so tests can step the wall clock without touching the monotonic one. */
export interface TimeSource {
  /** Wall-clock epoch ms. */
  now(): number;
  /** Monotonic ms, arbitrary origin. */
  monotonic(): number;
}

/**
 * A clock for components that wait: `now` for timestamps, `monotonic` and `sleep` for intervals.
 * Structurally a superset of the outbox's `Clock` ({ now, sleep }), so one object serves both.
 */
export interface Clock extends TimeSource {
  /** Resolves after `ms` of monotonic time, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: monotonicNow,
  sleep: (ms, signal) => sleepTimer(Math.max(0, ms), undefined, { signal }).catch(() => undefined),
};

/**
 * An interval measured on monotonic time: `elapsed()` since it started; `restart()`.
 * For "has repeatInterval / backoff / the probe interval passed" decisions held in memory.
 */
export class Stopwatch {
  private start: number;
  constructor(private readonly mono: () => number = monotonicNow) {
    this.start = mono();
  }
  elapsed(): number {
    return this.mono() - this.start;
  }
  restart(): void {
    this.start = this.mono();
  }
}

/** A deadline `ms` from now on monotonic time. */
export class Deadline {
  private readonly at: number;
  constructor(ms: number, private readonly mono: () => number = monotonicNow) {
    this.at = mono() + ms;
  }
  remaining(): number {
    return Math.max(0, this.at - this.mono());
  }
  expired(): boolean {
    return this.mono() >= this.at;
  }
}

/**
 * Converts a persisted wall-clock due time (written by an earlier process, or before a step of the
 * clock) into a monotonic one, clamped to [now, now + maxWaitMs]: a backward step of the wall clock
 * (or a due time written under a clock that was fast) can delay the work by at most `maxWaitMs`, the
 * longest delay the caller could have chosen, never by the size of the step; a forward step makes it
 * due at once (one early attempt, never a burst: the caller decides one thing per due time).
 */
export function monotonicDueFromWall(dueWall: number, time: TimeSource, maxWaitMs: number): number {
  const wait = Math.min(Math.max(0, dueWall - time.now()), Math.max(0, maxWaitMs));
  return time.monotonic() + wait;
}

/**
 * Notices steps of the wall clock: between two readings, the wall clock and the monotonic clock must
 * advance by the same amount; a difference larger than `toleranceMs` is a step (+ forward, - back).
 * Slewing (NTP's gradual correction, at most 0.5 ms per second) stays far below any sensible
 * tolerance, and a blocked event loop moves both clocks alike, so neither reads as a step.
 */
export class WallClockStepDetector {
  private wall: number;
  private mono: number;
  constructor(private readonly time: TimeSource, private readonly toleranceMs = 1000) {
    this.wall = time.now();
    this.mono = time.monotonic();
  }
  /** The step since the previous reading (0 when none), and the current readings. */
  read(): { stepMs: number; wall: number; mono: number } {
    const wall = this.time.now();
    const mono = this.time.monotonic();
    const skew = (wall - this.wall) - (mono - this.mono);
    this.wall = wall;
    this.mono = mono;
    return { stepMs: Math.abs(skew) > this.toleranceMs ? skew : 0, wall, mono };
  }
}
