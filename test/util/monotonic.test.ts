import { describe, expect, it } from 'vitest';
import { Deadline, Stopwatch, WallClockStepDetector, monotonicDueFromWall, systemClock } from '../../src/util/monotonic.js';

/** Two clocks the test moves: `wall` can be stepped, `mono` only advances. */
const clocks = (wall = Date.UTC(2026, 0, 1), mono = 5_000) => {
  const c = { wall, mono, now: () => c.wall, monotonic: () => c.mono, advance: (ms: number) => { c.wall += ms; c.mono += ms; } };
  return c;
};

describe('monotonic helpers', () => {
  it('Stopwatch and Deadline measure on the monotonic clock only', () => {
    const c = clocks();
    const sw = new Stopwatch(c.monotonic);
    const dl = new Deadline(1_000, c.monotonic);
    c.wall -= 3_600_000; // a step back changes nothing
    c.mono += 400;
    expect(sw.elapsed()).toBe(400);
    expect(dl.remaining()).toBe(600);
    expect(dl.expired()).toBe(false);
    c.wall += 7_200_000; // nor a step forward
    c.mono += 600;
    expect(dl.expired()).toBe(true);
    expect(dl.remaining()).toBe(0);
    sw.restart();
    expect(sw.elapsed()).toBe(0);
  });

  it('monotonicDueFromWall: a persisted due time is clamped to [now, now + maxWait]', () => {
    const c = clocks();
    expect(monotonicDueFromWall(c.wall + 2_000, c, 300_000)).toBe(c.mono + 2_000);
    // Written under a clock an hour fast (or before a step back): waits the longest delay, not an hour.
    expect(monotonicDueFromWall(c.wall + 3_600_000, c, 300_000)).toBe(c.mono + 300_000);
    // Written an hour in the past (a step forward): due now.
    expect(monotonicDueFromWall(c.wall - 3_600_000, c, 300_000)).toBe(c.mono);
  });

  it('WallClockStepDetector: a step is a difference between the two advances above the tolerance', () => {
    const c = clocks();
    const d = new WallClockStepDetector(c, 1_000);
    c.advance(10_000); // a blocked loop or a long wait: both move
    expect(d.read().stepMs).toBe(0);
    c.advance(1_000);
    c.wall += 900; // below the tolerance
    expect(d.read().stepMs).toBe(0);
    c.advance(1_000);
    c.wall -= 3_600_000;
    expect(d.read().stepMs).toBe(-3_600_000);
    c.advance(1_000);
    expect(d.read().stepMs).toBe(0); // measured between readings: reported once
    c.wall += 60_000;
    expect(d.read().stepMs).toBe(60_000);
  });

  it('systemClock.sleep waits and wakes early on abort', async () => {
    const t0 = systemClock.monotonic();
    await systemClock.sleep(20);
    expect(systemClock.monotonic() - t0).toBeGreaterThanOrEqual(19);
    const ctl = new AbortController();
    const slept = systemClock.sleep(60_000, ctl.signal);
    ctl.abort();
    await expect(slept).resolves.toBeUndefined();
  });
});
