// Two replicas on PostgreSQL, end to end (issue 15, docs/ha.md): a real PostgreSQL (a throwaway cluster,
// test/helpers/postgres.ts), two real `keystore-watch run` child processes, the simulator, and a real
// HTTP receiver behind the webhook channel.
//
//  - SIGKILL the leader at random points through an incident timeline (store FAILED -> CONNECTED,
//    again and again): at a random moment of the poll cycle, or the instant the receiver takes a
//    notification (the crash window between the receiver's 200 and the commit). Every time, the other
//    replica takes over (measured: kill -> its keystore_watch_leader 1), and every incident's firing and
//    resolved arrive exactly once by idempotency key; a key delivered twice is allowed only for a kill
//    at delivery (the documented window), and counted and reported. The killed replica is started
//    again each time, so two replicas run throughout. KSW_HA_KILLS sets the number of kills (default
//    10), KSW_HA_SEED the random seed (printed).
//  - Both replicas' /metrics serve the same domain series, and those two scrapes fed to promtool with
//    the shipped alert rules make KmsCustomKeyStoreFailed fire once, not twice.
//  - PostgreSQL restarted under the daemons; the leader cut off from PostgreSQL (a black-holing TCP
//    proxy between it and the database): it steps down, the other takes over, nothing is delivered
//    twice.
// Figures (takeover times, duplicates in the window) go to the reliability figures file and docs/ha.md.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { seededRng } from '../../src/simulator/random.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { read, run, skipWithout } from '../kit/lib.js';
import { withoutDedup } from '../kit/replicas.js';
import {
  createReplica, domainSeries, freePort, leaderGauge, ledger, metricsText, notice, readyz, servedPollId, sleep, until, waitForLeader, type Replica,
} from '../helpers/ha-cluster.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startReceiver, type Receiver, type RecordedRequest, type Reply } from '../helpers/receiver.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { reportFigure } from '../reliability/support.js';

const STORE = 'cks-r1b0000000000001';
const STORE_KEY = `FAILED:store:111111111111/eu-west-1/${STORE}`;
/**
 * The poll interval of the replicas (schedule every 10 s) and the lease they run with. Issue 15 asks for a
 * takeover "within two poll intervals" (20 s), and that is what the test asserts: after a SIGKILL the
 * lease expires at most leaseDuration (6 s) after the dead leader's last renewal, and the follower tries
 * every renewInterval (1 s), so a takeover needs at most 7 s plus loading the state. Polls every 6 s (a
 * 12 s bound) were tried: a takeover took 11.5 s once with the whole suite running on 2 cores, too close
 * to the bound for CI. A 3 s lease was tried first: on a loaded 2-core machine a freshly elected leader missed
 * its renewal deadline (2.4 s) while another replica started beside it, lost the lease, and re-sent its
 * interrupted delivery on every new term. (Before: polls every 4 s and a bound of 2 polls + 20 s.)
 */
export const POLL_MS = 10_000;
export const LEASE = { leaseDuration: '6s', renewInterval: '1s', refreshInterval: '1s' };
const KILLS = Math.max(1, Number(process.env.KSW_HA_KILLS ?? 10));
const SEED = Number(process.env.KSW_HA_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Generous bounds for a loaded 2-core CI machine: how long we wait, not how fast it must be. */
const START_MS = 120_000;
const EVENT_MS = 120_000;
/** A takeover slower than this is a failure: two poll intervals (issue 15); the figures report the real times. */
const TAKEOVER_BOUND_MS = 2 * POLL_MS;

let pgc: PgCluster;
let sim: RunningSimulator;
let rx: Receiver;
const replicas: Replica[] = [];

beforeAll(async () => {
  [pgc, sim, rx] = await Promise.all([startPostgres(), simulator('reliability-fleet.yaml'), startReceiver()]);
}, 240_000);
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const r of replicas) console.log(`===== ${r.name} logs (tail) =====\n${r.logs().split('\n').slice(-80).join('\n')}`);
  }
  await Promise.all(replicas.splice(0).map(async (r) => { await r.kill(); await r.proxy.close(); }));
  rx.setRespond(undefined);
  rx.requests.splice(0);
  sim.fleet.resetFaults();
  sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
  if (!pgc.running()) await pgc.start();
});
afterAll(async () => {
  await rx?.close();
  await sim?.close();
  await pgc?.destroy();
});

/** The replicas' config: one database, the other replicas as state.peers, the webhook channel at the receiver, polls every POLL_MS. */
function configFor(dbUrl: string, peerPorts: number[]) {
  return (pgProxyPort: number, httpPort: number): Record<string, unknown> => {
    const u = new URL(dbUrl);
    u.port = String(pgProxyPort);
    return {
      schedule: `*/${POLL_MS / 1000} * * * * *`,
      listen: `127.0.0.1:${httpPort}`,
      stateDir: tempDir('kw-ha-state-'),
      logLevel: 'info',
      state: { backend: 'postgres', url: u.toString(), schema: 'keystore_watch', ...LEASE, peers: process.env.KSW_HA_NO_PEERS ? [] : peerPorts.filter((p) => p !== httpPort).map((p) => `http://127.0.0.1:${p}`) },
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
      accounts: [{ id: '111111111111', name: 'management' }],
      regions: ['us-east-1', 'eu-west-1'],
      alerting: { confirmations: 2, groupThreshold: 100, channels: [{ type: 'webhook', name: 'hook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
    };
  };
}

async function twoReplicas(): Promise<[Replica, Replica]> {
  const db = await pgc.createDatabase();
  const ports = [await freePort()];
  while (ports.length < 2) { const p = await freePort(); if (!ports.includes(p)) ports.push(p); }
  const a = await createReplica('replica-a', pgc.port, configFor(db, ports), {}, ports[0]);
  const b = await createReplica('replica-b', pgc.port, configFor(db, ports), {}, ports[1]);
  replicas.push(a, b);
  a.start();
  b.start();
  await until('both replicas to serve /readyz 200', START_MS, async () => (await readyz(a))?.status === 200 && (await readyz(b))?.status === 200, 100);
  return [a, b];
}

const storeNotices = (event: string) => rx.requests.map(notice).filter((n) => n.alertKey === STORE_KEY && n.event === event);
/**
 * Distinct idempotency keys of the store's notifications the receiver took. The receiver accepts every
 * request (answers 200), so a request counts even when its sender was killed before the 200 reached it:
 * a chat message would have been posted.
 */
const accepted = (event: string) => new Set(storeNotices(event).map((n) => n.key));
const storeLedger = () => ledger(rx.requests.filter((r) => notice(r).alertKey === STORE_KEY), () => true);

/** SIGKILLs `leader` and waits for the other running replica to lead; answers the takeover time. */
async function killAndTakeOver(all: Replica[], leader: Replica): Promise<number> {
  const t0 = Date.now();
  await leader.kill();
  const next = await waitForLeader(all, TAKEOVER_BOUND_MS + 30_000, { not: leader });
  const ms = Date.now() - t0;
  expect(next).not.toBe(leader);
  return ms;
}

describe('two replicas on PostgreSQL', () => {
  it('the TCP proxy really cuts a client off from PostgreSQL, and heals (so the partition tests can fail)', async () => {
    const { startTcpProxy } = await import('../helpers/tcp-proxy.js');
    const { default: pg } = await import('pg');
    const proxy = await startTcpProxy({ port: pgc.port });
    const url = new URL(pgc.url);
    url.port = String(proxy.port);
    const q = async () => {
      const c = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 1500, query_timeout: 1500 });
      try {
        await c.connect();
        return (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one;
      } finally {
        await c.end().catch(() => undefined);
      }
    };
    try {
      expect(await q()).toBe(1);
      await proxy.cut('blackhole');
      await expect(q()).rejects.toThrow(/timeout|terminated/i);
      await proxy.cut('refuse');
      await expect(q()).rejects.toThrow(/ECONNREFUSED/);
      await proxy.heal();
      expect(await q()).toBe(1);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it(`SIGKILL of the leader at ${KILLS} random points of an incident timeline: a takeover every time, every firing and resolved once`, async () => {
    const random = seededRng(SEED); // replay a failing run with KSW_HA_SEED
    console.log(`[ha] KSW_HA_SEED=${SEED} KSW_HA_KILLS=${KILLS}`);
    const all = await twoReplicas();
    let leader = await waitForLeader(all, START_MS);
    const takeovers: number[] = [];
    const kills: { at: 'poll' | 'delivery'; phase: string; ms: number; t: number }[] = [];
    /** When each SIGKILL was sent (epoch ms, the receiver's clock). */
    const killTimes: number[] = [];
    /** Keys the receiver took while we killed the leader for it: a second delivery of one of these is the documented window. */
    const windowKeys = new Set<string>();

    // The receiver answers every request; when armed it kills the leader the instant a store
    // notification arrives, then answers 200: the receiver has acted, the sender died before its commit.
    let armed: { event: string; done: (r: RecordedRequest) => void } | null = null;
    rx.setRespond(async (req): Promise<Reply> => {
      const n = notice(req);
      if (armed && n.alertKey === STORE_KEY && n.event === armed.event) {
        const a = armed;
        armed = null;
        windowKeys.add(n.key);
        const victim = leader;
        killTimes.push(Date.now());
        victim.proc?.kill('SIGKILL');
        a.done(req);
      }
      return { status: 200, body: 'ok' };
    });

    const killOnce = async (phase: 'firing' | 'resolved') => {
      const atDelivery = random() < 0.4;
      let ms: number;
      if (atDelivery) {
        const hit = new Promise<RecordedRequest>((resolve) => { armed = { event: phase, done: resolve }; });
        await Promise.race([hit, sleep(EVENT_MS).then(() => { throw new Error(`no ${phase} notification arrived to kill the leader on`); })]);
        await leader.exited();
        const next = await waitForLeader(all, TAKEOVER_BOUND_MS + 30_000, { not: leader });
        ms = Date.now() - killTimes.at(-1)!;
        expect(next).not.toBe(leader);
      } else {
        // Anywhere in the next two poll intervals: mid-poll, mid-commit, between polls.
        await sleep(Math.floor(random() * 2 * POLL_MS));
        killTimes.push(Date.now());
        ms = await killAndTakeOver(all, leader);
      }
      const victim = leader;
      leader = (await waitForLeader(all, 10_000))!;
      takeovers.push(ms);
      kills.push({ at: atDelivery ? 'delivery' : 'poll', phase, ms, t: killTimes.at(-1)! });
      expect(ms, `takeover after kill #${kills.length}`).toBeLessThanOrEqual(TAKEOVER_BOUND_MS);
      // Two replicas run throughout: the killed one comes back (as a follower), and the next kill waits
      // until it runs for the lease: a kill while it is still starting (node + tsx took 40 s once on a
      // loaded 2-core machine) would leave nobody to take over and measure the start-up, not the takeover.
      const lines = victim.logs().length;
      victim.start();
      await until('the restarted replica to run for the lease', START_MS, () => victim.logs().slice(lines).includes('trying for the leader lease'), 100);
    };

    const incidents = Math.ceil(KILLS / 2);
    for (let i = 0; i < incidents; i++) {
      sim.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
      await killOnce('firing');
      await until(`firing #${i + 1} delivered`, EVENT_MS, () => accepted('firing').size >= i + 1, 100);
      sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
      if (kills.length < KILLS) await killOnce('resolved');
      await until(`resolved #${i + 1} delivered`, EVENT_MS, () => accepted('resolved').size >= i + 1, 100);
    }
    armed = null;

    // Quiet for a few polls after the last incident: nothing more may arrive.
    const leaderNow = await waitForLeader(all, START_MS);
    const p0 = (await servedPollId(leaderNow)) ?? 0;
    await until('three more polls', EVENT_MS, async () => ((await servedPollId(leaderNow)) ?? 0) >= p0 + 3, 200);

    // Exactly once by idempotency key: one firing and one resolved per incident, in order.
    expect(accepted('firing').size, 'firings').toBe(incidents);
    expect(accepted('resolved').size, 'resolveds').toBe(incidents);
    const order = storeNotices('firing').concat(storeNotices('resolved')).sort((a, b) => a.at - b.at);
    const distinctInOrder = order.filter((n, i) => order.findIndex((m) => m.key === n.key) === i).map((n) => n.event);
    expect(distinctInOrder).toEqual(Array.from({ length: incidents }, () => ['firing', 'resolved']).flat());
    const { duplicates } = storeLedger();
    // A key delivered twice only in the crash window: the receiver took it, then the leader that sent it
    // was killed before its delivery mark committed, and the next leader sent it again with the same key.
    // So a kill must fall between every two arrivals of a key (a kill at delivery, or a random kill that
    // happened to land while the mark was under way); each further term that loads the entry before a
    // mark commits may send it once more, always after one more kill.
    const arrivals = (key: string) => storeNotices('firing').concat(storeNotices('resolved')).filter((n) => n.key === key).map((n) => n.at).sort((a, b) => a - b);
    for (const d of duplicates) {
      const at = arrivals(d.key);
      for (let i = 1; i < at.length; i++) {
        expect(killTimes.some((k) => k >= at[i - 1]! && k <= at[i]!), `${d.key}: delivery ${i + 1} at ${at[i]} without a kill since delivery ${i} at ${at[i - 1]} (kills at ${killTimes.join(', ')})`).toBe(true);
      }
    }

    expect(kills.length).toBe(KILLS);
    const sorted = [...takeovers].sort((a, b) => a - b);
    const figures = {
      seed: SEED, kills: kills.length, killsAtDelivery: kills.filter((k) => k.at === 'delivery').length,
      takeoverMsMin: sorted[0], takeoverMsMedian: sorted[Math.floor(sorted.length / 2)], takeoverMsMax: sorted[sorted.length - 1],
      takeoversWithinTwoPolls: takeovers.filter((t) => t <= 2 * POLL_MS).length, pollMs: POLL_MS, lease: LEASE,
      incidents, duplicatesInCrashWindow: duplicates.length, duplicatesFromKillsAtDelivery: duplicates.filter((d) => windowKeys.has(d.key)).length, deliveriesOfDuplicatedKeys: duplicates.map((d) => d.count), takeoverMs: takeovers,
    };
    reportFigure('ha-sigkill-failover', figures);
  }, 1_800_000);

  it('both replicas serve the same domain series, and the alert rules fire once over the two scrapes (promtool)', async () => {
    const all = await twoReplicas();
    const leader = await waitForLeader(all, START_MS);
    sim.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    await until('the firing', EVENT_MS, () => accepted('firing').size >= 1, 100);
    // The follower serves the latest committed poll: wait until both serve the same one.
    const [ta, tb] = await until('both replicas to serve the same domain series', EVENT_MS, async () => {
      const [x, y] = await Promise.all(all.map((r) => metricsText(r)));
      if (!x || !y) return undefined;
      const [dx, dy] = [domainSeries(x), domainSeries(y)];
      return dx.length > 0 && JSON.stringify(dx) === JSON.stringify(dy) ? [x, y] as const : undefined;
    }, 200);
    const [da, db] = [domainSeries(ta), domainSeries(tb)];
    expect(da).toEqual(db);
    expect(da.some((l) => l.startsWith(`kms_custom_key_store_connection_state{`) && l.includes(STORE) && l.includes('state="FAILED"') && l.endsWith(' 1'))).toBe(true);
    // Exactly one of them leads; the follower says 0.
    const gauges = await Promise.all(all.map((r) => leaderGauge(r)));
    expect(gauges.sort()).toEqual([0, 1]);
    expect(await leaderGauge(leader)).toBe(1);

    if (skipWithout('promtool')) return;
    // The two scrapes, as Prometheus stores them (job + instance), held for 15 minutes.
    const series = (text: string, instance: string) => domainSeries(text).map((l) => {
      const i = l.lastIndexOf(' ');
      const sel = l.slice(0, i);
      const withLabels = sel.includes('{') ? sel.replace('{', `{job="keystore-watch", instance="${instance}", `) : `${sel}{job="keystore-watch", instance="${instance}"}`;
      return { series: withLabels, values: `${Number(l.slice(i + 1))}x15` };
    });
    const failedQuery = 'count by(custom_key_store_id) (ALERTS{alertname="KmsCustomKeyStoreFailed", alertstate="firing"})';
    const promtool = (rules: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'kw-ha-promtool-'));
      writeFileSync(join(dir, 'alerts.yml'), rules);
      writeFileSync(join(dir, 'replicas.test.yml'), stringify({
        rule_files: ['alerts.yml'],
        evaluation_interval: '1m',
        tests: [{
          interval: '1m',
          input_series: [...series(ta, `127.0.0.1:${all[0].port}`), ...series(tb, `127.0.0.1:${all[1].port}`)],
          promql_expr_test: [
            { expr: failedQuery, eval_time: '5m', exp_samples: [{ labels: `{custom_key_store_id="${STORE}"}`, value: 1 }] },
            // No alert carries a replica's instance: one page, not one per replica.
            { expr: 'count(ALERTS{alertstate="firing", instance!=""})', eval_time: '5m', exp_samples: [] },
          ],
        }],
      }, { lineWidth: 0 }));
      return run('promtool', ['test', 'rules', 'replicas.test.yml'], { cwd: dir });
    };
    const shipped = read('config', 'prometheus', 'alerts.yml');
    const r = promtool(shipped);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // The same two scrapes against the rules without the replica aggregation: the test can fail.
    const naive = promtool(withoutDedup(shipped));
    expect(naive.status, 'the rules without max without(instance, pod) must fail over two replicas').not.toBe(0);
    reportFigure('ha-metrics-agree', { domainSeries: da.length, alertsFromTwoReplicas: 1 });
  }, 600_000);

  it('PostgreSQL restarted under the daemons: one leader again, the incident delivered once', async () => {
    const all = await twoReplicas();
    await waitForLeader(all, START_MS);
    const t0 = Date.now();
    await pgc.restart('fast');
    const restartedMs = Date.now() - t0;
    sim.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    const leader = await waitForLeader(all, START_MS);
    const leaderAgainMs = Date.now() - t0;
    await until('the firing', EVENT_MS, () => accepted('firing').size >= 1, 100);
    sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
    await until('the resolved', EVENT_MS, () => accepted('resolved').size >= 1, 100);
    const p0 = (await servedPollId(leader)) ?? 0;
    await until('three more polls', EVENT_MS, async () => ((await servedPollId(leader)) ?? 0) >= p0 + 3, 200);
    expect(storeLedger().duplicates).toEqual([]);
    expect(accepted('firing').size).toBe(1);
    expect(accepted('resolved').size).toBe(1);
    expect(all.every((r) => r.running()), 'both replicas survived the restart').toBe(true);
    await until('both ready again', EVENT_MS, async () => (await readyz(all[0]))?.status === 200 && (await readyz(all[1]))?.status === 200, 200);
    reportFigure('ha-postgres-restart', { restartedMs, leaderAgainMs });
  }, 600_000);

  // "Never silent" (issue 12) for the PostgreSQL backend: PostgreSQL unreachable for EVERY replica for a
  // minute. Before state.peers the leader stepped down at 4/5 of the lease (it cannot tell "down for
  // everyone" from "I am cut off") and nobody polled or paged until the database returned. Now the leader
  // asks its peer (GET /api/v1/replica), hears that it cannot reach PostgreSQL either, and keeps leading
  // from memory (degraded): the page arrives during the outage, with the state-persist self-alert; when
  // the database returns it reclaims its lease with the same epoch (the follower defers to it), so the
  // firing is delivered exactly once and only one replica ever led.
  // NEVER_SILENT_GAP = true asserts the old behaviour (no page during the outage): run the test with it
  // against the code before src/ha/peers.ts to see it pass there and fail here.
  const NEVER_SILENT_GAP = false;
  it(`PostgreSQL unreachable for a minute while a store FAILs: ${NEVER_SILENT_GAP ? 'KNOWN GAP: no page until the database returns (then exactly once)' : 'it still pages'}`, async () => {
    const outageMs = Number(process.env.KSW_HA_PG_OUTAGE_MS ?? 60_000);
    const all = await twoReplicas();
    const leaderBefore = await waitForLeader(all, START_MS);
    const before = rx.requests.length;
    await pgc.stop('immediate');
    const downAt = Date.now();
    sim.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    // Confirmations (2) take up to three polls: 30 s. Wait out the outage, watching for the page and for the
    // number of replicas that lead (never two).
    let firingAfterMs: number | null = null;
    let maxLeaders = 0;
    let degradedSeen = false;
    await until('the end of the outage', outageMs + 30_000, async () => {
      if (firingAfterMs === null && accepted('firing').size >= 1) firingAfterMs = Date.now() - downAt;
      const texts = await Promise.all(all.map((r) => metricsText(r)));
      maxLeaders = Math.max(maxLeaders, texts.filter((t) => t !== null && /^keystore_watch_leader 1$/m.test(t)).length);
      degradedSeen ||= texts.some((t) => t !== null && /^keystore_watch_leader_degraded 1$/m.test(t));
      return Date.now() - downAt >= outageMs;
    }, 250);
    const selfAlertsDuringOutage = [...new Set(rx.requests.slice(before).map(notice).filter((n) => n.alertKey.startsWith('SELF:') && n.event === 'firing').map((n) => n.alertKey))];
    const leadersDuringOutage = (await Promise.all(all.map((r) => leaderGauge(r)))).filter((g) => g === 1).length;
    const readyDuringOutage = await readyz(leaderBefore);
    await pgc.start();
    const upAt = Date.now();
    const leader = await waitForLeader(all, START_MS);
    const leaderAgainMs = Date.now() - upAt;
    await until('the firing once the database is back', EVENT_MS, () => accepted('firing').size >= 1, 100);
    const firingAfterUpMs = Date.now() - upAt;
    // The held state is written back: the degraded flag and the state-persist self-alert clear.
    await until('the leader to write its state again', EVENT_MS, async () => {
      const t = await metricsText(leader);
      // (A replica newly elected after the outage has no state-persist series at all: absent counts as resolved.)
      return t !== null && /^keystore_watch_leader_degraded 0$/m.test(t) && !/^keystore_watch_self_alert\{id="state-persist",[^}]*\} 1$/m.test(t);
    }, 200);
    sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
    await until('the resolved', EVENT_MS, () => accepted('resolved').size >= 1, 100);
    const p0 = (await servedPollId(leader)) ?? 0;
    await until('three more polls', EVENT_MS, async () => ((await servedPollId(leader)) ?? 0) >= p0 + 3, 200);
    const firings = storeNotices('firing');
    expect(accepted('resolved').size).toBe(1);
    expect(all.every((r) => r.running()), 'both replicas survived the outage').toBe(true);
    reportFigure('ha-postgres-unreachable', {
      outageMs, firingDuringOutageAfterMs: firingAfterMs, leadersDuringOutage, maxLeadersSeen: maxLeaders, degradedSeen, selfAlertsDuringOutage,
      readyzDuringOutage: readyDuringOutage?.status ?? null, leaderAgainMs, sameLeaderAfter: leader === leaderBefore, firingAfterDatabaseBackMs: firingAfterUpMs,
      firingKeys: new Set(firings.map((n) => n.key)).size, firingRequests: firings.length, pollMs: POLL_MS, lease: LEASE,
    });
    if (NEVER_SILENT_GAP) {
      // The gap as it was: silent while the database is away, one firing once it is back.
      expect(firingAfterMs, 'the daemon paged during the database outage: the known gap is closed, set NEVER_SILENT_GAP = false').toBeNull();
      expect(new Set(firings.map((n) => n.key)).size).toBe(1);
      expect(storeLedger().duplicates).toEqual([]);
    } else {
      expect(firingAfterMs, 'the firing while PostgreSQL is down').not.toBeNull();
      expect(firingAfterMs!, 'the firing within the outage').toBeLessThan(outageMs);
      expect(selfAlertsDuringOutage.some((k) => k.includes('state-persist')), `the state-persist self-alert during the outage (got ${selfAlertsDuringOutage.join(', ')})`).toBe(true);
      expect(degradedSeen, 'keystore_watch_leader_degraded 1 during the outage').toBe(true);
      expect(readyDuringOutage?.status, '/readyz says why while degraded').toBe(503);
      expect(readyDuringOutage?.body).toMatch(/leading without PostgreSQL/);
      // Both can talk to each other: one replica leads throughout, and it reclaims its lease afterwards.
      expect(maxLeaders, 'never two leaders').toBe(1);
      expect(leadersDuringOutage).toBe(1);
      expect(leader, 'the degraded leader reclaimed its lease').toBe(leaderBefore);
      // Exactly once: the firing sent from memory is written back, not sent again.
      expect(new Set(firings.map((n) => n.key)).size).toBe(1);
      expect(storeLedger().duplicates).toEqual([]);
    }
  }, 900_000);

  it('the leader cut off from PostgreSQL steps down, the other takes over, nothing is delivered twice', async () => {
    const all = await twoReplicas();
    const leader = await waitForLeader(all, START_MS);
    const other = all.find((r) => r !== leader)!;
    const t0 = Date.now();
    await leader.proxy.cut('blackhole');
    // The other replica takes over once the lease expired; the cut-off one stops leading (it still serves HTTP).
    const next = await waitForLeader(all, TAKEOVER_BOUND_MS + 30_000, { not: leader });
    const takeoverMs = Date.now() - t0;
    expect(next).toBe(other);
    await until('the cut-off replica to say it does not lead', EVENT_MS, async () => (await leaderGauge(leader)) === 0, 100);
    const stepDownMs = Date.now() - t0;
    expect(leader.running(), 'the cut-off replica keeps running').toBe(true);

    // An incident while the old leader is cut off: the new leader pages, the old one must not.
    sim.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    await until('the firing', EVENT_MS, () => accepted('firing').size >= 1, 100);
    await leader.proxy.heal();
    sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
    await until('the resolved', EVENT_MS, () => accepted('resolved').size >= 1, 100);
    const p0 = (await servedPollId(next)) ?? 0;
    await until('three more polls', EVENT_MS, async () => ((await servedPollId(next)) ?? 0) >= p0 + 3, 200);
    const l = storeLedger();
    expect(l.duplicates).toEqual([]);
    expect(accepted('firing').size).toBe(1);
    expect(accepted('resolved').size).toBe(1);
    // Healed: still exactly one leader, and it is the one that took over (no flapping back).
    expect(await waitForLeader(all, START_MS)).toBe(next);
    reportFigure('ha-leader-partition', { takeoverMs, stepDownMs, lease: LEASE, pollMs: POLL_MS });
  }, 600_000);
});
