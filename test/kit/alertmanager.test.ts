// The Alertmanager example (config/alertmanager.example.yml), checked by the real amtool:
// the configuration is valid, critical alerts page and go to Slack, everything else goes to Slack,
// and store alerts are inhibited while their target is down.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ALERTS, path, read, run, skipWithout, toolVersion } from './lib.js';

const CONFIG = path('config', 'alertmanager.example.yml');
const routes = (labels: Record<string, string>): string[] => {
  const r = run('amtool', ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.stdout.trim().split(',').sort();
};

describe.skipIf(skipWithout('amtool'))('alertmanager example: amtool', () => {
  it('amtool check-config accepts it', () => {
    const r = run('amtool', ['check-config', CONFIG]);
    expect(r.status, `${toolVersion('amtool')}\n${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('routes every critical alert to PagerDuty and Slack, every warning to Slack only', () => {
    for (const [alertname, severity] of Object.entries(ALERTS)) {
      const got = routes({ alertname, severity, account_id: '111111111111', region: 'us-east-1' });
      expect(got, alertname).toEqual(severity === 'critical' ? ['pagerduty-keystore-watch', 'slack-keystore-watch'] : ['slack-keystore-watch']);
    }
  });
});

describe('alertmanager example: content', () => {
  const cfg = parseYaml(read('config', 'alertmanager.example.yml')) as any;

  it('groups by account_id and region', () => {
    expect(cfg.route.group_by).toEqual(expect.arrayContaining(['account_id', 'region']));
    for (const r of cfg.route.routes) expect(r.group_by).toEqual(expect.arrayContaining(['account_id', 'region']));
  });

  it('inhibits store alerts of an account/region while its target is down', () => {
    const rule = cfg.inhibit_rules.find((r: any) => r.source_matchers.includes('alertname="KeystoreWatchTargetDown"') && r.source_matchers.includes('component="kms"'));
    expect(rule).toBeDefined();
    expect(rule.equal).toEqual(['account_id', 'region']);
    const targetRe = new RegExp(`^${/alertname=~"(.*)"/.exec(rule.target_matchers[0])![1]}$`);
    for (const name of Object.keys(ALERTS)) {
      expect(targetRe.test(name), name).toBe(name.startsWith('KmsCustomKeyStore') || name.startsWith('CloudHsm'));
    }
  });

  it('every alert name in the inhibition rules exists', () => {
    for (const r of cfg.inhibit_rules) {
      for (const m of [...r.source_matchers, ...r.target_matchers]) {
        const eq = /^alertname="(\w+)"$/.exec(m);
        if (eq) expect(Object.keys(ALERTS)).toContain(eq[1]);
        const re = /^alertname=~"(.*)"$/.exec(m);
        if (re) expect(Object.keys(ALERTS).some((a) => new RegExp(`^${re[1]}$`).test(a)), m).toBe(true);
      }
    }
  });
});

// The example for keystore-watch's own `alertmanager` channel: routing by the account's owner tag and OU
// path, fed with the labels the channel really posts (alertLabels of a notification).
const CHANNEL_CONFIG = path('config', 'alertmanager', 'keystore-watch-channel.yml');
describe.skipIf(skipWithout('amtool'))('alertmanager channel example: amtool', () => {
  const routesFor = async (over: { severity?: 'critical' | 'warning'; ouPath?: string; tags?: Record<string, string> }): Promise<string[]> => {
    const { alert } = await import('../notify/fixtures.js');
    const { alertLabels } = await import('../../src/notify/alertmanager.js');
    const condition = over.severity === 'warning' ? 'SINGLE_AZ' : 'FAILED';
    const labels = alertLabels(alert({ condition, ...(over.severity ? { severity: over.severity } : {}) }, { ouPath: over.ouPath, tags: over.tags }));
    const r = run('amtool', ['config', 'routes', 'test', `--config.file=${CHANNEL_CONFIG}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    return r.stdout.trim().split(',').sort();
  };

  it('amtool check-config accepts it', () => {
    const r = run('amtool', ['check-config', CHANNEL_CONFIG]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('routes by tag_owner first, then by ou_path; critical alerts also page; unowned alerts reach the catch-all', async () => {
    expect(await routesFor({ severity: 'warning', tags: { owner: 'payments' }, ouPath: '/Prod/Identity' })).toEqual(['team-payments']);
    expect(await routesFor({ severity: 'critical', tags: { owner: 'identity' } })).toEqual(['kms-oncall-pager', 'team-identity']);
    expect(await routesFor({ severity: 'warning', ouPath: '/Prod/Payments/EU' })).toEqual(['team-payments']);
    expect(await routesFor({ severity: 'warning', ouPath: '/Prod/Identity' })).toEqual(['team-identity']);
    expect(await routesFor({ severity: 'warning', ouPath: '/Sandbox/dev' })).toEqual(['blackhole']);
    expect(await routesFor({ severity: 'warning', ouPath: '/Prod/PaymentsLegacy' })).toEqual(['kms-catch-all']);
  });
});
