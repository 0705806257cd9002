// "Who changed it": adds what CloudTrail recorded about a store's last change (snapshot.changeActors, from
// collect/cloudtrail.ts) to the findings that are about that change, so the alert and every rendering of it
// (Slack, PagerDuty, webhook, console) name the principal, the time and the source. Pure.
//
// A DISCONNECTED store disconnected by a person is still an alert (keys are unusable either way), but it says
// so. No matching event says "no CloudTrail event found", never a guess.
import type { AlertSubject, AttributedChange, ChangeActor, ChangeAttribution, Condition, Snapshot } from '../../model.js';

/** Which change each store finding is about. */
const CONDITION_CHANGE: Partial<Record<Condition, AttributedChange>> = {
  DISCONNECTED: 'DISCONNECTED',
  CONNECTING_TOO_LONG: 'CONNECTING',
  FAILED: 'CONNECTING',
};

export const ACTOR_DETAIL = {
  by: 'Changed by',
  at: 'Changed at',
  from: 'Changed from',
  event: 'CloudTrail event',
  request: 'Request',
  note: 'Note',
} as const;

const KIND_TEXT: Record<ChangeActor['kind'], string> = { person: 'a person', service: 'an AWS service', role: 'a role session' };

/** The details one attribution adds to a subject. Pure. */
export function actorDetails(a: ChangeAttribution): Record<string, string> {
  switch (a.status) {
    case 'found': {
      const x = a.actor!;
      const out: Record<string, string> = {
        [ACTOR_DETAIL.by]: `${x.principal} (${KIND_TEXT[x.kind]}, ${x.identityType})`,
        [ACTOR_DETAIL.at]: new Date(x.eventTime).toISOString(),
        [ACTOR_DETAIL.from]: x.source ?? 'unknown',
        [ACTOR_DETAIL.event]: `${x.eventName} ${x.eventId}`,
      };
      const params = Object.entries(x.requestParameters).map(([k, v]) => `${k}=${v}`).join(', ');
      if (params) out[ACTOR_DETAIL.request] = params.length > 300 ? `${params.slice(0, 299)}…` : params;
      if (a.change === 'DISCONNECTED' && x.kind === 'person') {
        out[ACTOR_DETAIL.note] = 'Disconnected by a person: check whether this is planned maintenance. Its keys are unusable until it is connected again; add the store to alerting.expectDisconnected if it is meant to stay disconnected.';
      }
      return out;
    }
    case 'not_found':
      return { [ACTOR_DETAIL.by]: 'no CloudTrail event found' };
    case 'pending':
      return { [ACTOR_DETAIL.by]: 'CloudTrail lookup pending (rate limit or deadline; retried next poll)' };
    case 'error':
      return { [ACTOR_DETAIL.by]: `CloudTrail lookup failed: ${a.error?.code ?? 'unknown error'} (no CloudTrail event found)` };
  }
}

/** The newest attribution of one store and change kind, indexed once per poll. */
export function latestAttributions(list: readonly ChangeAttribution[] | undefined): Map<string, ChangeAttribution> {
  const out = new Map<string, ChangeAttribution>();
  for (const a of list ?? []) {
    const k = `${a.accountId}/${a.region}/${a.storeId}|${a.change}`;
    const old = out.get(k);
    if (!old || a.seenAt >= old.seenAt) out.set(k, a);
  }
  return out;
}

/** Adds the actor details to this poll's store observations of DISCONNECTED, CONNECTING_TOO_LONG and FAILED. */
export function withChangeActors(snapshot: Snapshot, observations: Map<string, { kind: string; subject?: AlertSubject }>): void {
  if (!snapshot.changeActors?.length) return;
  const latest = latestAttributions(snapshot.changeActors);
  for (const [key, o] of observations) {
    if (o.kind !== 'hit' || !o.subject?.storeId) continue;
    const condition = key.slice(0, key.indexOf(':')) as Condition;
    const change = CONDITION_CHANGE[condition];
    if (!change) continue;
    const a = latest.get(`${o.subject.accountId}/${o.subject.region}/${o.subject.storeId}|${change}`);
    if (a) o.subject = { ...o.subject, details: { ...o.subject.details, ...actorDetails(a) } };
  }
}
