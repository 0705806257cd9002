// Snapshot diff: a pure function of the previous snapshot, the next one and a small persisted carry.
//
// Decisions:
//  - Baseline, not flood. A target's stores produce changes only once that target has a baseline: a successful
//    answer in `prev` or one remembered in the carry. The very first poll (prev null), a newly monitored
//    account/region, and a target that answers for the first time after failing since install all produce no
//    "store added" changes, only a baseline. A restart with the persisted prev diffs normally (no flood).
//  - Removal is two-step. A store is "removed" only when its target answered and the store was absent on two
//    consecutive successful polls of that target. The first absence is remembered in `carry.absent` with the
//    last known record; failed polls of the target neither count nor reset it (stale records are not absence);
//    a store that reappears clears it, and is diffed against that last known record (no "added").
//  - A target that disappears from the snapshot (no longer monitored) removes nothing; its carry is dropped.
//  - Target unreachable/recovered are transitions between two polls that both list the target.
//  - Change ids: a SHA-256 of the change's content (which includes pollId and `at`), so the same inputs give the
//    same id (idempotency key) and one change never collides with another.
// Cost: O(stores) with Maps keyed by storeKey.
import { createHash } from 'node:crypto';
import { withActors, type ChangeActorSummary } from './actors.js';
import {
  storeKey, targetKey,
  type ConnectionErrorCode, type ConnectionState, type Snapshot, type StoreRecord, type StoreType, type TargetError, type TargetOutcome,
} from '../model.js';

export type ChangeType =
  | 'store_added'
  | 'store_removed'
  | 'state_changed'
  | 'error_code_changed'
  | 'config_changed'
  | 'target_unreachable'
  | 'target_recovered';

/** Configuration fields whose change is reported. The trust anchor is compared by fingerprint, never text. */
export type ConfigField =
  | 'name'
  | 'clusterId'
  | 'xksUriEndpoint'
  | 'xksUriPath'
  | 'xksConnectivity'
  | 'xksVpcEndpointServiceName'
  | 'trustAnchorSha256';

interface ChangeBase {
  /** Idempotency key: deterministic from the content, pollId included. */
  id: string;
  /** next.finishedAt */
  at: number;
  pollId: number;
  accountId: string;
  accountName: string;
  region: string;
}

interface StoreChangeBase extends ChangeBase {
  storeId: string;
  storeName: string;
  storeType: StoreType;
  /** Who made the change, as CloudTrail recorded it (diff/actors.ts); absent when not looked up. */
  actor?: ChangeActorSummary;
}

export interface StoreAddedChange extends StoreChangeBase { type: 'store_added'; state: ConnectionState; errorCode: ConnectionErrorCode | null }
export interface StoreRemovedChange extends StoreChangeBase {
  type: 'store_removed';
  /** State in the last record that saw the store. */
  lastState: ConnectionState;
  /** finishedAt of the first successful poll that no longer listed the store. */
  missingSince: number;
}
export interface StateChangedChange extends StoreChangeBase {
  type: 'state_changed';
  from: ConnectionState;
  to: ConnectionState;
  fromErrorCode: ConnectionErrorCode | null;
  toErrorCode: ConnectionErrorCode | null;
}
export interface ErrorCodeChangedChange extends StoreChangeBase { type: 'error_code_changed'; from: ConnectionErrorCode | null; to: ConnectionErrorCode | null }
export interface ConfigChangedChange extends StoreChangeBase {
  type: 'config_changed';
  fields: ConfigField[];
  before: Partial<Record<ConfigField, string | null>>;
  after: Partial<Record<ConfigField, string | null>>;
}
export interface TargetUnreachableChange extends ChangeBase { type: 'target_unreachable'; error: TargetError | null }
export interface TargetRecoveredChange extends ChangeBase {
  type: 'target_recovered';
  /** Failed polls before this answer. */
  failedPolls: number;
}

export type Change =
  | StoreAddedChange
  | StoreRemovedChange
  | StateChangedChange
  | ErrorCodeChangedChange
  | ConfigChangedChange
  | TargetUnreachableChange
  | TargetRecoveredChange;

export interface AbsentStore {
  /** Last record that saw the store (to report the removal and to diff a reappearance against). */
  record: StoreRecord;
  /** Successful polls of its target in a row without the store (only 1 is ever persisted: 2 is a removal). */
  absences: number;
  /** finishedAt of the first of them. */
  since: number;
}

/** Persisted alongside the last snapshot; small: one entry per target and per store currently missing once. */
export interface DiffCarry {
  version: 1;
  /** Target keys that have answered at least once (their new stores are "added", not a baseline). */
  baselined: string[];
  /** storeKey -> first absence. */
  absent: Record<string, AbsentStore>;
}

export const emptyDiffCarry = (): DiffCarry => ({ version: 1, baselined: [], absent: {} });

/** How many consecutive successful polls must lack a store before it is reported removed. */
export const REMOVAL_ABSENCES = 2;

function configOf(s: StoreRecord): Record<ConfigField, string | null> {
  return {
    name: s.name,
    clusterId: s.clusterId,
    xksUriEndpoint: s.xks?.uriEndpoint ?? null,
    xksUriPath: s.xks?.uriPath ?? null,
    xksConnectivity: s.xks?.connectivity ?? null,
    xksVpcEndpointServiceName: s.xks?.vpcEndpointServiceName ?? null,
    trustAnchorSha256: s.trustAnchorSha256,
  };
}
const CONFIG_FIELDS = Object.keys(configOf({ xks: null } as StoreRecord)) as ConfigField[];

/** Distributes Omit over the union so each member keeps its own fields. */
type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;

function withId(c: DistributiveOmit<Change, 'id'>): Change {
  // Content-addressed: JSON of the change (stable key order: we build the objects) including pollId and at.
  const id = `${c.type}:${createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 32)}`;
  return { id, ...c } as Change;
}

const storeBase = (s: StoreRecord, at: number, pollId: number) => ({
  at, pollId, accountId: s.accountId, accountName: s.accountName, region: s.region, storeId: s.id, storeName: s.name, storeType: s.type,
});
const targetBase = (t: TargetOutcome, at: number, pollId: number) => ({ at, pollId, accountId: t.accountId, accountName: t.accountName, region: t.region });

function diffStore(prev: StoreRecord, next: StoreRecord, at: number, pollId: number, out: Change[]): void {
  if (prev.state !== next.state) {
    out.push(withId({ type: 'state_changed', ...storeBase(next, at, pollId), from: prev.state, to: next.state, fromErrorCode: prev.errorCode, toErrorCode: next.errorCode }));
  } else if (next.state === 'FAILED' && prev.errorCode !== next.errorCode) {
    out.push(withId({ type: 'error_code_changed', ...storeBase(next, at, pollId), from: prev.errorCode, to: next.errorCode }));
  }
  const a = configOf(prev);
  const b = configOf(next);
  const fields = CONFIG_FIELDS.filter((f) => a[f] !== b[f]);
  if (fields.length > 0) {
    const before: Partial<Record<ConfigField, string | null>> = {};
    const after: Partial<Record<ConfigField, string | null>> = {};
    for (const f of fields) { before[f] = a[f]; after[f] = b[f]; }
    out.push(withId({ type: 'config_changed', ...storeBase(next, at, pollId), fields, before, after }));
  }
}

export function diffSnapshots(prev: Snapshot | null, next: Snapshot, carry: DiffCarry): { changes: Change[]; carry: DiffCarry } {
  const at = next.finishedAt;
  const pollId = next.pollId;
  const changes: Change[] = [];
  const prevTargets = new Map((prev?.targets ?? []).map((t) => [targetKey(t), t]));
  const nextTargets = new Map(next.targets.map((t) => [targetKey(t), t]));
  const wasBaselined = new Set(carry.baselined);
  for (const [k, t] of prevTargets) if (t.ok) wasBaselined.add(k);

  // Targets: transitions, and which targets' store lists are trustworthy and diffable this poll.
  const diffable = new Set<string>(); // answered now and had a baseline
  const baselined: string[] = [];
  for (const [k, t] of nextTargets) {
    const before = prevTargets.get(k);
    if (before?.ok && !t.ok) changes.push(withId({ type: 'target_unreachable', ...targetBase(t, at, pollId), error: t.error }));
    if (before && !before.ok && t.ok) changes.push(withId({ type: 'target_recovered', ...targetBase(t, at, pollId), failedPolls: before.consecutiveFailures }));
    if (t.ok && wasBaselined.has(k)) diffable.add(k);
    if (t.ok || wasBaselined.has(k)) baselined.push(k);
  }

  const nextStores = new Map<string, StoreRecord>();
  for (const s of next.stores) nextStores.set(storeKey(s), s);
  const prevStores = new Map<string, StoreRecord>();
  for (const s of prev?.stores ?? []) prevStores.set(storeKey(s), s);

  // Present stores of answering targets: added, or diffed against the last known record.
  for (const [k, s] of nextStores) {
    if (s.stale || !diffable.has(targetKey(s))) continue;
    const before = prevStores.get(k) ?? carry.absent[k]?.record;
    if (!before) changes.push(withId({ type: 'store_added', ...storeBase(s, at, pollId), state: s.state, errorCode: s.errorCode }));
    else diffStore(before, s, at, pollId, changes);
  }

  // Absences. Candidates: last poll's stores plus stores already missing once.
  const absent: Record<string, AbsentStore> = {};
  const consider = (k: string, record: StoreRecord, earlier: AbsentStore | undefined): void => {
    if (nextStores.has(k)) return; // present (or carried stale): not absent, any earlier absence is cleared
    const tk = targetKey(record);
    const t = nextTargets.get(tk);
    if (!t) return; // target no longer monitored: forget, report nothing
    if (!t.ok || !diffable.has(tk)) {
      if (earlier) absent[k] = earlier; // failed poll: neither counts nor resets
      return;
    }
    const absences = (earlier?.absences ?? 0) + 1;
    const since = earlier?.since ?? at;
    if (absences >= REMOVAL_ABSENCES) {
      changes.push(withId({ type: 'store_removed', ...storeBase(record, at, pollId), lastState: record.state, missingSince: since }));
    } else {
      absent[k] = { record: { ...record, stale: false }, absences, since };
    }
  };
  for (const [k, s] of prevStores) consider(k, s, carry.absent[k]);
  for (const [k, a] of Object.entries(carry.absent)) if (!prevStores.has(k)) consider(k, a.record, a);

  return { changes: withActors(changes, next), carry: { version: 1, baselined, absent } };
}
