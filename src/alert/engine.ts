// The alert lifecycle (Gatus/Alertmanager style), a pure function of (previous alert state, snapshot, config, now).
// What each poll observes comes from the condition sources in conditions/ (one file per subject kind,
// registered in conditions/index.ts); this file turns observations into alert state and notifications.
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
//    needs max(confirmations, REMOVAL_ABSENCES) such polls (diff.ts), then its firing alerts resolve with details "Resolution".
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
import { SEVERITY_RANK, storeKey, targetKey, type AlertNotification, type Condition, type Severity, type TargetOutcome } from '../model.js';
import { REMOVAL_ABSENCES } from '../diff/diff.js';
import { defaultSeverity } from './remediation/guidance.js';
import type { AlertEntry, AlertState, EvaluateInput, EvaluateResult, FiringAlert } from './alert-state.js';
import { CONDITION_SOURCES, type EvalContext, type Observation, type RecordObservation } from './conditions/index.js';
import { lazyIndex } from './conditions/context.js';
import { alertKeyOf, subjectKeyOfAlertKey, subjectKindOf } from './subject-key.js';
import { withChangeActors } from './conditions/change-actors.js';
import { alertLabels } from './labels.js';

export type { AlertEntry, AlertState, EvaluateInput, EvaluateResult, FiringAlert, FlapTrack } from './alert-state.js';
export { accountSubjectKey, alertKeyOf, clusterSubjectKey, storeSubjectKey, targetSubjectKey } from './subject-key.js';
export { PROBE_ACTION } from './conditions/probe.js';

export const emptyAlertState = (): AlertState => ({ version: 1, lastPollId: null, alerts: {}, flaps: {} });

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
  const ctx: EvalContext = {
    alerting, probe: input.probe, now, at, state: input.state,
    expectDisconnected: new Set(alerting.expectDisconnected),
    probes: new Map(snapshot.probes.map((p) => [storeKey({ accountId: p.accountId, region: p.region, id: p.storeId }), p])),
    prevStore: lazyIndex(input.previous?.stores ?? []),
    flaps: {},
    targets: new Map(snapshot.targets.map((t) => [targetKey(t), t])),
    cloudwatch: input.cloudwatch,
  };
  const prevAlerts = input.state.alerts;
  const observations = new Map<string, Observation>();
  // Only keep what matters: hits, and observations of keys that already have state. O(stores). A miss
  // (most observations: every healthy store, for every condition) is dropped on its subject before its
  // alert key is built.
  const subjectsWithState = new Set<string>();
  for (const key in prevAlerts) subjectsWithState.add(subjectKeyOfAlertKey(key));
  const record: RecordObservation = (condition, subjectKey, o) => {
    if (o.kind !== 'hit' && !subjectsWithState.has(subjectKey)) return;
    const key = alertKeyOf(condition, subjectKey);
    if (o.kind === 'hit' || key in prevAlerts) observations.set(key, o);
  };
  for (const source of CONDITION_SOURCES) source.observe(snapshot, ctx, record);
  // "Who changed it" (CloudTrail) on the store findings about a change (conditions/change-actors.ts).
  withChangeActors(snapshot, observations);
  const { targets } = ctx;

  const alerts: Record<string, AlertEntry> = {};
  const notifications: AlertNotification[] = [];
  const notify = (e: AlertEntry, kind: AlertNotification['kind'], id: string, since: number, reminder?: AlertNotification['reminder']): void => {
    notifications.push({
      id, kind, severity: e.severity, condition: e.condition, alertKey: e.alertKey, subject: e.subject, guidance: guidanceFor(e.condition, e.subject), since, createdAt: now,
      labels: alertLabels(e.condition, e.severity, e.subject), ...(reminder && { reminder }),
    });
  };
  // Reminders: every repeatInterval, or the shortest interval of the routes the alert takes (input.repeatIntervalFor).
  const repeatIntervalOf = (e: AlertEntry): number => input.repeatIntervalFor?.(alertLabels(e.condition, e.severity, e.subject)) ?? alerting.repeatInterval;
  const fire = (e: AlertEntry): void => {
    e.firing = true;
    e.firedAt = at;
    e.lastNotifiedAt = now;
    e.reminderAnchor = now;
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
            e.reminderAnchor = now;
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
                e.reminderAnchor = now;
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
          if (e.lastNotifiedAt !== null && e.lastNotifiedAt > now) e.lastNotifiedAt = e.reminderAnchor = now;
          if (!updated && e.lastNotifiedAt !== null && now - e.lastNotifiedAt >= repeatIntervalOf(e)) {
            const previous = e.lastNotifiedAt;
            e.reminders += 1;
            e.lastNotifiedAt = now;
            // State written before reminderAnchor existed: the firing is the anchor.
            notify(e, 'reminder', `${e.alertKey}:reminder:${e.firedAt}:${e.reminders}`, e.since, { anchor: Math.min(e.reminderAnchor ?? e.firedAt ?? previous, previous), previous });
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
        // A subject that is gone resolves on the poll the diff reports it removed (REMOVAL_ABSENCES), or later.
        const needed = o.kind === 'absent' ? Math.max(requiredMisses(e.condition, alerting), REMOVAL_ABSENCES) : requiredMisses(e.condition, alerting);
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
  const kind = subjectKindOf(e.subjectKey);
  if (kind === 'store') return 'The key store no longer exists';
  if (kind === 'cluster') return 'No key store references this cluster any more';
  return 'The subject no longer exists';
}

/** Firing alerts for /api/v1/alerts: most severe first, then oldest. */
export function firingAlerts(state: AlertState): FiringAlert[] {
  const out: FiringAlert[] = [];
  for (const e of Object.values(state.alerts)) {
    if (!e.firing || e.firedAt === null) continue;
    out.push({ alertKey: e.alertKey, condition: e.condition, severity: e.severity, subject: e.subject, since: e.since, firedAt: e.firedAt, lastNotifiedAt: e.lastNotifiedAt, labels: alertLabels(e.condition, e.severity, e.subject) });
  }
  return out.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.firedAt - b.firedAt || (a.alertKey < b.alertKey ? -1 : 1));
}

/** For the keystore_watch_alerts_firing{severity} gauge: every severity present, zeros included. */
export function firingCountBySeverity(state: AlertState): Record<Severity, number> {
  const counts: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const e of Object.values(state.alerts)) if (e.firing) counts[e.severity] += 1;
  return counts;
}
