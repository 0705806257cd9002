// Findings from CloudWatch (collect/cloudwatch.ts): a pure function of the snapshot's storeHealth and
// clusterHealth. Registered by the alert lifecycle (engine.ts) like the other conditions; the lifecycle
// (confirmations, reminders, resolve) is the same.
//
// Decisions:
//  - A stale store record (its target failed) or a stale health record (CloudWatch could not be read this
//    poll) freezes these findings: a CloudWatch outage neither fires nor resolves anything.
//  - A store without a recent datapoint for a metric does not hold the finding (absent is not zero, and not
//    a problem either): the finding resolves after `confirmations` such polls.
//  - XKS_PROXY_UNHEALTHY is the external-store counterpart of the GenerateRandom probe (which AWS rejects for
//    external stores): only a CONNECTED store is judged. Severity: "CONNECTED but degraded" (warning) past
//    errorRateWarning / latencyWarning, "CONNECTED but failing" (critical) past errorRateCritical / latencyCritical.
//  - XKS_CERT_EXPIRING warns under alerting.certificateExpiryWarning (30 days) and is critical under
//    cloudwatch.certificateCritical (7 days); XKS_KEY_MANAGER_UNHEALTHY is critical when an instance is
//    Unavailable, a warning when only Degraded.
import type { Config } from '../../config/schema.js';
import { storeKey, type AlertSubject, type ClusterHealthRecord, type Condition, type Severity, type Snapshot, type StoreHealthRecord, type StoreRecord } from '../../model.js';
import { SUBJECT_DETAIL } from '../remediation/guidance.js';
import type { ConditionSource } from './context.js';
import { storeSubject } from './context.js';
import { clusterSubjectKey, storeSubjectKey } from '../subject-key.js';

export type CloudWatchThresholds = Pick<Config['cloudwatch'], 'certificateCritical' | 'credentialMaxAge' | 'errorRateWarning' | 'errorRateCritical' | 'minErrors' | 'latencyWarning' | 'latencyCritical' | 'throttledRequests'>;

/** The schema's defaults, for callers that pass no cloudwatch config (tests of other conditions). */
export const DEFAULT_CLOUDWATCH_THRESHOLDS: CloudWatchThresholds = {
  certificateCritical: 7 * 86_400_000, credentialMaxAge: 90 * 86_400_000, errorRateWarning: 0.05, errorRateCritical: 0.25,
  minErrors: 5, latencyWarning: 200, latencyCritical: 240, throttledRequests: 10,
};

export const CLOUDWATCH_STORE_CONDITIONS = ['XKS_CERT_EXPIRING', 'XKS_CREDENTIAL_OLD', 'XKS_KEY_MANAGER_UNHEALTHY', 'XKS_PROXY_UNHEALTHY', 'KEY_STORE_THROTTLED'] as const satisfies readonly Condition[];

export type CloudWatchObservation =
  | { kind: 'hit'; subject: AlertSubject; since: number; severity?: Severity }
  | { kind: 'miss'; subject?: AlertSubject }
  | { kind: 'frozen' };

export interface CloudWatchInput {
  snapshot: Snapshot;
  thresholds: CloudWatchThresholds;
  /** alerting.certificateExpiryWarning */
  certificateWarning: number;
  /** Subjects as the engine builds them (account facts, ids), with these details. */
  storeSubject: (s: StoreRecord, details?: Record<string, string>) => AlertSubject;
  storeSubjectKey: (s: StoreRecord) => string;
  clusterSubjectKey: (accountId: string, region: string, clusterId: string) => string;
}

const DAY = 86_400_000;
const round = (v: number, digits = 1): string => String(Math.round(v * 10 ** digits) / 10 ** digits);
const pct = (v: number): string => `${round(v * 100)}%`;

/** Observations of every CloudWatch finding of this snapshot, through `record` (the engine's). Pure. */
export function observeCloudWatch(input: CloudWatchInput, record: (c: Condition, subjectKey: string, o: CloudWatchObservation) => void): void {
  const { snapshot, thresholds: t, certificateWarning } = input;
  const at = snapshot.finishedAt;
  const health = new Map<string, StoreHealthRecord>((snapshot.storeHealth ?? []).map((h) => [storeKey({ accountId: h.accountId, region: h.region, id: h.storeId }), h]));
  const clusterHealth = new Map<string, ClusterHealthRecord>((snapshot.clusterHealth ?? []).map((h) => [`${h.accountId}/${h.region}/${h.clusterId}`, h]));
  // A target whose CloudWatch read failed: its stores' findings freeze even when no record was carried over.
  const cwDown = new Set(snapshot.targets.filter((x) => x.cloudWatch && !x.cloudWatch.ok).map((x) => `${x.accountId}/${x.region}`));

  for (const s of snapshot.stores) {
    const sk = input.storeSubjectKey(s);
    const h = health.get(storeKey(s));
    if (s.stale || h?.stale || (!h && cwDown.has(`${s.accountId}/${s.region}`))) {
      for (const c of CLOUDWATCH_STORE_CONDITIONS) record(c, sk, { kind: 'frozen' });
      continue;
    }
    const plain = input.storeSubject(s);
    const miss = (c: Condition) => record(c, sk, { kind: 'miss', subject: plain });
    const xks = s.type === 'EXTERNAL_KEY_STORE';

    // Certificate expiry.
    const days = xks ? h?.certificateDaysToExpire ?? null : null;
    if (days !== null && days * DAY < certificateWarning) {
      record('XKS_CERT_EXPIRING', sk, {
        kind: 'hit', since: at, severity: days * DAY < t.certificateCritical ? 'critical' : 'warning',
        subject: input.storeSubject(s, { 'Days left': round(days, 0), 'Expires about': new Date(at + days * DAY).toISOString().slice(0, 10), 'Proxy endpoint': s.xks?.uriEndpoint ?? 'unknown' }),
      });
    } else miss('XKS_CERT_EXPIRING');

    // Credential age.
    const age = xks ? h?.credentialAgeDays ?? null : null;
    if (age !== null && age * DAY > t.credentialMaxAge) {
      record('XKS_CREDENTIAL_OLD', sk, {
        kind: 'hit', since: at,
        subject: input.storeSubject(s, { 'Credential age': `${round(age, 0)} days`, 'Maximum age': `${round(t.credentialMaxAge / DAY, 0)} days`, ...(s.xks?.accessKeyIdLast4 ? { 'Access key id ends': s.xks.accessKeyIdLast4 } : {}) }),
      });
    } else miss('XKS_CREDENTIAL_OLD');

    // External key manager health.
    const km = xks ? h?.keyManagers ?? null : null;
    const unavailable = km?.Unavailable ?? 0;
    const degraded = km?.Degraded ?? 0;
    if (km && (unavailable > 0 || degraded > 0)) {
      record('XKS_KEY_MANAGER_UNHEALTHY', sk, {
        kind: 'hit', since: at, severity: unavailable > 0 ? 'critical' : 'warning',
        subject: input.storeSubject(s, {
          [SUBJECT_DETAIL.verdict]: unavailable > 0 ? 'UNAVAILABLE' : 'DEGRADED',
          'Key manager instances': Object.entries(km).sort().map(([k, v]) => `${k} ${round(v, 0)}`).join(', '),
        }),
      });
    } else miss('XKS_KEY_MANAGER_UNHEALTHY');

    // Errors and latency while CONNECTED.
    const verdict = xks && s.state === 'CONNECTED' && h ? proxyVerdict(h, t) : null;
    if (verdict) {
      const errors = (h!.errors?.retryable ?? 0) + (h!.errors?.nonRetryable ?? 0);
      const details: Record<string, string> = { [SUBJECT_DETAIL.verdict]: verdict.severity === 'critical' ? 'CONNECTED but failing' : 'CONNECTED but degraded', Why: verdict.why };
      if (h!.errors) details['Proxy errors'] = `${round(errors, 0)} (retryable ${round(h!.errors.retryable, 0)}, non-retryable ${round(h!.errors.nonRetryable, 0)})`;
      if (h!.requests !== null) details['Proxy requests'] = round(h!.requests, 0);
      if (h!.latencyMs !== null) details['Average latency'] = `${round(h!.latencyMs, 0)} ms (KMS times out at 250 ms)`;
      record('XKS_PROXY_UNHEALTHY', sk, { kind: 'hit', since: at, severity: verdict.severity, subject: input.storeSubject(s, details) });
    } else miss('XKS_PROXY_UNHEALTHY');

    // Throttling (either store type).
    const throttled = h?.throttled ?? null;
    if (throttled !== null && throttled >= t.throttledRequests) {
      record('KEY_STORE_THROTTLED', sk, { kind: 'hit', since: at, subject: input.storeSubject(s, { 'Throttled requests': `${round(throttled, 0)} in the last period`, Threshold: String(t.throttledRequests) }) });
    } else miss('KEY_STORE_THROTTLED');
  }

  // HsmUnhealthy per cluster referenced by a CloudHSM store.
  const refs = new Map<string, StoreRecord[]>();
  for (const s of snapshot.stores) {
    if (s.type !== 'AWS_CLOUDHSM' || !s.clusterId) continue;
    const k = `${s.accountId}/${s.region}/${s.clusterId}`;
    const list = refs.get(k) ?? [];
    list.push(s);
    refs.set(k, list);
  }
  for (const [k, stores] of refs) {
    stores.sort((a, b) => (a.id < b.id ? -1 : 1));
    const first = stores[0]!;
    const ck = input.clusterSubjectKey(first.accountId, first.region, first.clusterId!);
    const h = clusterHealth.get(k);
    if (stores.some((s) => s.stale) || h?.stale || (!h && cwDown.has(`${first.accountId}/${first.region}`))) { record('HSM_UNHEALTHY', ck, { kind: 'frozen' }); continue; }
    const primary = stores.find((s) => s.state === 'CONNECTED') ?? first;
    if (h && h.hsmUnhealthy > 0) record('HSM_UNHEALTHY', ck, { kind: 'hit', since: at, subject: input.storeSubject(primary, { 'Unhealthy HSMs': round(h.hsmUnhealthy, 0) }) });
    else record('HSM_UNHEALTHY', ck, { kind: 'miss', subject: input.storeSubject(primary) });
  }
}

/** "CONNECTED but degraded / failing" from one store's CloudWatch figures, or null when it looks healthy. Pure. */
export function proxyVerdict(h: Pick<StoreHealthRecord, 'errors' | 'requests' | 'latencyMs'>, t: CloudWatchThresholds): { severity: Severity; why: string } | null {
  const errors = (h.errors?.retryable ?? 0) + (h.errors?.nonRetryable ?? 0);
  // Errors are requests too (a timed-out request is counted in both): never a rate above 100%.
  const requests = Math.max(h.requests ?? 0, errors);
  const rate = requests > 0 ? errors / requests : 0;
  const counted = errors >= t.minErrors;
  const latency = h.latencyMs;
  const reasons = (level: 'critical' | 'warning'): string[] => {
    const rateLimit = level === 'critical' ? t.errorRateCritical : t.errorRateWarning;
    const latencyLimit = level === 'critical' ? t.latencyCritical : t.latencyWarning;
    const out: string[] = [];
    if (counted && rate >= rateLimit) out.push(`${pct(rate)} of proxy requests failed (${Math.round(errors)} of ${Math.round(requests)}; limit ${pct(rateLimit)})`);
    if (latency !== null && latency >= latencyLimit) out.push(`average latency ${Math.round(latency)} ms (limit ${latencyLimit} ms, KMS times out at 250 ms)`);
    return out;
  };
  const critical = reasons('critical');
  if (critical.length) return { severity: 'critical', why: critical.join('; ') };
  const warning = reasons('warning');
  if (warning.length) return { severity: 'warning', why: warning.join('; ') };
  return null;
}

/** The CloudWatch findings as a condition source (registered in index.ts). */
export const cloudWatchConditions: ConditionSource = {
  subject: 'store (CloudWatch), cluster (HsmUnhealthy)',
  conditions: [...CLOUDWATCH_STORE_CONDITIONS, 'HSM_UNHEALTHY'],
  observe(snapshot, ctx, record) {
    observeCloudWatch({
      snapshot, thresholds: ctx.cloudwatch ?? DEFAULT_CLOUDWATCH_THRESHOLDS, certificateWarning: ctx.alerting.certificateExpiryWarning,
      storeSubject, storeSubjectKey, clusterSubjectKey,
    }, record);
  },
};
