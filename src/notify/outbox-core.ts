// The outbox's functional core: the persisted document's shape, backoff, classification of a
// delivery result, the dead-letter decision, order keys and the per-channel scheduling decision.
// Pure functions of their arguments; the shell that sends, sleeps and persists is outbox.ts.
import { z } from 'zod';
import type { Notification, Severity } from '../model.js';
import { redact } from '../util/redact.js';
import type { DeliveryResult } from './notifier.js';

// ---------------------------------------------------------------------------------------------
// Persisted shape.

export interface OutboxEntry {
  /** Global enqueue order; order per key follows it. */
  seq: number;
  channel: string;
  /** Notification id: the idempotency key. */
  id: string;
  /** Epoch ms. */
  enqueuedAt: number;
  attempts: number;
  /** Epoch ms before which the entry must not be sent (its backoff or Retry-After), as of the last write. */
  nextAttemptAt: number;
  /** Persisted before the send starts; still true after a crash means "may have been delivered". */
  inFlight: boolean;
  lastError: string | null;
  lastStatus: number | null;
}

export type DropReason = 'overflow' | 'channel_removed';
export type DeadLetterReason = 'rejected' | 'max_attempts' | 'max_age';
/** 'rejected' also appears in delivery logs written before dead letters existed. */
export type DeliveryOutcome = 'delivered' | 'dead_lettered' | 'rejected' | DropReason;

export interface DeliveryRecord {
  id: string;
  at: number;
  outcome: DeliveryOutcome;
  attempts: number;
  status: number | null;
  /** Scrubbed of secrets. */
  error: string | null;
}

/** What is kept of a dead-lettered entry: enough to act on, never a secret, not the whole payload. */
export interface DeadLetter {
  channel: string;
  id: string;
  kind: Notification['kind'];
  severity: Severity;
  /** The alert (store and condition) it was about; null for a digest. */
  alertKey: string | null;
  condition: string | null;
  accountId: string | null;
  region: string | null;
  storeId: string | null;
  storeName: string | null;
  clusterId: string | null;
  /** Digests: how many alerts it carried. */
  items: number | null;
  reason: DeadLetterReason;
  attempts: number;
  /** Epoch ms. */
  enqueuedAt: number;
  deadLetteredAt: number;
  lastError: string | null;
  lastStatus: number | null;
}

export interface OutboxDoc {
  nextSeq: number;
  /** Each payload stored once, however many channels it is queued for. */
  notifications: Notification[];
  entries: OutboxEntry[];
  /** Bounded per channel, newest last: the ids seen for good, so a re-enqueued id is not sent twice. */
  log: Record<string, DeliveryRecord[]>;
  /** Completion time of the last send per channel: pacing survives a restart. */
  lastSendAt: Record<string, number>;
  /** Totals since the outbox began. */
  dropped: Record<DropReason, number>;
  /** Oldest first, at most deadLetterLimit. */
  deadLetters: DeadLetter[];
  /** Dead letters per channel since the outbox began (the list above is capped). */
  deadLettered: Record<string, number>;
}

const entrySchema = z.object({
  seq: z.number().int(), channel: z.string(), id: z.string(), enqueuedAt: z.number(), attempts: z.number().int().min(0),
  nextAttemptAt: z.number(), inFlight: z.boolean(), lastError: z.string().nullable(), lastStatus: z.number().int().nullable(),
});
const recordSchema = z.object({
  id: z.string(), at: z.number(), outcome: z.enum(['delivered', 'dead_lettered', 'rejected', 'overflow', 'channel_removed']),
  attempts: z.number().int(), status: z.number().int().nullable(), error: z.string().nullable(),
});
const deadLetterSchema = z.object({
  channel: z.string(), id: z.string(), kind: z.enum(['firing', 'reminder', 'resolved', 'digest', 'drill']), severity: z.enum(['critical', 'warning', 'info']),
  alertKey: z.string().nullable(), condition: z.string().nullable(), accountId: z.string().nullable(), region: z.string().nullable(),
  storeId: z.string().nullable(), storeName: z.string().nullable(), clusterId: z.string().nullable(), items: z.number().int().nullable(),
  reason: z.enum(['rejected', 'max_attempts', 'max_age']), attempts: z.number().int(), enqueuedAt: z.number(), deadLetteredAt: z.number(),
  lastError: z.string().nullable(), lastStatus: z.number().int().nullable(),
});
const docSchema = z.object({
  nextSeq: z.number().int().min(1),
  notifications: z.array(z.looseObject({ id: z.string(), kind: z.string() })),
  entries: z.array(entrySchema),
  log: z.record(z.string(), z.array(recordSchema)),
  lastSendAt: z.record(z.string(), z.number()),
  // Documents written before dead letters existed counted 4xx rejections here ('rejected'); that count is not carried over.
  dropped: z.object({ overflow: z.number(), channel_removed: z.number() }),
  deadLetters: z.array(deadLetterSchema).default([]),
  deadLettered: z.record(z.string(), z.number()).default({}),
});

/** Shape check for the persisted outbox; a throw makes the store set the document aside. */
export function parseOutboxDoc(data: unknown): OutboxDoc {
  const parsed = docSchema.parse(data);
  const doc = { ...parsed, dropped: { overflow: parsed.dropped.overflow, channel_removed: parsed.dropped.channel_removed } } as unknown as OutboxDoc;
  const ids = new Set(doc.notifications.map((n) => n.id));
  for (const e of doc.entries) if (!ids.has(e.id)) throw new Error(`entry ${e.seq} refers to a missing notification ${e.id}`);
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Functional core: backoff, result classification, scheduling, caps.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  factor: number;
}
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 300_000, factor: 2 };
/** alerting.outboxMaxAttempts / outboxMaxAge / deadLetterLimit defaults (the config schema repeats them). */
export const DEFAULT_MAX_ATTEMPTS = 50;
export const DEFAULT_MAX_AGE_MS = 6 * 3_600_000;
export const DEFAULT_DEAD_LETTER_LIMIT = 500;
export const DEFAULT_MAX_IN_FLIGHT = 4;

/** Exponential backoff with "equal jitter": between half and all of min(max, base * factor^(attempt-1)), so retries spread out but never collapse to zero. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (Math.min(1, Math.max(0, random)) * exp) / 2);
}

export type Decision =
  | { action: 'delivered' }
  | { action: 'retry'; delayMs: number; code: string; error: string }
  | { action: 'drop'; code: string; error: string };

/** The failure class used in logs and onFailure: http_<status>, timeout or network. */
export function failureCode(result: DeliveryResult, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  if (!result.ok && result.status !== undefined) return `http_${result.status}`;
  return 'network';
}

export function decide(
  result: DeliveryResult,
  ctx: { attempts: number; timedOut: boolean; backoff: BackoffPolicy; maxRetryAfterMs: number; random: number },
): Decision {
  if (result.ok) return { action: 'delivered' };
  const code = failureCode(result, ctx.timedOut);
  const error = scrub(result.error);
  if (!result.retryable && !ctx.timedOut) return { action: 'drop', code, error };
  // A 429's Retry-After wins over our own schedule (bounded, so a hostile header cannot park the queue for days).
  const delayMs = result.retryAfterMs !== undefined && result.retryAfterMs >= 0
    ? Math.min(result.retryAfterMs, ctx.maxRetryAfterMs)
    : backoffDelay(ctx.attempts, ctx.backoff, ctx.random);
  return { action: 'retry', delayMs, code, error };
}

/** After a failed attempt: whether the entry is given up on, and why (attempts first, then age). */
export function deadLetterReason(attempts: number, ageMs: number, limits: { maxAttempts: number; maxAgeMs: number }): DeadLetterReason | null {
  if (attempts >= limits.maxAttempts) return 'max_attempts';
  if (ageMs >= limits.maxAgeMs) return 'max_age';
  return null;
}

/** The order keys of a notification: entries sharing one go in enqueue order on a channel. */
export function orderKeys(n: Notification): string[] {
  if (n.kind === 'digest') return [...new Set(n.items.map((i) => i.alertKey))];
  return [n.alertKey];
}

export interface Schedulable {
  seq: number;
  keys: readonly string[];
  /** Monotonic ms. */
  due: number;
  inFlight: boolean;
}

export interface ChannelGate {
  /** Sends under way. */
  sending: number;
  /** Of those, the ones running longer than stallMs: each lets one more send start beside it. */
  stalled: number;
  maxInFlight: number;
  /** Consecutive failed attempts on the channel since its last success (any entry). */
  failStreak: number;
  /**
   * How many different entries those failures were on. Two or more: the channel itself looks down (not
   * one bad message): one probe at a time, and the channel is backed off as a whole. One entry failing
   * over and over alone is a poison message: it never slows the channel.
   */
  failingEntries: number;
  /** Monotonic ms before which nothing is sent (Retry-After, channel backoff). */
  holdUntil: number;
  /** Monotonic ms of the later of the last send's start and completion; null before the first. */
  paceAnchor: number | null;
  minIntervalMs: number;
}

export type Step = { send: number } | { waitMs: number } | { idle: true };

/**
 * The channel's next move at monotonic time `now`: send the entry with this seq, wait, or wait to be
 * woken (nothing sendable: empty, all blocked behind earlier entries of their key, or no free slot).
 * `entries` sorted by seq. An entry is sendable when no earlier pending entry shares one of its keys;
 * of the sendable ones, the one due the longest goes first (ties: the lowest seq), so fresh entries go
 * in enqueue order and a channel probing through an outage takes its entries in turn.
 */
export function nextStep(entries: readonly Schedulable[], gate: ChannelGate, now: number): Step {
  // One send at a time while sends answer promptly (order and pacing as a receiver expects); a send
  // that stalls frees a slot for the others, up to maxInFlight; a failing channel gets one probe at a time.
  const slots = gate.failingEntries >= 2 ? 1 : Math.min(Math.max(1, gate.maxInFlight), 1 + gate.stalled);
  if (gate.sending >= slots) return { idle: true };
  const blocked = new Set<string>();
  let best: Schedulable | null = null;
  for (const e of entries) {
    const free = !e.inFlight && e.keys.every((k) => !blocked.has(k));
    for (const k of e.keys) blocked.add(k);
    if (free && (!best || e.due < best.due)) best = e;
  }
  if (!best) return { idle: true };
  const at = Math.max(best.due, gate.holdUntil, gate.paceAnchor === null ? -Infinity : gate.paceAnchor + gate.minIntervalMs);
  return at <= now ? { send: best.seq } : { waitMs: at - now };
}

/**
 * Which entries a cap of `limit` drops: the oldest (lowest seq) first, skipping in-flight ones
 * (their send is already under way). `entries` in any order; returns the seqs to drop.
 */
export function overflowVictims(entries: readonly Pick<OutboxEntry, 'seq' | 'inFlight'>[], limit: number): number[] {
  const over = entries.length - Math.max(0, limit);
  if (over <= 0) return [];
  return entries.filter((e) => !e.inFlight).map((e) => e.seq).sort((a, b) => a - b).slice(0, over);
}

/** The dead-letter summary of a notification (pure). */
export function deadLetterOf(n: Notification | undefined, e: OutboxEntry, reason: DeadLetterReason, at: number): DeadLetter {
  const alert = n && n.kind !== 'digest' ? n : null;
  const s = alert?.subject;
  return {
    channel: e.channel, id: e.id, kind: n?.kind ?? 'firing', severity: n?.severity ?? 'warning',
    alertKey: alert?.alertKey ?? null, condition: alert?.condition ?? null,
    accountId: s?.accountId ?? null, region: s?.region ?? null, storeId: s?.storeId ?? null, storeName: s?.storeName ?? null, clusterId: s?.clusterId ?? null,
    items: n?.kind === 'digest' ? n.items.length : null,
    reason, attempts: e.attempts, enqueuedAt: e.enqueuedAt, deadLetteredAt: at, lastError: e.lastError, lastStatus: e.lastStatus,
  };
}

/** An error text as the outbox keeps and logs it: secrets redacted, capped. */
export const scrub = (s: string | null | undefined): string => redact(String(s ?? '')).slice(0, 500);
