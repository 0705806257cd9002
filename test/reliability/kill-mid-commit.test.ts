// kill -9 of the real daemon (`keystore-watch run`, file backend) at random points while it polls every
// second and a store keeps failing and recovering, so most polls commit a snapshot, an alert-state
// change, history entries and outbox entries. After every kill the state directory is loaded as the
// next daemon loads it (FileStateBackend: checkpoint documents + journal; a torn last journal line is
// a commit that never resolved) and must be ONE commit's state, never a mix: the snapshot, the alert
// state and the commit's pollId name the same poll, no history entry is from a later poll, and every
// outbox entry belongs to a notification of a poll at or before it. Then the daemon restarts on it.
// (Exactly-once delivery across kills by idempotency key: crash-durability.test.ts.)
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import type { Snapshot } from '../../src/model.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { seededRng } from '../../src/simulator/random.js';
import { reportFigure, sleep, waitUntil } from './support.js';

const KILLS = Number(process.env.KSW_KILLS ?? 6);
const SEED = Number(process.env.KSW_SEED ?? Math.floor(Math.random() * 2 ** 31));
const STORE = 'cks-r1b0000000000001';

let sim: RunningSimulator;
let rx: Receiver;
let child: ChildProcess | null = null;
beforeAll(async () => { [sim, rx] = await Promise.all([simulator('reliability-fleet.yaml'), startReceiver()]); });
afterAll(async () => {
  child?.kill('SIGKILL');
  await rx?.close();
  await sim?.close();
});

describe('kill -9 mid-commit (file backend, real daemon)', () => {
  it(`${KILLS} kills at random points: each leaves one commit's state, and the daemon restarts on it`, async () => {
    const random = seededRng(SEED);
    console.log(`[kill-mid-commit] KSW_SEED=${SEED} KSW_KILLS=${KILLS}`);
    const stateDir = tempDir('kw-kill-commit-');
    const cfg = path.join(tempDir('kw-kill-commit-cfg-'), 'keystore-watch.yaml');
    writeFileSync(cfg, stringify({
      schedule: '*/1 * * * * *', listen: '127.0.0.1:0', stateDir, logLevel: 'info',
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
      accounts: [{ id: '111111111111', name: 'management' }], regions: ['us-east-1', 'eu-west-1'],
      alerting: { confirmations: 1, groupThreshold: 100, channels: [{ type: 'webhook', name: 'hook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
    }));
    let logs = '';
    const start = () => {
      logs = '';
      child = spawn(process.execPath, [BIN, 'run', '--config', cfg], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'), AWS_SECRET_ACCESS_KEY: 'x', AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: '' },
      });
      child.stdout!.on('data', (d: Buffer) => { logs += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { logs += d.toString(); });
    };
    const polls = () => (logs.match(/"msg":"poll finished"/g) ?? []).length;
    const seen: { pollId: number | null; entries: number; history: number }[] = [];
    let flip = false;
    for (let k = 0; k < KILLS; k++) {
      start();
      await waitUntil(() => polls() >= 2, `polls after start #${k + 1}\n${logs.slice(-2000)}`, 120_000, 50);
      // The store changes every cycle: the next commits carry an alert decision and outbox entries.
      flip = !flip;
      sim.fleet.setStore(STORE, flip ? { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' } : { state: 'CONNECTED', errorCode: null });
      const at = polls();
      await waitUntil(() => polls() > at, 'the poll after the change', 60_000, 10);
      await sleep(Math.floor(random() * 1200));
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGKILL');
      await exited;
      child = null;

      const files = await FileStateBackend.open({ dir: stateDir, readOnly: true });
      const s = await files.load();
      await files.close();
      const snap = s.snapshot as Snapshot | null;
      const alerts = s.alerts as { alerts: { lastPollId: number | null } } | null;
      expect(snap, 'a snapshot was committed').not.toBeNull();
      expect(snap!.pollId, 'snapshot and commit name the same poll').toBe(s.pollId);
      expect(alerts?.alerts.lastPollId, 'alert state and commit name the same poll').toBe(s.pollId);
      for (const h of s.history.entries) expect((h.item as { pollId: number }).pollId).toBeLessThanOrEqual(s.pollId!);
      for (const e of s.outbox.entries) {
        const p = (e.payload as { pollId?: number; createdAt?: number } | null);
        if (typeof p?.pollId === 'number') expect(p.pollId).toBeLessThanOrEqual(s.pollId!);
      }
      seen.push({ pollId: s.pollId, entries: s.outbox.entries.length, history: s.history.entries.length });
      if (k > 0) expect(s.pollId!, 'no committed poll lost across the kill').toBeGreaterThanOrEqual(seen[k - 1]!.pollId!);
    }
    // The last state loads in the daemon too.
    start();
    await waitUntil(() => /restored the last snapshot/.test(logs) && polls() >= 1, `the restart on the last state\n${logs.slice(-2000)}`, 120_000, 50);
    child!.kill('SIGKILL');
    reportFigure('kill-mid-commit', { seed: SEED, kills: KILLS, states: seen });
  }, 900_000);
});
