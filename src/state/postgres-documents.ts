// The document-level StateStore (store.ts: named documents, each replaced whole) on PostgreSQL, for
// the daemon's current pipeline (AlertPipeline and Outbox read and write the snapshot, alerts, outbox
// and history documents). One transaction per write, fenced by the leader lease's epoch. The tables
// are those of postgres-backend.ts (documents, documents_corrupt, lease): the snapshot and alerts rows
// are the same envelope text, so PostgresStateBackend.latestSnapshot() reads what this store wrote.
// When the daemon commits through StateBackend.commit(poll), this adapter is no longer needed.
//
//   documents(name, body, version, epoch, written_at)  the envelope text encodeDocument() produces,
//       so both backends accept and reject exactly the same input; version is bumped by each write so a
//       follower re-reads only what changed;
//   documents_corrupt                                 documents set aside by read(), the newest
//       `keepCorrupt` per name kept.
//
// Fencing: with `fence` set (HA), every write transaction first locks the lease row FOR SHARE and
// checks it still carries our epoch and has not expired by the database's clock; otherwise the
// transaction rolls back and the write fails with NotLeaderError. The row lock makes a takeover's
// UPDATE of the lease wait until our transaction ended, so a write is either committed before the new
// leader's term begins (and the new leader reads it) or refused.
import type pg from 'pg';
import {
  decodeDocument, encodeDocument, isStateDocName, silentLog,
  type CorruptReport, type DocParser, type Log, type StateDocName, type StateStore, type StateStoreObserver,
} from './store.js';
import { PgConnection, quoteIdent, type PgConnectionOptions } from './postgres-connect.js';
import { migrate, type MigrationResult } from './postgres-migrations.js';
import { NotLeaderError } from './backend.js';
import { DEFAULT_LEASE_NAME as LEASE_NAME } from './postgres-backend.js';

export interface PostgresDocumentStoreOptions extends Omit<PgConnectionOptions, 'onIdleError'> {
  schema: string;
  /** An existing connection (shared with the lease); else one is opened from url. */
  conn?: PgConnection;
  /** HA: the current lease epoch (null: not the leader). Unset: no fencing (a single replica). */
  fence?: () => number | null;
  /** Lease name checked by the fence (tests). */
  leaseName?: string;
  observer?: StateStoreObserver;
  log?: Log;
  keepCorrupt?: number;
  now?: () => number;
}

export interface DocumentVersion {
  name: StateDocName;
  version: number;
}

export class PostgresDocumentStore implements StateStore {
  readonly conn: PgConnection;
  readonly schema: string;
  readonly migration: MigrationResult;
  private readonly s: string;
  private readonly observer: StateStoreObserver;
  private readonly log: Log;
  private readonly now: () => number;
  private readonly ownConn: boolean;
  private readonly chains = new Map<StateDocName, Promise<void>>();
  private closed = false;

  private constructor(private readonly opts: PostgresDocumentStoreOptions, conn: PgConnection, ownConn: boolean, migration: MigrationResult) {
    this.conn = conn;
    this.ownConn = ownConn;
    this.schema = opts.schema;
    this.s = quoteIdent(opts.schema);
    this.observer = opts.observer ?? {};
    this.log = opts.log ?? silentLog;
    this.now = opts.now ?? Date.now;
    this.migration = migration;
  }

  /** Connects and applies the migrations (under the advisory lock). Throws when the database cannot be reached. */
  static async open(opts: PostgresDocumentStoreOptions): Promise<PostgresDocumentStore> {
    const ownConn = !opts.conn;
    const log = opts.log ?? silentLog;
    const conn = opts.conn ?? new PgConnection({ ...opts, onIdleError: (err) => log.warn({ err }, 'PostgreSQL connection lost (idle); reconnecting on the next query') });
    try {
      const migration = await conn.withClient('state schema migration', (c) => migrate(c, opts.schema), Math.max(conn.queryTimeoutMs, 60_000));
      if (migration.applied.length) log.info({ schema: opts.schema, from: migration.from, to: migration.to }, 'PostgreSQL state schema migrated');
      return new PostgresDocumentStore(opts, conn, ownConn, migration);
    } catch (err) {
      if (ownConn) await conn.close();
      throw err;
    }
  }

  /** A store on the same connection whose writes carry `fence` (one leader term: a later term gets a new one). Closing it leaves the connection open. */
  withFence(fence: () => number | null): PostgresDocumentStore {
    return new PostgresDocumentStore({ ...this.opts, fence }, this.conn, false, this.migration);
  }

  /** The same documents, read-only: writes are dropped (a follower's view; it never writes). */
  readOnly(): StateStore {
    return { read: (name, parse) => this.read(name, parse), write: async () => {}, close: async () => {} };
  }

  async read<T>(name: StateDocName, parse?: DocParser<T>): Promise<T | null> {
    this.assertOpen();
    await this.chains.get(name)?.catch(() => {});
    const { rows } = await this.conn.withClient(`read state document ${name}`, (c) => c.query<{ body: string; version: string }>(`SELECT body, version FROM ${this.s}.documents WHERE name = $1`, [name]));
    const row = rows[0];
    if (!row) return null;
    const decoded = decodeDocument(name, row.body, parse);
    if (decoded.ok) return decoded.value;
    await this.quarantine(name, row.body, Number(row.version), decoded.reason);
    return null;
  }

  /** Versions of the stored documents (a follower re-reads only those that changed). */
  async versions(): Promise<Map<StateDocName, number>> {
    this.assertOpen();
    const { rows } = await this.conn.withClient('read state versions', (c) => c.query<{ name: string; version: string }>(`SELECT name, version FROM ${this.s}.documents`));
    const out = new Map<StateDocName, number>();
    for (const r of rows) if (isStateDocName(r.name)) out.set(r.name, Number(r.version));
    return out;
  }

  write<T>(name: StateDocName, value: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state store is closed'));
    let text: string;
    try {
      text = encodeDocument(name, value, this.now());
    } catch (err) {
      return Promise.reject(err);
    }
    // Fenced at call time too: a write decided after we lost the lease is refused at once.
    const epoch = this.opts.fence ? this.opts.fence() : null;
    if (this.opts.fence && epoch === null) return Promise.reject(new NotLeaderError(0, null, `write of ${name} (this replica does not hold the lease)`));
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.writeRow(name, text, epoch));
    this.chains.set(name, next);
    void next.finally(() => { if (this.chains.get(name) === next) this.chains.delete(name); }).catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.chains.values()]);
    if (this.ownConn) await this.conn.close();
  }

  /** In a transaction: refuses with NotLeaderError unless the lease row still carries `epoch` and has not expired (database clock). */
  async checkFence(c: pg.ClientBase, epoch: number | null): Promise<void> {
    if (!this.opts.fence) return;
    if (epoch === null) throw new NotLeaderError(0, null, 'state write (this replica does not hold the lease)');
    const { rows } = await c.query<{ epoch: string; valid: boolean }>(
      `SELECT epoch, expires_at > now() AS valid FROM ${this.s}.lease WHERE name = $1 FOR SHARE`,
      [this.opts.leaseName ?? LEASE_NAME],
    );
    const row = rows[0];
    if (!row || Number(row.epoch) !== epoch) throw new NotLeaderError(epoch, row ? Number(row.epoch) : null, 'state write');
    if (!row.valid) throw new NotLeaderError(epoch, epoch, 'state write (the lease expired)');
  }

  private async writeRow(name: StateDocName, text: string, epoch: number | null): Promise<void> {
    const started = performance.now();
    await this.conn.tx(`write state document ${name}`, async (c) => {
      await this.checkFence(c, epoch);
      await c.query(
        `INSERT INTO ${this.s}.documents (name, body, version, epoch, written_at) VALUES ($1, $2, 1, $3, now())
         ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, version = ${this.s}.documents.version + 1, epoch = EXCLUDED.epoch, written_at = now()`,
        [name, text, epoch],
      );
    });
    this.observer.onWrite?.(name, Buffer.byteLength(text), performance.now() - started);
  }

  private async quarantine(name: StateDocName, body: string, version: number, reason: string): Promise<void> {
    let movedTo: string | null = null;
    try {
      // Moved only if unchanged since we read it (a concurrent write of a good document wins). Not fenced:
      // setting a corrupt row aside loses nothing and lets a follower answer as the leader would.
      movedTo = await this.conn.tx(`set aside corrupt state document ${name}`, async (c) => {
        const del = await c.query(`DELETE FROM ${this.s}.documents WHERE name = $1 AND version = $2`, [name, version]);
        if (!del.rowCount) return null;
        const { rows } = await c.query<{ id: string }>(`INSERT INTO ${this.s}.documents_corrupt (name, body, reason) VALUES ($1, $2, $3) RETURNING id`, [name, body, reason]);
        await c.query(
          `DELETE FROM ${this.s}.documents_corrupt WHERE name = $1 AND id NOT IN (SELECT id FROM ${this.s}.documents_corrupt WHERE name = $1 ORDER BY id DESC LIMIT $2)`,
          [name, Math.max(1, this.opts.keepCorrupt ?? 5)],
        );
        return `${this.schema}.documents_corrupt id ${rows[0]!.id}`;
      });
    } catch (err) {
      this.log.error({ doc: name, err }, 'cannot move corrupt state document aside');
    }
    const report: CorruptReport = { name, reason, movedTo, bytes: Buffer.byteLength(body) };
    this.log.error({ doc: name, reason, movedTo, bytes: report.bytes }, 'corrupt state document set aside; continuing without it');
    this.observer.onCorrupt?.(report);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('state store is closed');
  }
}
