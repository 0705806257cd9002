// The pure parts of the CloudWatch enrichment: which listed metrics are queried, how queries are planned,
// and how the newest datapoints fold into per-store facts.
import { describe, expect, it } from 'vitest';
import { aggregate, latestValue, planQueries, relevantMetrics, toMetricDataQuery, type Datapoint, type ListedMetric } from '../../src/collect/cloudwatch.js';

const kms = (name: string, dims: Record<string, string>): ListedMetric => ({ namespace: 'AWS/KMS', name, dimensions: dims });
const hsm = (dims: Record<string, string>): ListedMetric => ({ namespace: 'AWS/CloudHSM', name: 'HsmUnhealthy', dimensions: dims });

describe('relevantMetrics', () => {
  it('keeps the metrics of stores and clusters that exist, and nothing else', () => {
    const listed = [
      kms('XksProxyCredentialAge', { CustomKeyStoreId: 'cks-1' }),
      kms('XksProxyCredentialAge', { CustomKeyStoreId: 'cks-deleted' }),
      kms('SecondsUntilKeyMaterialExpiration', { KeyId: 'k-1' }),
      kms('XksProxyErrors', { CustomKeyStoreId: 'cks-1', KmsOperation: 'Decrypt', XksOperation: 'Decrypt', KeySpec: 'SYMMETRIC_DEFAULT', ErrorType: 'Retryable', ExceptionName: 'X' }),
      hsm({ ClusterId: 'cluster-1', HsmId: 'hsm-a' }),
      hsm({ ClusterId: 'cluster-other', HsmId: 'hsm-b' }),
    ];
    const out = relevantMetrics(listed, new Set(['cks-1']), new Set(['cluster-1']));
    expect(out.map((m) => `${m.name}:${m.dimensions.CustomKeyStoreId ?? m.dimensions.ClusterId}`)).toEqual([
      'XksProxyCredentialAge:cks-1', 'XksProxyErrors:cks-1', 'HsmUnhealthy:cluster-1',
    ]);
  });

  it('HsmUnhealthy: the cluster-level series when there is one (never also the per-HSM ones: no double count)', () => {
    const listed = [hsm({ ClusterId: 'c', HsmId: 'h1' }), hsm({ ClusterId: 'c', HsmId: 'h2' }), hsm({ ClusterId: 'c' })];
    expect(relevantMetrics(listed, new Set(), new Set(['c'])).map((m) => m.dimensions)).toEqual([{ ClusterId: 'c' }]);
    expect(relevantMetrics(listed.slice(0, 2), new Set(), new Set(['c']))).toHaveLength(2);
  });
});

describe('planQueries', () => {
  it('one query per statistic, every dimension named exactly, valid ids', () => {
    const q = planQueries([kms('XksProxyLatency', { CustomKeyStoreId: 'cks-1', KmsOperation: 'Decrypt', XksOperation: 'Decrypt', KeySpec: 'SYMMETRIC_DEFAULT' })]);
    expect(q.map((x) => [x.stat, x.field])).toEqual([['Sum', 'latencySum'], ['SampleCount', 'latencyCount']]);
    for (const x of q) expect(x.id).toMatch(/^[a-z][a-zA-Z0-9_]*$/);
    const mdq = toMetricDataQuery(q[0]!, 300);
    expect(mdq.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyLatency', Dimensions: [
        { Name: 'CustomKeyStoreId', Value: 'cks-1' }, { Name: 'KmsOperation', Value: 'Decrypt' }, { Name: 'XksOperation', Value: 'Decrypt' }, { Name: 'KeySpec', Value: 'SYMMETRIC_DEFAULT' },
      ] },
      Period: 300,
      Stat: 'Sum',
    });
  });
});

describe('latestValue', () => {
  it('takes the newest datapoint whatever the order, and nothing from an empty result', () => {
    expect(latestValue({ Timestamps: [new Date(1000), new Date(3000), new Date(2000)], Values: [1, 3, 2] })).toEqual({ value: 3, at: 3000 });
    expect(latestValue({ Timestamps: [], Values: [] })).toBeUndefined();
  });
});

describe('aggregate', () => {
  const storeMetrics = [
    kms('XksProxyCertificateDaysToExpire', { CustomKeyStoreId: 's', CertificateName: 'a.example.com' }),
    kms('XksProxyCertificateDaysToExpire', { CustomKeyStoreId: 's', CertificateName: 'b.example.com' }),
    kms('XksProxyCredentialAge', { CustomKeyStoreId: 's' }),
    kms('XksExternalKeyManagerStates', { CustomKeyStoreId: 's', XksExternalKeyManagerState: 'Active' }),
    kms('XksExternalKeyManagerStates', { CustomKeyStoreId: 's', XksExternalKeyManagerState: 'Degraded' }),
    kms('XksProxyErrors', { CustomKeyStoreId: 's', KmsOperation: 'Decrypt', ErrorType: 'Retryable' }),
    kms('XksProxyErrors', { CustomKeyStoreId: 's', KmsOperation: 'Encrypt', ErrorType: 'Non-retryable' }),
    kms('XksProxyLatency', { CustomKeyStoreId: 's', KmsOperation: 'Decrypt' }),
    kms('XksProxyLatency', { CustomKeyStoreId: 's', KmsOperation: 'Encrypt' }),
  ];
  const planned = planQueries(storeMetrics);
  const at = (field: string, i = 0) => planned.filter((q) => q.field === field)[i]!.id;
  const T = 600_000;

  it('folds series into one record per store: min certificate, max age, states, errors by type, weighted latency', () => {
    const v = new Map<string, Datapoint>([
      [at('certificateDays', 0), { value: 40, at: T }], [at('certificateDays', 1), { value: 12, at: T }],
      [at('credentialAge'), { value: 95, at: T }],
      [at('keyManagers', 0), { value: 2, at: T }], [at('keyManagers', 1), { value: 1, at: T }],
      [at('errors', 0), { value: 6, at: T }], [at('errors', 1), { value: 2, at: T }],
      [at('latencySum', 0), { value: 100 * 50, at: T }], [at('latencyCount', 0), { value: 100, at: T }],
      [at('latencySum', 1), { value: 300 * 250, at: T }], [at('latencyCount', 1), { value: 300, at: T }],
    ]);
    expect(aggregate(planned, v).stores).toEqual([{
      storeId: 's', certificateDaysToExpire: 12, credentialAgeDays: 95, keyManagers: { Active: 2, Degraded: 1 },
      errors: { retryable: 6, nonRetryable: 2 }, requests: 400, latencyMs: 200, throttled: null,
    }]);
  });

  it('per-period figures count only from the newest period: an old burst of errors is not the present', () => {
    const v = new Map<string, Datapoint>([
      [at('credentialAge'), { value: 10, at: T }],
      [at('latencySum', 0), { value: 4000, at: T }], [at('latencyCount', 0), { value: 100, at: T }],
      // Errors last published two periods ago (KMS publishes nothing in a minute without errors).
      [at('errors', 0), { value: 50, at: T - 120_000 }],
    ]);
    const s = aggregate(planned, v).stores[0]!;
    expect(s.errors).toBeNull();
    expect(s.requests).toBe(100);
    expect(s.latencyMs).toBe(40);
  });

  it('no datapoint at all: the store has no record (absent, never zeros)', () => {
    expect(aggregate(planned, new Map()).stores).toEqual([]);
  });
});
