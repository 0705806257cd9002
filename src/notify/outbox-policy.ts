// The outbox's policy: pure decisions about delivery. Backoff, what an answer means (delivered, retry
// after how long, give up), Retry-After, pacing and the per-channel scheduling decision, whether a
// channel looks down, dead-letter decisions, order keys and the cap. No I/O, no clock: the worker
// (outbox.ts) passes the time in.
import type { Notification } from '../model.js';
import { redact } from '../util/redact.js';
import type { DeliveryResult } from './notifier.js';
import type { DeadLetter, DeadLetterReason, OutboxEntry } from './outbox-records.js';

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

/**
 * The Retry-After a failed answer asked for, bounded by maxRetryAfterMs (a hostile header cannot park the
 * queue for days); null when it named none. The one place the bound is applied: decide() schedules the
 * entry with it and channelAfterAttempt() holds the channel with it.
 */
export function retryAfterOf(result: DeliveryResult, maxRetryAfterMs: number): number | null {
  if (result.ok || result.retryAfterMs === undefined || result.retryAfterMs < 0) return null;
  return Math.min(result.retryAfterMs, maxRetryAfterMs);
}

export function decide(
  result: DeliveryResult,
  ctx: { attempts: number; timedOut: boolean; backoff: BackoffPolicy; maxRetryAfterMs: number; random: number },
): Decision {
  if (result.ok) return { action: 'delivered' };
  const code = failureCode(result, ctx.timedOut);
  const error = scrub(result.error);
  if (!result.retryable && !ctx.timedOut) return { action: 'drop', code, error };
  // A 429's Retry-After wins over our own schedule.
  const delayMs = retryAfterOf(result, ctx.maxRetryAfterMs) ?? backoffDelay(ctx.attempts, ctx.backoff, ctx.random);
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

/**
 * What a channel's recent attempts say about the channel itself (as opposed to one message). It goes
 * `down` when two failed attempts in a row were on different entries (the receiver refuses everything,
 * not one bad message), and stays down through further failures while another entry that failed since
 * the last success is still queued: a down channel probes one entry at a time, and the probe is often the
 * entry that failed last (it is due first), which is no evidence that the channel came back. It is up
 * again at the next success, or when the only entry still failing is one alone (a poison message: the
 * others were delivered, dead-lettered or dropped). `downStreak` counts the failures while down, each
 * doubling the whole-channel backoff.
 */
export interface ChannelHealth {
  /** The entry of the last failed attempt since the last success; null after a success. */
  lastFailedEntry: string | null;
  /** The entries that failed since the last success, most recent last (at most FAILED_ENTRIES_KEPT). */
  failedEntries: string[];
  down: boolean;
  downStreak: number;
  /** Monotonic ms before which nothing is sent (Retry-After, channel backoff). */
  holdUntil: number;
}

/** Two entries still failing are enough to tell "the channel" from "one message"; a few more cover churn. */
const FAILED_ENTRIES_KEPT = 8;

export const healthyChannel = (): ChannelHealth => ({ lastFailedEntry: null, failedEntries: [], down: false, downStreak: 0, holdUntil: -Infinity });

/**
 * The channel's health after one attempt (pure). `retryAfterMs` as retryAfterOf() bounded it;
 * `stillQueued` says whether an entry is still in the channel's queue (not delivered, dead-lettered or dropped).
 */
export function channelAfterAttempt(
  h: ChannelHealth,
  a: { entryId: string; ok: boolean; retryAfterMs: number | null },
  now: number,
  backoff: BackoffPolicy,
  random: number,
  stillQueued: (entryId: string) => boolean = () => false,
): ChannelHealth {
  if (a.ok) return { ...h, lastFailedEntry: null, failedEntries: [], down: false, downStreak: 0 };
  const down = (h.lastFailedEntry !== null && h.lastFailedEntry !== a.entryId)
    || (h.down && h.failedEntries.some((id) => id !== a.entryId && stillQueued(id)));
  const downStreak = down ? h.downStreak + 1 : 0;
  let holdUntil = h.holdUntil;
  // The receiver said when to come back: that holds the whole channel. Failures on different entries
  // look like the channel, not one message: back the channel off as a whole.
  if (a.retryAfterMs !== null) holdUntil = Math.max(holdUntil, now + a.retryAfterMs);
  else if (down) holdUntil = Math.max(holdUntil, now + backoffDelay(downStreak, backoff, random));
  const failedEntries = [...h.failedEntries.filter((id) => id !== a.entryId), a.entryId].slice(-FAILED_ENTRIES_KEPT);
  return { lastFailedEntry: a.entryId, failedEntries, down, downStreak, holdUntil };
}

export interface ChannelGate {
  /** Sends under way. */
  sending: number;
  /** Of those, the ones running longer than stallMs: each lets one more send start beside it. */
  stalled: number;
  maxInFlight: number;
  /** The channel looks down (ChannelHealth.down): one probe at a time. */
  down: boolean;
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
  const slots = gate.down ? 1 : Math.min(Math.max(1, gate.maxInFlight), 1 + gate.stalled);
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
