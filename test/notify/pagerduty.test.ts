import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PagerDutyNotifier, renderPagerDuty, type PagerDutyEvent } from '../../src/notify/pagerduty.js';
import { clearSecrets } from '../../src/util/redact.js';
import { refusedUrl, startReceiver, type Receiver } from '../helpers/receiver.js';
import { HOSTILE, HUGE, alert, digest, outage } from './fixtures.js';

const ROUTING_KEY = 'R0UTINGKEYcanary0123456789abcdef';
const ACCEPTED = { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: 'x' } };

const pd = (url: string, timeoutMs = 2000) =>
  new PagerDutyNotifier({ type: 'pagerduty', routingKey: ROUTING_KEY, url: `${url}/v2/enqueue`, minSeverity: 'critical' }, { timeoutMs });

describe('PagerDuty rendering', () => {
  it('firing -> trigger with dedup_key = alertKey, mapped severity, summary, source, component, group, class, guidance and runbook link', () => {
    const n = alert();
    const [e] = renderPagerDuty(n) as [Extract<PagerDutyEvent, { event_action: 'trigger' }>];
    expect(e).toMatchObject({
      routing_key: '[REDACTED]',
      event_action: 'trigger',
      dedup_key: n.alertKey,
      payload: {
        summary: 'KMS custom key store FAILED: INVALID_CREDENTIALS - payments-hsm (cks-0123456789abcdef0) in 111122223333 (prod-payments) eu-west-1',
        source: '111122223333/eu-west-1/cks-0123456789abcdef0',
        severity: 'critical',
        timestamp: '2025-01-02T03:04:05.000Z',
        component: 'cks-0123456789abcdef0',
        group: '111122223333/eu-west-1',
        class: 'FAILED',
        custom_details: {
          alert: 'KmsCustomKeyStoreFailed',
          connection_error_code: 'INVALID_CREDENTIALS',
          cloudhsm_cluster_id: 'cluster-abcdefghijk',
          summary: n.guidance.summary,
          likely_cause: n.guidance.cause,
          commands: n.guidance.commands,
          runbook: 'https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md#kmscustomkeystorefailed',
        },
      },
    });
    expect(e.links[0]).toEqual({ href: 'https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md#kmscustomkeystorefailed', text: 'Runbook: KmsCustomKeyStoreFailed' });
  });

  it('maps severities and keeps the dedup_key stable across firing, reminder and resolve', () => {
    const sev = (s: 'critical' | 'warning' | 'info') => (renderPagerDuty(alert({ severity: s }))[0] as { payload: { severity: string } }).payload.severity;
    expect([sev('critical'), sev('warning'), sev('info')]).toEqual(['critical', 'warning', 'info']);
    const firing = alert({ id: 'a' });
    const reminder = alert({ id: 'b', kind: 'reminder' });
    const resolved = alert({ id: 'c', kind: 'resolved' });
    const keys = [firing, reminder, resolved].map((n) => renderPagerDuty(n)[0]!.dedup_key);
    expect(new Set(keys).size).toBe(1);
    expect(renderPagerDuty(reminder)[0]!.event_action).toBe('trigger');
    expect(renderPagerDuty(resolved)).toEqual([{ routing_key: '[REDACTED]', event_action: 'resolve', dedup_key: firing.alertKey }]);
  });

  it('a digest becomes one event per item the channel takes', () => {
    const events = renderPagerDuty(outage(12), { minSeverity: 'critical' });
    expect(events).toHaveLength(12);
    expect(new Set(events.map((e) => e.dedup_key)).size).toBe(12);
    const mixed = digest([alert(), alert({ condition: 'SINGLE_AZ', severity: 'warning' }, { storeId: 'cks-w' }), alert({ kind: 'resolved' }, { storeId: 'cks-r' })]);
    expect(renderPagerDuty(mixed, { minSeverity: 'critical' }).map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
  });

  it('a drill is a clearly labelled TEST with its own dedup_key', () => {
    const n = alert({ kind: 'drill' });
    const [e] = renderPagerDuty(n) as [Extract<PagerDutyEvent, { event_action: 'trigger' }>];
    expect(e.payload.summary).toMatch(/^\[TEST\] keystore-watch fire drill: /);
    expect(e.dedup_key).not.toBe(n.alertKey);
    expect(e.dedup_key).toContain(n.id);
  });

  it('summary ≤ 1024 and hostile values flattened, whatever the names', () => {
    for (const name of [...Object.values(HOSTILE), HUGE]) {
      const [e] = renderPagerDuty(alert({ alertKey: HUGE }, { storeName: name, accountName: name, storeId: name, details: { [name]: name } })) as [Extract<PagerDutyEvent, { event_action: 'trigger' }>];
      expect(e.payload.summary.length).toBeLessThanOrEqual(1024);
      expect(e.payload.summary).not.toMatch(/[\n\r\u001b]/);
      expect(e.payload.source.length).toBeLessThanOrEqual(255);
      expect(e.dedup_key.length).toBeLessThanOrEqual(255);
      expect(JSON.stringify(e).length).toBeLessThan(512 * 1024);
    }
  });
});

describe('PagerDuty delivery against a local receiver', () => {
  let rx: Receiver;
  beforeEach(() => clearSecrets());
  afterEach(async () => {
    await rx?.close();
    clearSecrets();
  });

  it('posts the events with the real routing key; 202 is success', async () => {
    rx = await startReceiver({ respond: () => ACCEPTED });
    const n = alert();
    expect(await pd(rx.url).send(n)).toEqual({ ok: true, status: 202 });
    expect(rx.requests).toHaveLength(1);
    const r = rx.requests[0]!;
    expect(r.method).toBe('POST');
    expect(r.path).toBe('/v2/enqueue');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json).toEqual({ ...(renderPagerDuty(n)[0] as object), routing_key: ROUTING_KEY });
  });

  it('sends a digest as one request per item, and resolves with event_action resolve', async () => {
    rx = await startReceiver({ respond: () => ACCEPTED });
    const p = pd(rx.url);
    expect((await p.send(outage(12))).ok).toBe(true);
    expect((await p.send(alert({ kind: 'resolved' }))).ok).toBe(true);
    expect(rx.requests).toHaveLength(13);
    expect(rx.requests.slice(0, 12).every((r) => (r.json as PagerDutyEvent).event_action === 'trigger')).toBe(true);
    expect(rx.requests[12]!.json).toMatchObject({ event_action: 'resolve', routing_key: ROUTING_KEY });
  });

  it('stops a digest at the first failure so the retry covers the rest', async () => {
    rx = await startReceiver({ respond: (_r, i) => (i === 3 ? { status: 500 } : ACCEPTED) });
    expect(await pd(rx.url).send(outage(6))).toMatchObject({ ok: false, retryable: true, status: 500 });
    expect(rx.requests).toHaveLength(3);
  });

  it('429 (with or without Retry-After) and 5xx are retryable; 400 is not', async () => {
    rx = await startReceiver({
      respond: (_r, i) =>
        [
          { status: 429, headers: { 'retry-after': '3' } },
          { status: 429 },
          { status: 503 },
          { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ['Length of \'summary\' is too long'] } },
        ][i - 1]!,
    });
    const p = pd(rx.url);
    expect(await p.send(alert())).toMatchObject({ ok: false, retryable: true, status: 429, retryAfterMs: 3000 });
    const noHeader = await p.send(alert());
    expect(noHeader).toMatchObject({ ok: false, retryable: true, status: 429 });
    expect(noHeader).not.toHaveProperty('retryAfterMs');
    expect(await p.send(alert())).toMatchObject({ ok: false, retryable: true, status: 503 });
    expect(await p.send(alert())).toMatchObject({ ok: false, retryable: false, status: 400, error: expect.stringContaining('Event object is invalid') });
  });

  it('timeouts, refused connections and resets are retryable', async () => {
    rx = await startReceiver({ respond: () => 'hang' });
    expect(await pd(rx.url, 200).send(alert())).toMatchObject({ ok: false, retryable: true, error: 'pagerduty: timed out after 200 ms' });
    rx.setRespond(() => 'reset');
    expect(await pd(rx.url).send(alert())).toMatchObject({ ok: false, retryable: true });
    expect(await pd(await refusedUrl()).send(alert())).toMatchObject({ ok: false, retryable: true, error: 'pagerduty: network error (ECONNREFUSED)' });
  });

  it('does not follow redirects (the routing key stays with PagerDuty)', async () => {
    const other = await startReceiver();
    rx = await startReceiver({ respond: () => ({ status: 307, headers: { location: `${other.url}/steal` } }) });
    expect(await pd(rx.url).send(alert())).toMatchObject({ ok: false, retryable: false, status: 307 });
    expect(other.requests).toHaveLength(0);
    await other.close();
  });

  it('secret canary: the routing key never appears in render() or errors, even when echoed back', async () => {
    rx = await startReceiver({ respond: (req) => ({ status: 400, body: { status: 'invalid event', message: `bad routing key ${(req.json as { routing_key: string }).routing_key}`, errors: [req.body] } }) });
    // Not registered with redact(): the notifier must keep its own secret out of errors.
    const p = pd(rx.url);
    const results = [await p.send(alert()), await p.send(outage(2)), await p.send(alert({ kind: 'resolved' }))];
    rx.setRespond(() => 'hang');
    results.push(await pd(rx.url, 100).send(alert()));
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(JSON.stringify(r)).not.toContain(ROUTING_KEY);
    }
    for (const n of [alert(), alert({ kind: 'resolved' }), alert({ kind: 'drill' }), outage()]) expect(JSON.stringify(p.render(n))).not.toContain(ROUTING_KEY);
    expect(rx.requests.every((r) => r.body.includes(ROUTING_KEY))).toBe(true);
  });
});

describe('PagerDuty robustness', () => {
  it('renders even with invalid timestamps', () => {
    const [e] = renderPagerDuty(alert({ since: Number.NaN, createdAt: Number.POSITIVE_INFINITY })) as [Extract<PagerDutyEvent, { event_action: 'trigger' }>];
    expect(e.payload.timestamp).toBe('1970-01-01T00:00:00.000Z');
  });
});
