import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, isSecretKey, redact, redactValue, registerSecret, serializeError } from '../../src/util/redact.js';
import { parseConfigText, secretConfigValues } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { escapeLabel } from '../../src/metrics/render.js';

afterEach(() => clearSecrets());

const BASE = 'accounts: [{ id: "${ACCOUNT}" }]\nregions: ["${REGION}"]\nlisten: "${LISTEN}"\n';

describe('what is a secret', () => {
  it('redacts values by key, never because they came from the environment', () => {
    const env = { ACCOUNT: '123456789012', REGION: 'ap-southeast-2', LISTEN: '10.1.2.3:9464', SLACK: 'https://hooks.example.com/services/T/B/slacksecret123', PD: 'pdroutingkey0123456789', HMAC: 'hmac-secret-abcdef', TOKEN: 'bearer-token-0123456789abc', AUTH: 'Basic dXNlcjpwYXNzd29yZA==', TEAM: 'payments-team' };
    parseConfigText(BASE + `
http: { authToken: "\${TOKEN}" }
alerting:
  channels:
    - { type: slack, webhookUrl: "\${SLACK}" }
    - { type: pagerduty, routingKey: "\${PD}" }
    - { type: webhook, url: "https://hooks.example.org/endpoint/\${TEAM}", hmacSecret: "\${HMAC}", headers: { Authorization: "\${AUTH}", X-Team: "\${TEAM}" } }
`, 'env.yaml', env);
    const line = Object.values(env).join(' | ');
    const out = redact(line);
    // Not secrets: shown as they are.
    for (const v of [env.ACCOUNT, env.REGION, env.LISTEN, env.TEAM]) expect(out).toContain(v);
    // Secrets, whether from ${ENV} or not.
    for (const v of [env.SLACK, env.PD, env.HMAC, env.TOKEN, 'dXNlcjpwYXNzd29yZA==', 'https://hooks.example.org/endpoint/payments-team']) expect(redact(`x ${v} y`)).not.toContain(v);
  });

  it('treats a literal secret exactly like one from ${ENV}', () => {
    parseConfigText(BASE + 'alerting: { channels: [ { type: pagerduty, routingKey: "literal-routing-key-42" } ] }\n', 'lit.yaml', { ACCOUNT: '123456789012', REGION: 'us-east-1', LISTEN: '0.0.0.0:9464' });
    expect(redact('key literal-routing-key-42 used')).toBe('key [REDACTED] used');
  });

  it('registers secrets of a configuration that fails validation too', () => {
    expect(() => parseConfigText(BASE + 'alerting: { channels: [ { type: slack, webhookUrl: "not a url failing-secret-77" } ] }\n', 'bad.yaml', { ACCOUNT: '123456789012', REGION: 'us-east-1', LISTEN: 'x' })).toThrow();
    expect(redact('not a url failing-secret-77')).not.toContain('failing-secret-77');
  });

  it('classifies keys by name', () => {
    for (const k of ['hmacSecret', 'authToken', 'routingKey', 'webhookUrl', 'Authorization', 'X-Api-Key', 'x-auth-token', 'password', 'sessionToken', 'Cookie', 'client_secret']) expect(isSecretKey(k), k).toBe(true);
    for (const k of ['region', 'accountId', 'listen', 'url', 'name', 'X-Team', 'author', 'keyStoreId', 'customKeyStoreId', 'externalId', 'accessKeyIdLast4', 'stateDir']) expect(isSecretKey(k), k).toBe(false);
    expect(secretConfigValues({ alerting: { channels: [{ type: 'webhook', url: 'https://a.example/x', headers: { 'X-Api-Key': 'k123456' } }, { type: 'pagerduty', url: 'https://events.pagerduty.com/v2/enqueue' }] } }))
      .toEqual(['https://a.example/x', 'k123456']);
  });

  it('scrubs secret shapes wherever they appear', () => {
    expect(redact('GET https://user:hunter22@proxy.example.com/x')).toBe('GET https://[REDACTED]@proxy.example.com/x');
    expect(redact('Authorization: Bearer abcdefghijklmnop')).toBe('Authorization: Bearer [REDACTED]');
    expect(redact('{"authorization":"Basic dXNlcjpwYXNz"}')).toBe('{"authorization":"Basic [REDACTED]"}');
    expect(redact('https://x.example/hook?token=abc123&team=payments')).toBe('https://x.example/hook?token=[REDACTED]&team=payments');
    expect(redact('https://x.example/a?access_token=abc&api-key=def&design=blue&author=me')).toBe('https://x.example/a?access_token=[REDACTED]&api-key=[REDACTED]&design=blue&author=me');
    expect(redact('SecretAccessKey: wJalrXUtnFEMI/K7MDENG')).toBe('SecretAccessKey: [REDACTED]');
    expect(redact('region eu-west-1 account 111111111111')).toBe('region eu-west-1 account 111111111111');
  });

  it('redacts structured values by key and serialises Errors', () => {
    registerSecret('registered-secret-xyz');
    const err = Object.assign(new Error('failed with registered-secret-xyz'), { code: 'ECONNRESET' });
    const v = redactValue({ routingKey: 'anything', region: 'eu-west-1', nested: [{ hmacSecret: 'h' }], err, msg: 'registered-secret-xyz' });
    expect(v.routingKey).toBe('[REDACTED]');
    expect(v.region).toBe('eu-west-1');
    expect(v.nested[0]!.hmacSecret).toBe('[REDACTED]');
    expect(v.msg).toBe('[REDACTED]');
    const e = v.err as unknown as Record<string, unknown>;
    expect(e).toMatchObject({ name: 'Error', message: 'failed with [REDACTED]', code: 'ECONNRESET' });
    expect(String(e.stack)).toMatch(/^Error: failed with \[REDACTED\]\n\s+at /);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(redactValue(cyclic)).toEqual({ a: 1, self: '[Circular]' });
  });

  it('keeps name, message, code, stack and cause of an AWS SDK error', () => {
    const cause = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const sdk = Object.assign(new Error('Rate exceeded', { cause }), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400, requestId: 'req-1' } });
    const s = serializeError(sdk);
    expect(s).toMatchObject({ name: 'ThrottlingException', message: 'Rate exceeded', code: 'ThrottlingException', statusCode: 400, requestId: 'req-1', cause: { name: 'Error', message: 'socket hang up', code: 'ECONNRESET' } });
  });
});

describe('metric label values', () => {
  it('pass through the same rule (a store named after a secret shows [REDACTED])', () => {
    expect(escapeLabel('orders-hsm')).toBe('orders-hsm');
    expect(escapeLabel('copy of label-secret-99')).toBe('copy of label-secret-99');
    registerSecret('label-secret-99');
    expect(escapeLabel('copy of label-secret-99')).toBe('copy of [REDACTED]');
    expect(escapeLabel('https://u:p4ss@proxy.example')).toBe('https://[REDACTED]@proxy.example');
  });

  it('are escaped the same the second time (memoised) and forgotten when the secrets change', () => {
    const hostile = 'a"b\\c\nd label-secret-77';
    const escaped = 'a\\"b\\\\c\\nd label-secret-77';
    expect(escapeLabel(hostile)).toBe(escaped);
    expect(escapeLabel(hostile)).toBe(escaped);
    registerSecret('label-secret-77');
    expect(escapeLabel(hostile)).toBe('a\\"b\\\\c\\nd [REDACTED]');
    clearSecrets();
    expect(escapeLabel(hostile)).toBe(escaped);
  });
});

describe('the logger', () => {
  const capture = () => {
    const chunks: string[] = [];
    const logger = createLogger({ pretty: false, destination: new Writable({ write(c: Buffer, _e, cb) { chunks.push(c.toString()); cb(); } }) });
    return { logger, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>) };
  };

  it('writes an Error with its name, message, code and stack, as a field or as the first argument', () => {
    registerSecret('secret-in-message-123');
    const { logger, lines } = capture();
    const err = Object.assign(new Error('open secret-in-message-123 failed'), { code: 'EMFILE' });
    logger.error({ err }, 'poll failed');
    logger.error(err, 'direct');
    logger.warn({ error: new TypeError('bad') }, 'other key');
    const [a, b, c] = lines();
    for (const l of [a!, b!]) {
      expect(l.err).toMatchObject({ name: 'Error', message: 'open [REDACTED] failed', code: 'EMFILE' });
      expect(l.err.stack).toMatch(/\n\s+at /);
      expect(l.err.stack).not.toContain('secret-in-message-123');
    }
    expect(c!.error).toMatchObject({ name: 'TypeError', message: 'bad' });
  });
});
