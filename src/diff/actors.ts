// Adds CloudTrail's "who, when, from where" (snapshot.changeActors, collect/cloudtrail.ts) to the store changes
// of one diff, for /api/v1/events. Pure; the change ids are computed before, so they do not depend on it (an
// attribution found a poll later does not make a replayed poll's change a different one).
import type { AttributedChange, ChangeAttribution, Snapshot } from '../model.js';
import type { Change } from './diff.js';

/** What a change event says about its actor. */
export interface ChangeActorSummary {
  status: ChangeAttribution['status'];
  /** "no CloudTrail event found", "lookup pending", or the error, when there is no actor. */
  message: string | null;
  principal?: string;
  kind?: 'person' | 'service' | 'role';
  identityType?: string;
  eventName?: string;
  eventTime?: string;
  eventId?: string;
  source?: string | null;
  userAgent?: string | null;
  requestParameters?: Record<string, string>;
}

/** The CloudTrail change kind a diff change is about, if any. Pure. */
export function attributedChangeOf(c: Change): AttributedChange | null {
  switch (c.type) {
    case 'store_added': return 'created';
    case 'store_removed': return 'deleted';
    case 'config_changed': return 'configuration';
    case 'state_changed':
      if ((c.to === 'DISCONNECTED' || c.to === 'DISCONNECTING') && c.from !== 'DISCONNECTED' && c.from !== 'DISCONNECTING') return 'DISCONNECTED';
      if (c.to === 'CONNECTING') return 'CONNECTING';
      return null;
    default: return null;
  }
}

export function actorSummary(a: ChangeAttribution): ChangeActorSummary {
  if (a.status === 'found' && a.actor) {
    const x = a.actor;
    return {
      status: 'found', message: null, principal: x.principal, kind: x.kind, identityType: x.identityType, eventName: x.eventName,
      eventTime: new Date(x.eventTime).toISOString(), eventId: x.eventId, source: x.source, userAgent: x.userAgent, requestParameters: x.requestParameters,
    };
  }
  const message = a.status === 'not_found' ? 'no CloudTrail event found'
    : a.status === 'pending' ? 'CloudTrail lookup pending'
      : `CloudTrail lookup failed: ${a.error?.code ?? 'unknown error'} (no CloudTrail event found)`;
  return { status: a.status, message };
}

/** Returns the changes with `actor` on those CloudTrail can explain. Pure. */
export function withActors(changes: Change[], next: Pick<Snapshot, 'changeActors'>): Change[] {
  if (!next.changeActors?.length) return changes;
  const index = new Map<string, ChangeAttribution>();
  for (const a of next.changeActors) {
    const k = `${a.accountId}/${a.region}/${a.storeId}|${a.change}`;
    const old = index.get(k);
    if (!old || a.seenAt >= old.seenAt) index.set(k, a);
  }
  return changes.map((c) => {
    const kind = attributedChangeOf(c);
    if (!kind || !('storeId' in c)) return c;
    const a = index.get(`${c.accountId}/${c.region}/${c.storeId}|${kind}`);
    return a ? { ...c, actor: actorSummary(a) } : c;
  });
}
