// Builders for snapshot data in unit tests.
import type { ClusterRecord, Snapshot, StoreRecord, TargetOutcome } from '../../src/model.js';

export function store(over: Partial<StoreRecord> = {}): StoreRecord {
  return {
    accountId: '111111111111', accountName: 'prod', region: 'us-east-1', id: 'cks-0000000000000001', name: 'hsm-store', type: 'AWS_CLOUDHSM',
    state: 'CONNECTED', errorCode: null, clusterId: 'cluster-abcdefghijk', xks: null, trustAnchorSha256: null, trustAnchorNotAfter: null,
    createdAt: 1_700_000_000_000, stateSince: 1_700_000_000_000, stale: false, ...over,
  };
}

export function target(over: Partial<TargetOutcome> = {}): TargetOutcome {
  return { accountId: '111111111111', accountName: 'prod', region: 'us-east-1', ok: true, error: null, durationMs: 12, lastSuccessAt: 1_700_000_000_000, consecutiveFailures: 0, cloudHsm: null, ...over, status: over.status ?? (over.ok === false ? 'failed' : 'ok') };
}

export function cluster(over: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    accountId: '111111111111', region: 'us-east-1', id: 'cluster-abcdefghijk', state: 'ACTIVE', stateMessage: null, vpcId: 'vpc-1', hsmType: 'hsm1.medium',
    hsms: [{ id: 'hsm-1', availabilityZone: 'us-east-1a', subnetId: 'subnet-1', eniIp: '10.0.0.1', state: 'ACTIVE' }],
    certificateNotAfter: null, stateSince: 1_700_000_000_000, stale: false, ...over,
  };
}

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return { pollId: 1, startedAt: 1_700_000_000_000, finishedAt: 1_700_000_001_000, stores: [], clusters: [], targets: [target()], probes: [], ...over };
}
