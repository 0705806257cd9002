// Resource hygiene: hundreds of polls of the real daemon (in-process, pollNow) with churn — stores
// appearing, disappearing and flapping, incidents firing into a channel that refuses connections — while
// RSS, open file descriptors, sockets and event-loop lag are sampled. Growth must stay bounded (generous
// bounds; figures reported, no wall-clock assertions), and the history and outbox caps must hold,
// dropping the oldest first and counting the drops.
//   CI: KW_SOAK_POLLS (default 300). Long: KW_LONG=1 (3000 polls).
import { readdirSync, readlinkSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { refusedUrl } from '../helpers/receiver.js';
import { LONG, metricValue, reportFigure } from './support.js';

const POLLS = Number(process.env.KW_SOAK_POLLS ?? (LONG ? 3000 : 300));
const HISTORY_LIMIT = 50;
const OUTBOX_LIMIT = 20;

let sim: RunningSimulator | undefined;
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop(200);
  await sim?.close();
});

// A real gc() before each sample, so heap figures are live data rather than garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function fds(): { fds: number; sockets: number } {
  const list = readdirSync('/proc/self/fd');
  let sockets = 0;
  for (const f of list) {
    try { if (readlinkSync(`/proc/self/fd/${f}`).startsWith('socket:')) sockets++; } catch { /* closed meanwhile */ }
  }
  return { fds: list.length, sockets };
}

describe('soak', () => {
  it(`stays flat over ${POLLS} polls with churn, and the history and outbox caps hold`, async () => {
    sim = await simulator('reliability-fleet.yaml');
    const stateDir = tempDir('kw-soak-');
    const config = simConfig(sim, {
      stateDir,
      aws: { maxAttempts: 1, requestTimeout: '2s', targetTimeout: '4s' },
      alerting: { confirmations: 2, groupThreshold: 1000, historyLimit: HISTORY_LIMIT, outboxLimit: OUTBOX_LIMIT, channels: [{ type: 'webhook', url: `${await refusedUrl()}/hook`, minSeverity: 'info' }] },
    });
    let clock = Date.UTC(2026, 5, 1);
    daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock, outbox: { backoff: { baseMs: 50, maxMs: 500, factor: 2 }, sendTimeoutMs: 500 } });
    await daemon.start();
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();

    const extra: string[] = [];
    let added = 0;
    let maxPending = 0;
    const samples: { poll: number; rssMb: number; heapMb: number; fds: number; sockets: number }[] = [];
    const sample = (poll: number) => {
      gc();
      const m = process.memoryUsage();
      samples.push({ poll, rssMb: Math.round(m.rss / 1048576), heapMb: Math.round(m.heapUsed / 1048576), ...fds() });
    };
    const warmup = Math.min(50, Math.floor(POLLS / 5));
    for (let i = 1; i <= POLLS; i++) {
      // Churn: a store appears every 3 polls, the oldest extra one disappears every 4 (at most 12 around),
      // two stores flap every poll (each fires its state alert and FLAPPING once, then stays firing), one goes
      // through a full incident every 8 polls.
      if (i % 3 === 0) {
        const region = i % 2 ? 'us-east-1' : 'eu-west-1';
        const s = sim.fleet.addStore('333333333333', region, { type: 'EXTERNAL_KEY_STORE', name: `churn-${++added}`, state: 'CONNECTED' });
        extra.push(s.id);
      }
      if ((i % 4 === 0 && extra.length > 0) || extra.length > 12) sim.fleet.removeStore(extra.shift()!);
      sim.fleet.setStore('cks-r2b0000000000002', i % 2 ? { state: 'DISCONNECTED' } : { state: 'CONNECTED' });
      sim.fleet.setStore('cks-r2b0000000000003', i % 2 ? { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' } : { state: 'CONNECTED', errorCode: null });
      sim.fleet.setStore('cks-r1b0000000000001', i % 8 < 3 ? { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' } : { state: 'CONNECTED', errorCode: null });
      clock += 60_000;
      expect(await daemon.pollNow()).toBe(true);
      maxPending = Math.max(maxPending, daemon.alerts.outbox.pending());
      if (i === warmup) { sample(i); lag.reset(); }
      if (i % Math.max(1, Math.floor(POLLS / 10)) === 0) sample(i);
    }
    lag.disable();
    const first = samples[0]!;
    const last = samples.at(-1)!;
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const historyDropped = metricValue(metrics, 'keystore_watch_history_dropped_total')!;
    const outboxDropped = metricValue(metrics, 'keystore_watch_outbox_dropped_total{reason="overflow"}') ?? 0;

    // Caps: bounded, oldest dropped first, counted.
    expect(maxPending).toBeLessThanOrEqual(OUTBOX_LIMIT);
    expect(outboxDropped).toBeGreaterThan(0);
    expect(historyDropped).toBeGreaterThan(0);
    const events = ((await (await fetch(`${daemon.url}/api/v1/events?limit=10000`)).json()) as { events: { seq: number }[] }).events;
    expect(events.length).toBeLessThanOrEqual(HISTORY_LIMIT);
    const seqs = events.map((e) => e.seq).sort((a, b) => a - b);
    // The newest are kept: contiguous up to the last one, and everything older was counted as dropped.
    expect(seqs.at(-1)! - seqs[0]! + 1).toBe(seqs.length);
    expect(seqs[0]! - 1).toBe(historyDropped);
    // The outbox as it is stored (read through the file backend, journal included, as a restart reads it),
    // once the daemon has stopped: its last outbox writes have landed (drops happen only at enqueue, in polls).
    await daemon.stop(2000);
    daemon = undefined;
    const stored = (await (await FileStateBackend.open({ dir: stateDir, readOnly: true })).load()).outbox;
    expect(stored.entries.length).toBeLessThanOrEqual(OUTBOX_LIMIT);
    expect(stored.meta?.dropped.overflow ?? 0).toBe(outboxDropped);
    const kept = stored.entries.map((e) => e.seq).sort((a, b) => a - b);
    // Kept entries are the newest (an in-flight head may survive out of order).
    expect(kept.slice(1).every((s) => s >= stored.meta!.nextSeq - 1 - OUTBOX_LIMIT * 2)).toBe(true);
    const stateBytes = readdirSync(stateDir).reduce((n, f) => n + readFileSync(path.join(stateDir, f)).length, 0);

    // Flat resources (generous bounds: measured after a forced gc; RSS still moves with the allocator).
    expect(last.fds - first.fds).toBeLessThanOrEqual(20);
    expect(last.sockets - first.sockets).toBeLessThanOrEqual(20);
    expect(last.rssMb - first.rssMb).toBeLessThanOrEqual(100);
    expect(last.heapMb - first.heapMb).toBeLessThanOrEqual(40);
    reportFigure('soak', {
      polls: POLLS, storesAdded: added, samples, rssGrowthMb: last.rssMb - first.rssMb, heapGrowthMb: last.heapMb - first.heapMb,
      fdGrowth: last.fds - first.fds, socketGrowth: last.sockets - first.sockets,
      eventLoopLagMs: { p50: Number((lag.percentile(50) / 1e6).toFixed(1)), p99: Number((lag.percentile(99) / 1e6).toFixed(1)), max: Number((lag.max / 1e6).toFixed(1)) },
      historyDropped, outboxDropped, maxOutboxPending: maxPending, stateDirBytes: stateBytes,
    });
  }, 600_000);
});
