// A CloudHSM API outage end to end: DescribeClusters answers 500 (CloudHsmInternalFailureException)
// while KMS keeps working. Store metrics and store alerts must not move, the enrichment is reported
// down, and cluster findings freeze: a cluster alert neither resolves nor fires on data nobody saw.
// Fixture: test/fixtures/scenarios/cloudhsm-fleet.yaml, account 333333333333, us-east-1: a CloudHSM
// store whose cluster has both HSMs in us-east-1a (SINGLE_AZ), a CONNECTED and a DISCONNECTED external store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { familyLines, labels, metricValue, startHarness, type Harness } from '../helpers/cloudhsm.js';

const ACCOUNT = '333333333333';
const REGION = 'us-east-1';
const CLUSTER = 'cluster-outage000001';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ accounts: [{ id: ACCOUNT, name: 'sandbox', roleArn: `arn:aws:iam::${ACCOUNT}:role/KeystoreWatch` }], regions: [REGION], extra: { alerting: { targetDownAfter: 1 } } });
});
afterAll(async () => {
  await h?.close();
});

const tags = () => h.events().map((e) => `${e.kind}:${e.condition}:${e.subject.storeId}`);
const enrichmentUp = (text: string) => metricValue(text, `keystore_watch_cloudhsm_enrichment_up${labels({ account_id: ACCOUNT, region: REGION })}`);
const storeSeries = (text: string) => familyLines(text, 'kms_custom_key_store_');
const clusterSeries = (text: string) => familyLines(text, 'aws_cloudhsm_cluster_');

describe('CloudHSM API outage', () => {
  let storesBefore: string[];
  let clustersBefore: string[];

  it('before: SINGLE_AZ (cluster) and DISCONNECTED (store) are firing', async () => {
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags().sort()).toEqual(['firing:DISCONNECTED:cks-o000000000000003', 'firing:SINGLE_AZ:cks-o000000000000001']);
    const text = await h.metrics();
    expect(enrichmentUp(text)).toBe(1);
    storesBefore = storeSeries(text);
    clustersBefore = clusterSeries(text);
    expect(storesBefore.length).toBeGreaterThan(10);
    expect(metricValue(text, `aws_cloudhsm_cluster_hsms${labels({ account_id: ACCOUNT, region: REGION, cloudhsm_cluster_id: CLUSTER, state: 'ACTIVE' })}`)).toBe(2);
  });

  it('during: nothing fires or resolves, store series are unchanged, enrichment_up is 0, cluster data is the last known', async () => {
    h.sim.fleet.setFaults({ errors: [{ service: 'cloudhsm', error: 'CloudHsmInternalFailureException', status: 500 }] });
    // Meanwhile the cluster changes: the SINGLE_AZ cause is fixed and an HSM degrades. Nobody can see it.
    h.sim.fleet.addHsm(CLUSTER, { az: 'us-east-1b' });
    h.sim.fleet.setHsm(CLUSTER, 'hsm-outage00000a', { state: 'DEGRADED' });
    const before = h.hook.requests.length;
    for (let i = 0; i < 4; i++) await h.poll();
    await h.delivered();
    expect(h.hook.requests.length).toBe(before);

    const text = await h.metrics();
    expect(enrichmentUp(text)).toBe(0);
    expect(metricValue(text, `keystore_watch_target_up${labels({ account_id: ACCOUNT, region: REGION })}`)).toBe(1);
    expect(storeSeries(text)).toEqual(storesBefore);
    expect(clusterSeries(text)).toEqual(clustersBefore);
    const snap = h.daemon.latest!;
    expect(snap.targets[0]).toMatchObject({ ok: true, cloudHsm: { ok: false, error: { code: 'CloudHsmInternalFailureException' } } });
    expect(snap.clusters.map((c) => [c.id, c.stale])).toEqual([[CLUSTER, true]]);
    expect(snap.stores.every((s) => !s.stale)).toBe(true);
    // DescribeClusters was really tried (and retried) and failed each poll; KMS answered every time.
    const counters = h.sim.fleet.counters().byTarget;
    expect(counters[`${ACCOUNT}/${REGION}/DescribeClusters`]!.failed).toBeGreaterThanOrEqual(4);
    const alerts = (await (await fetch(`${h.daemon.url}/api/v1/alerts`)).json()) as { alerts: { condition: string }[] };
    expect(alerts.alerts.map((a) => a.condition).sort()).toEqual(['DISCONNECTED', 'SINGLE_AZ']);
  });

  it('a store change during the outage still alerts as usual', async () => {
    h.sim.fleet.setStore('cks-o000000000000003', { state: 'CONNECTED' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags().slice(2)).toEqual(['resolved:DISCONNECTED:cks-o000000000000003']);
    expect(enrichmentUp(await h.metrics())).toBe(0);
  });

  it('after: the enrichment comes back; SINGLE_AZ resolves once and HSM_DEGRADED fires once', async () => {
    h.sim.fleet.setFaults({ errors: [] });
    await h.poll();
    await h.delivered();
    expect(tags().slice(3)).toEqual([]);
    const text = await h.metrics();
    expect(enrichmentUp(text)).toBe(1);
    expect(metricValue(text, `aws_cloudhsm_cluster_hsms${labels({ account_id: ACCOUNT, region: REGION, cloudhsm_cluster_id: CLUSTER, state: 'ACTIVE' })}`)).toBe(2);
    expect(metricValue(text, `aws_cloudhsm_cluster_hsms${labels({ account_id: ACCOUNT, region: REGION, cloudhsm_cluster_id: CLUSTER, state: 'DEGRADED' })}`)).toBe(1);
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags().slice(3).sort()).toEqual(['firing:HSM_DEGRADED:cks-o000000000000001', 'resolved:SINGLE_AZ:cks-o000000000000001']);
    expect(h.events().filter((e) => e.condition === 'TARGET_DOWN')).toEqual([]);
  });
});
