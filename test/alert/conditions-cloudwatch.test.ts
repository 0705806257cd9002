// The CloudWatch findings as a pure function of snapshots: thresholds, severities, and freezing on stale data.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLOUDWATCH_THRESHOLDS as T, observeCloudWatch, proxyVerdict, type CloudWatchObservation } from '../../src/alert/conditions/cloudwatch.js';
import type { AlertSubject, Snapshot, StoreHealthRecord, StoreRecord } from '../../src/model.js';

const store = (over: Partial<StoreRecord> = {}): StoreRecord => ({
  accountId: '111111111111', accountName: 'a', region: 'us-east-1', id: 'cks-1', name: 'x', type: 'EXTERNAL_KEY_STORE', state: 'CONNECTED', errorCode: null,
  clusterId: null, xks: null, trustAnchorSha256: null, trustAnchorNotAfter: null, createdAt: null, stateSince: 0, stale: false, ...over,
});
const health = (over: Partial<StoreHealthRecord> = {}): StoreHealthRecord => ({
  accountId: '111111111111', region: 'us-east-1', storeId: 'cks-1', certificateDaysToExpire: null, credentialAgeDays: null, keyManagers: null,
  errors: null, requests: null, latencyMs: null, throttled: null, stale: false, ...over,
});
const snap = (s: StoreRecord, h: StoreHealthRecord | null, cwOk = true): Snapshot => ({
  pollId: 1, startedAt: 0, finishedAt: 1000, stores: [s], clusters: [], probes: [], storeHealth: h ? [h] : [],
  targets: [{ accountId: s.accountId, accountName: 'a', region: s.region, status: 'ok', ok: true, error: null, durationMs: 1, lastSuccessAt: 1000, consecutiveFailures: 0, cloudHsm: null, cloudWatch: { ok: cwOk, denied: false, error: null } }],
});
function observe(s: Snapshot): Record<string, CloudWatchObservation> {
  const out: Record<string, CloudWatchObservation> = {};
  observeCloudWatch({
    snapshot: s, thresholds: T, certificateWarning: 30 * 86_400_000,
    storeSubject: (x, details = {}) => ({ accountId: x.accountId, accountName: x.accountName, region: x.region, storeId: x.id, storeName: x.name, storeType: x.type, state: x.state, errorCode: null, clusterId: x.clusterId, details }) as AlertSubject,
    storeSubjectKey: (x) => `store:${x.id}`, clusterSubjectKey: (a, r, c) => `cluster:${c}`,
  }, (c, k, o) => { out[c] = o; });
  return out;
}

describe('proxyVerdict', () => {
  it.each([
    [{ errors: { retryable: 30, nonRetryable: 10 }, requests: 100, latencyMs: 40 }, 'critical'],
    [{ errors: { retryable: 6, nonRetryable: 0 }, requests: 100, latencyMs: 40 }, 'warning'],
    [{ errors: { retryable: 3, nonRetryable: 0 }, requests: 10, latencyMs: 40 }, null], // 30% but fewer than minErrors
    [{ errors: null, requests: 100, latencyMs: 245 }, 'critical'],
    [{ errors: null, requests: 100, latencyMs: 210 }, 'warning'],
    [{ errors: null, requests: 100, latencyMs: 199 }, null],
    [{ errors: { retryable: 50, nonRetryable: 0 }, requests: null, latencyMs: null }, 'critical'], // errors are requests too
  ])('%j -> %s', (h, severity) => {
    expect(proxyVerdict(h, T)?.severity ?? null).toBe(severity);
  });
});

describe('observeCloudWatch', () => {
  it('certificate: warning under 30 days, critical under 7, nothing above or without a datapoint', () => {
    expect(observe(snap(store(), health({ certificateDaysToExpire: 20 }))).XKS_CERT_EXPIRING).toMatchObject({ kind: 'hit', severity: 'warning' });
    expect(observe(snap(store(), health({ certificateDaysToExpire: 5 }))).XKS_CERT_EXPIRING).toMatchObject({ kind: 'hit', severity: 'critical' });
    expect(observe(snap(store(), health({ certificateDaysToExpire: 60 }))).XKS_CERT_EXPIRING!.kind).toBe('miss');
    expect(observe(snap(store(), health())).XKS_CERT_EXPIRING!.kind).toBe('miss');
  });

  it('errors while not CONNECTED are not "CONNECTED but failing"', () => {
    const bad = health({ errors: { retryable: 50, nonRetryable: 0 }, requests: 100 });
    expect(observe(snap(store(), bad)).XKS_PROXY_UNHEALTHY!.kind).toBe('hit');
    expect(observe(snap(store({ state: 'DISCONNECTED' }), bad)).XKS_PROXY_UNHEALTHY!.kind).toBe('miss');
  });

  it('stale CloudWatch data, a failed CloudWatch read or a stale store freezes every CloudWatch finding', () => {
    const bad = health({ certificateDaysToExpire: 1 });
    for (const o of Object.values(observe(snap(store(), { ...bad, stale: true })))) expect(o.kind).toBe('frozen');
    for (const o of Object.values(observe(snap(store(), null, false)))) expect(o.kind).toBe('frozen');
    for (const o of Object.values(observe(snap(store({ stale: true }), bad)))) expect(o.kind).toBe('frozen');
  });

  it('key manager: Degraded is a warning, Unavailable critical; credential older than 90 days', () => {
    expect(observe(snap(store(), health({ keyManagers: { Active: 1, Degraded: 1, Unavailable: 0 } }))).XKS_KEY_MANAGER_UNHEALTHY).toMatchObject({ kind: 'hit', severity: 'warning' });
    expect(observe(snap(store(), health({ keyManagers: { Active: 1, Degraded: 0, Unavailable: 1 } }))).XKS_KEY_MANAGER_UNHEALTHY).toMatchObject({ kind: 'hit', severity: 'critical' });
    expect(observe(snap(store(), health({ credentialAgeDays: 91 }))).XKS_CREDENTIAL_OLD!.kind).toBe('hit');
    expect(observe(snap(store(), health({ credentialAgeDays: 89 }))).XKS_CREDENTIAL_OLD!.kind).toBe('miss');
  });
});
