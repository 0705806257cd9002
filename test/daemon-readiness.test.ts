// keystore_watch_last_poll_timestamp_seconds (what KeystoreWatchNotPolling reads) advances only for
// polls whose alerts were handled, and /readyz says why it is not ready: the real daemon against the
// simulator and a real webhook receiver, with a state store that refuses the alert-state document
// with a non-I/O error (a pipeline that cannot handle alerts, as opposed to a full disk, which the
// daemon rides out from memory: test/reliability/state-dir.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import type { RunningSimulator } from '../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from './helpers/sim.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { metricValue } from './reliability/support.js';
import { BreakableBackend, fileBackend } from './helpers/state-backends.js';

let sim: RunningSimulator;
let rx: Receiver;
let daemon: Daemon;
let store: BreakableBackend;
let clock = Date.UTC(2026, 5, 1, 12);

beforeAll(async () => {
  sim = await simulator('reliability-fleet.yaml');
  rx = await startReceiver();
  const stateDir = tempDir('kw-readiness-');
  store = new BreakableBackend(await fileBackend(stateDir));
  const config = simConfig(sim, { stateDir, alerting: { confirmations: 2, channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] } });
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, backend: store, now: () => clock });
  await daemon.start();
});
afterAll(async () => {
  await daemon?.stop(1000);
  await rx?.close();
  await sim?.close();
});

const metrics = async () => (await fetch(`${daemon.url}/metrics`)).text();
const poll = async () => { clock += 60_000; await daemon.pollNow(); };

describe('last successful poll and readiness', () => {
  it('waits for the first poll, then is ready', async () => {
    const r = await fetch(`${daemon.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('waiting for the first poll');
    await poll();
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  });

  it('does not advance keystore_watch_last_poll_timestamp_seconds while alerts cannot be handled', async () => {
    const before = await metrics();
    const last = metricValue(before, 'keystore_watch_last_poll_timestamp_seconds')!;
    const polls = metricValue(before, 'keystore_watch_polls_total')!;
    expect(last).toBe(clock / 1000);

    store.broken = true;
    sim.fleet.setStore('cks-r1b0000000000001', { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    for (let i = 0; i < 3; i++) await poll();
    const during = await metrics();
    expect(metricValue(during, 'keystore_watch_polls_total')).toBe(polls + 3); // AWS was polled...
    expect(metricValue(during, 'keystore_watch_last_poll_timestamp_seconds')).toBe(last); // ...but nothing was handled
    const r = await fetch(`${daemon.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('the last poll failed: alerts: alert state cannot be recorded (injected)');

    store.broken = false;
    await poll();
    expect(metricValue(await metrics(), 'keystore_watch_last_poll_timestamp_seconds')).toBe(clock / 1000);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
    await poll(); // the second confirming poll
    await rx.until(() => rx.requests.some((q) => q.headers['x-keystore-watch-event'] === 'firing'), 20_000, 'the firing once the pipeline works again');
  });
});

describe('a disk that is full from the very first poll', () => {
  it('is not "waiting for the first poll" forever: /readyz names the write failure, the self-alert goes out, and both clear once writes succeed', async () => {
    const rx2 = await startReceiver();
    const stateDir = tempDir('kw-readiness-full-');
    const full = new BreakableBackend(await fileBackend(stateDir));
    const config = simConfig(sim, { stateDir, alerting: { confirmations: 2, channels: [{ type: 'webhook', url: `${rx2.url}/hook`, minSeverity: 'critical' }] } });
    const d = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, backend: full, now: () => clock, stateRetryMs: 50 });
    try {
      await d.start();
      full.full = true;
      clock += 60_000;
      await d.pollNow();
      const r = await fetch(`${d.url}/readyz`);
      expect(r.status).toBe(503);
      const body = await r.text();
      expect(body).toContain('keystore-watch cannot persist state: cannot write state file');
      expect(body).not.toContain('waiting for the first poll');
      const m = await (await fetch(`${d.url}/metrics`)).text();
      expect(metricValue(m, 'keystore_watch_last_poll_timestamp_seconds')).toBe(clock / 1000);
      expect(metricValue(m, 'keystore_watch_state_errors_total{kind="write"}')).toBeGreaterThan(0);
      await rx2.until(() => rx2.requests.some((q) => q.headers['x-keystore-watch-event'] === 'firing'), 20_000, 'the self-alert (critical: reaches a critical-only channel)');
      expect(((rx2.requests[0]!.json as { notification: { alertKey: string } }).notification.alertKey)).toBe('SELF:state-persist');

      full.full = false;
      await rx2.until(() => rx2.requests.some((q) => q.headers['x-keystore-watch-event'] === 'resolved'), 20_000, 'the self-alert resolved by the retry timer');
      expect((await fetch(`${d.url}/readyz`)).status).toBe(200);
      expect(d.stateHealth().ok).toBe(true);
    } finally {
      await d.stop(1000);
      await rx2.close();
    }
  });
});
