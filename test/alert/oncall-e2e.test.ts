// On-call end to end: the daemon against the simulator and real local receivers; silences and
// acknowledgements through the real CLI (a child process) over the daemon's HTTP API; a restart on
// the same stateDir (file backend) keeps them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { Config } from '../../src/config/schema.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { startHttpServer } from '../../src/server/http.js';
import { onCallRoutes } from '../../src/server/oncall-routes.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { runCli } from '../helpers/cli.js';

const TOKEN = 'oncall-token-0123456789abcdef';
const STORE_A = 'cks-a000000000000001';
const KEY_A = `FAILED:store:111111111111/us-east-1/${STORE_A}`;
const MIN = 60_000;

let sim: RunningSimulator;
let daemon: Daemon;
let config: Config;
let slack: Receiver, hook: Receiver;
// The CLI computes startsAt/endsAt from the real clock: the daemon's virtual clock starts there.
let clock = Date.now();

const startDaemon = async () => {
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
  await daemon.start();
};
async function poll(minutes = 1): Promise<void> {
  clock += minutes * MIN;
  expect(await daemon.pollNow()).toBe(true);
}
async function delivered(): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (daemon.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error(`outbox still holds ${daemon.alerts.outbox.pending()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const cli = (args: string[]) => runCli(args, { env: { KEYSTORE_WATCH_TOKEN: TOKEN, KEYSTORE_WATCH_URL: daemon.url! }, timeoutMs: 60_000 });
const get = async (path: string) => (await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } }));
const hookKinds = () => hook.requests.filter((r) => (r.json as { notification: { alertKey?: string } }).notification.alertKey === KEY_A).map((r) => r.headers['x-keystore-watch-event']);

beforeAll(async () => {
  sim = await simulator('alerting-fleet.yaml');
  [slack, hook] = await Promise.all([startReceiver(), startReceiver()]);
  config = simConfig(sim, {
    accounts: [{ id: '111111111111', name: 'management' }],
    regions: ['us-east-1'],
    http: { authToken: TOKEN },
    alerting: {
      confirmations: 2, repeatInterval: '30m',
      channels: [
        { type: 'slack', webhookUrl: `${slack.url}/services/T0/B0/slacksecret`, minSeverity: 'warning' },
        { type: 'webhook', url: `${hook.url}/kms`, minSeverity: 'warning' },
      ],
    },
  });
  await startDaemon();
}, 60_000);
afterAll(async () => {
  await daemon?.stop(2000);
  await Promise.all([sim?.close(), slack?.close(), hook?.close()]);
});

describe('on-call end to end', () => {
  let silenceId = '';

  it('a silence created through the CLI mutes a firing store: it fires in state and metrics, nothing is sent', async () => {
    await poll();
    const add = await cli(['silence', 'add', '--match', `custom_key_store_id="${STORE_A}"`, '--duration', '2h', '--comment', 'HSM replacement <!channel> *x*', '--author', 'eve <script>alert(1)</script>']);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    silenceId = add.stdout.trim();
    expect(silenceId).toMatch(/^[0-9a-f-]{36}$/);
    sim.fleet.setStore(STORE_A, { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    await poll();
    await poll();
    await poll(30);
    await poll(30);
    await delivered();
    expect(hookKinds()).toEqual([]);
    expect(slack.requests).toHaveLength(0);
    const alerts = (await (await get('/api/v1/alerts')).json()) as { alerts: { alertKey: string; silenced: { silenceId: string; until: string } | null }[] };
    const a = alerts.alerts.find((x) => x.alertKey === KEY_A)!;
    expect(a.silenced).toMatchObject({ silenceId });
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/^keystore_watch_alerts_silenced 1$/m);
    expect(metrics).toMatch(/^keystore_watch_alerts_firing\{severity="critical"\} 1$/m);
    const list = await cli(['silence', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(silenceId);
  }, 120_000);

  it('survives a restart on the same stateDir (file backend): still listed, still muting', async () => {
    await daemon.stop(2000);
    await startDaemon();
    const body = (await (await get('/api/v1/silences')).json()) as { silences: { id: string; status: string; createdBy: string }[] };
    expect(body.silences.find((s) => s.id === silenceId)).toMatchObject({ status: 'active', createdBy: 'eve <script>alert(1)</script>' });
    await poll(30);
    await delivered();
    expect(hookKinds()).toEqual([]);
  }, 120_000);

  it('sends exactly one message when the silence ends while the store still fails', async () => {
    await poll(40); // past the 2 h silence
    await delivered();
    // One message (here the reminder that fell due on this poll), not the backlog of held reminders.
    expect(hookKinds()).toHaveLength(1);
    await poll(1);
    await delivered();
    expect(hookKinds()).toHaveLength(1);
  }, 120_000);

  it('an acknowledged alert sends no reminder; its resolved message names the acknowledger (escaped in Slack)', async () => {
    const ack = await cli(['ack', KEY_A, '--comment', 'replacing <the> HSM & co', '--author', 'bob <@U123>']);
    expect(ack.stderr).toBe('');
    expect(ack.code).toBe(0);
    await poll(31);
    await poll(31);
    await delivered();
    expect(hookKinds()).toHaveLength(1);
    sim.fleet.setStore(STORE_A, { state: 'CONNECTED', errorCode: null });
    await poll();
    await poll();
    await delivered();
    expect(hookKinds()).toHaveLength(2);
    expect(hookKinds()[1]).toBe('resolved');
    const resolved = hook.requests.at(-1)!.json as { notification: { subject: { details: Record<string, string> } } };
    expect(resolved.notification.subject.details['Acknowledged by']).toMatch(/^bob <@U123> at .*: replacing <the> HSM & co$/);
    const text = JSON.stringify(slack.requests.at(-1)!.json);
    expect(text).toContain('bob &lt;@U123&gt;');
    expect(text).not.toContain('<@U123>');
  }, 120_000);

  it('records every action as an audit event with who and when', async () => {
    const ev = (await (await get('/api/v1/events?limit=500')).json()) as { events: { type: string; action?: string; by?: string; at: string }[] };
    const audit = ev.events.filter((e) => e.type === 'audit').map((e) => [e.action, e.by]);
    expect(audit).toEqual([['alert_acknowledged', 'bob <@U123>'], ['silence_created', 'eve <script>alert(1)</script>']]);
    const add = await cli(['silence', 'add', '--match', 'region="eu-west-1"', '--duration', '1d', '--comment', 'x']);
    expect(add.code).toBe(0);
    const exp = await cli(['silence', 'expire', add.stdout.trim(), '--author', 'carol']);
    expect(exp.code).toBe(0);
    const ev2 = (await (await get('/api/v1/events?limit=1')).json()) as { events: { action?: string; by?: string }[] };
    expect(ev2.events[0]).toMatchObject({ action: 'silence_expired', by: 'carol' });
  }, 120_000);

  it('writes: 401 with a wrong token; the CLI exits 1 and names the fix; bad usage exits 2', async () => {
    const r = await fetch(`${daemon.url}/api/v1/silences`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789ab' }, body: '{}' });
    expect(r.status).toBe(401);
    const wrong = await runCli(['silence', 'list'], { env: { KEYSTORE_WATCH_TOKEN: 'nope', KEYSTORE_WATCH_URL: daemon.url! } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/HTTP 401.*KEYSTORE_WATCH_TOKEN/);
    expect((await cli(['silence', 'add', '--comment', 'x'])).code).toBe(2);
    expect((await cli(['silence', 'add', '--match', 'a="1"', '--comment', 'x', '--duration', 'soon'])).code).toBe(2);
    expect((await cli(['ack'])).code).toBe(2);
    const bad = await cli(['silence', 'add', '--match', 'account_id=~".*"', '--comment', 'everything']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 400.*match every alert/);
  }, 120_000);

  it('writes answer 403 with how to enable them when no http.authToken is set', async () => {
    const server = await startHttpServer({
      listen: '127.0.0.1:0', authToken: null, routes: onCallRoutes({ actions: () => null }),
      sources: { metrics: async () => { throw new Error('unused'); }, ready: () => ({ ready: true, reasons: [] }), stores: () => [], alerts: () => [], events: () => [], targets: () => [] },
    });
    try {
      const r = await fetch(`${server.url}/api/v1/silences`, { method: 'POST', body: '{}' });
      expect(r.status).toBe(403);
      expect(await r.text()).toMatch(/set http\.authToken/);
      expect((await fetch(`${server.url}/api/v1/alerts/x/ack`, { method: 'POST', body: '{}' })).status).toBe(403);
    } finally {
      await server.close();
    }
  });
});
