// The state backend: where one replica (file backend) or several (PostgreSQL backend) keep what a
// poll decided and what the outbox delivered. It is the "commit" stage of the poll pipeline
// (discover -> collect -> snapshot -> evaluate -> COMMIT -> deliver).
//
// This module is types and contracts only (plus two tiny helpers every backend shares), so any backend
// and the contract suite (test/state/backend-contract.test.ts) can import it without pulling in the
// pipeline. It imports nothing from other folders: the values it stores (snapshot, alert state,
// notification payloads, dead-letter summaries) are opaque JSON to it.
//
// Contracts every backend keeps (the contract suite checks each):
//
//  ATOMICITY   commit() and applyOutbox() each apply ALL their changes or NONE. A crash (process
//              killed, power loss, connection lost) at any point during a call leaves, for the next
//              load(), either the state before the call or the state after it, never a mix (e.g. a
//              new snapshot with the old alert state, or an outbox entry without its poll).
//  DURABILITY  when a call resolves, its changes survive a crash. A call that rejected changed
//              nothing (NotLeaderError, an I/O error, an encoding error): the caller keeps its
//              in-memory view and may retry the same call (every call is idempotent, see below).
//  ORDERING    calls made on one backend instance are applied in call order, even when the caller
//              does not await one before making the next; a later call's changes are never
//              overwritten by an earlier one's. Two instances (two replicas) are ordered by fencing.
//  IDEMPOTENCE applying the same call twice leaves the same state as applying it once (replaying a
//              poll after a crash, retrying after a transient error): documents are replaced whole,
//              history entries carry their seq (one already stored is skipped), outbox records are
//              upserted by key, a finish of a key that is no longer queued still records its
//              delivery once (a delivery record is keyed by channel + id + at).
//  FENCING     every write carries the writer's lease epoch (a fencing token). The backend remembers
//              the highest epoch it has accepted; a write carrying a LOWER epoch rejects with
//              NotLeaderError and changes nothing. PostgreSQL also rejects an epoch that is not the
//              current lease holder's. The file backend takes the epoch from its caller (one replica
//              holds the stateDir lock; it writes with SINGLE_REPLICA_EPOCH unless told otherwise).
//  READ-BACK   load() returns the state as of the last call that resolved, plus possibly the one call
//              that was under way at the crash (all of it or none of it). Outbox entries that were
//              `inFlight` may have been delivered (the send raced the crash): the outbox re-sends them
//              with the same idempotency key. A part that cannot be decoded (corrupt, wrong version,
//              rejected by its parser) is set aside, reported through onCorrupt and loaded as absent
//              (null / empty), never a crash loop.
//  KEYS        an outbox record is keyed by (channel, notification id); a delivery record by
//              (channel, notification id, at). Marking a delivery writes that record and deletes the
//              entry by key; it never rewrites the other entries or the snapshot.
//  REFERENCES  the backend keeps references; callers must not mutate what they committed. What a call
//              WRITES is encoded when the call is made (a change made afterwards is not written), but
//              what the backend keeps in memory, answers from latestSnapshot() and writes again at a
//              checkpoint may be the very objects the caller passed (the file backend keeps them rather
//              than a parsed copy: a whole third snapshot at 20,000 stores, issue 14). The callers keep
//              this: snapshots are immutable (src/snapshot/build.ts shares unchanged records between
//              polls), the alert pipeline commits a fresh alert-state document per poll, history entries
//              are created per poll and never changed, and the outbox builds fresh records, finish and
//              meta objects for every write (notify/outbox.ts writeChanges) and never changes a
//              notification payload it queued. test/pipeline/committed-objects.test.ts runs the pipeline
//              with every committed object deep-frozen. Values are JSON: what a reload answers is what
//              JSON.stringify keeps (no undefined, no Date objects, NaN as null).
//  RETENTION   the backend caps what grows: history to `history.limit` entries (oldest first out,
//              counted in `dropped`), deliveries to `retention.deliveriesPerChannel` per channel and dead
//              letters to `retention.deadLetters` (oldest first out).

/** Shared with the lease: the epoch a single replica (no leader election) writes with. */
export const SINGLE_REPLICA_EPOCH = 1;

/** The fencing token every write carries: the writer's lease epoch. */
export interface Fence {
  readonly epoch: number;
}

/** A write from a replica that is not (or no longer) the leader: nothing was written. */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER';
  constructor(
    /** The epoch the rejected write carried. */
    readonly epoch: number,
    /** The epoch the backend holds as current (null when unknown, e.g. the lease row is gone). */
    readonly currentEpoch: number | null,
    what = 'state write',
  ) {
    super(`${what} rejected: this replica writes with lease epoch ${epoch} but the current epoch is ${currentEpoch ?? 'unknown'} (another replica is the leader)`);
    this.name = 'NotLeaderError';
  }
}

export const isNotLeaderError = (err: unknown): err is NotLeaderError =>
  err instanceof NotLeaderError || (err as { code?: unknown } | null)?.code === 'NOT_LEADER';

// ---------------------------------------------------------------------------------------------
// Records.

/** The key of an outbox record: one notification queued for one channel. */
export interface OutboxKey {
  channel: string;
  /** The notification id: also the idempotency key the receiver sees. */
  id: string;
}

/** One queued notification for one channel. */
export interface OutboxRecord extends OutboxKey {
  /** Global enqueue order (per channel, entries sharing an order key go in seq order). */
  seq: number;
  /** Epoch ms. */
  enqueuedAt: number;
  attempts: number;
  /** Epoch ms before which it must not be sent (as of this write). */
  nextAttemptAt: number;
  /** Written true before the send starts: still true after a crash means "may have been delivered". */
  inFlight: boolean;
  lastError: string | null;
  lastStatus: number | null;
  /** The notification as the notifier renders it (opaque JSON to the backend). */
  payload: unknown;
}

/** A notification's end on one channel: delivered, dead-lettered, or dropped. */
export interface DeliveryRecord extends OutboxKey {
  /** Epoch ms. */
  at: number;
  /** 'delivered' | 'dead_lettered' | 'rejected' | 'overflow' | 'channel_removed' (see notify/outbox-policy). */
  outcome: string;
  attempts: number;
  status: number | null;
  /** Scrubbed of secrets before it gets here. */
  error: string | null;
}

/** Small outbox-wide counters and pacing, replaced whole by the write that changes them. */
export interface OutboxMeta {
  /** Next enqueue seq. */
  nextSeq: number;
  /** Wall-clock completion of the last send per channel (pacing survives a restart). */
  lastSendAt: Record<string, number>;
  /** Dropped totals by reason since the outbox began. */
  dropped: Record<string, number>;
  /** Dead letters per channel since the outbox began. */
  deadLettered: Record<string, number>;
}

/** What is kept of a dead-lettered notification (opaque summary, never a payload or a secret). */
export interface DeadLetterRecord extends OutboxKey {
  /** Epoch ms. */
  at: number;
  summary: unknown;
}

export interface HistoryRecord {
  /** Monotonic across restarts and failovers. */
  seq: number;
  /** Epoch ms. */
  at: number;
  item: unknown;
}

/** Outbox changes applied together (by commit() or applyOutbox()). */
export interface OutboxChanges {
  /** Insert or replace by key (a new entry, an attempt starting, a retry scheduled). */
  put?: OutboxRecord[];
  /** Remove the entry by key (if still there) and record its end; `deadLetter` is kept with it. */
  finish?: { delivery: DeliveryRecord; deadLetter?: DeadLetterRecord }[];
  /** Replaces the outbox counters. */
  meta?: OutboxMeta;
}

export interface Retention {
  deliveriesPerChannel: number;
  deadLetters: number;
}

/** Everything one poll changes, committed at once. */
export interface PollCommit {
  pollId: number;
  /** Replaces the latest snapshot (followers serve it). */
  snapshot: unknown;
  /** Replaces the alert lifecycle state (with the diff's carry-over). */
  alerts: unknown;
  /** This poll's changes for /api/v1/events, seqs consecutive after the stored ones; capped to `limit`. */
  history: { entries: HistoryRecord[]; limit: number };
  /** The notifications this poll decided to send, queued per channel; overflow drops as `finish`. */
  outbox: OutboxChanges;
}

/**
 * On-call state (silences, acknowledgements, audit events): small records keyed by (kind, id), written
 * by an operator's action between polls with applyOnCall() and returned by load() (`onCall`). The
 * values are opaque JSON to the backend. Audit records are capped to `auditLimit` (oldest `at` first out).
 */
export interface OnCallRecord {
  kind: 'silence' | 'ack' | 'audit';
  id: string;
  /** Epoch ms of the write (orders audit records). */
  at: number;
  value: unknown;
}

/** On-call changes applied together (atomically, fenced, idempotent: put replaces by key, delete of a missing key is a no-op). */
export interface OnCallChanges {
  put?: OnCallRecord[];
  delete?: { kind: OnCallRecord['kind']; id: string }[];
  /** Audit records kept after this write (default 1000). */
  auditLimit?: number;
}

export const DEFAULT_ONCALL_AUDIT_LIMIT = 1000;

/** What load() returns: the state as of the last resolved write (see READ-BACK). */
export interface LoadedState {
  /** The highest epoch the backend has accepted a write from (0 when never written). */
  epoch: number;
  /** pollId of the last commit; null when none (or the state predates commits). */
  pollId: number | null;
  snapshot: unknown | null;
  alerts: unknown | null;
  history: { nextSeq: number; dropped: number; entries: HistoryRecord[] };
  outbox: {
    /** Sorted by seq. */
    entries: OutboxRecord[];
    /** Per channel oldest first, at most retention.deliveriesPerChannel each. */
    deliveries: DeliveryRecord[];
    /** Oldest first. */
    deadLetters: DeadLetterRecord[];
    meta: OutboxMeta | null;
  };
  /** Silences, acknowledgements and audit events (applyOnCall); absent from backends that predate them. */
  onCall?: OnCallRecord[];
}

/** Validates a loaded part; a throw makes it count as corrupt (set aside, loaded as absent). */
export type PartParser = (data: unknown) => unknown;

export interface LoadOptions {
  parseSnapshot?: PartParser;
  parseAlerts?: PartParser;
}

export interface StateBackend {
  /** Reads the whole state (start-up, failover). Throws only on I/O errors other than "absent". */
  load(opts?: LoadOptions): Promise<LoadedState>;
  /** One poll's changes, atomically (see the contracts above). */
  commit(fence: Fence, poll: PollCommit, retention: Retention): Promise<void>;
  /** Outbox changes between polls (attempt started, delivered, retry scheduled, dead-lettered), atomically. */
  applyOutbox(fence: Fence, changes: OutboxChanges, retention: Retention): Promise<void>;
  /** On-call records (silences, acknowledgements, audit events), atomically and fenced like the other writes. */
  applyOnCall?(fence: Fence, changes: OnCallChanges): Promise<void>;
  /** The latest committed snapshot alone (followers serve /metrics and /api/v1 from it); null when none. */
  latestSnapshot(parse?: PartParser): Promise<{ pollId: number | null; snapshot: unknown } | null>;
  /** Waits for writes under way; later calls reject. */
  close(): Promise<void>;
}

/** A stable string for an outbox key (maps, logs). */
export const outboxKeyString = (k: OutboxKey): string => `${k.channel}\u0000${k.id}`;

/** A stable string for an on-call record key. */
export const onCallKeyString = (k: { kind: string; id: string }): string => `${k.kind}\u0000${k.id}`;
