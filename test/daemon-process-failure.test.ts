// A poll whose evaluation fails (a state write that throws) is evaluated again at the next poll, so a
// change that came and went meanwhile still reaches /api/v1/events. Before: the daemon diffed only the
// last processed snapshot against the next one, and a FAILED that recovered in between was never seen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import type { RunningSimulator } from '../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from './helpers/sim.js';
import { BreakableBackend, fileBackend } from './helpers/state-backends.js';

let sim: RunningSimulator;
let daemon: Daemon;
let store: BreakableBackend;
const STORE = 'cks-aaaaaaaaaaaaaaaa1';

beforeAll(async () => {
  sim = await simulator('poller-fleet.yaml');
  const stateDir = tempDir('kw-process-failure-');
  // A programming error (not an I/O error: ResilientStateBackend rethrows it) on the next commit.
  store = new BreakableBackend(await fileBackend(stateDir));
  daemon = new Daemon({ config: simConfig(sim, { stateDir }), logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, serve: false, backend: store });
  await daemon.start();
});
afterAll(async () => {
  await daemon?.stop(1000);
  await sim?.close();
});

describe('daemon: a poll whose evaluation failed', () => {
  it('is evaluated again at the next poll: its changes reach the events even when they reverted since', async () => {
    await daemon.pollNow();
    expect(daemon.readiness().ready).toBe(true);
    sim.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    store.failNext = new TypeError('injected: cannot encode the alert state');
    await daemon.pollNow();
    expect(daemon.readiness().reasons.join(' ')).toMatch(/injected/);
    sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
    await daemon.pollNow();
    expect(daemon.readiness().ready).toBe(true);
    const changes = daemon.alerts.recentEvents(50).filter((e) => 'storeId' in e && e.storeId === STORE && e.type === 'state_changed') as unknown as { from: string; to: string }[];
    expect(changes.map((c) => `${c.from}->${c.to}`).reverse()).toEqual(['CONNECTED->FAILED', 'FAILED->CONNECTED']);
  });
});
