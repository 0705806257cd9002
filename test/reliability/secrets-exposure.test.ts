// Secret hygiene and exposure. Canaries: recognisable values for the Slack webhook URL, the PagerDuty
// routing key, the webhook HMAC secret, the AWS secret key and session token (environment credentials),
// pushed through every path including failures (receivers failing, AWS errors, bad configs); logs,
// /metrics, /api/*, notification payloads (except the PagerDuty routing_key field), state files and
// error messages are scanned. Trust anchor certificates never appear in metrics or the API.
// Exposure: bearer token from ${VAR} on /metrics and /api/*, TLS with a certificate made by openssl,
// and the simulator's /_sim/ control API is never served by the daemon.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { refusedUrl, startReceiver, type Receiver } from '../helpers/receiver.js';
import { mustRun } from '../helpers/tools.js';
import { captureLogger, reportFigure, waitUntil } from './support.js';

const CANARY = {
  slack: 'SLACKCANARY-b7e1d2',
  pagerduty: 'PDCANARY-routing-5a9c03',
  hmac: 'HMACCANARY-secret-7f2e44',
  awsSecret: 'AWSSECRETCANARY-wJalrXUtnFEMI-K7MDENG',
  awsToken: 'AWSTOKENCANARY-FwoGZXIvYXdzEJr-session',
};

let sim: RunningSimulator | undefined;
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await sim?.close();
});

const yamlConfig = (sim: RunningSimulator, extra: string) => `
schedule: "0 0 1 1 *"
listen: "127.0.0.1:0"
stateDir: ${tempDir('kw-secrets-')}
aws: { endpoint: "${sim.url}", maxAttempts: 1, requestTimeout: 1s, targetTimeout: 2s }
accounts:
  - { id: "111111111111", name: management }
  - { id: "222222222222", name: payments, roleArn: "arn:aws:iam::222222222222:role/KeystoreWatch" }
regions: [us-east-1, eu-west-1]
${extra}`;

describe('secret hygiene', () => {
  it('never lets a canary reach logs, metrics, the API, payloads, state files or error messages', async () => {
    sim = await simulator('reliability-fleet.yaml');
    const receivers: Receiver[] = [];
    // Each receiver fails first (500, 429, reset, 500) and then accepts: every failure path is logged.
    for (let i = 0; i < 3; i++) {
      const r = await startReceiver({ respond: (_q, n) => (n === 1 ? { status: 500, body: 'upstream broke' } : n === 2 ? { status: 429, headers: { 'retry-after': '0' } } : n === 3 ? 'reset' : { status: i === 1 ? 202 : 200, body: i === 1 ? { status: 'success' } : 'ok' }) });
      receivers.push(r);
      closers.push(() => r.close());
    }
    const [slack, pd, hook] = receivers as [Receiver, Receiver, Receiver];
    const env = {
      SLACK_WEBHOOK_URL: `${slack.url}/services/T000/B000/${CANARY.slack}`,
      PAGERDUTY_ROUTING_KEY: CANARY.pagerduty,
      WEBHOOK_SECRET: CANARY.hmac,
      DEAD_SLACK: `${await refusedUrl()}/services/T1/B1/${CANARY.slack}`,
    };
    const config = parseConfigText(yamlConfig(sim, `
alerting:
  confirmations: 2
  targetDownAfter: 2
  channels:
    - { type: slack, webhookUrl: "\${SLACK_WEBHOOK_URL}", minSeverity: warning }
    - { type: slack, name: dead-slack, webhookUrl: "\${DEAD_SLACK}", minSeverity: warning }
    - { type: pagerduty, routingKey: "\${PAGERDUTY_ROUTING_KEY}", url: "${pd.url}/v2/enqueue", minSeverity: critical }
    - { type: webhook, url: "${hook.url}/hook", hmacSecret: "\${WEBHOOK_SECRET}", minSeverity: warning }
`), 'canary.yaml', env);

    // AWS credentials from the environment, as in production (the SDK's provider chain).
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'), AWS_SECRET_ACCESS_KEY: CANARY.awsSecret, AWS_SESSION_TOKEN: CANARY.awsToken, AWS_EC2_METADATA_DISABLED: 'true' });
    delete process.env.AWS_PROFILE;
    const logs = captureLogger('trace');
    let clock = Date.UTC(2026, 7, 1);
    const daemon = new Daemon({ config, logger: logs.logger, schedule: false, now: () => clock });
    closers.push(() => daemon.stop(500));
    const scanned: string[] = [];
    try {
      await daemon.start();
      const poll = async () => { clock += 60_000; await daemon.pollNow(); };
      await poll();
      // Incidents and AWS failures: a FAILED store, a denied role, KMS errors, hangs, malformed answers.
      sim.fleet.setStore('cks-r1a0000000000001', { state: 'FAILED', errorCode: 'INVALID_CREDENTIALS' });
      sim.fleet.setAccount('222222222222', { denyAssumeRole: true });
      sim.fleet.expireCredentials('222222222222');
      sim.fleet.setFaults({ errors: [
        { service: 'kms', account: '111111111111', region: 'eu-west-1', error: 'AccessDeniedException', message: `denied for ${baseAccessKeyId('111111111111')}` },
      ] });
      for (let i = 0; i < 3; i++) await poll();
      sim.fleet.setFaults({ errors: [{ service: 'kms', account: '111111111111', region: 'eu-west-1', error: 'malformed' }] });
      await poll();
      sim.fleet.resetFaults();
      sim.fleet.setAccount('222222222222', { denyAssumeRole: false });
      sim.fleet.setStore('cks-r1a0000000000001', { state: 'CONNECTED', errorCode: null });
      for (let i = 0; i < 3; i++) await poll();
      // Everything but the dead Slack channel gets through after its failures.
      // (4 notifications each at least: firing and resolved of the FAILED store and of a blind spot; PagerDuty only the store's.)
      await waitUntil(() => slack.requests.length >= 3 + 4 && hook.requests.length >= 3 + 4 && pd.requests.length >= 3 + 2, 'live channels to get through', 30_000, 50);

      const get = async (p: string) => (await fetch(`${daemon.url}${p}`)).text();
      scanned.push(logs.text());
      scanned.push(await get('/metrics'));
      for (const p of ['/api/v1/stores', '/api/v1/targets', '/api/v1/alerts', '/api/v1/events?limit=1000', '/api/v1/outbox?limit=10000']) scanned.push(await get(p));
      scanned.push(...slack.requests.map((r) => r.body + JSON.stringify(r.headers)));
      scanned.push(...hook.requests.map((r) => r.body + JSON.stringify({ ...r.headers, 'x-keystore-watch-signature': undefined })));
      // The routing key must travel to PagerDuty in routing_key, and only there.
      for (const r of pd.requests) {
        const body = r.json as { routing_key: string };
        expect(body.routing_key).toBe(CANARY.pagerduty);
        scanned.push(JSON.stringify({ ...body, routing_key: undefined }) + JSON.stringify(r.headers));
      }
      await daemon.stop(500);
      for (const f of readdirSync(config.stateDir)) scanned.push(readFileSync(path.join(config.stateDir, f), 'utf8'));
    } finally {
      process.env = saved;
    }

    // Error messages of bad configurations that hold the secrets.
    const badConfigs: Record<string, string>[] = [
      { SLACK_WEBHOOK_URL: `not a url ${CANARY.slack}` },
      { SLACK_WEBHOOK_URL: `ftp://hooks.example/${CANARY.slack}` },
    ];
    for (const env of badConfigs) {
      try {
        parseConfigText(yamlConfig(sim, `alerting: { channels: [ { type: slack, webhookUrl: "\${SLACK_WEBHOOK_URL}" }, { type: pagerduty, routingKey: "${CANARY.pagerduty}", url: "not-a-url" }, { type: webhook, url: "https://x.example", hmacSecret: "${CANARY.hmac}", bogus: "${CANARY.hmac}" } ] }`), 'bad.yaml', env);
        throw new Error('expected a ConfigError');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        scanned.push((err as Error).message);
      }
    }

    const all = scanned.join('\n');
    // The failure paths really ran (else the scan proves little).
    expect(all).toContain('notification delivery failed');
    expect(all).toContain('target down');
    expect(all).toContain('INVALID_CREDENTIALS');
    const found = Object.entries(CANARY).filter(([, v]) => all.includes(v)).map(([k]) => k);
    expect(found).toEqual([]);
    // Trust anchors: the CloudHSM stores have certificates; neither PEM nor DER base64 is exported.
    expect(all).not.toContain('BEGIN CERTIFICATE');
    expect(all).not.toMatch(/MII[A-Za-z0-9+/]{60}/);
    reportFigure('secret-canaries', { canaries: Object.keys(CANARY), scannedBytes: all.length, sources: scanned.length, leaks: found.length });
  });
});

describe('exposure', () => {
  it('requires the bearer token (from ${VAR}) on /metrics and /api/*, and never serves /_sim/', async () => {
    sim ??= await simulator('reliability-fleet.yaml');
    const token = 'exposure-token-0123456789abcdef';
    const config = parseConfigText(yamlConfig(sim, 'http: { authToken: "${KW_AUTH_TOKEN}" }'), 'exposure.yaml', { KW_AUTH_TOKEN: token });
    expect(config.http.authToken).toBe(token);
    const daemon = new Daemon({ config, logger: silentLogger(), credentials: { accessKeyId: baseAccessKeyId('111111111111'), secretAccessKey: 'x' }, schedule: false });
    closers.push(() => daemon.stop(500));
    await daemon.start();
    await daemon.pollNow();
    const status = async (p: string, auth?: string, method = 'GET') => (await fetch(`${daemon.url}${p}`, { method, headers: auth ? { authorization: auth } : {} })).status;
    for (const p of ['/metrics', '/api/v1/stores', '/api/v1/targets', '/api/v1/alerts', '/api/v1/events', '/api/v1/outbox']) {
      expect(await status(p), p).toBe(401);
      expect(await status(p, `Bearer ${token}x`), p).toBe(401);
      expect(await status(p, token), p).toBe(401);
      expect(await status(p, `Bearer ${token}`), p).toBe(200);
    }
    expect(await status('/healthz')).toBe(200);
    for (const p of ['/_sim/faults', '/_sim/stores', '/_sim/fleet', '/_sim/clock', '/_sim/counters']) {
      expect(await status(p, `Bearer ${token}`), p).toBe(404);
      expect(await status(p), p).not.toBe(200);
      expect([404, 405]).toContain(await status(p, `Bearer ${token}`, 'POST'));
    }
  });

  it.runIf(mustRun('openssl'))('serves TLS with the configured certificate and key', async () => {
    sim ??= await simulator('reliability-fleet.yaml');
    const dir = tempDir('kw-tls-');
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const config = parseConfigText(yamlConfig(sim, `http: { tls: { certFile: "${certFile}", keyFile: "${keyFile}" } }`), 'tls.yaml', {});
    const daemon = new Daemon({ config, logger: silentLogger(), credentials: { accessKeyId: baseAccessKeyId('111111111111'), secretAccessKey: 'x' }, schedule: false });
    closers.push(() => daemon.stop(500));
    await daemon.start();
    await daemon.pollNow();
    expect(daemon.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(certFile);
    const got = await new Promise<{ status: number; body: string; cert: string }>((resolve, reject) => {
      httpsGet(`${daemon.url}/metrics`, { ca }, (res) => {
        const cnValue = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN ?? ''; const cn = Array.isArray(cnValue) ? cnValue.join(',') : cnValue;
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert: cn }));
      }).on('error', reject);
    });
    expect(got.status).toBe(200);
    expect(got.cert).toBe('localhost');
    expect(got.body).toContain('keystore_watch_target_up');
    // Plain HTTP to the TLS port does not get the metrics.
    const plain = await fetch(daemon.url!.replace('https:', 'http:') + '/metrics').then((r) => r.status, () => 'refused');
    expect(plain).not.toBe(200);
    // An unknown CA is refused by a verifying client.
    await expect(new Promise((resolve, reject) => httpsGet(`${daemon.url}/healthz`, (res) => resolve(res.statusCode)).on('error', reject))).rejects.toThrow();
  });
});
