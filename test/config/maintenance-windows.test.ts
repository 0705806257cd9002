// alerting.maintenanceWindows: a bad window names its key; cron and matcher errors say what is wrong.
import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../../src/config/load.js';

const base = { accounts: [{ id: '111111111111', name: 'm' }], regions: ['us-east-1'] };
const parse = (windows: unknown) => parseConfig({ ...base, alerting: { maintenanceWindows: windows } }, 'keystore-watch.yaml', {});
const problem = (windows: unknown): string => { try { parse(windows); return ''; } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; } };

describe('alerting.maintenanceWindows', () => {
  it('accepts a cron window and a fixed one', () => {
    const c = parse([
      { name: 'sunday', matchers: ['account_id="111111111111"'], schedule: '0 2 * * SUN', duration: '2h' },
      { name: 'cutover', matchers: ['region=~"us-.*"'], start: '2026-12-01T02:00:00Z', end: '2026-12-01T04:00:00Z' },
    ]);
    expect(c.alerting.maintenanceWindows[0]).toMatchObject({ duration: 7_200_000 });
    expect(c.alerting.maintenanceWindows[1]).toMatchObject({ start: Date.UTC(2026, 11, 1, 2), end: Date.UTC(2026, 11, 1, 4) });
  });
  it('refuses bad ones, naming the file and key', () => {
    expect(problem([{ name: 'x', matchers: ['account_id=="1"'], schedule: '0 2 * * *', duration: '1h' }])).toMatch(/keystore-watch\.yaml.*maintenanceWindows/s);
    expect(problem([{ name: 'x', matchers: ['a="1"'], schedule: '0 99 * * *', duration: '1h' }])).toMatch(/maintenanceWindows/);
    expect(problem([{ name: 'x', matchers: ['a="1"'], schedule: '0 2 * * *', duration: '10s' }])).toMatch(/between 1m and 31d/);
    expect(problem([{ name: 'x', matchers: [], schedule: '0 2 * * *', duration: '1h' }])).toMatch(/maintenanceWindows/);
    expect(problem([{ name: 'x', matchers: ['a="1"'], start: '2026-12-01T04:00:00Z', end: '2026-12-01T02:00:00Z' }])).toMatch(/maintenanceWindows/);
    expect(problem([{ name: 'x', matchers: ['a="1"'], start: 'tomorrow', end: '2026-12-01T02:00:00Z' }])).toMatch(/maintenanceWindows/);
  });
});
