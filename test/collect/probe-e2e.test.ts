// The opt-in GenerateRandom probe end to end: the real daemon and SDK clients against the simulator.
// Fixture: test/fixtures/scenarios/cloudhsm-fleet.yaml, account 222222222222 (reached through AssumeRole):
//   us-east-1: three CONNECTED CloudHSM stores, one DISCONNECTED CloudHSM store, two CONNECTED external stores
//   eu-west-1: one CONNECTED CloudHSM store (made to fail GenerateRandom) and one CONNECTED external store
// Spacing is asserted on the simulator's own request timestamps, never on how long the test took.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { simulator } from '../helpers/sim.js';
import { labels, metricValue, startHarness, type Harness } from '../helpers/cloudhsm.js';

const ACCOUNT = '222222222222';
const ACCOUNTS = [{ id: ACCOUNT, name: 'payments', roleArn: `arn:aws:iam::${ACCOUNT}:role/KeystoreWatch` }];
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await simulator('cloudhsm-fleet.yaml');
});
afterAll(async () => {
  await sim?.close();
});

const generateRandom = (region: string) => sim.fleet.requestLog({ operation: 'GenerateRandom', account: ACCOUNT, region });
/** Gaps between consecutive requests, ms of simulated time (which runs at real speed in these tests). */
const gaps = (log: { at: number }[]) => log.slice(1).map((e, i) => e.at - log[i]!.at);
const probeOk = (region: string, id: string) => `kms_custom_key_store_probe_success${labels({ account_id: ACCOUNT, region, custom_key_store_id: id })}`;

describe('probe: which stores, and the rate budget (us-east-1, ratePerSecond 2)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ sim, accounts: ACCOUNTS, regions: ['us-east-1'], extra: { probe: { enabled: true, ratePerSecond: 2, interval: '1m', failuresBeforeAlert: 2 } } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('probes every CONNECTED CloudHSM store once per interval, and nothing else', async () => {
    await h.poll();
    const counters = sim.fleet.counters().byTarget[`${ACCOUNT}/us-east-1/GenerateRandom`];
    // Three CONNECTED CloudHSM stores. A probe of the DISCONNECTED store or of an external store would
    // have been answered with an error (CustomKeyStoreInvalidStateException / UnsupportedOperationException).
    expect(counters).toEqual({ ok: 3, throttled: 0, failed: 0 });
    const text = await h.metrics();
    for (const id of ['cks-p000000000000001', 'cks-p000000000000002', 'cks-p000000000000003']) {
      expect(metricValue(text, probeOk('us-east-1', id)), id).toBe(1);
      expect(metricValue(text, `kms_custom_key_store_probe_duration_seconds${labels({ account_id: ACCOUNT, region: 'us-east-1', custom_key_store_id: id })}`)).toBeGreaterThan(0);
    }
    for (const id of ['cks-p000000000000004', 'cks-p000000000000005', 'cks-p000000000000006']) {
      expect(metricValue(text, probeOk('us-east-1', id)), id).toBeUndefined();
    }
  });

  it('spaces GenerateRandom calls at least 1/ratePerSecond apart, within a poll and across back-to-back polls', async () => {
    await h.poll();
    await h.poll();
    const log = generateRandom('us-east-1');
    expect(log).toHaveLength(9);
    expect(log.every((e) => e.outcome === 'ok')).toBe(true);
    // 500 ms at 2/s; the simulator stamps whole milliseconds, hence 499.
    for (const g of gaps(log)) expect(g).toBeGreaterThanOrEqual(499);
  });

  it('does not probe a store again before probe.interval has passed', async () => {
    const before = generateRandom('us-east-1').length;
    h.clock.now += 20_000;
    expect(await h.daemon.pollNow()).toBe(true); // 20 s after the last probes: none due
    expect(generateRandom('us-east-1')).toHaveLength(before);
    // Their last results are kept meanwhile.
    expect(metricValue(await h.metrics(), probeOk('us-east-1', 'cks-p000000000000001'))).toBe(1);
  });
});

describe('probe: a CONNECTED store whose GenerateRandom fails (eu-west-1, failuresBeforeAlert 2)', () => {
  let h: Harness;
  const STORE = 'cks-q000000000000001';
  beforeAll(async () => {
    h = await startHarness({ sim, accounts: ACCOUNTS, regions: ['eu-west-1'], extra: { probe: { enabled: true, ratePerSecond: 4, interval: '1m', failuresBeforeAlert: 2 } } });
  });
  afterAll(async () => {
    await h?.close();
  });

  const probeEvents = () => h.events().filter((e) => e.condition === 'PROBE_FAILING').map((e) => `${e.kind}:${e.subject.storeId}`);

  it('exports success 0 at once, alerts only after failuresBeforeAlert failures, while the store stays CONNECTED', async () => {
    await h.poll();
    expect(metricValue(await h.metrics(), probeOk('eu-west-1', STORE))).toBe(1);
    sim.fleet.setStore(STORE, { probeFailure: 'KMSInternalException' });
    await h.poll();
    await h.delivered();
    let text = await h.metrics();
    expect(metricValue(text, probeOk('eu-west-1', STORE))).toBe(0);
    expect(metricValue(text, `kms_custom_key_store_connection_state${labels({ account_id: ACCOUNT, region: 'eu-west-1', custom_key_store_id: STORE, state: 'CONNECTED' })}`)).toBe(1);
    expect(probeEvents()).toEqual([]);
    await h.poll();
    await h.delivered();
    expect(probeEvents()).toEqual([`firing:${STORE}`]);
    const e = h.events().find((x) => x.condition === 'PROBE_FAILING')!;
    expect(e.severity).toBe('critical');
    expect(e.subject.details).toMatchObject({ 'Failed probes': '2', Error: 'KMSInternalException' });
    expect(e.guidance.commands).toContain(`aws kms generate-random --number-of-bytes 1 --custom-key-store-id ${STORE} --region eu-west-1`);
    expect(e.guidance.commands).toContain('aws cloudhsmv2 describe-clusters --filters clusterIds=cluster-probefail0001 --region eu-west-1');
    await h.poll();
    await h.delivered();
    expect(probeEvents()).toEqual([`firing:${STORE}`]);
    text = await h.metrics();
    expect(metricValue(text, probeOk('eu-west-1', STORE))).toBe(0);
  });

  it('a failing probe is one call (no SDK retries eating the budget), and the external store is never probed', () => {
    const log = generateRandom('eu-west-1');
    // Four polls, one probe each (the external store q2 is skipped); three of them failed, once each.
    expect(log.map((e) => e.outcome)).toEqual(['ok', 'failed', 'failed', 'failed']);
    for (const g of gaps(log)) expect(g).toBeGreaterThanOrEqual(249);
  });

  it('a KMS outage of the target keeps the last probe result with the stale store instead of dropping the series', async () => {
    sim.fleet.setFaults({ errors: [{ service: 'kms', operation: 'DescribeCustomKeyStores', account: ACCOUNT, region: 'eu-west-1', error: 'KMSInternalException', status: 500 }] });
    try {
      await h.poll();
      await h.delivered();
      const text = await h.metrics();
      expect(metricValue(text, `keystore_watch_target_up${labels({ account_id: ACCOUNT, region: 'eu-west-1' })}`)).toBe(0);
      expect(metricValue(text, `kms_custom_key_store_stale${labels({ account_id: ACCOUNT, region: 'eu-west-1', custom_key_store_id: STORE })}`)).toBe(1);
      expect(metricValue(text, probeOk('eu-west-1', STORE))).toBe(0);
      expect(probeEvents()).toEqual([`firing:${STORE}`]);
    } finally {
      sim.fleet.setFaults({ errors: [] });
    }
  });

  it('resolves exactly once after the probe succeeds for `confirmations` polls', async () => {
    sim.fleet.setStore(STORE, { probeFailure: null });
    await h.poll();
    await h.delivered();
    expect(metricValue(await h.metrics(), probeOk('eu-west-1', STORE))).toBe(1);
    expect(probeEvents()).toEqual([`firing:${STORE}`]);
    await h.poll();
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(probeEvents()).toEqual([`firing:${STORE}`, `resolved:${STORE}`]);
    expect(h.events().map((e) => e.condition)).toEqual(['PROBE_FAILING', 'PROBE_FAILING']);
  });
});
