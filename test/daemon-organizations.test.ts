// Organizations discovery that stays broken must not go quiet (src/daemon.ts organizationsSelfAlert): the
// daemon keeps the last good account list, which hides a discovery that never worked or stopped working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, ORGANIZATIONS_ALERT, organizationsSelfAlert } from '../src/daemon.js';
import type { RunningSimulator } from '../src/simulator/server.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { BASE_CREDENTIALS, simulator, tempDir } from './helpers/sim.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { captureLogger, metricValue, waitUntil } from './reliability/support.js';
import { selfAlertValue } from './helpers/cloudhsm.js';

const MIN = 60_000;
const err = { code: 'AccessDeniedException', message: "You don't have permissions to access this resource." };

describe('organizationsSelfAlert (pure)', () => {
  const o = { refreshIntervalMs: 15 * MIN, explicitAccounts: 1 };
  it('never read: nothing after one failed read, critical from the second in a row', () => {
    expect(organizationsSelfAlert(err, { ...o, ageMs: null, failuresInRow: 1 })).toBeNull();
    const a = organizationsSelfAlert(err, { ...o, ageMs: null, failuresInRow: 2 })!;
    expect(a).toMatchObject({ id: ORGANIZATIONS_ALERT, severity: 'critical' });
    expect(a.summary).toContain('AccessDeniedException');
    expect(a.summary).toContain('only 1 explicitly listed account(s) are watched');
  });

  it('a list in use: nothing while it is younger than max(4 x refreshInterval, 1 h), a warning after', () => {
    expect(organizationsSelfAlert(err, { ...o, ageMs: 60 * MIN, failuresInRow: 9 })).toBeNull();
    expect(organizationsSelfAlert(err, { ...o, ageMs: 61 * MIN, failuresInRow: 9 })).toMatchObject({ severity: 'warning', details: { 'List age (min)': '61' } });
    // A long refresh interval stretches the allowance: 4 x 30 min.
    expect(organizationsSelfAlert(err, { ...o, refreshIntervalMs: 30 * MIN, ageMs: 119 * MIN, failuresInRow: 9 })).toBeNull();
    expect(organizationsSelfAlert(err, { ...o, refreshIntervalMs: 30 * MIN, ageMs: 121 * MIN, failuresInRow: 9 })?.severity).toBe('warning');
  });
});

describe('daemon: Organizations discovery failing', () => {
  let sim: RunningSimulator;
  let rx: Receiver;
  beforeAll(async () => {
    sim = await simulator('reliability-fleet.yaml');
    rx = await startReceiver();
  });
  afterAll(async () => { await rx?.close(); await sim?.close(); });

  /** Self-alert notifications the webhook received for this alert: "firing"/"resolved" with the severity. */
  const received = () => rx.requests
    .map((r) => (r.json as { notification?: { kind: string; severity?: string; labels?: Record<string, string> } }).notification)
    .filter((n) => n?.labels?.self_alert === ORGANIZATIONS_ALERT || JSON.stringify(n ?? {}).includes(ORGANIZATIONS_ALERT))
    .map((n) => n!.kind);

  /** poll(advanceMs, wallJumpMs): both clocks advance by advanceMs; the wall clock also jumps by wallJumpMs. */
  async function run(steps: (h: { poll: (advanceMs: number, wallJumpMs?: number) => Promise<string>; daemon: Daemon; reconfigure: (organizations: boolean) => Promise<void> }) => Promise<void>) {
    let clock = Date.UTC(2026, 2, 1, 9);
    let mono = 1_000_000;
    const dir = tempDir('kw-org-alert-');
    const file = join(dir, 'config.yaml');
    const write = (organizations: boolean) => writeFileSync(file, stringify({
      schedule: '0 0 1 1 *', listen: '127.0.0.1:0', stateDir: dir,
      aws: { endpoint: sim.url, maxAttempts: 1, requestTimeout: '2s', targetTimeout: '5s', concurrency: 8 },
      accounts: [{ id: '111111111111' }], regions: ['us-east-1', 'eu-west-1'],
      organizations: { enabled: organizations, roleName: 'KeystoreWatch', refreshInterval: '1m' },
      alerting: { channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
    }));
    write(true);
    const daemon = new Daemon({
      config: loadConfig(file, {}), logger: captureLogger('info').logger, credentials: BASE_CREDENTIALS, schedule: false, now: () => clock, monotonic: () => mono,
      configSource: { path: file, load: () => loadConfig(file, {}) },
    });
    try {
      await daemon.start();
      const poll = async (advanceMs: number, wallJumpMs = 0) => {
        clock += advanceMs + wallJumpMs;
        mono += advanceMs;
        expect(await daemon.pollNow()).toBe(true);
        return (await fetch(`${daemon.url}/metrics`)).text();
      };
      const reconfigure = async (organizations: boolean) => {
        write(organizations);
        expect(await daemon.reloader!.reload('test')).toMatchObject({ ok: true });
      };
      await steps({ poll, daemon, reconfigure });
    } finally {
      await daemon.stop();
    }
  }

  const firing = async (daemon: Daemon, value: number, severity: 'critical' | 'warning') => waitUntil(
    async () => (metricValue(await (await fetch(`${daemon.url}/metrics`)).text(), `keystore_watch_self_alert{id="${ORGANIZATIONS_ALERT}",severity="${severity}"}`) ?? 0) === value,
    value ? 'the self-alert firing' : 'the self-alert resolved',
  );

  it('never read since start-up: a critical self-alert from the second failed read, resolved by the first good one', async () => {
    rx.requests.length = 0;
    sim.fleet.setFaults({ errors: [{ service: 'organizations', error: 'AccessDeniedException', status: 400 }] });
    try {
      await run(async ({ poll, daemon }) => {
        let text = await poll(0);
        // One failed read: the explicit account is polled, no alert yet (a one-off failure is absorbed).
        expect(daemon.latest!.targets.map((t) => t.accountId)).toEqual(['111111111111', '111111111111']);
        expect(selfAlertValue(text, ORGANIZATIONS_ALERT) ?? 0).toBe(0);
        // The retry after the backoff (30 s) fails too.
        text = await poll(MIN);
        await waitUntil(async () => metricValue(await (await fetch(`${daemon.url}/metrics`)).text(), `keystore_watch_self_alert{id="${ORGANIZATIONS_ALERT}",severity="critical"}`) === 1, 'the self-alert firing');
        await waitUntil(() => received().includes('firing'), 'the firing notification delivered');
        // Organizations answers again: the next read lists the accounts and resolves it.
        sim.fleet.resetFaults();
        sim.fleet.setFaults({ rateLimitPerSecond: 0 });
        await poll(2 * MIN);
        await waitUntil(async () => metricValue(await (await fetch(`${daemon.url}/metrics`)).text(), `keystore_watch_self_alert{id="${ORGANIZATIONS_ALERT}",severity="critical"}`) === 0, 'the self-alert resolved');
        await waitUntil(() => received().includes('resolved'), 'the resolved notification delivered');
        await poll(MIN);
        expect(new Set(daemon.latest!.targets.map((t) => t.accountId)).size).toBeGreaterThan(1);
      });
      expect(received()).toEqual(['firing', 'resolved']);
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0 });
    }
  });

  /** A first good read (the organization's accounts are polled), then every Organizations read fails. */
  async function readOnceThenFailing(poll: (advanceMs: number) => Promise<string>, daemon: Daemon) {
    await poll(0);
    expect(new Set(daemon.latest!.targets.map((t) => t.accountId)).size).toBeGreaterThan(1);
    sim.fleet.setFaults({ errors: [{ service: 'organizations', error: 'ServiceException', status: 500 }] });
  }

  it('a list read once, then failing: quiet for an hour, a warning once the list is older', async () => {
    rx.requests.length = 0;
    try {
      await run(async ({ poll, daemon }) => {
        await readOnceThenFailing(poll, daemon);
        // 50 minutes of failed reads: the last good list is kept, no alert.
        for (let i = 0; i < 5; i++) await poll(10 * MIN);
        let text = await poll(MIN);
        expect(selfAlertValue(text, ORGANIZATIONS_ALERT) ?? 0).toBe(0);
        expect(received()).toEqual([]);
        // Past the hour: a warning.
        for (let i = 0; i < 2; i++) text = await poll(10 * MIN);
        await waitUntil(async () => metricValue(await (await fetch(`${daemon.url}/metrics`)).text(), `keystore_watch_self_alert{id="${ORGANIZATIONS_ALERT}",severity="warning"}`) === 1, 'the self-alert firing');
        await waitUntil(() => received().includes('firing'), 'the firing notification delivered');
        const n = rx.requests.map((r) => JSON.stringify(r.json)).find((j) => j.includes(ORGANIZATIONS_ALERT))!;
        expect(n).toMatch(/minutes old \(ServiceException\)/);
      });
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0 });
    }
  });

  it('the wall clock jumps 3 hours forward while reads fail: the list is not older for it (no warning), nor its age gauge', async () => {
    rx.requests.length = 0;
    try {
      await run(async ({ poll, daemon }) => {
        await readOnceThenFailing(poll, daemon);
        // 10 minutes later by the monotonic clock, 3 h 10 min by the wall clock (NTP step, VM resume).
        let text = await poll(10 * MIN, 3 * 60 * MIN);
        for (let i = 0; i < 2; i++) text = await poll(10 * MIN);
        expect(selfAlertValue(text, ORGANIZATIONS_ALERT) ?? 0).toBe(0);
        expect(metricValue(text, 'keystore_watch_organizations_age_seconds')).toBe(30 * 60);
        // The list does get old by the monotonic clock: the warning still comes past the hour.
        for (let i = 0; i < 4; i++) text = await poll(10 * MIN);
        await firing(daemon, 1, 'warning');
        await waitUntil(() => received().includes('firing'), 'the firing notification delivered');
      });
      expect(received()).toEqual(['firing']);
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0 });
    }
  });

  it('firing, then a reload turns discovery off: resolved (nothing is left to wait for)', async () => {
    rx.requests.length = 0;
    sim.fleet.setFaults({ errors: [{ service: 'organizations', error: 'AccessDeniedException', status: 400 }] });
    try {
      await run(async ({ poll, daemon, reconfigure }) => {
        await poll(0);
        await poll(MIN);
        await firing(daemon, 1, 'critical');
        await reconfigure(false);
        await firing(daemon, 0, 'critical');
        await waitUntil(() => received().includes('resolved'), 'the resolved notification delivered');
      });
      expect(received()).toEqual(['firing', 'resolved']);
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0 });
    }
  });
});
