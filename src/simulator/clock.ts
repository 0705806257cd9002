// The simulator's notion of time. Everything time-dependent (timeline offsets, CONNECTING
// delays, eventual consistency windows, credential expiry, rate-limit windows) reads this
// clock, so tests can jump it forward instead of sleeping.

export interface SimClock {
  /** Milliseconds since the epoch, simulated. */
  now(): number;
  /** Moves simulated time forward by `ms` (never backwards). */
  advance(ms: number): void;
}

/** Real time plus an offset that `advance` grows: the default clock. */
export function systemClock(): SimClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance: (ms) => { offset += Math.max(0, ms); },
  };
}

/** A clock that only moves when told to: fully deterministic tests. */
export function manualClock(start = Date.UTC(2025, 0, 1)): SimClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => { t += Math.max(0, ms); },
  };
}
