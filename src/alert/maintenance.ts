// Maintenance windows (alerting.maintenanceWindows) compiled for silences.ts: recurring windows open
// at each start of their cron schedule (UTC, node-cron's grammar via config/cron.ts) for `duration`;
// fixed windows from `start` to `end`. Pure: whether a window is open is a function of `now`.
import type { Config } from '../config/schema.js';
import { lastCronStart, parseCron } from '../config/cron.js';
import { compileMatchers } from './silence-matchers.js';
import type { CompiledWindow } from './silences.js';

type WindowConfig = Config['alerting']['maintenanceWindows'][number];

export function compileWindow(w: WindowConfig): CompiledWindow {
  const matches = compileMatchers(w.matchers);
  if ('schedule' in w) {
    const parsed = parseCron(w.schedule);
    if (!parsed.ok) throw new Error(`maintenance window ${w.name}: ${parsed.problem}`);
    const cron = parsed.cron;
    return {
      name: w.name, matches,
      activeUntil: (now) => {
        const start = lastCronStart(cron, now, w.duration);
        return start === null ? null : start + w.duration;
      },
    };
  }
  return { name: w.name, matches, activeUntil: (now) => (w.start <= now && now < w.end ? w.end : null) };
}

export const compileWindows = (ws: readonly WindowConfig[]): CompiledWindow[] => ws.map(compileWindow);
