// Two real daemons sharing a real PostgreSQL (test/helpers/postgres.ts), against the simulator, with a
// real HTTP receiver as the webhook channel: one leads (polls, delivers), the other follows and serves
// the same domain series; a takeover reloads the state and sends nothing twice; a deposed leader stops.
// (The multi-process SIGKILL failover tests are the ha helper's: test/ha/failover*.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

let cluster: PgCluster;
let sim: RunningSimulator;
let rx: Receiver;
let url: string;
let db: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  [cluster, sim, rx] = await Promise.all([startPostgres(), simulator('poller-fleet.yaml'), startReceiver()]);
  url = await cluster.createDatabase();
  db = new URL(url).pathname.slice(1);
}, 180_000);
afterAll(async () => {
  for (const d of daemons) await d.stop(1000).catch(() => {});
  await rx?.close();
  await sim?.close();
  await cluster?.destroy();
});

function replica(): Daemon {
  const config = simConfig(sim, {
    state: { backend: 'postgres', url, leaseDuration: '3s', renewInterval: '500ms', refreshInterval: '300ms', queryTimeout: '5s' },
    alerting: { confirmations: 1, channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
  });
  const d = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false });
  daemons.push(d);
  return d;
}

async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const metrics = async (d: Daemon) => (await fetch(`${d.url}/metrics`)).text();
const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};
/** The domain series (what the snapshot says about AWS), which must be the same on every replica. */
const domain = (text: string) => text.split('\n').filter((l) => /^(kms_|aws_|keystore_watch_(target|store|account_info))/.test(l)).sort().join('\n');
const keys = () => rx.delivered('/hook').map((r) => String(r.headers['x-keystore-watch-idempotency-key']));

describe('two replicas on PostgreSQL', () => {
  let leader: Daemon;
  let follower: Daemon;

  it('elects one leader; only it polls and delivers; the follower serves the same domain series', async () => {
    const a = replica();
    const b = replica();
    await Promise.all([a.start(), b.start()]);
    await until(() => a.role === 'leader' || b.role === 'leader', 'a leader');
    [leader, follower] = a.role === 'leader' ? [a, b] : [b, a];
    expect(follower.role).toBe('follower');
    // A follower does not poll AWS, even when asked.
    await follower.pollNow();
    const fm0 = await metrics(follower);
    expect(value(fm0, 'keystore_watch_polls_total')).toBe(0);
    expect(value(fm0, 'keystore_watch_aws_requests_total{service="kms",operation="DescribeCustomKeyStores"}') ?? 0).toBe(0);
    expect(await leader.pollNow()).toBe(true);
    await rx.until(() => keys().length > 0, 30_000, 'the firing notifications');
    // The follower picks the committed poll up and answers the same.
    await until(async () => domain(await metrics(follower)) === domain(await metrics(leader)) && domain(await metrics(leader)) !== '', 'the follower to serve the leader\'s snapshot');
    const [lm, fm] = [await metrics(leader), await metrics(follower)];
    expect(value(lm, 'keystore_watch_leader')).toBe(1);
    expect(value(fm, 'keystore_watch_leader')).toBe(0);
    expect(value(lm, 'keystore_watch_lease_epoch')).toBe(1);
    expect(domain(fm)).toContain('kms_custom_key_store_connection_state{account_id="222222222222",region="us-east-1",custom_key_store_id="cks-bbbbbbbbbbbbbbbb1",state="FAILED"} 1');
    expect((await fetch(`${follower.url}/readyz`)).status).toBe(200);
    const alerts = async (d: Daemon) => ((await (await fetch(`${d.url}/api/v1/alerts`)).json()) as { alerts: { alertKey: string }[] }).alerts.map((x) => x.alertKey).sort();
    await until(async () => JSON.stringify(await alerts(follower)) === JSON.stringify(await alerts(leader)), 'the same firing alerts on both');
    expect((await alerts(leader)).length).toBeGreaterThan(0);
    const stores = async (d: Daemon) => (await (await fetch(`${d.url}/api/v1/stores`)).json()) as { pollId: number };
    expect((await stores(follower)).pollId).toBe((await stores(leader)).pollId);
  });

  it('a graceful stop hands over: the new leader reloads the state, polls on, and sends nothing twice', async () => {
    const sent = await (async () => { await until(() => leader.alerts.outbox.pending() === 0, 'the outbox to drain'); return keys(); })();
    expect(new Set(sent).size).toBe(sent.length);
    await leader.stop(2000);
    await until(() => follower.role === 'leader', 'the follower to take over');
    const [old, next] = [leader, follower];
    leader = next;
    await until(async () => value(await metrics(leader), 'keystore_watch_lease_epoch') === 2, 'epoch 2 on the new leader');
    // Same AWS state: the new leader's poll decides nothing new (its alert state came from the database).
    expect(await leader.pollNow()).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(keys()).toEqual(sent);
    // A change after the failover is notified once, by the new leader.
    sim.fleet.setFaults({ errors: [{ service: 'kms', account: '333333333333', region: 'us-east-1', error: 'KMSInternalException' }] });
    try {
      for (let i = 0; i < 3; i++) await leader.pollNow();
    } finally {
      sim.fleet.setFaults({ errors: [] });
    }
    await rx.until(() => keys().length > sent.length, 30_000, 'the notification decided by the new leader');
    expect(new Set(keys()).size).toBe(keys().length);
    void old;
  });

  it('a leader whose lease is taken away stops: its writes are refused and it delivers nothing more', async () => {
    const b = replica();
    await b.start();
    expect(b.role).toBe('follower');
    // The lease expires under the leader (as after a long pause); the other replica takes it with the next epoch.
    await cluster.query(`UPDATE keystore_watch.lease SET expires_at = now() - interval '1 millisecond'`, [], db);
    await until(() => b.role === 'leader' && leader.role === 'follower', 'the takeover and the old leader stepping down');
    await until(async () => value(await metrics(b), 'keystore_watch_lease_epoch') === 3, 'epoch 3 on the new leader');
    expect(value(await metrics(leader), 'keystore_watch_leader')).toBe(0);
    const before = rx.requests.length;
    await leader.pollNow();
    expect(value(await metrics(leader), 'keystore_watch_leader')).toBe(0);
    const epochs = await cluster.query<{ name: string; epoch: string }>(`SELECT name, epoch FROM keystore_watch.documents ORDER BY name`, [], db);
    expect(epochs.rows.every((r) => Number(r.epoch) <= 3)).toBe(true);
    expect(rx.requests.length).toBe(before);
  });
});
