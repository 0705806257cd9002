// The leader lease against a real PostgreSQL (test/helpers/postgres.ts): two contenders, expiry by the
// database's clock, takeover, epochs, renewal failure -> step down, and fencing of state writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLease } from '../../src/ha/lease.js';
import { PgConnection } from '../../src/state/postgres-connect.js';
import { NotLeaderError } from '../../src/state/backend.js';
import { PostgresStateBackend } from '../../src/state/postgres-backend.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

let cluster: PgCluster;
beforeAll(async () => { cluster = await startPostgres(); }, 180_000);
afterAll(async () => { await cluster?.destroy(); });

const SCHEMA = 'keystore_watch';

async function setup() {
  const url = await cluster.createDatabase();
  const db = new URL(url).pathname.slice(1);
  // Opening a store applies the migrations (the lease table included).
  const backend = await PostgresStateBackend.open({ url, schema: SCHEMA });
  await backend.close();
  const conns: PgConnection[] = [];
  const conn = () => { const c = new PgConnection({ url, queryTimeoutMs: 5000 }); conns.push(c); return c; };
  return { url, db, conn, close: () => Promise.all(conns.map((c) => c.close())) };
}

const RETENTION = { deliveriesPerChannel: 10, deadLetters: 10 };
const poll = (n: number, by: string) => ({
  pollId: n,
  snapshot: { pollId: n, by },
  alerts: { lastPollId: n },
  history: { entries: [{ seq: n, at: n, item: { n } }], limit: 100 },
  outbox: { put: [{ channel: 'c', id: `n-${n}`, seq: n, enqueuedAt: n, attempts: 0, nextAttemptAt: n, inFlight: false, lastError: null, lastStatus: null, payload: { n } }] },
});

/** A monotonic clock the test moves by hand (the database's clock still runs in real time). */
const manualClock = () => { let t = 1_000_000; return { now: () => t, advance: (ms: number) => { t += ms; } }; };

describe('leader lease (PostgreSQL)', () => {
  it('elects exactly one of two contenders; the other takes over only once the lease expired by the database clock', async () => {
    const env = await setup();
    const events: string[] = [];
    const a = new LeaderLease({ conn: env.conn(), schema: SCHEMA, holder: 'a', ttlMs: 2000, renewMs: 500, onElected: (e) => events.push(`a elected ${e}`), onDeposed: (e, why) => events.push(`a deposed ${e}: ${why}`) });
    const b = new LeaderLease({ conn: env.conn(), schema: SCHEMA, holder: 'b', ttlMs: 2000, renewMs: 500, onElected: (e) => events.push(`b elected ${e}`), onDeposed: (e, why) => events.push(`b deposed ${e}: ${why}`) });
    const [ea, eb] = await Promise.all([a.acquireOnce(), b.acquireOnce()]);
    // Exactly one wins, with epoch 1.
    expect([ea, eb].filter((e) => e !== null)).toEqual([1]);
    const [winner, loser] = ea !== null ? [a, b] : [b, a];
    expect(winner.isLeader()).toBe(true);
    expect(loser.isLeader()).toBe(false);
    // While the winner's lease runs, the loser keeps failing to acquire.
    expect(await loser.acquireOnce()).toBeNull();
    const row = await winner.read();
    expect(row).toMatchObject({ holder: winner.holder, epoch: 1 });
    expect(row!.remainingSeconds).toBeGreaterThan(0);
    // The winner stops renewing (a SIGSTOP, a dead process): once the database's clock passes the expiry, the loser takes over with epoch 2.
    await cluster.query(`UPDATE ${SCHEMA}.lease SET expires_at = now() - interval '1 millisecond'`, [], env.db);
    expect(await loser.acquireOnce()).toBe(2);
    expect(loser.epoch).toBe(2);
    // The old leader's renewal is refused and it steps down.
    expect(await winner.renewOnce()).toBe(false);
    expect(winner.isLeader()).toBe(false);
    const w = winner === a ? 'a' : 'b';
    const l = winner === a ? 'b' : 'a';
    expect(events).toEqual([`${w} elected 1`, `${l} elected 2`, `${w} deposed 1: the lease expired or another replica holds it`]);
    await env.close();
  });

  it('renews: the epoch stays, the expiry moves; a renewal after expiry is refused (the lease is lost, not silently resumed)', async () => {
    const env = await setup();
    const a = new LeaderLease({ conn: env.conn(), schema: SCHEMA, holder: 'a', ttlMs: 3000, renewMs: 1000 });
    expect(await a.acquireOnce()).toBe(1);
    const before = await a.read();
    await new Promise((r) => setTimeout(r, 50));
    expect(await a.renewOnce()).toBe(true);
    const after = await a.read();
    expect(after!.epoch).toBe(1);
    expect(after!.expiresAt.getTime()).toBeGreaterThan(before!.expiresAt.getTime());
    await cluster.query(`UPDATE ${SCHEMA}.lease SET expires_at = now() - interval '1 millisecond'`, [], env.db);
    expect(await a.renewOnce()).toBe(false);
    expect(a.isLeader()).toBe(false);
    // Re-acquiring is a new term: a new epoch fences everything written in the old one.
    expect(await a.acquireOnce()).toBe(2);
    await env.close();
  });

  it('steps down at its local deadline when renewals fail (database unreachable), before the lease can expire', async () => {
    const env = await setup();
    const clock = manualClock();
    const deposed: string[] = [];
    const conn = env.conn();
    const a = new LeaderLease({ conn, schema: SCHEMA, holder: 'a', ttlMs: 10_000, renewMs: 2000, monotonic: clock.now, onDeposed: (_e, why) => deposed.push(why) });
    expect(await a.acquireOnce()).toBe(1);
    const lease = await a.read();
    // Cut the lease's connection off: every renewal fails from now on.
    await conn.close();
    clock.advance(2000);
    expect(await a.renewOnce()).toBe(false);
    expect(a.isLeader()).toBe(true); // still within its term
    clock.advance(5900); // 7.9 s after the send of the acquisition: the default margin is ttl/5 = 2 s
    expect(a.isLeader()).toBe(true);
    clock.advance(200); // 8.1 s: past sentAt + ttl - margin
    expect(a.isLeader()).toBe(false);
    expect(a.epoch).toBeNull();
    expect(deposed).toEqual(['the lease could not be renewed before it expires']);
    // And it stepped down while the database still considered the lease valid (nobody could have taken over yet).
    expect(lease!.remainingSeconds).toBeGreaterThan(8);
    await env.close();
  });

  describe('without the database for everyone (holdWithoutDatabase: the peers in state.peers agree)', () => {
    /** A leader whose way to PostgreSQL goes through a TCP proxy the test can cut. */
    const cutOffLeader = async (hold: boolean) => {
      const env = await setup();
      const { startTcpProxy } = await import('../helpers/tcp-proxy.js');
      const u = new URL(env.url);
      const proxy = await startTcpProxy({ port: Number(u.port) });
      u.port = String(proxy.port);
      const clock = manualClock();
      const events: string[] = [];
      const asked: number[] = [];
      const conn = new PgConnection({ url: u.toString(), queryTimeoutMs: 1000 });
      const a = new LeaderLease({
        conn, schema: SCHEMA, holder: 'a', ttlMs: 10_000, renewMs: 2000, monotonic: clock.now,
        onDeposed: (e, why) => events.push(`deposed ${e}: ${why}`),
        onDegraded: (e, d) => events.push(`degraded ${e}: ${d}`),
        holdWithoutDatabase: async (e) => { asked.push(e); return hold; },
      });
      expect(await a.acquireOnce()).toBe(1);
      await proxy.cut('refuse');
      clock.advance(2000);
      expect(await a.renewOnce()).toBe(false);
      clock.advance(6200); // past the local deadline (8 s)
      expect(a.epoch, 'still leading while the peers are asked').toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      return { env, proxy, a, conn, clock, events, asked, close: async () => { await a.stop().catch(() => undefined); await conn.close(); await proxy.close(); await env.close(); } };
    };

    it('the peers say nobody reaches PostgreSQL: keeps leading past the deadline and the expiry, then reclaims the lease with the SAME epoch when the database answers', async () => {
      const t = await cutOffLeader(true);
      expect(t.asked).toEqual([1]);
      expect(t.events).toEqual(['degraded 1: true']);
      t.clock.advance(60_000);
      expect(t.a.epoch).toBe(1);
      expect(t.a.degraded).toBe(true);
      expect(t.a.databaseContact(4000).reachable).toBe(false);
      // Meanwhile the lease expired by the database's clock; nobody took it.
      await cluster.query(`UPDATE ${SCHEMA}.lease SET expires_at = now() - interval '1 second'`, [], t.env.db);
      // A failed renewal while degraded asks the peers again.
      expect(await t.a.renewOnce()).toBe(false);
      await new Promise((r) => setTimeout(r, 50));
      expect(t.asked.length).toBeGreaterThanOrEqual(2);
      expect(new Set(t.asked)).toEqual(new Set([1]));
      await t.proxy.heal();
      expect(await t.a.renewOnce()).toBe(true);
      expect(t.events).toEqual(['degraded 1: true', 'degraded 1: false']);
      expect(t.a.degraded).toBe(false);
      expect(t.a.databaseContact(4000).reachable).toBe(true);
      const row = await t.a.read();
      expect(row).toMatchObject({ holder: 'a', epoch: 1 });
      expect(row!.remainingSeconds).toBeGreaterThan(5);
      await t.close();
    }, 60_000);

    it('degraded, and another replica took the lease meanwhile (epoch 2): the reclaim is refused and it steps down', async () => {
      const t = await cutOffLeader(true);
      await cluster.query(`UPDATE ${SCHEMA}.lease SET expires_at = now() - interval '1 second'`, [], t.env.db);
      const b = new LeaderLease({ conn: t.env.conn(), schema: SCHEMA, holder: 'b', ttlMs: 10_000, renewMs: 2000 });
      expect(await b.acquireOnce()).toBe(2);
      await t.proxy.heal();
      expect(await t.a.renewOnce()).toBe(false);
      expect(t.a.epoch).toBeNull();
      expect(t.events).toEqual(['degraded 1: true', 'deposed 1: the database is back and another replica took the lease meanwhile']);
      await b.stop();
      await t.close();
    }, 60_000);

    it('a peer reaches PostgreSQL (the cut-off case): steps down within the margin, before the lease can expire', async () => {
      const t = await cutOffLeader(false);
      expect(t.a.epoch).toBeNull();
      expect(t.events).toEqual(['deposed 1: the lease could not be renewed and a peer reaches PostgreSQL or leads']);
      expect(t.asked).toEqual([1]);
      // Deposed for good: a later renewal is not attempted as a reclaim.
      await t.proxy.heal();
      expect(await t.a.renewOnce()).toBe(false);
      await t.close();
    }, 60_000);
  });

  it('the run loop keeps the lease while renewing, and a clean stop hands it over at the next attempt of the other', async () => {
    const env = await setup();
    const elected: string[] = [];
    const a = new LeaderLease({ conn: env.conn(), schema: SCHEMA, holder: 'a', ttlMs: 1500, renewMs: 300, onElected: (e) => elected.push(`a${e}`) });
    const b = new LeaderLease({ conn: env.conn(), schema: SCHEMA, holder: 'b', ttlMs: 1500, renewMs: 300, onElected: (e) => elected.push(`b${e}`) });
    a.start();
    await waitFor(() => a.isLeader());
    b.start();
    // a keeps renewing: b does not get in for several renew intervals.
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.isLeader()).toBe(false);
    expect(a.isLeader()).toBe(true);
    // A clean stop releases the lease: b takes over at its next attempt with the next epoch.
    await a.stop();
    await waitFor(() => b.isLeader());
    expect(b.epoch).toBe(2);
    expect(elected).toEqual(['a1', 'b2']);
    await b.stop();
    await env.close();
  });

  it('fences state writes: a deposed leader\'s commit fails with NotLeaderError and changes nothing', async () => {
    const env = await setup();
    const ca = env.conn();
    const cb = env.conn();
    const a = new LeaderLease({ conn: ca, schema: SCHEMA, holder: 'a', ttlMs: 5000, renewMs: 1000 });
    const b = new LeaderLease({ conn: cb, schema: SCHEMA, holder: 'b', ttlMs: 5000, renewMs: 1000 });
    const sa = await PostgresStateBackend.open({ conn: ca, schema: SCHEMA });
    const sb = await PostgresStateBackend.open({ conn: cb, schema: SCHEMA });
    expect(await a.acquireOnce()).toBe(1);
    await sa.commit({ epoch: a.epoch! }, poll(1, 'a'), RETENTION);
    // a is paused past its lease (it still believes epoch 1 is current: its local clock did not run);
    // b takes over, and a's next write is refused by the database, whatever a believes.
    await cluster.query(`UPDATE ${SCHEMA}.lease SET expires_at = now() - interval '1 millisecond'`, [], env.db);
    expect(await b.acquireOnce()).toBe(2);
    expect(a.epoch).toBe(1);
    const err = await sa.commit({ epoch: 1 }, poll(2, 'a'), RETENTION).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect(err).toMatchObject({ epoch: 1, currentEpoch: 2 });
    await expect(sa.applyOutbox({ epoch: 1 }, { finish: [{ delivery: { channel: 'c', id: 'n-1', at: 5, outcome: 'delivered', attempts: 1, status: 200, error: null } }] }, RETENTION))
      .rejects.toBeInstanceOf(NotLeaderError);
    // The new leader sees a's accepted commit, nothing of the refused ones.
    const seen = await sb.load();
    expect(seen.pollId).toBe(1);
    expect(seen.snapshot).toEqual({ pollId: 1, by: 'a' });
    expect(seen.outbox.entries.map((e) => e.id)).toEqual(['n-1']);
    await sb.commit({ epoch: 2 }, poll(2, 'b'), RETENTION);
    expect((await sa.load()).snapshot).toEqual({ pollId: 2, by: 'b' });
    // An expired lease nobody took over yet refuses writes too, even from its own holder.
    await cluster.query(`UPDATE ${SCHEMA}.lease SET expires_at = now() - interval '1 millisecond'`, [], env.db);
    await expect(sb.commit({ epoch: 2 }, poll(3, 'b'), RETENTION)).rejects.toThrow(/the lease expired/);
    await sa.close();
    await sb.close();
    await env.close();
  });

  it('a takeover waits for a fenced write in flight: the write commits before the new term begins, and the new leader sees it', async () => {
    const env = await setup();
    const ca = env.conn();
    const a = new LeaderLease({ conn: ca, schema: SCHEMA, holder: 'a', ttlMs: 1000, renewMs: 300 });
    const b = new LeaderLease({ conn: env.conn(), schema: SCHEMA, holder: 'b', ttlMs: 5000, renewMs: 1000 });
    expect(await a.acquireOnce()).toBe(1);
    // a's fenced commit, held open (a slow commit): the fence check's FOR SHARE lock on the lease row.
    const raw = await ca.pool.connect();
    await raw.query('BEGIN');
    const fence = await raw.query(`SELECT 1 FROM ${SCHEMA}.lease WHERE name = 'leader' AND epoch = 1 AND expires_at > now() FOR SHARE`);
    expect(fence.rowCount).toBe(1);
    // The lease expires by the database's clock while the transaction is open; b tries to take over.
    await new Promise((r) => setTimeout(r, 1300));
    let settled = false;
    const takeover = b.acquireOnce().finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 600));
    expect(settled).toBe(false); // waiting for a's transaction
    await raw.query(`INSERT INTO ${SCHEMA}.documents (name, body, version, epoch) VALUES ('alerts', 'from a', 1, 1)`);
    await raw.query('COMMIT');
    raw.release();
    expect(await takeover).toBe(2);
    const doc = await cluster.query<{ body: string; epoch: string }>(`SELECT body, epoch FROM ${SCHEMA}.documents WHERE name = 'alerts'`, [], env.db);
    expect(doc.rows).toEqual([{ body: 'from a', epoch: '1' }]);
    await env.close();
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
