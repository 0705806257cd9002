// Issue 13 item 5 end to end: the daemon's GenerateRandom probe against the simulator (real SDK clients
// over HTTP) with a real local webhook receiver. Only answers that show the key store failing count toward
// PROBE_FAILING: AccessDenied raises one PROBE_NOT_PERMITTED warning per account-region, ThrottlingException
// is counted (keystore_watch_probe_throttled_total) and retried at the next interval, and a store whose
// cluster lost its HSMs does page.
// Fixture: test/fixtures/scenarios/states-fleet.yaml, account 222222222222, us-east-1 (two CloudHSM stores).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labels, metricValue, startHarness, type Harness } from '../helpers/cloudhsm.js';

const ACCOUNT = '222222222222';
const REGION = 'us-east-1';
const STORE_1 = 'cks-r000000000000001';
const STORE_2 = 'cks-r000000000000002';
const CLUSTER_2 = 'cluster-probes000002';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    fixture: 'states-fleet.yaml',
    accounts: [{ id: ACCOUNT, name: 'payments', roleArn: `arn:aws:iam::${ACCOUNT}:role/KeystoreWatch` }],
    regions: [REGION],
    extra: { probe: { enabled: true, interval: '1m', ratePerSecond: 4, failuresBeforeAlert: 3 } },
  });
  await h.poll();
  await h.poll();
  await h.delivered();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const tags = (from = 0) => h.events().slice(from).map((e) => `${e.kind}:${e.condition}:${e.subject.storeId ?? `${e.subject.accountId}/${e.subject.region}`}`);
const probeFaults = (error: string, status?: number) => h.sim.fleet.setFaults({ errors: [{ service: 'kms', operation: 'GenerateRandom', account: ACCOUNT, region: REGION, error, ...(status ? { status } : {}) }] });

describe('probe answers end to end', () => {
  it('healthy: both stores probed, nothing sent', async () => {
    expect(h.events()).toEqual([]);
    const text = await h.metrics();
    expect(metricValue(text, `kms_custom_key_store_probe_success${labels({ account_id: ACCOUNT, region: REGION, custom_key_store_id: STORE_1 })}`)).toBe(1);
  });

  it('AccessDenied (a role without kms:GenerateRandom) never raises PROBE_FAILING; it raises one "probe not permitted" warning naming the action', async () => {
    const from = h.events().length;
    h.sim.fleet.setAccount(ACCOUNT, { missingPermissions: ['kms:GenerateRandom'] });
    for (let i = 0; i < 8; i++) await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:PROBE_NOT_PERMITTED:${ACCOUNT}/${REGION}`]);
    const e = h.events()[from]!;
    expect(e.severity).toBe('warning');
    expect(e.subject.details['IAM action']).toBe('kms:GenerateRandom');
    expect(e.subject.details.Error).toBe('AccessDeniedException');
    expect(e.subject.details.Message).toContain('no identity-based policy allows the kms:GenerateRandom action');
    expect(e.subject.details['Denied probes']).toBe(`${STORE_1}, ${STORE_2}`);
    expect(e.guidance.title).toBe('GenerateRandom probe not permitted');
    const text = await h.metrics();
    expect(metricValue(text, `keystore_watch_probe_denied${labels({ account_id: ACCOUNT, region: REGION })}`)).toBe(2);
    // No verdict about the stores: no success series for the Prometheus rule to page on.
    expect(metricValue(text, `kms_custom_key_store_probe_success${labels({ account_id: ACCOUNT, region: REGION, custom_key_store_id: STORE_1 })}`)).toBeUndefined();
    h.sim.fleet.setAccount(ACCOUNT, { missingPermissions: [] });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:PROBE_NOT_PERMITTED:${ACCOUNT}/${REGION}`, `resolved:PROBE_NOT_PERMITTED:${ACCOUNT}/${REGION}`]);
  }, 60_000);

  it('an SCP denying kms:GenerateRandom is the same single warning, with the explicit-deny message', async () => {
    const from = h.events().length;
    h.sim.fleet.setScpDeny([{ account: ACCOUNT, region: REGION, action: 'kms:GenerateRandom' }]);
    for (let i = 0; i < 5; i++) await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:PROBE_NOT_PERMITTED:${ACCOUNT}/${REGION}`]);
    expect(h.events()[from]!.subject.details.Message).toContain('explicit deny in a service control policy');
    h.sim.fleet.setScpDeny([]);
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:PROBE_NOT_PERMITTED:${ACCOUNT}/${REGION}`, `resolved:PROBE_NOT_PERMITTED:${ACCOUNT}/${REGION}`]);
  }, 60_000);

  it('ThrottlingException is counted and retried at the next interval, never a failure', async () => {
    const from = h.events().length;
    const throttledBefore = metricValue(await h.metrics(), `keystore_watch_probe_throttled_total${labels({ account_id: ACCOUNT, region: REGION })}`) ?? 0;
    probeFaults('ThrottlingException');
    for (let i = 0; i < 8; i++) await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([]);
    const text = await h.metrics();
    // Two stores, one attempt each per interval (the probe client makes a single attempt), eight intervals.
    expect(metricValue(text, `keystore_watch_probe_throttled_total${labels({ account_id: ACCOUNT, region: REGION })}`)! - throttledBefore).toBe(16);
    // The last verdict (success) stands.
    expect(metricValue(text, `kms_custom_key_store_probe_success${labels({ account_id: ACCOUNT, region: REGION, custom_key_store_id: STORE_1 })}`)).toBe(1);
    h.sim.fleet.setFaults({ errors: [] });
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([]);
  }, 60_000);

  it('an answer that shows the store failing (KMSInvalidStateException, scripted on the store) raises PROBE_FAILING for that store only', async () => {
    const from = h.events().length;
    h.sim.fleet.setStore(STORE_1, { probeFailure: 'KMSInvalidStateException' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([]);
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:PROBE_FAILING:${STORE_1}`]);
    expect(h.events()[from]!.severity).toBe('critical');
    h.sim.fleet.setStore(STORE_1, { probeFailure: null });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:PROBE_FAILING:${STORE_1}`, `resolved:PROBE_FAILING:${STORE_1}`]);
  }, 60_000);

  // The simulator answers GenerateRandom for a CONNECTED store whose cluster has no ACTIVE HSM as
  // KMSInternalException (docs/simulator.md explains the choice); nothing is scripted here.
  it('a store whose cluster lost its HSMs raises PROBE_FAILING (and the other store does not)', async () => {
    const from = h.events().length;
    for (const hsm of ['hsm-probes00002a', 'hsm-probes00002b']) h.sim.fleet.removeHsm(CLUSTER_2, hsm);
    for (let i = 0; i < 4; i++) await h.poll();
    await h.delivered();
    expect(tags(from)).toContain(`firing:PROBE_FAILING:${STORE_2}`);
    expect(tags(from)).not.toContain(`firing:PROBE_FAILING:${STORE_1}`);
    const e = h.events().slice(from).find((x) => x.condition === 'PROBE_FAILING')!;
    expect(e.severity).toBe('critical');
    expect(['CustomKeyStoreInvalidStateException', 'KMSInvalidStateException', 'KMSInternalException']).toContain(e.subject.details.Error);
  }, 60_000);
});
