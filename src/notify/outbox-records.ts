// The outbox's persisted records: an entry (one notification queued for one channel), a delivery record
// (its end), a dead letter (what is kept of one given up on) and the whole-outbox document the previous
// versions wrote (still read at start-up, and the file backend's checkpoint format).
import { z } from 'zod';
import type { Notification, Severity } from '../model.js';

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

