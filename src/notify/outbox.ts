// The durable outbox: every notification for every channel goes through it.
//
//   enqueue()  routes each notification to the channels that accept it and persists the queue
//              before returning, so a crash after enqueue() returns loses nothing.
//   workers    one delivery loop per channel, strictly FIFO (which keeps per-store order), paced to
//              the channel's minIntervalMs, retrying network errors, timeouts and 5xx with
//              exponential backoff and jitter (capped), honouring Retry-After on 429. An entry is
//              removed only after a 2xx; a non-retryable answer (4xx) drops it, recorded and counted.
//   caps       the queue holds at most `limit` entries (alerting.outboxLimit): the oldest waiting
//              entry is dropped first and counted. The per-channel delivery log is bounded too.
//
// Delivery guarantee: at-least-once, with an idempotency key (the notification id) on every send.
// Each entry is persisted as in-flight before its send and removed (its id moved to the channel's
// delivery log) after the answer. The crash windows, from enqueue to done:
//   1. crash before enqueue()'s write completes: enqueue() never returned, so the caller must not
//      have recorded the event as notified and replays it with the same id: if the write did land,
//      the replay is recognised as a duplicate (queued or in the delivery log) and skipped.
//   2. crash after enqueue() returned, before the in-flight marker is durable: nothing was sent;
//      the entry is sent after restart. No loss, no duplicate.
//   3. crash after the in-flight marker, before the request reached the receiver: re-sent after
//      restart with the same key; the receiver sees it once. No duplicate.
//   4. crash after the receiver got the request (2xx sent or not) but before the removal is
//      durable: re-sent after restart with the SAME key. This is the one window that produces a
//      second request. Receivers that dedup (webhook via the idempotency header, PagerDuty via
//      dedup_key, which merges a repeated trigger into the open incident and makes resolve
//      idempotent) absorb it; Slack and console have no dedup and can show the message twice.
//      The window is the response's trip back plus one outbox write (a few ms for a small
//      outbox, ~65 ms for a full 10,000-entry one; see bench/state-store.ts).
//   5. crash after the removal is durable: nothing is re-sent.
// Outside crashes, a send that times out (sendTimeoutMs) but was processed by the receiver is
// retried with the same key: same effect as window 4. And a replayed id that has aged out of the
// bounded delivery log (deliveryLogLimit per channel) is treated as new.
import { z } from 'zod';
import type { Notification } from '../model.js';
import { silentLog, type Log, type StateStore } from '../state/store.js';
import { redact } from '../util/redact.js';
import type { DeliveryResult, Notifier } from './notifier.js';

// ---------------------------------------------------------------------------------------------
// Time, injectable so tests can run ten minutes of outage in milliseconds.

export interface Clock {
  /** Epoch ms. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
};

// ---------------------------------------------------------------------------------------------
// Persisted shape.

export interface OutboxEntry {
  /** Global enqueue order; FIFO per channel follows it. */
  seq: number;
  channel: string;
  /** Notification id: the idempotency key. */
  id: string;
  enqueuedAt: number;
  attempts: number;
  /** Epoch ms before which the entry must not be sent (backoff, Retry-After). */
  nextAttemptAt: number;
  /** Persisted before the send starts; still true after a crash means "may have been delivered". */
  inFlight: boolean;
  lastError: string | null;
  lastStatus: number | null;
}

export type DeliveryOutcome = 'delivered' | 'rejected' | 'overflow' | 'channel_removed';
export type DropReason = Exclude<DeliveryOutcome, 'delivered'>;

export interface DeliveryRecord {
  id: string;
  at: number;
  outcome: DeliveryOutcome;
  attempts: number;
  status: number | null;
  /** Scrubbed of secrets. */
  error: string | null;
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
}

const entrySchema = z.object({
  seq: z.number().int(), channel: z.string(), id: z.string(), enqueuedAt: z.number(), attempts: z.number().int().min(0),
  nextAttemptAt: z.number(), inFlight: z.boolean(), lastError: z.string().nullable(), lastStatus: z.number().int().nullable(),
});
const recordSchema = z.object({
  id: z.string(), at: z.number(), outcome: z.enum(['delivered', 'rejected', 'overflow', 'channel_removed']),
  attempts: z.number().int(), status: z.number().int().nullable(), error: z.string().nullable(),
});
const docSchema = z.object({
  nextSeq: z.number().int().min(1),
  notifications: z.array(z.looseObject({ id: z.string(), kind: z.string() })),
  entries: z.array(entrySchema),
  log: z.record(z.string(), z.array(recordSchema)),
  lastSendAt: z.record(z.string(), z.number()),
  dropped: z.object({ rejected: z.number(), overflow: z.number(), channel_removed: z.number() }),
});

/** Shape check for the persisted outbox; a throw makes the store set the document aside. */
export function parseOutboxDoc(data: unknown): OutboxDoc {
  const doc = docSchema.parse(data) as unknown as OutboxDoc;
  const ids = new Set(doc.notifications.map((n) => n.id));
  for (const e of doc.entries) if (!ids.has(e.id)) throw new Error(`entry ${e.seq} refers to a missing notification ${e.id}`);
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Functional core: backoff, result classification, pacing, caps.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  factor: number;
}
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 300_000, factor: 2 };

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

/** Earliest time the head entry of a channel may be sent: its own schedule and the channel's pacing. */
export function nextSendAt(entry: Pick<OutboxEntry, 'nextAttemptAt'>, lastSendAt: number | null, minIntervalMs: number): number {
  return Math.max(entry.nextAttemptAt, lastSendAt === null ? -Infinity : lastSendAt + minIntervalMs);
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

const scrub = (s: string | null | undefined): string => redact(String(s ?? '')).slice(0, 500);

// ---------------------------------------------------------------------------------------------
// The shell.

export interface OutboxObserver {
  /** A 2xx: keystore_watch_notifications_total{channel}. */
  onDelivered?(channelId: string): void;
  /** Every failed attempt, retryable or not: keystore_watch_notification_failures_total{channel}; code is http_<status>, timeout or network. */
  onFailure?(channelId: string, code: string): void;
  /** An entry removed undelivered: keystore_watch_outbox_dropped_total{reason}. */
  onDropped?(reason: DropReason, channelId: string): void;
  /** The queue length changed: keystore_watch_outbox_pending (or read pending() in a collect callback). */
  onPending?(pending: number): void;
}

export interface OutboxOptions {
  store: StateStore;
  /** One per configured channel; ids must be unique. */
  notifiers: readonly Notifier[];
  /** alerting.outboxLimit: entries across all channels. */
  limit: number;
  clock?: Clock;
  observer?: OutboxObserver;
  log?: Log;
  /** Per attempt; a send that has not answered by then counts as a retryable timeout. Real time, not the clock. Default 15 s. */
  sendTimeoutMs?: number;
  backoff?: BackoffPolicy;
  /** Upper bound on a honoured Retry-After. Default 1 h. */
  maxRetryAfterMs?: number;
  /** Ids remembered per channel after delivery or drop. Default 2000. */
  deliveryLogLimit?: number;
  /** How long stop() lets a send under way finish before aborting it. Real time. Default 5 s. */
  stopTimeoutMs?: number;
  /** For the jitter; default Math.random. */
  random?: () => number;
}

export interface EnqueueResult {
  /** Entries added (one per accepting channel). */
  queued: number;
  /** Skipped because the channel already queued or already finished that id. */
  duplicates: number;
  /** Notifications no channel accepted. */
  unrouted: number;
  /** Older entries the cap dropped to make room. */
  dropped: number;
}

interface Channel {
  readonly id: string;
  readonly notifier: Notifier;
  queue: OutboxEntry[];
  queuedIds: Set<string>;
  log: DeliveryRecord[];
  seen: Set<string>;
  lastSendAt: number | null;
  wake: (() => void) | null;
  sendAbort: AbortController | null;
}

export class Outbox {
  private readonly store: StateStore;
  private readonly clock: Clock;
  private readonly observer: OutboxObserver;
  private readonly log: Log;
  private readonly limit: number;
  private readonly sendTimeoutMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly maxRetryAfterMs: number;
  private readonly deliveryLogLimit: number;
  private readonly stopTimeoutMs: number;
  private readonly random: () => number;

  private readonly channels = new Map<string, Channel>();
  private readonly notifications = new Map<string, Notification>();
  private nextSeq = 1;
  private dropped: Record<DropReason, number> = { rejected: 0, overflow: 0, channel_removed: 0 };
  private resumed = 0;

  // Persistence: a version counter so concurrent mutators share one write and each waits for a write that includes its change.
  private version = 0;
  private savedVersion = 0;
  private writing: Promise<void> | null = null;

  private started = false;
  private stopping = false;
  private readonly stopCtl = new AbortController();
  private workers: Promise<void>[] = [];
  private idleWaiters: (() => void)[] = [];

  private constructor(opts: OutboxOptions) {
    this.store = opts.store;
    this.clock = opts.clock ?? systemClock;
    this.observer = opts.observer ?? {};
    this.log = opts.log ?? silentLog;
    this.limit = Math.max(1, opts.limit);
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 15_000;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 3_600_000;
    this.deliveryLogLimit = Math.max(1, opts.deliveryLogLimit ?? 2_000);
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
    this.random = opts.random ?? Math.random;
    for (const notifier of opts.notifiers) {
      if (this.channels.has(notifier.id)) throw new Error(`two channels share the id "${notifier.id}"; give one a name`);
      this.channels.set(notifier.id, {
        id: notifier.id, notifier, queue: [], queuedIds: new Set(), log: [], seen: new Set(), lastSendAt: null, wake: null, sendAbort: null,
      });
    }
  }

  /**
   * Loads the persisted outbox (a corrupt one is set aside by the store and the outbox starts
   * empty) and reconciles it with the configured channels. Call start() to begin delivery.
   */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const outbox = new Outbox(opts);
    const doc = await opts.store.read('outbox', parseOutboxDoc);
    if (doc && outbox.load(doc)) await outbox.persist();
    return outbox;
  }

  /** Starts one delivery loop per channel. Idempotent. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.workers = [...this.channels.values()].map((ch) =>
      this.runChannel(ch).catch((err: unknown) => {
        // A bug, not a delivery failure: log loudly rather than take the daemon down.
        this.log.error({ channel: ch.id, err: scrub((err as Error)?.stack ?? String(err)) }, 'outbox delivery loop crashed');
      }),
    );
  }

  /** Queues each notification for every channel that accepts it, persisted before this resolves. */
  async enqueue(ns: readonly Notification[]): Promise<EnqueueResult> {
    const result: EnqueueResult = { queued: 0, duplicates: 0, unrouted: 0, dropped: 0 };
    const now = this.clock.now();
    for (const n of ns) {
      let routed = false;
      for (const ch of this.channels.values()) {
        if (!this.accepts(ch, n)) continue;
        routed = true;
        if (ch.queuedIds.has(n.id) || ch.seen.has(n.id)) {
          result.duplicates++;
          continue;
        }
        if (!this.notifications.has(n.id)) this.notifications.set(n.id, n);
        ch.queue.push({ seq: this.nextSeq++, channel: ch.id, id: n.id, enqueuedAt: now, attempts: 0, nextAttemptAt: now, inFlight: false, lastError: null, lastStatus: null });
        ch.queuedIds.add(n.id);
        result.queued++;
      }
      if (!routed) result.unrouted++;
    }
    if (result.duplicates) this.log.debug({ duplicates: result.duplicates }, 'outbox skipped notifications it already has or already delivered');
    if (result.queued === 0) return result;
    result.dropped = this.enforceCap();
    this.changed();
    for (const ch of this.channels.values()) ch.wake?.();
    await this.persist();
    return result;
  }

  /** Entries waiting (including any being sent). */
  pending(): number {
    let n = 0;
    for (const ch of this.channels.values()) n += ch.queue.length;
    return n;
  }

  pendingByChannel(): Record<string, number> {
    return Object.fromEntries([...this.channels.values()].map((ch) => [ch.id, ch.queue.length]));
  }

  /** Dropped totals by reason since the outbox began (persisted). */
  droppedTotals(): Readonly<Record<DropReason, number>> {
    return { ...this.dropped };
  }

  /** Recent outcomes of one channel, newest last (for the API and debugging). */
  deliveryLog(channelId: string): readonly DeliveryRecord[] {
    return this.channels.get(channelId)?.log.slice() ?? [];
  }

  /** Entries found in flight when this instance loaded the outbox: possibly delivered before a crash, re-sent with the same key. */
  resumedInFlight(): number {
    return this.resumed;
  }

  /** Resolves when nothing is pending. */
  whenIdle(): Promise<void> {
    if (this.pending() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * For `once` and `drill`: starts delivery if needed and waits until the queue is empty or
   * `timeoutMs` of real time passes (it bounds the command's wall time, like sendTimeoutMs and
   * stopTimeoutMs; only scheduling decisions use the clock). True when everything was delivered or dropped.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.start();
    if (this.pending() === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    try {
      return await Promise.race([this.whenIdle().then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops the delivery loops: no new send starts; a send under way gets stopTimeoutMs to finish
   * (its outcome is recorded), then is aborted and stays queued. Entries stay persisted for the
   * next start. enqueue() still works afterwards (persist only).
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopCtl.abort();
      for (const ch of this.channels.values()) ch.wake?.();
    }
    const timer = setTimeout(() => {
      for (const ch of this.channels.values()) ch.sendAbort?.abort(new Error('outbox stopping'));
    }, this.stopTimeoutMs);
    try {
      await Promise.all(this.workers);
    } finally {
      clearTimeout(timer);
    }
    await this.persist().catch((err: unknown) => this.log.error({ err: scrub((err as Error).message) }, 'cannot persist outbox on stop'));
  }

  // ---- delivery loop ------------------------------------------------------------------------

  private async runChannel(ch: Channel): Promise<void> {
    const maxWait = Math.max(this.backoff.maxMs, this.maxRetryAfterMs, ch.notifier.minIntervalMs);
    while (!this.stopping) {
      const entry = ch.queue[0];
      if (!entry) {
        this.checkIdle();
        await new Promise<void>((resolve) => { ch.wake = resolve; });
        ch.wake = null;
        continue;
      }
      const now = this.clock.now();
      // The wall clock can jump back: never wait longer than the longest delay we could have chosen.
      if (ch.lastSendAt !== null && ch.lastSendAt > now) ch.lastSendAt = now;
      if (entry.nextAttemptAt > now + maxWait) entry.nextAttemptAt = now + maxWait;
      const wait = nextSendAt(entry, ch.lastSendAt, ch.notifier.minIntervalMs) - now;
      if (wait > 0) {
        await this.clock.sleep(wait, this.stopCtl.signal);
        continue; // re-evaluate: the head may have been dropped by the cap meanwhile
      }
      await this.attempt(ch, entry);
    }
  }

  private async attempt(ch: Channel, entry: OutboxEntry): Promise<void> {
    const n = this.notifications.get(entry.id);
    if (!n) {
      // Cannot happen with a well-formed document; never loop on it.
      this.finish(ch, entry, 'rejected', null, 'payload missing from the outbox');
      this.changed();
      await this.persistQuietly();
      return;
    }
    entry.inFlight = true;
    entry.attempts++;
    this.changed();
    // Durable "may be delivered" marker before the request leaves (crash windows 2-4 above). If the
    // disk refuses, send anyway: a duplicate alert is better than a missing one.
    await this.persistQuietly();
    if (this.stopping) {
      // stop() arrived while the marker was being written: do not start a new send.
      entry.inFlight = false;
      entry.attempts--;
      this.changed();
      await this.persistQuietly();
      return;
    }

    const { result, timedOut, aborted } = await this.send(ch, n);
    const now = this.clock.now();
    ch.lastSendAt = now;
    entry.inFlight = false;

    if (aborted && !result.ok) {
      // Shutdown interrupted the send: not the receiver's fault; it goes again next start.
      entry.attempts--;
      this.changed();
      await this.persistQuietly();
      return;
    }
    const decision = decide(result, { attempts: entry.attempts, timedOut, backoff: this.backoff, maxRetryAfterMs: this.maxRetryAfterMs, random: this.random() });
    switch (decision.action) {
      case 'delivered':
        this.finish(ch, entry, 'delivered', result.status ?? null, null);
        this.observer.onDelivered?.(ch.id);
        break;
      case 'retry':
        entry.nextAttemptAt = now + decision.delayMs;
        entry.lastError = decision.error;
        entry.lastStatus = (!result.ok && result.status) || null;
        this.observer.onFailure?.(ch.id, decision.code);
        this.log.warn(
          { channel: ch.id, notification: entry.id, attempt: entry.attempts, code: decision.code, retryInMs: decision.delayMs, error: decision.error },
          'notification delivery failed; will retry',
        );
        break;
      case 'drop':
        this.observer.onFailure?.(ch.id, decision.code);
        this.finish(ch, entry, 'rejected', (!result.ok && result.status) || null, decision.error);
        this.log.error(
          { channel: ch.id, notification: entry.id, attempt: entry.attempts, code: decision.code, error: decision.error },
          'notification rejected by the channel; dropped',
        );
        break;
    }
    this.changed();
    await this.persistQuietly();
  }

  private async send(ch: Channel, n: Notification): Promise<{ result: DeliveryResult; timedOut: boolean; aborted: boolean }> {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error('send timed out'));
    }, this.sendTimeoutMs);
    ch.sendAbort = ctl;
    // Race the notifier against our own abort so a notifier that ignores its signal cannot wedge the channel.
    const onAbort = new Promise<DeliveryResult>((resolve) => {
      ctl.signal.addEventListener('abort', () => resolve({
        ok: false, retryable: true, error: timedOut ? `no answer within ${this.sendTimeoutMs} ms` : 'aborted: outbox stopping',
      }), { once: true });
    });
    const sent = Promise.resolve()
      .then(() => ch.notifier.send(n, ctl.signal))
      .catch((err: unknown): DeliveryResult => ({ ok: false, retryable: true, error: (err as Error)?.message ?? String(err) }));
    try {
      const result = await Promise.race([sent, onAbort]);
      return { result, timedOut: timedOut && !result.ok, aborted: ctl.signal.aborted && !timedOut };
    } finally {
      clearTimeout(timer);
      ch.sendAbort = null;
    }
  }

  // ---- queue bookkeeping ----------------------------------------------------------------------

  private accepts(ch: Channel, n: Notification): boolean {
    if (n.kind !== 'digest' && n.excludeChannels?.includes(ch.id)) return false;
    try {
      return ch.notifier.accepts(n);
    } catch (err) {
      this.log.error({ channel: ch.id, notification: n.id, err: scrub((err as Error).message) }, 'channel routing threw; notification not routed to it');
      return false;
    }
  }

  /** Removes an entry for good and remembers its id in the channel's bounded log. */
  private finish(ch: Channel, entry: OutboxEntry, outcome: DeliveryOutcome, status: number | null, error: string | null): void {
    const i = ch.queue.indexOf(entry);
    if (i >= 0) ch.queue.splice(i, 1);
    ch.queuedIds.delete(entry.id);
    this.remember(ch, { id: entry.id, at: this.clock.now(), outcome, attempts: entry.attempts, status, error });
    if (outcome !== 'delivered') {
      this.dropped[outcome]++;
      this.observer.onDropped?.(outcome, ch.id);
    }
  }

  private remember(ch: Channel, rec: DeliveryRecord): void {
    ch.log.push(rec);
    ch.seen.add(rec.id);
    while (ch.log.length > this.deliveryLogLimit) {
      const old = ch.log.shift()!;
      if (!ch.log.some((r) => r.id === old.id)) ch.seen.delete(old.id);
    }
  }

  /** Applies the global cap; returns how many entries it dropped. */
  private enforceCap(): number {
    const all = [...this.channels.values()].flatMap((ch) => ch.queue);
    const victims = new Set(overflowVictims(all, this.limit));
    if (victims.size === 0) return 0;
    for (const ch of this.channels.values()) {
      for (const e of ch.queue.filter((x) => victims.has(x.seq))) this.finish(ch, e, 'overflow', null, 'outbox full: oldest entries dropped');
    }
    this.log.warn({ dropped: victims.size, limit: this.limit }, 'outbox full; dropped the oldest notifications');
    return victims.size;
  }

  private changed(): void {
    this.version++;
    this.observer.onPending?.(this.pending());
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.idleWaiters.length && this.pending() === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  // ---- persistence ------------------------------------------------------------------------------

  /** Resolves once a write containing every change made before the call is durable. */
  private async persist(): Promise<void> {
    const target = this.version;
    while (this.savedVersion < target) {
      if (!this.writing) {
        const v = this.version;
        const doc = this.toDoc();
        this.writing = this.store.write('outbox', doc).then(
          () => { this.savedVersion = Math.max(this.savedVersion, v); },
        ).finally(() => { this.writing = null; });
      }
      await this.writing;
    }
  }

  private async persistQuietly(): Promise<void> {
    try {
      await this.persist();
    } catch (err) {
      this.log.error({ err: scrub((err as Error).message) }, 'cannot persist the outbox; continuing in memory');
    }
  }

  private toDoc(): OutboxDoc {
    const entries = [...this.channels.values()].flatMap((ch) => ch.queue).sort((a, b) => a.seq - b.seq);
    const referenced = new Set(entries.map((e) => e.id));
    // Payloads no entry needs any more are forgotten here.
    for (const id of this.notifications.keys()) if (!referenced.has(id)) this.notifications.delete(id);
    return {
      nextSeq: this.nextSeq,
      notifications: [...this.notifications.values()],
      entries: entries.map((e) => ({ ...e })),
      log: Object.fromEntries([...this.channels.values()].map((ch) => [ch.id, ch.log.slice()])),
      lastSendAt: Object.fromEntries([...this.channels.values()].filter((ch) => ch.lastSendAt !== null).map((ch) => [ch.id, ch.lastSendAt!])),
      dropped: { ...this.dropped },
    };
  }

  /** Rebuilds memory from a persisted document; true when reconciliation changed something worth writing back. */
  private load(doc: OutboxDoc): boolean {
    let dirty = false;
    this.nextSeq = doc.nextSeq;
    this.dropped = { ...doc.dropped };
    for (const n of doc.notifications) this.notifications.set(n.id, n);
    for (const [id, records] of Object.entries(doc.log)) {
      const ch = this.channels.get(id);
      if (!ch) continue; // a removed channel's log is of no use
      for (const r of records) this.remember(ch, r);
    }
    for (const [id, at] of Object.entries(doc.lastSendAt)) {
      const ch = this.channels.get(id);
      if (ch) ch.lastSendAt = at;
    }
    let resumed = 0;
    const orphans = new Map<string, number>();
    for (const e of [...doc.entries].sort((a, b) => a.seq - b.seq)) {
      this.nextSeq = Math.max(this.nextSeq, e.seq + 1);
      const ch = this.channels.get(e.channel);
      if (!ch) {
        orphans.set(e.channel, (orphans.get(e.channel) ?? 0) + 1);
        this.dropped.channel_removed++;
        this.observer.onDropped?.('channel_removed', e.channel);
        dirty = true;
        continue;
      }
      if (ch.queuedIds.has(e.id)) { dirty = true; continue; }
      if (e.inFlight) {
        // Crash windows 3-4: maybe delivered. Re-send with the same id; the receiver's dedup decides.
        resumed++;
        e.inFlight = false;
        dirty = true;
      }
      ch.queue.push({ ...e });
      ch.queuedIds.add(e.id);
    }
    this.resumed = resumed;
    if (resumed) this.log.warn({ entries: resumed }, 'outbox resumed sends interrupted by a restart; re-sending with the same idempotency keys');
    for (const [channel, count] of orphans) {
      this.log.warn({ channel, dropped: count }, 'outbox held notifications for a channel that is no longer configured; dropped');
    }
    if (this.enforceCap()) dirty = true;
    if (dirty) this.version++;
    this.observer.onPending?.(this.pending());
    return dirty;
  }
}
