// CloudWatch enrichment: what KMS and CloudHSM publish about the stores DescribeCustomKeyStores listed, read
// once per account-region per poll. Like the CloudHSM enrichment it only adds facts: a CloudWatch failure
// leaves the stores (and their states) exactly as the KMS walk saw them (the poller keeps it separate).
//
// The metrics and their dimensions are the KMS developer guide's ("Monitoring with Amazon CloudWatch",
// https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-cloudwatch.html) and the CloudHSM user
// guide's ("CloudHSM metrics", HsmUnhealthy):
//   AWS/KMS  XksProxyCertificateDaysToExpire  CustomKeyStoreId, CertificateName            (days;   Minimum)
//   AWS/KMS  XksProxyCredentialAge            CustomKeyStoreId                             (days;   Maximum)
//   AWS/KMS  XksExternalKeyManagerStates      CustomKeyStoreId, XksExternalKeyManagerState (count of instances per Active/Degraded/Unavailable)
//   AWS/KMS  XksProxyErrors                   CustomKeyStoreId, KmsOperation, XksOperation, KeySpec, ErrorType, ExceptionName (Sum)
//   AWS/KMS  XksProxyLatency                  CustomKeyStoreId, KmsOperation, XksOperation, KeySpec (milliseconds; 250 = timed out)
//   AWS/KMS  ExternalKeyStoreThrottle         CustomKeyStoreId, KmsOperation, KeySpec      (Sum)
//   AWS/KMS  CloudHSMKeyStoreThrottle         CustomKeyStoreId, KmsOperation, KeySpec      (Sum)
//   AWS/CloudHSM HsmUnhealthy                 ClusterId [, HsmId]                          (unhealthy HSM instances)
// A MetricStat query must name every dimension of a metric exactly (CloudWatch does not aggregate over
// dimensions it is not given), so the concrete dimension sets come from ListMetrics and the per-store
// figures are summed here. Latency is read as Sum and SampleCount: the weighted average over operations
// and, from SampleCount, the number of proxy requests (the denominator of the error rate).
import {
  GetMetricDataCommand, ListMetricsCommand,
  type CloudWatchClient, type Dimension, type MetricDataQuery, type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';

export const KMS_NAMESPACE = 'AWS/KMS';
export const CLOUDHSM_NAMESPACE = 'AWS/CloudHSM';
/** GetMetricData accepts at most 500 MetricDataQuery structures per call (CloudWatch API reference). */
export const MAX_QUERIES_PER_CALL = 500;
/** The KMS timeout for an XKS proxy answer; XksProxyLatency records 250 for a request that timed out. */
export const XKS_TIMEOUT_MS = 250;

type StoreField = 'certificateDays' | 'credentialAge' | 'keyManagers' | 'errors' | 'latencySum' | 'latencyCount' | 'throttled';

/** Metric name -> what it feeds and with which statistic(s). */
const STORE_METRICS: Record<string, { field: StoreField; stat: string }[]> = {
  XksProxyCertificateDaysToExpire: [{ field: 'certificateDays', stat: 'Minimum' }],
  XksProxyCredentialAge: [{ field: 'credentialAge', stat: 'Maximum' }],
  XksExternalKeyManagerStates: [{ field: 'keyManagers', stat: 'Maximum' }],
  XksProxyErrors: [{ field: 'errors', stat: 'Sum' }],
  XksProxyLatency: [{ field: 'latencySum', stat: 'Sum' }, { field: 'latencyCount', stat: 'SampleCount' }],
  ExternalKeyStoreThrottle: [{ field: 'throttled', stat: 'Sum' }],
  CloudHSMKeyStoreThrottle: [{ field: 'throttled', stat: 'Sum' }],
};
export const STORE_METRIC_NAMES: readonly string[] = Object.keys(STORE_METRICS);
export const HSM_UNHEALTHY = 'HsmUnhealthy';

export interface ListedMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

export interface PlannedQuery {
  id: string;
  metric: ListedMetric;
  stat: string;
  field: StoreField | 'hsmUnhealthy';
  /** CustomKeyStoreId or ClusterId. */
  subjectId: string;
}

/** What CloudWatch said about one store this poll; null fields had no datapoint within the lookback. */
export interface ObservedStoreHealth {
  storeId: string;
  certificateDaysToExpire: number | null;
  credentialAgeDays: number | null;
  /** External key manager instances per health state as KMS names them (Active, Degraded, Unavailable). */
  keyManagers: Record<string, number> | null;
  errors: { retryable: number; nonRetryable: number } | null;
  /** Requests KMS sent to the proxy in the last period (XksProxyLatency SampleCount). */
  requests: number | null;
  latencyMs: number | null;
  throttled: number | null;
}

export interface ObservedClusterHealth {
  clusterId: string;
  /** Unhealthy HSM instances in the last period. */
  hsmUnhealthy: number;
}

export interface CloudWatchReading {
  stores: ObservedStoreHealth[];
  clusters: ObservedClusterHealth[];
  /** Metrics requested in GetMetricData (what AWS bills) and calls made. */
  metricsRequested: number;
  getMetricDataCalls: number;
  listMetricsCalls: number;
}

const dims = (d: Dimension[] | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const x of d ?? []) if (x.Name) out[x.Name] = x.Value ?? '';
  return out;
};

/** The listed metrics that are about the stores and clusters that exist now. Pure. */
export function relevantMetrics(listed: readonly ListedMetric[], storeIds: ReadonlySet<string>, clusterIds: ReadonlySet<string>): ListedMetric[] {
  const out: ListedMetric[] = [];
  const hsm = new Map<string, ListedMetric[]>();
  for (const m of listed) {
    if (m.namespace === KMS_NAMESPACE && Object.hasOwn(STORE_METRICS, m.name) && storeIds.has(m.dimensions.CustomKeyStoreId ?? '')) out.push(m);
    else if (m.namespace === CLOUDHSM_NAMESPACE && m.name === HSM_UNHEALTHY && clusterIds.has(m.dimensions.ClusterId ?? '')) {
      const list = hsm.get(m.dimensions.ClusterId!) ?? [];
      list.push(m);
      hsm.set(m.dimensions.ClusterId!, list);
    }
  }
  // A cluster-level series (ClusterId alone) already counts every HSM: take it, else sum the per-HSM ones.
  for (const list of hsm.values()) {
    const clusterLevel = list.filter((m) => Object.keys(m.dimensions).every((k) => k === 'ClusterId' || k === 'Region'));
    out.push(...(clusterLevel.length ? clusterLevel.slice(0, 1) : list.filter((m) => m.dimensions.HsmId)));
  }
  return out;
}

/** One query per metric and statistic, with ids GetMetricData accepts (^[a-z][a-zA-Z0-9_]*$). Pure. */
export function planQueries(metrics: readonly ListedMetric[]): PlannedQuery[] {
  const out: PlannedQuery[] = [];
  for (const metric of metrics) {
    if (metric.namespace === CLOUDHSM_NAMESPACE) {
      out.push({ id: `q${out.length}`, metric, stat: 'Maximum', field: 'hsmUnhealthy', subjectId: metric.dimensions.ClusterId! });
      continue;
    }
    for (const { field, stat } of STORE_METRICS[metric.name] ?? []) out.push({ id: `q${out.length}`, metric, stat, field, subjectId: metric.dimensions.CustomKeyStoreId! });
  }
  return out;
}

export function toMetricDataQuery(q: PlannedQuery, periodSeconds: number): MetricDataQuery {
  return {
    Id: q.id,
    MetricStat: {
      Metric: { Namespace: q.metric.namespace, MetricName: q.metric.name, Dimensions: Object.entries(q.metric.dimensions).map(([Name, Value]) => ({ Name, Value })) },
      Period: periodSeconds,
      Stat: q.stat,
    },
    ReturnData: true,
  };
}

/** A query's newest datapoint: its value and the start of its period (epoch ms). */
export interface Datapoint { value: number; at: number }

/** The newest datapoint of a result (GetMetricData orders them as asked; this does not rely on it). */
export function latestValue(r: Pick<MetricDataResult, 'Timestamps' | 'Values'>): Datapoint | undefined {
  const ts = r.Timestamps ?? [];
  const vs = r.Values ?? [];
  let out: Datapoint | undefined;
  for (let i = 0; i < Math.min(ts.length, vs.length); i++) {
    const t = new Date(ts[i]!).getTime();
    if ((!out || t > out.at) && Number.isFinite(vs[i])) out = { value: vs[i]!, at: t };
  }
  return out;
}

/**
 * Per-period figures (errors, throttles, requests, latency) count only from the store's newest period: KMS
 * publishes a count metric only in minutes with events, so an older datapoint is a past burst, not the
 * present (taking it would keep a finding alive long after the errors stopped). Gauges (certificate days,
 * credential age, key manager states) take their newest datapoint within the lookback.
 */
const PER_PERIOD: ReadonlySet<string> = new Set(['errors', 'throttled', 'latencySum', 'latencyCount']);

const isNonRetryable = (errorType: string | undefined): boolean => /non[\s_-]?retryable/i.test(errorType ?? '');

/** Folds the newest value of every query into per-store and per-cluster facts. A store without any value is left out. Pure. */
export function aggregate(planned: readonly PlannedQuery[], values: ReadonlyMap<string, Datapoint>): { stores: ObservedStoreHealth[]; clusters: ObservedClusterHealth[] } {
  const stores = new Map<string, ObservedStoreHealth & { latencySum: number | null }>();
  const clusters = new Map<string, ObservedClusterHealth>();
  const storeOf = (id: string) => {
    let s = stores.get(id);
    if (!s) {
      s = { storeId: id, certificateDaysToExpire: null, credentialAgeDays: null, keyManagers: null, errors: null, requests: null, latencyMs: null, throttled: null, latencySum: null };
      stores.set(id, s);
    }
    return s;
  };
  // Each store's newest period with any datapoint.
  const newest = new Map<string, number>();
  for (const q of planned) {
    const d = values.get(q.id);
    if (d && q.field !== 'hsmUnhealthy') newest.set(q.subjectId, Math.max(newest.get(q.subjectId) ?? -Infinity, d.at));
  }
  for (const q of planned) {
    const d = values.get(q.id);
    if (d === undefined) continue;
    if (PER_PERIOD.has(q.field) && d.at < newest.get(q.subjectId)!) continue;
    const v = d.value;
    if (q.field === 'hsmUnhealthy') {
      const c = clusters.get(q.subjectId) ?? { clusterId: q.subjectId, hsmUnhealthy: 0 };
      c.hsmUnhealthy += v;
      clusters.set(q.subjectId, c);
      continue;
    }
    const s = storeOf(q.subjectId);
    switch (q.field) {
      case 'certificateDays': s.certificateDaysToExpire = s.certificateDaysToExpire === null ? v : Math.min(s.certificateDaysToExpire, v); break;
      case 'credentialAge': s.credentialAgeDays = s.credentialAgeDays === null ? v : Math.max(s.credentialAgeDays, v); break;
      case 'keyManagers': {
        const state = q.metric.dimensions.XksExternalKeyManagerState ?? 'Unknown';
        s.keyManagers = { ...(s.keyManagers ?? {}), [state]: (s.keyManagers?.[state] ?? 0) + v };
        break;
      }
      case 'errors': {
        const e = s.errors ?? { retryable: 0, nonRetryable: 0 };
        if (isNonRetryable(q.metric.dimensions.ErrorType)) e.nonRetryable += v; else e.retryable += v;
        s.errors = e;
        break;
      }
      case 'latencySum': s.latencySum = (s.latencySum ?? 0) + v; break;
      case 'latencyCount': s.requests = (s.requests ?? 0) + v; break;
      case 'throttled': s.throttled = (s.throttled ?? 0) + v; break;
    }
  }
  const outStores: ObservedStoreHealth[] = [];
  for (const { latencySum, ...s } of stores.values()) {
    if (latencySum !== null && s.requests) s.latencyMs = latencySum / s.requests;
    outStores.push(s);
  }
  outStores.sort((a, b) => (a.storeId < b.storeId ? -1 : 1));
  return { stores: outStores, clusters: [...clusters.values()].sort((a, b) => (a.clusterId < b.clusterId ? -1 : 1)) };
}

export interface ReadOptions {
  periodMs: number;
  lookbackMs: number;
  now: number;
  signal?: AbortSignal;
}

/** ListMetrics of one namespace (optionally one metric name), every page. The lent client aborts on the target's signal. */
async function listMetrics(client: CloudWatchClient, namespace: string, metricName: string | undefined, signal: AbortSignal | undefined, count: () => void): Promise<ListedMetric[]> {
  const out: ListedMetric[] = [];
  let token: string | undefined;
  do {
    count();
    const page = await client.send(new ListMetricsCommand({ Namespace: namespace, MetricName: metricName, NextToken: token }));
    for (const m of page.Metrics ?? []) if (m.MetricName) out.push({ namespace: m.Namespace ?? namespace, name: m.MetricName, dimensions: dims(m.Dimensions) });
    token = page.NextToken;
  } while (token && !signal?.aborted);
  return out;
}

/**
 * Reads the CloudWatch facts of one account-region: ListMetrics (AWS/KMS; AWS/CloudHSM HsmUnhealthy when
 * there are clusters), then GetMetricData in calls of at most 500 queries (one call for up to 500 metrics;
 * NextToken pages of a call are followed). Throws on any failed call: the caller keeps the stores as they are.
 */
export async function readCloudWatch(client: CloudWatchClient, storeIds: ReadonlySet<string>, clusterIds: ReadonlySet<string>, o: ReadOptions): Promise<CloudWatchReading> {
  const reading: CloudWatchReading = { stores: [], clusters: [], metricsRequested: 0, getMetricDataCalls: 0, listMetricsCalls: 0 };
  if (storeIds.size === 0 && clusterIds.size === 0) return reading;
  const countList = () => { reading.listMetricsCalls += 1; };
  const listed = [
    ...(storeIds.size ? await listMetrics(client, KMS_NAMESPACE, undefined, o.signal, countList) : []),
    ...(clusterIds.size ? await listMetrics(client, CLOUDHSM_NAMESPACE, HSM_UNHEALTHY, o.signal, countList) : []),
  ];
  const planned = planQueries(relevantMetrics(listed, storeIds, clusterIds));
  const periodSeconds = Math.round(o.periodMs / 1000);
  // Whole periods, so every call of this poll asks for the same buckets.
  const end = Math.floor(o.now / o.periodMs) * o.periodMs + o.periodMs;
  const start = end - Math.ceil(o.lookbackMs / o.periodMs) * o.periodMs - o.periodMs;
  const values = new Map<string, Datapoint>();
  for (let i = 0; i < planned.length; i += MAX_QUERIES_PER_CALL) {
    const batch = planned.slice(i, i + MAX_QUERIES_PER_CALL);
    const queries = batch.map((q) => toMetricDataQuery(q, periodSeconds));
    reading.metricsRequested += queries.length;
    const results = new Map<string, { Timestamps: Date[]; Values: number[] }>();
    let token: string | undefined;
    do {
      reading.getMetricDataCalls += 1;
      const page = await client.send(new GetMetricDataCommand({
        MetricDataQueries: queries, StartTime: new Date(start), EndTime: new Date(end), ScanBy: 'TimestampDescending', NextToken: token,
      }));
      for (const r of page.MetricDataResults ?? []) {
        if (!r.Id) continue;
        const acc = results.get(r.Id) ?? { Timestamps: [], Values: [] };
        acc.Timestamps.push(...(r.Timestamps ?? []));
        acc.Values.push(...(r.Values ?? []));
        results.set(r.Id, acc);
      }
      token = page.NextToken;
    } while (token && !o.signal?.aborted);
    for (const [id, r] of results) {
      const v = latestValue(r);
      if (v !== undefined) values.set(id, v);
    }
  }
  const folded = aggregate(planned, values);
  reading.stores = folded.stores;
  reading.clusters = folded.clusters;
  return reading;
}
