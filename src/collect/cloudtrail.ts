// "Who changed it": when a store's state or configuration changes, CloudTrail LookupEvents in that account and
// region finds the management call behind it (DisconnectCustomKeyStore, ConnectCustomKeyStore,
// CreateCustomKeyStore, DeleteCustomKeyStore, UpdateCustomKeyStore) and who made it.
//
// Decisions:
//  - Best effort and bounded: LookupEvents allows 2 requests per second per account and region
//    (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html); calls of one
//    account-region are spaced to cloudtrail.ratePerSecond across polls, run inside the target's deadline,
//    and stop at the first throttling answer. What is not looked up stays "pending" and is tried the next
//    poll, so an alert is never held back: it goes out with whatever is known at the time.
//  - Storms cost a few calls, not one per store: one lookup by EventName over the changes' time window (50
//    events a page, at most cloudtrail.maxPages pages) serves every store changed the same way.
//  - No guessing: an event counts only when it names the store (Resources, requestParameters or, for
//    CreateCustomKeyStore, responseElements) and falls in the change's window; otherwise "not_found",
//    retried each poll until cloudtrail.searchWindow after the change (CloudTrail delivers within minutes).
//  - Secrets never leave: request parameters lose every key that names a credential or password
//    (XksProxyAuthenticationCredential, KeyStorePassword, ...) and every value passes the redaction rule.
import { setTimeout as sleep } from 'node:timers/promises';
import { LookupEventsCommand, type CloudTrailClient, type Event as TrailEvent, type LookupAttribute } from '@aws-sdk/client-cloudtrail';
import type { AttributedChange, ChangeActor, ChangeAttribution, StoreRecord, TargetError } from '../model.js';
import { isSecretKey, redact } from '../util/redact.js';

export const EVENT_NAME: Record<AttributedChange, string> = {
  DISCONNECTED: 'DisconnectCustomKeyStore',
  CONNECTING: 'ConnectCustomKeyStore',
  created: 'CreateCustomKeyStore',
  deleted: 'DeleteCustomKeyStore',
  configuration: 'UpdateCustomKeyStore',
};

/** A change seen this poll that wants an actor. */
export interface DetectedChange {
  storeId: string;
  change: AttributedChange;
}

type Observed = Pick<StoreRecord, 'id' | 'state' | 'name' | 'clusterId' | 'xks' | 'trustAnchorSha256' | 'createdAt'>;

/** How far back a store first seen DISCONNECTED is looked up (its disconnect happened before keystore-watch saw it). */
export const FIRST_SIGHT_LOOKBACK_MS = 7 * 86_400_000;

/**
 * Stores of a target seen for the first time (no baseline) that are DISCONNECTED: who disconnected them is
 * still the first question on call, so the newest DisconnectCustomKeyStore naming the store is looked up.
 */
export function firstSightChanges(next: readonly Observed[]): DetectedChange[] {
  return next.filter((s) => s.state === 'DISCONNECTED' || s.state === 'DISCONNECTING').map((s) => ({ storeId: s.id, change: 'DISCONNECTED' as const }));
}

const configOf = (s: Observed): string => JSON.stringify([s.name, s.clusterId, s.xks?.uriEndpoint ?? null, s.xks?.uriPath ?? null, s.xks?.connectivity ?? null, s.xks?.vpcEndpointServiceName ?? null, s.xks?.accessKeyIdLast4 ?? null, s.trustAnchorSha256]);

/**
 * The changes of one target between its last known stores and this poll's answer. `baseline` false (the
 * target never answered before) reports nothing: a first sight is not a creation. Pure.
 */
export function detectChanges(prev: readonly Observed[], next: readonly Observed[], baseline: boolean): DetectedChange[] {
  if (!baseline) return [];
  const out: DetectedChange[] = [];
  const before = new Map(prev.map((s) => [s.id, s]));
  const now = new Set(next.map((s) => s.id));
  for (const s of next) {
    const old = before.get(s.id);
    if (!old) { out.push({ storeId: s.id, change: 'created' }); continue; }
    if (old.state !== s.state) {
      if (s.state === 'DISCONNECTED' || s.state === 'DISCONNECTING') {
        if (old.state !== 'DISCONNECTED' && old.state !== 'DISCONNECTING') out.push({ storeId: s.id, change: 'DISCONNECTED' });
      } else if (s.state === 'CONNECTING') out.push({ storeId: s.id, change: 'CONNECTING' });
    }
    if (configOf(old) !== configOf(s)) out.push({ storeId: s.id, change: 'configuration' });
  }
  for (const s of prev) if (!now.has(s.id)) out.push({ storeId: s.id, change: 'deleted' });
  return out;
}

/** userIdentity as CloudTrail writes it (the fields used here). */
interface UserIdentity {
  type?: string;
  arn?: string;
  principalId?: string;
  invokedBy?: string;
  userName?: string;
  sessionContext?: { sessionIssuer?: { userName?: string; arn?: string } };
}

/** A person, an AWS service, or another role session (automation). Pure. */
export function classifyIdentity(id: UserIdentity | undefined): ChangeActor['kind'] {
  if (!id) return 'role';
  if (id.type === 'AWSService' || id.invokedBy) return 'service';
  if (['IAMUser', 'Root', 'IdentityCenterUser', 'SAMLUser', 'WebIdentityUser', 'FederatedUser'].includes(id.type ?? '')) return 'person';
  if (id.type === 'AssumedRole') {
    const arn = id.arn ?? '';
    const session = arn.slice(arn.lastIndexOf('/') + 1);
    // IAM Identity Center permission sets (AWSReservedSSO_*) and sessions named after an e-mail are people.
    if (/:assumed-role\/AWSReservedSSO_/.test(arn) || session.includes('@')) return 'person';
  }
  return 'role';
}

/** Request parameters flattened to strings, without credentials or passwords, every value redacted. Pure. */
export function safeParameters(params: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!params || typeof params !== 'object') return out;
  for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
    if (isSecretKey(k)) continue;
    let text: string;
    if (v === null || v === undefined) text = '';
    else if (typeof v === 'object') text = JSON.stringify(stripSecrets(v));
    else text = String(v);
    out[k] = redact(text).replace(/\s+/g, ' ').slice(0, 200);
  }
  return out;
}

function stripSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripSecrets);
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!isSecretKey(k)) out[k] = stripSecrets(x);
  return out;
}

interface ParsedEvent {
  /** The call failed (errorCode in the record): it changed nothing. */
  failed: boolean;
  eventName: string;
  eventId: string;
  eventTime: number;
  storeIds: Set<string>;
  actor: ChangeActor;
}

/** One LookupEvents entry, parsed; null when it lacks a name or time. Pure. */
export function parseEvent(e: TrailEvent): ParsedEvent | null {
  if (!e.EventName || !e.EventTime) return null;
  let detail: Record<string, unknown> = {};
  try {
    detail = e.CloudTrailEvent ? JSON.parse(e.CloudTrailEvent) as Record<string, unknown> : {};
  } catch {
    detail = {};
  }
  const id = (detail.userIdentity ?? undefined) as UserIdentity | undefined;
  const request = (detail.requestParameters ?? null) as Record<string, unknown> | null;
  const response = (detail.responseElements ?? null) as Record<string, unknown> | null;
  const storeIds = new Set<string>();
  for (const r of e.Resources ?? []) if (r.ResourceName) storeIds.add(r.ResourceName);
  for (const o of [request, response]) {
    const v = o?.customKeyStoreId ?? o?.CustomKeyStoreId;
    if (typeof v === 'string') storeIds.add(v);
  }
  const eventTime = new Date(e.EventTime).getTime();
  // Every field is capped, the ones AWS fills in too: a forged or broken event must not carry megabytes
  // into the alert's details (and from there into every page).
  const eventName = oneField(e.EventName);
  const eventId = oneField(e.EventId ?? 'unknown');
  const principal = id?.arn ?? id?.invokedBy ?? id?.principalId ?? e.Username ?? 'unknown';
  return {
    failed: typeof detail.errorCode === 'string' && detail.errorCode !== '',
    eventName,
    eventId,
    eventTime,
    storeIds,
    actor: {
      eventName,
      eventTime,
      eventId,
      principal: redact(principal).slice(0, 300),
      identityType: oneField(id?.type ?? 'unknown'),
      kind: classifyIdentity(id),
      source: typeof detail.sourceIPAddress === 'string' ? redact(detail.sourceIPAddress).slice(0, 200) : null,
      userAgent: typeof detail.userAgent === 'string' ? redact(detail.userAgent).slice(0, 200) : null,
      requestParameters: safeParameters(request),
    },
  };
}

/** A short AWS-filled field (event name, id, identity type): redacted, whitespace folded, at most 200 characters. */
const oneField = (v: string): string => redact(String(v)).replace(/\s+/g, ' ').slice(0, 200);

/** The event that made one change: the newest successful event of the right name naming the store within [from, to]. Pure. */
export function matchEvent(events: readonly ParsedEvent[], storeId: string, change: AttributedChange, from: number, to: number): ParsedEvent | null {
  let best: ParsedEvent | null = null;
  for (const e of events) {
    if (e.failed || e.eventName !== EVENT_NAME[change] || !e.storeIds.has(storeId) || e.eventTime < from || e.eventTime > to) continue;
    if (!best || e.eventTime > best.eventTime) best = e;
  }
  return best;
}

export interface AttributorOptions {
  ratePerSecond: number;
  searchWindow: number;
  maxPages: number;
  /** Wall clock (epoch ms) for event windows. */
  now: () => number;
  /** Monotonic ms for the call spacing. */
  monotonic?: () => number;
}

/** Added to the spacing of LookupEvents calls (see lookup()). */
const SPACING_MARGIN_MS = 60;
/** Slack on both sides of a change's window: clocks differ and CloudTrail records the call's start. */
const WINDOW_SLACK_MS = 5 * 60_000;
/** How long a found or given-up attribution is kept in the snapshot (alerts firing later, store_removed two polls on). */
const KEEP_MS = 6 * 3_600_000;

export interface AttributeInput {
  /** Lends a CloudTrail client of the target (AwsClients.withCloudTrail) for one call. */
  withClient: <T>(fn: (client: CloudTrailClient) => Promise<T>) => Promise<T>;
  accountId: string;
  region: string;
  /** The target's last known stores (null: no baseline) and when they were observed (epoch ms). */
  prev: { stores: readonly Observed[]; observedAt: number } | null;
  next: readonly Observed[];
  /** The target's attributions in the previous snapshot. */
  carried: readonly ChangeAttribution[];
  signal: AbortSignal;
}

/** Per account-region LookupEvents pacing and the attribution of one target's changes. */
export class ChangeAttributor {
  /** Monotonic ms of the end of the last LookupEvents call per account-region (the spacing holds across polls). */
  private readonly lastCall = new Map<string, number>();
  private readonly monotonic: () => number;
  /** LookupEvents calls made (tests, logs). */
  calls = 0;

  constructor(private readonly opts: AttributorOptions) {
    this.monotonic = opts.monotonic ?? (() => performance.now());
  }

  /** Forgets pacing of account-regions no longer polled. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.lastCall.keys()) if (!keys.has(k)) this.lastCall.delete(k);
  }

  async attribute(input: AttributeInput): Promise<ChangeAttribution[]> {
    const now = this.opts.now();
    const fresh = input.prev ? detectChanges(input.prev.stores, input.next, true) : firstSightChanges(input.next);
    const created = new Map(input.next.map((s) => [s.id, s.createdAt]));
    const windowStart = (id: string) => (input.prev
      ? input.prev.observedAt - WINDOW_SLACK_MS
      : Math.max(now - FIRST_SIGHT_LOOKBACK_MS, (created.get(id) ?? 0) - WINDOW_SLACK_MS));
    // Newest first per store and change: a new change replaces an older attribution of the same kind.
    const byKey = new Map<string, ChangeAttribution>();
    for (const a of input.carried) {
      if (now - a.seenAt > KEEP_MS) continue;
      byKey.set(`${a.storeId}|${a.change}`, { ...a }); // copies: the previous snapshot is immutable
    }
    for (const c of fresh) {
      byKey.set(`${c.storeId}|${c.change}`, { accountId: input.accountId, region: input.region, storeId: c.storeId, change: c.change, seenAt: now, windowStart: windowStart(c.storeId), status: 'pending', actor: null, attempts: 0, error: null });
    }
    const all = [...byKey.values()];
    const todo = all.filter((a) => a.status !== 'found' && now - a.seenAt <= this.opts.searchWindow);
    if (todo.length > 0) await this.lookup(input, todo, now);
    return all.sort((x, y) => (x.storeId < y.storeId ? -1 : x.storeId > y.storeId ? 1 : x.change < y.change ? -1 : 1));
  }

  private async lookup(input: AttributeInput, todo: ChangeAttribution[], now: number): Promise<void> {
    const tk = `${input.accountId}/${input.region}`;
    // A margin over 1000/rate, counted from the end of the previous call: AWS counts requests as they
    // arrive, and a delay on the way must not put three of them in one second (measured: 500 ms between
    // call starts let the simulator's 2/s window throttle a storm's lookups, and so did 560 ms between
    // starts on a loaded machine).
    const spacing = 1000 / this.opts.ratePerSecond + SPACING_MARGIN_MS;
    const byEvent = new Map<string, ChangeAttribution[]>();
    for (const a of todo) {
      const list = byEvent.get(EVENT_NAME[a.change]) ?? [];
      list.push(a);
      byEvent.set(EVENT_NAME[a.change], list);
    }
    const from = (a: ChangeAttribution) => Math.min(a.windowStart, a.seenAt - WINDOW_SLACK_MS);
    const to = (a: ChangeAttribution) => a.seenAt + WINDOW_SLACK_MS;
    let stopped: TargetError | null = null;
    for (const [eventName, list] of byEvent) {
      if (stopped) break;
      // By EventName, never ResourceName: KMS's custom key store events carry no `resources` block (the KMS
      // developer guide's CloudTrail examples), so a ResourceName lookup finds nothing; the store is matched
      // on requestParameters.customKeyStoreId (responseElements for CreateCustomKeyStore).
      const attr: LookupAttribute = { AttributeKey: 'EventName', AttributeValue: eventName };
      const start = Math.min(...list.map(from));
      const end = Math.min(Math.max(...list.map(to)), now + WINDOW_SLACK_MS);
      const events: ParsedEvent[] = [];
      let token: string | undefined;
      let pages = 0;
      let complete = false;
      for (const a of list) a.attempts += 1;
      try {
        do {
          // Pace: `spacing` after the previous call of this account-region ended (possibly last poll).
          const readyAt = (this.lastCall.get(tk) ?? -Infinity) + spacing;
          while (!input.signal.aborted && this.monotonic() < readyAt) await sleep(Math.max(1, readyAt - this.monotonic()), undefined, { signal: input.signal }).catch(() => undefined);
          if (input.signal.aborted) break;
          this.calls += 1;
          let page;
          try {
            const command = new LookupEventsCommand({ LookupAttributes: [attr], StartTime: new Date(start), EndTime: new Date(end), MaxResults: 50, NextToken: token });
            page = await input.withClient((client) => client.send(command));
          } finally {
            // Spaced from the END of the previous call: its request reached AWS before its answer came
            // back, so two calls so spaced arrive at least `spacing` apart whatever the delay on the way.
            this.lastCall.set(tk, this.monotonic());
          }
          for (const e of page.Events ?? []) {
            const p = parseEvent(e);
            if (p) events.push(p);
          }
          token = page.NextToken;
          pages += 1;
          // Stop paging once every change of this batch has its event.
          if (list.every((a) => matchEvent(events, a.storeId, a.change, from(a), to(a)))) { complete = true; break; }
        } while (token && pages < this.opts.maxPages);
        if (!token) complete = true;
      } catch (err) {
        const code = (err as { name?: string }).name ?? 'Error';
        stopped = { code: input.signal.aborted ? 'Timeout' : code, message: redact(err instanceof Error ? err.message : String(err)).slice(0, 300) };
      }
      for (const a of list) {
        const m = matchEvent(events, a.storeId, a.change, from(a), to(a));
        if (m) { a.status = 'found'; a.actor = m.actor; a.error = null; continue; }
        if (stopped) { a.status = a.status === 'not_found' ? 'not_found' : (input.signal.aborted || /Throttl/i.test(stopped.code) ? 'pending' : 'error'); a.error = stopped; continue; }
        // Searched the whole window (or the page budget): nothing names the store.
        a.status = complete || pages >= this.opts.maxPages ? 'not_found' : 'pending';
      }
    }
    // Batches not reached (deadline, throttling) stay pending.
  }
}
