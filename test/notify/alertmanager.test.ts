// The Alertmanager channel: the payload (pure), then against a REAL Alertmanager (Debian's
// prometheus-alertmanager, started here) queried with the real amtool: the alert shows with its labels
// and annotations, a silence made in Alertmanager mutes it there, the resolved alert disappears, and an
// Alertmanager outage loses nothing (the durable outbox delivers when it returns; the re-post restores
// what a restarted Alertmanager forgot, since it keeps alerts in memory only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerNotifier, alertLabels, alertsEndpoint, renderAlertmanager } from '../../src/notify/alertmanager.js';
import { channelSchema, type ChannelConfig } from '../../src/config/schema.js';
import { Outbox } from '../../src/notify/outbox.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import { AlertmanagerResender, resendNotifications } from '../../src/pipeline/alertmanager-resend.js';
import type { AlertPipeline } from '../../src/pipeline/alert-pipeline.js';
import type { AlertNotification } from '../../src/model.js';
import { alert, digest } from './fixtures.js';
import { startAlertmanager, type RunningAlertmanager } from '../helpers/alertmanager.js';
import { startReceiver, refusedUrl } from '../helpers/receiver.js';
import { mustRun } from '../helpers/tools.js';
import { until } from '../helpers/ha-cluster.js';

type AmChannel = Extract<ChannelConfig, { type: 'alertmanager' }>;
const channel = (over: Record<string, unknown>): AmChannel => channelSchema.parse({ type: 'alertmanager', ...over }) as AmChannel;

const NOW = Date.UTC(2025, 0, 2, 3, 6, 0);
const OUTAGE_MS = Number(process.env.KW_AM_OUTAGE_MS ?? 3000);

describe('alertmanager payload (pure)', () => {
  it('labels of a notification queued without them (an earlier version): the flat set from the subject, tags as tag_<key>, empty values left out', () => {
    const n = alert({}, { ouPath: '/Prod/Payments', tags: { owner: 'team-payments', CostCenter: 'cc-1' } });
    expect(alertLabels(n)).toEqual({
      alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', account_id: '111122223333', account_name: 'prod-payments', region: 'eu-west-1',
      custom_key_store_id: 'cks-0123456789abcdef0', custom_key_store_name: 'payments-hsm', custom_key_store_type: 'AWS_CLOUDHSM',
      cloudhsm_cluster_id: 'cluster-abcdefghijk', ou_path: '/Prod/Payments', code: 'INVALID_CREDENTIALS', tag_owner: 'team-payments', tag_cost_center: 'cc-1',
    });
    const d = alertLabels(alert({ condition: 'DISCONNECTED' }, { storeType: 'EXTERNAL_KEY_STORE', clusterId: null, errorCode: null, state: 'DISCONNECTED' }));
    expect(d.code).toBeUndefined();
    expect(d.cloudhsm_cluster_id).toBeUndefined();
    expect(d.alertname).toBe('KmsCustomKeyStoreDisconnected');
  });

  it('uses the labels the alert stage attached when present', () => {
    const n = { ...alert(), labels: { alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', team: 'payments', 'bad-name': 'x' } } as AlertNotification;
    expect(alertLabels(n)).toEqual({ alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', team: 'payments' });
  });

  it('firing: startsAt the condition start, endsAt 4 resend intervals ahead; annotations carry the fix', () => {
    const n = alert();
    const [a] = renderAlertmanager(n, { now: NOW, resendIntervalMs: 60_000, externalUrl: 'https://ksw.example.com/' });
    expect(a!.startsAt).toBe(new Date(n.since).toISOString());
    expect(a!.endsAt).toBe(new Date(NOW + 240_000).toISOString());
    expect(a!.generatorURL).toBe(`https://ksw.example.com/api/v1/alerts/${encodeURIComponent(n.alertKey)}`);
    expect(a!.annotations.summary).toBe(n.guidance.title);
    expect(a!.annotations.description).toContain(n.guidance.summary);
    expect(a!.annotations.runbook_url).toMatch(/runbooks\.md#/);
    expect(a!.annotations.steps).toContain(`1. ${n.guidance.steps[0]}`);
    expect(a!.annotations.commands).toContain(n.guidance.commands[0]);
  });

  it('resolved: endsAt (and startsAt) when the condition ended, so Alertmanager resolves it at once; no generatorURL without http.externalUrl', () => {
    const n = alert({ kind: 'resolved', since: NOW - 5000 });
    const [a] = renderAlertmanager(n, { now: NOW, resendIntervalMs: 60_000 });
    expect(a!.endsAt).toBe(new Date(NOW - 5000).toISOString());
    expect(a!.startsAt).toBe(a!.endsAt);
    expect(a!.generatorURL).toBeUndefined();
  });

  it('a digest posts its items (filtered by minSeverity) in one request', () => {
    const d = digest([alert(), alert({ condition: 'SINGLE_AZ', severity: 'warning' }), alert({ severity: 'info', condition: 'TRUST_ANCHOR_EXPIRING' })]);
    expect(renderAlertmanager(d, { now: NOW, resendIntervalMs: 60_000, minSeverity: 'warning' })).toHaveLength(2);
  });

  it('endpoint: the base URL (with a path prefix) gets /api/v2/alerts; credentials are not in it', () => {
    expect(alertsEndpoint('http://am:9093')).toBe('http://am:9093/api/v2/alerts');
    expect(alertsEndpoint('http://u:p@am:9093/alertmanager/')).toBe('http://am:9093/alertmanager/api/v2/alerts');
    expect(alertsEndpoint('http://am:9093/api/v2/alerts')).toBe('http://am:9093/api/v2/alerts');
  });

  it('config: url or urls (not both, not neither), resendInterval defaults to 1m, minSeverity to info', () => {
    const c = channel({ url: 'http://am:9093' });
    expect(c.resendInterval).toBe(60_000);
    expect(c.minSeverity).toBe('info');
    expect(channelSchema.safeParse({ type: 'alertmanager' }).success).toBe(false);
    expect(channelSchema.safeParse({ type: 'alertmanager', url: 'http://a:1', urls: ['http://b:1'] }).success).toBe(false);
    expect(channelSchema.safeParse({ type: 'alertmanager', url: 'http://a:1', resendInterval: '2h' }).success).toBe(false);
  });
});

describe('re-posting firing alerts (pure)', () => {
  const firing = [{ alertKey: 'k1', condition: 'FAILED' as const, severity: 'critical' as const, subject: alert().subject, since: 1000, firedAt: 2000 }];
  it('one reminder per firing alert, for this channel only, with an id per interval', () => {
    const ns = resendNotifications({ channel: 'am', otherChannels: ['slack', 'am', 'pd'], firing, self: [], queued: new Set(), now: 125_000, intervalMs: 60_000 });
    expect(ns).toHaveLength(1);
    expect(ns[0]).toMatchObject({ kind: 'reminder', alertKey: 'k1', id: 'k1:am-resend:2000:2', excludeChannels: ['slack', 'pd'], since: 1000 });
    const again = resendNotifications({ channel: 'am', otherChannels: ['am'], firing, self: [], queued: new Set(), now: 179_999, intervalMs: 60_000 });
    expect(again[0]!.id).toBe(ns[0]!.id);
    expect(again[0]!.excludeChannels).toBeUndefined();
  });
  it('skips an alert the channel still has queued (an outage queues at most one re-post per alert)', () => {
    expect(resendNotifications({ channel: 'am', otherChannels: [], firing, self: [], queued: new Set(['k1']), now: 1, intervalMs: 60_000 })).toEqual([]);
  });
  it('re-posts self-alerts too', () => {
    const ns = resendNotifications({ channel: 'am', otherChannels: [], firing: [], self: [{ id: 'poll-overdue', severity: 'critical', summary: 's', detail: 'd', since: 5, labels: { alertname: 'KeystoreWatchDegraded', severity: 'critical', self_alert: 'poll-overdue' } }], queued: new Set(), now: 1, intervalMs: 60_000 });
    expect(ns[0]).toMatchObject({ kind: 'reminder', alertKey: 'SELF:poll-overdue', condition: 'SELF' });
    expect(alertLabels(ns[0]!)).toMatchObject({ alertname: 'KeystoreWatchDegraded', self_alert: 'poll-overdue' });
  });
});

describe('alertmanager channel: auth, several URLs, secrets (local receivers)', () => {
  it('sends the bearer token or basic auth, never shows them in an error', async () => {
    const r = await startReceiver({ respond: () => ({ status: 401, body: 'unauthorized: got Bearer am-bearer-secret-123' }) });
    try {
      const bearer = new AlertmanagerNotifier(channel({ url: r.url, bearerToken: 'am-bearer-secret-123' }));
      const res = await bearer.send(alert());
      expect(res.ok).toBe(false);
      expect(r.requests[0]!.headers.authorization).toBe('Bearer am-bearer-secret-123');
      expect(r.requests[0]!.path).toBe('/api/v2/alerts');
      expect(JSON.stringify(res)).not.toContain('am-bearer-secret-123');
      const basic = new AlertmanagerNotifier(channel({ urls: [r.url.replace('http://', 'http://ops:url-pass-456789@')] }));
      const res2 = await basic.send(alert());
      expect(r.requests[1]!.headers.authorization).toBe(`Basic ${Buffer.from('ops:url-pass-456789').toString('base64')}`);
      expect(JSON.stringify(res2)).not.toContain('url-pass-456789');
    } finally {
      await r.close();
    }
  });

  it('several URLs: delivered when one instance takes it; retried when none does, naming each failure', async () => {
    const r = await startReceiver({ respond: () => ({ status: 200 }) });
    const dead = await refusedUrl();
    try {
      const n = new AlertmanagerNotifier(channel({ urls: [dead, r.url] }));
      expect((await n.send(alert())).ok).toBe(true);
      const none = new AlertmanagerNotifier(channel({ urls: [dead, dead] }));
      const res = await none.send(alert());
      expect(res).toMatchObject({ ok: false, retryable: true });
      expect(!res.ok && res.error).toMatch(/all 2 instances failed/);
    } finally {
      await r.close();
    }
  });
});

describe.skipIf(!mustRun('prometheus-alertmanager', 'amtool'))('alertmanager channel against a real Alertmanager', () => {
  let am: RunningAlertmanager;
  beforeAll(async () => { am = await startAlertmanager(); }, 60_000);
  afterAll(async () => { await am?.close(); });

  it('amtool shows the alert with its labels and annotations; an Alertmanager silence mutes it; the resolved alert disappears', async () => {
    const notifier = new AlertmanagerNotifier(channel({ url: am.url }), { externalUrl: 'http://ksw.example.com:9464' });
    const firing = alert({ since: Date.now() - 60_000 }, { accountId: '222233334444', ouPath: '/Prod/Payments', tags: { owner: 'team-payments' } });
    expect(await notifier.send(firing)).toMatchObject({ ok: true, status: 200 });

    const query = () => JSON.parse(am.amtool(['alert', 'query', '-o', 'json', 'account_id=222233334444'])) as { labels: Record<string, string>; annotations: Record<string, string>; generatorURL: string }[];
    const shown = query();
    expect(shown).toHaveLength(1);
    expect(shown[0]!.labels).toMatchObject({ alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', account_id: '222233334444', ou_path: '/Prod/Payments', tag_owner: 'team-payments', code: 'INVALID_CREDENTIALS' });
    expect(shown[0]!.annotations.summary).toBe(firing.guidance.title);
    expect(shown[0]!.annotations.runbook_url).toContain('#');
    expect(shown[0]!.annotations.commands).toContain(firing.guidance.commands[0]);
    expect(shown[0]!.generatorURL).toContain('http://ksw.example.com:9464/api/v1/alerts/');

    // A silence made in Alertmanager mutes it there (amtool shows active alerts only by default).
    const silenceId = am.amtool(['silence', 'add', 'account_id=222233334444', '--comment=HSM replacement', '--author=test', '--duration=1h']).trim();
    expect(silenceId).toMatch(/^[0-9a-f-]{36}$/);
    await until('the alert to be suppressed', 20_000, async () => (await am.alerts()).find((a) => a.labels.account_id === '222233334444')?.status.state === 'suppressed');
    expect(query()).toHaveLength(0);
    const silenced = JSON.parse(am.amtool(['alert', 'query', '-o', 'json', '--silenced', 'account_id=222233334444'])) as { status: { silencedBy: string[] } }[];
    expect(silenced[0]!.status.silencedBy).toEqual([silenceId]);
    // A re-post while silenced stays muted.
    expect((await notifier.send({ ...firing, kind: 'reminder', id: 'again' })).ok).toBe(true);
    expect(query()).toHaveLength(0);
    am.amtool(['silence', 'expire', silenceId]);
    await until('the alert to be active again', 20_000, () => query().length === 1);

    // Resolved: gone from Alertmanager's alerts.
    expect((await notifier.send({ ...firing, kind: 'resolved', id: 'res', since: Date.now() - 1000 })).ok).toBe(true);
    await until('the resolved alert to disappear', 20_000, async () => !(await am.alerts()).some((a) => a.labels.account_id === '222233334444'));
    expect(query()).toHaveLength(0);
  }, 90_000);

  it('an Alertmanager outage loses nothing: the outbox delivers after it returns, and the re-post restores what the restart forgot', async () => {
    const notifier = new AlertmanagerNotifier(channel({ url: am.url, resendInterval: '1s' }));
    const outbox = await Outbox.open({ store: new MemoryStateStore(), notifiers: [notifier], limit: 1000, backoff: { baseMs: 200, maxMs: 2000, factor: 2 }, sendTimeoutMs: 5000 });
    outbox.start();
    const a = alert({ since: Date.now() - 120_000 }, { accountId: '333344445555', storeId: 'cks-aaaaaaaaaaaaaaaaa' });
    const b = alert({ since: Date.now() - 60_000 }, { accountId: '333344445555', storeId: 'cks-bbbbbbbbbbbbbbbbb' });
    const c = alert({ since: Date.now() - 60_000 }, { accountId: '333344445555', storeId: 'cks-ccccccccccccccccc' });
    try {
      await outbox.enqueue([a]);
      await until('store a in Alertmanager', 20_000, async () => (await am.alerts()).some((x) => x.labels.custom_key_store_id === 'cks-aaaaaaaaaaaaaaaaa'));

      // The firing alerts the daemon holds, re-posted by the real resender through the same outbox.
      const firing = [a, b].map((n) => ({ alertKey: n.alertKey, condition: n.condition, severity: n.severity, subject: n.subject, since: new Date(n.since).toISOString(), firedAt: new Date(n.since).toISOString() }));
      const pipeline = { firing: () => firing, self: { firing: () => [] }, mutedNow: () => new Map(), outbox } as unknown as AlertPipeline;
      const resender = new AlertmanagerResender({ pipeline: () => pipeline, channels: () => [channel({ url: am.url, resendInterval: '1s' })], now: Date.now });

      await am.stop();
      // During the outage: b fires, c fires and resolves; a keeps firing (re-posted every second).
      resender.start();
      await outbox.enqueue([b, c]);
      await outbox.enqueue([{ ...c, kind: 'resolved', id: `${c.id}:resolved`, since: Date.now() }]);
      const downAt = Date.now();
      await until('failed attempts during the outage', 20_000, () => outbox.view().entries.some((e) => e.attempts >= 2));
      // The outage lasts KW_AM_OUTAGE_MS (default 3 s; the figure in docs/reliability.md was measured with 60000).
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
      // At most one queued re-post per alert, however long the outage.
      const queued = outbox.view().entries;
      const queuedResends = queued.filter((e) => e.id.includes(':am-resend:'));
      expect(queuedResends.filter((e) => e.alertKey === a.alertKey).length).toBeLessThanOrEqual(1);
      expect(queuedResends.length).toBeLessThanOrEqual(2);
      const outageMs = Date.now() - downAt;
      await am.start();
      // Alertmanager kept nothing in memory across its restart: everything shown now was delivered after it returned.
      await until('a and b firing again, c resolved', 30_000, async () => {
        const ids = new Set((await am.alerts()).map((x) => x.labels.custom_key_store_id));
        return ids.has('cks-aaaaaaaaaaaaaaaaa') && ids.has('cks-bbbbbbbbbbbbbbbbb') && !ids.has('cks-ccccccccccccccccc') && outbox.pending() === 0;
      });
      resender.stop();
      expect(outbox.deadLetterList()).toEqual([]);
      console.log(`alertmanager down ${outageMs} ms: ${queued.length} entries queued at the end of it (${queuedResends.length} re-posts); all delivered ${Date.now() - downAt - outageMs} ms after it returned; dead letters 0`);
    } finally {
      await outbox.stop();
    }
  }, 120_000 + OUTAGE_MS);
});
