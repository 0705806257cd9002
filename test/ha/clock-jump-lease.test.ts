// Wall-clock steps under the leader lease (issue 15 attack): two real `keystore-watch run` replicas on a
// real PostgreSQL, one of them under libfaketime (Debian `faketime`) whose offset the test rewrites while
// it runs (FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE=1; FAKETIME_DONT_FAKE_MONOTONIC=1 leaves the
// monotonic clock alone, as a real step does). The lease's expiry is computed by the database's now()
// (src/ha/lease.ts) and the replica's own deadline on its monotonic clock, so a step of the replica's
// wall clock must change nothing:
//  - the stepped replica LEADS through +1 h and -1 h: it keeps the lease (same epoch) and the other
//    never leads (had the lease used the replica's clock, -1 h would write an expiry in the past: a
//    second leader at the other's next attempt);
//  - then it is SIGKILLed with its clock still +1 h: the other takes over within the lease duration plus
//    one attempt (had the expiry come from the replica's clock it would be an hour ahead: no takeover);
//  - the stepped replica FOLLOWS through +1 h and -1 h: it never takes the lease from the leader.
// Sampled every 200 ms from both replicas' /metrics: keystore_watch_leader and keystore_watch_lease_epoch.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { mustRun } from '../helpers/tools.js';
import { createReplica, freePort, metricValue, metricsText, readyz, sleep, until, waitForLeader, type Replica } from '../helpers/ha-cluster.js';
import { reportFigure } from '../reliability/support.js';

function findLibFaketime(): string | null {
  const dirs = ['/usr/lib/faketime', '/usr/local/lib/faketime', '/usr/lib64/faketime'];
  try {
    for (const d of readdirSync('/usr/lib')) dirs.push(path.join('/usr/lib', d, 'faketime'));
  } catch { /* no /usr/lib */ }
  for (const d of dirs) if (existsSync(path.join(d, 'libfaketimeMT.so.1'))) return path.join(d, 'libfaketimeMT.so.1');
  return null;
}
const LIB = findLibFaketime();
const LEASE = { leaseDuration: '6s', renewInterval: '1s', refreshInterval: '1s' };
const HOLD_MS = 9_000; // each step is held longer than the lease duration
const START_MS = 120_000;

let pgc: PgCluster;
let sim: RunningSimulator;
let rx: Receiver;
const replicas: Replica[] = [];

describe.skipIf(!LIB && !mustRun('faketime'))('leader lease under wall-clock steps (libfaketime)', () => {
  beforeAll(async () => {
    [pgc, sim, rx] = await Promise.all([startPostgres(), simulator('reliability-fleet.yaml'), startReceiver()]);
  }, 240_000);
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') for (const r of replicas) console.log(`===== ${r.name} logs (tail) =====\n${r.logs().split('\n').slice(-60).join('\n')}`);
    await Promise.all(replicas.splice(0).map(async (r) => { await r.kill(); await r.proxy.close(); }));
  });
  afterAll(async () => {
    await rx?.close();
    await sim?.close();
    await pgc?.destroy();
  });

  it('a replica whose clock jumps neither makes two leaders nor loses (or keeps past its death) the lease', async () => {
    expect(LIB, 'libfaketimeMT.so.1 not found (Debian package faketime)').not.toBeNull();
    const db = await pgc.createDatabase();
    const offsetFile = path.join(tempDir('kw-lease-faketime-'), 'faketime.rc');
    writeFileSync(offsetFile, '+0\n');
    const faked = { LD_PRELOAD: LIB!, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    const ports = [await freePort()];
    while (ports.length < 2) { const p = await freePort(); if (!ports.includes(p)) ports.push(p); }
    const config = (pgProxyPort: number, httpPort: number) => {
      const u = new URL(db);
      u.port = String(pgProxyPort);
      return {
        schedule: '*/5 * * * * *', listen: `127.0.0.1:${httpPort}`, stateDir: tempDir('kw-lease-state-'), logLevel: 'info',
        state: { backend: 'postgres', url: u.toString(), schema: 'keystore_watch', ...LEASE },
        aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
        accounts: [{ id: '111111111111', name: 'management' }], regions: ['us-east-1'],
        alerting: { channels: [{ type: 'webhook', name: 'hook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
      };
    };
    const stepped = await createReplica('stepped', pgc.port, config, faked, ports[0]);
    const other = await createReplica('other', pgc.port, config, {}, ports[1]);
    replicas.push(stepped, other);

    // Both replicas' leader gauge and epoch, every 200 ms, for the whole test.
    const samples: { t: number; stepped: [number, number] | null; other: [number, number] | null }[] = [];
    let sampling = true;
    const read = async (r: Replica): Promise<[number, number] | null> => {
      if (!r.running()) return null;
      const m = await metricsText(r, 2000);
      if (m === null) return null;
      return [metricValue(m, 'keystore_watch_leader') ?? 0, metricValue(m, 'keystore_watch_lease_epoch') ?? 0];
    };
    const sampler = (async () => {
      while (sampling) {
        const [a, b] = await Promise.all([read(stepped), read(other)]);
        samples.push({ t: Date.now(), stepped: a, other: b });
        await sleep(200);
      }
    })();
    const leadersAt = (s: (typeof samples)[number]) => (s.stepped?.[0] === 1 ? 1 : 0) + (s.other?.[0] === 1 ? 1 : 0);
    const step = async (offset: string) => {
      const from = samples.length;
      writeFileSync(offsetFile, `${offset}\n`);
      await sleep(HOLD_MS);
      return samples.slice(from);
    };

    try {
      // Phase 1: the stepped replica leads.
      stepped.start();
      await until('the stepped replica to lead', START_MS, async () => (await read(stepped))?.[0] === 1, 200);
      other.start();
      await until('the other replica to follow', START_MS, async () => (await readyz(other)) !== null && (await read(other))?.[0] === 0, 200);
      const epoch = (await read(stepped))![1];
      const lead = [...(await step('+3600')), ...(await step('-3600')), ...(await step('+3600'))];
      expect(lead.length).toBeGreaterThan(20);
      expect(Math.max(...lead.map(leadersAt)), 'two leaders at once').toBeLessThanOrEqual(1);
      expect(lead.filter((s) => s.stepped !== null).every((s) => s.stepped![0] === 1 && s.stepped![1] === epoch), 'the stepped leader kept its lease and epoch').toBe(true);
      expect(lead.every((s) => s.other === null || s.other[0] === 0), 'the other replica never led').toBe(true);

      // Killed with its clock an hour ahead: the lease it last renewed expires by the DATABASE's clock.
      const t0 = Date.now();
      await stepped.kill();
      await until('the other replica to take over', 60_000, async () => (await read(other))?.[0] === 1, 100);
      const takeoverMs = Date.now() - t0;
      expect(takeoverMs, 'takeover after the stepped leader died (lease 6 s + one 1 s attempt, on a loaded machine)').toBeLessThan(20_000);

      // Phase 2: the stepped replica follows.
      writeFileSync(offsetFile, '+0\n');
      const otherEpoch = (await read(other))![1];
      const lines = stepped.logs().length;
      stepped.start();
      await until('the stepped replica to run for the lease', START_MS, () => stepped.logs().slice(lines).includes('trying for the leader lease'), 100);
      const follow = [...(await step('-3600')), ...(await step('+3600')), ...(await step('+0'))];
      expect(Math.max(...follow.map(leadersAt)), 'two leaders at once').toBeLessThanOrEqual(1);
      expect(follow.every((s) => s.stepped === null || s.stepped[0] === 0), 'the stepped follower never took the lease').toBe(true);
      expect(follow.filter((s) => s.other !== null).every((s) => s.other![0] === 1 && s.other![1] === otherEpoch), 'the leader kept its lease and epoch').toBe(true);
      reportFigure('ha-lease-clock-steps', { steps: ['+1h', '-1h', '+1h (leading)', '-1h', '+1h', '0 (following)'], holdMs: HOLD_MS, samples: samples.length, maxLeaders: Math.max(...samples.map(leadersAt)), takeoverAfterKillWithClockAheadMs: takeoverMs, lease: LEASE });
    } finally {
      sampling = false;
      await sampler;
    }
  }, 400_000);
});
