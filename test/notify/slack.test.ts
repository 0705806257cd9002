import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackNotifier, escapeMrkdwn, renderSlack, type SlackPayload } from '../../src/notify/slack.js';
import { clearSecrets } from '../../src/util/redact.js';
import { refusedUrl, startReceiver, type Receiver } from '../helpers/receiver.js';
import { assertSlackPayload, slackPayloadProblems } from '../helpers/slack-limits.js';
import { HOSTILE, HUGE, alert, digest, outage } from './fixtures.js';
import type { AlertNotification, AlertSubject, Condition } from '../../src/model.js';
import { CONDITIONS, defaultSeverity } from '../../src/alert/remediation/guidance.js';
import { ConnectionErrorCodeType } from '@aws-sdk/client-kms';

const SECRET_PATH = '/services/T0CANARY1/B0CANARY2/xoxCanarySlackSecret123';

const textOf = (p: SlackPayload): string => JSON.stringify(p);
const allText = (p: SlackPayload): string =>
  [p.text, ...p.blocks.flatMap((b) => ('text' in b && b.text ? [b.text.text] : []).concat('fields' in b && b.fields ? b.fields.map((f) => f.text) : []).concat('elements' in b ? b.elements.map((e) => e.text) : []))].join('\n');

function check(p: SlackPayload): SlackPayload {
  assertSlackPayload(p);
  return p;
}

describe('Slack rendering', () => {
  it('firing: header with severity emoji, fields, summary/cause/steps, commands in code blocks, doc and runbook links, fallback text', () => {
    const p = check(renderSlack(alert()));
    expect(p.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '🔴 FIRING critical: KMS custom key store FAILED: INVALID_CREDENTIALS', emoji: true } });
    const fields = p.blocks.find((b) => b.type === 'section' && 'fields' in b && b.fields)!;
    const f = (fields as { fields: { text: string }[] }).fields.map((x) => x.text);
    expect(f).toEqual(expect.arrayContaining([
      '*Account*\n`111122223333` prod-payments',
      '*Region*\n`eu-west-1`',
      '*Key store*\npayments-hsm `cks-0123456789abcdef0`',
      '*Type*\n`AWS_CLOUDHSM`',
      '*State*\n`FAILED`',
      '*Error code*\n`INVALID_CREDENTIALS`',
      '*CloudHSM cluster*\n`cluster-abcdefghijk`',
    ]));
    const t = allText(p);
    expect(t).toContain('*Summary*\nThe key store password no longer matches the `kmsuser` password');
    expect(t).toContain('*Likely cause*');
    expect(t).toContain('*Steps*\n1. Disconnect the key store');
    expect(t).toContain('```\naws kms disconnect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1\n');
    expect(t).toContain('aws kms update-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --key-store-password "$KMSUSER_PASSWORD" --region eu-west-1');
    expect(t).toContain('<https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md#kmscustomkeystorefailed|Runbook: KmsCustomKeyStoreFailed>');
    expect(t).toContain('<https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html#fix-keystore-failed|');
    expect(p.text).toContain('FIRING critical: KMS custom key store FAILED: INVALID_CREDENTIALS: 111122223333 eu-west-1 payments-hsm (cks-0123456789abcdef0)');
    expect(p).toMatchObject({ unfurl_links: false, unfurl_media: false });
  });

  it('severity, reminder, resolved, drill and digest are visibly distinct', () => {
    const headers = {
      warning: check(renderSlack(alert({ severity: 'warning', condition: 'DISCONNECTED' }, { state: 'DISCONNECTED', errorCode: null }))).blocks[0],
      reminder: check(renderSlack(alert({ kind: 'reminder' }))).blocks[0],
      resolved: check(renderSlack(alert({ kind: 'resolved' }))).blocks[0],
      drill: check(renderSlack(alert({ kind: 'drill' }))).blocks[0],
      digest: check(renderSlack(outage())).blocks[0],
    };
    const h = Object.fromEntries(Object.entries(headers).map(([k, b]) => [k, (b as { text: { text: string } }).text.text]));
    expect(h.warning).toMatch(/^🟠 FIRING warning: KMS custom key store DISCONNECTED$/);
    expect(h.reminder).toMatch(/^🔁 STILL FIRING critical: /);
    expect(h.resolved).toMatch(/^✅ RESOLVED: /);
    expect(h.drill).toMatch(/^🧪 TEST, fire drill/);
    expect(h.digest).toMatch(/^🚨 DIGEST critical: 12 key store alerts/);
    expect(new Set(Object.values(h)).size).toBe(5);

    const drill = check(renderSlack(alert({ kind: 'drill' })));
    expect(allText(drill)).toContain('*This is a TEST.*');
    expect(drill.text).toContain('TEST');
    const resolved = check(renderSlack(alert({ kind: 'resolved' })));
    expect(allText(resolved)).toContain('Resolved: the condition cleared');
    expect(allText(resolved)).not.toContain('```'); // no commands on a resolved message
  });

  it('a 12-store outage digest lists every store grouped by error code', () => {
    const p = check(renderSlack(outage(12)));
    const t = allText(p);
    for (let i = 0; i < 12; i++) expect(t).toContain(`store-${i} `);
    expect(t).toContain('*KMS custom key store FAILED: NETWORK\\_ERRORS*'.replace('\\_', '_'));
    expect(p.blocks.filter((b) => b.type === 'section').length).toBeGreaterThanOrEqual(4); // intro + 3 groups
  });

  it('a digest for a critical-only channel lists only critical items', () => {
    const d = digest([alert(), alert({ condition: 'SINGLE_AZ', severity: 'warning' }, { storeId: 'cks-warn', storeName: 'warn-store' })]);
    const t = allText(check(renderSlack(d, { minSeverity: 'critical' })));
    expect(t).not.toContain('warn-store');
    expect(t).toContain('payments-hsm');
  });

  it.each(Object.entries(HOSTILE))('hostile store name %s cannot ping, link or format, and stays within limits', (_k, name) => {
    for (const n of [
      alert({}, { storeName: name, accountName: name, details: { [name]: name } }),
      alert({ kind: 'resolved' }, { storeName: name }),
      outage(3),
      digest([alert({}, { storeName: name }), alert({}, { storeName: name, errorCode: name })]),
    ]) {
      const p = renderSlack(n);
      expect(slackPayloadProblems(p)).toEqual([]);
      const t = allText(p);
      expect(t).not.toContain('<!channel>');
      expect(t).not.toContain('<@U');
      expect(t).not.toMatch(/<script/i);
      expect(t).not.toContain('*bold*');
      expect(t).not.toContain('_italic_');
      expect(t).not.toContain('~strike~');
      expect(t).not.toContain('\u001b');
    }
  });

  it('escapes and shows hostile names recognisably', () => {
    expect(escapeMrkdwn('<!channel> & <@U1>')).toBe('&lt;!channel&gt; &amp; &lt;@U1&gt;');
    expect(escapeMrkdwn('*bold* _it_ ~s~ `c`')).toBe('∗bold∗ ˍitˍ ∼s∼ ˋcˋ');
    expect(escapeMrkdwn('a\nb\r\nc')).toBe('a b c');
    expect(escapeMrkdwn('ключ 🔑')).toBe('ключ 🔑');
    const p = check(renderSlack(alert({}, { storeName: '<!channel> *boom*' })));
    expect(allText(p)).toContain('&lt;!channel&gt; ∗boom∗ `cks-0123456789abcdef0`');
  });

  it('a hostile store id or error code is not put in inline code', () => {
    const p = check(renderSlack(alert({}, { storeId: 'cks-`<!here>`', errorCode: '<@U1>' })));
    const t = allText(p);
    expect(t).toContain('cks-ˋ&lt;!hereᐳ'.replace('ᐳ', '&gt;'));
    expect(t).not.toContain('<@U1>');
  });

  it('a 10 kB name, 10 kB details and hundreds of commands are truncated, never failing', () => {
    const n = alert({}, { storeName: HUGE, accountName: HUGE, storeId: HUGE, errorCode: HUGE, details: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}${HUGE}`, HUGE])) });
    n.guidance = { ...n.guidance, title: HUGE, summary: HUGE, cause: HUGE, steps: Array.from({ length: 200 }, () => HUGE), commands: Array.from({ length: 300 }, () => `aws kms x ${HUGE}`), docs: Array.from({ length: 100 }, () => ({ title: HUGE, url: 'https://docs.aws.amazon.com/x' })) };
    const p = check(renderSlack(n));
    expect(p.blocks.length).toBeLessThanOrEqual(50);
    expect(textOf(p).length).toBeLessThan(200_000);
    expect(allText(p)).toContain('…');
  });

  it('a digest of 200 stores in 80 different findings stays within 50 blocks and 3000 chars per section', () => {
    const items: AlertNotification[] = Array.from({ length: 200 }, (_, i) => alert({}, { storeId: `cks-${i}`, storeName: `${HUGE.slice(0, 300)}-${i}`, errorCode: `NEW_CODE_${i % 80}` }));
    const p = check(renderSlack(digest(items)));
    expect(p.blocks.length).toBeLessThanOrEqual(50);
    expect(allText(p)).toMatch(/…and \d+ more findings/);
  });
});

describe('Slack rendering of every finding', () => {
  const kinds = ['firing', 'reminder', 'resolved', 'drill'] as const;
  it.each(CONDITIONS)('%s in every kind passes the validator', (c: Condition) => {
    const subj: Partial<AlertSubject> = c === 'TARGET_DOWN' ? { storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details: { Error: 'AccessDenied' } } : { details: { 'Active AZs': 'eu-west-1a', HSM: 'hsm-abc', 'Days left': '12' } };
    for (const kind of kinds) check(renderSlack(alert({ kind, condition: c, severity: defaultSeverity(c) }, subj)));
  });
  it.each(Object.values(ConnectionErrorCodeType))('FAILED %s on both store types passes the validator', (code) => {
    for (const storeType of ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']) check(renderSlack(alert({}, { errorCode: code, storeType })));
  });
});

describe('Slack delivery against a local receiver', () => {
  let rx: Receiver;
  let n = 0;
  beforeEach(() => {
    n = 0;
    clearSecrets();
  });
  afterEach(async () => {
    await rx?.close();
    clearSecrets();
  });

  const notifier = (url: string, timeoutMs = 2000) => new SlackNotifier({ type: 'slack', webhookUrl: url, minSeverity: 'warning' }, { timeoutMs });

  it('posts the rendered payload as JSON to the webhook path; 200 is ok', async () => {
    rx = await startReceiver();
    const s = notifier(rx.url + SECRET_PATH);
    const note = alert();
    expect(s.minIntervalMs).toBe(1000);
    expect(await s.send(note)).toEqual({ ok: true, status: 200 });
    expect(rx.requests).toHaveLength(1);
    const req = rx.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(SECRET_PATH);
    expect(req.headers['content-type']).toContain('application/json');
    expect(req.json).toEqual(JSON.parse(JSON.stringify(s.render(note))));
    assertSlackPayload(req.json);
  });

  it('429 with Retry-After is retryable with retryAfterMs; only one request is made', async () => {
    rx = await startReceiver({ respond: () => ({ status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' }) });
    const r = await notifier(rx.url + SECRET_PATH).send(alert());
    expect(r).toMatchObject({ ok: false, retryable: true, status: 429, retryAfterMs: 7000 });
    expect(rx.requests).toHaveLength(1);
  });

  it('5xx is retryable; 4xx (invalid payload, revoked webhook) is not', async () => {
    rx = await startReceiver({ respond: (_r, i) => (i === 1 ? { status: 500, body: 'boom' } : i === 2 ? { status: 404, body: 'no_service' } : { status: 400, body: 'invalid_blocks' }) });
    const s = notifier(rx.url + SECRET_PATH);
    expect(await s.send(alert())).toMatchObject({ ok: false, retryable: true, status: 500 });
    expect(await s.send(alert())).toMatchObject({ ok: false, retryable: false, status: 404, error: expect.stringContaining('no_service') });
    expect(await s.send(alert())).toMatchObject({ ok: false, retryable: false, status: 400, error: expect.stringContaining('invalid_blocks') });
  });

  it('a hanging receiver times out (retryable) within the per-request timeout', async () => {
    rx = await startReceiver({ respond: () => 'hang' });
    const t0 = Date.now();
    const r = await notifier(rx.url + SECRET_PATH, 300).send(alert());
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r).toMatchObject({ ok: false, retryable: true, error: expect.stringContaining('timed out') });
  });

  it('the caller can abort a send', async () => {
    rx = await startReceiver({ respond: () => 'hang' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await notifier(rx.url + SECRET_PATH, 5000).send(alert(), ac.signal);
    expect(r).toMatchObject({ ok: false, retryable: true, error: 'slack: aborted' });
  });

  it('a refused connection and a reset are retryable', async () => {
    const url = await refusedUrl();
    expect(await notifier(url + SECRET_PATH).send(alert())).toMatchObject({ ok: false, retryable: true, error: expect.stringContaining('ECONNREFUSED') });
    rx = await startReceiver({ respond: () => 'reset' });
    expect(await notifier(rx.url + SECRET_PATH).send(alert())).toMatchObject({ ok: false, retryable: true });
  });

  it('secret canary: the webhook URL never appears in errors or payloads, even when the receiver echoes it', async () => {
    rx = await startReceiver({ respond: (req, i) => ({ status: i === 1 ? 500 : 403, body: `bad hook ${rx.url}${req.path} ${req.path}` }) });
    const url = rx.url + SECRET_PATH;
    // Not registered with redact(): the notifier must keep its own secret out of errors.
    const s = notifier(url);
    const results = [await s.send(alert()), await s.send(outage()), await notifier(url, 200).send(alert())];
    rx.setRespond(() => 'hang');
    results.push(await notifier(url, 200).send(alert({ kind: 'drill' })));
    results.push(await notifier((await refusedUrl()) + SECRET_PATH).send(alert()));
    for (const r of results) {
      expect(r.ok).toBe(false);
      const text = JSON.stringify(r);
      expect(text).not.toContain('xoxCanarySlackSecret123');
      expect(text).not.toContain('B0CANARY2');
    }
    for (const n of [alert(), alert({ kind: 'drill' }), outage()]) expect(JSON.stringify(s.render(n))).not.toContain('Canary');
  });

  it('every payload delivered in these tests passed the Block Kit validator', async () => {
    rx = await startReceiver();
    const s = notifier(rx.url + SECRET_PATH);
    const notes = [alert(), alert({ kind: 'reminder' }), alert({ kind: 'resolved' }), alert({ kind: 'drill' }), outage(), ...Object.values(HOSTILE).map((h) => alert({}, { storeName: h }))];
    for (const note of notes) expect((await s.send(note)).ok).toBe(true);
    n = rx.requests.length;
    expect(n).toBe(notes.length);
    for (const req of rx.requests) assertSlackPayload(req.json);
  });
});
