// Runs a job on a node-cron schedule, never overlapping: a tick that arrives while the job still runs is
// skipped and reported, so a slow poll cannot pile up behind itself.
import cron, { type ScheduledTask } from 'node-cron';

export interface NonOverlappingScheduler {
  /** Runs the job now unless it is already running; returns false when skipped. */
  trigger(): Promise<boolean>;
  stop(): void;
  /** Resolves when the running job (if any) finishes. */
  idle(): Promise<void>;
}

export function scheduleNonOverlapping(expression: string, job: () => Promise<void>, onSkip: () => void): NonOverlappingScheduler {
  let running: Promise<void> | null = null;
  const trigger = async (): Promise<boolean> => {
    if (running) {
      onSkip();
      return false;
    }
    running = job().finally(() => { running = null; });
    await running;
    return true;
  };
  const task: ScheduledTask = cron.schedule(expression, () => { void trigger(); }, { noOverlap: false });
  return {
    trigger,
    stop: () => { void task.stop(); void task.destroy?.(); },
    idle: async () => { if (running) await running.catch(() => undefined); },
  };
}
