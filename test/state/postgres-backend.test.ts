// What is particular to the PostgreSQL backend, against a real throwaway cluster: a crash injected
// between the statements of a commit, connection loss and a server restart, migrations by replicas
// starting together, a schema from a newer release, and the URL's password in errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStateBackend } from '../../src/state/postgres-backend.js';
import { MIGRATIONS } from '../../src/state/postgres-migrations.js';
import type { PollCommit } from '../../src/state/backend.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

let cluster: PgCluster;
beforeAll(async () => { cluster = await startPostgres(); }, 180_000);
afterAll(async () => { await cluster?.destroy(); });

const SCHEMA = 'keystore_watch';
const RETENTION = { deliveriesPerChannel: 10, deadLetters: 10 };
const poll = (n: number): PollCommit => ({
  pollId: n,
  snapshot: { pollId: n },
  alerts: { lastPollId: n },
  history: { entries: [{ seq: n, at: n, item: { n } }], limit: 100 },
  outbox: {
    put: [{ channel: 'c', id: `n-${n}`, seq: n, enqueuedAt: n, attempts: 0, nextAttemptAt: n, inFlight: false, lastError: null, lastStatus: null, payload: { n, text: 'ü "q" \\ \u0000 <!channel>' } }],
    finish: n > 1 ? [{ delivery: { channel: 'c', id: `n-${n - 1}`, at: n, outcome: 'delivered', attempts: 1, status: 200, error: null } }] : [],
    meta: { nextSeq: n + 1, lastSendAt: {}, dropped: {}, deadLettered: {} },
  },
});

async function fresh() {
  const url = await cluster.createDatabase();
  return { url, db: new URL(url).pathname.slice(1) };
}

describe('PostgreSQL backend', () => {
  it('a connection killed between two statements of a commit leaves the previous poll whole; the next commit works', async () => {
    const { url, db } = await fresh();
    const b = await PostgresStateBackend.open({ url, schema: SCHEMA, queryTimeoutMs: 30_000 });
    await b.commit({ epoch: 1 }, poll(1), RETENTION);
    // Hold the commit between its statements: the snapshot and alert state are already replaced in the
    // transaction when the history insert blocks here; then its server process is terminated.
    await cluster.query(`CREATE FUNCTION ${SCHEMA}.stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$`, [], db);
    await cluster.query(`CREATE TRIGGER stall BEFORE INSERT ON ${SCHEMA}.history FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.stall()`, [], db);
    const pending = b.commit({ epoch: 1 }, poll(2), RETENTION).then(() => null, (e: unknown) => e as Error & { code?: string });
    let pid: number | null = null;
    const until = Date.now() + 30_000;
    while (pid === null && Date.now() < until) {
      const r = await cluster.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%INSERT INTO "keystore_watch".history%' AND state = 'active'`, [db], db);
      pid = r.rows[0]?.pid ?? null;
      if (pid === null) await new Promise((r2) => setTimeout(r2, 50));
    }
    expect(pid).not.toBeNull();
    // Inside the transaction the new snapshot is written; outside nobody sees it.
    expect((await cluster.query<{ body: string }>(`SELECT body FROM ${SCHEMA}.documents WHERE name = 'snapshot'`, [], db)).rows[0]!.body).toContain('"pollId":1');
    await cluster.query('SELECT pg_terminate_backend($1)', [pid], db);
    const err = await pending;
    expect(err).toBeInstanceOf(Error);
    // A lost connection is an I/O-like error (ResilientStateStore holds the state in memory and retries), not a bug.
    expect(err!.code).toBe('EPGCONN');
    const s = await b.load();
    expect(s.pollId).toBe(1);
    expect(s.snapshot).toEqual({ pollId: 1 });
    expect(s.alerts).toEqual({ lastPollId: 1 });
    expect(s.history.entries.map((e) => e.seq)).toEqual([1]);
    expect(s.outbox.entries.map((e) => e.id)).toEqual(['n-1']);
    expect(s.outbox.entries[0]!.payload).toEqual({ n: 1, text: 'ü "q" \\ \u0000 <!channel>' });
    await cluster.query(`DROP TRIGGER stall ON ${SCHEMA}.history`, [], db);
    // The same backend goes on (the pool dropped the dead connection): the retried commit lands whole.
    await b.commit({ epoch: 1 }, poll(2), RETENTION);
    const after = await b.load();
    expect(after.pollId).toBe(2);
    expect(after.outbox.entries.map((e) => e.id)).toEqual(['n-2']);
    expect(after.outbox.deliveries.map((d) => d.id)).toEqual(['n-1']);
    await b.close();
  });

  it('survives a server restart under an open backend (reconnects at the next call)', async () => {
    const { url } = await fresh();
    const b = await PostgresStateBackend.open({ url, schema: SCHEMA, queryTimeoutMs: 30_000 });
    await b.commit({ epoch: 1 }, poll(1), RETENTION);
    await cluster.restart('immediate');
    // Pooled connections died with the server; the next calls open fresh ones (at most one call may
    // meet a connection the pool had not yet noticed was dead: it fails as EPGCONN, retried).
    let ok = false;
    for (let i = 0; i < 3 && !ok; i++) {
      ok = await b.commit({ epoch: 1 }, poll(2), RETENTION).then(() => true, (e: { code?: string }) => { expect(e.code).toBe('EPGCONN'); return false; });
    }
    expect(ok).toBe(true);
    expect((await b.load()).pollId).toBe(2);
    await b.close();
  });

  it('applies each migration once when replicas start together, under the advisory lock', async () => {
    const { url, db } = await fresh();
    const opened = await Promise.all(Array.from({ length: 6 }, () => PostgresStateBackend.open({ url, schema: SCHEMA })));
    expect(opened.filter((b) => b.migration.applied.length > 0)).toHaveLength(1);
    const rows = await cluster.query<{ version: number }>(`SELECT version FROM ${SCHEMA}.schema_migrations ORDER BY version`, [], db);
    expect(rows.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    for (const b of opened) await b.close();
    // A second schema in the same database is independent.
    const other = await PostgresStateBackend.open({ url, schema: 'kw_other' });
    expect(other.migration).toMatchObject({ from: 0, applied: MIGRATIONS.map((m) => m.version) });
    await other.close();
  });

  it('moves the change mark with every on-call write, so followers re-read without waiting for a poll', async () => {
    const { url } = await fresh();
    const b = await PostgresStateBackend.open({ url, schema: SCHEMA });
    await b.commit({ epoch: 1 }, poll(1), RETENTION);
    const marks = [await b.changeMark()];
    await b.applyOnCall({ epoch: 1 }, { put: [{ kind: 'silence', id: 's-1', at: 2, value: { createdBy: 'alice' } }] });
    marks.push(await b.changeMark());
    await b.applyOnCall({ epoch: 1 }, { put: [{ kind: 'ack', id: 'FAILED:store:1/us-east-1/cks-1', at: 3, value: { by: 'bob' } }] });
    marks.push(await b.changeMark());
    await b.applyOnCall({ epoch: 1 }, { delete: [{ kind: 'silence', id: 's-1' }] });
    marks.push(await b.changeMark());
    expect(marks.every((m) => m !== null)).toBe(true);
    expect(new Set(marks).size).toBe(marks.length);
    // A read changes nothing.
    expect(await b.changeMark()).toBe(marks.at(-1));
    await b.close();
  });

  it('refuses a schema migrated by a newer release, naming the versions', async () => {
    const { url, db } = await fresh();
    await (await PostgresStateBackend.open({ url, schema: SCHEMA })).close();
    await cluster.query(`INSERT INTO ${SCHEMA}.schema_migrations (version, name) VALUES (999, 'from the future')`, [], db);
    await expect(PostgresStateBackend.open({ url, schema: SCHEMA })).rejects.toThrow(/schema keystore_watch is at version 999, newer than this keystore-watch knows \(\d+\)/);
  });

  it('never puts the URL\'s password in an error', async () => {
    const { url } = await fresh();
    const wrong = new URL(url);
    wrong.password = 'Wr0ng-Secret-Passw0rd';
    const e1 = await PostgresStateBackend.open({ url: wrong.toString(), schema: SCHEMA, queryTimeoutMs: 10_000 }).catch((e: Error) => e);
    expect(e1).toBeInstanceOf(Error);
    expect((e1 as Error).message).toMatch(/password authentication failed/);
    const refused = new URL(url);
    refused.port = '1';
    const e2 = await PostgresStateBackend.open({ url: refused.toString(), schema: SCHEMA, queryTimeoutMs: 10_000 }).catch((e: Error) => e);
    expect((e2 as Error & { code?: string }).code).toMatch(/^E[A-Z]+$/);
    for (const e of [e1, e2]) {
      const text = `${(e as Error).message} ${(e as Error).stack} ${JSON.stringify(e)}`;
      expect(text).not.toContain('Wr0ng-Secret-Passw0rd');
      expect(text).not.toContain(cluster.password);
    }
  });
});
