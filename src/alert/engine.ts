// The alert lifecycle (Gatus/Alertmanager style), a pure function of (previous alert state, snapshot, config, now).
//
// Per subject (store, CloudHSM cluster, target) and condition:
//  - a condition fires once it has held for `confirmations` consecutive *observed* polls (one `firing`);
//  - while it holds, a `reminder` every `repeatInterval`;
//  - it resolves with exactly one `resolved` after `confirmations` consecutive polls without it
//    (FAILED: the store CONNECTED again); a condition that never fired disappears silently.
//
// Decisions (see also the tests and fixtures under test/fixtures/alert-scenarios):
//  - Stale data freezes. A store record carried over from a failed target, or cluster data from a failed
//    CloudHSM enrichment, is not an observation: the alerts depending on it neither advance, fire nor resolve,
//    and no new alert is opened from it. That is what keeps AWS outages from sending false "failed"/"recovered".
//  - Confirmations count polls, never time, so a clock jump cannot fire anything by itself. Time-based
//    predicates (CONNECTING longer than the timeout, certificate expiry, cluster update timeout) and the
//    reminder interval read `now`, so a jump forward may legitimately make one true, still subject to
//    confirmations (tested in engine.test.ts "clock jump"). A step back past the last notification restarts
//    the reminder interval at the new time (a stall bounded by repeatInterval, not by the step).
//  - TARGET_DOWN and PROBE_FAILING are already counts of consecutive failures (targetDownAfter,
//    probe.failuresBeforeAlert): they fire on the first poll that reaches the count, and once firing any
//    further failure keeps them held (hysteresis) so one good answer between failures cannot resolve them.
//  - FAILED whose error code changes while firing stays one alert (one PagerDuty incident): once the new code
//    has held for `confirmations` polls, a new `firing` notification with the new code is sent (an update,
//    id `${alertKey}:firing:${firedAt}:${n}`), and the reminder timer restarts.
//  - FAILED resolves only on CONNECTED polls; DISCONNECTED/CONNECTING/DISCONNECTING while it fires (the
//    operator's disconnect -> fix -> connect) keep it open without reminders and reset the resolve count.
//  - A subject that disappears (store absent from a successful poll of its target, target no longer
//    monitored, cluster no longer referenced) counts as "not holding"; to match the diff's removal rule it
//    needs max(confirmations, 2) such polls, then its firing alerts resolve with details "Resolution".
//  - Confirmations are hysteresis both ways: a pending condition fires after `confirmations` holding polls
//    and is dropped only after `confirmations` polls in a row without it (a FAILED/CONNECTED flap every
//    poll therefore fires FAILED on its second FAILED poll instead of resetting forever).
//  - Anything but CONNECTED is a problem: a ConnectionState, cluster state or HSM state this release does
//    not know (AWS adds enum values) raises UNKNOWN_STATE / CLUSTER_UNKNOWN_STATE (critical) with the raw value.
//  - FLAPPING is computed from a per-store history of state changes kept in the alert state (so it survives
//    a restart). A change is a flip between CONNECTED and not CONNECTED (the Prometheus rule counts the same:
//    changes() of the CONNECTED series): `flapping.changes` of them within `flapping.window` fire it (critical when the store spent
//    more than half the window not CONNECTED, else warning; escalation while firing sends an update), any
//    further change keeps it, and one poll after a whole window without a change resolves it.
//  - PROBE_FAILING counts only probe answers that show the store failing; AccessDenied raises one
//    PROBE_NOT_PERMITTED warning per account-region; throttled or inconclusive probes change nothing.
//  - Notification ids depend only on the state and the snapshot (never on `now`; a first firing on the
//    condition's since and the pollId, not on the poll's time), so replaying a poll after a
//    crash yields the same ids and the outbox deduplicates. The state, the outbox entries and the snapshot must
//    be persisted together; evaluating the same pollId twice against the state it produced is a no-op.
import type { Config } from '../config/schema.js';
import {
  SEVERITY_RANK, isKnownClusterState, isKnownConnectionState, isKnownHsmState, storeKey, targetKey,
  type AlertNotification, type AlertSubject, type ClusterRecord, type Condition, type Guidance, type ProbeOutcome, type ProbeResult,
  type Severity, type Snapshot, type StoreRecord, type TargetOutcome,
} from '../model.js';
import { SUBJECT_DETAIL, defaultSeverity } from './remediation/guidance.js';
import { deniedAction } from '../collect/target-errors.js';
import { DEFAULT_CLOUDWATCH_THRESHOLDS, observeCloudWatch } from './conditions/cloudwatch.js';
import { withChangeActors } from './conditions/change-actors.js';

export interface AlertEntry {
  alertKey: string;
  condition: Condition;
  /** `store:<account>/<region>/<id>`, `cluster:<account>/<region>/<clusterId>` or `target:<account>/<region>`. */
  subjectKey: string;
  /** Latest observed description (names, state, code, details); what notifications carry. */
  subject: AlertSubject;
  severity: Severity;
  /** Consecutive observed polls the condition held (reset by a miss). */
  hits: number;
  /** Consecutive observed polls it did not hold (reset by a hit). */
  misses: number;
  firing: boolean;
  /** Snapshot finishedAt of the poll that fired; part of every notification id of this incident. */
  firedAt: number | null;
  /** Epoch ms the condition began (store stateSince for state conditions, else the first holding poll). */
  since: number;
  /** `now` of the last firing/reminder/update notification. */
  lastNotifiedAt: number | null;
  /** Reminders sent in this incident (the reminder sequence number). */
  reminders: number;
  /** Error-code updates sent in this incident (FAILED only). */
  updates: number;
  /** FAILED only: an error code different from the notified one, and for how many polls it has held. */
  pendingCode: string | null;
  pendingCodeHits: number;
  /** Snapshot finishedAt of the first poll of the current run of misses: when the condition ended. */
  clearedAt: number | null;
}

/** One store's recent ConnectionState history, for FLAPPING. */
export interface FlapTrack {
  /**
   * The state in force at the start of the window (its `at` may be older), then each change in the
   * window, oldest first. Pruned every poll; dropped once the store has not changed for a whole window.
   */
  points: { at: number; state: string }[];
}

export interface AlertState {
  version: 1;
  /** pollId of the last snapshot evaluated; the same poll evaluated again is a no-op. */
  lastPollId: number | null;
  alerts: Record<string, AlertEntry>;
  /** Per store subject key: recent state changes (FLAPPING). Absent in state written before it existed. */
  flaps?: Record<string, FlapTrack>;
}

export interface FiringAlert {
  alertKey: string;
  condition: Condition;
  severity: Severity;
  subject: AlertSubject;
  since: number;
  firedAt: number;
  lastNotifiedAt: number | null;
}

export interface EvaluateInput {
  state: AlertState;
  snapshot: Snapshot;
  /** The snapshot before `snapshot` (null on the first poll): where state changes are read from for FLAPPING. */
  previous?: Snapshot | null;
  alerting: Config['alerting'];
  probe: Config['probe'];
  /** CloudWatch finding thresholds (default: the schema's). */
  cloudwatch?: Config['cloudwatch'];
  now: number;
  guidanceFor: (c: Condition, s: AlertSubject) => Guidance;
  severityFor?: (c: Condition) => Severity;
}

export interface EvaluateResult {
  state: AlertState;
  notifications: AlertNotification[];
}

export const emptyAlertState = (): AlertState => ({ version: 1, lastPollId: null, alerts: {}, flaps: {} });

export const alertKeyOf = (condition: Condition, subjectKey: string): string => `${condition}:${subjectKey}`;
export const storeSubjectKey = (s: { accountId: string; region: string; id: string }): string => `store:${storeKey(s)}`;
export const clusterSubjectKey = (accountId: string, region: string, clusterId: string): string => `cluster:${accountId}/${region}/${clusterId}`;
export const targetSubjectKey = (t: { accountId: string; region: string }): string => `target:${targetKey(t)}`;
/** Findings about a whole account (SCP_DENIED). */
export const accountSubjectKey = (accountId: string): string => `account:${accountId}`;

/** What one poll says about one alert key. */
type Observation =
  /** `severity` overrides the condition's default (FLAPPING: critical when mostly not CONNECTED). */
  | { kind: 'hit'; subject: AlertSubject; since: number; code?: string | null; severity?: Severity }
  | { kind: 'miss'; subject?: AlertSubject }
  /** Not holding, but not a reason to resolve either (FAILED store being reconnected); resets the resolve count. */
  | { kind: 'neutral'; subject?: AlertSubject }
  /** The subject is gone: a miss that needs max(confirmations, 2) in a row. */
  | { kind: 'absent' }
  /** Data is stale: nothing changes. */
  | { kind: 'frozen' };

const STORE_CONDITIONS = ['FAILED', 'CONNECTING_TOO_LONG', 'DISCONNECTED', 'PROBE_FAILING', 'TRUST_ANCHOR_EXPIRING', 'UNKNOWN_STATE', 'FLAPPING'] as const satisfies readonly Condition[];
const CLUSTER_CONDITIONS = ['CLUSTER_MISSING', 'CLUSTER_NOT_ACTIVE', 'NO_ACTIVE_HSMS', 'SINGLE_AZ', 'HSM_DEGRADED', 'CLUSTER_CERT_EXPIRING', 'CLUSTER_UNKNOWN_STATE'] as const satisfies readonly Condition[];
/** Most points a flap track keeps (alerting.flapping.changes is at most 100). */
const MAX_FLAP_POINTS = 256;
/** The IAM action the probe needs (PROBE_NOT_PERMITTED names it). */
export const PROBE_ACTION = 'kms:GenerateRandom';
/** Cluster states that are normal for a while (an update, a creation); alert only past clusterUpdateTimeout. */
const TRANSITIONAL_CLUSTER_STATES = new Set(['UPDATE_IN_PROGRESS', 'MODIFY_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'INITIALIZE_IN_PROGRESS']);
const DAY = 86_400_000;

const iso = (ms: number): string => new Date(ms).toISOString();
const daysLeft = (notAfter: number, now: number): string => String(Math.floor((notAfter - now) / DAY));

/** Shared by every subject of an account without tags (subjects are built several times per store and poll). */
const NO_TAGS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function storeSubject(s: StoreRecord, details: Record<string, string> = {}): AlertSubject {
  // The account's OU path and tags ride along, for routing and for the people reading the alert.
  return {
    accountId: s.accountId, accountName: s.accountName, ouPath: s.ouPath ?? null, tags: s.tags ?? NO_TAGS, region: s.region, storeId: s.id, storeName: s.name,
    storeType: s.type, state: s.state, errorCode: s.errorCode, clusterId: s.clusterId, details,
  };
}

function targetSubject(t: TargetOutcome): AlertSubject {
  const details: Record<string, string> = { 'Failed polls': String(t.consecutiveFailures), 'Last success': t.lastSuccessAt === null ? 'never' : iso(t.lastSuccessAt) };
  if (t.error) { details.Error = t.error.code; details.Message = t.error.message; }
  // An access denial names the IAM action the role lacks; the guidance points at it.
  const action = t.error && /^AccessDenied/.test(t.error.code) ? deniedAction(t.error.message) : null;
  if (action) details[SUBJECT_DETAIL.deniedAction] = action;
  return { accountId: t.accountId, accountName: t.accountName, ouPath: t.ouPath ?? null, tags: t.tags ?? NO_TAGS, region: t.region, storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details };
}

/**
 * SCP_DENIED: one finding per account whose regions a service control policy denies (status denied), listing
 * the regions; warning severity, not the blind-spot page TARGET_DOWN is. Its subject's region is the first
 * denied region, so the finding is "absent" once that region is no longer monitored.
 */
function observeDeniedAccounts(targets: readonly TargetOutcome[], ctx: Ctx, record: (c: Condition, key: string, o: Observation) => void): void {
  const byAccount = new Map<string, TargetOutcome[]>();
  for (const t of targets) {
    const list = byAccount.get(t.accountId);
    if (list) list.push(t); else byAccount.set(t.accountId, [t]);
  }
  for (const [accountId, list] of byAccount) {
    const denied = list.filter((t) => t.status === 'denied').sort((a, b) => (a.region < b.region ? -1 : 1));
    const key = accountSubjectKey(accountId);
    if (denied.length === 0) { record('SCP_DENIED', key, { kind: 'miss' }); continue; }
    const first = denied[0]!;
    const details: Record<string, string> = { [SUBJECT_DETAIL.deniedRegions]: denied.map((t) => t.region).join(', ') };
    if (first.error) {
      details.Error = first.error.code;
      details.Message = first.error.message;
      const action = deniedAction(first.error.message);
      if (action) details[SUBJECT_DETAIL.deniedAction] = action;
    }
    record('SCP_DENIED', key, { kind: 'hit', since: ctx.at, subject: {
      accountId, accountName: first.accountName, ouPath: first.ouPath ?? null, tags: first.tags ?? NO_TAGS, region: first.region, storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details,
    } });
  }
}

interface Ctx {
  alerting: Config['alerting'];
  probe: Config['probe'];
  now: number;
  at: number;
  expectDisconnected: Set<string>;
  probes: Map<string, ProbeResult>;
  state: AlertState;
  /** The previous snapshot's store by store key (FLAPPING reads the state changes from it); indexed on first use. */
  prevStore: (key: string) => StoreRecord | undefined;
  /** The flap tracks of this poll, built from state.flaps. */
  flaps: Record<string, FlapTrack>;
}

/** A probe result's classification; snapshots written before outcomes existed only have `ok`. */
const outcomeOf = (p: ProbeResult): ProbeOutcome => p.outcome ?? (p.ok ? 'ok' : 'failing');

const isFiring = (ctx: Ctx, condition: Condition, subjectKey: string): boolean => ctx.state.alerts[alertKeyOf(condition, subjectKey)]?.firing === true;

function connectingTimeout(alerting: Config['alerting'], type: string): number {
  const t = alerting.connectingTimeout as Record<string, number>;
  // An unknown (future) store type gets the longer of the two timeouts: better late than falsely.
  return t[type] ?? Math.max(alerting.connectingTimeout.AWS_CLOUDHSM, alerting.connectingTimeout.EXTERNAL_KEY_STORE);
}

/** Observations of the store-level conditions for one fresh store record. */
function observeStore(s: StoreRecord, ctx: Ctx, sk: string): [Condition, Observation][] {
  const out: [Condition, Observation][] = [];
  // One subject object for every observation without details (they are copied, never mutated): the
  // engine runs over every store each poll.
  const plain = storeSubject(s);
  // FAILED: only CONNECTED counts towards resolving (decision documented above).
  if (s.state === 'FAILED') out.push(['FAILED', { kind: 'hit', subject: storeSubject(s), since: s.stateSince, code: s.errorCode }]);
  else if (s.state === 'CONNECTED') out.push(['FAILED', { kind: 'miss', subject: plain }]);
  else out.push(['FAILED', { kind: 'neutral', subject: plain }]);

  const timeout = connectingTimeout(ctx.alerting, s.type);
  if (s.state === 'CONNECTING' && (ctx.now - s.stateSince > timeout || isFiring(ctx, 'CONNECTING_TOO_LONG', sk))) {
    out.push(['CONNECTING_TOO_LONG', { kind: 'hit', subject: storeSubject(s, { 'Connecting since': iso(s.stateSince), 'Minutes': String(Math.floor((ctx.now - s.stateSince) / 60_000)) }), since: s.stateSince }]);
  } else out.push(['CONNECTING_TOO_LONG', { kind: 'miss', subject: plain }]);

  if (s.state === 'DISCONNECTED' && !ctx.expectDisconnected.has(s.id)) out.push(['DISCONNECTED', { kind: 'hit', subject: storeSubject(s), since: s.stateSince }]);
  else out.push(['DISCONNECTED', { kind: 'miss', subject: plain }]);

  // "Connected but failing": only a CONNECTED CloudHSM store is probed (AWS rejects GenerateRandom for XKS).
  // Only answers that show the store failing count; denied/throttled/inconclusive say nothing about it.
  const probe = ctx.probes.get(storeKey(s));
  const outcome = probe ? outcomeOf(probe) : null;
  if (!ctx.probe.enabled || s.state !== 'CONNECTED' || s.type !== 'AWS_CLOUDHSM') out.push(['PROBE_FAILING', { kind: 'miss', subject: plain }]);
  else if (!probe) out.push(['PROBE_FAILING', { kind: 'frozen' }]); // not probed yet: unknown
  else if (outcome === 'failing' && (probe.consecutiveFailures >= ctx.probe.failuresBeforeAlert || isFiring(ctx, 'PROBE_FAILING', sk))) {
    const details: Record<string, string> = { 'Failed probes': String(probe.consecutiveFailures) };
    if (probe.error) { details.Error = probe.error.code; details.Message = probe.error.message; }
    out.push(['PROBE_FAILING', { kind: 'hit', subject: storeSubject(s, details), since: ctx.at }]);
  } else if (outcome !== 'ok' && outcome !== 'failing') out.push(['PROBE_FAILING', { kind: 'frozen' }]); // no verdict this time
  else out.push(['PROBE_FAILING', { kind: 'miss', subject: plain }]);

  // A state this release does not know: the keys are unusable all the same (only CONNECTED works).
  if (!isKnownConnectionState(s.state)) {
    out.push(['UNKNOWN_STATE', { kind: 'hit', subject: storeSubject(s, { 'Connection state': s.state, 'State since': iso(s.stateSince) }), since: s.stateSince }]);
  } else out.push(['UNKNOWN_STATE', { kind: 'miss', subject: plain }]);

  out.push(['FLAPPING', observeFlapping(s, ctx, sk, plain)]);

  if (s.trustAnchorNotAfter !== null && s.trustAnchorNotAfter - ctx.now < ctx.alerting.certificateExpiryWarning) {
    out.push(['TRUST_ANCHOR_EXPIRING', { kind: 'hit', subject: storeSubject(s, { 'Expires': iso(s.trustAnchorNotAfter), 'Days left': daysLeft(s.trustAnchorNotAfter, ctx.now) }), since: ctx.at }]);
  } else out.push(['TRUST_ANCHOR_EXPIRING', { kind: 'miss', subject: plain }]);
  return out;
}

/**
 * Observations of the cluster findings for one referenced cluster. `stores` are the CloudHSM stores that
 * reference it (normally one: AWS lets a cluster back a single key store).
 */
function observeCluster(stores: StoreRecord[], cluster: ClusterRecord | undefined, enrichment: TargetOutcome['cloudHsm'] | undefined, ctx: Ctx, ck: string): [Condition, Observation][] {
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

function observeTarget(t: TargetOutcome, ctx: Ctx, tk: string): Observation {
  // Only a failed target is a blind spot: a region not enabled or denied by an SCP is an answer.
  if (t.status === 'failed' && (t.consecutiveFailures >= ctx.alerting.targetDownAfter || isFiring(ctx, 'TARGET_DOWN', tk))) {
    return { kind: 'hit', subject: targetSubject(t), since: t.lastSuccessAt ?? ctx.at };
  }
  // A failure below the threshold is not a recovery of a firing alert (isFiring above) nor a hit: a miss.
  return { kind: 'miss', subject: targetSubject(t) };
}

/** The probe is not permitted in this account-region (AccessDenied*): one warning per target, not per store. */
function observeProbePermission(t: TargetOutcome, probes: ProbeResult[] | undefined, ctx: Ctx): Observation {
  if (!ctx.probe.enabled) return { kind: 'miss' };
  if (!t.ok) return { kind: 'frozen' };
  const list = probes ?? [];
  const denied = list.filter((p) => outcomeOf(p) === 'denied');
  if (denied.length > 0) {
    const first = denied[0]!;
    const details: Record<string, string> = {
      'IAM action': PROBE_ACTION,
      'Denied probes': denied.length > 5 ? `${denied.slice(0, 5).map((p) => p.storeId).join(', ')} and ${denied.length - 5} more` : denied.map((p) => p.storeId).join(', '),
    };
    if (first.error) { details.Error = first.error.code; details.Message = first.error.message; }
    const subject: AlertSubject = { accountId: t.accountId, accountName: t.accountName, region: t.region, storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details };
    return { kind: 'hit', subject, since: ctx.at };
  }
  // Only throttled or inconclusive answers: nothing learnt about the permission this poll.
  if (list.length > 0 && list.every((p) => { const o = outcomeOf(p); return o === 'throttled' || o === 'inconclusive'; })) return { kind: 'frozen' };
  return { kind: 'miss' };
}

/**
 * FLAPPING for one fresh store: records a change against the previous snapshot in the store's track,
 * prunes the track to the window, and decides from it alone (pure: the track is part of the alert state).
 */
function observeFlapping(s: StoreRecord, ctx: Ctx, sk: string, plain: AlertSubject): Observation {
  const { changes: needed, window } = ctx.alerting.flapping;
  const windowStart = ctx.at - window;
  // The snapshot builder moves stateSince to the poll's time exactly when the state changed, so only
  // those stores need the previous snapshot (keeps the common no-change poll cheap at 20,000 stores).
  const prev = s.stateSince === ctx.at ? ctx.prevStore(storeKey(s)) : undefined;
  let track = ctx.state.flaps?.[sk];
  // Only flips between CONNECTED (keys usable) and anything else count: the operator's documented recovery
  // (FAILED -> DISCONNECTING -> DISCONNECTED -> CONNECTING -> CONNECTED) is one change, not four.
  if (prev && (prev.state === 'CONNECTED') !== (s.state === 'CONNECTED')) {
    const points = track ? [...track.points] : [{ at: Math.min(prev.stateSince, ctx.at), state: prev.state }];
    // A replayed or out-of-order poll never adds a point before the last one.
    if (ctx.at > points[points.length - 1]!.at) points.push({ at: ctx.at, state: s.state });
    // Bounded whatever the window: the oldest changes go first (the not-CONNECTED share then covers
    // the most recent MAX_FLAP_POINTS changes only; the count is far past any threshold anyway).
    if (points.length > MAX_FLAP_POINTS) points.splice(0, points.length - MAX_FLAP_POINTS);
    track = { points };
  }
  const firing = isFiring(ctx, 'FLAPPING', sk);
  if (!track) return { kind: 'miss', subject: plain };
  const points = [...track.points];
  while (points.length >= 2 && points[1]!.at <= windowStart) points.shift();
  const changes = points.length - 1;
  if (changes > 0 || firing) ctx.flaps[sk] = { points };
  if (changes === 0 || (changes < needed && !firing)) return { kind: 'miss', subject: plain };

  let notConnected = 0;
  for (let i = 0; i < points.length; i++) {
    const from = Math.max(points[i]!.at, windowStart);
    const to = i + 1 < points.length ? points[i + 1]!.at : ctx.at;
    if (points[i]!.state !== 'CONNECTED' && to > from) notConnected += to - from;
  }
  const share = notConnected / window;
  const recent = points.slice(-8).map((p) => p.state).join(' → ');
  return {
    kind: 'hit',
    severity: share > 0.5 ? 'critical' : 'warning',
    since: points[1]!.at,
    subject: storeSubject(s, {
      'State changes': `${changes} in the last ${formatWindow(window)}`,
      'Not CONNECTED': `${Math.round(share * 100)}% of the last ${formatWindow(window)}`,
      'Recent states': points.length > 8 ? `… → ${recent}` : recent,
    }),
  };
}

function lazyIndex(stores: readonly StoreRecord[]): (key: string) => StoreRecord | undefined {
  let index: Map<string, StoreRecord> | null = null;
  return (key) => (index ??= new Map(stores.map((s) => [storeKey(s), s]))).get(key);
}

function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/** Conditions whose input is already a count of consecutive failures (or of changes in a window): one poll at the count fires. */
const requiredHits = (c: Condition, alerting: Config['alerting']): number => (c === 'TARGET_DOWN' || c === 'PROBE_FAILING' || c === 'FLAPPING' ? 1 : alerting.confirmations);
/** FLAPPING's miss already means "stable for a whole window". */
const requiredMisses = (c: Condition, alerting: Config['alerting']): number => (c === 'FLAPPING' ? 1 : alerting.confirmations);

export function evaluateAlerts(input: EvaluateInput): EvaluateResult {
  const { snapshot, alerting, now, guidanceFor } = input;
  if (input.state.lastPollId !== null && snapshot.pollId === input.state.lastPollId) {
    return { state: input.state, notifications: [] };
  }
  const severityFor = input.severityFor ?? defaultSeverity;
  const at = snapshot.finishedAt;
  const ctx: Ctx = {
    alerting, probe: input.probe, now, at, state: input.state,
    expectDisconnected: new Set(alerting.expectDisconnected),
    probes: new Map(snapshot.probes.map((p) => [storeKey({ accountId: p.accountId, region: p.region, id: p.storeId }), p])),
    prevStore: lazyIndex(input.previous?.stores ?? []),
    flaps: {},
  };
  const targets = new Map(snapshot.targets.map((t) => [targetKey(t), t]));
  const prevAlerts = input.state.alerts;
  const observations = new Map<string, Observation>();
  // Only keep what matters: hits, and observations of keys that already have state. O(stores).
  const record = (condition: Condition, subjectKey: string, o: Observation): void => {
    const key = alertKeyOf(condition, subjectKey);
    if (o.kind === 'hit' || key in prevAlerts) observations.set(key, o);
  };

  const clusterRefs = new Map<string, StoreRecord[]>();
  for (const s of snapshot.stores) {
    const sk = storeSubjectKey(s);
    if (s.stale) for (const c of STORE_CONDITIONS) record(c, sk, { kind: 'frozen' });
    else for (const [c, o] of observeStore(s, ctx, sk)) record(c, sk, o);
    if (s.type === 'AWS_CLOUDHSM' && s.clusterId) {
      const ck = clusterSubjectKey(s.accountId, s.region, s.clusterId);
      const list = clusterRefs.get(ck);
      if (list) list.push(s); else clusterRefs.set(ck, [s]);
    }
  }
  const clusters = new Map(snapshot.clusters.map((c) => [clusterSubjectKey(c.accountId, c.region, c.id), c]));
  for (const [ck, stores] of clusterRefs) {
    stores.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const t = targets.get(targetKey(stores[0]!));
    for (const [c, o] of observeCluster(stores, clusters.get(ck), t?.cloudHsm, ctx, ck)) record(c, ck, o);
  }
  const probesByTarget = new Map<string, ProbeResult[]>();
  for (const s of snapshot.stores) {
    const p = ctx.probes.get(storeKey(s));
    // Only probes of stores that are probed now count (a store that left CONNECTED keeps no verdict here).
    if (!p || s.stale || s.state !== 'CONNECTED' || s.type !== 'AWS_CLOUDHSM') continue;
    const list = probesByTarget.get(targetKey(s));
    if (list) list.push(p); else probesByTarget.set(targetKey(s), [p]);
  }
  for (const t of snapshot.targets) {
    const tk = targetSubjectKey(t);
    record('TARGET_DOWN', tk, observeTarget(t, ctx, tk));
    record('PROBE_NOT_PERMITTED', tk, observeProbePermission(t, probesByTarget.get(targetKey(t)), ctx));
  }
  // Tracks of stale stores are kept as they are (nothing observed); tracks of stores gone are dropped.
  for (const s of snapshot.stores) {
    const sk = storeSubjectKey(s);
    if (s.stale && input.state.flaps?.[sk]) ctx.flaps[sk] = input.state.flaps[sk]!;
  }
  observeDeniedAccounts(snapshot.targets, ctx, record);
  // Registered condition sets (one file each under ./conditions).
  observeCloudWatch({
    snapshot, thresholds: input.cloudwatch ?? DEFAULT_CLOUDWATCH_THRESHOLDS, certificateWarning: alerting.certificateExpiryWarning,
    storeSubject, storeSubjectKey: (s) => storeSubjectKey(s), clusterSubjectKey,
  }, record);
  // "Who changed it" (CloudTrail) on the store findings about a change.
  withChangeActors(snapshot, observations);

  const alerts: Record<string, AlertEntry> = {};
  const notifications: AlertNotification[] = [];
  const notify = (e: AlertEntry, kind: AlertNotification['kind'], id: string, since: number): void => {
    notifications.push({ id, kind, severity: e.severity, condition: e.condition, alertKey: e.alertKey, subject: e.subject, guidance: guidanceFor(e.condition, e.subject), since, createdAt: now });
  };
  const fire = (e: AlertEntry): void => {
    e.firing = true;
    e.firedAt = at;
    e.lastNotifiedAt = now;
    // Not `at`: a restart after a crash between the outbox write and the alert-state write re-polls (new
    // finishedAt) under the same pollId from the same state; since + pollId make that replay the same id.
    notify(e, 'firing', `${e.alertKey}:firing:${e.since}:p${snapshot.pollId}`, e.since);
  };

  // Existing alerts, in state order (stable across replays).
  for (const key of Object.keys(prevAlerts)) {
    const prev = prevAlerts[key]!;
    const o: Observation = observations.get(key) ?? absentOrFrozen(prev, targets);
    const e: AlertEntry = { ...prev };
    switch (o.kind) {
      case 'frozen':
        alerts[key] = e;
        break;
      case 'hit': {
        e.hits += 1;
        e.misses = 0;
        e.clearedAt = null;
        const observed = o.severity ?? severityFor(e.condition);
        // A firing incident never de-escalates (its resolved must reach the channels its firing reached).
        const escalated = e.firing && SEVERITY_RANK[observed] > SEVERITY_RANK[e.severity];
        if (!e.firing || escalated) e.severity = observed;
        const notifiedCode = e.subject.errorCode;
        e.subject = o.subject;
        if (!e.firing) {
          if (e.hits >= requiredHits(e.condition, alerting)) fire(e);
        } else {
          let updated = false;
          if (escalated) {
            e.updates += 1;
            e.lastNotifiedAt = now;
            notify(e, 'firing', `${e.alertKey}:firing:${e.firedAt}:${e.updates}`, e.since);
            updated = true;
          }
          if (e.condition === 'FAILED' && !updated) {
            // Keep the notified code in the subject until the new one is confirmed, then send an update.
            const code = o.code ?? null;
            if (code === notifiedCode) {
              e.pendingCode = null;
              e.pendingCodeHits = 0;
            } else {
              e.pendingCodeHits = e.pendingCode === code ? e.pendingCodeHits + 1 : 1;
              e.pendingCode = code;
              if (e.pendingCodeHits >= alerting.confirmations) {
                e.updates += 1;
                e.pendingCode = null;
                e.pendingCodeHits = 0;
                e.lastNotifiedAt = now;
                e.subject = { ...o.subject, details: { ...o.subject.details, 'Previous error code': notifiedCode ?? 'none' } };
                notify(e, 'firing', `${e.alertKey}:firing:${e.firedAt}:${e.updates}`, e.since);
                updated = true;
              } else {
                e.subject = { ...o.subject, errorCode: notifiedCode };
              }
            }
          }
          // A wall clock stepped back past the last notification (NTP correcting a fast clock, a VM
          // restored from a snapshot) would otherwise hold reminders back by the size of the step:
          // restart the interval at the new time instead, so the gap is at most repeatInterval plus
          // the time already waited. A step forward can bring one reminder early, never more than one
          // (lastNotifiedAt moves to now).
          if (e.lastNotifiedAt !== null && e.lastNotifiedAt > now) e.lastNotifiedAt = now;
          if (!updated && e.lastNotifiedAt !== null && now - e.lastNotifiedAt >= alerting.repeatInterval) {
            e.reminders += 1;
            e.lastNotifiedAt = now;
            notify(e, 'reminder', `${e.alertKey}:reminder:${e.firedAt}:${e.reminders}`, e.since);
          }
        }
        alerts[key] = e;
        break;
      }
      case 'neutral':
        // Not holding, not recovered: a pending alert counts it as a miss (below), a firing one waits (and stops reminding).
        if (!e.firing) {
          e.misses += 1;
          if (e.misses < alerting.confirmations) alerts[key] = e;
          break;
        }
        if (o.subject) e.subject = { ...o.subject, errorCode: e.subject.errorCode };
        e.misses = 0;
        e.clearedAt = null;
        e.hits = 0;
        alerts[key] = e;
        break;
      case 'miss':
      case 'absent': {
        if (!e.firing) {
          // Never fired: a pending condition keeps its hits until it has been gone for `confirmations`
          // polls in a row (hysteresis), so a condition holding every other poll still fires. A subject
          // that is gone drops it at once.
          e.misses += 1;
          if (o.kind === 'miss' && e.misses < requiredMisses(e.condition, alerting)) alerts[key] = e;
          break;
        }
        if (o.kind === 'miss' && o.subject) e.subject = { ...o.subject, errorCode: e.condition === 'FAILED' ? e.subject.errorCode : o.subject.errorCode, details: { ...e.subject.details, ...o.subject.details } };
        e.hits = 0;
        e.misses += 1;
        e.clearedAt ??= at;
        const needed = o.kind === 'absent' ? Math.max(requiredMisses(e.condition, alerting), 2) : requiredMisses(e.condition, alerting);
        if (e.misses >= needed) {
          if (o.kind === 'absent') e.subject = { ...e.subject, details: { ...e.subject.details, Resolution: absenceReason(e, targets) } };
          notify(e, 'resolved', `${e.alertKey}:resolved:${e.firedAt}`, e.clearedAt);
          break; // entry removed
        }
        alerts[key] = e;
        break;
      }
    }
  }

  // New conditions: observed holding, no state yet.
  for (const [key, o] of observations) {
    if (key in prevAlerts || o.kind !== 'hit') continue;
    const sep = key.indexOf(':');
    const condition = key.slice(0, sep) as Condition;
    const e: AlertEntry = {
      alertKey: key, condition, subjectKey: key.slice(sep + 1), subject: o.subject, severity: o.severity ?? severityFor(condition),
      hits: 1, misses: 0, firing: false, firedAt: null, since: o.since, lastNotifiedAt: null, reminders: 0, updates: 0,
      pendingCode: null, pendingCodeHits: 0, clearedAt: null,
    };
    if (e.hits >= requiredHits(condition, alerting)) fire(e);
    alerts[key] = e;
  }

  // A track outlives its changes only while its FLAPPING alert fires (it needs the track to resolve).
  for (const sk of Object.keys(ctx.flaps)) {
    if (ctx.flaps[sk]!.points.length < 2 && !alerts[alertKeyOf('FLAPPING', sk)]) delete ctx.flaps[sk];
  }
  return { state: { version: 1, lastPollId: snapshot.pollId, alerts, flaps: ctx.flaps }, notifications };
}

/** No observation for an existing alert: its subject is gone, unless its target is failing (stale: freeze). */
function absentOrFrozen(e: AlertEntry, targets: Map<string, TargetOutcome>): Observation {
  const t = targets.get(targetKey(e.subject));
  if (t && !t.ok) return { kind: 'frozen' };
  return { kind: 'absent' };
}

function absenceReason(e: AlertEntry, targets: Map<string, TargetOutcome>): string {
  if (!targets.has(targetKey(e.subject))) return 'The account/region is no longer monitored';
  if (e.subjectKey.startsWith('store:')) return 'The key store no longer exists';
  if (e.subjectKey.startsWith('cluster:')) return 'No key store references this cluster any more';
  return 'The subject no longer exists';
}

/** Firing alerts for /api/v1/alerts: most severe first, then oldest. */
export function firingAlerts(state: AlertState): FiringAlert[] {
  const out: FiringAlert[] = [];
  for (const e of Object.values(state.alerts)) {
    if (!e.firing || e.firedAt === null) continue;
    out.push({ alertKey: e.alertKey, condition: e.condition, severity: e.severity, subject: e.subject, since: e.since, firedAt: e.firedAt, lastNotifiedAt: e.lastNotifiedAt });
  }
  return out.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.firedAt - b.firedAt || (a.alertKey < b.alertKey ? -1 : 1));
}

/** For the keystore_watch_alerts_firing{severity} gauge: every severity present, zeros included. */
export function firingCountBySeverity(state: AlertState): Record<Severity, number> {
  const counts: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const e of Object.values(state.alerts)) if (e.firing) counts[e.severity] += 1;
  return counts;
}
