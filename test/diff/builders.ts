// Small builders for snapshots in unit tests of the diff and the alert engine (no I/O).
import type { ClusterRecord, HsmRecord, ProbeResult, Snapshot, StoreRecord, TargetOutcome } from '../../src/model.js';
import type { Config } from '../../src/config/schema.js';
import type { AlertSubject, Condition, Guidance } from '../../src/model.js';

export const T0 = Date.UTC(2025, 0, 1);
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export const ACCOUNT = '111111111111';
export const REGION = 'eu-west-1';

export function store(over: Partial<StoreRecord> & { id: string }): StoreRecord {
  return {
    accountId: ACCOUNT, accountName: 'prod', region: REGION, name: `store ${over.id}`, type: 'AWS_CLOUDHSM', state: 'CONNECTED',
    errorCode: null, clusterId: over.type === 'EXTERNAL_KEY_STORE' ? null : `cluster-${over.id}`, xks: null, trustAnchorSha256: over.type === 'EXTERNAL_KEY_STORE' ? null : 'ab'.repeat(32),
    trustAnchorNotAfter: null, createdAt: T0 - 100 * DAY, stateSince: T0 - DAY, stale: false, ...over,
  };
}

export function target(over: Partial<TargetOutcome> = {}): TargetOutcome {
  return {
    accountId: ACCOUNT, accountName: 'prod', region: REGION, ok: true, error: null, durationMs: 100, lastSuccessAt: T0,
    consecutiveFailures: 0, cloudHsm: { ok: true, error: null }, ...over, status: over.status ?? (over.ok === false ? 'failed' : 'ok'),
  };
}

export const hsm = (id: string, az: string, state = 'ACTIVE'): HsmRecord => ({ id, availabilityZone: az, subnetId: null, eniIp: null, state });

export function cluster(over: Partial<ClusterRecord> & { id: string }): ClusterRecord {
  return {
    accountId: ACCOUNT, region: REGION, state: 'ACTIVE', stateMessage: null, vpcId: 'vpc-1', hsmType: 'hsm2m.medium',
    hsms: [hsm(`hsm-${over.id}-a`, `${REGION}a`), hsm(`hsm-${over.id}-b`, `${REGION}b`)], certificateNotAfter: null, stateSince: T0 - DAY, stale: false, ...over,
  };
}

export function snapshot(pollId: number, at: number, parts: { stores?: StoreRecord[]; targets?: TargetOutcome[]; clusters?: ClusterRecord[]; probes?: ProbeResult[] }): Snapshot {
  return { pollId, startedAt: at - 1000, finishedAt: at, stores: parts.stores ?? [], clusters: parts.clusters ?? [], targets: parts.targets ?? [target()], probes: parts.probes ?? [] };
}

export const alerting = (over: Partial<Config['alerting']> = {}): Config['alerting'] => ({
  confirmations: 2, repeatInterval: 4 * HOUR, connectingTimeout: { AWS_CLOUDHSM: 20 * MIN, EXTERNAL_KEY_STORE: 5 * MIN }, targetDownAfter: 3,
  groupThreshold: 5, certificateExpiryWarning: 30 * DAY, clusterUpdateTimeout: HOUR, expectDisconnected: [], maintenanceWindows: [], flapping: { changes: 4, window: 10 * MIN }, channels: [], historyLimit: 5000, outboxLimit: 10000, outboxMaxAttempts: 50, outboxMaxAge: 6 * HOUR, deadLetterLimit: 500, ...over,
});

export const probeConfig = (over: Partial<Config['probe']> = {}): Config['probe'] => ({ enabled: false, interval: MIN, ratePerSecond: 1, failuresBeforeAlert: 3, ...over });

/** A stand-in for the real guidance table: enough to see that inputs reach it. */
export const fakeGuidance = (c: Condition, s: AlertSubject): Guidance => ({
  title: `${c} ${s.storeId ?? s.clusterId ?? `${s.accountId}/${s.region}`}`, summary: c, cause: s.errorCode ?? '', steps: [], commands: [], docs: [], runbookAnchor: c.toLowerCase(),
});
