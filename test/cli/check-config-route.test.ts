// check-config prints where alerts go: for each account, the channels a critical alert reaches, and with
// --route the channels of a sample alert (the real CLI, offline: no AWS call).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/sim.js';

const dir = tempDir();
const env = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) };

function config(name: string, alerting: object): string {
  const file = join(dir, name);
  writeFileSync(file, stringify({
    regions: ['us-east-1'], stateDir: join(dir, 'data'),
    accounts: [
      { id: '111111111111', name: 'payments-prod', tags: { team: 'payments' }, ouPath: '/Prod/Payments' },
      { id: '222222222222', name: 'data-lake', ouPath: '/Prod/Data/Lake' },
      { id: '333333333333', name: 'sandbox' },
    ],
    alerting: {
      channels: [
        { type: 'console', name: 'ops', minSeverity: 'warning' },
        { type: 'webhook', name: 'payments', url: 'http://127.0.0.1:9/p' },
        { type: 'webhook', name: 'data', url: 'http://127.0.0.1:9/d' },
        { type: 'webhook', name: 'pager', url: 'http://127.0.0.1:9/x', minSeverity: 'critical' },
      ],
      ...alerting,
    },
  }));
  return file;
}

const TEAMS = {
  defaultChannels: ['ops'],
  routes: [
    { matchers: 'tag_team="payments"', channels: ['payments'], continue: true },
    { matchers: 'ou_path=~"/Prod/Data(/.*)?"', channels: ['data'], continue: true },
    { matchers: 'severity="critical"', channels: ['pager'] },
  ],
};

const lineOf = (out: string, start: RegExp): string => out.split('\n').find((l) => start.test(l)) ?? '';

describe('check-config and routing', () => {
  it('prints, per account, the channels a critical alert reaches and the routes that lead there', async () => {
    const r = await runCli(['check-config', '--offline', '--config', config('teams.yaml', TEAMS)], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('routing: 3 route(s) under the default route; alerts no route takes go to ops');
    expect(lineOf(r.stdout, /^ {4}111111111111/)).toMatch(/payments via alerting\.routes\[0\] \{tag_team="payments"\}; pager via alerting\.routes\[2\]/);
    expect(lineOf(r.stdout, /^ {4}222222222222/)).toMatch(/data via alerting\.routes\[1\] \{ou_path=~"\/Prod\/Data\(\/\.\*\)\?"\}; pager via/);
    expect(lineOf(r.stdout, /^ {4}333333333333/)).toMatch(/ {2}pager via alerting\.routes\[2\]/);
    expect(lineOf(r.stdout, /^ {4}333333333333/)).not.toContain('ops');
  });

  it('--route: a sample alert, with the facts of the account it names', async () => {
    const cfg = config('teams-route.yaml', TEAMS);
    const crit = await runCli(['check-config', '--offline', '--config', cfg, '--route', 'account_name=payments-prod,severity=critical'], { env });
    expect(crit.code).toBe(0);
    const section = crit.stdout.slice(crit.stdout.indexOf('\nroute '));
    expect(section).toContain('tag_team="payments"} (with the labels of account 111111111111):');
    expect(section).toMatch(/\n {2}payments via alerting\.routes\[0\]/);
    expect(section).toMatch(/\n {2}pager via alerting\.routes\[2\]/);
    const warn = await runCli(['check-config', '--offline', '--config', cfg, '--route', 'account_name=sandbox,severity=warning'], { env });
    const wsection = warn.stdout.slice(warn.stdout.indexOf('\nroute '));
    expect(wsection).toMatch(/\n {2}ops via default route/);
    expect(wsection).not.toContain('pager');
    // A channel reached whose own minSeverity refuses the alert is shown as such.
    const info = await runCli(['check-config', '--offline', '--config', cfg, '--route', 'account_name=sandbox,severity=info'], { env });
    expect(info.stdout).toContain("ops (not sent: below the channel's minSeverity warning) via default route");
  });

  it('without routes: every channel, as before', async () => {
    const r = await runCli(['check-config', '--offline', '--config', config('flat.yaml', {}), '--route', 'account_id=333333333333'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('routing: no alerting.routes: every channel takes every alert its minSeverity allows');
    expect(lineOf(r.stdout, /^ {4}333333333333/)).toMatch(/ops via default route; payments via default route; data via default route; pager via default route/);
  });

  it('a bad --route or a route naming an unknown channel exits 2 saying why', async () => {
    const bad = await runCli(['check-config', '--offline', '--config', config('bad-sample.yaml', TEAMS), '--route', 'account_name=~"pay.*"'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--route takes label=value pairs');
    const syntax = await runCli(['check-config', '--offline', '--config', config('bad-syntax.yaml', TEAMS), '--route', 'account_name="x'], { env });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/--route: column 14: quoted string is not closed/);
    const file = config('unknown-channel.yaml', { routes: [{ matchers: 'tag_team="payments"', channels: ['payment'] }] });
    const unknown = await runCli(['check-config', '--offline', '--config', file], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(file);
    expect(unknown.stderr).toContain('alerting.routes[0].channels[0]: unknown channel "payment"');
  });
});
