// CloudHSM enrichment end to end: the real daemon's /metrics after polling the simulator over HTTP.
// Fixture: test/fixtures/scenarios/cloudhsm-fleet.yaml, account 111111111111, eu-west-1: clusters with
// 0, 1 and 3 HSMs (3 zones), a DEGRADED cluster with 3 HSMs in 2 zones (one HSM DEGRADED), and a store
// whose cluster does not exist. Certificates are real PEMs made by openssl in the test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_STATES, HSM_STATES } from '../../src/model.js';
import { familyLines, labels, metricValue, startHarness, type Harness } from '../helpers/cloudhsm.js';

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
let h: Harness;
let text: string;

beforeAll(async () => {
  h = await startHarness({ accounts: [{ id: ACCOUNT, name: 'management' }], regions: [REGION], extra: { alerting: { certificateExpiryWarning: '30d' } } });
  await h.poll();
  text = await h.metrics();
});
afterAll(async () => {
  await h?.close();
});

const cl = (id: string, extra: Record<string, string> = {}) => labels({ account_id: ACCOUNT, region: REGION, cloudhsm_cluster_id: id, ...extra });
const st = (id: string) => labels({ account_id: ACCOUNT, region: REGION, custom_key_store_id: id });

/** Expected HSM counts per state (absent states are 0). */
function expectCluster(id: string, e: { state: string; hsms: Record<string, number>; azs: number }): void {
  for (const state of CLUSTER_STATES) expect(metricValue(text, `aws_cloudhsm_cluster_state${cl(id, { state })}`), `${id} state ${state}`).toBe(state === e.state ? 1 : 0);
  for (const state of HSM_STATES) expect(metricValue(text, `aws_cloudhsm_cluster_hsms${cl(id, { state })}`), `${id} hsms ${state}`).toBe(e.hsms[state] ?? 0);
  expect(metricValue(text, `aws_cloudhsm_cluster_active_hsm_availability_zones${cl(id)}`), `${id} zones`).toBe(e.azs);
  expect(metricValue(text, `keystore_watch_cluster_missing${cl(id)}`), `${id} missing`).toBe(0);
}

describe('CloudHSM cluster metrics', () => {
  it('0 HSMs: every HSM count 0, no active zone', () => {
    expectCluster('cluster-zerohsms00001', { state: 'ACTIVE', hsms: {}, azs: 0 });
  });

  it('1 HSM: one ACTIVE, one zone', () => {
    expectCluster('cluster-onehsm000001', { state: 'ACTIVE', hsms: { ACTIVE: 1 }, azs: 1 });
  });

  it('3 HSMs across 3 zones: three ACTIVE, three zones', () => {
    expectCluster('cluster-threehsms001', { state: 'ACTIVE', hsms: { ACTIVE: 3 }, azs: 3 });
  });

  it('3 HSMs, two ACTIVE in one zone and one DEGRADED in another: one active zone; cluster DEGRADED', () => {
    expectCluster('cluster-mixedhsms001', { state: 'DEGRADED', hsms: { ACTIVE: 2, DEGRADED: 1 }, azs: 1 });
  });

  it('a store pointing at a cluster DescribeClusters does not return: cluster_missing 1 and no cluster series', () => {
    expect(metricValue(text, `keystore_watch_cluster_missing${cl('cluster-notthere0001')}`)).toBe(1);
    expect(text).not.toContain('aws_cloudhsm_cluster_state{account_id="111111111111",region="eu-west-1",cloudhsm_cluster_id="cluster-notthere0001"');
    expect(familyLines(text, 'keystore_watch_cluster_missing{')).toHaveLength(5);
  });

  it('the enrichment of the target is up, and cluster ids join the store info series', () => {
    expect(metricValue(text, `keystore_watch_cloudhsm_enrichment_up${labels({ account_id: ACCOUNT, region: REGION })}`)).toBe(1);
    expect(text).toContain(`kms_custom_key_store_info{account_id="${ACCOUNT}",account_name="management",region="${REGION}",custom_key_store_id="cks-m000000000000003",custom_key_store_name="three",custom_key_store_type="AWS_CLOUDHSM",cloudhsm_cluster_id="cluster-threehsms001",xks_connectivity=""} 1`);
  });

  it('follows HSMs being added, degraded and removed on the next poll', async () => {
    const id = 'cluster-onehsm000001';
    const added = h.sim.fleet.addHsm(id, { az: 'eu-west-1b' });
    h.sim.fleet.addHsm(id, { az: 'eu-west-1c', state: 'CREATE_IN_PROGRESS' });
    await h.poll();
    text = await h.metrics();
    expectCluster(id, { state: 'ACTIVE', hsms: { ACTIVE: 2, CREATE_IN_PROGRESS: 1 }, azs: 2 });
    h.sim.fleet.setHsm(id, added.id, { state: 'DEGRADED' });
    await h.poll();
    text = await h.metrics();
    expectCluster(id, { state: 'ACTIVE', hsms: { ACTIVE: 1, DEGRADED: 1, CREATE_IN_PROGRESS: 1 }, azs: 1 });
    h.sim.fleet.removeHsm(id, added.id);
    h.sim.fleet.setCluster(id, { state: 'UPDATE_IN_PROGRESS' });
    await h.poll();
    text = await h.metrics();
    expectCluster(id, { state: 'UPDATE_IN_PROGRESS', hsms: { ACTIVE: 1, CREATE_IN_PROGRESS: 1 }, azs: 1 });
  });
});

describe('certificate expiry from real PEM certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-certs-'));
  /** A self-signed P-256 certificate valid for `days` days, made by openssl; returns the PEM and its notAfter (epoch s) as openssl reads it. */
  function opensslCert(name: string, days: number): { pem: string; notAfter: number; madeFrom: number; madeTo: number } {
    const madeFrom = Math.floor(Date.now() / 1000);
    const out = join(dir, `${name}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-days', String(days), '-nodes', '-subj', `/CN=${name}`, '-keyout', join(dir, `${name}.key`), '-out', out], { stdio: 'pipe' });
    const madeTo = Math.ceil(Date.now() / 1000);
    const end = execFileSync('openssl', ['x509', '-noout', '-enddate', '-in', out], { encoding: 'utf8' }).trim(); // notAfter=Feb  3 10:00:00 2026 GMT
    const notAfter = Date.parse(end.replace(/^notAfter=/, '')) / 1000;
    expect(Number.isInteger(notAfter)).toBe(true);
    return { pem: readFileSync(out, 'utf8'), notAfter, madeFrom, madeTo };
  }

  const STORE = 'cks-m000000000000003';
  const CLUSTER = 'cluster-threehsms001';

  it('exports the exact notAfter of the trust anchor and of the cluster certificate', async () => {
    const anchor = opensslCert('trust-anchor', 12);
    const clusterCert = opensslCert('cluster-cert', 400);
    // openssl's -days counts from the moment of signing.
    expect(anchor.notAfter).toBeGreaterThanOrEqual(anchor.madeFrom + 12 * 86_400);
    expect(anchor.notAfter).toBeLessThanOrEqual(anchor.madeTo + 12 * 86_400);
    h.sim.fleet.setStore(STORE, { trustAnchorCertificate: anchor.pem });
    h.sim.fleet.setClusterCertificate(CLUSTER, 'clusterCertificate', clusterCert.pem);
    await h.poll();
    text = await h.metrics();
    expect(metricValue(text, `kms_custom_key_store_trust_anchor_not_after_timestamp_seconds${st(STORE)}`)).toBe(anchor.notAfter);
    expect(metricValue(text, `aws_cloudhsm_cluster_certificate_not_after_timestamp_seconds${cl(CLUSTER)}`)).toBe(clusterCert.notAfter);
    const api = (await (await fetch(`${h.daemon.url}/api/v1/stores`)).json()) as { stores: { customKeyStoreId: string; trustAnchorNotAfter: string }[] };
    expect(api.stores.find((s) => s.customKeyStoreId === STORE)!.trustAnchorNotAfter).toBe(new Date(anchor.notAfter * 1000).toISOString());
  });

  it('the 12-day trust anchor raises TRUST_ANCHOR_EXPIRING (30d window); the 400-day cluster certificate raises nothing', async () => {
    await h.poll();
    await h.delivered();
    const found = h.events().filter((e) => e.subject.storeId === STORE && e.kind === 'firing').map((e) => e.condition);
    expect(found).toEqual(['TRUST_ANCHOR_EXPIRING']);
    const e = h.events().find((x) => x.condition === 'TRUST_ANCHOR_EXPIRING')!;
    expect(['11', '12']).toContain(e.subject.details['Days left']);
  });

  it('a replaced certificate moves the metric; an unparseable one drops the series instead of exporting garbage', async () => {
    const renewed = opensslCert('cluster-cert-renewed', 800);
    h.sim.fleet.setClusterCertificate(CLUSTER, 'clusterCertificate', renewed.pem);
    h.sim.fleet.setStore(STORE, { trustAnchorCertificate: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' });
    await h.poll();
    text = await h.metrics();
    expect(metricValue(text, `aws_cloudhsm_cluster_certificate_not_after_timestamp_seconds${cl(CLUSTER)}`)).toBe(renewed.notAfter);
    expect(metricValue(text, `kms_custom_key_store_trust_anchor_not_after_timestamp_seconds${st(STORE)}`)).toBeUndefined();
  });
});

describe('DescribeClusters batching', () => {
  it('walks 35 referenced clusters in two filtered requests (25 + 10), each cluster once', async () => {
    for (let i = 0; i < 30; i++) {
      const n = String(i).padStart(2, '0');
      h.sim.fleet.addCluster(ACCOUNT, REGION, { id: `cluster-batch00000${n}`, hsms: [{ az: 'eu-west-1a' }, { az: 'eu-west-1b' }] });
      h.sim.fleet.addStore(ACCOUNT, REGION, { id: `cks-batch00000${n}`, name: `batch-${n}`, type: 'AWS_CLOUDHSM', clusterId: `cluster-batch00000${n}`, state: 'CONNECTED' });
    }
    // A cluster nobody references is not fetched.
    h.sim.fleet.addCluster(ACCOUNT, REGION, { id: 'cluster-unreferenced01', hsms: [] });
    const key = `${ACCOUNT}/${REGION}/DescribeClusters`;
    const before = h.sim.fleet.counters().byTarget[key]!.ok;
    await h.poll();
    expect(h.sim.fleet.counters().byTarget[key]!.ok - before).toBe(2);
    const ids = h.daemon.latest!.clusters.map((c) => c.id);
    expect(ids).toHaveLength(34); // 30 new + 4 of the fixture; cluster-notthere0001 does not exist
    expect(new Set(ids).size).toBe(34);
    expect(ids).not.toContain('cluster-unreferenced01');
    text = await h.metrics();
    expect(familyLines(text, 'keystore_watch_cluster_missing{').filter((l) => l.endsWith(' 1'))).toEqual([`keystore_watch_cluster_missing${cl('cluster-notthere0001')} 1`]);
  });
});
