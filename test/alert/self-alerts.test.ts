// Self-alerts: one firing and one resolved per episode, stable idempotency keys, channel exclusion
// with a fallback, and delivery that cannot throw into the caller.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AlertPipeline } from '../../src/pipeline/alert-pipeline.js';
import { SelfAlerts, selfAlertNotification } from '../../src/alert/self-alerts.js';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { AlertNotification, Notification } from '../../src/model.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import { startReceiver } from '../helpers/receiver.js';

function harness(opts: { fail?: boolean; channels?: string[] } = {}) {
  const sent: AlertNotification[] = [];
  const errors: string[] = [];
  let t = 1000;
  const self = new SelfAlerts({
    deliver: async (ns: Notification[]) => {
      if (opts.fail) throw new Error('outbox unavailable');
      sent.push(...(ns as AlertNotification[]));
    },
    channelsFor: (n) => (opts.channels ?? ['slack', 'pagerduty']).filter((c) => !(n as AlertNotification).excludeChannels?.includes(c)),
    now: () => t,
    log: { error: (o) => errors.push(JSON.stringify(o)), warn() {}, info() {} },
  });
  return { self, sent, errors, tick: (ms: number) => { t += ms; } };
}
const flush = () => new Promise((r) => setTimeout(r, 0));

describe('SelfAlerts', () => {
  it('fires once, updates silently, resolves once', async () => {
    const h = harness();
    expect(h.self.raise({ id: 'state-persist', severity: 'critical', summary: 'keystore-watch cannot persist state: ENOSPC', detail: 'd' })).toBe(true);
    h.tick(5000);
    expect(h.self.raise({ id: 'state-persist', severity: 'critical', summary: 'keystore-watch cannot persist state: EROFS', detail: 'd' })).toBe(false);
    expect(h.self.firing()).toMatchObject([{ id: 'state-persist', summary: 'keystore-watch cannot persist state: EROFS', since: 1000 }]);
    expect(h.self.resolve('state-persist')).toBe(true);
    expect(h.self.resolve('state-persist')).toBe(false);
    await flush();
    expect(h.sent.map((n) => [n.kind, n.id, n.alertKey, n.condition, n.severity])).toEqual([
      ['firing', 'self:state-persist:firing:1000', 'SELF:state-persist', 'SELF', 'critical'],
      ['resolved', 'self:state-persist:resolved:1000', 'SELF:state-persist', 'SELF', 'critical'],
    ]);
    expect(h.sent[0]!.guidance.title).toBe('keystore-watch cannot persist state: ENOSPC');
    expect(h.sent[1]!.guidance.title).toBe('Resolved: keystore-watch cannot persist state: EROFS');
    expect(h.self.firing()).toEqual([]);
  });

  it('excludes channels unless that leaves none', async () => {
    const h = harness();
    h.self.raise({ id: 'outbox-dead-letters', severity: 'warning', summary: 's', detail: 'd', excludeChannels: ['slack'] });
    const lone = harness({ channels: ['slack'] });
    lone.self.raise({ id: 'outbox-dead-letters', severity: 'warning', summary: 's', detail: 'd', excludeChannels: ['slack'] });
    await flush();
    expect(h.sent[0]!.excludeChannels).toEqual(['slack']);
    expect(lone.sent[0]!.excludeChannels).toBeUndefined();
  });

  it('a failing delivery is logged, never thrown at the caller', async () => {
    const h = harness({ fail: true });
    expect(() => h.self.raise({ id: 'poll-overdue', severity: 'critical', summary: 's', detail: 'd' })).not.toThrow();
    await flush();
    await flush();
    expect(h.errors.join('')).toContain('outbox unavailable');
    expect(h.self.isFiring('poll-overdue')).toBe(true);
  });

  it('renders as an ordinary alert notification with the KeystoreWatchDegraded runbook', () => {
    const n = selfAlertNotification({ id: 'x', severity: 'warning', summary: 'title', detail: 'summary', kind: 'firing', since: 1, firedAt: 1, createdAt: 1, host: 'h' });
    expect(n.guidance.runbookAnchor).toBe('keystorewatchdegraded');
    expect(n.subject).toMatchObject({ accountId: 'keystore-watch', accountName: 'host h', details: { Condition: 'x' } });
    expect(n.guidance.steps.length).toBeGreaterThan(0);
  });
});

describe('self-alerts through the pipeline and the real outbox', () => {
  it('reach every channel, or every channel but the excluded one, over HTTP; the gauge follows', async () => {
    const rx = await startReceiver();
    try {
      const config = parseConfigText(stringify({
        regions: ['us-east-1'], accounts: [{ id: '111111111111' }],
        alerting: { channels: [{ type: 'webhook', url: `${rx.url}/one`, minSeverity: 'info' }, { type: 'webhook', url: `${rx.url}/two`, minSeverity: 'critical' }] },
      }), 'test', {});
      const metrics = new SelfMetrics({ processMetrics: false });
      const p = await AlertPipeline.open({ config, store: new MemoryStateStore(), logger: silentLogger(), metrics, now: Date.now });
      p.startDelivery();
      p.raiseSelfAlert({ id: 'state-persist', severity: 'critical', summary: 'keystore-watch cannot persist state: EROFS', detail: 'd' });
      p.raiseSelfAlert({ id: 'outbox-dead-letters', severity: 'critical', summary: 'dead letters on webhook', detail: 'd', excludeChannels: ['webhook'] });
      await rx.until(() => rx.requests.length >= 3, 20_000, 'three deliveries');
      expect(await metrics.render()).toContain('keystore_watch_self_alert{id="state-persist",severity="critical"} 1');
      p.resolveSelfAlert('state-persist');
      await rx.until(() => rx.requests.length >= 5, 20_000, 'the resolved on both channels');
      await p.stop(2000);
      const got = rx.requests.map((q) => `${q.path} ${(q.json as { notification: { alertKey: string } }).notification.alertKey} ${q.headers['x-keystore-watch-event']}`).sort();
      expect(got).toEqual([
        '/one SELF:state-persist firing', '/one SELF:state-persist resolved',
        '/two SELF:outbox-dead-letters firing', '/two SELF:state-persist firing', '/two SELF:state-persist resolved',
      ]);
      expect(await metrics.render()).toContain('keystore_watch_self_alert{id="state-persist",severity="critical"} 0');
    } finally {
      await rx.close();
    }
  });
});
