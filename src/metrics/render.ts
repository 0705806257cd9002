// Renders the snapshot's metrics in the Prometheus text format. Pure and linear in the fleet, called once
// per poll; scrapes serve the cached bytes (a scrape never triggers AWS calls or re-rendering).
// The output is built as UTF-8 chunks of about 64 KB: the exposition of a 20,000-store fleet is ~60 MB,
// and holding it as ~420,000 line strings, then one joined string, then its bytes would triple that.
// Series exist only for what the latest snapshot holds, so a deleted store leaves no stale series.
import { CLUSTER_STATES, CONNECTION_STATES, HSM_STATES, TARGET_STATUSES, type ClusterRecord, type Snapshot, type TargetOutcome } from '../model.js';
import { tagLabelName } from '../util/prom-label.js';
import { redactLabel } from '../util/redact.js';

/** Label values from AWS may hold anything: redact (the one rule of util/redact.ts), escape per the exposition format, cap the length. */
export function escapeLabel(value: string | null | undefined): string {
  const v = redactLabel(value ?? '');
  const capped = v.length > 1024 ? v.slice(0, 1024) : v;
  return capped.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const CHUNK_CHARS = 64 * 1024;

class Family {
  private readonly chunks: Buffer[] = [];
  private pending = '';
  constructor(readonly name: string, readonly type: 'gauge', readonly help: string) {}
  add(labels: Record<string, string | null | undefined>, value: number): void {
    let l = '';
    for (const k in labels) l += `${l ? ',' : ''}${k}="${escapeLabel(labels[k])}"`;
    this.pending += `${this.name}{${l}} ${formatValue(value)}\n`;
    if (this.pending.length >= CHUNK_CHARS) this.flush();
  }
  private flush(): void {
    if (this.pending) this.chunks.push(Buffer.from(this.pending, 'utf8'));
    this.pending = '';
  }
  /** HELP and TYPE, then the series; nothing for a family without series. */
  render(): Buffer[] {
    this.flush();
    return this.chunks.length === 0 ? [] : [Buffer.from(`# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`, 'utf8'), ...this.chunks];
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const seconds = (ms: number) => ms / 1000;
const DAY_SECONDS = 86_400;

/** The health states KMS reports in XksExternalKeyManagerStates (each exported, zeros included, once a store has the metric). */
const XKS_KEY_MANAGER_STATES: readonly string[] = ['Active', 'Degraded', 'Unavailable'];

function activeAzs(c: ClusterRecord): number {
  return new Set(c.hsms.filter((h) => h.state === 'ACTIVE' && h.availabilityZone).map((h) => h.availabilityZone)).size;
}

/**
 * The labels of keystore_watch_account_info: account_id, account_name, ou_path, then one tag_<key> per
 * tag the account has, in key order. A tag whose label another key of the same account already took is
 * left out (the config refuses such keys; a duplicate label name would invalidate the whole exposition).
 */
export function accountInfoLabels(t: Pick<TargetOutcome, 'accountId' | 'accountName' | 'ouPath' | 'tags'>): Record<string, string> {
  const labels: Record<string, string> = { account_id: t.accountId, account_name: t.accountName, ou_path: t.ouPath ?? '' };
  for (const key of Object.keys(t.tags ?? {}).sort()) {
    const name = tagLabelName(key);
    if (!(name in labels)) labels[name] = t.tags![key] ?? '';
  }
  return labels;
}

/** The exposition as a string (tests, tools); the daemon keeps the chunks. */
export function renderSnapshotMetrics(snapshot: Snapshot): string {
  return Buffer.concat(renderSnapshotMetricsChunks(snapshot)).toString('utf8');
}

/** The exposition as UTF-8 chunks, in order. */
export function renderSnapshotMetricsChunks(snapshot: Snapshot): Buffer[] {
  const f = {
    info: new Family('kms_custom_key_store_info', 'gauge', 'Custom key store metadata; always 1.'),
    state: new Family('kms_custom_key_store_connection_state', 'gauge', 'Connection state of the custom key store (state-set: 1 for the current state).'),
    error: new Family('kms_custom_key_store_connection_error', 'gauge', 'Connection error code of a FAILED custom key store; 1 for the current code.'),
    created: new Family('kms_custom_key_store_creation_timestamp_seconds', 'gauge', 'When the custom key store was created.'),
    since: new Family('kms_custom_key_store_state_since_timestamp_seconds', 'gauge', 'When the current connection state was first observed.'),
    stale: new Family('kms_custom_key_store_stale', 'gauge', '1 when the store is carried over from an earlier poll because its target failed.'),
    anchor: new Family('kms_custom_key_store_trust_anchor_not_after_timestamp_seconds', 'gauge', 'Expiry of the store trust anchor certificate.'),
    probeOk: new Family('kms_custom_key_store_probe_success', 'gauge', '1 when the last GenerateRandom probe against the store succeeded.'),
    probeDur: new Family('kms_custom_key_store_probe_duration_seconds', 'gauge', 'Duration of the last GenerateRandom probe.'),
    clusterState: new Family('aws_cloudhsm_cluster_state', 'gauge', 'CloudHSM cluster state (state-set: 1 for the current state).'),
    hsms: new Family('aws_cloudhsm_cluster_hsms', 'gauge', 'Number of HSMs in the cluster per HSM state.'),
    azs: new Family('aws_cloudhsm_cluster_active_hsm_availability_zones', 'gauge', 'Availability Zones with at least one ACTIVE HSM.'),
    clusterCert: new Family('aws_cloudhsm_cluster_certificate_not_after_timestamp_seconds', 'gauge', 'Expiry of the cluster certificate.'),
    missing: new Family('keystore_watch_cluster_missing', 'gauge', '1 when a store references a cluster that DescribeClusters did not return.'),
    up: new Family('keystore_watch_target_up', 'gauge', '1 when the account-region target answered the last poll.'),
    lastOk: new Family('keystore_watch_target_last_success_timestamp_seconds', 'gauge', 'When the target last answered.'),
    tDur: new Family('keystore_watch_target_poll_duration_seconds', 'gauge', 'Duration of the target walk in the last poll.'),
    tFail: new Family('keystore_watch_target_consecutive_failures', 'gauge', 'Failed polls in a row for the target.'),
    hsmUp: new Family('keystore_watch_cloudhsm_enrichment_up', 'gauge', '1 when the CloudHSM DescribeClusters walk of the target succeeded.'),
    probeDenied: new Family('keystore_watch_probe_denied', 'gauge', 'Key stores of the target whose last GenerateRandom probe was denied (AccessDenied: IAM or SCP).'),
    account: new Family('keystore_watch_account_info', 'gauge', 'Account owner facts (OU path, configured tags as tag_<key>); always 1.'),
    certDays: new Family('kms_custom_key_store_xks_proxy_certificate_expiry_seconds', 'gauge', 'Time left until the XKS proxy TLS certificate expires, in seconds (CloudWatch XksProxyCertificateDaysToExpire x 86400; day resolution); absent without a recent datapoint.'),
    credAge: new Family('kms_custom_key_store_xks_proxy_credential_age_seconds', 'gauge', 'Time since the XKS proxy authentication credential was associated with the store, in seconds (CloudWatch XksProxyCredentialAge x 86400; day resolution).'),
    ekm: new Family('kms_custom_key_store_xks_external_key_manager_state', 'gauge', 'External key manager instances per health state as the XKS proxy reports them (CloudWatch XksExternalKeyManagerStates): Active, Degraded, Unavailable.'),
    xksErrors: new Family('kms_custom_key_store_xks_proxy_errors', 'gauge', 'XKS proxy errors and timeouts in the last CloudWatch period by type (retryable, non_retryable) (CloudWatch XksProxyErrors).'),
    xksRequests: new Family('kms_custom_key_store_xks_proxy_requests', 'gauge', 'Requests KMS sent to the XKS proxy in the last CloudWatch period (CloudWatch XksProxyLatency SampleCount).'),
    xksLatency: new Family('kms_custom_key_store_xks_proxy_latency_seconds', 'gauge', 'Average XKS proxy response time in the last CloudWatch period; KMS times out at 0.25 (CloudWatch XksProxyLatency).'),
    throttled: new Family('kms_custom_key_store_throttled_requests', 'gauge', 'Requests KMS throttled for the store in the last CloudWatch period (ExternalKeyStoreThrottle, CloudHSMKeyStoreThrottle).'),
    healthStale: new Family('kms_custom_key_store_cloudwatch_stale', 'gauge', '1 when the store\'s CloudWatch figures are the last known ones because CloudWatch could not be read.'),
    hsmUnhealthy: new Family('aws_cloudhsm_cluster_hsm_unhealthy', 'gauge', 'Unhealthy HSM instances in the cluster in the last CloudWatch period (CloudWatch AWS/CloudHSM HsmUnhealthy).'),
    cwUp: new Family('keystore_watch_cloudwatch_up', 'gauge', '1 when the CloudWatch reads of the target succeeded in the last poll.'),
    targets: new Family('keystore_watch_targets', 'gauge', 'Account-region targets of the last poll by status: ok, failed, not_enabled (opt-in region the account has not enabled), denied (service control policy).'),
  };

  for (const s of snapshot.stores) {
    const id = { account_id: s.accountId, region: s.region, custom_key_store_id: s.id };
    f.info.add({
      account_id: s.accountId, account_name: s.accountName, region: s.region, custom_key_store_id: s.id, custom_key_store_name: s.name,
      custom_key_store_type: s.type, cloudhsm_cluster_id: s.clusterId ?? '', xks_connectivity: s.xks?.connectivity ?? '',
    }, 1);
    for (const state of CONNECTION_STATES) f.state.add({ ...id, state }, s.state === state ? 1 : 0);
    // A state AWS added after this release still shows up instead of vanishing.
    if (!(CONNECTION_STATES as readonly string[]).includes(s.state)) f.state.add({ ...id, state: s.state }, 1);
    if (s.state === 'FAILED') f.error.add({ ...id, code: s.errorCode ?? 'UNKNOWN' }, 1);
    if (s.createdAt !== null) f.created.add(id, seconds(s.createdAt));
    f.since.add(id, seconds(s.stateSince));
    f.stale.add(id, s.stale ? 1 : 0);
    if (s.trustAnchorNotAfter !== null) f.anchor.add(id, seconds(s.trustAnchorNotAfter));
  }

  for (const p of snapshot.probes) {
    const id = { account_id: p.accountId, region: p.region, custom_key_store_id: p.storeId };
    // A denied probe has no verdict about the store: no success series, so the Prometheus rule stays quiet.
    if (p.outcome !== 'denied') f.probeOk.add(id, p.ok ? 1 : 0);
    f.probeDur.add(id, p.durationMs / 1000);
  }

  // Per target that has probe results: how many were denied (0 once the probe is allowed again).
  const denied = new Map<string, { account_id: string; region: string; n: number }>();
  for (const p of snapshot.probes) {
    const k = `${p.accountId}/${p.region}`;
    const d = denied.get(k) ?? { account_id: p.accountId, region: p.region, n: 0 };
    if (p.outcome === 'denied') d.n += 1;
    denied.set(k, d);
  }
  for (const d of denied.values()) f.probeDenied.add({ account_id: d.account_id, region: d.region }, d.n);

  // CloudWatch facts: a metric without a recent datapoint has no series (absent, not zero).
  for (const h of snapshot.storeHealth ?? []) {
    const id = { account_id: h.accountId, region: h.region, custom_key_store_id: h.storeId };
    if (h.certificateDaysToExpire !== null) f.certDays.add(id, h.certificateDaysToExpire * DAY_SECONDS);
    if (h.credentialAgeDays !== null) f.credAge.add(id, h.credentialAgeDays * DAY_SECONDS);
    if (h.keyManagers) {
      for (const state of XKS_KEY_MANAGER_STATES) f.ekm.add({ ...id, state }, h.keyManagers[state] ?? 0);
      for (const [state, n] of Object.entries(h.keyManagers)) if (!XKS_KEY_MANAGER_STATES.includes(state)) f.ekm.add({ ...id, state }, n);
    }
    if (h.errors) {
      f.xksErrors.add({ ...id, type: 'retryable' }, h.errors.retryable);
      f.xksErrors.add({ ...id, type: 'non_retryable' }, h.errors.nonRetryable);
    }
    if (h.requests !== null) f.xksRequests.add(id, h.requests);
    if (h.latencyMs !== null) f.xksLatency.add(id, h.latencyMs / 1000);
    if (h.throttled !== null) f.throttled.add(id, h.throttled);
    f.healthStale.add(id, h.stale ? 1 : 0);
  }
  for (const h of snapshot.clusterHealth ?? []) f.hsmUnhealthy.add({ account_id: h.accountId, region: h.region, cloudhsm_cluster_id: h.clusterId }, h.hsmUnhealthy);

  for (const c of snapshot.clusters) {
    const id = { account_id: c.accountId, region: c.region, cloudhsm_cluster_id: c.id };
    for (const state of CLUSTER_STATES) f.clusterState.add({ ...id, state }, c.state === state ? 1 : 0);
    if (!CLUSTER_STATES.includes(c.state)) f.clusterState.add({ ...id, state: c.state }, 1);
    const counts = new Map<string, number>(HSM_STATES.map((st) => [st, 0]));
    for (const h of c.hsms) counts.set(h.state, (counts.get(h.state) ?? 0) + 1);
    for (const [state, n] of counts) f.hsms.add({ ...id, state }, n);
    f.azs.add(id, activeAzs(c));
    if (c.certificateNotAfter !== null) f.clusterCert.add(id, seconds(c.certificateNotAfter));
  }

  // Missing clusters are remembered per target, so the series holds its value while CloudHSM is unreachable.
  for (const t of snapshot.targets) {
    for (const id of t.cloudHsm?.missingClusterIds ?? []) f.missing.add({ account_id: t.accountId, region: t.region, cloudhsm_cluster_id: id }, 1);
  }
  for (const c of snapshot.clusters) f.missing.add({ account_id: c.accountId, region: c.region, cloudhsm_cluster_id: c.id }, 0);

  const byStatus = new Map<string, number>(TARGET_STATUSES.map((st) => [st, 0]));
  for (const t of snapshot.targets) {
    byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
    // Only polled targets have per-target series: a region not enabled or denied by an SCP is not a
    // target that is down (KeystoreWatchTargetDown reads keystore_watch_target_up == 0).
    if (t.status !== 'ok' && t.status !== 'failed') continue;
    const id = { account_id: t.accountId, region: t.region };
    f.up.add(id, t.ok ? 1 : 0);
    if (t.lastSuccessAt !== null) f.lastOk.add(id, seconds(t.lastSuccessAt));
    f.tDur.add(id, t.durationMs / 1000);
    f.tFail.add(id, t.consecutiveFailures);
    if (t.cloudHsm) f.hsmUp.add(id, t.cloudHsm.ok ? 1 : 0);
    if (t.cloudWatch) f.cwUp.add(id, t.cloudWatch.ok ? 1 : 0);
  }
  for (const [status, n] of byStatus) f.targets.add({ status }, n);

  const accounts = new Set<string>();
  for (const t of snapshot.targets) {
    if (accounts.has(t.accountId)) continue;
    accounts.add(t.accountId);
    f.account.add(accountInfoLabels(t), 1);
  }

  return Object.values(f).flatMap((fam) => fam.render());
}
