// PostgreSQL state backend (state.backend: postgres): the StateBackend contract (./backend.ts) with
// one transaction per call, fenced by the leader lease's epoch, so replicas sharing the database
// agree on one state.
//
// Layout (schema state.schema, default keystore_watch; postgres-migrations.ts):
//   documents      the latest snapshot and alert state, as the envelope text encodeDocument() makes
//                  (a part that cannot be decoded is moved to documents_corrupt, reported, loaded as absent);
//   state_meta     one row: highest accepted epoch, last poll id, history counters, outbox counters;
//   history        one row per change (seq), capped to the commit's limit, oldest first out;
//   outbox         one row per (channel, notification id): marking a delivery deletes that row only;
//   deliveries, dead_letters   one row per end of a notification, capped per channel / overall;
//   lease          the leader lease (src/ha/lease.ts).
//
// ATOMICITY: every commit()/applyOutbox() is one transaction; a client killed mid-way (SIGKILL, a
// lost connection, pg_terminate_backend) is rolled back by the server, so load() sees all of a call or
// none of it. DURABILITY: resolved after COMMIT returned (with the server's synchronous_commit).
// ORDERING: calls of one instance are chained (a later call starts after the earlier one settled);
// two instances are ordered by the row locks below. FENCING: each write transaction first locks the
// lease row FOR SHARE and requires it to carry the write's epoch and to be unexpired by the database's
// clock (when a lease row exists: replicas run an election), then locks state_meta FOR UPDATE and
// requires the epoch to be no lower than the highest one accepted. Either failure rolls back with
// NotLeaderError. The FOR SHARE lock makes a takeover (an UPDATE of the lease row) wait until the
// write has committed, so the new leader's load() includes every write its predecessor got accepted.
import type pg from 'pg';
import {
  NotLeaderError,
  type DeliveryRecord, type Fence, type LoadOptions, type LoadedState, type OutboxChanges, type OutboxMeta, type OutboxRecord,
  type PartParser, type PollCommit, type Retention, type StateBackend, type DeadLetterRecord, type HistoryRecord,
  type OnCallChanges, type OnCallRecord, DEFAULT_ONCALL_AUDIT_LIMIT,
} from './backend.js';
import { decodeDocument, encodeDocument, silentLog, type CorruptReport, type Log, type StateDocName } from './store.js';
import { PgConnection, quoteIdent, type PgConnectionOptions } from './postgres-connect.js';
import { migrate, type MigrationResult } from './postgres-migrations.js';

export const DEFAULT_LEASE_NAME = 'leader';

export interface PostgresBackendOptions extends Omit<PgConnectionOptions, 'onIdleError'> {
  schema: string;
  /** An existing connection (shared with the lease); else one is opened from url and closed by close(). */
  conn?: PgConnection;
  /** The lease row the fence checks (tests run several in one schema). */
  leaseName?: string;
  onCorrupt?(report: CorruptReport): void;
  log?: Log;
  /** Corrupt documents kept per name. Default 5. */
  keepCorrupt?: number;
  now?: () => number;
}

type Part = Extract<StateDocName, 'snapshot' | 'alerts'>;

export class PostgresStateBackend implements StateBackend {
  readonly conn: PgConnection;
  readonly schema: string;
  readonly migration: MigrationResult;
  private readonly s: string;
  private readonly log: Log;
  private readonly now: () => number;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly opts: PostgresBackendOptions, conn: PgConnection, private readonly ownConn: boolean, migration: MigrationResult) {
    this.conn = conn;
    this.schema = opts.schema;
    this.s = quoteIdent(opts.schema);
    this.log = opts.log ?? silentLog;
    this.now = opts.now ?? Date.now;
    this.migration = migration;
  }

  /** Connects and applies the migrations under the advisory lock. Throws when the database cannot be reached. */
  static async open(opts: PostgresBackendOptions): Promise<PostgresStateBackend> {
    const log = opts.log ?? silentLog;
    const conn = opts.conn ?? new PgConnection({ ...opts, onIdleError: (err) => log.warn({ err }, 'PostgreSQL connection lost (idle); reconnecting on the next query') });
    try {
      const migration = await conn.withClient('state schema migration', (c) => migrate(c, opts.schema), Math.max(conn.queryTimeoutMs, 60_000));
      if (migration.applied.length) log.info({ schema: opts.schema, from: migration.from, to: migration.to }, 'PostgreSQL state schema migrated');
      return new PostgresStateBackend(opts, conn, !opts.conn, migration);
    } catch (err) {
      if (!opts.conn) await conn.close();
      throw err;
    }
  }

  async load(opts: LoadOptions = {}): Promise<LoadedState> {
    this.assertOpen();
    await this.chain.catch(() => undefined);
    // One consistent view of all tables: REPEATABLE READ sees one committed state for the whole read.
    const raw = await this.conn.withClient('load state', async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const meta = (await c.query<{ epoch: string; poll_id: string | null; history_next_seq: string; history_dropped: string; outbox_meta: string | null }>(
          `SELECT epoch, poll_id, history_next_seq, history_dropped, outbox_meta FROM ${this.s}.state_meta`)).rows[0];
        const docs = (await c.query<{ name: string; body: string; version: string }>(`SELECT name, body, version FROM ${this.s}.documents WHERE name IN ('snapshot', 'alerts')`)).rows;
        const history = (await c.query<{ seq: string; at: number; item: string }>(`SELECT seq, at, item FROM ${this.s}.history ORDER BY seq`)).rows;
        const outbox = (await c.query<OutboxRow>(`SELECT * FROM ${this.s}.outbox ORDER BY seq, channel, id`)).rows;
        const deliveries = (await c.query<DeliveryRow>(`SELECT channel, id, at, outcome, attempts, status, error FROM ${this.s}.deliveries ORDER BY ord`)).rows;
        const deadLetters = (await c.query<{ channel: string; id: string; at: number; summary: string }>(`SELECT channel, id, at, summary FROM ${this.s}.dead_letters ORDER BY ord`)).rows;
        const onCall = (await c.query<{ kind: OnCallRecord['kind']; id: string; at: number; value: string }>(`SELECT kind, id, at, value FROM ${this.s}.oncall ORDER BY at, id`)).rows;
        return { meta, docs, history, outbox, deliveries, deadLetters, onCall };
      } finally {
        await c.query('COMMIT').catch(() => undefined);
      }
    });
    const doc = (name: Part) => raw.docs.find((d) => d.name === name);
    const snapshot = await this.decodePart('snapshot', doc('snapshot'), opts.parseSnapshot);
    const alerts = await this.decodePart('alerts', doc('alerts'), opts.parseAlerts);
    const m = raw.meta;
    return {
      epoch: m ? Number(m.epoch) : 0,
      pollId: m?.poll_id == null ? null : Number(m.poll_id),
      snapshot,
      alerts,
      history: {
        nextSeq: m ? Number(m.history_next_seq) : 1,
        dropped: m ? Number(m.history_dropped) : 0,
        entries: raw.history.map((h): HistoryRecord => ({ seq: Number(h.seq), at: h.at, item: JSON.parse(h.item) })),
      },
      outbox: {
        entries: raw.outbox.map(fromOutboxRow),
        deliveries: raw.deliveries.map(fromDeliveryRow),
        deadLetters: raw.deadLetters.map((d): DeadLetterRecord => ({ channel: d.channel, id: d.id, at: d.at, summary: JSON.parse(d.summary) })),
        meta: m?.outbox_meta ? (JSON.parse(m.outbox_meta) as OutboxMeta) : null,
      },
      onCall: raw.onCall.map((r): OnCallRecord => ({ kind: r.kind, id: r.id, at: r.at, value: JSON.parse(r.value) })),
    };
  }

  async latestSnapshot(parse?: PartParser): Promise<{ pollId: number | null; snapshot: unknown } | null> {
    this.assertOpen();
    const row = await this.conn.withClient('read the latest snapshot', async (c) => (await c.query<{ body: string; version: string; poll_id: string | null }>(
      `SELECT d.body, d.version, m.poll_id FROM ${this.s}.documents d LEFT JOIN ${this.s}.state_meta m ON true WHERE d.name = 'snapshot'`)).rows[0]);
    if (!row) return null;
    const snapshot = await this.decodePart('snapshot', row, parse);
    if (snapshot === null) return null;
    return { pollId: row.poll_id == null ? null : Number(row.poll_id), snapshot };
  }

  /** The version of the stored snapshot (bumped by every commit): a follower re-reads only when it changed. Null when none. */
  async snapshotVersion(): Promise<number | null> {
    this.assertOpen();
    const row = await this.conn.withClient('read the snapshot version', async (c) => (await c.query<{ version: string }>(`SELECT version FROM ${this.s}.documents WHERE name = 'snapshot'`)).rows[0]);
    return row ? Number(row.version) : null;
  }

  /**
   * A value that changes with every accepted write (the row version, xmin, of state_meta, which the
   * fence check of every write transaction updates), so a follower re-reads the state only when the
   * leader wrote something. Null before the first write.
   */
  async changeMark(): Promise<string | null> {
    this.assertOpen();
    const row = await this.conn.withClient('read the state change mark', async (c) => (await c.query<{ mark: string }>(`SELECT xmin::text AS mark FROM ${this.s}.state_meta`)).rows[0]);
    return row?.mark ?? null;
  }

  commit(fence: Fence, poll: PollCommit, retention: Retention): Promise<void> {
    // Encoded now, in call order: later mutations by the caller cannot leak into this write.
    let snapshot: string;
    let alerts: string;
    let history: string;
    let outbox: EncodedOutbox;
    try {
      const at = this.now();
      snapshot = encodeDocument('snapshot', poll.snapshot, at);
      alerts = encodeDocument('alerts', poll.alerts, at);
      history = JSON.stringify(poll.history.entries.map((e) => ({ seq: e.seq, at: e.at, item: JSON.stringify(e.item) })));
      outbox = encodeOutbox(poll.outbox);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(`commit poll ${poll.pollId}`, fence, async (c) => {
      await this.upsertDoc(c, 'snapshot', snapshot, fence.epoch);
      await this.upsertDoc(c, 'alerts', alerts, fence.epoch);
      // Only entries from nextSeq on are new (a replayed commit adds nothing); then the oldest beyond the limit go, counted.
      const { rows } = await c.query<{ next: string }>(
        `WITH fresh AS (
           INSERT INTO ${this.s}.history (seq, at, item)
           SELECT x.seq, x.at, x.item FROM json_to_recordset($1::json) AS x(seq bigint, at double precision, item text), ${this.s}.state_meta m
           WHERE x.seq >= m.history_next_seq
           ON CONFLICT (seq) DO NOTHING
           RETURNING seq)
         SELECT COALESCE(max(seq) + 1, 0) AS next FROM fresh`, [history]);
      const next = Number(rows[0]!.next);
      if (next > 0) {
        const over = await c.query(
          `DELETE FROM ${this.s}.history WHERE seq IN (SELECT seq FROM ${this.s}.history ORDER BY seq DESC OFFSET $1)`, [Math.max(0, poll.history.limit)]);
        await c.query(`UPDATE ${this.s}.state_meta SET history_next_seq = $1, history_dropped = history_dropped + $2`, [next, over.rowCount ?? 0]);
      }
      await this.applyOutboxRows(c, outbox, retention);
      await c.query(`UPDATE ${this.s}.state_meta SET poll_id = $1, committed_at = now()`, [poll.pollId]);
    });
  }

  applyOutbox(fence: Fence, changes: OutboxChanges, retention: Retention): Promise<void> {
    let outbox: EncodedOutbox;
    try {
      outbox = encodeOutbox(changes);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue('outbox write', fence, (c) => this.applyOutboxRows(c, outbox, retention));
  }

  applyOnCall(fence: Fence, changes: OnCallChanges): Promise<void> {
    let put: string;
    let del: string;
    try {
      put = JSON.stringify((changes.put ?? []).map((r) => ({ kind: r.kind, id: noNul(r.id), at: r.at, value: JSON.stringify(r.value ?? null) })));
      del = JSON.stringify((changes.delete ?? []).map((k) => ({ kind: k.kind, id: noNul(k.id) })));
    } catch (err) {
      return Promise.reject(err);
    }
    const limit = Math.max(0, changes.auditLimit ?? DEFAULT_ONCALL_AUDIT_LIMIT);
    return this.enqueue('on-call write', fence, async (c) => {
      if (put !== '[]') {
        await c.query(
          `INSERT INTO ${this.s}.oncall (kind, id, at, value)
           SELECT kind, id, at, value FROM json_to_recordset($1::json) AS x(kind text, id text, at double precision, value text)
           ON CONFLICT (kind, id) DO UPDATE SET at = EXCLUDED.at, value = EXCLUDED.value`, [put]);
      }
      if (del !== '[]') {
        await c.query(`DELETE FROM ${this.s}.oncall o USING json_to_recordset($1::json) AS x(kind text, id text) WHERE o.kind = x.kind AND o.id = x.id`, [del]);
      }
      await c.query(
        `DELETE FROM ${this.s}.oncall WHERE kind = 'audit' AND id IN (SELECT id FROM ${this.s}.oncall WHERE kind = 'audit' ORDER BY at DESC, id DESC OFFSET $1)`, [limit]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => undefined);
    if (this.ownConn) await this.conn.close();
  }

  // -------------------------------------------------------------------------------------------

  /** Chains a fenced write transaction after the previous call (ORDERING). */
  private enqueue(what: string, fence: Fence, body: (c: pg.ClientBase) => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state backend is closed'));
    const run = () => this.conn.tx(what, async (c) => {
      await this.checkFence(c, fence.epoch, what);
      await body(c);
    });
    const next = this.chain.catch(() => undefined).then(run);
    this.chain = next;
    return next;
  }

  private async checkFence(c: pg.ClientBase, epoch: number, what: string): Promise<void> {
    const lease = (await c.query<{ epoch: string; valid: boolean }>(
      `SELECT epoch, expires_at > now() AS valid FROM ${this.s}.lease WHERE name = $1 FOR SHARE`, [this.opts.leaseName ?? DEFAULT_LEASE_NAME])).rows[0];
    if (lease && (Number(lease.epoch) !== epoch || !lease.valid)) throw new NotLeaderError(epoch, Number(lease.epoch), `${what} (${lease.valid ? 'another replica holds the lease' : 'the lease expired'})`);
    const meta = (await c.query<{ epoch: string }>(`SELECT epoch FROM ${this.s}.state_meta FOR UPDATE`)).rows[0];
    if (!meta) throw new Error(`${this.schema}.state_meta has no row (was it deleted by hand?)`);
    if (epoch < Number(meta.epoch)) throw new NotLeaderError(epoch, Number(meta.epoch), what);
    // Written on every accepted write, even when the epoch is unchanged: the new row version moves the
    // change mark (changeMark), so followers re-read after any write, on-call records included.
    await c.query(`UPDATE ${this.s}.state_meta SET epoch = $1`, [epoch]);
  }

  private async upsertDoc(c: pg.ClientBase, name: Part, body: string, epoch: number): Promise<void> {
    await c.query(
      `INSERT INTO ${this.s}.documents (name, body, version, epoch, written_at) VALUES ($1, $2, 1, $3, now())
       ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, version = ${this.s}.documents.version + 1, epoch = EXCLUDED.epoch, written_at = now()`,
      [name, body, epoch],
    );
  }

  private async applyOutboxRows(c: pg.ClientBase, o: EncodedOutbox, r: Retention): Promise<void> {
    if (o.put !== '[]') {
      await c.query(
        `INSERT INTO ${this.s}.outbox (channel, id, seq, enqueued_at, attempts, next_attempt_at, in_flight, last_error, last_status, payload)
         SELECT channel, id, seq, enqueued_at, attempts, next_attempt_at, in_flight, last_error, last_status, payload
         FROM json_to_recordset($1::json) AS x(channel text, id text, seq bigint, enqueued_at double precision, attempts integer,
           next_attempt_at double precision, in_flight boolean, last_error text, last_status integer, payload text)
         ON CONFLICT (channel, id) DO UPDATE SET seq = EXCLUDED.seq, enqueued_at = EXCLUDED.enqueued_at, attempts = EXCLUDED.attempts,
           next_attempt_at = EXCLUDED.next_attempt_at, in_flight = EXCLUDED.in_flight, last_error = EXCLUDED.last_error,
           last_status = EXCLUDED.last_status, payload = EXCLUDED.payload`, [o.put]);
    }
    if (o.finish !== '[]') {
      await c.query(
        `DELETE FROM ${this.s}.outbox o USING json_to_recordset($1::json) AS x(channel text, id text) WHERE o.channel = x.channel AND o.id = x.id`, [o.finish]);
      // In call order (ord), one record per (channel, id, at) however often the finish is replayed.
      await c.query(
        `INSERT INTO ${this.s}.deliveries (channel, id, at, outcome, attempts, status, error)
         SELECT channel, id, at, outcome, attempts, status, error
         FROM json_to_recordset($1::json) AS x(n integer, channel text, id text, at double precision, outcome text, attempts integer, status integer, error text)
         ORDER BY n ON CONFLICT (channel, id, at) DO NOTHING`, [o.finish]);
      const channels = [...new Set((JSON.parse(o.finish) as { channel: string }[]).map((f) => f.channel))];
      await c.query(
        `DELETE FROM ${this.s}.deliveries d USING (
           SELECT ord, row_number() OVER (PARTITION BY channel ORDER BY ord DESC) AS rn FROM ${this.s}.deliveries WHERE channel = ANY($1::text[])
         ) k WHERE d.ord = k.ord AND k.rn > $2`, [channels, Math.max(0, r.deliveriesPerChannel)]);
    }
    if (o.deadLetters !== '[]') {
      await c.query(
        `INSERT INTO ${this.s}.dead_letters (channel, id, at, summary)
         SELECT channel, id, at, summary FROM json_to_recordset($1::json) AS x(n integer, channel text, id text, at double precision, summary text)
         ORDER BY n ON CONFLICT (channel, id, at) DO NOTHING`, [o.deadLetters]);
      await c.query(`DELETE FROM ${this.s}.dead_letters WHERE ord IN (SELECT ord FROM ${this.s}.dead_letters ORDER BY ord DESC OFFSET $1)`, [Math.max(0, r.deadLetters)]);
    }
    if (o.meta !== null) await c.query(`UPDATE ${this.s}.state_meta SET outbox_meta = $1`, [o.meta]);
  }

  /** Decodes a stored part; a bad one is moved to documents_corrupt (if unchanged since read), reported and answered as absent. */
  private async decodePart(name: Part, row: { body: string; version: string } | undefined, parse?: PartParser): Promise<unknown> {
    if (!row) return null;
    const decoded = decodeDocument<unknown>(name, row.body, parse);
    if (decoded.ok) return decoded.value;
    let movedTo: string | null = null;
    try {
      movedTo = await this.conn.tx(`set aside corrupt state part ${name}`, async (c) => {
        const del = await c.query(`DELETE FROM ${this.s}.documents WHERE name = $1 AND version = $2`, [name, row.version]);
        if (!del.rowCount) return null;
        const { rows } = await c.query<{ id: string }>(`INSERT INTO ${this.s}.documents_corrupt (name, body, reason) VALUES ($1, $2, $3) RETURNING id`, [name, row.body, decoded.reason]);
        await c.query(`DELETE FROM ${this.s}.documents_corrupt WHERE name = $1 AND id NOT IN (SELECT id FROM ${this.s}.documents_corrupt WHERE name = $1 ORDER BY id DESC LIMIT $2)`, [name, Math.max(1, this.opts.keepCorrupt ?? 5)]);
        return `${this.schema}.documents_corrupt id ${rows[0]!.id}`;
      });
    } catch (err) {
      this.log.error({ part: name, err }, 'cannot move a corrupt state part aside');
    }
    const report: CorruptReport = { name, reason: decoded.reason, movedTo, bytes: Buffer.byteLength(row.body) };
    this.log.error({ part: name, reason: decoded.reason, movedTo, bytes: report.bytes }, 'corrupt state part set aside; continuing without it');
    this.opts.onCorrupt?.(report);
    return null;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('state backend is closed');
  }
}

// ---------------------------------------------------------------------------------------------
// Row shapes and encoding (pure).

interface OutboxRow {
  channel: string; id: string; seq: string; enqueued_at: number; attempts: number; next_attempt_at: number;
  in_flight: boolean; last_error: string | null; last_status: number | null; payload: string;
}
interface DeliveryRow { channel: string; id: string; at: number; outcome: string; attempts: number; status: number | null; error: string | null }

const fromOutboxRow = (r: OutboxRow): OutboxRecord => ({
  channel: r.channel, id: r.id, seq: Number(r.seq), enqueuedAt: r.enqueued_at, attempts: r.attempts, nextAttemptAt: r.next_attempt_at,
  inFlight: r.in_flight, lastError: r.last_error, lastStatus: r.last_status, payload: JSON.parse(r.payload),
});

const fromDeliveryRow = (r: DeliveryRow): DeliveryRecord => ({
  channel: r.channel, id: r.id, at: r.at, outcome: r.outcome, attempts: r.attempts, status: r.status, error: r.error,
});

interface EncodedOutbox { put: string; finish: string; deadLetters: string; meta: string | null }

/** PostgreSQL text cannot hold NUL; a NUL inside opaque JSON is escaped by JSON.stringify, one in a plain column is replaced. */
const noNul = (s: string | null): string | null => (s === null ? null : s.replace(/\u0000/g, '\uFFFD'));

function encodeOutbox(c: OutboxChanges): EncodedOutbox {
  const put = (c.put ?? []).map((e) => ({
    channel: noNul(e.channel), id: noNul(e.id), seq: e.seq, enqueued_at: e.enqueuedAt, attempts: e.attempts, next_attempt_at: e.nextAttemptAt,
    in_flight: e.inFlight, last_error: noNul(e.lastError), last_status: e.lastStatus, payload: JSON.stringify(e.payload ?? null),
  }));
  const finish = (c.finish ?? []).map((f, n) => ({
    n, channel: noNul(f.delivery.channel), id: noNul(f.delivery.id), at: f.delivery.at, outcome: f.delivery.outcome, attempts: f.delivery.attempts,
    status: f.delivery.status, error: noNul(f.delivery.error),
  }));
  const deadLetters = (c.finish ?? []).flatMap((f, n) => (f.deadLetter ? [{
    n, channel: noNul(f.deadLetter.channel), id: noNul(f.deadLetter.id), at: f.deadLetter.at, summary: JSON.stringify(f.deadLetter.summary ?? null),
  }] : []));
  return { put: JSON.stringify(put), finish: JSON.stringify(finish), deadLetters: JSON.stringify(deadLetters), meta: c.meta ? JSON.stringify(c.meta) : null };
}
