// When to poll. The cron expression decides the wall-clock slots ("every 2 s", "at :00 of every
// hour"); the waiting between them runs on monotonic time, so a step of the wall clock neither stops
// polling nor makes it burst.
//
// node-cron's own scheduler (cron.schedule) arms one timer for the next slot and, when it fires,
// compares the slot with the wall clock: after a backward step it finds the slot still in the future
// and re-arms for it, so polling stops for as long as the step (an hour back = an hour of silence,
// even after NTP has put the clock right); after a forward step it reports every slot in between as
// "missed" on the console. Here node-cron only parses the expression and computes slots; the wait is
// ours:
//
//   - the scheduler wakes at the slot or every `checkEveryMs` (1 s), whichever is sooner, and compares
//     how far the wall clock and the monotonic clock moved since the last wake;
//   - no step: when the wall clock reaches the slot, run, and wait for the first slot after now (slots
//     passed while the event loop was blocked collapse into that one run);
//   - a step in either direction (more than `jumpToleranceMs`): re-anchor on the new wall clock, i.e.
//     wait for the first slot after the new time, so polling goes on at the schedule's pace at once;
//     a forward step that passed over the slot being waited for runs the job once now (the one
//     catch-up: a daily 03:00 poll is not silently lost when the clock steps from 02:59 to 04:00).
// So between two runs there is never more than about one schedule interval plus the time already
// waited when the clock stepped (under two intervals), a step causes at most one extra run, and no
// sequence of steps makes runs come faster than twice the schedule's pace.
import cron from 'node-cron';
import { systemClock, type TimeSource } from './util/monotonic.js';

// ---------------------------------------------------------------------------------------------
// The job guard.

export interface NonOverlapping {
  /** Runs the job now unless it is already running; returns false when skipped. */
  trigger(): Promise<boolean>;
  /** Resolves when the running job (if any) finishes. */
  idle(): Promise<void>;
}

/**
 * Runs a job never overlapping itself: a trigger that arrives while the job still runs is skipped and
 * reported, so a slow poll cannot pile up behind itself. The schedule is one source of triggers;
 * pollNow() (tests, one-off use) is another, and shares the same guard. `onStart` is told of every
 * job that starts (the watchdog's "a poll started").
 */
export function nonOverlapping(job: () => Promise<void>, onSkip: () => void, onStart?: () => void): NonOverlapping {
  let running: Promise<void> | null = null;
  return {
    trigger: async () => {
      if (running) {
        onSkip();
        return false;
      }
      onStart?.();
      running = job().finally(() => { running = null; });
      await running;
      return true;
    },
    idle: async () => { if (running) await running.catch(() => undefined); },
  };
}

// ---------------------------------------------------------------------------------------------
// Slots: which wall-clock instants the expression names.

export interface SlotSource {
  /** The first slot strictly after `wall` (epoch ms), in the process's time zone. */
  after(wall: number): number;
}

interface TimeMatcherLike {
  getNextMatch(date: Date): Date;
}

/**
 * The slots of a node-cron expression (throws on an invalid one, as cron.schedule would). Uses the
 * same matcher cron.schedule uses (node-cron's TimeMatcher: time zone, DST, L/W/# tokens), reached
 * through a task that is created, never started, and destroyed at once. node-cron exposes no public
 * "next match after t" (getNextRuns() starts from the current time only); test/scheduler.test.ts
 * pins the results so an upgrade that moves the matcher fails loudly there, and this function
 * refuses to start rather than guess.
 */
export function cronSlots(expression: string): SlotSource {
  const task = cron.createTask(expression, () => undefined);
  const matcher = (task as unknown as { timeMatcher?: Partial<TimeMatcherLike> }).timeMatcher;
  void task.destroy();
  if (typeof matcher?.getNextMatch !== 'function') {
    throw new Error('node-cron no longer exposes its TimeMatcher (task.timeMatcher.getNextMatch): the scheduler cannot compute slots; check the installed node-cron version');
  }
  const m = matcher as TimeMatcherLike;
  return { after: (wall) => m.getNextMatch(new Date(wall)).getTime() };
}

// ---------------------------------------------------------------------------------------------
// Functional core: one wake-up of the scheduler.

export interface ScheduleState {
  /** The wall-clock slot being waited for. */
  slot: number;
  /** Wall and monotonic readings at the previous wake-up: a step is a difference between their advances. */
  wall: number;
  mono: number;
  /** Monotonic time of the last run this scheduler started (-Infinity before the first). */
  lastRunMono: number;
}

export interface TickOptions {
  /** The longest monotonic wait between two wake-ups (how quickly a step is noticed). */
  checkEveryMs: number;
  /** A difference between the wall and monotonic advances above this is a step of the wall clock. */
  jumpToleranceMs: number;
}

export const DEFAULT_TICK: TickOptions = { checkEveryMs: 1000, jumpToleranceMs: 1000 };

export interface Tick {
  state: ScheduleState;
  /** Run the job now: its slot came ('due'), or a forward step passed over it ('catch-up'); else null. */
  run: 'due' | 'catch-up' | null;
  /** The wall-clock step noticed at this wake-up (ms, + forward, - backward); 0 when none. */
  stepMs: number;
  /** Monotonic ms to wait before the next wake-up (at least 1). */
  waitMs: number;
  /** The monotonic time at which the awaited slot falls due, as the wall clock reads now. */
  dueMono: number;
}

export function startSchedule(slots: SlotSource, wall: number, mono: number): ScheduleState {
  return { slot: slots.after(wall), wall, mono, lastRunMono: -Infinity };
}

/** One wake-up at (wall, mono): run or not, the step noticed, and how long to wait. Pure. */
export function tick(prev: ScheduleState, wall: number, mono: number, slots: SlotSource, opts: TickOptions = DEFAULT_TICK): Tick {
  const skew = (wall - prev.wall) - (mono - prev.mono);
  const stepMs = Math.abs(skew) > opts.jumpToleranceMs ? skew : 0;
  let slot = prev.slot;
  let run: Tick['run'] = null;
  if (stepMs !== 0) {
    // Re-anchor on the new wall clock. Forward over the awaited slot: that slot and every one up to
    // now collapse into one run now, unless a run started less than half a schedule interval ago
    // (monotonic): a clock flapping back and forth (two time daemons fighting) would otherwise turn
    // every forward flip into a run, so catch-ups are held to at most twice the schedule's pace.
    if (stepMs > 0 && wall >= slot && mono - prev.lastRunMono >= (slots.after(slot) - slot) / 2) run = 'catch-up';
    slot = slots.after(wall);
  } else if (wall >= slot) {
    run = 'due';
    slot = slots.after(Math.max(wall, slot));
  }
  const untilSlot = slot - wall;
  return {
    state: { slot, wall, mono, lastRunMono: run ? mono : prev.lastRunMono },
    run,
    stepMs,
    waitMs: Math.max(1, Math.min(untilSlot, opts.checkEveryMs)),
    dueMono: mono + Math.max(0, untilSlot),
  };
}

// ---------------------------------------------------------------------------------------------
// Imperative shell: the timer.

export interface ScheduleEvents {
  /** A step of the wall clock was noticed; the schedule re-anchored (`catchUp`: one run now). */
  onStep?(e: { stepMs: number; catchUp: boolean; nextSlot: number }): void;
  /**
   * The slot awaited (at start and at every wake-up: after a run it is the next one, after a
   * re-anchor `reanchored` is set) falls due at monotonic time `dueMono`, as estimated now;
   * `intervalMs` is the gap to the slot after it (the schedule's pace there).
   */
  onArmed?(e: { slot: number; dueMono: number; intervalMs: number; reanchored: boolean }): void;
}

export interface ScheduleOptions extends ScheduleEvents, Partial<TickOptions> {
  time?: TimeSource;
  /** The next slot could not be computed; the scheduler tries again after checkEveryMs. */
  onError?(err: unknown): void;
}

/** Triggers the guarded job on a node-cron expression (or slot source); returns the function that stops it. */
export function onSchedule(expression: string | SlotSource, guard: NonOverlapping, opts: ScheduleOptions = {}): () => void {
  const slots = typeof expression === 'string' ? cronSlots(expression) : expression;
  const time = opts.time ?? systemClock;
  const tickOpts: TickOptions = { checkEveryMs: opts.checkEveryMs ?? DEFAULT_TICK.checkEveryMs, jumpToleranceMs: opts.jumpToleranceMs ?? DEFAULT_TICK.jumpToleranceMs };
  let state = startSchedule(slots, time.now(), time.monotonic());
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  let interval = { slot: NaN, ms: 0 };
  const armed = (dueMono: number, reanchored: boolean) => {
    if (!opts.onArmed) return;
    if (interval.slot !== state.slot) interval = { slot: state.slot, ms: slots.after(state.slot) - state.slot };
    opts.onArmed({ slot: state.slot, dueMono, intervalMs: interval.ms, reanchored });
  };

  const wake = () => {
    timer = null;
    if (stopped) return;
    let waitMs = tickOpts.checkEveryMs;
    try {
      const t = tick(state, time.now(), time.monotonic(), slots, tickOpts);
      state = t.state;
      waitMs = t.waitMs;
      if (t.stepMs !== 0) opts.onStep?.({ stepMs: t.stepMs, catchUp: t.run === 'catch-up', nextSlot: t.state.slot });
      // The guard starts the job synchronously (or counts a skip) before the next slot is armed, so a
      // watchdog sees "started" before it sees the next due time.
      if (t.run) guard.trigger().catch((err: unknown) => opts.onError?.(err));
      // Every wake-up re-states the due time: the estimate made a second ago is the one a slewing
      // clock cannot have moved (an hour's wait at 500 ppm is 1.8 s of drift).
      armed(t.dueMono, t.stepMs !== 0);
    } catch (err) {
      // A slot that cannot be computed (cannot happen for a validated expression) must not kill the
      // process from a timer callback: report, try again, and let the watchdog see the missing polls.
      opts.onError?.(err);
    }
    if (!stopped) timer = setTimeout(wake, waitMs);
  };

  armed(state.mono + Math.max(0, state.slot - state.wall), false);
  timer = setTimeout(wake, Math.max(1, Math.min(state.slot - state.wall, tickOpts.checkEveryMs)));
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
  };
}

/** Routes node-cron's own console output (it has a global logger) to ours, or drops it. */
export function routeCronLogs(log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void; debug(obj: object, msg: string): void; info(obj: object, msg: string): void }): void {
  const text = (m: unknown) => (m instanceof Error ? m.message : String(m));
  cron.setLogger(log
    ? {
      info: (m) => log.info({ source: 'node-cron' }, text(m)),
      warn: (m) => log.warn({ source: 'node-cron' }, text(m)),
      error: (m, err) => log.error({ source: 'node-cron', error: err ? text(err) : undefined }, text(m)),
      debug: (m, err) => log.debug({ source: 'node-cron', error: err ? text(err) : undefined }, text(m)),
    }
    : { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined });
}
