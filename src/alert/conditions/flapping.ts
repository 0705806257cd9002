// FLAPPING, a store condition: `alerting.flapping.changes` flips between CONNECTED and not CONNECTED
// within `alerting.flapping.window`, read from a per-store track kept in the alert state.
import { storeKey, type AlertSubject, type StoreRecord } from '../../model.js';
import { isFiring, storeSubject, type EvalContext, type Observation } from './context.js';

/** Most points a flap track keeps (alerting.flapping.changes is at most 100). */
const MAX_FLAP_POINTS = 256;

/**
 * FLAPPING for one fresh store: records a change against the previous snapshot in the store's track,
 * prunes the track to the window, and decides from it alone (pure: the track is part of the alert state).
 */
export function observeFlapping(s: StoreRecord, ctx: EvalContext, sk: string, plain: AlertSubject): Observation {
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

function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
