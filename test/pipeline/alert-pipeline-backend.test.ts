// The alert pipeline on a StateBackend: each evaluated poll is ONE commit (snapshot, alert state,
// history entries, new outbox entries) and each delivery an outbox write of keyed records; a restart
// loads everything from backend.load(). Real file backend on a temp dir, a real local HTTP receiver.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AlertPipeline } from '../../src/pipeline/alert-pipeline.js';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import type { PollCommit } from '../../src/state/backend.js';
import type { Snapshot } from '../../src/model.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { snapshot, store } from '../helpers/snapshots.js';

let rx: Receiver;
let dir: string;
const backends: FileStateBackend[] = [];
beforeEach(async () => {
  ops = [];
  rx = await startReceiver();
  dir = await mkdtemp(path.join(tmpdir(), 'ksw-pipeline-backend-'));
});
afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
  await rx.close();
  await rm(dir, { recursive: true, force: true });
});

const config = () => parseConfigText(stringify({ regions: ['us-east-1'], accounts: [{ id: '111111111111' }], alerting: { channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] } }), 'test', {});

/** What the pipeline asked of the backend, in order (recorded on the way to the real file backend). */
type Op = { t: 'commit'; poll: PollCommit } | { t: 'outbox' };
let ops: Op[] = [];
const journal = async (): Promise<Op[]> => ops;

async function open() {
  const backend = await FileStateBackend.open({ dir, fsync: false });
  backends.push(backend);
  const loaded = await backend.load();
  // The journal folds into the documents as it grows, so the calls are recorded here rather than read back from journal.log.
  const recording = new Proxy(backend, {
    get(target, key) {
      const v = Reflect.get(target, key, target) as unknown;
      if (typeof v !== 'function') return v;
      if (key === 'commit') return (...a: Parameters<FileStateBackend['commit']>) => { ops.push({ t: 'commit', poll: structuredClone(a[1]) }); return target.commit(...a); };
      if (key === 'applyOutbox') return (...a: Parameters<FileStateBackend['applyOutbox']>) => { ops.push({ t: 'outbox' }); return target.applyOutbox(...a); };
      return (v as (...x: unknown[]) => unknown).bind(target);
    },
  });
  const pipeline = await AlertPipeline.open({ config: config(), backend: { backend: recording, fence: () => ({ epoch: 1 }), loaded }, logger: silentLogger(), metrics: new SelfMetrics({ processMetrics: false }), now: Date.now });
  return { backend, loaded, pipeline };
}

const polls = (n: number, state: (i: number) => 'CONNECTED' | 'FAILED'): Snapshot[] =>
  Array.from({ length: n }, (_, i) => snapshot({
    pollId: i + 1, startedAt: 1_700_000_000_000 + i * 60_000, finishedAt: 1_700_000_001_000 + i * 60_000,
    stores: [store({ state: state(i), errorCode: state(i) === 'FAILED' ? 'NETWORK_ERRORS' : null, stateSince: 1_700_000_000_000 })],
  }));

describe('AlertPipeline on a StateBackend', () => {
  it('commits each poll once (snapshot, alert state, history, new outbox entries together) and loads it all back', async () => {
    const { pipeline } = await open();
    const seq = polls(6, (i) => (i < 2 ? 'CONNECTED' : 'FAILED'));
    let prev: Snapshot | null = null;
    for (const s of seq) {
      await pipeline.process(prev, s);
      prev = s;
    }
    const ops = await journal();
    const commits = ops.filter((o): o is Extract<Op, { t: 'commit' }> => o.t === 'commit');
    // Nothing was delivered yet (delivery not started): every write of process() is a commit, one per poll.
    expect(ops.map((o) => o.t)).toEqual(seq.map(() => 'commit'));
    expect(commits.map((c) => c.poll.pollId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(commits.map((c) => (c.poll.snapshot as Snapshot).pollId)).toEqual([1, 2, 3, 4, 5, 6]);
    const firing = commits.find((c) => (c.poll.outbox.put ?? []).length > 0);
    expect(firing, 'a poll decided to send the firing').toBeDefined();
    // The firing's outbox entry is in the same commit as the alert state that decided it.
    expect((firing!.poll.alerts as { alerts: { lastPollId: number } }).alerts.lastPollId).toBe(firing!.poll.pollId);
    expect(commits.reduce((n, c) => n + c.poll.history.entries.length, 0), 'the changes reach the history').toBeGreaterThan(0);

    pipeline.startDelivery();
    await pipeline.stop(5000);
    expect(rx.requests).toHaveLength(1);
    // The delivery is a keyed outbox write, not another commit.
    expect((await journal()).slice(commits.length).every((o) => o.t === 'outbox')).toBe(true);

    const again = await open();
    expect(again.loaded.pollId).toBe(6);
    expect((again.loaded.snapshot as Snapshot).pollId).toBe(6);
    expect(again.pipeline.lastPollId).toBe(6);
    expect(again.pipeline.firing().map((a) => a.condition)).toContain('FAILED');
    expect(again.pipeline.recentEvents(100).length).toBe(commits.reduce((n, c) => n + c.poll.history.entries.length, 0));
    expect(again.pipeline.outbox.pending()).toBe(0);
    expect(again.loaded.outbox.deliveries.map((d) => d.outcome)).toEqual(['delivered']);
    await again.pipeline.stop(1000);
    expect(rx.requests).toHaveLength(1);
  });

  it('a poll commit refused (a deposed leader) rejects process() and leaves the backend as it was', async () => {
    const { backend, pipeline } = await open();
    const seq = polls(4, (i) => (i < 1 ? 'CONNECTED' : 'FAILED'));
    await pipeline.process(null, seq[0]!);
    // Another replica took over with epoch 2.
    await backend.applyOutbox({ epoch: 2 }, {}, { deliveriesPerChannel: 10, deadLetters: 10 });
    await expect(pipeline.process(seq[0]!, seq[1]!)).rejects.toMatchObject({ name: 'NotLeaderError' });
    const reread = await FileStateBackend.open({ dir, fsync: false });
    backends.push(reread);
    expect((await reread.load()).pollId).toBe(1);
    await pipeline.stop(500);
  });
});
