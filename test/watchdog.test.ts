import { describe, expect, it } from 'vitest';
import { IDLE_WATCHDOG, PollWatchdog, checkOverdue, defaultGraceMs, expectPoll, pollStarted } from '../src/watchdog.js';

describe('watchdog: pure decisions (monotonic ms)', () => {
  it('grace: 1.5 intervals, between 30 s and 5 min', () => {
    expect(defaultGraceMs(2_000)).toBe(30_000);
    expect(defaultGraceMs(60_000)).toBe(90_000);
    expect(defaultGraceMs(3_600_000)).toBe(300_000);
  });

  it('overdue only after due + grace with no start; one report per episode', () => {
    let s = expectPoll(IDLE_WATCHDOG, { dueMono: 1_000, slot: 5, graceMs: 500, reanchored: false });
    expect(checkOverdue(s, 1_500).overdue).toBeNull();
    const r = checkOverdue(s, 1_501);
    expect(r.overdue).toEqual({ slot: 5, overdueMs: 501, graceMs: 500 });
    s = r.state;
    expect(checkOverdue(s, 9_000).overdue).toBeNull(); // already reported
    const started = pollStarted(s, 9_000);
    expect(started.recovered).toEqual({ slot: 5, lateMs: 8_000 });
    expect(started.state).toEqual(IDLE_WATCHDOG);
  });

  it('a skipped tick keeps the earliest unmet due time', () => {
    let s = expectPoll(IDLE_WATCHDOG, { dueMono: 1_000, slot: 1, graceMs: 500, reanchored: false });
    s = expectPoll(s, { dueMono: 3_000, slot: 3, graceMs: 500, reanchored: false }); // tick skipped, next armed
    expect(checkOverdue(s, 1_600).overdue?.slot).toBe(1);
  });

  it('a poll started before the due time (pollNow, start-up) does not meet it', () => {
    const s = expectPoll(IDLE_WATCHDOG, { dueMono: 1_000, slot: 1, graceMs: 500, reanchored: false });
    const early = pollStarted(s, 200);
    expect(early.state.dueMono).toBe(1_000);
    expect(checkOverdue(early.state, 1_600).overdue).not.toBeNull();
    expect(pollStarted(s, 990).state).toEqual(IDLE_WATCHDOG); // within the 50 ms rounding
  });

  it('a fresher estimate of the pending slot\'s due time replaces the older one (slew), other slots do not', () => {
    let s = expectPoll(IDLE_WATCHDOG, { dueMono: 3_600_000, slot: 7, graceMs: 300_000, reanchored: false });
    // An hour later the wall clock (fast by 500 ppm) reaches the slot 1.8 s before the first estimate.
    s = expectPoll(s, { dueMono: 3_598_200, slot: 7, graceMs: 300_000, reanchored: false });
    expect(pollStarted(s, 3_598_200).state).toEqual(IDLE_WATCHDOG); // the scheduled poll meets it
    const later = expectPoll(s, { dueMono: 7_200_000, slot: 8, graceMs: 300_000, reanchored: false });
    expect(later.dueMono).toBe(3_598_200);
  });

  it('a re-anchor (wall clock stepped) replaces the due time, unless an episode is open', () => {
    let s = expectPoll(IDLE_WATCHDOG, { dueMono: 1_000, slot: 1, graceMs: 500, reanchored: false });
    s = expectPoll(s, { dueMono: 1_900, slot: 2, graceMs: 500, reanchored: true });
    expect(checkOverdue(s, 1_600).overdue).toBeNull();
    const open = checkOverdue(s, 2_401).state;
    expect(open.overdue).toBe(true);
    const kept = expectPoll(open, { dueMono: 10_000, slot: 3, graceMs: 500, reanchored: true });
    expect(kept.dueMono).toBe(1_900);
  });
});

describe('PollWatchdog (injected monotonic clock)', () => {
  it('calls onOverdue once and onRecovered when a poll starts', () => {
    let mono = 0;
    const events: string[] = [];
    const w = new PollWatchdog({ graceMs: 1_000, monotonic: () => mono, onOverdue: (e) => events.push(`overdue ${e.overdueMs}`), onRecovered: (e) => events.push(`recovered ${e.lateMs}`) });
    w.expect({ slot: 0, dueMono: 2_000, intervalMs: 2_000, reanchored: false });
    mono = 2_500;
    w.check();
    expect(events).toEqual([]);
    mono = 3_200;
    w.check();
    mono = 4_000;
    w.check();
    expect(w.overdue).toBe(true);
    mono = 5_000;
    w.started();
    expect(w.overdue).toBe(false);
    expect(events).toEqual(['overdue 1200', 'recovered 3000']);
  });

  it('without a fixed grace, uses the schedule interval\'s', () => {
    let mono = 0;
    const events: number[] = [];
    const w = new PollWatchdog({ monotonic: () => mono, onOverdue: (e) => events.push(e.graceMs), onRecovered: () => {} });
    w.expect({ slot: 0, dueMono: 0, intervalMs: 60_000, reanchored: false });
    mono = 90_000;
    w.check();
    expect(events).toEqual([]);
    mono = 90_001;
    w.check();
    expect(events).toEqual([90_000]);
  });
});
