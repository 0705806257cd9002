// Renders the snapshot's metrics in the Prometheus text format. Pure and linear in the fleet, called once
// per poll; scrapes serve the cached bytes (a scrape never triggers AWS calls or re-rendering).
// The output is produced lazily, family after family, as UTF-8 chunks of about 64 KB: the exposition of a
// 20,000-store fleet is ~60 MB (~420,000 series). The daemon pipes the chunks straight into gzip
// (metrics/exposition.ts), so the whole text never exists in memory at once: one pass over the snapshot
// per family, each series written as a line of a 64 KB string that is encoded and handed on when full.
// Series exist only for what the latest snapshot holds, so a deleted store leaves no stale series.
import { CLUSTER_STATES, CONNECTION_STATES, HSM_STATES, TARGET_STATUSES, type ClusterRecord, type Snapshot, type TargetOutcome } from '../model.js';
import { tagLabelName } from '../util/prom-label.js';
import { redactLabel, secretsGeneration } from '../util/redact.js';

/** Label values from AWS may hold anything: redact (the one rule of util/redact.ts), escape per the exposition format, cap the length. */
export function escapeLabel(value: string | null | undefined): string {
  const v = value ?? '';
  // A secret registered later (a reload) must be redacted from values escaped before it: start over.
  if (escapeMemoGeneration !== secretsGeneration()) {
    escapeMemo.clear();
    escapeMemoGeneration = secretsGeneration();
  }
  let out = escapeMemo.get(v);
  if (out === undefined) {
    out = escapeUncached(v);
    if (escapeMemo.size >= 200_000) escapeMemo.clear();
    escapeMemo.set(v, out);
  }
  return out;
}

function escapeUncached(value: string): string {
  const v = redactLabel(value);
  const capped = v.length > 1024 ? v.slice(0, 1024) : v;
  return capped.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Every label of every series is escaped once per poll (~420,000 at 20,000 stores) and the values repeat
 * poll after poll (ids, names, regions, states): one lookup instead of redaction plus three replaces was
 * 12 % of the main thread's work after a dense sweep (profiled). Bounded; dropped when the secrets change.
 */
const escapeMemo = new Map<string, string>();
let escapeMemoGeneration = -1;

const CHUNK_CHARS = 64 * 1024;

/**
 * Every family here is a value of the last poll, not of the scrape ("Writing exporters": say where a
 * value comes from and when): its HELP ends with this pointer to the poll's time.
 */
export const SNAPSHOT_HELP = ' From the last poll (at keystore_watch_last_poll_timestamp_seconds).';

type Labels = Record<string, string | null | undefined>;

/** Lines of the current family, with its HELP and TYPE written before its first series (a family without series writes nothing). */
class ChunkWriter {
  private pending = '';
  private name = '';
  private help = '';
  private headed = true;
  family(name: string, help: string): void {
    this.name = name;
    this.help = `${help}${SNAPSHOT_HELP}`;
    this.headed = false;
  }
  add(labels: Labels, value: number): void {
    if (!this.headed) {
      this.pending += `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
      this.headed = true;
    }
    let l = '';
    for (const k in labels) l += `${l ? ',' : ''}${k}="${escapeLabel(labels[k])}"`;
    this.pending += `${this.name}{${l}} ${formatValue(value)}\n`;
  }
  get full(): boolean {
    return this.pending.length >= CHUNK_CHARS;
  }
  /** The pending lines as UTF-8 (whole lines only), or null when there are none. */
  take(): Buffer | null {
    if (!this.pending) return null;
    const b = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    return b;
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

/** The exposition as a string (tests, tools); the daemon gzips the chunks as they come. */
export function renderSnapshotMetrics(snapshot: Snapshot): string {
  return Buffer.concat(renderSnapshotMetricsChunks(snapshot)).toString('utf8');
}

/** The exposition as UTF-8 chunks, in order (all of them at once: tests, tools). */
export function renderSnapshotMetricsChunks(snapshot: Snapshot): Buffer[] {
  return [...renderSnapshotMetricsStream(snapshot)];
}

/**
 * The exposition as UTF-8 chunks of whole lines, produced on demand: one pass over the snapshot per
 * family, in the families' fixed order, so only the chunk being filled is held.
 */
export function* renderSnapshotMetricsStream(snapshot: Snapshot): Generator<Buffer, void, undefined> {
  const w = new ChunkWriter();
  const full = () => (w.full ? w.take() : null);
  let c: Buffer | null;

  w.family('kms_custom_key_store_info', 'Custom key store metadata; always 1.');
  for (const s of snapshot.stores) {
    w.add({
      account_id: s.accountId, account_name: s.accountName, region: s.region, custom_key_store_id: s.id, custom_key_store_name: s.name,
      custom_key_store_type: s.type, cloudhsm_cluster_id: s.clusterId ?? '', xks_connectivity: s.xks?.connectivity ?? '',
    }, 1);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_connection_state', 'Connection state of the custom key store (state-set: 1 for the current state).');
  for (const s of snapshot.stores) {
    for (const state of CONNECTION_STATES) w.add({ account_id: s.accountId, region: s.region, custom_key_store_id: s.id, state }, s.state === state ? 1 : 0);
    // A state AWS added after this release still shows up instead of vanishing.
    if (!(CONNECTION_STATES as readonly string[]).includes(s.state)) w.add({ account_id: s.accountId, region: s.region, custom_key_store_id: s.id, state: s.state }, 1);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_connection_error', 'Connection error code of a FAILED custom key store; 1 for the current code.');
  for (const s of snapshot.stores) {
    if (s.state === 'FAILED') w.add({ account_id: s.accountId, region: s.region, custom_key_store_id: s.id, code: s.errorCode ?? 'UNKNOWN' }, 1);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_creation_timestamp_seconds', 'When the custom key store was created.');
  for (const s of snapshot.stores) {
    if (s.createdAt !== null) w.add(storeId(s), seconds(s.createdAt));
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_state_since_timestamp_seconds', 'When the current connection state was first observed.');
  for (const s of snapshot.stores) {
    w.add(storeId(s), seconds(s.stateSince));
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_stale', '1 when the store is carried over from an earlier poll because its target failed.');
  for (const s of snapshot.stores) {
    w.add(storeId(s), s.stale ? 1 : 0);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_trust_anchor_not_after_timestamp_seconds', 'Expiry of the store trust anchor certificate.');
  for (const s of snapshot.stores) {
    if (s.trustAnchorNotAfter !== null) w.add(storeId(s), seconds(s.trustAnchorNotAfter));
    if ((c = full())) yield c;
  }

  w.family('kms_custom_key_store_probe_success', '1 when the last GenerateRandom probe against the store succeeded.');
  for (const p of snapshot.probes) {
    // A denied probe has no verdict about the store: no success series, so the Prometheus rule stays quiet.
    if (p.outcome !== 'denied') w.add({ account_id: p.accountId, region: p.region, custom_key_store_id: p.storeId }, p.ok ? 1 : 0);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_probe_duration_seconds', 'Duration of the last GenerateRandom probe.');
  for (const p of snapshot.probes) {
    w.add({ account_id: p.accountId, region: p.region, custom_key_store_id: p.storeId }, p.durationMs / 1000);
    if ((c = full())) yield c;
  }

  w.family('aws_cloudhsm_cluster_state', 'CloudHSM cluster state (state-set: 1 for the current state).');
  for (const cl of snapshot.clusters) {
    for (const state of CLUSTER_STATES) w.add({ account_id: cl.accountId, region: cl.region, cloudhsm_cluster_id: cl.id, state }, cl.state === state ? 1 : 0);
    if (!CLUSTER_STATES.includes(cl.state)) w.add({ account_id: cl.accountId, region: cl.region, cloudhsm_cluster_id: cl.id, state: cl.state }, 1);
    if ((c = full())) yield c;
  }
  w.family('aws_cloudhsm_cluster_hsms', 'Number of HSMs in the cluster per HSM state.');
  for (const cl of snapshot.clusters) {
    const counts = new Map<string, number>(HSM_STATES.map((st) => [st, 0]));
    for (const h of cl.hsms) counts.set(h.state, (counts.get(h.state) ?? 0) + 1);
    for (const [state, n] of counts) w.add({ account_id: cl.accountId, region: cl.region, cloudhsm_cluster_id: cl.id, state }, n);
    if ((c = full())) yield c;
  }
  w.family('aws_cloudhsm_cluster_active_hsm_availability_zones', 'Availability Zones with at least one ACTIVE HSM.');
  for (const cl of snapshot.clusters) {
    w.add(clusterId(cl), activeAzs(cl));
    if ((c = full())) yield c;
  }
  w.family('aws_cloudhsm_cluster_certificate_not_after_timestamp_seconds', 'Expiry of the cluster certificate.');
  for (const cl of snapshot.clusters) {
    if (cl.certificateNotAfter !== null) w.add(clusterId(cl), seconds(cl.certificateNotAfter));
    if ((c = full())) yield c;
  }

  w.family('keystore_watch_cluster_missing', '1 when a store references a cluster that DescribeClusters did not return.');
  // Missing clusters are remembered per target, so the series holds its value while CloudHSM is unreachable.
  for (const t of snapshot.targets) {
    for (const id of t.cloudHsm?.missingClusterIds ?? []) w.add({ account_id: t.accountId, region: t.region, cloudhsm_cluster_id: id }, 1);
    if ((c = full())) yield c;
  }
  for (const cl of snapshot.clusters) {
    w.add(clusterId(cl), 0);
    if ((c = full())) yield c;
  }

  // Only polled targets have per-target series: a region not enabled or denied by an SCP is not a
  // target that is down (KeystoreWatchTargetDown reads keystore_watch_target_up == 0).
  const polled = (t: TargetOutcome) => t.status === 'ok' || t.status === 'failed';
  w.family('keystore_watch_target_up', '1 when the account-region target answered the last poll.');
  for (const t of snapshot.targets) {
    if (polled(t)) w.add(targetId(t), t.ok ? 1 : 0);
    if ((c = full())) yield c;
  }
  w.family('keystore_watch_target_last_success_timestamp_seconds', 'When the target last answered.');
  for (const t of snapshot.targets) {
    if (polled(t) && t.lastSuccessAt !== null) w.add(targetId(t), seconds(t.lastSuccessAt));
    if ((c = full())) yield c;
  }
  w.family('keystore_watch_target_poll_duration_seconds', 'Duration of the target walk in the last poll.');
  for (const t of snapshot.targets) {
    if (polled(t)) w.add(targetId(t), t.durationMs / 1000);
    if ((c = full())) yield c;
  }
  w.family('keystore_watch_target_consecutive_failures', 'Failed polls in a row for the target.');
  for (const t of snapshot.targets) {
    if (polled(t)) w.add(targetId(t), t.consecutiveFailures);
    if ((c = full())) yield c;
  }
  w.family('keystore_watch_cloudhsm_enrichment_up', '1 when the CloudHSM DescribeClusters walk of the target succeeded.');
  for (const t of snapshot.targets) {
    if (polled(t) && t.cloudHsm) w.add(targetId(t), t.cloudHsm.ok ? 1 : 0);
    if ((c = full())) yield c;
  }

  // Per target that has probe results: how many were denied (0 once the probe is allowed again).
  w.family('keystore_watch_probe_denied', 'Key stores of the target whose last GenerateRandom probe was denied (AccessDenied: IAM or SCP).');
  const denied = new Map<string, { account_id: string; region: string; n: number }>();
  for (const p of snapshot.probes) {
    const k = `${p.accountId}/${p.region}`;
    const d = denied.get(k) ?? { account_id: p.accountId, region: p.region, n: 0 };
    if (p.outcome === 'denied') d.n += 1;
    denied.set(k, d);
  }
  for (const d of denied.values()) {
    w.add({ account_id: d.account_id, region: d.region }, d.n);
    if ((c = full())) yield c;
  }

  w.family('keystore_watch_account_info', 'Account owner facts (OU path, configured tags as tag_<key>); always 1.');
  const accounts = new Set<string>();
  for (const t of snapshot.targets) {
    if (accounts.has(t.accountId)) continue;
    accounts.add(t.accountId);
    w.add(accountInfoLabels(t), 1);
    if ((c = full())) yield c;
  }

  // CloudWatch facts: a metric without a recent datapoint has no series (absent, not zero).
  const health = snapshot.storeHealth ?? [];
  const hid = (h: (typeof health)[number]) => ({ account_id: h.accountId, region: h.region, custom_key_store_id: h.storeId });
  w.family('kms_custom_key_store_xks_proxy_certificate_expiry_seconds', 'Time left until the XKS proxy TLS certificate expires, in seconds (CloudWatch XksProxyCertificateDaysToExpire x 86400; day resolution); absent without a recent datapoint.');
  for (const h of health) {
    if (h.certificateDaysToExpire !== null) w.add(hid(h), h.certificateDaysToExpire * DAY_SECONDS);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_xks_proxy_credential_age_seconds', 'Time since the XKS proxy authentication credential was associated with the store, in seconds (CloudWatch XksProxyCredentialAge x 86400; day resolution).');
  for (const h of health) {
    if (h.credentialAgeDays !== null) w.add(hid(h), h.credentialAgeDays * DAY_SECONDS);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_xks_external_key_manager_state', 'External key manager instances per health state as the XKS proxy reports them (CloudWatch XksExternalKeyManagerStates): Active, Degraded, Unavailable.');
  for (const h of health) {
    if (h.keyManagers) {
      for (const state of XKS_KEY_MANAGER_STATES) w.add({ ...hid(h), state }, h.keyManagers[state] ?? 0);
      for (const [state, n] of Object.entries(h.keyManagers)) if (!XKS_KEY_MANAGER_STATES.includes(state)) w.add({ ...hid(h), state }, n);
    }
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_xks_proxy_errors', 'XKS proxy errors and timeouts in the last CloudWatch period by type (retryable, non_retryable) (CloudWatch XksProxyErrors).');
  for (const h of health) {
    if (h.errors) {
      w.add({ ...hid(h), type: 'retryable' }, h.errors.retryable);
      w.add({ ...hid(h), type: 'non_retryable' }, h.errors.nonRetryable);
    }
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_xks_proxy_requests', 'Requests KMS sent to the XKS proxy in the last CloudWatch period (CloudWatch XksProxyLatency SampleCount).');
  for (const h of health) {
    if (h.requests !== null) w.add(hid(h), h.requests);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_xks_proxy_latency_seconds', 'Average XKS proxy response time in the last CloudWatch period; KMS times out at 0.25 (CloudWatch XksProxyLatency).');
  for (const h of health) {
    if (h.latencyMs !== null) w.add(hid(h), h.latencyMs / 1000);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_throttled_requests', 'Requests KMS throttled for the store in the last CloudWatch period (ExternalKeyStoreThrottle, CloudHSMKeyStoreThrottle).');
  for (const h of health) {
    if (h.throttled !== null) w.add(hid(h), h.throttled);
    if ((c = full())) yield c;
  }
  w.family('kms_custom_key_store_cloudwatch_stale', '1 when the store\'s CloudWatch figures are the last known ones because CloudWatch could not be read.');
  for (const h of health) {
    w.add(hid(h), h.stale ? 1 : 0);
    if ((c = full())) yield c;
  }
  w.family('aws_cloudhsm_cluster_hsm_unhealthy', 'Unhealthy HSM instances in the cluster in the last CloudWatch period (CloudWatch AWS/CloudHSM HsmUnhealthy).');
  for (const h of snapshot.clusterHealth ?? []) {
    w.add({ account_id: h.accountId, region: h.region, cloudhsm_cluster_id: h.clusterId }, h.hsmUnhealthy);
    if ((c = full())) yield c;
  }
  w.family('keystore_watch_cloudwatch_up', '1 when the CloudWatch reads of the target succeeded in the last poll.');
  for (const t of snapshot.targets) {
    if (polled(t) && t.cloudWatch) w.add(targetId(t), t.cloudWatch.ok ? 1 : 0);
    if ((c = full())) yield c;
  }

  w.family('keystore_watch_targets', 'Account-region targets of the last poll by status: ok, failed, not_enabled (opt-in region the account has not enabled), denied (service control policy).');
  const byStatus = new Map<string, number>(TARGET_STATUSES.map((st) => [st, 0]));
  for (const t of snapshot.targets) byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
  for (const [status, n] of byStatus) w.add({ status }, n);

  if ((c = w.take())) yield c;
}

const storeId = (s: { accountId: string; region: string; id: string }) => ({ account_id: s.accountId, region: s.region, custom_key_store_id: s.id });
const clusterId = (cl: ClusterRecord) => ({ account_id: cl.accountId, region: cl.region, cloudhsm_cluster_id: cl.id });
const targetId = (t: TargetOutcome) => ({ account_id: t.accountId, region: t.region });
