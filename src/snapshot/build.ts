// Builds the next immutable snapshot from one poll's raw results and the previous snapshot. Pure.
// The previous snapshot supplies history: when each state was first seen, and the last known stores of
// targets that failed this time (kept, marked stale, never reported as removed).
import type { AccountFacts, ChangeAttribution, ClusterHealthRecord, StoreHealthRecord, ClusterRecord, ProbeOutcome, ProbeResult, Snapshot, StoreRecord, Target, TargetOutcome, TargetStatus } from '../model.js';
import { storeKey, targetKey } from '../model.js';
import type { TargetPollResult } from '../collect/result.js';
import type { ObservedStore } from '../collect/key-stores.js';
import type { ObservedCluster } from '../collect/clusters.js';
import { groupBy } from '../util/group-by.js';

export type { TargetPollResult };

/**
 * The account's OU path and tags as discovery knows them now: they come from Organizations or the config,
 * not from the target's answer, so they apply to stale records too (an account moved to another OU while
 * its target fails is still routed to its new owner). Only the facts the target carries.
 */
function accountFacts(t: Target): AccountFacts {
  const out: AccountFacts = {};
  if (t.ouPath !== undefined) out.ouPath = t.ouPath;
  if (t.tags !== undefined) out.tags = t.tags;
  return out;
}

/**
 * Equal as JSON would see them: the same keys with equal values, plain objects and arrays compared by
 * content (records are small and flat: an xks block, tags, a cluster's HSM list). Pure.
 */
export function sameRecord(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameRecord(x, b[i]));
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || !sameRecord((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/**
 * The previous snapshot's record when the new one says the same, else the new one. Snapshots are immutable,
 * so consecutive snapshots share every record that did not change: at 20,000 stores the previous snapshot
 * and the next one (both alive while the poll is diffed and evaluated) cost little more than one, and the
 * strings a poll parsed for unchanged stores die young instead of reaching the old generation.
 */
function reuse<T>(old: T | undefined, next: T): T {
  return old !== undefined && sameRecord(old, next) ? old : next;
}

// The records below are built as literals with every key written out, in one order, and never by spreading
// the observed record (`{ ...s, stale }`). V8 gives an object cloned by a spread from a record whose fields
// mix numbers and null (trustAnchorNotAfter, certificateNotAfter, the CloudWatch figures) a hidden class of
// its own: at 20,066 stores a heap snapshot held 20,024 store and 7,981 cluster hidden classes, one per
// record (~0.5 KB each with their descriptor arrays), and every later stage that reads records (diff, alert
// conditions, metric rendering, the commit) went megamorphic on them. A literal shares one hidden class per
// shape (test/snapshot/build-shapes.test.ts).

/** A store as this poll reports it: the observed record, the account's name and facts, its history. */
function storeRecord(s: ObservedStore | StoreRecord, accountName: string, facts: AccountFacts, stateSince: number, stale: boolean): StoreRecord {
  const r: StoreRecord = {
    accountId: s.accountId, region: s.region, id: s.id, name: s.name, type: s.type, state: s.state, errorCode: s.errorCode,
    clusterId: s.clusterId, xks: s.xks, trustAnchorSha256: s.trustAnchorSha256, trustAnchorNotAfter: s.trustAnchorNotAfter, createdAt: s.createdAt,
    accountName,
    stateSince, stale,
  };
  // Only the facts known (discovery's now, else the record's own): absent keys stay absent, as JSON keeps them.
  const ouPath = facts.ouPath !== undefined ? facts.ouPath : (s as StoreRecord).ouPath;
  const tags = facts.tags !== undefined ? facts.tags : (s as StoreRecord).tags;
  if (ouPath !== undefined) r.ouPath = ouPath;
  if (tags !== undefined) r.tags = tags;
  return r;
}

function clusterRecord(c: ObservedCluster | ClusterRecord, stateSince: number, stale: boolean): ClusterRecord {
  const r: ClusterRecord = {
    accountId: c.accountId, region: c.region, id: c.id, state: c.state, stateMessage: c.stateMessage, vpcId: c.vpcId, hsmType: c.hsmType,
    hsms: c.hsms, certificateNotAfter: c.certificateNotAfter, stateSince, stale,
  };
  // Absent in snapshots written before it existed.
  if (c.subnetAzs !== undefined) r.subnetAzs = c.subnetAzs;
  return r;
}

function storeHealthRecord(accountId: string, region: string, h: Omit<StoreHealthRecord, 'accountId' | 'region' | 'stale'>, stale: boolean): StoreHealthRecord {
  return {
    accountId, region, storeId: h.storeId, certificateDaysToExpire: h.certificateDaysToExpire, credentialAgeDays: h.credentialAgeDays,
    keyManagers: h.keyManagers, errors: h.errors, requests: h.requests, latencyMs: h.latencyMs, throttled: h.throttled, stale,
  };
}

function clusterHealthRecord(accountId: string, region: string, c: Omit<ClusterHealthRecord, 'accountId' | 'region' | 'stale'>, stale: boolean): ClusterHealthRecord {
  return { accountId, region, clusterId: c.clusterId, hsmUnhealthy: c.hsmUnhealthy, stale };
}

/** Account, then region, then the record's own id (a store's or cluster's id, a health record's storeId or clusterId). */
const locationOrder = <T extends { accountId: string; region: string }>(id: (x: T) => string) => (a: T, b: T) =>
  a.accountId.localeCompare(b.accountId) || a.region.localeCompare(b.region) || id(a).localeCompare(id(b));
const byLocation = locationOrder((x: { accountId: string; region: string; id: string }) => x.id);

export function buildSnapshot(prev: Snapshot | null, results: readonly TargetPollResult[], times: { pollId: number; startedAt: number; finishedAt: number }): Snapshot {
  const prevStores = new Map<string, StoreRecord>((prev?.stores ?? []).map((s) => [storeKey(s), s]));
  const prevStoresByTarget = groupBy(prev?.stores ?? [], targetKey);
  const prevClustersByTarget = groupBy(prev?.clusters ?? [], targetKey);
  const prevClusters = new Map<string, ClusterRecord>((prev?.clusters ?? []).map((c) => [storeKey(c), c]));
  const prevTargets = new Map<string, TargetOutcome>((prev?.targets ?? []).map((t) => [targetKey(t), t]));
  const prevProbes = new Map<string, ProbeResult>((prev?.probes ?? []).map((p) => [`${p.accountId}/${p.region}/${p.storeId}`, p]));
  const prevProbesByTarget = groupBy(prev?.probes ?? [], targetKey);
  const seenAt = times.finishedAt;

  const stores: StoreRecord[] = [];
  const clusters: ClusterRecord[] = [];
  const targets: TargetOutcome[] = [];
  const probes: ProbeResult[] = [];
  const storeHealth: StoreHealthRecord[] = [];
  const clusterHealth: ClusterHealthRecord[] = [];
  const changeActors: ChangeAttribution[] = [];
  const prevHealthByTarget = groupBy(prev?.storeHealth ?? [], targetKey);
  const prevClusterHealthByTarget = groupBy(prev?.clusterHealth ?? [], targetKey);
  const prevActorsByTarget = groupBy(prev?.changeActors ?? [], targetKey);

  for (const r of results) {
    const tk = targetKey(r.target);
    const before = prevTargets.get(tk);
    const ok = r.stores !== null;
    const facts = accountFacts(r.target);
    if (r.stores) {
      for (const s of r.stores) {
        const old = prevStores.get(storeKey(s));
        stores.push(reuse(old, storeRecord(s, r.target.accountName, facts, old && old.state === s.state ? old.stateSince : seenAt, false)));
      }
    } else {
      for (const s of prevStoresByTarget.get(tk) ?? []) stores.push(reuse(s, storeRecord(s, s.accountName, facts, s.stateSince, true)));
      // Their last probe results stay with them (like the stores, not observed this poll) rather than vanishing.
      for (const p of prevProbesByTarget.get(tk) ?? []) probes.push(p);
    }

    let cloudHsm: TargetOutcome['cloudHsm'] = null;
    if (r.cloudHsm.attempted) {
      cloudHsm = { ok: r.cloudHsm.clusters !== null, error: r.cloudHsm.error, missingClusterIds: before?.cloudHsm?.missingClusterIds ?? [] };
      if (r.cloudHsm.clusters) {
        const returned = new Set(r.cloudHsm.clusters.map((c) => c.id));
        const referenced = new Set((r.stores ?? []).filter((s) => s.type === 'AWS_CLOUDHSM' && s.clusterId).map((s) => s.clusterId!));
        cloudHsm.missingClusterIds = [...referenced].filter((id) => !returned.has(id)).sort();
        for (const c of r.cloudHsm.clusters) {
          const old = prevClusters.get(storeKey(c));
          clusters.push(reuse(old, clusterRecord(c, old && old.state === c.state ? old.stateSince : seenAt, false)));
        }
      } else {
        for (const c of prevClustersByTarget.get(tk) ?? []) clusters.push(reuse(c, clusterRecord(c, c.stateSince, true)));
      }
    } else if (!ok) {
      // The store walk failed, so we do not know whether enrichment was needed: keep what we knew.
      for (const c of prevClustersByTarget.get(tk) ?? []) clusters.push(reuse(c, clusterRecord(c, c.stateSince, true)));
      if (before?.cloudHsm) cloudHsm = { ok: false, error: r.error, missingClusterIds: before.cloudHsm.missingClusterIds ?? [] };
    }

    for (const p of r.probes) {
      const old = prevProbes.get(`${r.target.accountId}/${r.target.region}/${p.storeId}`);
      const outcome: ProbeOutcome = p.outcome ?? (p.ok ? 'ok' : 'failing');
      const base = { accountId: r.target.accountId, region: r.target.region, storeId: p.storeId, outcome, durationMs: p.durationMs, error: p.error, at: seenAt };
      if (outcome === 'ok' || outcome === 'failing') {
        probes.push({ ...base, ok: outcome === 'ok', consecutiveFailures: outcome === 'ok' ? 0 : (old?.consecutiveFailures ?? 0) + 1 });
      } else if (outcome === 'denied') {
        // Not permitted says nothing about the store: the failure count stands, the verdict too.
        probes.push({ ...base, ok: old?.ok ?? false, consecutiveFailures: old?.consecutiveFailures ?? 0 });
      } else if (old) {
        // Throttled or inconclusive: keep the last verdict (retried at the next interval, never a failure).
        probes.push({ ...base, ok: old.ok, consecutiveFailures: old.consecutiveFailures });
      }
      // ... and with no verdict yet, the store stays "not probed yet".
    }

    // Stores not probed this poll (not yet due) keep their last probe result while they remain probe-able.
    if (ok) {
      const probed = new Set(r.probes.map((p) => p.storeId));
      for (const s of r.stores!) {
        if (probed.has(s.id) || s.state !== 'CONNECTED' || s.type !== 'AWS_CLOUDHSM') continue;
        const old = prevProbes.get(`${r.target.accountId}/${r.target.region}/${s.id}`);
        if (old) probes.push(old);
      }
    }

    // CloudWatch: fresh facts, or the last known ones marked stale when it could not be read (or the
    // target itself failed); the stores are never touched by it.
    let cloudWatch: TargetOutcome['cloudWatch'] = null;
    const cw = r.cloudWatch;
    if (ok && cw?.attempted && cw.reading) {
      const present = new Set(r.stores!.map((s) => s.id));
      for (const h of cw.reading.stores) if (present.has(h.storeId)) storeHealth.push(storeHealthRecord(r.target.accountId, r.target.region, h, false));
      for (const c of cw.reading.clusters) clusterHealth.push(clusterHealthRecord(r.target.accountId, r.target.region, c, false));
      cloudWatch = { ok: true, denied: false, error: null };
    } else if (ok && cw && !cw.attempted && 'reused' in cw) {
      // Read less than a period ago: the last reading stands as it was.
      const present = new Set(r.stores!.map((s) => s.id));
      for (const h of prevHealthByTarget.get(tk) ?? []) if (present.has(h.storeId)) storeHealth.push(h);
      for (const c of prevClusterHealthByTarget.get(tk) ?? []) clusterHealth.push(c);
      cloudWatch = before?.cloudWatch ?? null;
    } else if (!ok || cw?.attempted) {
      const present = ok ? new Set(r.stores!.map((s) => s.id)) : null;
      for (const h of prevHealthByTarget.get(tk) ?? []) if (!present || present.has(h.storeId)) storeHealth.push(storeHealthRecord(h.accountId, h.region, h, true));
      for (const c of prevClusterHealthByTarget.get(tk) ?? []) clusterHealth.push(clusterHealthRecord(c.accountId, c.region, c, true));
      if (cw?.attempted) cloudWatch = { ok: false, denied: cw.denied, error: cw.error };
      else if (before?.cloudWatch) cloudWatch = { ...before.cloudWatch, ok: false };
    }
    for (const a of (ok && r.changeActors) ? r.changeActors : prevActorsByTarget.get(tk) ?? []) changeActors.push(a);

    const status: TargetStatus = ok ? 'ok' : (r.status ?? 'failed');
    targets.push({
      accountId: r.target.accountId,
      accountName: r.target.accountName,
      ...facts,
      region: r.target.region,
      status,
      ok,
      error: ok ? null : r.error,
      durationMs: r.durationMs,
      lastSuccessAt: ok ? seenAt : (before?.lastSuccessAt ?? null),
      // not_enabled and denied are answers, not failures: they never count toward TARGET_DOWN.
      consecutiveFailures: status === 'failed' ? (before?.consecutiveFailures ?? 0) + 1 : 0,
      cloudHsm: reuse(before?.cloudHsm ?? undefined, cloudHsm),
      ...(cloudWatch ? { cloudWatch: reuse(before?.cloudWatch ?? undefined, cloudWatch) } : {}),
    });
  }

  stores.sort(byLocation);
  clusters.sort(byLocation);
  targets.sort((a, b) => a.accountId.localeCompare(b.accountId) || a.region.localeCompare(b.region));
  const out: Snapshot = { pollId: times.pollId, startedAt: times.startedAt, finishedAt: times.finishedAt, stores, clusters, targets, probes };
  // Only when there is something: snapshots of fleets without CloudWatch/CloudTrail data keep their shape.
  if (storeHealth.length) out.storeHealth = storeHealth.sort(locationOrder((h) => h.storeId));
  if (clusterHealth.length) out.clusterHealth = clusterHealth.sort(locationOrder((c) => c.clusterId));
  if (changeActors.length) out.changeActors = changeActors;
  return out;
}
