// Runs a job never overlapping itself: a trigger that arrives while the job still runs is skipped and
// reported, so a slow poll cannot pile up behind itself. The cron schedule is one source of triggers;
// pollNow() (tests, one-off use) is another, and shares the same guard.
import cron, { type ScheduledTask } from 'node-cron';

export interface NonOverlapping {
  /** Runs the job now unless it is already running; returns false when skipped. */
  trigger(): Promise<boolean>;
  /** Resolves when the running job (if any) finishes. */
  idle(): Promise<void>;
}

export function nonOverlapping(job: () => Promise<void>, onSkip: () => void): NonOverlapping {
  let running: Promise<void> | null = null;
  return {
    trigger: async () => {
      if (running) {
        onSkip();
        return false;
      }
      running = job().finally(() => { running = null; });
      await running;
      return true;
    },
    idle: async () => { if (running) await running.catch(() => undefined); },
  };
}

/** Triggers the guarded job on a node-cron expression; returns the function that stops the ticks. */
export function onSchedule(expression: string, guard: NonOverlapping): () => void {
  const task: ScheduledTask = cron.schedule(expression, () => { void guard.trigger(); });
  return () => { void task.stop(); void task.destroy?.(); };
}
