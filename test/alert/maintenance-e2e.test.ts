// A maintenance window (alerting.maintenanceWindows, cron schedule + duration) mutes and un-mutes on
// its schedule: the daemon against the simulator and a real webhook receiver, on a virtual clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const STORE_A = 'cks-a000000000000001';
const MIN = 60_000;
let sim: RunningSimulator;
let daemon: Daemon;
let hook: Receiver;
// 2026-12-06 is a Sunday; the window opens Sundays 02:00 UTC for 1 hour.
let clock = Date.UTC(2026, 11, 6, 1, 50);

beforeAll(async () => {
  sim = await simulator('alerting-fleet.yaml');
  hook = await startReceiver();
  const config = simConfig(sim, {
    accounts: [{ id: '111111111111', name: 'management' }],
    regions: ['us-east-1'],
    alerting: {
      confirmations: 2, repeatInterval: '4h',
      maintenanceWindows: [{ name: 'HSM patching', matchers: [`custom_key_store_id="${STORE_A}"`], schedule: '0 2 * * SUN', duration: '1h' }],
      channels: [{ type: 'webhook', url: `${hook.url}/kms`, minSeverity: 'warning' }],
    },
  });
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
  await daemon.start();
}, 60_000);
afterAll(async () => {
  await daemon?.stop(2000);
  await Promise.all([sim?.close(), hook?.close()]);
});

async function pollAt(minutesFrom0150: number): Promise<void> {
  clock = Date.UTC(2026, 11, 6, 1, 50) + minutesFrom0150 * MIN;
  expect(await daemon.pollNow()).toBe(true);
}
async function delivered(): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  while (daemon.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error('outbox not drained');
    await new Promise((r) => setTimeout(r, 50));
  }
  return hook.requests.map((r) => String(r.headers['x-keystore-watch-event']));
}

describe('maintenance window on a virtual clock', () => {
  it('mutes during the window, sends one message when it closes, and pages normally outside it', async () => {
    await pollAt(0);
    await pollAt(5); // 01:55
    // 02:10: inside the window; the store fails and fires in state, nothing is sent.
    sim.fleet.setStore(STORE_A, { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    await pollAt(20);
    await pollAt(25);
    await pollAt(60); // 02:50
    expect(await delivered()).toEqual([]);
    const alerts = (await daemon.alerts.firing()).filter((a) => a.subject.storeId === STORE_A);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.silenced).toMatchObject({ by: 'maintenance', window: 'HSM patching' });
    // 03:00: the window has closed; the store still fails: one message.
    await pollAt(70);
    expect(await delivered()).toEqual(['firing']);
    await pollAt(75);
    expect(await delivered()).toEqual(['firing']);
    // Outside any window the resolution is sent as usual.
    sim.fleet.setStore(STORE_A, { state: 'CONNECTED', errorCode: null });
    await pollAt(80);
    await pollAt(85);
    expect(await delivered()).toEqual(['firing', 'resolved']);
  }, 120_000);
});
