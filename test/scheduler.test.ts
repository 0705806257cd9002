import { describe, expect, it } from 'vitest';
import { cronSlots, nonOverlapping, onSchedule, startSchedule, tick, type SlotSource } from '../src/scheduler.js';

describe('nonOverlapping', () => {
  it('skips (and reports) a trigger while the job runs, then runs again', async () => {
    let release!: () => void;
    let runs = 0;
    let skips = 0;
    let starts = 0;
    const guard = nonOverlapping(() => { runs++; return new Promise<void>((r) => { release = r; }); }, () => skips++, () => starts++);
    const first = guard.trigger();
    expect(await guard.trigger()).toBe(false);
    expect(skips).toBe(1);
    release();
    expect(await first).toBe(true);
    const third = guard.trigger();
    release();
    expect(await third).toBe(true);
    expect(runs).toBe(2);
    expect(starts).toBe(2);
  });

  it('is free again after a job fails', async () => {
    const guard = nonOverlapping(() => Promise.reject(new Error('boom')), () => {});
    await expect(guard.trigger()).rejects.toThrow('boom');
    await guard.idle();
    await expect(guard.trigger()).rejects.toThrow('boom');
  });
});

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0, 300);

/** Every `ms`, aligned on the epoch (what "*\/2 * * * * *" is in any time zone). */
const every = (ms: number): SlotSource => ({ after: (w) => Math.floor(w / ms) * ms + ms });

interface Sim {
  runs: { mono: number; wall: number; kind: 'due' | 'catch-up' }[];
  steps: number[];
}

/**
 * Drives the pure scheduler as the timer would: wake after each waitMs of monotonic time; the wall
 * clock is the monotonic one plus an offset that the `steps` change (between two wake-ups, as a real
 * step lands while the timer sleeps); `stalls` make a wake-up late on both clocks (a blocked loop).
 */
function simulate(slots: SlotSource, opts: { durationMs: number; steps?: { atMono: number; byMs: number }[]; stalls?: { atMono: number; forMs: number }[]; startWall?: number }): Sim {
  let mono = 1_000; // any origin
  let offset = (opts.startWall ?? T0) - mono;
  const end = mono + opts.durationMs;
  let state = startSchedule(slots, mono + offset, mono);
  let wait = Math.max(1, Math.min(state.slot - (mono + offset), 1000));
  const out: Sim = { runs: [], steps: [] };
  const steps = [...(opts.steps ?? [])].map((s) => ({ ...s, atMono: s.atMono + 1_000 }));
  const stalls = [...(opts.stalls ?? [])].map((s) => ({ ...s, atMono: s.atMono + 1_000 }));
  while (mono < end) {
    let next = mono + wait;
    for (const s of stalls) if (s.atMono > mono && s.atMono <= next) next += s.forMs;
    for (const s of steps) if (s.atMono > mono && s.atMono <= next) offset += s.byMs;
    mono = next;
    const t = tick(state, mono + offset, mono, slots);
    state = t.state;
    if (t.stepMs !== 0) out.steps.push(t.stepMs);
    if (t.run) out.runs.push({ mono: mono - 1_000, wall: mono + offset, kind: t.run });
    wait = t.waitMs;
  }
  return out;
}

const gaps = (s: Sim) => s.runs.slice(1).map((r, i) => r.mono - s.runs[i]!.mono);

describe('slots: cronSlots (node-cron computes the wall-clock slots)', () => {
  it('gives the first slot strictly after t', () => {
    const slots = cronSlots('*/2 * * * * *');
    const t = Date.UTC(2026, 0, 1, 0, 0, 0, 0);
    expect(slots.after(t)).toBe(t + 2 * SEC);
    expect(slots.after(t + 1)).toBe(t + 2 * SEC);
    expect(slots.after(t + 1999)).toBe(t + 2 * SEC);
    expect(slots.after(t + 2 * SEC)).toBe(t + 4 * SEC);
    expect(slots.after(t + 3 * SEC + 500)).toBe(t + 4 * SEC);
  });

  it('5 fields are minutes; a chain of slots has the schedule\'s pace', () => {
    const slots = cronSlots('*/5 * * * *');
    let t = Date.UTC(2026, 0, 1, 0, 1, 30);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) seen.push((t = slots.after(t)));
    expect(seen.slice(1).map((s, i) => s - seen[i]!)).toEqual([5 * MIN, 5 * MIN, 5 * MIN]);
    expect(new Date(seen[0]!).getMinutes() % 5).toBe(0);
    expect(new Date(seen[0]!).getSeconds()).toBe(0);
  });

  it('a daily expression names that local time of day', () => {
    const slots = cronSlots('30 3 * * *');
    const t = Date.UTC(2026, 5, 10, 12, 0, 0);
    const s = slots.after(t);
    expect(s).toBeGreaterThan(t);
    expect(s - t).toBeLessThanOrEqual(DAY + HOUR); // + a DST shift at most
    expect([new Date(s).getHours(), new Date(s).getMinutes(), new Date(s).getSeconds()]).toEqual([3, 30, 0]);
  });

  it('rejects an invalid expression as cron.schedule would', () => {
    expect(() => cronSlots('*/2 * * *')).toThrow();
    expect(() => cronSlots('not cron')).toThrow();
  });
});

describe('tick: the pure scheduler (injected clocks)', () => {
  it('without a step: one run per slot, on the slot', () => {
    const s = simulate(every(2 * SEC), { durationMs: 60 * SEC });
    expect(s.runs).toHaveLength(30);
    expect(s.runs.every((r) => r.kind === 'due' && r.wall % (2 * SEC) === 0)).toBe(true);
    expect(new Set(gaps(s))).toEqual(new Set([2 * SEC]));
    expect(s.steps).toEqual([]);
  });

  it('an hour back: re-anchors on the new clock and keeps the pace (the old scheduler stopped for the hour)', () => {
    const s = simulate(every(2 * SEC), { durationMs: 60 * SEC, steps: [{ atMono: 10_700, byMs: -HOUR }] });
    expect(s.steps).toHaveLength(1);
    expect(s.steps[0]).toBeCloseTo(-HOUR, -3);
    expect(s.runs.length).toBeGreaterThanOrEqual(29);
    expect(s.runs.length).toBeLessThanOrEqual(31);
    expect(Math.max(...gaps(s))).toBeLessThan(4 * SEC); // never more than two intervals between runs
    const after = s.runs.filter((r) => r.mono > 10_700);
    expect(after[0]!.wall).toBeLessThan(T0); // running on the new (earlier) wall clock
    expect(after.every((r) => r.wall % (2 * SEC) === 0)).toBe(true); // on its slots
  });

  it('an hour forward: one catch-up run, then the pace (no burst for the 1800 slots passed over)', () => {
    const s = simulate(every(2 * SEC), { durationMs: 60 * SEC, steps: [{ atMono: 10_700, byMs: HOUR }] });
    expect(s.steps).toHaveLength(1);
    expect(s.runs.filter((r) => r.kind === 'catch-up')).toHaveLength(1);
    expect(s.runs.length).toBeGreaterThanOrEqual(30);
    expect(s.runs.length).toBeLessThanOrEqual(31);
    expect(Math.max(...gaps(s))).toBeLessThanOrEqual(2 * SEC);
    // Every run but the catch-up is on a slot of the new clock.
    expect(s.runs.filter((r) => r.kind === 'due').every((r) => r.wall % (2 * SEC) === 0)).toBe(true);
  });

  it('a step forward that does not reach the awaited slot is only a re-anchor (no extra run)', () => {
    // every minute; at 10.7 s past a slot the clock jumps 20 s: the slot is still ahead.
    const s = simulate(every(MIN), { durationMs: 5 * MIN, steps: [{ atMono: 10_700, byMs: 20 * SEC }], startWall: Date.UTC(2026, 0, 1) + 100 });
    expect(s.steps).toHaveLength(1);
    expect(s.runs.every((r) => r.kind === 'due')).toBe(true);
    expect(s.runs).toHaveLength(5);
  });

  it('a daily slot passed over by a step forward runs once at once; a step back waits for the new clock\'s slot', () => {
    const startWall = Date.UTC(2026, 0, 1, 2, 59, 0); // 02:59 UTC, slots at 03:00 UTC
    const daily: SlotSource = { after: (w) => { const d = Math.floor((w - 3 * HOUR) / DAY) * DAY + 3 * HOUR + DAY; return d; } };
    const fwd = simulate(daily, { durationMs: 10 * MIN, steps: [{ atMono: 30 * SEC, byMs: HOUR }], startWall });
    expect(fwd.runs.map((r) => r.kind)).toEqual(['catch-up']);
    const back = simulate(daily, { durationMs: 10 * MIN, steps: [{ atMono: 30 * SEC, byMs: -HOUR }], startWall });
    expect(back.runs).toEqual([]); // 03:00 is now 1 h 0.5 min away: nothing to run in these 10 minutes
  });

  it('a clock flapping ±1 h every 1.5 s: never more than twice the pace (catch-ups held back), never a stall', () => {
    const flaps = Array.from({ length: 400 }, (_, i) => ({ atMono: 1_500 * (i + 1), byMs: i % 2 === 0 ? HOUR : -HOUR }));
    const fast = simulate(every(2 * SEC), { durationMs: 10 * MIN, steps: flaps });
    expect(fast.steps.length).toBeGreaterThan(350);
    expect(fast.runs.length).toBeGreaterThanOrEqual(10 * MIN / (2 * SEC) / 2); // at least half the pace: no stall
    expect(fast.runs.length).toBeLessThanOrEqual(2 * (10 * MIN / (2 * SEC)) + 1);
    expect(Math.max(...gaps(fast))).toBeLessThanOrEqual(4 * SEC);
    // Hourly: the first forward flip passes over the slot an hour ahead (one catch-up); after that,
    // catch-ups wait half an hour.
    const hourly = simulate(every(HOUR), { durationMs: 10 * MIN, steps: flaps, startWall: T0 + 20 * MIN });
    expect(hourly.runs.length).toBeLessThanOrEqual(1);
  });

  it('a blocked event loop (both clocks move together) is not a step, and passed slots collapse into one run', () => {
    const s = simulate(every(2 * SEC), { durationMs: 30 * SEC, stalls: [{ atMono: 5_100, forMs: 9_000 }] });
    expect(s.steps).toEqual([]);
    expect(s.runs.every((r) => r.kind === 'due')).toBe(true);
    expect(Math.min(...gaps(s))).toBeGreaterThanOrEqual(SEC); // no burst after the stall
    expect(s.runs.length).toBeLessThanOrEqual(15 - 4 + 1);
  });

  it('slewing (NTP\'s gradual correction, 500 ppm) is not a step', () => {
    const slots = every(2 * SEC);
    let state = startSchedule(slots, T0, 0);
    let mono = 0;
    let wall = T0;
    for (let i = 0; i < 3600; i++) {
      mono += 1000;
      wall += 1000.5;
      const t = tick(state, wall, mono, slots);
      expect(t.stepMs).toBe(0);
      state = t.state;
    }
  });

  it('waits at most checkEveryMs, so a step is noticed within a second even on an hourly schedule', () => {
    const slots = every(HOUR);
    const state = startSchedule(slots, T0, 0);
    const t = tick(state, T0 + 1000, 1000, slots);
    expect(t.run).toBeNull();
    expect(t.waitMs).toBe(1000);
    expect(t.dueMono).toBe(1000 + (state.slot - (T0 + 1000)));
  });
});

describe('onSchedule (real timers, injected wall clock)', () => {
  it('keeps triggering at the pace across a step of the injected wall clock', async () => {
    let offset = 0;
    const time = { now: () => Date.now() + offset, monotonic: () => performance.now() };
    let runs = 0;
    const armed: boolean[] = [];
    const steps: number[] = [];
    const guard = nonOverlapping(async () => { runs++; }, () => {});
    const stop = onSchedule(every(200), guard, {
      time, checkEveryMs: 50, jumpToleranceMs: 100,
      onArmed: (e) => armed.push(e.reanchored),
      onStep: (e) => steps.push(e.stepMs),
    });
    try {
      const until = async (cond: () => boolean) => { const d = performance.now() + 20_000; while (!cond() && performance.now() < d) await new Promise((r) => setTimeout(r, 20)); };
      await until(() => runs >= 3);
      offset = -HOUR;
      const before = runs;
      await until(() => runs >= before + 3);
      expect(runs).toBeGreaterThanOrEqual(before + 3);
      expect(steps).toHaveLength(1);
      expect(steps[0]!).toBeLessThan(-HOUR + 1000);
      expect(armed).toContain(true);
    } finally {
      stop();
    }
  });
});

describe('onSchedule: a slot that cannot be computed', () => {
  it('reports it and tries again instead of throwing from the timer', async () => {
    let fail = true;
    const errors: unknown[] = [];
    let runs = 0;
    let calls = 0;
    const slots: SlotSource = {
      after: (w) => {
        calls++;
        if (calls > 1 && fail) throw new Error('no slot');
        return Math.floor(w / 100) * 100 + 100;
      },
    };
    const stop = onSchedule(slots, nonOverlapping(async () => { runs++; }, () => {}), { checkEveryMs: 30, onError: (e) => errors.push(e) });
    try {
      const d = performance.now() + 20_000;
      while (errors.length < 2 && performance.now() < d) await new Promise((r) => setTimeout(r, 10));
      expect(errors.length).toBeGreaterThanOrEqual(2);
      fail = false;
      const before = runs;
      while (runs < before + 2 && performance.now() < d) await new Promise((r) => setTimeout(r, 10));
      expect(runs).toBeGreaterThanOrEqual(before + 2);
    } finally {
      stop();
    }
  });
});

describe('routeCronLogs: node-cron\'s console output goes through our logger', () => {
  it('turns a node-cron log call into one JSON line of ours, never a console line', async () => {
    const { captureLogger } = await import('./reliability/support.js');
    const cron = (await import('node-cron')).default;
    const { routeCronLogs } = await import('../src/scheduler.js');
    const logs = captureLogger('debug');
    const consoleLines: unknown[] = [];
    const saved = { error: console.error, warn: console.warn, info: console.info, debug: console.debug };
    console.error = console.warn = console.info = console.debug = (...a: unknown[]) => { consoleLines.push(a); };
    routeCronLogs(logs.logger);
    const task = cron.schedule('* * * * * *', () => { throw new Error('job blew up'); });
    try {
      const d = performance.now() + 20_000;
      while (!logs.text().includes('job blew up') && performance.now() < d) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await task.destroy();
      Object.assign(console, saved);
      routeCronLogs(); // off, as the daemon leaves it when it has no logger
    }
    const line = logs.lines().map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).includes('job blew up'));
    expect(line).toMatchObject({ source: 'node-cron', severity: 'error' });
    expect(consoleLines).toEqual([]);
  });
});
