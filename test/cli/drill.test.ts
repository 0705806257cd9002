import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simulator, tempDir } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { slackPayloadProblems } from '../helpers/slack-limits.js';

let sim: RunningSimulator;
let slack: Receiver;
let hook: Receiver;
const dir = tempDir();
const env = { AWS_ACCESS_KEY_ID: BASE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE_CREDENTIALS.secretAccessKey, SLACK_URL_FOR_DRILL: '', HOOK_SECRET: 'drill-hmac-canary-9876' };

function config(channels: object[]): string {
  const file = join(dir, `drill-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({
    stateDir: join(dir, 'state'),
    aws: { endpoint: sim.url, maxAttempts: 1 },
    accounts: [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }],
    regions: ['us-east-1', 'eu-west-1'],
    alerting: { channels },
  }));
  return file;
}

beforeAll(async () => {
  sim = await simulator('poller-fleet.yaml');
  slack = await startReceiver();
  hook = await startReceiver();
  env.SLACK_URL_FOR_DRILL = `${slack.url}/services/T0/B0/drillslacksecret`;
});
afterAll(async () => { await Promise.all([sim?.close(), slack?.close(), hook?.close()]); });

describe('keystore-watch drill', () => {
  it('finds the store by a sweep and sends a labelled TEST through every channel', async () => {
    const cfg = config([{ type: 'slack', webhookUrl: '${SLACK_URL_FOR_DRILL}' }, { type: 'webhook', url: `${hook.url}/kms`, hmacSecret: '${HOOK_SECRET}' }]);
    const r = await runCli(['drill', '--config', cfg, '--store', 'cks-bbbbbbbbbbbbbbbb1', '--code', 'INVALID_CREDENTIALS'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/slack\s+ok/);
    expect(r.stdout).toMatch(/webhook\s+ok/);
    const slackBody = slack.requests.at(-1)!.json as { text: string };
    expect(slackPayloadProblems(slackBody)).toEqual([]);
    expect(slackBody.text).toMatch(/TEST/);
    expect(JSON.stringify(slackBody)).toContain('aws kms disconnect-custom-key-store --custom-key-store-id cks-bbbbbbbbbbbbbbbb1 --region us-east-1');
    const hookReq = hook.requests.at(-1)!;
    expect(hookReq.headers['x-keystore-watch-event']).toBe('drill');
    expect((hookReq.json as { notification: { subject: { accountId: string } } }).notification.subject.accountId).toBe('222222222222');
    expect(r.stdout + r.stderr).not.toContain('drillslacksecret');
  });

  it('prints the payloads with --dry-run, without secrets and without sending', async () => {
    const before = slack.requests.length;
    const cfg = config([{ type: 'slack', webhookUrl: '${SLACK_URL_FOR_DRILL}' }, { type: 'pagerduty', routingKey: 'drill-routing-canary-1234', url: `${hook.url}/pd` }]);
    const r = await runCli(['drill', '--config', cfg, '--store', 'cks-x', '--code', 'XKS_PROXY_TIMED_OUT', '--account', '111111111111', '--region', 'eu-west-1', '--type', 'EXTERNAL_KEY_STORE', '--dry-run'], { env });
    expect(r.code).toBe(0);
    const payloads = JSON.parse(r.stdout) as { channel: string; payload: unknown }[];
    expect(payloads.map((p) => p.channel)).toEqual(['slack', 'pagerduty']);
    expect(r.stdout).toContain('XKS_PROXY_TIMED_OUT');
    expect(r.stdout).not.toContain('drill-routing-canary-1234');
    expect(r.stdout).not.toContain('drillslacksecret');
    expect(slack.requests.length).toBe(before);
  });

  it('exits 1 when a channel keeps failing, 2 for an unknown store or missing options', async () => {
    const failing = await startReceiver({ respond: () => ({ status: 400, body: 'invalid_payload' }) });
    try {
      const cfg = config([{ type: 'webhook', url: `${failing.url}/x` }]);
      const r = await runCli(['drill', '--config', cfg, '--store', 'cks-x', '--code', 'NETWORK_ERRORS', '--account', '111111111111', '--region', 'us-east-1'], { env });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/webhook\s+FAILED/);
    } finally {
      await failing.close();
    }
    const cfg = config([{ type: 'console' }]);
    const missing = await runCli(['drill', '--config', cfg, '--store', 'cks-doesnotexist', '--code', 'NETWORK_ERRORS'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cks-doesnotexist was not found');
    expect((await runCli(['drill', '--config', cfg, '--store', 'cks-x'], { env })).code).toBe(2);
  });
});
