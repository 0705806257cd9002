// planReload (pure): what a new configuration changes, which parts of the daemon it rebuilds, and which
// changes need a restart (kept at the running value). Reloader: an invalid file names the file and
// every key; reloads run one at a time.
import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { planReload, Reloader, changedKeys } from '../../src/config/reload.js';
import type { Config } from '../../src/config/schema.js';

const base = {
  listen: '127.0.0.1:9464', stateDir: '/tmp/ksw', accounts: [{ id: '111111111111' }], regions: ['us-east-1'],
  http: { authToken: 'a-token-of-sixteen-chars' },
  alerting: { channels: [{ type: 'webhook', url: 'https://hooks.example.com/a' }] },
};
const cfg = (over: Record<string, unknown> = {}): Config => parseConfig({ ...base, ...over }, 'test', {});

describe('planReload', () => {
  it('nothing changed: nothing to apply', () => {
    expect(planReload(cfg(), cfg())).toMatchObject({ applied: [], restartRequired: [], parts: [] });
  });

  it('accounts and channels: the poller and the pipeline are rebuilt; the new config runs', () => {
    const next = cfg({ accounts: [{ id: '111111111111' }, { id: '222222222222', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }], alerting: { channels: [...base.alerting.channels, { type: 'alertmanager', url: 'http://am:9093' }] } });
    const plan = planReload(cfg(), next);
    expect(plan.applied).toEqual(['accounts', 'alerting.channels']);
    expect(plan.parts).toEqual(['pipeline', 'poller']);
    expect(plan.config.accounts).toHaveLength(2);
    expect(plan.config.alerting.channels).toHaveLength(2);
  });

  it('schedule, thresholds, regions, organizations, probe: each rebuilds what reads it', () => {
    expect(planReload(cfg(), cfg({ schedule: '*/5 * * * *' })).parts).toEqual(['schedule']);
    expect(planReload(cfg(), cfg({ alerting: { ...base.alerting, confirmations: 3 } }))).toMatchObject({ applied: ['alerting.confirmations'], parts: ['pipeline'] });
    expect(planReload(cfg(), cfg({ regions: ['us-east-1', 'us-west-2'] })).parts).toEqual(['poller']);
    expect(planReload(cfg(), cfg({ organizations: { enabled: true } })).parts).toEqual(['poller']);
    expect(planReload(cfg(), cfg({ probe: { enabled: true } })).parts).toEqual(['pipeline', 'poller']);
    expect(planReload(cfg(), cfg({ http: { ...base.http, externalUrl: 'https://ksw.example.com' } })).parts).toEqual(['pipeline']);
  });

  it('listen, TLS, state backend, authToken, aws: need a restart, logged and kept at the running value', () => {
    const next = cfg({
      listen: '0.0.0.0:9999', stateDir: '/tmp/other', aws: { concurrency: 4 },
      http: { authToken: 'another-token-of-16-chars', tls: { certFile: '/c.pem', keyFile: '/k.pem' } },
      state: { leaseDuration: '30s' }, accounts: [{ id: '333333333333' }],
    });
    const running = cfg();
    const plan = planReload(running, next);
    expect(plan.restartRequired).toEqual(['aws.concurrency', 'http.authToken', 'http.tls', 'listen', 'state.leaseDuration', 'stateDir']);
    expect(plan.applied).toEqual(['accounts']);
    expect(plan.config.listen).toBe(running.listen);
    expect(plan.config.stateDir).toBe(running.stateDir);
    expect(plan.config.http).toEqual(running.http);
    expect(plan.config.state).toEqual(running.state);
    expect(plan.config.aws).toEqual(running.aws);
    expect(plan.config.accounts[0]!.id).toBe('333333333333');
  });

  it('key order does not count as a change', () => {
    const a = cfg({ accounts: [{ id: '111111111111', tags: { a: '1', b: '2' } }] });
    const b = cfg({ accounts: [{ id: '111111111111', tags: { b: '2', a: '1' } }] });
    expect(changedKeys(a, b)).toEqual([]);
  });
});

describe('Reloader', () => {
  it('an invalid file: not applied, every problem named with the file and key', async () => {
    let applied = 0;
    const outcomes: unknown[] = [];
    const r = new Reloader({
      source: '/etc/ksw.yaml', running: () => cfg(), apply: async () => { applied++; },
      load: () => { throw new ConfigError('/etc/ksw.yaml', ['alerting.confirmations: Too small: expected number to be >=1', 'regions[0]: unknown AWS region "us-east-7"']); },
      onOutcome: (o) => outcomes.push(o),
    });
    const o = await r.reload('SIGHUP');
    expect(o).toMatchObject({ ok: false, by: 'SIGHUP', problems: ['/etc/ksw.yaml: alerting.confirmations: Too small: expected number to be >=1', '/etc/ksw.yaml: regions[0]: unknown AWS region "us-east-7"'] });
    expect(applied).toBe(0);
    expect(outcomes).toHaveLength(1);
  });

  it('runs reloads one at a time, in order', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((res) => { release = res; });
    let n = 0;
    const r = new Reloader({
      source: 'f', running: () => cfg(), load: () => cfg({ schedule: `*/${++n + 1} * * * *` }),
      apply: async (plan) => { order.push(`start ${plan.config.schedule}`); if (n === 1) await gate; order.push(`end ${plan.config.schedule}`); },
    });
    const a = r.reload('SIGHUP');
    const b = r.reload('api (127.0.0.1)');
    await new Promise((res) => setTimeout(res, 20));
    expect(order).toEqual(['start */2 * * * *']);
    release();
    expect((await a).ok).toBe(true);
    expect((await b).by).toBe('api (127.0.0.1)');
    expect(order).toEqual(['start */2 * * * *', 'end */2 * * * *', 'start */3 * * * *', 'end */3 * * * *']);
  });

  it('a failing apply keeps the running config and says why', async () => {
    const r = new Reloader({ source: 'f', running: () => cfg(), load: () => cfg({ schedule: '*/7 * * * *' }), apply: async () => { throw new Error('pipeline would not open'); } });
    expect(await r.reload('SIGHUP')).toMatchObject({ ok: false, problems: ['could not apply: pipeline would not open'] });
  });
});
