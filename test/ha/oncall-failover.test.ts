// Silences and acknowledgements survive a failover (issue 16 "Done when"): two real daemons on a real
// PostgreSQL (test/helpers/postgres.ts) against the simulator. The leader records a silence and an
// acknowledgement through the HTTP API; a follower refuses writes (503, nothing recorded); after the
// leader stops, the new leader has both from the database, still applies them, and lists the audit events.
// Before that, the follower serves both without waiting for a poll (on-call writes move the change mark).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

const TOKEN = 'failover-token-0123456789abcdef';
let cluster: PgCluster;
let sim: RunningSimulator;
let url: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  [cluster, sim] = await Promise.all([startPostgres(), simulator('poller-fleet.yaml')]);
  url = await cluster.createDatabase();
}, 180_000);
afterAll(async () => {
  for (const d of daemons) await d.stop(1000).catch(() => {});
  await sim?.close();
  await cluster?.destroy();
});

function replica(): Daemon {
  const config = simConfig(sim, {
    http: { authToken: TOKEN },
    state: { backend: 'postgres', url, leaseDuration: '3s', renewInterval: '500ms', refreshInterval: '300ms', queryTimeout: '5s' },
    // No channel: no delivery writes to the outbox, so after the poll's commit only the on-call writes
    // can move the database's change mark (what the follower's check below depends on).
    alerting: { confirmations: 1, channels: [] },
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
const api = (d: Daemon, path: string, init: RequestInit = {}) => fetch(`${d.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
type AlertView = { alertKey: string; subject: { accountId: string }; silenced: { silenceId?: string } | null; acknowledged: { by: string } | null };
const alerts = async (d: Daemon) => ((await (await api(d, '/api/v1/alerts')).json()) as { alerts: AlertView[] }).alerts;

describe('on-call state across a failover (PostgreSQL)', () => {
  it('the new leader keeps the silence and the acknowledgement; a follower refuses writes', async () => {
    const a = replica();
    const b = replica();
    await Promise.all([a.start(), b.start()]);
    await until(() => a.role === 'leader' || b.role === 'leader', 'a leader');
    const [leader, follower] = a.role === 'leader' ? [a, b] : [b, a];
    expect(await leader.pollNow()).toBe(true);
    const firing = await alerts(leader);
    expect(firing.length).toBeGreaterThan(1);
    const acked = firing[0]!;
    const silencedAccount = firing.find((x) => x.subject.accountId !== acked.subject.accountId)?.subject.accountId ?? acked.subject.accountId;
    const s = await api(leader, '/api/v1/silences', { method: 'POST', body: JSON.stringify({ matchers: [`account_id="${silencedAccount}"`], endsAt: new Date(Date.now() + 3_600_000).toISOString(), createdBy: 'alice', comment: 'failover test' }) });
    expect(s.status).toBe(200);
    const { silenceId } = (await s.json()) as { silenceId: string };
    const k = await api(leader, `/api/v1/alerts/${encodeURIComponent(acked.alertKey)}/ack`, { method: 'POST', body: JSON.stringify({ by: 'bob', comment: 'on it' }) });
    expect(k.status).toBe(200);
    // A follower cannot write: 503, and nothing is recorded.
    const refused = await api(follower, '/api/v1/silences', { method: 'POST', body: JSON.stringify({ matchers: ['region="eu-west-1"'], endsAt: new Date(Date.now() + 3_600_000).toISOString(), createdBy: 'mallory', comment: '' }) });
    expect(refused.status).toBe(503);
    // No poll runs (schedule: false) and nothing is delivered, so nothing but the on-call writes moves the
    // database's change mark: the follower must still serve both within a few refreshes (refreshInterval 300ms).
    const followerSilences = async () => ((await (await api(follower, '/api/v1/silences')).json()) as { silences: { id: string }[] }).silences.map((x) => x.id);
    await until(async () => (await followerSilences()).includes(silenceId) && (await alerts(follower)).find((x) => x.alertKey === acked.alertKey)?.acknowledged?.by === 'bob', 'the follower to serve the silence and the acknowledgement', 10_000);

    await leader.stop(2000);
    await until(() => follower.role === 'leader', 'the follower to take over');
    const next = follower;
    const silences = ((await (await api(next, '/api/v1/silences')).json()) as { silences: { id: string; status: string; createdBy: string }[] }).silences;
    expect(silences.filter((x) => x.createdBy !== 'configuration').map((x) => [x.id, x.status, x.createdBy])).toEqual([[silenceId, 'active', 'alice']]);
    const after = await alerts(next);
    expect(after.find((x) => x.alertKey === acked.alertKey)?.acknowledged).toMatchObject({ by: 'bob' });
    expect(after.filter((x) => x.subject.accountId === silencedAccount).every((x) => x.silenced?.silenceId === silenceId)).toBe(true);
    const events = ((await (await api(next, '/api/v1/events?limit=1000')).json()) as { events: { type: string; action?: string; by?: string }[] }).events.filter((e) => e.type === 'audit');
    expect(events.map((e) => [e.action, e.by]).sort()).toEqual([['alert_acknowledged', 'bob'], ['silence_created', 'alice']]);
  }, 180_000);
});
