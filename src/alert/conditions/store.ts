// Key store conditions, per store record: FAILED, CONNECTING_TOO_LONG, DISCONNECTED, PROBE_FAILING
// (probe.ts), UNKNOWN_STATE, FLAPPING (flapping.ts), TRUST_ANCHOR_EXPIRING. A stale record (its target
// failed this poll) freezes them all.
import type { Config } from '../../config/schema.js';
import { isKnownConnectionState, type Condition, type StoreRecord } from '../../model.js';
import { storeSubjectKey } from '../subject-key.js';
import { daysLeft, isFiring, iso, storeSubject, type ConditionSource, type EvalContext, type Observation } from './context.js';
import { observeFlapping } from './flapping.js';
import { observeProbeFailing } from './probe.js';

export const STORE_CONDITIONS = ['FAILED', 'CONNECTING_TOO_LONG', 'DISCONNECTED', 'PROBE_FAILING', 'TRUST_ANCHOR_EXPIRING', 'UNKNOWN_STATE', 'FLAPPING'] as const satisfies readonly Condition[];

function connectingTimeout(alerting: Config['alerting'], type: string): number {
  const t = alerting.connectingTimeout as Record<string, number>;
  // An unknown (future) store type gets the longer of the two timeouts: better late than falsely.
  return t[type] ?? Math.max(alerting.connectingTimeout.AWS_CLOUDHSM, alerting.connectingTimeout.EXTERNAL_KEY_STORE);
}

/** Observations of the store-level conditions for one fresh store record. */
export function observeStore(s: StoreRecord, ctx: EvalContext, sk: string): [Condition, Observation][] {
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

  out.push(['PROBE_FAILING', observeProbeFailing(s, ctx, sk, plain)]);

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

export const storeConditions: ConditionSource = {
  subject: 'store',
  conditions: STORE_CONDITIONS,
  observe(snapshot, ctx, record) {
    for (const s of snapshot.stores) {
      const sk = storeSubjectKey(s);
      if (s.stale) for (const c of STORE_CONDITIONS) record(c, sk, { kind: 'frozen' });
      else for (const [c, o] of observeStore(s, ctx, sk)) record(c, sk, o);
    }
    // Tracks of stale stores are kept as they are (nothing observed); tracks of stores gone are dropped.
    for (const s of snapshot.stores) {
      const sk = storeSubjectKey(s);
      if (s.stale && ctx.state.flaps?.[sk]) ctx.flaps[sk] = ctx.state.flaps[sk]!;
    }
  },
};
