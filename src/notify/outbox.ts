// The durable outbox: every notification for every channel goes through it. This file is the shell
// (sending, sleeping, persisting); the decisions are pure functions in outbox-policy.ts.
//
//   enqueue()  routes each notification to the channels that accept it and persists the queue
//              before returning, so a crash after enqueue() returns loses nothing.
//   schedule   every entry has its own retry schedule: network errors, timeouts and 5xx are retried
//              with exponential backoff and jitter (capped), so a message a receiver keeps refusing
//              never holds back the others on its channel. Order is kept only where it matters: per
//              channel, entries that share an order key (the alert key: a store's condition; a
//              digest has the keys of all its items) go strictly in enqueue order, so a store's
//              firing is delivered before its reminders and its resolved, and a resolved before the
//              next firing. Entries with different keys overtake each other freely.
//   channel    what a channel shares: pacing (minIntervalMs between sends: Slack's one message per
//              second per webhook), a Retry-After (429/503) holds the whole channel, and a channel
//              whose recent attempts all failed on two or more different entries (it looks down, not
//              one bad message) is backed off as a whole and probed with one request at a time, so an
//              outage does not turn into one retry storm per queued message. One entry failing again
//              and again alone never slows the channel. A healthy channel sends one request at a time,
//              but a send without an answer after stallMs (default 2 s) frees a slot for the next,
//              up to maxInFlight (default 4) at once, so a message whose receiver hangs until
//              sendTimeoutMs does not stall the others either.
//   dead letters  an entry still failing after maxAttempts attempts or maxAgeMs since it was queued
//              (checked after each failed attempt), or refused with a non-retryable answer (4xx), is
//              dead-lettered: removed from the queue, kept (a summary, no payload: capped at
//              deadLetterLimit, persisted in the outbox document), counted and reported through
//              observer.onDeadLetter (metric keystore_watch_outbox_dead_letters_total{channel}, the
//              self-alert on the other channels) and shown by the /api/v1/outbox endpoint. A
//              dead-lettered entry no longer blocks its order key: a resolved queued behind a
//              dead-lettered firing is sent (on-call learns from the dead-letter self-alert that the
//              firing was lost, and from the resolved that it is over); if it fails the same way it
//              is dead-lettered in its turn.
//   caps       the queue holds at most `limit` entries (alerting.outboxLimit): the oldest waiting
//              entry is dropped first and counted. The per-channel delivery log is bounded too.
//   time       schedules run on the clock's monotonic time while the process runs, so a wall-clock
//              jump neither makes every entry due at once nor parks the queue. What is persisted
//              (enqueuedAt, nextAttemptAt, lastSendAt) is wall-clock epoch ms, converted back at
//              load: a wall-clock jump while the process is down shifts those schedules (a due time
//              is never honoured further ahead than the longest delay the outbox can choose, and an
//              entry's age never counts negative).
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
import type { Notification } from '../model.js';
import { silentLog, type Log, type StateStore } from '../state/store.js';
import {
  outboxKeyString,
  type DeadLetterRecord, type DeliveryRecord as BackendDeliveryRecord, type Fence, type LoadedState, type OutboxChanges, type OutboxRecord, type Retention, type StateBackend,
} from '../state/backend.js';
import { monotonicNow } from '../util/monotonic.js';
import type { DeliveryResult, Notifier } from './notifier.js';
import {
  DEFAULT_BACKOFF, DEFAULT_DEAD_LETTER_LIMIT, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_IN_FLIGHT,
  channelAfterAttempt, deadLetterOf, deadLetterReason, decide, healthyChannel, nextStep, orderKeys, overflowVictims, retryAfterOf, scrub,
  type BackoffPolicy, type ChannelGate, type ChannelHealth,
} from './outbox-policy.js';
import {
  parseOutboxDoc,
  type DeadLetter, type DeadLetterReason, type DeliveryOutcome, type DeliveryRecord, type DropReason, type OutboxDoc, type OutboxEntry,
} from './outbox-records.js';
import { DeliveryLog } from './outbox-log.js';

// The policy's and the records' names stay importable from here.
export * from './outbox-policy.js';
export * from './outbox-records.js';

// ---------------------------------------------------------------------------------------------
// Time, injectable so tests can run ten minutes of outage in milliseconds.

export interface Clock {
  /** Epoch ms (wall clock): what is persisted and shown. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Monotonic ms (any origin) for schedules while the process runs: never jumps with the wall clock.
   * Optional: a clock without it (the tests' virtual clocks, which never jump) schedules on now().
   */
  monotonic?(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // Monotonic (src/util/monotonic.ts); setTimeout, used by sleep, runs on monotonic time too.
  monotonic: monotonicNow,
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
// The shell.

export interface OutboxObserver {
  /** A 2xx: keystore_watch_notifications_total{channel}. */
  onDelivered?(channelId: string): void;
  /** Every failed attempt, retryable or not: keystore_watch_notification_failures_total{channel}; code is http_<status>, timeout or network. */
  onFailure?(channelId: string, code: string): void;
  /** An entry removed undelivered and not kept: keystore_watch_outbox_dropped_total{reason}. */
  onDropped?(reason: DropReason, channelId: string): void;
  /**
   * An entry given up on and kept as a dead letter: keystore_watch_outbox_dead_letters_total{channel},
   * and the self-alert on the other channels. Called once per dead letter, after it is recorded.
   */
  onDeadLetter?(entry: DeadLetter): void;
  /** The queue length changed: keystore_watch_outbox_pending (or read pending() in a collect callback). */
  onPending?(pending: number): void;
}

/**
 * Persistence through a StateBackend (src/state/backend.ts): each write is an OutboxChanges (the entries
 * that changed, by key; the entries that ended, as delivery records; the counters), applied with
 * applyOutbox, so marking one delivery writes that delivery and nothing else.
 */
export interface OutboxBackend {
  backend: Pick<StateBackend, 'applyOutbox'>;
  /** The writer's fence (lease epoch), read at each write. */
  fence: () => Fence;
  /** The outbox part of the backend's load() (start-up, failover). */
  loaded: LoadedState['outbox'];
}

/** Writes outbox changes as part of another call (the poll's commit). */
export type OutboxWrite = (changes: OutboxChanges, retention: Retention) => Promise<void>;

export interface OutboxOptions {
  /** The whole-document store of the previous releases (one of store and backend). */
  store?: StateStore;
  /** Keyed records through a StateBackend (one of store and backend). */
  backend?: OutboxBackend;
  /** One per configured channel; ids must be unique. */
  notifiers: readonly Notifier[];
  /**
   * What a channel gets of a notification (alerting.routes: src/notify/routing.ts routeToChannel): [] or
   * [n], or the parts of a digest routed there. Absent: [n] (every channel; the notifier's minSeverity
   * decides). The notifier's accepts() applies to what it returns either way.
   */
  router?: (n: Notification, channelId: string) => Notification[];
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
  /** alerting.outboxMaxAttempts: attempts after which a failing entry is dead-lettered. Default 50. */
  maxAttempts?: number;
  /** alerting.outboxMaxAge: time since enqueue after which a failing entry is dead-lettered (at its next failure). Default 6 h. */
  maxAgeMs?: number;
  /** alerting.deadLetterLimit: dead letters kept (oldest forgotten first). Default 500. */
  deadLetterLimit?: number;
  /** Sends under way at once per healthy channel, counting the stalled ones. Default 4. */
  maxInFlight?: number;
  /** A send without an answer after this long (real time) stalls: another may start beside it. Default min(2 s, sendTimeoutMs / 4). */
  stallMs?: number;
  /** Ids remembered per channel after delivery or drop. Default 2000. */
  deliveryLogLimit?: number;
  /** How long stop() lets the sends under way finish before aborting them. Real time. Default 5 s. */
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

/** An entry as /api/v1/outbox shows it: epoch ms as ISO 8601, never a payload or a channel secret. */
export interface OutboxEntryView {
  channel: string;
  id: string;
  kind: string;
  severity: string;
  alertKey: string | null;
  storeId: string | null;
  storeName: string | null;
  accountId: string | null;
  region: string | null;
  enqueuedAt: string;
  attempts: number;
  inFlight: boolean;
  nextAttemptAt: string;
  /** The earlier entry of the same alert key this one waits for (order kept per store), if any. */
  waitingFor: string | null;
  lastError: string | null;
  lastStatus: number | null;
}
export interface DeadLetterView extends Omit<DeadLetter, 'enqueuedAt' | 'deadLetteredAt'> {
  enqueuedAt: string;
  deadLetteredAt: string;
}
export interface OutboxView {
  pending: number;
  pendingByChannel: Record<string, number>;
  deadLettersTotal: Record<string, number>;
  dropped: Record<DropReason, number>;
  entries: OutboxEntryView[];
  deadLetters: DeadLetterView[];
}

/** An entry with its in-process schedule (monotonic), which is never persisted as such. */
interface LiveEntry extends OutboxEntry {
  keys: readonly string[];
  /** Monotonic ms when it may be sent. */
  due: number;
  /** Monotonic ms when it was queued (may be before this process started). */
  born: number;
  /** Queued by enqueue(ns, commit) whose commit has not resolved yet: not sent, and taken back if the commit fails. */
  uncommitted?: boolean;
}

interface Channel {
  readonly id: string;
  readonly notifier: Notifier;
  /** Sorted by seq. */
  queue: LiveEntry[];
  queuedIds: Set<string>;
  log: DeliveryLog;
  /** Wall-clock completion of the last send (persisted for pacing across restarts). */
  lastSendAt: number | null;
  gate: ChannelGate;
  /** What the recent attempts say about the channel (outbox-policy.ts channelAfterAttempt). */
  health: ChannelHealth;
  wake: (() => void) | null;
  sends: Set<AbortController>;
  tasks: Set<Promise<void>>;
}

const isoOf = (ms: number): string => {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : new Date(0).toISOString();
};

export class Outbox {
  private readonly store: StateStore | null;
  private readonly backend: OutboxBackend | null;
  private readonly clock: Clock;
  private readonly observer: OutboxObserver;
  private readonly log: Log;
  private readonly limit: number;
  private readonly sendTimeoutMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly maxRetryAfterMs: number;
  private readonly maxAttempts: number;
  private readonly maxAgeMs: number;
  private readonly deadLetterLimit: number;
  private readonly maxInFlight: number;
  private readonly stallMs: number;
  private readonly deliveryLogLimit: number;
  private readonly stopTimeoutMs: number;
  private readonly random: () => number;
  private readonly router: ((n: Notification, channelId: string) => Notification[]) | null;

  private readonly channels = new Map<string, Channel>();
  private readonly notifications = new Map<string, Notification>();
  private nextSeq = 1;
  private dropped: Record<DropReason, number> = { overflow: 0, channel_removed: 0 };
  private deadLetters: DeadLetter[] = [];
  private deadLettered: Record<string, number> = {};
  private resumed = 0;

  // Persistence: a version counter so concurrent mutators share one write and each waits for a write that includes its change.
  private version = 0;
  private savedVersion = 0;
  private writing: Promise<void> | null = null;
  // Backend persistence: the keys of entries changed since the last write, and the ends not yet written.
  private dirty = new Set<string>();
  private ended: { delivery: BackendDeliveryRecord; deadLetter?: DeadLetterRecord }[] = [];

  private started = false;
  private stopping = false;
  private workers: Promise<void>[] = [];
  private idleWaiters: (() => void)[] = [];

  private constructor(opts: OutboxOptions) {
    if (!opts.store === !opts.backend) throw new Error('the outbox needs exactly one of store and backend');
    this.store = opts.store ?? null;
    this.backend = opts.backend ?? null;
    this.clock = opts.clock ?? systemClock;
    this.observer = opts.observer ?? {};
    this.log = opts.log ?? silentLog;
    this.limit = Math.max(1, opts.limit);
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 15_000;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 3_600_000;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.maxAgeMs = Math.max(0, opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS);
    this.deadLetterLimit = Math.max(1, opts.deadLetterLimit ?? DEFAULT_DEAD_LETTER_LIMIT);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.stallMs = Math.max(1, opts.stallMs ?? Math.min(2_000, Math.floor(this.sendTimeoutMs / 4)));
    this.deliveryLogLimit = Math.max(1, opts.deliveryLogLimit ?? 2_000);
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
    this.random = opts.random ?? Math.random;
    this.router = opts.router ?? null;
    for (const notifier of opts.notifiers) {
      if (this.channels.has(notifier.id)) throw new Error(`two channels share the id "${notifier.id}"; give one a name`);
      this.channels.set(notifier.id, {
        id: notifier.id, notifier, queue: [], queuedIds: new Set(), log: new DeliveryLog(this.deliveryLogLimit), lastSendAt: null,
        gate: { sending: 0, stalled: 0, maxInFlight: this.maxInFlight, down: false, holdUntil: -Infinity, paceAnchor: null, minIntervalMs: notifier.minIntervalMs },
        health: healthyChannel(), wake: null, sends: new Set(), tasks: new Set(),
      });
    }
  }

  /** Monotonic ms for schedules (see Clock.monotonic). */
  private mono(): number {
    return this.clock.monotonic ? this.clock.monotonic() : this.clock.now();
  }

  /** The longest delay the outbox can choose for one channel: a persisted due time further ahead is a clock artefact. */
  private maxWait(ch: Channel): number {
    return Math.max(this.backoff.maxMs, this.maxRetryAfterMs, ch.notifier.minIntervalMs);
  }

  /**
   * Loads the persisted outbox (a corrupt one is set aside by the store and the outbox starts
   * empty) and reconciles it with the configured channels. Call start() to begin delivery.
   */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const outbox = new Outbox(opts);
    const doc = opts.backend ? docOfRecords(opts.backend.loaded) : await opts.store!.read('outbox', parseOutboxDoc);
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

  /**
   * Queues each notification for every channel that accepts it, persisted before this resolves.
   * `commit` (backend only): the new entries are written by that call instead of applyOutbox — the
   * poll's one atomic commit (backend.ts PollCommit.outbox) — and it is called even when nothing was
   * queued (the poll commits its snapshot and alert state regardless).
   */
  async enqueue(ns: readonly Notification[], commit?: OutboxWrite): Promise<EnqueueResult> {
    if (commit && !this.backend) throw new Error('enqueue(ns, commit) needs an outbox on a state backend');
    const result: EnqueueResult = { queued: 0, duplicates: 0, unrouted: 0, dropped: 0 };
    const now = this.clock.now();
    const mono = this.mono();
    const added: LiveEntry[] = [];
    for (const original of ns) {
      let routed = false;
      for (const ch of this.channels.values()) {
        // Routing may give a channel part of a digest (its items routed there), as a notification of its own.
        for (const n of this.deliveriesFor(ch, original)) {
          routed = true;
          if (ch.queuedIds.has(n.id) || ch.log.has(n.id)) {
            result.duplicates++;
            continue;
          }
          if (!this.notifications.has(n.id)) this.notifications.set(n.id, n);
          const entry: LiveEntry = {
            seq: this.nextSeq++, channel: ch.id, id: n.id, enqueuedAt: now, attempts: 0, nextAttemptAt: now, inFlight: false, lastError: null, lastStatus: null,
            keys: orderKeys(n), due: mono, born: mono, ...(commit ? { uncommitted: true } : {}),
          };
          ch.queue.push(entry);
          added.push(entry);
          ch.queuedIds.add(n.id);
          this.dirty.add(outboxKeyString({ channel: ch.id, id: n.id }));
          result.queued++;
        }
      }
      if (!routed) result.unrouted++;
    }
    if (result.duplicates) this.log.debug({ duplicates: result.duplicates }, 'outbox skipped notifications it already has or already delivered');
    if (result.queued === 0 && !commit) return result;
    if (result.queued) {
      result.dropped = this.enforceCap();
      this.changed();
      for (const ch of this.channels.values()) ch.wake?.();
    }
    if (commit) {
      // The poll's commit records these entries with the alert state that decided them: nothing is sent
      // before it resolved, and a commit that failed takes them back (the poll is evaluated again, with
      // the same notification ids), so a notification never goes out for a decision the state lacks.
      try {
        await this.persistVia(commit);
      } catch (err) {
        this.takeBack(added);
        throw err;
      }
      for (const e of added) delete e.uncommitted;
      if (added.length) for (const ch of this.channels.values()) ch.wake?.();
    } else await this.persist();
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

  /** The alert keys (order keys) of the entries a channel still holds: the Alertmanager re-post skips what is still queued. */
  queuedKeys(channelId: string): Set<string> {
    const ch = this.channels.get(channelId);
    return new Set(ch ? ch.queue.flatMap((e) => e.keys) : []);
  }

  /** Dropped totals by reason since the outbox began (persisted). */
  droppedTotals(): Readonly<Record<DropReason, number>> {
    return { ...this.dropped };
  }

  /** Dead letters per channel since the outbox began (persisted; the kept list is capped). */
  deadLetterTotals(): Readonly<Record<string, number>> {
    return { ...this.deadLettered };
  }

  /** The kept dead letters, oldest first. */
  deadLetterList(): readonly DeadLetter[] {
    return this.deadLetters.slice();
  }

  /** Recent outcomes of one channel, newest last (for the API and debugging). */
  deliveryLog(channelId: string): readonly DeliveryRecord[] {
    return this.channels.get(channelId)?.log.list() ?? [];
  }

  /** Entries found in flight when this instance loaded the outbox: possibly delivered before a crash, re-sent with the same key. */
  resumedInFlight(): number {
    return this.resumed;
  }

  /** What /api/v1/outbox shows: pending entries (in enqueue order) and dead letters (newest first), each list at most `limit` long. */
  view(limit = 500): OutboxView {
    const entries: OutboxEntryView[] = [];
    const wallNow = this.clock.now();
    const monoNow = this.mono();
    for (const ch of this.channels.values()) {
      const lastOfKey = new Map<string, string>();
      for (const e of ch.queue) {
        const n = this.notifications.get(e.id);
        const alert = n && n.kind !== 'digest' ? n : null;
        const waitingFor = e.keys.map((k) => lastOfKey.get(k)).find((x) => x !== undefined) ?? null;
        for (const k of e.keys) lastOfKey.set(k, e.id);
        entries.push({
          channel: ch.id, id: e.id, kind: n?.kind ?? 'unknown', severity: n?.severity ?? 'unknown', alertKey: alert?.alertKey ?? null,
          storeId: alert?.subject.storeId ?? null, storeName: alert?.subject.storeName ?? null, accountId: alert?.subject.accountId ?? null, region: alert?.subject.region ?? null,
          enqueuedAt: isoOf(e.enqueuedAt), attempts: e.attempts, inFlight: e.inFlight,
          nextAttemptAt: isoOf(wallNow + Math.max(0, e.due - monoNow)),
          waitingFor, lastError: e.lastError, lastStatus: e.lastStatus,
        });
      }
    }
    const seqOf = new Map([...this.channels.values()].flatMap((ch) => ch.queue.map((e) => [`${ch.id}\u0000${e.id}`, e.seq] as const)));
    entries.sort((a, b) => (seqOf.get(`${a.channel}\u0000${a.id}`) ?? 0) - (seqOf.get(`${b.channel}\u0000${b.id}`) ?? 0));
    return {
      pending: this.pending(),
      pendingByChannel: this.pendingByChannel(),
      deadLettersTotal: this.deadLetterTotals(),
      dropped: this.droppedTotals(),
      entries: entries.slice(0, limit),
      deadLetters: this.deadLetters.slice().reverse().slice(0, limit)
        .map((d) => ({ ...d, enqueuedAt: isoOf(d.enqueuedAt), deadLetteredAt: isoOf(d.deadLetteredAt) })),
    };
  }

  /** Resolves when nothing is pending. */
  whenIdle(): Promise<void> {
    if (this.pending() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * For `once` and `drill`: starts delivery if needed and waits until the queue is empty or
   * `timeoutMs` of real time passes (it bounds the command's wall time, like sendTimeoutMs and
   * stopTimeoutMs; only scheduling decisions use the clock). True when everything was delivered or dead-lettered.
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
   * Stops the delivery loops: no new send starts; the sends under way get stopTimeoutMs to finish
   * (their outcome is recorded), then are aborted and stay queued. Entries stay persisted for the
   * next start. enqueue() still works afterwards (persist only).
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      for (const ch of this.channels.values()) ch.wake?.();
    }
    const timer = setTimeout(() => {
      for (const ch of this.channels.values()) for (const ctl of ch.sends) ctl.abort(new Error('outbox stopping'));
    }, this.stopTimeoutMs);
    try {
      await Promise.all(this.workers);
      await Promise.all([...this.channels.values()].flatMap((ch) => [...ch.tasks]));
    } finally {
      clearTimeout(timer);
    }
    await this.persist().catch((err: unknown) => this.log.error({ err: scrub((err as Error).message) }, 'cannot persist outbox on stop'));
  }

  /** Entries of a commit that failed: never written, so never sent; they leave the queue as if never queued. */
  private takeBack(entries: readonly LiveEntry[]): void {
    for (const e of entries) {
      const ch = this.channels.get(e.channel);
      if (!ch) continue;
      const i = ch.queue.indexOf(e);
      if (i < 0) continue;
      ch.queue.splice(i, 1);
      ch.queuedIds.delete(e.id);
      this.dirty.delete(outboxKeyString(e));
    }
    if (entries.length) this.changed();
  }

  // ---- delivery loop ------------------------------------------------------------------------

  private async runChannel(ch: Channel): Promise<void> {
    while (!this.stopping) {
      const step = nextStep(ch.queue.some((e) => e.uncommitted) ? ch.queue.filter((e) => !e.uncommitted) : ch.queue, ch.gate, this.mono());
      if ('send' in step) {
        this.launch(ch, ch.queue.find((e) => e.seq === step.send)!);
        continue;
      }
      if ('idle' in step) this.checkIdle();
      // Woken early by enqueue(), a finished send or stop(): the plan is made again.
      const ctl = new AbortController();
      ch.wake = () => ctl.abort();
      if ('waitMs' in step) await this.clock.sleep(step.waitMs, ctl.signal);
      else await new Promise<void>((resolve) => ctl.signal.addEventListener('abort', () => resolve(), { once: true }));
      ch.wake = null;
    }
    await Promise.all([...ch.tasks]);
  }

  private launch(ch: Channel, entry: LiveEntry): void {
    entry.inFlight = true;
    ch.gate.sending++;
    ch.gate.paceAnchor = this.mono();
    const task: Promise<void> = this.attempt(ch, entry)
      .catch((err: unknown) => {
        entry.inFlight = false;
        this.log.error({ channel: ch.id, err: scrub((err as Error)?.stack ?? String(err)) }, 'outbox send crashed');
      })
      .finally(() => {
        ch.gate.sending--;
        ch.tasks.delete(task);
        ch.wake?.();
      });
    ch.tasks.add(task);
  }

  private async attempt(ch: Channel, entry: LiveEntry): Promise<void> {
    const n = this.notifications.get(entry.id);
    if (!n) {
      // Cannot happen with a well-formed document; never loop on it.
      entry.inFlight = false;
      entry.lastError = 'payload missing from the outbox';
      this.deadLetter(ch, entry, 'rejected');
      this.changed(entry);
      await this.persistQuietly();
      return;
    }
    entry.attempts++;
    this.changed(entry);
    // Durable "may be delivered" marker before the request leaves (crash windows 2-4 above). If the
    // disk refuses, send anyway: a duplicate alert is better than a missing one.
    await this.persistQuietly();
    if (this.stopping) {
      // stop() arrived while the marker was being written: do not start a new send.
      entry.inFlight = false;
      entry.attempts--;
      this.changed(entry);
      await this.persistQuietly();
      return;
    }

    const { result, timedOut, aborted } = await this.send(ch, n);
    const mono = this.mono();
    const now = this.clock.now();
    ch.gate.paceAnchor = Math.max(ch.gate.paceAnchor ?? mono, mono);
    ch.lastSendAt = now;
    entry.inFlight = false;

    if (aborted && !result.ok) {
      // Shutdown interrupted the send: not the receiver's fault; it goes again next start.
      entry.attempts--;
      this.changed(entry);
      await this.persistQuietly();
      return;
    }
    const decision = decide(result, { attempts: entry.attempts, timedOut, backoff: this.backoff, maxRetryAfterMs: this.maxRetryAfterMs, random: this.random() });
    ch.health = channelAfterAttempt(ch.health, { entryId: entry.id, ok: decision.action === 'delivered', retryAfterMs: retryAfterOf(result, this.maxRetryAfterMs) }, mono, this.backoff, this.random(), (id) => ch.queue.some((e) => e.id === id));
    ch.gate.down = ch.health.down;
    ch.gate.holdUntil = ch.health.holdUntil;
    if (decision.action === 'delivered') {
      this.finish(ch, entry, 'delivered', result.status ?? null, null);
      this.observer.onDelivered?.(ch.id);
    } else {
      entry.lastError = decision.error;
      entry.lastStatus = (!result.ok && result.status) || null;
      this.observer.onFailure?.(ch.id, decision.code);
      const reason = decision.action === 'drop' ? 'rejected' : deadLetterReason(entry.attempts, mono - entry.born, { maxAttempts: this.maxAttempts, maxAgeMs: this.maxAgeMs });
      if (reason) {
        this.deadLetter(ch, entry, reason);
      } else if (decision.action === 'retry') {
        entry.due = mono + decision.delayMs;
        entry.nextAttemptAt = now + decision.delayMs;
        this.log.warn(
          { channel: ch.id, notification: entry.id, attempt: entry.attempts, code: decision.code, retryInMs: decision.delayMs, error: decision.error },
          'notification delivery failed; will retry',
        );
      }
    }
    this.changed(entry);
    await this.persistQuietly();
  }

  private async send(ch: Channel, n: Notification): Promise<{ result: DeliveryResult; timedOut: boolean; aborted: boolean }> {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error('send timed out'));
    }, this.sendTimeoutMs);
    ch.sends.add(ctl);
    let stalled = false;
    const stallTimer = setTimeout(() => {
      stalled = true;
      ch.gate.stalled++;
      ch.wake?.();
    }, this.stallMs);
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
      clearTimeout(stallTimer);
      if (stalled) ch.gate.stalled--;
      ch.sends.delete(ctl);
    }
  }

  // ---- queue bookkeeping ----------------------------------------------------------------------

  /** What channel `ch` queues of `n`: routing (alerting.routes), then excludeChannels and the notifier's accepts(). */
  private deliveriesFor(ch: Channel, n: Notification): Notification[] {
    if (n.kind !== 'digest' && n.excludeChannels?.includes(ch.id)) return [];
    try {
      const routed = this.router ? this.router(n, ch.id) : [n];
      return routed.filter((x) => ch.notifier.accepts(x));
    } catch (err) {
      this.log.error({ channel: ch.id, notification: n.id, err: scrub((err as Error).message) }, 'channel routing threw; notification not routed to it');
      return [];
    }
  }

  /** The ids of the channels that would queue `n` (self-alerts use it to keep excludeChannels from leaving none). */
  channelsFor(n: Notification): string[] {
    return [...this.channels.values()].filter((ch) => this.deliveriesFor(ch, n).length > 0).map((ch) => ch.id);
  }

  /** Gives up on an entry: kept as a dead letter (capped), counted, logged and reported. */
  private deadLetter(ch: Channel, entry: LiveEntry, reason: DeadLetterReason): void {
    const dl = deadLetterOf(this.notifications.get(entry.id), entry, reason, this.clock.now());
    this.finish(ch, entry, 'dead_lettered', entry.lastStatus, entry.lastError, dl);
    this.deadLetters.push(dl);
    if (this.deadLetters.length > this.deadLetterLimit) this.deadLetters.splice(0, this.deadLetters.length - this.deadLetterLimit);
    this.deadLettered[ch.id] = (this.deadLettered[ch.id] ?? 0) + 1;
    this.log.error(
      { channel: ch.id, notification: entry.id, kind: dl.kind, severity: dl.severity, alertKey: dl.alertKey, reason, attempts: entry.attempts, status: entry.lastStatus, error: entry.lastError },
      reason === 'rejected' ? 'notification rejected by the channel; dead-lettered' : 'notification still failing at its retry limit; dead-lettered',
    );
    try {
      this.observer.onDeadLetter?.(dl);
    } catch (err) {
      this.log.error({ channel: ch.id, err: scrub((err as Error)?.message) }, 'dead-letter observer threw');
    }
  }

  /** Removes an entry for good and remembers its id in the channel's bounded log. */
  private finish(ch: Channel, entry: LiveEntry, outcome: DeliveryOutcome, status: number | null, error: string | null, dl?: DeadLetter): void {
    const i = ch.queue.indexOf(entry);
    if (i >= 0) ch.queue.splice(i, 1);
    ch.queuedIds.delete(entry.id);
    const rec: DeliveryRecord = { id: entry.id, at: this.clock.now(), outcome, attempts: entry.attempts, status, error };
    this.remember(ch, rec);
    if (this.backend) {
      this.ended.push({
        delivery: { channel: ch.id, ...rec },
        ...(dl ? { deadLetter: { channel: dl.channel, id: dl.id, at: dl.deadLetteredAt, summary: dl } } : {}),
      });
    }
    if (outcome === 'overflow' || outcome === 'channel_removed') {
      this.dropped[outcome]++;
      this.observer.onDropped?.(outcome, ch.id);
    }
  }

  private remember(ch: Channel, rec: DeliveryRecord): void {
    ch.log.remember(rec);
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

  private changed(entry?: LiveEntry): void {
    if (entry && this.backend) this.dirty.add(outboxKeyString(entry));
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
        const write = this.backend ? this.writeChanges() : this.store!.write('outbox', this.toDoc());
        this.writing = write.then(
          () => { this.savedVersion = Math.max(this.savedVersion, v); },
        ).finally(() => { this.writing = null; });
      }
      await this.writing;
    }
  }

  /** One write through `via` of everything changed so far, after the write under way (writes stay in order). */
  private async persistVia(via: OutboxWrite): Promise<void> {
    while (this.writing) await this.writing.catch(() => {});
    const v = this.version;
    this.writing = this.writeChanges(via).then(
      () => { this.savedVersion = Math.max(this.savedVersion, v); },
    ).finally(() => { this.writing = null; });
    await this.writing;
  }

  private async persistQuietly(): Promise<void> {
    try {
      await this.persist();
    } catch (err) {
      this.log.error({ err: scrub((err as Error).message) }, 'cannot persist the outbox; continuing in memory');
    }
  }

  /**
   * Backend persistence: one applyOutbox with what changed since the last write. A write that fails
   * changed nothing (backend contract), so its changes go back to be written with the next one: an
   * entry by key (its latest state is taken at that write, and an entry that has ended meanwhile is
   * not put back), an end in its order before the later ones.
   */
  private writeChanges(via?: OutboxWrite): Promise<void> {
    const b = this.backend!;
    const keys = this.dirty;
    const ended = this.ended;
    this.dirty = new Set();
    this.ended = [];
    const queued = new Map<string, LiveEntry>();
    for (const ch of this.channels.values()) for (const e of ch.queue) queued.set(outboxKeyString(e), e);
    const referenced = new Set([...queued.values()].map((e) => e.id));
    // Payloads no entry needs any more are forgotten here.
    for (const id of this.notifications.keys()) if (!referenced.has(id)) this.notifications.delete(id);
    const wallNow = this.clock.now();
    const monoNow = this.mono();
    const put: OutboxRecord[] = [];
    for (const k of keys) {
      const e = queued.get(k);
      if (!e) continue;
      put.push({
        channel: e.channel, id: e.id, seq: e.seq, enqueuedAt: e.enqueuedAt, attempts: e.attempts,
        nextAttemptAt: wallNow + Math.max(0, e.due - monoNow),
        inFlight: e.inFlight, lastError: e.lastError, lastStatus: e.lastStatus, payload: this.notifications.get(e.id),
      });
    }
    const changes: OutboxChanges = {
      put, finish: ended,
      meta: {
        nextSeq: this.nextSeq,
        lastSendAt: Object.fromEntries([...this.channels.values()].filter((ch) => ch.lastSendAt !== null).map((ch) => [ch.id, ch.lastSendAt!])),
        dropped: { ...this.dropped },
        deadLettered: { ...this.deadLettered },
      },
    };
    const retention: Retention = { deliveriesPerChannel: this.deliveryLogLimit, deadLetters: this.deadLetterLimit };
    let write: Promise<void>;
    try {
      write = via ? via(changes, retention) : b.backend.applyOutbox(b.fence(), changes, retention);
    } catch (err) {
      this.requeue(keys, ended);
      return Promise.reject(err);
    }
    return write.catch((err: unknown) => {
      this.requeue(keys, ended);
      throw err;
    });
  }

  private requeue(keys: Set<string>, ended: typeof this.ended): void {
    for (const k of keys) this.dirty.add(k);
    this.ended = ended.concat(this.ended);
  }

  private toDoc(): OutboxDoc {
    const entries = [...this.channels.values()].flatMap((ch) => ch.queue).sort((a, b) => a.seq - b.seq);
    const referenced = new Set(entries.map((e) => e.id));
    // Payloads no entry needs any more are forgotten here.
    for (const id of this.notifications.keys()) if (!referenced.has(id)) this.notifications.delete(id);
    const wallNow = this.clock.now();
    const monoNow = this.mono();
    return {
      nextSeq: this.nextSeq,
      notifications: [...this.notifications.values()],
      entries: entries.map((e) => ({
        seq: e.seq, channel: e.channel, id: e.id, enqueuedAt: e.enqueuedAt, attempts: e.attempts,
        // The monotonic schedule as wall-clock time as of this write.
        nextAttemptAt: wallNow + Math.max(0, e.due - monoNow),
        inFlight: e.inFlight, lastError: e.lastError, lastStatus: e.lastStatus,
      })),
      log: Object.fromEntries([...this.channels.values()].map((ch) => [ch.id, ch.log.list()])),
      lastSendAt: Object.fromEntries([...this.channels.values()].filter((ch) => ch.lastSendAt !== null).map((ch) => [ch.id, ch.lastSendAt!])),
      dropped: { ...this.dropped },
      deadLetters: this.deadLetters.slice(),
      deadLettered: { ...this.deadLettered },
    };
  }

  /** Rebuilds memory from a persisted document; true when reconciliation changed something worth writing back. */
  private load(doc: OutboxDoc): boolean {
    let dirty = false;
    const wallNow = this.clock.now();
    const monoNow = this.mono();
    this.nextSeq = doc.nextSeq;
    this.dropped = { ...doc.dropped };
    this.deadLetters = doc.deadLetters.slice(-this.deadLetterLimit);
    this.deadLettered = { ...doc.deadLettered };
    for (const n of doc.notifications) this.notifications.set(n.id, n);
    for (const [id, records] of Object.entries(doc.log)) {
      const ch = this.channels.get(id);
      if (!ch) continue; // a removed channel's log is of no use
      for (const r of records) this.remember(ch, r);
    }
    for (const [id, at] of Object.entries(doc.lastSendAt)) {
      const ch = this.channels.get(id);
      if (!ch) continue;
      ch.lastSendAt = at;
      // Pacing across the restart: the wall-clock gap since the last send, never negative, never beyond the interval.
      ch.gate.paceAnchor = monoNow - Math.min(Math.max(0, wallNow - at), ch.notifier.minIntervalMs);
    }
    let resumed = 0;
    const orphans = new Map<string, number>();
    for (const e of [...doc.entries].sort((a, b) => a.seq - b.seq)) {
      this.nextSeq = Math.max(this.nextSeq, e.seq + 1);
      const ch = this.channels.get(e.channel);
      if (!ch) {
        orphans.set(e.channel, (orphans.get(e.channel) ?? 0) + 1);
        if (this.backend) {
          this.ended.push({ delivery: { channel: e.channel, id: e.id, at: wallNow, outcome: 'channel_removed', attempts: e.attempts, status: null, error: 'the channel is no longer configured' } });
        }
        this.dropped.channel_removed++;
        this.observer.onDropped?.('channel_removed', e.channel);
        dirty = true;
        continue;
      }
      if (ch.queuedIds.has(e.id)) { dirty = true; continue; }
      if (e.inFlight) {
        // Crash windows 3-4: maybe delivered. Re-send with the same id; the receiver's dedup decides.
        resumed++;
        dirty = true;
        if (this.backend) this.dirty.add(outboxKeyString(e));
      }
      const n = this.notifications.get(e.id)!;
      ch.queue.push({
        ...e, inFlight: false, keys: orderKeys(n),
        // Wall-clock times back to monotonic: a due time further ahead than any delay the outbox chooses is a clock artefact.
        due: monoNow + Math.min(Math.max(0, e.nextAttemptAt - wallNow), this.maxWait(ch)),
        born: monoNow - Math.max(0, wallNow - e.enqueuedAt),
      });
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

/** The backend's outbox records in the shape load() reads (the document of the previous releases). */
function docOfRecords(o: LoadedState['outbox']): OutboxDoc {
  const notifications = new Map<string, Notification>();
  for (const e of o.entries) if (e.payload && !notifications.has(e.id)) notifications.set(e.id, e.payload as Notification);
  const log: Record<string, DeliveryRecord[]> = {};
  for (const { channel, ...d } of o.deliveries) (log[channel] ??= []).push(d as DeliveryRecord);
  const meta = o.meta;
  return {
    nextSeq: meta?.nextSeq ?? Math.max(1, ...o.entries.map((e) => e.seq + 1)),
    notifications: [...notifications.values()],
    // An entry without its payload cannot be sent (the backend stores them together; this is a guard).
    entries: o.entries.filter((e) => notifications.has(e.id)).map(({ payload: _p, ...e }) => e),
    log,
    lastSendAt: meta?.lastSendAt ?? {},
    dropped: { overflow: meta?.dropped.overflow ?? 0, channel_removed: meta?.dropped.channel_removed ?? 0 },
    deadLetters: o.deadLetters.map((d) => d.summary as DeadLetter),
    deadLettered: meta?.deadLettered ?? {},
  };
}
