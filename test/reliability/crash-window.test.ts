// The crash window around the poll that fires, made deterministic with a state backend that refuses
// the poll's commit (as if the process died before it), then a restart on the same state directory:
// nothing was recorded or sent; the restarted daemon decides again and the receiver gets exactly one
// firing. (The commit is one atomic write of the snapshot, the alert state, the history and the new
// outbox entries, so there is no window "after the alert state, before the outbox" any more; a kill -9
// during the commit itself: test/reliability/kill-mid-commit.test.ts.) Exactly one firing and one
// resolved, each under one idempotency key.
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { waitUntil } from './support.js';
import { BreakableBackend, fileBackend } from '../helpers/state-backends.js';

let sim: RunningSimulator | undefined;
let rx: Receiver | undefined;
const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop(500).catch(() => {});
  await rx?.close();
  await sim?.close();
});

describe('crash around the poll that fires', () => {
  for (const [condition, crashBefore] of [['FAILED', 'commit'], ['TARGET_DOWN', 'commit']] as const) {
    it(`${condition}, crash before the ${crashBefore} write: one firing and one resolved after the restart`, async () => {
      sim = await simulator('reliability-fleet.yaml');
      rx = await startReceiver();
      const stateDir = tempDir('kw-crash-window-');
      let clock = Date.UTC(2026, 3, 1, 8);
      const config = simConfig(sim, {
        stateDir,
        aws: { maxAttempts: 1, requestTimeout: '1s', targetTimeout: '2s' },
        alerting: { confirmations: 2, targetDownAfter: 2, channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
      });
      const start = async (backend?: BreakableBackend) => {
        const d = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, serve: false, now: () => clock, ...(backend && { backend }) });
        daemons.push(d);
        await d.start();
        return d;
      };
      const poll = async (d: Daemon) => { clock += 60_000; await d.pollNow(); };
      const crashing = new BreakableBackend(await fileBackend(stateDir));
      const a = await start(crashing);
      await poll(a);
      await poll(a);
      if (condition === 'FAILED') sim.fleet.setStore('cks-r1b0000000000001', { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
      else sim.fleet.setFaults({ errors: [{ service: 'kms', account: '333333333333', region: 'eu-west-1', error: 'KMSInternalException' }] });
      await poll(a); // the condition holds once
      crashing.failNext = new Error(`simulated crash before the ${crashBefore}`);
      await poll(a); // fires; the commit does not happen
      await a.stop(500);
      expect(rx.requests).toHaveLength(0);

      const b = await start();
      await poll(b); // the same poll number again, from the old alert state
      await waitUntil(() => b.alerts.outbox.pending() === 0, 'the outbox to drain');
      if (condition === 'FAILED') sim.fleet.setStore('cks-r1b0000000000001', { state: 'CONNECTED', errorCode: null });
      else sim.fleet.resetFaults();
      for (let i = 0; i < 3; i++) await poll(b);
      await waitUntil(() => b.alerts.outbox.pending() === 0, 'the outbox to drain');
      const events = rx.requests.map((r) => `${r.headers['x-keystore-watch-event']} ${r.headers['x-keystore-watch-idempotency-key']}`);
      const keys = new Set(rx.requests.map((r) => r.headers['x-keystore-watch-idempotency-key']));
      expect(rx.requests.map((r) => r.headers['x-keystore-watch-event']), events.join('\n')).toEqual(['firing', 'resolved']);
      expect(keys.size).toBe(2);
    });
  }
});
