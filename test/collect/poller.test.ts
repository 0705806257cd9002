// The real poller code with the real SDK clients over HTTP against the in-process simulator.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsClients } from '../../src/collect/aws-clients.js';
import { SnapshotPoller } from '../../src/pipeline/snapshot-poller.js';
import type { Snapshot } from '../../src/model.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';

let sim: RunningSimulator;
beforeAll(async () => { sim = await simulator('poller-fleet.yaml'); });
afterAll(async () => { await sim?.close(); });
beforeEach(() => { sim.fleet.resetFaults(); sim.fleet.setFaults({ rateLimitPerSecond: 0 }); });

function poller(extra: Record<string, unknown> = {}) {
  const config = simConfig(sim, { ...extra, aws: { pageSize: 3, ...(extra.aws as object) } });
  const requests: string[] = [];
  const clients = new AwsClients({ aws: config.aws, credentials: BASE_CREDENTIALS, observer: { request: (s, o) => requests.push(`${s}:${o}`), failure: () => {} } });
  return { poller: new SnapshotPoller({ config, clients }), clients, requests, config };
}

const ids = (s: Snapshot) => s.stores.map((x) => x.id).sort();

describe('poller against the simulator', () => {
  it('walks every account x region through AssumeRole and pages, each store once', async () => {
    const { poller: p, clients, requests } = poller();
    const snap = await p.poll(null);
    clients.close();
    expect(snap.targets).toHaveLength(6);
    expect(snap.targets.every((t) => t.ok)).toBe(true);
    expect(ids(snap)).toEqual([
      'cks-aaaaaaaaaaaaaaaa1', 'cks-bbbbbbbbbbbbbbbb1', 'cks-bbbbbbbbbbbbbbbb2',
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => `cks-cccccccccccccccc${i}`), 'cks-dddddddddddddddd1',
    ]);
    expect(new Set(ids(snap)).size).toBe(snap.stores.length);
    // 7 stores at page size 3 -> 3 pages in payments/eu-west-1; one AssumeRole per role, shared by both regions.
    expect(requests.filter((r) => r === 'sts:AssumeRole')).toHaveLength(2);
    expect(requests.filter((r) => r === 'kms:DescribeCustomKeyStores').length).toBe(3 + 5);
    const failed = snap.stores.find((s) => s.id === 'cks-bbbbbbbbbbbbbbbb1')!;
    expect(failed).toMatchObject({ accountName: 'payments', state: 'FAILED', errorCode: 'INVALID_CREDENTIALS', type: 'AWS_CLOUDHSM', clusterId: 'cluster-bcdefghijkl', stale: false });
    expect(failed.trustAnchorSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(failed.trustAnchorNotAfter).toBeGreaterThan(Date.now());
    const vpc = snap.stores.find((s) => s.id === 'cks-cccccccccccccccc1')!;
    expect(vpc.xks).toMatchObject({ connectivity: 'VPC_ENDPOINT_SERVICE', uriPath: '/xks', vpcEndpointServiceName: 'com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0' });
    // CloudHSM enrichment for the three targets with CloudHSM stores.
    expect(snap.clusters.map((c) => c.id).sort()).toEqual(['cluster-abcdefghijk', 'cluster-bcdefghijkl', 'cluster-cdefghijklm']);
    expect(snap.clusters.find((c) => c.id === 'cluster-abcdefghijk')!.hsms.map((h) => h.availabilityZone).sort()).toEqual(['us-east-1a', 'us-east-1b']);
  });

  it('isolates an account whose role is denied: down with the reason, its stores kept and stale', async () => {
    const { poller: p, clients } = poller();
    const first = await p.poll(null);
    sim.fleet.setAccount('333333333333', { denyAssumeRole: true });
    sim.fleet.expireCredentials('333333333333');
    try {
      clients.resetCredentials({ roleArn: 'arn:aws:iam::333333333333:role/KeystoreWatch', externalId: null });
      const second = await p.poll(first);
      const down = second.targets.filter((t) => !t.ok);
      expect(down.map((t) => `${t.accountId}/${t.region}`).sort()).toEqual(['333333333333/eu-west-1', '333333333333/us-east-1']);
      expect(down[0]!.error!.code).toMatch(/AccessDenied/);
      const kept = second.stores.find((s) => s.id === 'cks-dddddddddddddddd1')!;
      expect(kept).toMatchObject({ state: 'CONNECTED', stale: true });
      expect(second.stores.filter((s) => !s.stale)).toHaveLength(first.stores.length - 1);
      expect(second.clusters.find((c) => c.id === 'cluster-cdefghijklm')!.stale).toBe(true);
    } finally {
      sim.fleet.setAccount('333333333333', { denyAssumeRole: false });
      clients.close();
    }
  });

  it('assumes a role that requires an ExternalId with the configured one, and is denied with a wrong one', async () => {
    sim.fleet.setAccount('333333333333', { externalId: 'ksw-ext-7f3a' });
    const accounts = (externalId: string) => [
      { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' },
      { id: '333333333333', name: 'sandbox', roleArn: 'arn:aws:iam::333333333333:role/KeystoreWatch', externalId },
    ];
    try {
      for (const [externalId, ok] of [['ksw-ext-7f3a', true], ['wrong-id', false]] as const) {
        const { poller: p, clients, requests } = poller({ accounts: accounts(externalId) });
        const snap = await p.poll(null);
        clients.close();
        const sandbox = snap.targets.filter((t) => t.accountId === '333333333333');
        expect(sandbox.map((t) => t.ok)).toEqual([ok, ok]);
        if (!ok) expect(sandbox[0]!.error!.code).toMatch(/AccessDenied/);
        // The other account is unaffected, and each role is assumed once for its two regions.
        expect(snap.targets.filter((t) => t.accountId === '222222222222').every((t) => t.ok)).toBe(true);
        if (ok) expect(requests.filter((r) => r === 'sts:AssumeRole')).toHaveLength(2);
        if (ok) expect(snap.stores.find((s) => s.id === 'cks-dddddddddddddddd1')).toMatchObject({ accountId: '333333333333', stale: false });
      }
    } finally {
      sim.fleet.setAccount('333333333333', { externalId: null });
    }
  });

  it('survives a throttling storm on one target and a hanging response on another', async () => {
    const { poller: p, clients } = poller({ aws: { maxAttempts: 2, requestTimeout: '1s', targetTimeout: '3s' } });
    sim.fleet.setFaults({ errors: [
      { service: 'kms', operation: 'DescribeCustomKeyStores', account: '222222222222', region: 'eu-west-1', error: 'ThrottlingException' },
      { service: 'kms', operation: 'DescribeCustomKeyStores', account: '111111111111', region: 'us-east-1', error: 'hang' },
    ] });
    const snap = await p.poll(null);
    clients.close();
    const byKey = new Map(snap.targets.map((t) => [`${t.accountId}/${t.region}`, t]));
    expect(byKey.get('222222222222/eu-west-1')).toMatchObject({ ok: false, error: { code: 'ThrottlingException' } });
    expect(byKey.get('111111111111/us-east-1')!.ok).toBe(false);
    expect(byKey.get('111111111111/us-east-1')!.error!.code).toMatch(/Timeout/);
    expect([...byKey.values()].filter((t) => t.ok)).toHaveLength(4);
  });

  it('restarts a walk once on InvalidMarkerException in the middle', async () => {
    const { poller: p, clients } = poller();
    sim.fleet.setFaults({ errors: [{ service: 'kms', operation: 'DescribeCustomKeyStores', account: '222222222222', region: 'eu-west-1', error: 'InvalidMarkerException', remaining: 1, probability: 1 }] });
    const snap = await p.poll(null);
    clients.close();
    expect(snap.targets.every((t) => t.ok)).toBe(true);
    expect(snap.stores.filter((s) => s.region === 'eu-west-1' && s.accountId === '222222222222')).toHaveLength(7);
  });

  it('discovers ACTIVE organization accounts honouring include/exclude and skipping SUSPENDED ones', async () => {
    const { poller: p, clients } = poller({ accounts: [], organizations: { enabled: true, roleName: 'KeystoreWatch', excludeAccounts: ['sandbox'] } });
    const accounts = await p.accounts();
    clients.close();
    expect(accounts.map((a) => a.id)).toEqual(['111111111111', '222222222222']);
    expect(accounts.every((a) => a.roleArn === `arn:aws:iam::${a.id}:role/KeystoreWatch`)).toBe(true);
  });

  it('keeps the last known account list when ListAccounts fails', async () => {
    const errors: string[] = [];
    const { config } = poller({ accounts: [], organizations: { enabled: true } });
    const clients = new AwsClients({ aws: config.aws, credentials: BASE_CREDENTIALS });
    let now = Date.now();
    const p = new SnapshotPoller({ config, clients, now: () => now, onOrganizationsError: (e) => errors.push(e.code) });
    const before = await p.accounts();
    sim.fleet.setFaults({ errors: [{ service: 'organizations', error: 'ServiceException', status: 500 }] });
    now += config.organizations.refreshInterval;
    await p.accounts(); // due: answers the held list and reads in the background
    await p.organizations!.settled();
    const after = await p.accounts();
    p.close();
    clients.close();
    expect(errors.length).toBe(1);
    expect(after.map((a) => a.id)).toEqual(before.map((a) => a.id));
    expect(before).toHaveLength(3);
  });
});

describe('poller: accounts that disappear', () => {
  it('forgets their cached credentials, role session caps and probe spacing (account churn cannot grow the maps)', async () => {
    const { poller: p, clients } = poller({ probe: { enabled: true, ratePerSecond: 4 } });
    try {
      await p.poll(null);
      const accounts = await p.accounts();
      expect(accounts.filter((a) => a.roleArn).length).toBeGreaterThanOrEqual(2);
      expect(clients.cachedRoles).toBe(new Set(accounts.filter((a) => a.roleArn).map((a) => a.roleArn)).size);
      expect(p.lastProbeCallEnd.size).toBeGreaterThan(0);
      // One account left: the others' entries go.
      const kept = accounts.filter((a) => a.roleArn)[0]!;
      await p.plan([kept]);
      expect(clients.cachedRoles).toBe(1);
      expect([...p.lastProbeCallEnd.keys()].every((k) => k.startsWith(`${kept.id}/`))).toBe(true);
      await p.plan([]);
      expect(clients.cachedRoles).toBe(0);
      expect(p.lastProbeCallEnd.size).toBe(0);
    } finally {
      clients.close();
    }
  });
});
