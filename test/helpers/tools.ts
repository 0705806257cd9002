// Real external tools (promtool, amtool, aws, python3 boto3): tests that need one skip only on a developer
// machine without it; under CI=true a missing tool is a failure, so CI can never silently skip them.
import { execFileSync, spawnSync } from 'node:child_process';

export function hasTool(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0 || (r.error === undefined && r.status !== null);
}

/** true when the test must run (tool present, or CI where absence must fail loudly). */
export function mustRun(cmd: string, args?: string[]): boolean {
  return hasTool(cmd, args) || Boolean(process.env.CI);
}

/** Runs promtool check metrics on exposition text; returns the problems it printed (empty = clean). */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export { execFileSync };
