// Opt-in regions, `regions: enabled` and SCP denies, end to end: the daemon and the `once` CLI with the real
// SDK clients against the simulator, whose accounts answer UnrecognizedClientException for opt-in regions
// they have not enabled (as AWS does) and Account ListRegions from the scenario.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { Snapshot } from '../../src/model.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { runCli } from '../helpers/cli.js';

const ROLE = (id: string) => `arn:aws:iam::${id}:role/KeystoreWatch`;
const ACCOUNTS = [
  { id: '111111111111', name: 'management' },
  { id: '222222222222', name: 'gulf', roleArn: ROLE('222222222222') },
  { id: '333333333333', name: 'sandbox', roleArn: ROLE('333333333333') },
  { id: '444444444444', name: 'data', roleArn: ROLE('444444444444') },
];
/**
 * Regions enabled by default in every account (AWS Account Management Reference Guide, "Specify which AWS
 * Regions your account can use": the regions launched before March 20, 2019). Written out here rather
 * than taken from the simulator or the daemon, so the test checks both against the documentation.
 */
const DEFAULT_REGIONS = [
  'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-southeast-1', 'ap-southeast-2', 'ca-central-1', 'eu-central-1',
  'eu-north-1', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'sa-east-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
];

let sim: RunningSimulator;
let hook: Receiver;
let daemon: Daemon | null = null;
let clock = Date.UTC(2026, 0, 1, 12);

beforeAll(async () => {
  sim = await simulator('opt-in-org.yaml');
  hook = await startReceiver();
});
afterEach(async () => {
  await daemon?.stop(2000);
  daemon = null;
  sim.fleet.resetFaults();
  sim.fleet.setScpDeny([]);
  sim.fleet.setAccount('333333333333', { missingPermissions: [] });
  hook.requests.length = 0;
});
afterAll(async () => { await Promise.all([sim?.close(), hook?.close()]); });

async function startDaemon(extra: Record<string, unknown>): Promise<Daemon> {
  const config = simConfig(sim, {
    accounts: ACCOUNTS,
    alerting: { confirmations: 2, targetDownAfter: 3, channels: [{ type: 'webhook', url: `${hook.url}/all`, minSeverity: 'info' }] },
    ...extra,
  });
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
  await daemon.start();
  return daemon;
}

async function poll(d: Daemon): Promise<Snapshot> {
  clock += 60_000;
  expect(await d.pollNow()).toBe(true);
  return d.latest!;
}

async function outboxEmpty(d: Daemon): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (d.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error(`outbox still holds ${d.alerts.outbox.pending()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A counter of the daemon's /metrics text, e.g. keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}. */
async function metric(d: Daemon, series: string): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

const byStatus = (s: Snapshot) => Object.fromEntries(['ok', 'failed', 'not_enabled', 'denied'].map((st) => [st, s.targets.filter((t) => t.status === st).map((t) => `${t.accountId}/${t.region}`).sort()]));

describe('opt-in regions with an explicit region list', () => {
  it('marks the three accounts without me-central-1 not_enabled, raises nothing over 10 polls and assumes each role once', async () => {
    const d = await startDaemon({ regions: ['us-east-1', 'me-central-1'] });
    let snap!: Snapshot;
    for (let i = 0; i < 10; i++) snap = await poll(d);
    expect(byStatus(snap)).toEqual({
      ok: ['111111111111/us-east-1', '222222222222/me-central-1', '222222222222/us-east-1', '333333333333/us-east-1', '444444444444/us-east-1'],
      failed: [],
      not_enabled: ['111111111111/me-central-1', '333333333333/me-central-1', '444444444444/me-central-1'],
      denied: [],
    });
    const ne = snap.targets.find((t) => t.accountId === '333333333333' && t.region === 'me-central-1')!;
    expect(ne).toMatchObject({ ok: false, consecutiveFailures: 0, error: { code: 'RegionNotEnabled' } });
    expect(snap.stores.map((s) => s.id).sort()).toEqual(['cks-e000000000000001', 'cks-e000000000000002', 'cks-e000000000000003', 'cks-e000000000000004']);

    // No alert, no notification of any severity.
    await outboxEmpty(d);
    expect(d.alerts.firing()).toEqual([]);
    expect(hook.requests).toHaveLength(0);

    // One AssumeRole per role for all ten polls (the not-enabled regions never dropped the credentials),
    // and each not-enabled region was asked once, then left alone until the refresh.
    expect(await metric(d, 'keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}')).toBe(3);
    const counters = sim.fleet.counters().byTarget;
    for (const a of ['111111111111', '333333333333', '444444444444']) {
      expect(counters[`${a}/me-central-1/DescribeCustomKeyStores`]?.failed, a).toBe(1);
    }
    expect(counters['222222222222/me-central-1/DescribeCustomKeyStores']?.ok).toBe(10);

    // Metrics: counted by status, no keystore_watch_target_up series for a region not enabled.
    expect(await metric(d, 'keystore_watch_targets{status="not_enabled"}')).toBe(3);
    expect(await metric(d, 'keystore_watch_targets{status="ok"}')).toBe(5);
    expect(await metric(d, 'keystore_watch_targets{status="failed"}')).toBe(0);
    const text = await (await fetch(`${d.url}/metrics`)).text();
    expect(text).not.toMatch(/keystore_watch_target_up\{account_id="333333333333",region="me-central-1"\}/);
    expect(text).toMatch(/keystore_watch_target_up\{account_id="222222222222",region="me-central-1"\} 1/);

    // The API shows them.
    const api = await (await fetch(`${d.url}/api/v1/targets`)).json() as { targets: { accountId: string; region: string; status: string }[] };
    expect(api.targets.filter((t) => t.status === 'not_enabled').map((t) => t.accountId).sort()).toEqual(['111111111111', '333333333333', '444444444444']);
    const ready = await fetch(`${d.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('polls a region again after organizations.refreshInterval, and picks it up once the account enabled it', async () => {
    const d = await startDaemon({ regions: ['us-east-1', 'me-central-1'], organizations: { refreshInterval: '15m' } });
    await poll(d);
    sim.fleet.setAccount('333333333333', { optInRegions: ['me-central-1'] });
    try {
      // Within the interval: still not_enabled, not asked again.
      const mid = await poll(d);
      expect(mid.targets.find((t) => t.accountId === '333333333333' && t.region === 'me-central-1')!.status).toBe('not_enabled');
      clock += 15 * 60_000;
      const after = await poll(d);
      expect(after.targets.find((t) => t.accountId === '333333333333' && t.region === 'me-central-1')!.status).toBe('ok');
      expect(after.targets.find((t) => t.accountId === '444444444444' && t.region === 'me-central-1')!.status).toBe('not_enabled');
    } finally {
      sim.fleet.setAccount('333333333333', { optInRegions: [] });
    }
  });

  it('without account:ListRegions, an account answering in no region stays failed (the safe side) and its credentials are re-assumed', async () => {
    sim.fleet.setAccount('333333333333', { missingPermissions: ['account:ListRegions'] });
    const d = await startDaemon({ regions: ['me-central-1', 'us-east-1'], accounts: ACCOUNTS.slice(1, 3) });
    const first = await poll(d);
    // sandbox answers in us-east-1, so its me-central-1 is not enabled even without ListRegions.
    expect(first.targets.find((t) => t.accountId === '333333333333' && t.region === 'me-central-1')!.status).toBe('not_enabled');
    // Now every region of sandbox answers UnrecognizedClientException (its us-east-1 too): nothing vouches for the credentials.
    sim.fleet.setFaults({ errors: [{ service: 'kms', account: '333333333333', region: 'us-east-1', error: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }] });
    const assumed = () => metric(d, 'keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}');
    const before = await assumed();
    const second = await poll(d);
    expect(second.targets.find((t) => t.accountId === '333333333333' && t.region === 'us-east-1')).toMatchObject({ status: 'failed', error: { code: 'UnrecognizedClientException' } });
    await poll(d);
    expect(await assumed()).toBe(before + 1); // dropped after the failed poll, assumed again on the next
  });

  it('once exits 0 when every store is CONNECTED, listing the disabled regions as not_enabled', async () => {
    const dir = tempDir();
    const cfg = join(dir, 'opt-in.yaml');
    writeFileSync(cfg, stringify({ aws: { endpoint: sim.url, maxAttempts: 1, requestTimeout: '3s' }, accounts: ACCOUNTS, regions: ['us-east-1', 'me-central-1'] }));
    const env = { AWS_ACCESS_KEY_ID: BASE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };
    const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { stores: unknown[]; targets: { accountId: string; region: string; status: string }[] };
    expect(out.stores).toHaveLength(4);
    expect(out.targets.filter((t) => t.status === 'not_enabled').map((t) => `${t.accountId}/${t.region}`).sort())
      .toEqual(['111111111111/me-central-1', '333333333333/me-central-1', '444444444444/me-central-1']);
  });
});

describe('region names', () => {
  it('a typo exits 2 through the CLI, naming regions[i]', async () => {
    const cfg = join(tempDir(), 'typo.yaml');
    writeFileSync(cfg, stringify({ aws: { endpoint: sim.url }, accounts: ACCOUNTS, regions: ['us-east-1', 'us-east-7', 'eu-west1'] }));
    const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(cfg);
    expect(r.stderr).toMatch(/regions\[1\]: unknown AWS region "us-east-7"/);
    expect(r.stderr).toMatch(/regions\[2\]: unknown AWS region "eu-west1"/);
  });
});

describe('regions: enabled', () => {
  it('polls exactly the regions each account has enabled, minus excludeRegions', async () => {
    const listRegions = () => sim.fleet.counters().byOperation.ListRegions?.ok ?? 0;
    const before = listRegions();
    const d = await startDaemon({ regions: 'enabled', excludeRegions: ['ap-northeast-3'] });
    const snap = await poll(d);
    const regionsOf = (id: string) => snap.targets.filter((t) => t.accountId === id).map((t) => t.region).sort();
    const expected = DEFAULT_REGIONS.filter((r) => r !== 'ap-northeast-3');
    expect(regionsOf('111111111111')).toEqual(expected);
    expect(regionsOf('333333333333')).toEqual(expected);
    expect(regionsOf('222222222222')).toEqual([...expected, 'me-central-1'].sort());
    expect(byStatus(snap).failed).toEqual([]);
    expect(byStatus(snap).not_enabled).toEqual([]);
    expect(snap.stores).toHaveLength(5);
    // One ListRegions per account; the next poll inside refreshInterval asks none.
    expect(listRegions() - before).toBe(4);
    await poll(d);
    expect(listRegions() - before).toBe(4);
  });

  it('an account whose regions cannot be read is one failed target naming ListRegions, and the others are polled', async () => {
    sim.fleet.setFaults({ errors: [{ service: 'account', account: '444444444444', error: 'AccessDeniedException', message: 'User is not authorized to perform: account:ListRegions' }] });
    const d = await startDaemon({ regions: 'enabled' });
    const snap = await poll(d);
    const data = snap.targets.filter((t) => t.accountId === '444444444444');
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({ region: 'us-east-1', status: 'failed', error: { code: 'AccessDeniedException' } });
    expect(data[0]!.error!.message).toMatch(/ListRegions/);
    expect(snap.targets.filter((t) => t.accountId === '222222222222' && t.status === 'ok')).toHaveLength(DEFAULT_REGIONS.length + 1);
  });
});

describe('service control policies', () => {
  it('a region an SCP denies is denied, with one warning for the account and no blind-spot page', async () => {
    // The simulator answers AWS's explicit-deny message for the account's callers in those regions.
    sim.fleet.setScpDeny([{ account: '444444444444', region: 'eu-west-1', action: 'kms:*' }, { account: '444444444444', region: 'us-east-1', action: 'kms:DescribeCustomKeyStores' }]);
    const d = await startDaemon({ regions: ['us-east-1', 'eu-west-1'] });
    let snap!: Snapshot;
    for (let i = 0; i < 5; i++) snap = await poll(d);
    expect(byStatus(snap).denied).toEqual(['444444444444/eu-west-1', '444444444444/us-east-1']);
    expect(byStatus(snap).failed).toEqual([]);
    await outboxEmpty(d);
    const firing = d.alerts.firing();
    expect(firing.map((a) => `${a.condition} ${a.severity} ${a.subject.accountId}`)).toEqual(['SCP_DENIED warning 444444444444']);
    expect(firing[0]!.subject.details['Denied regions']).toBe('eu-west-1, us-east-1');
    expect(firing[0]!.subject.details['Denied action']).toBe('kms:DescribeCustomKeyStores');
    const sent = hook.requests.map((r) => r.json as { notification: { condition: string; kind: string; guidance: { summary: string; commands: string[] } } });
    expect(sent.map((n) => `${n.notification.kind} ${n.notification.condition}`)).toEqual(['firing SCP_DENIED']);
    expect(sent[0]!.notification.guidance.summary).toMatch(/service control policy/);
    expect(sent[0]!.notification.guidance.commands[0]).toBe('aws organizations list-policies-for-target --target-id 444444444444 --filter SERVICE_CONTROL_POLICY');
    // The stores there are kept (stale), the credentials were never dropped for the deny.
    expect(snap.stores.find((s) => s.id === 'cks-e000000000000005')).toBeUndefined(); // never seen: nothing to keep
    expect(await metric(d, 'keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}')).toBe(3);
    expect(await metric(d, 'keystore_watch_targets{status="denied"}')).toBe(2);
  });

  it('an access denial without an SCP stays a failure naming the missing IAM action', async () => {
    sim.fleet.setAccount('333333333333', { missingPermissions: ['kms:DescribeCustomKeyStores'] });
    const d = await startDaemon({ regions: ['us-east-1'] });
    let snap!: Snapshot;
    for (let i = 0; i < 3; i++) snap = await poll(d);
    expect(byStatus(snap).failed).toEqual(['333333333333/us-east-1']);
    await outboxEmpty(d);
    const down = d.alerts.firing().find((a) => a.condition === 'TARGET_DOWN')!;
    expect(down.subject.details['Denied action']).toBe('kms:DescribeCustomKeyStores');
    const sent = hook.requests.map((r) => r.json as { notification: { condition: string; guidance: { commands: string[] } } }).find((n) => n.notification.condition === 'TARGET_DOWN')!;
    expect(sent.notification.guidance.commands).toContain('aws iam simulate-principal-policy --policy-source-arn "$ROLE_ARN" --action-names kms:DescribeCustomKeyStores');
  });
});
