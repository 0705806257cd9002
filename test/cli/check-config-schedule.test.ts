// check-config prints the schedule in words and its real interval, and warns when a 6-field expression
// (seconds first) polls more often than once a minute.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/sim.js';

const dir = tempDir('kw-schedule-');
const write = (name: string, schedule: string) => {
  const file = join(dir, name);
  writeFileSync(file, `schedule: "${schedule}"\nstateDir: ${join(dir, 'state')}\nregions: [us-east-1]\naccounts: [{ id: "111111111111" }]\n`);
  return file;
};

describe('check-config and the schedule', () => {
  it('prints the schedule in words and the interval, and warns about a 6-field expression polling every few seconds', { timeout: 120_000 }, async () => {
    const [six, five] = await Promise.all([
      runCli(['check-config', '--offline', '--config', write('six.yaml', '*/5 * * * * *')], { timeoutMs: 120_000 }),
      runCli(['check-config', '--offline', '--config', write('five.yaml', '*/5 * * * *')], { timeoutMs: 120_000 }),
    ]);
    expect(six.code).toBe(0);
    expect(six.stdout).toContain('schedule: "*/5 * * * * *" = every 5 seconds; interval: every 5 seconds');
    expect(six.stderr).toMatch(/warning: schedule "\*\/5 \* \* \* \* \*" has 6 fields, the first being seconds: it polls every 5 seconds/);
    expect(five.code).toBe(0);
    expect(five.stdout).toContain('schedule: "*/5 * * * *" = every 5 minutes; interval: every 5 minutes');
    expect(five.stderr).not.toContain('warning');
  });
});
