// Every CloudHSM finding end to end: the real daemon polls the simulator over HTTP with the real SDK
// clients, the alert lifecycle runs, and a real local webhook receiver gets the notifications.
// Each finding fires exactly once after `confirmations` polls, carries guidance with the ids filled in,
// and resolves exactly once after the fix. Fixture: test/fixtures/scenarios/cloudhsm-fleet.yaml
// (account 111111111111, us-east-1: one healthy store + cluster per finding).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../src/model.js';
import { startHarness, type Harness, type HookEvent } from '../helpers/cloudhsm.js';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    accounts: [{ id: ACCOUNT, name: 'management' }],
    regions: [REGION],
    extra: { alerting: { certificateExpiryWarning: '30d', clusterUpdateTimeout: '1h' } },
  });
});
afterAll(async () => {
  await h?.close();
});

const describeCluster = (id: string) => `aws cloudhsmv2 describe-clusters --filters clusterIds=${id} --region ${REGION}`;
const createHsm = (id: string, az: string) => `aws cloudhsmv2 create-hsm --cluster-id ${id} --availability-zone ${az} --region ${REGION}`;
const tag = (e: HookEvent) => `${e.kind}:${e.condition}:${e.subject.clusterId ?? ''}:${e.subject.storeId ?? ''}`;

/**
 * Breaks something, checks that exactly one `firing` for `condition` arrives on the second poll (not the
 * first), fixes it, checks exactly one `resolved` on the second poll after the fix, and then silence.
 * Returns the firing event for guidance checks.
 */
async function cycle(condition: Condition, subject: { clusterId: string; storeId: string }, breakIt: () => void, fixIt: () => void, pollsBeforeFiring: ((quiet: () => Promise<void>) => Promise<void>) | null = null): Promise<HookEvent> {
  await h.delivered();
  const mark = h.hook.requests.length;
  const since = () => h.events().slice(mark).map(tag);
  const key = `${subject.clusterId}:${subject.storeId}`;
  breakIt();
  const quiet = async () => {
    await h.delivered();
    expect(since()).toEqual([]);
  };
  if (pollsBeforeFiring) await pollsBeforeFiring(quiet);
  else {
    await h.poll();
    await h.delivered();
    expect(since(), 'one poll is not a confirmation').toEqual([]);
    await h.poll();
  }
  await h.delivered();
  expect(since()).toEqual([`firing:${condition}:${key}`]);
  await h.poll();
  await h.poll();
  await h.delivered();
  expect(since(), 'no repeat while it holds').toEqual([`firing:${condition}:${key}`]);
  const firing = h.events()[mark]!;

  fixIt();
  await h.poll();
  await h.delivered();
  expect(since(), 'one good poll does not resolve').toEqual([`firing:${condition}:${key}`]);
  await h.poll();
  await h.delivered();
  expect(since()).toEqual([`firing:${condition}:${key}`, `resolved:${condition}:${key}`]);
  await h.poll();
  await h.poll();
  await h.delivered();
  expect(since(), 'resolved exactly once').toEqual([`firing:${condition}:${key}`, `resolved:${condition}:${key}`]);
  return firing;
}

describe('CloudHSM findings end to end', () => {
  it('sends nothing for the healthy fleet', async () => {
    await h.poll();
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(h.events()).toEqual([]);
    const snap = h.daemon.latest!;
    expect(snap.targets).toEqual([expect.objectContaining({ ok: true, cloudHsm: { ok: true, error: null, missingClusterIds: [] } })]);
    expect(snap.clusters).toHaveLength(6);
  });

  const NOT_ACTIVE = { clusterId: 'cluster-notactive0001', storeId: 'cks-f000000000000001' };

  it('CLUSTER_NOT_ACTIVE: a DEGRADED cluster', async () => {
    const e = await cycle('CLUSTER_NOT_ACTIVE', NOT_ACTIVE,
      () => h.sim.fleet.setCluster(NOT_ACTIVE.clusterId, { state: 'DEGRADED', stateMessage: 'HSM replacement in progress' }),
      () => h.sim.fleet.setCluster(NOT_ACTIVE.clusterId, { state: 'ACTIVE', stateMessage: null }));
    expect(e.severity).toBe('warning');
    expect(e.subject).toMatchObject({ accountId: ACCOUNT, region: REGION, details: { 'Cluster state': 'DEGRADED', 'State message': 'HSM replacement in progress' } });
    expect(e.guidance.commands).toContain(describeCluster(NOT_ACTIVE.clusterId));
  });

  it('CLUSTER_NOT_ACTIVE: UPDATE_IN_PROGRESS only once it outlasts alerting.clusterUpdateTimeout (1h)', async () => {
    const e = await cycle('CLUSTER_NOT_ACTIVE', NOT_ACTIVE,
      () => h.sim.fleet.setCluster(NOT_ACTIVE.clusterId, { state: 'UPDATE_IN_PROGRESS' }),
      () => h.sim.fleet.setCluster(NOT_ACTIVE.clusterId, { state: 'ACTIVE' }),
      async (quiet) => {
        // First seen by the next poll; 59 minutes later it is still a normal update.
        await h.poll();
        await h.poll(30);
        await h.poll(29);
        await quiet();
        await h.poll(2); // 61 minutes: the first poll where it holds
        await quiet();
        await h.poll(); // the second: fires
      });
    expect(e.subject.details['Cluster state']).toBe('UPDATE_IN_PROGRESS');
    expect(e.guidance.commands).toContain(describeCluster(NOT_ACTIVE.clusterId));
  });

  it('CLUSTER_NOT_ACTIVE: a DELETED cluster', async () => {
    const e = await cycle('CLUSTER_NOT_ACTIVE', NOT_ACTIVE,
      () => h.sim.fleet.setCluster(NOT_ACTIVE.clusterId, { state: 'DELETED' }),
      () => h.sim.fleet.setCluster(NOT_ACTIVE.clusterId, { state: 'ACTIVE' }));
    expect(e.subject.details['Cluster state']).toBe('DELETED');
    expect(e.guidance.commands).toContain(describeCluster(NOT_ACTIVE.clusterId));
  });

  it('NO_ACTIVE_HSMS: every HSM removed behind a CONNECTED store (critical), with create-hsm in two zones', async () => {
    const c = { clusterId: 'cluster-nohsms0000001', storeId: 'cks-f000000000000002' };
    const e = await cycle('NO_ACTIVE_HSMS', c,
      () => { h.sim.fleet.removeHsm(c.clusterId, 'hsm-nohsms00000a'); h.sim.fleet.removeHsm(c.clusterId, 'hsm-nohsms00000b'); },
      () => { h.sim.fleet.addHsm(c.clusterId, { az: 'us-east-1a' }); h.sim.fleet.addHsm(c.clusterId, { az: 'us-east-1b' }); });
    expect(e.severity).toBe('critical');
    expect(e.subject.state).toBe('CONNECTED');
    expect(e.guidance.commands).toEqual(expect.arrayContaining([describeCluster(c.clusterId), createHsm(c.clusterId, 'us-east-1a'), createHsm(c.clusterId, 'us-east-1b')]));
  });

  it('SINGLE_AZ: ACTIVE HSMs left in one zone, with create-hsm in a cluster zone that has none', async () => {
    const c = { clusterId: 'cluster-singleaz00001', storeId: 'cks-f000000000000003' };
    const e = await cycle('SINGLE_AZ', c,
      () => h.sim.fleet.removeHsm(c.clusterId, 'hsm-singleaz0000c'),
      () => h.sim.fleet.addHsm(c.clusterId, { az: 'us-east-1c' }));
    expect(e.severity).toBe('warning');
    // The remaining HSM is in us-east-1a: the command must point elsewhere (a cluster zone without one).
    expect(e.guidance.commands).toEqual([describeCluster(c.clusterId), createHsm(c.clusterId, 'us-east-1b')]);
  });

  it('HSM_DEGRADED: one HSM DEGRADED, with create-hsm in its zone and delete-hsm for it', async () => {
    const c = { clusterId: 'cluster-degraded00001', storeId: 'cks-f000000000000004' };
    const e = await cycle('HSM_DEGRADED', c,
      () => h.sim.fleet.setHsm(c.clusterId, 'hsm-degraded0000c', { state: 'DEGRADED' }),
      () => h.sim.fleet.setHsm(c.clusterId, 'hsm-degraded0000c', { state: 'ACTIVE' }));
    expect(e.severity).toBe('warning');
    expect(e.guidance.commands).toEqual([
      describeCluster(c.clusterId),
      createHsm(c.clusterId, 'us-east-1c'),
      `aws cloudhsmv2 delete-hsm --cluster-id ${c.clusterId} --hsm-id hsm-degraded0000c --region ${REGION}`,
    ]);
  });

  it('CLUSTER_MISSING: DescribeClusters no longer returns the cluster the store points at (critical)', async () => {
    const c = { clusterId: 'cluster-missing000001', storeId: 'cks-f000000000000005' };
    const e = await cycle('CLUSTER_MISSING', c,
      () => h.sim.fleet.removeCluster(c.clusterId),
      () => h.sim.fleet.addCluster(ACCOUNT, REGION, { id: c.clusterId, hsms: [{ az: 'us-east-1a' }, { az: 'us-east-1b' }] }));
    expect(e.severity).toBe('critical');
    expect(e.guidance.commands).toContain(describeCluster(c.clusterId));
    expect(e.guidance.commands).toContain(`aws cloudhsmv2 describe-backups --filters clusterIds=${c.clusterId} --region ${REGION}`);
  });

  const CERTS = { clusterId: 'cluster-certs00000001', storeId: 'cks-f000000000000006' };

  it('TRUST_ANCHOR_EXPIRING: the store trust anchor expires within alerting.certificateExpiryWarning', async () => {
    const e = await cycle('TRUST_ANCHOR_EXPIRING', { clusterId: CERTS.clusterId, storeId: CERTS.storeId },
      () => h.sim.fleet.setStore(CERTS.storeId, { trustAnchor: { expiresIn: '10d' } }),
      () => h.sim.fleet.setStore(CERTS.storeId, { trustAnchor: { expiresIn: '400d' } }));
    expect(e.severity).toBe('warning');
    expect(Number(e.subject.details['Days left'])).toBeGreaterThanOrEqual(9);
    expect(Number(e.subject.details['Days left'])).toBeLessThanOrEqual(10);
    expect(e.guidance.commands[0]).toContain(`aws kms describe-custom-key-stores --custom-key-store-id ${CERTS.storeId} `);
  });

  it('CLUSTER_CERT_EXPIRING: the cluster certificate expires within alerting.certificateExpiryWarning', async () => {
    const e = await cycle('CLUSTER_CERT_EXPIRING', CERTS,
      () => h.sim.fleet.setClusterCertificate(CERTS.clusterId, 'clusterCertificate', { expiresIn: '10d' }),
      () => h.sim.fleet.setClusterCertificate(CERTS.clusterId, 'clusterCertificate', { expiresIn: '400d' }));
    expect(e.severity).toBe('warning');
    expect(e.guidance.commands[0]).toContain(`aws cloudhsmv2 describe-clusters --filters clusterIds=${CERTS.clusterId} `);
  });

  it('a certificate expiring after the warning window raises nothing', async () => {
    await h.delivered();
    const mark = h.hook.requests.length;
    h.sim.fleet.setStore(CERTS.storeId, { trustAnchor: { expiresIn: '45d' } });
    h.sim.fleet.setClusterCertificate(CERTS.clusterId, 'clusterCertificate', { expiresIn: '45d' });
    await h.poll();
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(h.events().slice(mark)).toEqual([]);
  });

  it('over the whole run: every finding fired and resolved exactly once per incident, nothing else was sent', () => {
    const counts: Record<string, number> = {};
    for (const e of h.events()) counts[`${e.kind}:${e.condition}`] = (counts[`${e.kind}:${e.condition}`] ?? 0) + 1;
    expect(counts).toEqual({
      'firing:CLUSTER_NOT_ACTIVE': 3, 'resolved:CLUSTER_NOT_ACTIVE': 3,
      'firing:NO_ACTIVE_HSMS': 1, 'resolved:NO_ACTIVE_HSMS': 1,
      'firing:SINGLE_AZ': 1, 'resolved:SINGLE_AZ': 1,
      'firing:HSM_DEGRADED': 1, 'resolved:HSM_DEGRADED': 1,
      'firing:CLUSTER_MISSING': 1, 'resolved:CLUSTER_MISSING': 1,
      'firing:TRUST_ANCHOR_EXPIRING': 1, 'resolved:TRUST_ANCHOR_EXPIRING': 1,
      'firing:CLUSTER_CERT_EXPIRING': 1, 'resolved:CLUSTER_CERT_EXPIRING': 1,
    });
  });
});
