// What a poll commit costs in memory on the file backend, at 20,000 stores (issue 14: daemon peak RSS):
// what the backend keeps after a commit, and the peak while one runs.
//
//   node --expose-gc --import tsx bench/commit-memory.ts [--stores 20000] [--commits 4] [--fsync] [--json]
//
// One process, the file backend alone (src/state/file-backend.ts), a temp directory. The polls come from
// bench/commit.ts's generator; poll k+1 shares every record that did not change with poll k, as
// src/snapshot/build.ts does (one store changes state per poll), and the caller drops poll k once poll
// k+1 is committed, as the daemon does. Per commit:
//   heapMB       heap used after a forced GC once the commit resolved, over the process before poll 1
//                was built: the caller's poll plus what the backend keeps;
//   retainedMB   heap used after a forced GC once the commit resolved, minus the same before it: what the
//                backend keeps beyond the objects the caller holds anyway (with a parsed copy: a whole
//                second snapshot);
//   peakHeapMB   the highest heap used sampled every 5 ms during the commit, minus heap used before it
//                (a synchronous JSON.stringify or JSON.parse blocks the sampler: a lower bound);
//   peakRssMB    the kernel's RSS high-water mark (VmHWM, reset through /proc/self/clear_refs just
//                before the commit) minus RSS before it: exact, every allocation counted (heap, strings,
//                Buffers). Linux only.
// Commits alternate between a journal append and an append plus a checkpoint (the journal folds once
// it is larger than twice the last poll commit), so report the highest.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openFileStateBackend } from '../src/state/file-backend.js';
import { SINGLE_REPLICA_EPOCH, type PollCommit } from '../src/state/backend.js';
import { pollCommit, RETENTION } from './commit.js';
import { systemMemoryProbe } from '../src/memory-headroom.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc --import tsx bench/commit-memory.ts\n');
  process.exit(2);
}
const MB = (b: number) => Math.round(b / 1e5) / 10;

/** The kernel's RSS high-water mark, reset and read as the daemon does per poll (src/memory-headroom.ts). */
const memory = systemMemoryProbe();

function settle(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

/** The next poll as the snapshot builder makes it: unchanged records shared, one store changed. */
function nextPoll(prev: PollCommit, n: number, pollId: number, seq: number): PollCommit {
  const fresh = pollCommit(Math.min(n, 64), pollId, seq); // small: its history, outbox and alert shapes
  const s = prev.snapshot as { stores: Record<string, unknown>[]; clusters: unknown[]; targets: unknown[]; probes: unknown[] };
  const i = pollId % n;
  const stores = s.stores.slice();
  stores[i] = { ...stores[i], state: stores[i]!.state === 'FAILED' ? 'CONNECTED' : 'FAILED', stateSince: 1_700_000_000_000 + pollId * 60_000 };
  return {
    ...fresh,
    snapshot: { ...s, pollId, startedAt: 1_700_000_000_000 + pollId * 60_000, finishedAt: 1_700_000_004_000 + pollId * 60_000, stores },
    alerts: pollCommit(n, pollId, seq).alerts,
  };
}

const { values } = parseArgs({ options: { stores: { type: 'string', default: '20000' }, commits: { type: 'string', default: '4' }, fsync: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
const n = Number(values.stores);
const dir = await mkdtemp(path.join(tmpdir(), 'kw-bench-commit-mem-'));
const rows: { commit: number; kind: string; ms: number; heapMB: number; retainedMB: number; peakHeapMB: number; peakRssMB: number; journalMB: number }[] = [];
try {
  const backend = await openFileStateBackend({ dir, fsync: values.fsync });
  await backend.load();
  const empty = settle();
  let poll: PollCommit = pollCommit(n, 1, 1);
  for (let k = 1; k <= Number(values.commits); k++) {
    const before = settle();
    const rssBefore = process.memoryUsage.rss();
    memory.resetPeak();
    let peakHeap = process.memoryUsage().heapUsed;
    const timer = setInterval(() => { peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed); }, 5);
    const t0 = performance.now();
    const journalBefore = await backend.journalOnDisk();
    await backend.commit({ epoch: SINGLE_REPLICA_EPOCH }, poll, RETENTION);
    const ms = performance.now() - t0;
    clearInterval(timer);
    const hwm = memory.peak() ?? NaN;
    const journal = await backend.journalOnDisk();
    const after = settle();
    rows.push({
      commit: k, kind: journal > journalBefore ? 'append' : 'append + checkpoint', ms: Math.round(ms), heapMB: MB(after - empty),
      retainedMB: MB(after - before), peakHeapMB: MB(peakHeap - before), peakRssMB: MB(hwm - rssBefore), journalMB: MB(journal),
    });
    // The caller lets go of the committed poll once the next one exists (the backend may keep it).
    poll = nextPoll(poll, n, k + 1, 2 * k + 1);
  }
  await backend.close();
  const snapMB = MB((await stat(path.join(dir, 'snapshot.json')).catch(() => ({ size: NaN }))).size);
  if (values.json) process.stdout.write(JSON.stringify({ stores: n, fsync: values.fsync, snapshotJsonMB: snapMB, rows }) + '\n');
  else {
    process.stdout.write(`file backend, ${n} stores, fsync ${values.fsync ? 'on' : 'off'}, snapshot.json ${snapMB} MB\n`);
    for (const r of rows) process.stdout.write(`commit ${r.commit} (${r.kind}): ${r.ms} ms, heap after GC ${r.heapMB} MB over the empty process, retained ${r.retainedMB} MB, peak heap +${r.peakHeapMB} MB, peak RSS +${r.peakRssMB} MB, journal ${r.journalMB} MB\n`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
