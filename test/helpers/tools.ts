// Real external tools (promtool, amtool, prometheus, aws, script, openssl): tests that need one skip only
// on a developer machine without it; under CI=true a missing tool is a failure, so CI can never
// silently skip them.
import { spawnSync } from 'node:child_process';

export function which(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const hasTool = (bin: string): boolean => which(bin) !== null;

/** true when the test must run: every tool is present, or this is CI, where absence must fail loudly. */
export const mustRun = (...bins: string[]): boolean => Boolean(process.env.CI) || bins.every(hasTool);

/** Runs promtool check metrics on exposition text; returns the problems it printed (empty = clean). */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
