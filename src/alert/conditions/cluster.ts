// CloudHSM cluster conditions, per cluster referenced by a CloudHSM key store: CLUSTER_MISSING,
// CLUSTER_NOT_ACTIVE, NO_ACTIVE_HSMS, SINGLE_AZ, HSM_DEGRADED, CLUSTER_CERT_EXPIRING, CLUSTER_UNKNOWN_STATE.
import { isKnownClusterState, isKnownHsmState, targetKey, type AlertSubject, type ClusterRecord, type Condition, type StoreRecord, type TargetOutcome } from '../../model.js';
import { SUBJECT_DETAIL } from '../remediation/guidance.js';
import { clusterSubjectKey } from '../subject-key.js';
import { daysLeft, isFiring, iso, storeSubject, type ConditionSource, type EvalContext, type Observation } from './context.js';

export const CLUSTER_CONDITIONS = ['CLUSTER_MISSING', 'CLUSTER_NOT_ACTIVE', 'NO_ACTIVE_HSMS', 'SINGLE_AZ', 'HSM_DEGRADED', 'CLUSTER_CERT_EXPIRING', 'CLUSTER_UNKNOWN_STATE'] as const satisfies readonly Condition[];
/** Cluster states that are normal for a while (an update, a creation); alert only past clusterUpdateTimeout. */
const TRANSITIONAL_CLUSTER_STATES = new Set(['UPDATE_IN_PROGRESS', 'MODIFY_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'INITIALIZE_IN_PROGRESS']);

/**
 * Observations of the cluster findings for one referenced cluster. `stores` are the CloudHSM stores that
 * reference it (normally one: AWS lets a cluster back a single key store).
 */
export function observeCluster(stores: StoreRecord[], cluster: ClusterRecord | undefined, enrichment: TargetOutcome['cloudHsm'] | undefined, ctx: EvalContext, ck: string): [Condition, Observation][] {
  const frozenAll = (): [Condition, Observation][] => CLUSTER_CONDITIONS.map((c) => [c, { kind: 'frozen' }]);
  // Stale store records or a failed/absent enrichment: nothing about the cluster is known this poll.
  if (stores.some((s) => s.stale) || !enrichment || !enrichment.ok) return frozenAll();
  const primary = stores.find((s) => s.state === 'CONNECTED') ?? stores[0]!;
  const base = (details: Record<string, string>): AlertSubject => storeSubject(primary, {
    ...(stores.length > 1 ? { 'Key stores': stores.map((s) => s.id).join(', ') } : {}), ...details,
  });
  if (!cluster) {
    // DescribeClusters answered without it: predicts CLUSTER_NOT_FOUND. The other findings have no data;
    // freezing them avoids a false "resolved" for, say, NO_ACTIVE_HSMS when a deleted cluster vanishes.
    return CLUSTER_CONDITIONS.map((c) => [c, c === 'CLUSTER_MISSING' ? { kind: 'hit', subject: base({}), since: ctx.at } : { kind: 'frozen' }]);
  }
  if (cluster.stale) return frozenAll();
  const out: [Condition, Observation][] = [['CLUSTER_MISSING', { kind: 'miss', subject: base({}) }]];
  const clusterDetails = { 'Cluster state': cluster.state, ...(cluster.stateMessage ? { 'State message': cluster.stateMessage } : {}) };

  // A state this release does not know is CLUSTER_UNKNOWN_STATE (critical), not also CLUSTER_NOT_ACTIVE.
  const knownState = isKnownClusterState(cluster.state);
  const unknownHsms = cluster.hsms.filter((h) => !isKnownHsmState(h.state));
  out.push(['CLUSTER_UNKNOWN_STATE', !knownState || unknownHsms.length > 0
    ? { kind: 'hit', subject: base({
      ...clusterDetails,
      ...(unknownHsms.length ? { 'HSMs in unknown states': unknownHsms.map((h) => `${h.id}: ${h.state}`).join(', ') } : {}),
      ...(unknownHsms[0] ? { [SUBJECT_DETAIL.hsmId]: unknownHsms[0].id } : {}),
    }), since: knownState ? ctx.at : cluster.stateSince }
    : { kind: 'miss', subject: base(clusterDetails) }]);

  const notActive = knownState && cluster.state !== 'ACTIVE' && (
    !TRANSITIONAL_CLUSTER_STATES.has(cluster.state)
    || ctx.now - cluster.stateSince > ctx.alerting.clusterUpdateTimeout
    || isFiring(ctx, 'CLUSTER_NOT_ACTIVE', ck));
  out.push(['CLUSTER_NOT_ACTIVE', notActive
    ? { kind: 'hit', subject: base({ ...clusterDetails, 'State since': iso(cluster.stateSince) }), since: cluster.stateSince }
    : { kind: 'miss', subject: base(clusterDetails) }]);

  const active = cluster.hsms.filter((h) => h.state === 'ACTIVE');
  const azs = new Set(active.map((h) => h.availabilityZone).filter((z): z is string => z !== null));
  // The guidance fills create-hsm's --availability-zone from these keys (SUBJECT_DETAIL).
  const hsmDetails: Record<string, string> = { 'Active HSMs': String(active.length), 'HSMs': String(cluster.hsms.length), [SUBJECT_DETAIL.activeAzs]: [...azs].sort().join(', ') || 'none' };
  if (cluster.subnetAzs?.length) hsmDetails[SUBJECT_DETAIL.clusterAzs] = cluster.subnetAzs.join(', ');
  const anyConnected = stores.some((s) => s.state === 'CONNECTED');
  out.push(['NO_ACTIVE_HSMS', active.length === 0 && anyConnected
    ? { kind: 'hit', subject: base(hsmDetails), since: ctx.at }
    : { kind: 'miss', subject: base(hsmDetails) }]);
  out.push(['SINGLE_AZ', active.length >= 1 && azs.size < 2
    ? { kind: 'hit', subject: base(hsmDetails), since: ctx.at }
    : { kind: 'miss', subject: base(hsmDetails) }]);

  const degraded = cluster.hsms.filter((h) => h.state === 'DEGRADED');
  out.push(['HSM_DEGRADED', degraded.length > 0
    ? { kind: 'hit', subject: base({
      'Degraded HSMs': degraded.map((h) => `${h.id}${h.availabilityZone ? ` (${h.availabilityZone})` : ''}`).join(', '),
      // The first degraded HSM is the one the guidance's create-hsm / delete-hsm commands name.
      [SUBJECT_DETAIL.hsmId]: degraded[0]!.id,
      ...(degraded[0]!.availabilityZone ? { [SUBJECT_DETAIL.hsmAz]: degraded[0]!.availabilityZone } : {}),
      ...hsmDetails,
    }), since: ctx.at }
    : { kind: 'miss', subject: base(hsmDetails) }]);

  const na = cluster.certificateNotAfter;
  out.push(['CLUSTER_CERT_EXPIRING', na !== null && na - ctx.now < ctx.alerting.certificateExpiryWarning
    ? { kind: 'hit', subject: base({ 'Expires': iso(na), 'Days left': daysLeft(na, ctx.now) }), since: ctx.at }
    : { kind: 'miss', subject: base({}) }]);
  return out;
}

export const clusterConditions: ConditionSource = {
  subject: 'cluster',
  conditions: CLUSTER_CONDITIONS,
  observe(snapshot, ctx, record) {
    const clusterRefs = new Map<string, StoreRecord[]>();
    for (const s of snapshot.stores) {
      if (s.type !== 'AWS_CLOUDHSM' || !s.clusterId) continue;
      const ck = clusterSubjectKey(s.accountId, s.region, s.clusterId);
      const list = clusterRefs.get(ck);
      if (list) list.push(s); else clusterRefs.set(ck, [s]);
    }
    const clusters = new Map(snapshot.clusters.map((c) => [clusterSubjectKey(c.accountId, c.region, c.id), c]));
    for (const [ck, stores] of clusterRefs) {
      stores.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const t = ctx.targets.get(targetKey(stores[0]!));
      for (const [c, o] of observeCluster(stores, clusters.get(ck), t?.cloudHsm, ctx, ck)) record(c, ck, o);
    }
  },
};
