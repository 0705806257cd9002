// The poll pipeline's ordering (src/pipeline/poll-pipeline.ts): the metrics exposition renders while the
// alerts are evaluated and committed, a poll ends only once both have, and a failing alert stage still
// leaves this poll's exposition served (never overwritten later by an older poll's).
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PollPipeline } from '../../src/pipeline/poll-pipeline.js';
import type { AlertPipeline } from '../../src/pipeline/alert-pipeline.js';
import type { SnapshotPoller } from '../../src/pipeline/snapshot-poller.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { silentLogger } from '../../src/log.js';
import type { Snapshot } from '../../src/model.js';
import { snapshot, store, T0 } from '../diff/builders.js';

/** A poll's snapshot with `n` stores, ids tagged by poll so each exposition is told apart. */
const pollOf = (pollId: number, n = 200): Snapshot =>
  snapshot(pollId, T0 + pollId * 60_000, { stores: Array.from({ length: n }, (_, i) => store({ id: `cks-p${pollId}-${String(i).padStart(5, '0')}` })) });

const exposition = (p: PollPipeline) => gunzipSync(p.snapshotMetrics.gzip).toString('utf8');

function pipeline(polls: Snapshot[], process: (prev: Snapshot | null, next: Snapshot, p: PollPipeline) => Promise<void>) {
  const queue = [...polls];
  const poller = { poll: async () => queue.shift()!, resume: () => {} } as unknown as SnapshotPoller;
  const metrics = new SelfMetrics({ processMetrics: false });
  let self!: PollPipeline;
  const alerts = { process: (prev: Snapshot | null, next: Snapshot) => process(prev, next, self) } as unknown as AlertPipeline;
  self = new PollPipeline({ poller, alerts: () => alerts, store: () => null, metrics, logger: silentLogger() });
  return { p: self, metrics };
}

describe('PollPipeline', () => {
  it('evaluates the alerts while the exposition renders, and ends the poll once both are done', async () => {
    const seen: { pollId: number; exposedPoll: boolean }[] = [];
    const { p, metrics } = pipeline([pollOf(1)], async (_prev, next, self) => {
      // The render started before this call; its compression cannot have finished synchronously.
      seen.push({ pollId: next.pollId, exposedPoll: exposition(self).includes(`cks-p${next.pollId}-`) });
      await new Promise((r) => setTimeout(r, 20));
    });
    await p.run(new AbortController().signal);
    expect(seen).toEqual([{ pollId: 1, exposedPoll: false }]);
    // When run() resolves, both halves are done: the exposition is this poll's and the poll counts as evaluated.
    expect(exposition(p)).toContain('cks-p1-00199');
    expect(p.evaluated).toBe(true);
    expect(p.lastPollError).toBeNull();
    expect((await metrics.lastPoll.get()).values[0]?.value).toBe((T0 + 60_000) / 1000);
  });

  it('a failing alert stage still ends with this poll\'s exposition served, and a later poll\'s is never overwritten by it', async () => {
    let calls = 0;
    const { p, metrics } = pipeline([pollOf(1, 2000), pollOf(2, 5)], async () => {
      calls++;
      if (calls === 1) throw new Error('disk on fire');
    });
    await p.run(new AbortController().signal);
    expect(p.lastPollError).toBe('alerts: disk on fire');
    expect(p.evaluated).toBe(false);
    expect(exposition(p)).toContain('cks-p1-01999');
    expect((await metrics.lastPoll.get()).values[0]?.value ?? 0).toBe(0); // never set: no poll was evaluated
    // The next poll (the failed one is evaluated again first, then this one).
    await p.run(new AbortController().signal);
    expect(calls).toBe(3);
    expect(p.lastPollError).toBeNull();
    expect(exposition(p)).toContain('cks-p2-00004');
    expect(exposition(p)).not.toContain('cks-p1-');
  });

  it('a render that fails does not keep the alerts from being evaluated; the previous exposition stays served', async () => {
    const broken = pollOf(2, 3);
    Object.defineProperty(broken.stores[1]!, 'name', { get() { throw new Error('render exploded'); } });
    const evaluated: number[] = [];
    const { p } = pipeline([pollOf(1, 3), broken], async (_prev, next) => { evaluated.push(next.pollId); });
    await p.run(new AbortController().signal);
    await p.run(new AbortController().signal);
    expect(evaluated).toEqual([1, 2]);
    expect(p.lastPollError).toBe('metrics: render exploded');
    expect(exposition(p)).toContain('cks-p1-00002');
  });
});
