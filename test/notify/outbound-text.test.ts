// Outbound text on every channel: a store named with lone UTF-16 surrogates and bidi/invisible format
// characters (as AWS may hand it to us) must reach Slack, the webhook and PagerDuty as JSON a strict
// parser accepts (valid UTF-8, no "\ud800" escapes) with no live bidi override, the format characters
// shown as <U+XXXX>; the console likewise. Real notifiers, real local HTTP receivers.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleNotifier } from '../../src/notify/console.js';
import { PagerDutyNotifier } from '../../src/notify/pagerduty.js';
import { SlackNotifier } from '../../src/notify/slack.js';
import { WEBHOOK_HEADERS, WebhookNotifier, signWebhook } from '../../src/notify/webhook.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { assertSlackPayload } from '../helpers/slack-limits.js';
import { BIDI_CONTROL, strictTextProblems } from '../helpers/strict-text.js';
import { alert, digest } from './fixtures.js';

/** Lone high and low surrogates around a right-to-left override that would show "exe.gnp" as "png.exe". */
const EVIL_NAME = 'pay\uD800ments-\u202Eexe.gnp\uDFFF\u2066iso\u2069\u200B';
const evil = () => alert({ id: 'ntf-evil' }, {
  storeName: EVIL_NAME, accountName: 'prod\u202E\uDBFF', details: { 'Note\u2067': 'x\uDC00\u200D' }, errorCode: 'XKS_PROXY_TIMED_OUT',
});

let rx: Receiver;
beforeEach(async () => { rx = await startReceiver({ respond: (q) => (q.path.startsWith('/pd') ? { status: 202, body: { status: 'success' } } : { status: 200, body: 'ok' }) }); });
afterEach(async () => { await rx.stop(); });

describe('outbound text on every channel', () => {
  it('Slack: strict-clean JSON, overrides shown escaped, within Block Kit limits', async () => {
    const n = new SlackNotifier({ type: 'slack', webhookUrl: `${rx.url}/services/T000/B000/textcheck`, minSeverity: 'info' });
    expect(await n.send(evil())).toMatchObject({ ok: true });
    expect(await n.send(digest([evil(), alert({}, { storeName: '\uDFFF\u202E' })]))).toMatchObject({ ok: true });
    for (const q of rx.requests) {
      expect(strictTextProblems(q.raw, { json: true })).toEqual([]);
      assertSlackPayload(q.json as never);
    }
    expect(rx.requests[0]!.body).toContain('&lt;U+202E&gt;exe.gnp');
    expect(rx.requests[0]!.body).toContain('pay\uFFFDments');
  });

  it('webhook: strict-clean JSON with the name escaped, the same text the HMAC signs', async () => {
    const n = new WebhookNotifier({ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info', hmacSecret: 'text-check-secret' });
    expect(await n.send(evil())).toMatchObject({ ok: true });
    const q = rx.requests[0]!;
    expect(strictTextProblems(q.raw, { json: true })).toEqual([]);
    const body = q.json as { notification: { subject: { storeName: string; accountName: string; details: Record<string, string> } } };
    expect(body.notification.subject.storeName).toBe('pay\uFFFDments-<U+202E>exe.gnp\uFFFD<U+2066>iso<U+2069><U+200B>');
    expect(body.notification.subject.accountName).toBe('prod<U+202E>\uFFFD');
    expect(body.notification.subject.details).toEqual({ 'Note<U+2067>': 'x\uFFFD<U+200D>' });
    const ts = String(q.headers[WEBHOOK_HEADERS.timestamp.toLowerCase()]);
    expect(q.headers[WEBHOOK_HEADERS.signature.toLowerCase()]).toBe(signWebhook('text-check-secret', ts, q.raw.toString('utf8')));
  });

  it('PagerDuty: strict-clean JSON events, trigger and resolve', async () => {
    const n = new PagerDutyNotifier({ type: 'pagerduty', routingKey: 'text-check-routing-key', url: `${rx.url}/pd`, minSeverity: 'info' });
    expect(await n.send(evil())).toMatchObject({ ok: true });
    expect(await n.send(alert({ kind: 'resolved', alertKey: `k\uD800\u202E` }, { storeName: EVIL_NAME }))).toMatchObject({ ok: true });
    for (const q of rx.requests) expect(strictTextProblems(q.raw, { json: true })).toEqual([]);
    const trigger = rx.requests[0]!.json as { payload: { summary: string; custom_details: { custom_key_store_name: string } } };
    expect(trigger.payload.custom_details.custom_key_store_name).toContain('<U+202E>exe.gnp');
    expect(trigger.payload.summary).toContain('<U+202E>');
    expect((rx.requests[1]!.json as { dedup_key: string }).dedup_key).toBe('k\uFFFD<U+202E>');
  });

  it('console: well-formed text, no live override', async () => {
    const out: string[] = [];
    const n = new ConsoleNotifier({ type: 'console', minSeverity: 'info' }, { writer: (t) => out.push(t) });
    expect(await n.send(evil())).toEqual({ ok: true });
    const text = out.join('');
    expect(strictTextProblems(text, { json: false })).toEqual([]);
    expect(BIDI_CONTROL.test(text)).toBe(false);
    expect(text).toContain('pay\uFFFDments-<U+202E>exe.gnp');
  });
});
