// The CloudWatch families of /metrics: absent without a datapoint (never zero), seconds for day metrics,
// the key manager state-set with zeros once the metric exists, keystore_watch_cloudwatch_up per target.
import { describe, expect, it } from 'vitest';
import { renderSnapshotMetrics } from '../../src/metrics/render.js';
import type { Snapshot, StoreHealthRecord } from '../../src/model.js';

const health = (over: Partial<StoreHealthRecord>): StoreHealthRecord => ({
  accountId: '111111111111', region: 'us-east-1', storeId: 'cks-1', certificateDaysToExpire: null, credentialAgeDays: null, keyManagers: null,
  errors: null, requests: null, latencyMs: null, throttled: null, stale: false, ...over,
});
const snap = (h: StoreHealthRecord[], cwOk: boolean | null): Snapshot => ({
  pollId: 1, startedAt: 0, finishedAt: 1, stores: [], clusters: [], probes: [], storeHealth: h, clusterHealth: [{ accountId: '111111111111', region: 'us-east-1', clusterId: 'cluster-1', hsmUnhealthy: 2, stale: false }],
  targets: [{ accountId: '111111111111', accountName: 'a', region: 'us-east-1', status: 'ok', ok: true, error: null, durationMs: 1, lastSuccessAt: 1, consecutiveFailures: 0, cloudHsm: null, ...(cwOk === null ? {} : { cloudWatch: { ok: cwOk, denied: false, error: null } }) }],
});
const ID = 'account_id="111111111111",region="us-east-1",custom_key_store_id="cks-1"';

describe('CloudWatch metrics', () => {
  it('renders what CloudWatch said, in base units', () => {
    const text = renderSnapshotMetrics(snap([health({ certificateDaysToExpire: 5, credentialAgeDays: 120, keyManagers: { Active: 2, Degraded: 1 }, errors: { retryable: 3, nonRetryable: 1 }, requests: 40, latencyMs: 230, throttled: 7 })], true));
    expect(text).toContain(`kms_custom_key_store_xks_proxy_certificate_expiry_seconds{${ID}} 432000\n`);
    expect(text).toContain(`kms_custom_key_store_xks_proxy_credential_age_seconds{${ID}} 10368000\n`);
    expect(text).toContain(`kms_custom_key_store_xks_external_key_manager_state{${ID},state="Degraded"} 1\n`);
    expect(text).toContain(`kms_custom_key_store_xks_external_key_manager_state{${ID},state="Unavailable"} 0\n`);
    expect(text).toContain(`kms_custom_key_store_xks_proxy_errors{${ID},type="non_retryable"} 1\n`);
    expect(text).toContain(`kms_custom_key_store_xks_proxy_latency_seconds{${ID}} 0.23\n`);
    expect(text).toContain(`kms_custom_key_store_throttled_requests{${ID}} 7\n`);
    expect(text).toContain('aws_cloudhsm_cluster_hsm_unhealthy{account_id="111111111111",region="us-east-1",cloudhsm_cluster_id="cluster-1"} 2\n');
    expect(text).toContain('keystore_watch_cloudwatch_up{account_id="111111111111",region="us-east-1"} 1\n');
  });

  it('a metric without a datapoint has no series at all (absent, not zero)', () => {
    const text = renderSnapshotMetrics(snap([health({ credentialAgeDays: 3 })], false));
    for (const family of ['xks_proxy_certificate_expiry_seconds', 'xks_external_key_manager_state', 'xks_proxy_errors', 'xks_proxy_latency_seconds', 'xks_proxy_requests', 'throttled_requests']) {
      expect(text).not.toContain(`kms_custom_key_store_${family}{`);
    }
    expect(text).toContain('keystore_watch_cloudwatch_up{account_id="111111111111",region="us-east-1"} 0\n');
    expect(renderSnapshotMetrics(snap([], null))).not.toContain('keystore_watch_cloudwatch_up{');
  });
});
