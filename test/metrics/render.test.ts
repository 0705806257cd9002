import { describe, expect, it } from 'vitest';
import { renderSnapshotMetrics, renderSnapshotMetricsChunks } from '../../src/metrics/render.js';
import { cluster, snapshot, store, target } from '../helpers/snapshots.js';
import { mustRun, promtoolCheckMetrics } from '../helpers/tools.js';

/** Parses exposition text into a map "name{labels}" -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('renderSnapshotMetrics', () => {
  const snap = snapshot({
    stores: [
      store({ id: 'cks-a', state: 'CONNECTED' }),
      store({ id: 'cks-b', state: 'FAILED', errorCode: 'INVALID_CREDENTIALS', stateSince: 1_700_000_500_000 }),
      store({ id: 'cks-x', type: 'EXTERNAL_KEY_STORE', clusterId: null, state: 'DISCONNECTED', xks: { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: 'https://x', uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: 'AK' }, trustAnchorNotAfter: 1_800_000_000_000 }),
    ],
    clusters: [cluster({ hsms: [
      { id: 'hsm-1', availabilityZone: 'us-east-1a', subnetId: null, eniIp: null, state: 'ACTIVE' },
      { id: 'hsm-2', availabilityZone: 'us-east-1b', subnetId: null, eniIp: null, state: 'ACTIVE' },
      { id: 'hsm-3', availabilityZone: 'us-east-1b', subnetId: null, eniIp: null, state: 'DEGRADED' },
    ] })],
    targets: [target({ cloudHsm: { ok: true, error: null } }), target({ region: 'eu-west-1', ok: false, error: { code: 'ThrottlingException', message: 'slow down' }, consecutiveFailures: 2, lastSuccessAt: null })],
  });
  const text = renderSnapshotMetrics(snap);
  const m = samples(text);
  const id = (s: string) => `account_id="111111111111",region="us-east-1",custom_key_store_id="${s}"`;

  it('renders a state-set with exactly one 1 per store', () => {
    for (const [s, current] of [['cks-a', 'CONNECTED'], ['cks-b', 'FAILED'], ['cks-x', 'DISCONNECTED']] as const) {
      for (const state of ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING']) {
        expect(m.get(`kms_custom_key_store_connection_state{${id(s)},state="${state}"}`)).toBe(state === current ? 1 : 0);
      }
    }
  });

  it('renders the error code only while FAILED', () => {
    expect(m.get(`kms_custom_key_store_connection_error{${id('cks-b')},code="INVALID_CREDENTIALS"}`)).toBe(1);
    expect([...m.keys()].filter((k) => k.startsWith('kms_custom_key_store_connection_error')).length).toBe(1);
  });

  it('renders info, timestamps in seconds, and the trust anchor expiry', () => {
    expect(m.get(`kms_custom_key_store_info{account_id="111111111111",account_name="prod",region="us-east-1",custom_key_store_id="cks-x",custom_key_store_name="hsm-store",custom_key_store_type="EXTERNAL_KEY_STORE",cloudhsm_cluster_id="",xks_connectivity="PUBLIC_ENDPOINT"}`)).toBe(1);
    expect(m.get(`kms_custom_key_store_state_since_timestamp_seconds{${id('cks-b')}}`)).toBe(1_700_000_500);
    expect(m.get(`kms_custom_key_store_creation_timestamp_seconds{${id('cks-a')}}`)).toBe(1_700_000_000);
    expect(m.get(`kms_custom_key_store_trust_anchor_not_after_timestamp_seconds{${id('cks-x')}}`)).toBe(1_800_000_000);
  });

  it('renders HSM counts per state and active AZs', () => {
    const c = 'account_id="111111111111",region="us-east-1",cloudhsm_cluster_id="cluster-abcdefghijk"';
    expect(m.get(`aws_cloudhsm_cluster_hsms{${c},state="ACTIVE"}`)).toBe(2);
    expect(m.get(`aws_cloudhsm_cluster_hsms{${c},state="DEGRADED"}`)).toBe(1);
    expect(m.get(`aws_cloudhsm_cluster_hsms{${c},state="DELETED"}`)).toBe(0);
    expect(m.get(`aws_cloudhsm_cluster_active_hsm_availability_zones{${c}}`)).toBe(2);
    expect(m.get(`aws_cloudhsm_cluster_state{${c},state="ACTIVE"}`)).toBe(1);
    expect(m.get(`keystore_watch_cluster_missing{${c}}`)).toBe(0);
  });

  it('renders target health', () => {
    expect(m.get('keystore_watch_target_up{account_id="111111111111",region="us-east-1"}')).toBe(1);
    expect(m.get('keystore_watch_target_up{account_id="111111111111",region="eu-west-1"}')).toBe(0);
    expect(m.get('keystore_watch_target_consecutive_failures{account_id="111111111111",region="eu-west-1"}')).toBe(2);
    expect(m.has('keystore_watch_target_last_success_timestamp_seconds{account_id="111111111111",region="eu-west-1"}')).toBe(false);
  });

  it('leaves no series for a store that is gone', () => {
    const after = renderSnapshotMetrics({ ...snap, stores: snap.stores.filter((s) => s.id !== 'cks-b') });
    expect(after).not.toContain('cks-b');
  });

  it('escapes hostile label values', () => {
    const hostile = renderSnapshotMetrics(snapshot({ stores: [store({ name: 'a"b\\c\nd <!channel> ' + 'x'.repeat(10_000) })] }));
    expect(hostile).toContain('custom_key_store_name="a\\"b\\\\c\\nd <!channel> ');
    expect(hostile.split('\n').every((l) => l.length < 2000)).toBe(true);
  });

  it.runIf(mustRun('promtool'))('passes promtool check metrics, hostile names included', () => {
    const hostile = renderSnapshotMetrics(snapshot({ stores: [store({ name: 'a"b\\c\nd ☃ <@U1>' })] }));
    for (const t of [text, hostile]) {
      const r = promtoolCheckMetrics(t);
      expect(r.output).toBe('');
      expect(r.status).toBe(0);
    }
  });
});

describe('renderSnapshotMetricsChunks', () => {
  it('splits a large exposition into chunks of whole lines, with HELP and TYPE once per family', () => {
    // 3,000 stores with multi-byte names: several 64 KB chunks per family.
    const big = snapshot({ stores: Array.from({ length: 3000 }, (_, i) => store({ id: `cks-${String(i).padStart(17, '0')}`, name: `☃ store ${i}` })) });
    const chunks = renderSnapshotMetricsChunks(big);
    expect(chunks.length).toBeGreaterThan(20);
    for (const c of chunks) expect(c[c.length - 1]).toBe(0x0a); // every chunk ends a line
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text).toBe(renderSnapshotMetrics(big));
    const lines = text.split('\n').filter(Boolean);
    const types = lines.filter((l) => l.startsWith('# TYPE kms_custom_key_store_connection_state '));
    expect(types).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('kms_custom_key_store_info{'))).toHaveLength(3000);
    expect(text).toContain('custom_key_store_name="☃ store 2999"');
    // Families stay contiguous: once a family's series end, no later line belongs to it.
    const order = lines.filter((l) => !l.startsWith('#')).map((l) => l.slice(0, l.indexOf('{')));
    const seen = new Set<string>();
    for (let i = 0; i < order.length; i++) {
      if (i > 0 && order[i] !== order[i - 1]) {
        expect(seen.has(order[i]!), order[i]).toBe(false);
        seen.add(order[i - 1]!);
      }
    }
  });
});
