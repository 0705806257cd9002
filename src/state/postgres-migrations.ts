// Versioned SQL migrations of the PostgreSQL state schema, applied at start-up by every replica
// under a transaction-scoped advisory lock, so two replicas starting together never both apply one.
//
// Why pg_advisory_xact_lock (transaction-scoped) and not a session lock: through PgBouncer in
// transaction mode a session lock is taken on whichever server connection ran that statement and is
// never released by our "unlock" (it may run on another one); a transaction-scoped lock is released
// by COMMIT/ROLLBACK on the same server connection, whatever pooler sits in between. It also goes
// away by itself if the replica dies mid-migration (the server rolls the transaction back).
//
// Each migration runs in the same transaction as the lock and its row in schema_migrations, so a
// crash leaves the schema at the previous version, never half-migrated. A database at a version
// this build does not know (a newer keystore-watch migrated it) is refused with a clear error rather
// than used: a rollback of the deployment must not write rows it does not understand.
import type pg from 'pg';
import { quoteIdent } from './postgres-connect.js';

export interface Migration {
  version: number;
  name: string;
  /** SQL with {schema} standing for the quoted schema name. */
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'poll state (documents, history, outbox, deliveries, dead letters), leader lease',
    sql: `
      -- The latest snapshot and alert state: the same envelope text the file backend writes
      -- (state/store.ts encodeDocument), so both backends accept and reject exactly the same input.
      CREATE TABLE {schema}.documents (
        name text PRIMARY KEY,
        body text NOT NULL,
        -- Bumped by every write: a follower re-reads only what changed.
        version bigint NOT NULL,
        -- The lease epoch of the writer.
        epoch bigint,
        written_at timestamptz NOT NULL DEFAULT now()
      );
      -- Documents read() could not decode, set aside (the file backend's *.corrupt-<time> files).
      CREATE TABLE {schema}.documents_corrupt (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        body text NOT NULL,
        reason text NOT NULL,
        moved_at timestamptz NOT NULL DEFAULT now()
      );
      -- One row: the highest epoch accepted, the last committed poll, the history and outbox counters.
      CREATE TABLE {schema}.state_meta (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        epoch bigint NOT NULL DEFAULT 0,
        poll_id bigint,
        history_next_seq bigint NOT NULL DEFAULT 1,
        history_dropped bigint NOT NULL DEFAULT 0,
        outbox_meta text,
        committed_at timestamptz
      );
      INSERT INTO {schema}.state_meta (id) VALUES (true);
      -- Opaque JSON is kept as text (exact round trip; jsonb would reorder keys and refuse NUL characters).
      CREATE TABLE {schema}.history (
        seq bigint PRIMARY KEY,
        at double precision NOT NULL,
        item text NOT NULL
      );
      CREATE TABLE {schema}.outbox (
        channel text NOT NULL,
        id text NOT NULL,
        seq bigint NOT NULL,
        enqueued_at double precision NOT NULL,
        attempts integer NOT NULL,
        next_attempt_at double precision NOT NULL,
        in_flight boolean NOT NULL,
        last_error text,
        last_status integer,
        payload text NOT NULL,
        PRIMARY KEY (channel, id)
      );
      CREATE TABLE {schema}.deliveries (
        ord bigserial UNIQUE,
        channel text NOT NULL,
        id text NOT NULL,
        at double precision NOT NULL,
        outcome text NOT NULL,
        attempts integer NOT NULL,
        status integer,
        error text,
        PRIMARY KEY (channel, id, at)
      );
      CREATE TABLE {schema}.dead_letters (
        ord bigserial UNIQUE,
        channel text NOT NULL,
        id text NOT NULL,
        at double precision NOT NULL,
        summary text NOT NULL,
        PRIMARY KEY (channel, id, at)
      );
      -- One row per lease name ('leader'). Expiry is judged by the database's clock only (now()).
      CREATE TABLE {schema}.lease (
        name text PRIMARY KEY,
        holder text NOT NULL,
        epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL,
        acquired_at timestamptz NOT NULL,
        renewed_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'on-call records (silences, acknowledgements, audit events)',
    sql: `
      -- Keyed by (kind, id); value is opaque JSON kept as text (like history items). Written by
      -- PostgresStateBackend.applyOnCall, fenced like every other write.
      CREATE TABLE {schema}.oncall (
        kind text NOT NULL,
        id text NOT NULL,
        at double precision NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (kind, id)
      );
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The advisory lock key: one per schema, so two deployments in one database do not wait on each other. */
const LOCK_CLASS = 0x6b737721; // "ksw!"

export interface MigrationResult {
  from: number;
  to: number;
  applied: number[];
}

/** Applies the missing migrations in one transaction under the advisory lock. Pure SQL; `client` must not be in a transaction. */
export async function migrate(client: pg.ClientBase, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const s = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [LOCK_CLASS, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_migrations`);
    const from = rows[0]?.v ?? 0;
    const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
    if (from > latest) {
      throw Object.assign(new Error(`the PostgreSQL schema ${schema} is at version ${from}, newer than this keystore-watch knows (${latest}): a newer release migrated it; run that release (or a newer one)`), { code: undefined });
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= from) continue;
      await client.query(m.sql.replaceAll('{schema}', s));
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, latest), applied };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
