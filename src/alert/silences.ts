// Muting: silences, maintenance windows and acknowledgements applied to what a poll decided to send.
// Pure functions of (notifications, alert state, on-call records, config, now): no I/O, no clock.
//
// Where it sits: after evaluateAlerts (the lifecycle is untouched: a muted alert still fires, reminds
// and resolves in the alert state, history, metrics and the API) and before groupForDelivery, so a
// muted alert never reaches the outbox. The decisions:
//  - a firing/reminder/resolved notification whose alert's labels match an active silence or an active
//    maintenance window is dropped. When a firing or reminder is dropped, the alert is "held" (MuteCarry);
//  - a held alert that is still firing once nothing mutes it any more gets ONE firing notification then
//    (not the backlog of reminders), id `${alertKey}:unmuted:${firedAt}:${at}`, and its reminder interval
//    restarts from that message. A held alert that resolves while muted sends nothing (on-call never heard
//    of it) and is forgotten;
//  - an acknowledged incident (same alertKey and firedAt) sends no reminders until it resolves or the
//    acknowledgement's `until` passes; updates (escalation, a new FAILED code) and the resolved message
//    still go, and the resolved message names who acknowledged it (subject details "Acknowledged by").
//  - alerting.expectDisconnected stays in the condition itself (conditions/store.ts): such a store never
//    raises DISCONNECTED, which is what a permanent silence of `alertname="KmsCustomKeyStoreDisconnected",
//    custom_key_store_id="..."` would do, minus even the state entry; it is listed as one in /api/v1/silences.
import type { AlertNotification, AlertSubject, Condition, Guidance, Severity } from '../model.js';
import type { AlertState } from './alert-state.js';

export type Labels = Record<string, string>;

/** A silence as created through the API/CLI (matchers in Alertmanager syntax, kept as written). */
export interface Silence {
  id: string;
  matchers: string[];
  /** Epoch ms. */
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  createdAt: number;
  /** Set by an explicit expiry (DELETE): who and when; endsAt is then moved to that time. */
  expiredBy?: string | null;
  expiredAt?: number | null;
}

/** An acknowledgement of one incident of one alert (alertKey + firedAt). */
export interface Ack {
  alertKey: string;
  /** The incident acknowledged: a later incident of the same alert is not acknowledged. */
  firedAt: number;
  by: string;
  comment: string;
  at: number;
  /** Epoch ms after which reminders resume; null: until the alert resolves. */
  until: number | null;
}

/** A maintenance window with its matchers compiled (config: alerting.maintenanceWindows). */
export interface CompiledWindow {
  name: string;
  matches: (labels: Labels) => boolean;
  /** When the window holds at `now`, its end (epoch ms); else null. */
  activeUntil: (now: number) => number | null;
}

/** A silence with its matchers compiled. */
export interface CompiledSilence extends Silence {
  matches: (labels: Labels) => boolean;
}

/** What mutes an alert right now. */
export type MuteReason =
  | { kind: 'silence'; id: string; until: number; createdBy: string; comment: string }
  | { kind: 'maintenance'; name: string; until: number };

/** Carried in the alert state document across polls: alerts whose messages were held back, by alertKey. */
export interface MuteCarry {
  held: Record<string, { firedAt: number; since: number }>;
}

export const emptyMuteCarry = (): MuteCarry => ({ held: {} });

export const silenceActive = (s: Silence, now: number): boolean => s.startsAt <= now && now < s.endsAt;

/** 'active' | 'pending' (starts later) | 'expired', as Alertmanager shows a silence's state. */
export function silenceStatus(s: Silence, now: number): 'active' | 'pending' | 'expired' {
  if (now >= s.endsAt) return 'expired';
  return now < s.startsAt ? 'pending' : 'active';
}

/** The first thing muting these labels at `now` (a silence before a window; the longest-lasting of each). */
export function muteReason(labels: Labels, silences: readonly CompiledSilence[], windows: readonly CompiledWindow[], now: number): MuteReason | null {
  let best: MuteReason | null = null;
  for (const s of silences) {
    if (!silenceActive(s, now) || !s.matches(labels)) continue;
    if (!best || s.endsAt > best.until) best = { kind: 'silence', id: s.id, until: s.endsAt, createdBy: s.createdBy, comment: s.comment };
  }
  if (best) return best;
  for (const w of windows) {
    const until = w.activeUntil(now);
    if (until === null || !w.matches(labels)) continue;
    if (!best || until > best.until) best = { kind: 'maintenance', name: w.name, until };
  }
  return best;
}

/** The acknowledgement in force for this incident at `now` (null when none, another incident's, or past `until`). */
export function activeAck(acks: ReadonlyMap<string, Ack>, alertKey: string, firedAt: number | null, now: number): Ack | null {
  const a = acks.get(alertKey);
  if (!a || firedAt === null || a.firedAt !== firedAt) return null;
  return a.until === null || now < a.until ? a : null;
}

/** The acknowledgement of this incident, whatever its `until` (the resolved message names it even after `until`). */
function ackOfIncident(acks: ReadonlyMap<string, Ack>, alertKey: string, firedAt: number | null): Ack | null {
  const a = acks.get(alertKey);
  return a && firedAt !== null && a.firedAt === firedAt ? a : null;
}

export interface MuteInput {
  notifications: AlertNotification[];
  /** The alert state after this poll's evaluation. */
  state: AlertState;
  carry: MuteCarry;
  silences: readonly CompiledSilence[];
  windows: readonly CompiledWindow[];
  acks: ReadonlyMap<string, Ack>;
  now: number;
  /** The labels of an alert (src/alert/labels.ts), from what the notification or the state entry carries. */
  labelsOf: (a: { alertKey: string; condition: Condition; severity: Severity; subject: AlertSubject }) => Labels;
  guidanceFor: (c: Condition, s: AlertSubject) => Guidance;
}

export interface MuteResult {
  /** What goes to the outbox. */
  notifications: AlertNotification[];
  /** What was held back (for the log and tests). */
  muted: { notification: AlertNotification; reason: MuteReason | { kind: 'acknowledged'; by: string } }[];
  /** The state with lastNotifiedAt moved for alerts sent on un-muting (their reminder interval restarts then). */
  state: AlertState;
  carry: MuteCarry;
}

export const ACK_DETAIL = 'Acknowledged by';

/** Applies silences, maintenance windows and acknowledgements to one poll's notifications. */
export function applyMuting(input: MuteInput): MuteResult {
  const { now, acks } = input;
  const held: MuteCarry['held'] = { ...input.carry.held };
  const out: AlertNotification[] = [];
  const muted: MuteResult['muted'] = [];
  const touched = new Set<string>();
  const entries = input.state.alerts;
  for (const n of input.notifications) {
    touched.add(n.alertKey);
    const reason = muteReason(n.labels ?? input.labelsOf(n), input.silences, input.windows, now);
    const firedAt = entries[n.alertKey]?.firedAt ?? firedAtOfId(n);
    if (reason) {
      muted.push({ notification: n, reason });
      if (n.kind === 'resolved') delete held[n.alertKey];
      else if (firedAt !== null) held[n.alertKey] = { firedAt, since: held[n.alertKey]?.since ?? now };
      continue;
    }
    if (n.kind === 'reminder') {
      const ack = activeAck(acks, n.alertKey, firedAt, now);
      if (ack) { muted.push({ notification: n, reason: { kind: 'acknowledged', by: ack.by } }); continue; }
    }
    if (n.kind === 'resolved') {
      delete held[n.alertKey];
      const ack = ackOfIncident(acks, n.alertKey, firedAt);
      if (ack) {
        out.push({ ...n, subject: { ...n.subject, details: { ...n.subject.details, [ACK_DETAIL]: ackText(ack) } } });
        continue;
      }
    } else {
      // A firing/reminder that goes out is the message the held one would have been.
      delete held[n.alertKey];
    }
    out.push(n);
  }
  // Held alerts that nothing mutes any more and that still fire: one message now.
  let alerts = entries;
  for (const [key, h] of Object.entries(held)) {
    const e = entries[key];
    if (!e || !e.firing || e.firedAt !== h.firedAt) { delete held[key]; continue; }
    if (touched.has(key)) continue;
    if (muteReason(input.labelsOf(e), input.silences, input.windows, now)) continue;
    delete held[key];
    if (alerts === entries) alerts = { ...entries };
    alerts[key] = { ...e, lastNotifiedAt: now, reminderAnchor: now };
    const ack = ackOfIncident(acks, key, e.firedAt);
    const details = { ...e.subject.details, 'Muted since': new Date(h.since).toISOString(), ...(ack ? { [ACK_DETAIL]: ackText(ack) } : {}) };
    out.push({
      id: `${key}:unmuted:${e.firedAt}:${now}`, kind: 'firing', severity: e.severity, condition: e.condition, alertKey: key,
      subject: { ...e.subject, details }, guidance: input.guidanceFor(e.condition, e.subject), since: e.since, createdAt: now,
      labels: input.labelsOf(e),
    });
  }
  return { notifications: out, muted, state: alerts === entries ? input.state : { ...input.state, alerts }, carry: { held } };
}

/** "alice at 2026-11-30T10:00:00.000Z: HSM replacement" (the comment as written: notifiers escape it). */
export function ackText(a: Ack): string {
  return `${a.by} at ${new Date(a.at).toISOString()}${a.comment ? `: ${a.comment}` : ''}`;
}

/** firedAt from a notification id (`key:firing:<since>:p..`, `key:reminder:<firedAt>:n`, `key:resolved:<firedAt>`) when the entry is gone. */
function firedAtOfId(n: AlertNotification): number | null {
  const m = /:(?:reminder|resolved):(\d+)(?::\d+)?$/.exec(n.id);
  return m ? Number(m[1]) : null;
}

/** How many firing alerts are muted now (the keystore_watch_alerts_silenced gauge), and why, per alertKey. */
export function mutedFiring(state: AlertState, silences: readonly CompiledSilence[], windows: readonly CompiledWindow[], now: number, labelsOf: MuteInput['labelsOf']): Map<string, MuteReason> {
  const out = new Map<string, MuteReason>();
  for (const e of Object.values(state.alerts)) {
    if (!e.firing) continue;
    const r = muteReason(labelsOf(e), silences, windows, now);
    if (r) out.set(e.alertKey, r);
  }
  return out;
}
