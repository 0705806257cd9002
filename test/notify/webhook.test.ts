import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WEBHOOK_HEADERS, WebhookNotifier, renderWebhook, signWebhook, type WebhookBody } from '../../src/notify/webhook.js';
import { refusedUrl, startReceiver, type Receiver, type ScriptedResponse } from '../helpers/receiver.js';
import { alert, digest, outage } from './fixtures.js';

const SECRET = 'hmacCanarySecret-9f8e7d6c5b4a';
const NOW = Date.UTC(2025, 0, 2, 3, 6, 0);

const hook = (url: string, over: { hmacSecret?: string | null; headers?: Record<string, string>; timeoutMs?: number } = {}) =>
  new WebhookNotifier(
    { type: 'webhook', url: `${url}/kms?token=abc`, hmacSecret: over.hmacSecret === undefined ? SECRET : over.hmacSecret, headers: over.headers, minSeverity: 'warning' },
    { timeoutMs: over.timeoutMs ?? 2000, now: () => NOW },
  );

/** What a receiver does to verify a request. */
function verify(secret: string, headers: Record<string, string | string[] | undefined>, rawBody: string): boolean {
  const ts = String(headers['x-keystore-watch-timestamp']);
  const sig = String(headers['x-keystore-watch-signature']);
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex')}`;
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
}

describe('webhook', () => {
  let rx: Receiver;
  afterEach(async () => rx?.close());

  it('POSTs the notification and its guidance as JSON with event, idempotency, timestamp and signature headers', async () => {
    rx = await startReceiver();
    const n = alert();
    expect(await hook(rx.url).send(n)).toEqual({ ok: true, status: 200 });
    const r = rx.requests[0]!;
    expect(r.method).toBe('POST');
    expect(r.path).toBe('/kms?token=abc');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-keystore-watch-event']).toBe('firing');
    expect(r.headers['x-keystore-watch-idempotency-key']).toBe(n.id);
    expect(r.headers['x-keystore-watch-timestamp']).toBe(String(NOW / 1000));
    expect(r.headers['x-keystore-watch-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify(SECRET, r.headers, r.body)).toBe(true);
    expect(verify('wrong-secret', r.headers, r.body)).toBe(false);
    expect(verify(SECRET, r.headers, r.body.replace('FAILED', 'FA1LED'))).toBe(false);
    const body = r.json as WebhookBody;
    expect(body).toMatchObject({ version: 1, id: n.id, kind: 'firing', severity: 'critical', runbookBaseUrl: 'https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md' });
    expect(body.notification).toEqual(JSON.parse(JSON.stringify(n)));
    expect(body.notification.kind !== 'digest' && body.notification.guidance.commands[0]).toBe('aws kms disconnect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1');
    expect(JSON.parse(r.body)).toEqual(JSON.parse(JSON.stringify(renderWebhook(n))));
  });

  it('signWebhook is HMAC-SHA256 over "timestamp.body"', () => {
    expect(signWebhook('k', '1700000000', '{}')).toBe(`sha256=${createHmac('sha256', 'k').update('1700000000.{}').digest('hex')}`);
  });

  it('the idempotency key is the same on every retry of one notification; the event header follows the kind', async () => {
    rx = await startReceiver({ respond: (_r, i) => (i === 1 ? { status: 503 } : { status: 204 }) });
    const h = hook(rx.url);
    const n = alert({ kind: 'resolved' });
    expect(await h.send(n)).toMatchObject({ ok: false, retryable: true, status: 503 });
    expect(await h.send(n)).toEqual({ ok: true, status: 204 });
    expect(rx.requests.map((r) => r.headers['x-keystore-watch-idempotency-key'])).toEqual([n.id, n.id]);
    expect(rx.requests.map((r) => r.headers['x-keystore-watch-event'])).toEqual(['resolved', 'resolved']);
    await h.send(outage(3));
    await h.send(alert({ kind: 'drill' }));
    expect(rx.requests.slice(2).map((r) => r.headers['x-keystore-watch-event'])).toEqual(['digest', 'drill']);
    expect((rx.requests[2]!.json as WebhookBody).notification).toMatchObject({ kind: 'digest', items: expect.any(Array) });
  });

  it('without hmacSecret there is no signature; configured headers are sent but cannot replace ours', async () => {
    rx = await startReceiver();
    const n = alert();
    await hook(rx.url, { hmacSecret: null, headers: { Authorization: 'Bearer tok-123456', 'X-Keystore-Watch-Event': 'spoof', 'Content-Type': 'text/plain' } }).send(n);
    const r = rx.requests[0]!;
    expect(r.headers['x-keystore-watch-signature']).toBeUndefined();
    expect(r.headers['x-keystore-watch-timestamp']).toBeUndefined();
    expect(r.headers.authorization).toBe('Bearer tok-123456');
    expect(r.headers['x-keystore-watch-event']).toBe('firing');
    expect(r.headers['content-type']).toBe('application/json');
    expect(Object.values(WEBHOOK_HEADERS)).toHaveLength(4);
  });

  it('a digest for a warning channel keeps the warning and critical items only', () => {
    const d = digest([alert(), alert({ severity: 'info', condition: 'SINGLE_AZ' }), alert({ severity: 'warning', condition: 'SINGLE_AZ' })]);
    const body = renderWebhook(d, { minSeverity: 'warning' });
    expect(body.notification.kind === 'digest' && body.notification.items.map((i) => i.severity)).toEqual(['critical', 'warning']);
  });

  it('maps failures: 429 + Retry-After and 5xx retryable, 4xx not, redirects not followed, timeouts and refused retryable', async () => {
    const other = await startReceiver();
    rx = await startReceiver({
      respond: (_r, i) =>
        ([
          { status: 429, headers: { 'retry-after': 'Thu, 01 Jan 2099 00:00:00 GMT' } },
          { status: 500 },
          { status: 410, body: 'gone' },
          { status: 302, headers: { location: `${other.url}/elsewhere` } },
        ] as ScriptedResponse[])[i - 1] ?? 'hang',
    });
    const h = hook(rx.url, { timeoutMs: 200 });
    expect(await h.send(alert())).toMatchObject({ ok: false, retryable: true, status: 429, retryAfterMs: 3_600_000 });
    expect(await h.send(alert())).toMatchObject({ ok: false, retryable: true, status: 500 });
    expect(await h.send(alert())).toMatchObject({ ok: false, retryable: false, status: 410, error: 'webhook: HTTP 410: gone' });
    expect(await h.send(alert())).toMatchObject({ ok: false, retryable: false, status: 302 });
    expect(other.requests).toHaveLength(0);
    expect(await h.send(alert())).toMatchObject({ ok: false, retryable: true, error: 'webhook: timed out after 200 ms' });
    expect(await hook(await refusedUrl()).send(alert())).toMatchObject({ ok: false, retryable: true, error: 'webhook: network error (ECONNREFUSED)' });
    await other.close();
  });

  it('secret canary: the HMAC secret, URL token and custom header values never appear in errors or the rendered body', async () => {
    rx = await startReceiver({ respond: (req) => ({ status: 400, body: `echo ${req.path} ${SECRET} ${String(req.headers.authorization)}` }) });
    const h = hook(rx.url, { headers: { Authorization: 'Bearer headerCanary-77777' } });
    const results = [await h.send(alert()), await h.send(outage(2))];
    rx.setRespond(() => 'hang');
    results.push(await hook(rx.url, { timeoutMs: 100 }).send(alert()));
    for (const r of results) {
      expect(r.ok).toBe(false);
      const text = JSON.stringify(r);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('headerCanary-77777');
      expect(text).not.toContain('token=abc');
    }
    for (const n of [alert(), outage(2), alert({ kind: 'drill' })]) {
      const body = JSON.stringify(h.render(n));
      expect(body).not.toContain(SECRET);
      expect(body).not.toContain('headerCanary');
    }
  });
});
