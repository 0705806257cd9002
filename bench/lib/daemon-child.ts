// The daemon side of the benchmark, in its own process (forked by bench/run.ts with an IPC channel) so
// its CPU time and peak RSS are its own. It runs the real code paths:
//   mode "once":   AwsClients + Poller.poll(null), exactly as `keystore-watch once` does, one fresh
//                  Poller per sweep (a fresh process per `once` run in real life);
//   mode "daemon": Daemon({ schedule: false }) with the file state store, pollNow() per sweep, /metrics served.
// Commands arrive as IPC messages; every answer carries the process's own CPU and memory figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { getHeapSpaceStatistics } from 'node:v8';
import { join } from 'node:path';
import { AwsClients } from '../../src/collect/aws-clients.js';
import { SnapshotPoller } from '../../src/pipeline/snapshot-poller.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import type { StateBackend } from '../../src/state/backend.js';
import type { Snapshot } from '../../src/model.js';
import { quantile } from './stats.js';
import { systemMemoryProbe } from '../../src/memory-headroom.js';
import { enrichmentSummary } from '../../src/snapshot/enrichment.js';

export type ChildCommand =
  | { cmd: 'init'; mode: 'once' | 'daemon'; config: Record<string, unknown>; credentials: { accessKeyId: string; secretAccessKey: string } }
  | { cmd: 'poll' }
  | { cmd: 'polls'; count: number; checkpoints: number[] }
  | { cmd: 'close' };

export interface Usage {
  cpuUserS: number; cpuSystemS: number; rssMB: number; heapUsedMB: number; maxRssMB: number;
  /** What the RSS is made of: V8 heap reserved, memory outside the heap (buffers), compiled code. */
  heapTotalMB: number; externalMB: number; codeMB: number;
}

export interface PollReport extends Usage {
  wallS: number;
  /** The collect stage alone (the snapshot's startedAt to finishedAt): the sweep without what follows it. */
  collectS: number | null;
  cpuS: number;
  targets: number;
  targetsDown: number;
  downCodes: Record<string, number>;
  /** Targets whose CloudHSM or CloudWatch enrichment failed, by service and error code, and how many had it at all. */
  enrichment: { attempted: number; failed: number; codes: Record<string, number> };
  stores: number;
  clusters: number;
  stateWrites: { name: string; bytes: number; ms: number }[];
  /** Per-target walk durations (TargetOutcome.durationMs): where the sweep's time goes. */
  targetMs: { mean: number; p50: number; p99: number };
  /** Largest values seen by a 50 ms sampler during the poll: what the peak RSS is made of. */
  peakMemMB: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
}

/** Samples process.memoryUsage() every 50 ms and keeps the largest value of each field. */
function memorySampler() {
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k] / 2 ** 20);
  };
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.round(peak[k] * 10) / 10;
    return peak;
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

function usage(): Usage {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    cpuUserS: cpu.user / 1e6,
    cpuSystemS: cpu.system / 1e6,
    rssMB: mem.rss / 2 ** 20,
    heapUsedMB: mem.heapUsed / 2 ** 20,
    heapTotalMB: mem.heapTotal / 2 ** 20,
    externalMB: mem.external / 2 ** 20,
    codeMB: getHeapSpaceStatistics().filter((s) => s.space_name.startsWith('code')).reduce((n, s) => n + s.space_used_size, 0) / 2 ** 20,
    maxRssMB: peakRssMB(),
  };
}

/**
 * Peak RSS of this process: VmHWM where /proc exists, else getrusage's maxRSS. The daemon resets VmHWM before
 * each poll (memory-headroom.ts: each poll's own peak against the memory limit), so the process's peak is
 * the largest value read here; it is read at the end of every poll and at close, before the next reset.
 */
let peakSeenMB = 0;
const memory = systemMemoryProbe();
function peakRssMB(): number {
  const hwm = memory.peak();
  peakSeenMB = Math.max(peakSeenMB, hwm === null ? process.resourceUsage().maxRSS / 1024 : hwm / 2 ** 20);
  return peakSeenMB;
}

function distribution(xs: number[]) {
  return { mean: Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)), p50: Math.round(quantile(xs, 0.5)), p99: Math.round(quantile(xs, 0.99)) };
}

let mode: 'once' | 'daemon' = 'once';
let config: Config;
let credentials: { accessKeyId: string; secretAccessKey: string };
let daemon: Daemon | null = null;
let stateDir: string | null = null;
let writes: { name: string; bytes: number; ms: number }[] = [];

async function init(msg: Extract<ChildCommand, { cmd: 'init' }>) {
  mode = msg.mode;
  credentials = msg.credentials;
  stateDir = mkdtempSync(join(tmpdir(), 'ksw-bench-state-'));
  config = parseConfig({ ...msg.config, stateDir, listen: '127.0.0.1:0', schedule: '0 0 1 1 *' }, 'bench', {});
  // A/B of aws.sdkThreads without another build (bench/steady-ab.ts passes the environment through).
  if (process.env.KW_BENCH_SDK_THREADS) config.aws.sdkThreads = process.env.KW_BENCH_SDK_THREADS === 'auto' ? 'auto' : Number(process.env.KW_BENCH_SDK_THREADS);
  if (mode === 'daemon') {
    // The daemon's own path (FileStateBackend), timed per write: a poll's commit is reported as 'snapshot'
    // (it carries the snapshot), bytes = what it appended to the journal; deliveries as 'outbox'.
    const files = await FileStateBackend.open({ dir: stateDir });
    const timed = (name: string, write: () => Promise<void>) => async () => {
      const before = await files.journalOnDisk();
      const t0 = performance.now();
      await write();
      const ms = performance.now() - t0;
      writes.push({ name, bytes: Math.max(0, (await files.journalOnDisk()) - before), ms });
    };
    const backend: StateBackend = {
      load: (o) => files.load(o), latestSnapshot: (p) => files.latestSnapshot(p), close: () => files.close(),
      commit: (f, p, r) => timed('snapshot', () => files.commit(f, p, r))(),
      applyOutbox: (f, c, r) => timed('outbox', () => files.applyOutbox(f, c, r))(),
    };
    daemon = new Daemon({ config, logger: silentLogger(), credentials, backend, schedule: false });
    await daemon.start();
  }
  return { url: daemon?.url ?? null, ...usage() };
}

async function onePoll(): Promise<PollReport> {
  writes = [];
  const stopSampler = memorySampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let snap: Snapshot | null;
  if (mode === 'daemon') {
    await daemon!.pollNow();
    snap = daemon!.latest;
  } else {
    const clients = new AwsClients({ aws: config.aws, credentials });
    try {
      snap = await new SnapshotPoller({ config, clients }).poll(null);
    } finally {
      clients.close();
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peakMemMB = stopSampler();
  const downCodes: Record<string, number> = {};
  for (const t of snap?.targets ?? []) if (!t.ok) downCodes[t.error?.code ?? '?'] = (downCodes[t.error?.code ?? '?'] ?? 0) + 1;
  const summary = enrichmentSummary(snap?.targets ?? []);
  const codes: Record<string, number> = {};
  // Denied and other CloudWatch failures with one code share a key here: add them, never overwrite.
  for (const f of summary.failures) codes[`${f.service}:${f.code}`] = (codes[`${f.service}:${f.code}`] ?? 0) + f.targets;
  const enrichment = { attempted: summary.attempted, failed: summary.failed, codes };
  return {
    wallS,
    enrichment,
    collectS: snap ? (snap.finishedAt - snap.startedAt) / 1000 : null,
    cpuS: (cpu.user + cpu.system) / 1e6,
    targets: snap?.targets.length ?? 0,
    targetsDown: snap?.targets.filter((t) => !t.ok).length ?? 0,
    downCodes,
    stores: snap?.stores.length ?? 0,
    clusters: snap?.clusters.length ?? 0,
    stateWrites: writes,
    targetMs: distribution((snap?.targets ?? []).map((t) => t.durationMs)),
    peakMemMB,
    ...usage(),
  };
}

async function handle(msg: ChildCommand): Promise<unknown> {
  switch (msg.cmd) {
    case 'init': return init(msg);
    case 'poll': return onePoll();
    case 'polls': {
      // Many polls in a row (leak check): memory after GC at each checkpoint.
      const at: Record<number, Usage & { wallS: number }> = {};
      for (let i = 1; i <= msg.count; i++) {
        const r = await onePoll();
        if (msg.checkpoints.includes(i)) {
          gc?.();
          at[i] = { ...usage(), wallS: r.wallS };
        }
      }
      return at;
    }
    case 'close': {
      await daemon?.stop(1000);
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
      return usage();
    }
  }
}

process.on('message', (msg: ChildCommand & { id: number }) => {
  handle(msg).then(
    (result) => {
      process.send!({ id: msg.id, ok: true, result });
      if (msg.cmd === 'close') process.disconnect();
    },
    (err: unknown) => process.send!({ id: msg.id, ok: false, error: err instanceof Error ? err.stack : String(err) }),
  );
});
