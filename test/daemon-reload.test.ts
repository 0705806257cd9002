// Hot reload of a real `keystore-watch run` process (polling the in-process simulator every second,
// delivering to a real HTTP receiver): SIGHUP adding a channel and an account takes effect on the next
// poll with no gap in /metrics and no lost state; an invalid file keeps the running configuration and
// sets keystore_watch_config_last_reload_successful 0, logging every problem with the file and key; a
// change that needs a restart is logged and not applied; POST /-/reload needs the token (403 with none).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { baseAccessKeyId, type RunningSimulator } from '../src/simulator/server.js';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { loadConfig } from '../src/config/load.js';
import { WRITES_DISABLED_MESSAGE } from '../src/server/http.js';
import { BIN, ROOT } from './helpers/cli.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from './helpers/sim.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { until } from './helpers/ha-cluster.js';

const TOKEN = 'reload-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
let sim: RunningSimulator | undefined;
let rx: Receiver | undefined;
let child: ChildProcess | null = null;
afterAll(async () => {
  child?.kill('SIGKILL');
  await rx?.close();
  await sim?.close();
});

const metric = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

describe('hot reload of a running daemon', () => {
  it('SIGHUP applies a new channel and account on the next poll, without a gap or lost state; an invalid file changes nothing', async () => {
    sim = await simulator('reliability-fleet.yaml');
    rx = await startReceiver({ respond: () => ({ status: 200 }) });
    const stateDir = tempDir('kw-reload-state-');
    const configFile = path.join(tempDir('kw-reload-cfg-'), 'keystore-watch.yaml');
    const base = {
      schedule: '*/1 * * * * *',
      listen: '127.0.0.1:0',
      stateDir,
      logLevel: 'info',
      http: { authToken: TOKEN },
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
      accounts: [{ id: '111111111111', name: 'management' }],
      regions: ['us-east-1', 'eu-west-1'],
      alerting: { confirmations: 1, groupThreshold: 100, channels: [{ type: 'webhook', name: 'team-a', url: `${rx.url}/a`, minSeverity: 'info' }] },
    };
    writeFileSync(configFile, stringify(base));
    const env = { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'), AWS_SECRET_ACCESS_KEY: 'reload-test-secret', AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: '', AWS_SESSION_TOKEN: '' };
    let logs = '';
    let url: string | null = null;
    const p = spawn(process.execPath, [BIN, 'run', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    p.stdout!.on('data', (d: Buffer) => {
      logs += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(logs);
      if (m) url = m[1]!;
    });
    p.stderr!.on('data', (d: Buffer) => { logs += d.toString(); });
    const get = async (pathname: string) => (await fetch(`${url}${pathname}`, { headers: auth }));
    const metrics = async () => (await get('/metrics')).text();
    const stores = async () => ((await (await get('/api/v1/stores')).json()) as { stores: { accountId: string; id: string }[] }).stores;
    const deliveries = (channelPath: string, alertKeyPart: string, event: string) => rx!.requests.filter((r) => r.path === channelPath && String(r.headers['x-keystore-watch-event']) === event && JSON.stringify((r.json as { notification: unknown }).notification).includes(alertKeyPart));

    await until(`the daemon to serve\n${logs}`, 60_000, () => url !== null);
    await until('two polls', 60_000, async () => (metric(await metrics(), 'keystore_watch_polls_total') ?? 0) >= 2);
    expect(metric(await metrics(), 'keystore_watch_config_last_reload_successful')).toBe(1);
    expect((await stores()).some((s) => s.accountId === '222222222222')).toBe(false);

    // State before the reload: a firing alert on team-a.
    sim.fleet.setStore('cks-r1a0000000000001', { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    await until('r1a firing on team-a', 60_000, () => deliveries('/a', 'cks-r1a0000000000001', 'firing').length === 1);
    // Two more polls, so the firing is no longer the last poll's decision (which, as at a restart, is
    // handed to the outbox again when the pipeline reopens: a channel added right then would get it).
    const pollsAtFiring = metric(await metrics(), 'keystore_watch_polls_total')!;
    await until('two more polls', 30_000, async () => metric(await metrics(), 'keystore_watch_polls_total')! >= pollsAtFiring + 2);

    // /metrics scraped every 100 ms across the reload: every scrape answers, the counters never restart.
    let scraping = true;
    const scrapes: { status: number; polls: number | undefined }[] = [];
    const scraper = (async () => {
      while (scraping) {
        try {
          const r = await get('/metrics');
          scrapes.push({ status: r.status, polls: metric(await r.text(), 'keystore_watch_polls_total') });
        } catch {
          scrapes.push({ status: 0, polls: undefined });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const pollsBefore = metric(await metrics(), 'keystore_watch_polls_total')!;
    writeFileSync(configFile, stringify({
      ...base,
      accounts: [...base.accounts, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }],
      alerting: { ...base.alerting, channels: [...base.alerting.channels, { type: 'webhook', name: 'team-b', url: `${rx.url}/b`, minSeverity: 'info' }] },
    }));
    const hupAt = Date.now();
    p.kill('SIGHUP');
    await until('the new account polled', 30_000, async () => (await stores()).some((s) => s.accountId === '222222222222'));
    const appliedMs = Date.now() - hupAt;
    // Takes effect on the next poll(s): the first poll after the reload already walks account 222.
    expect(metric(await metrics(), 'keystore_watch_polls_total')! - pollsBefore).toBeLessThanOrEqual(4);
    expect(Date.now() - hupAt).toBeLessThan(30_000);
    sim.fleet.setStore('cks-r2a0000000000001', { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    await until('r2a firing on team-a and on the new team-b', 60_000, () => deliveries('/a', 'cks-r2a0000000000001', 'firing').length === 1 && deliveries('/b', 'cks-r2a0000000000001', 'firing').length === 1);

    // No lost state: r1a still firing (not fired again anywhere), then resolves on team-a.
    const alerts = ((await (await get('/api/v1/alerts')).json()) as { alerts: { alertKey: string }[] }).alerts;
    expect(alerts.some((a) => a.alertKey.includes('cks-r1a0000000000001'))).toBe(true);
    expect(deliveries('/a', 'cks-r1a0000000000001', 'firing')).toHaveLength(1);
    expect(deliveries('/b', 'cks-r1a0000000000001', 'firing')).toHaveLength(0);
    sim.fleet.setStore('cks-r1a0000000000001', { state: 'CONNECTED', errorCode: null });
    await until('r1a resolved on team-a', 60_000, () => deliveries('/a', 'cks-r1a0000000000001', 'resolved').length === 1);

    // Audit event and metrics.
    const events = ((await (await get('/api/v1/events?limit=500')).json()) as { events: { type: string; action?: string; by?: string; applied?: string; at: string }[] }).events;
    const reload = events.find((e) => e.type === 'audit' && e.action === 'config_reloaded');
    expect(reload).toMatchObject({ by: 'SIGHUP', applied: 'accounts, alerting.channels' });
    expect(Date.parse(reload!.at)).toBeGreaterThanOrEqual(hupAt - 1000);
    const m = await metrics();
    expect(metric(m, 'keystore_watch_config_last_reload_successful')).toBe(1);
    expect(metric(m, 'keystore_watch_config_last_reload_success_timestamp_seconds')! * 1000).toBeGreaterThanOrEqual(hupAt - 1000);

    // An invalid file: every problem logged with file and key, the running config kept, the gauge 0.
    writeFileSync(configFile, stringify({ ...base, alerting: { ...base.alerting, confirmations: 0 }, regions: ['us-east-7'] }));
    p.kill('SIGHUP');
    await until('the failed reload', 30_000, async () => metric(await metrics(), 'keystore_watch_config_last_reload_successful') === 0);
    expect(logs).toMatch(/configuration reload failed; keeping the running configuration/);
    expect(logs).toContain(`${configFile}: alerting.confirmations`);
    expect(logs).toContain(`${configFile}: regions[0]`);
    const pollsAfterBad = metric(await metrics(), 'keystore_watch_polls_total')!;
    await until('polls continue on the running config', 30_000, async () => metric(await metrics(), 'keystore_watch_polls_total')! >= pollsAfterBad + 2);
    expect((await stores()).some((s) => s.accountId === '222222222222')).toBe(true);

    // A restart-only change (listen) is logged as such and not applied; POST /-/reload with the token.
    writeFileSync(configFile, stringify({
      ...base, listen: '127.0.0.1:1',
      accounts: [...base.accounts, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }],
      alerting: { ...base.alerting, channels: [...base.alerting.channels, { type: 'webhook', name: 'team-b', url: `${rx.url}/b`, minSeverity: 'info' }] },
    }));
    expect((await fetch(`${url}/-/reload`, { method: 'POST' })).status).toBe(401);
    const res = await fetch(`${url}/-/reload`, { method: 'POST', headers: auth });
    const body = await res.json() as { status: string; restartRequired: string[]; by: string };
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ status: 'success', restartRequired: ['listen'] });
    expect(body.by).toMatch(/^api \(/);
    expect(logs).toMatch(/configuration key listen changed but needs a restart/);
    expect(metric(await metrics(), 'keystore_watch_config_last_reload_successful')).toBe(1);
    expect((await get('/healthz')).status).toBe(200);

    scraping = false;
    await scraper;
    expect(scrapes.length).toBeGreaterThan(10);
    expect(scrapes.filter((s) => s.status !== 200)).toEqual([]);
    const polls = scrapes.map((s) => s.polls!);
    for (let i = 1; i < polls.length; i++) expect(polls[i]!).toBeGreaterThanOrEqual(polls[i - 1]!);
    expect(p.exitCode).toBeNull();
    console.log(`reload: SIGHUP -> new account in /api/v1/stores after ${appliedMs} ms (polls every 1 s); ${scrapes.length} /metrics scrapes across three reloads, ${scrapes.filter((x) => x.status === 200).length} answered 200, polls_total ${polls[0]} -> ${polls[polls.length - 1]} never decreasing`);
  }, 240_000);
});

describe('POST /-/reload without http.authToken', () => {
  it('answers 403 saying how to enable writes, and reloads nothing', async () => {
    const s = sim ?? await simulator('reliability-fleet.yaml');
    const dir = tempDir('kw-reload-403-');
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, stringify({ listen: '127.0.0.1:0', stateDir: dir, aws: { endpoint: s.url }, accounts: [{ id: '111111111111' }], regions: ['us-east-1'] }));
    const daemon = new Daemon({ config: simConfig(s, { stateDir: dir }), logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, configSource: { path: file, load: () => loadConfig(file, {}) } });
    await daemon.start();
    try {
      const r = await fetch(`${daemon.url}/-/reload`, { method: 'POST' });
      expect(r.status).toBe(403);
      expect(await r.text()).toBe(WRITES_DISABLED_MESSAGE);
      const m = await daemon.metrics.render();
      expect(m).toMatch(/^keystore_watch_config_last_reload_successful 1$/m);
    } finally {
      await daemon.stop(1000);
    }
  }, 60_000);
});
