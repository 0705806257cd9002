// ResilientStateBackend: a commit or outbox write the backend refuses with an I/O error is held in
// memory in call order, reported, and applied again oldest first when the backend recovers; later calls
// wait behind held ones; NotLeaderError and other non-I/O errors are not absorbed. The backend under it
// is the real file backend on a temp dir; only the failure is injected (an errno code, as fs raises it).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotLeaderError, type Fence, type OutboxChanges, type PollCommit, type Retention, type StateBackend } from '../../src/state/backend.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { ResilientStateBackend, type BackendWriteFailure } from '../../src/state/resilient-backend.js';

const retention: Retention = { deliveriesPerChannel: 100, deadLetters: 100 };
const F: Fence = { epoch: 1 };

/** The file backend whose writes fail with `code` while it is set. */
class Faulty implements StateBackend {
  code: string | null = null;
  constructor(readonly inner: FileStateBackend) {}
  load() { return this.inner.load(); }
  latestSnapshot() { return this.inner.latestSnapshot(); }
  async commit(f: Fence, p: PollCommit, r: Retention) { this.check(); return this.inner.commit(f, p, r); }
  async applyOutbox(f: Fence, c: OutboxChanges, r: Retention) { this.check(); return this.inner.applyOutbox(f, c, r); }
  close() { return this.inner.close(); }
  private check() { if (this.code) throw Object.assign(new Error(`cannot write state journal: ${this.code}: refused`), { code: this.code }); }
}

const poll = (pollId: number, seq: number): PollCommit => ({
  pollId, snapshot: { pollId }, alerts: { lastPollId: pollId },
  history: { entries: [{ seq, at: pollId, item: { id: `c${seq}` } }], limit: 100 },
  outbox: { put: [{ channel: 'slack', id: `n${pollId}`, seq: pollId, enqueuedAt: 0, attempts: 0, nextAttemptAt: 0, inFlight: false, lastError: null, lastStatus: null, payload: { id: `n${pollId}` } }] },
});
const delivered = (id: string): OutboxChanges => ({ finish: [{ delivery: { channel: 'slack', id, at: 5, outcome: 'delivered', attempts: 1, status: 200, error: null } }] });

let dir: string;
beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'ksw-resilient-backend-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

async function setup(retryMs = 60_000) {
  const file = await FileStateBackend.open({ dir, fsync: false });
  await file.load();
  const faulty = new Faulty(file);
  const failures: [BackendWriteFailure, boolean][] = [];
  const dropped: number[] = [];
  let recovered = 0;
  const b = new ResilientStateBackend(faulty, { retryMs, observer: { onWriteError: (f, first) => failures.push([f, first]), onRecovered: () => recovered++, onHeldDropped: (_e, n) => dropped.push(n) } });
  const reread = async () => { const f = await FileStateBackend.open({ dir, fsync: false }); try { return await f.load(); } finally { await f.close(); } };
  return { b, faulty, failures, dropped, recovered: () => recovered, reread };
}

describe('ResilientStateBackend', () => {
  it('holds refused calls in order, reports them, and writes them back oldest first when the backend recovers', async () => {
    const { b, faulty, failures, recovered, reread } = await setup();
    await b.commit(F, poll(1, 1), retention);
    faulty.code = 'ENOSPC';
    await b.commit(F, poll(2, 2), retention);
    await b.applyOutbox(F, delivered('n2'), retention);
    // The second call is held behind the first, which is tried again first (and fails again).
    expect(failures.map(([f, first]) => [f.call, f.code, first])).toEqual([['commit', 'ENOSPC', true], ['commit', 'ENOSPC', false]]);
    expect(b.health()).toMatchObject({ ok: false, failing: { code: 'ENOSPC', documents: ['outbox', 'alerts', 'history', 'snapshot'] } });
    expect(b.heldCalls).toBe(2);
    expect((await reread()).pollId).toBe(1);

    faulty.code = null;
    expect(await b.flush()).toBe(true);
    const s = await reread();
    expect(s.pollId).toBe(2);
    expect(s.history.entries.map((e) => e.seq)).toEqual([1, 2]);
    expect(s.outbox.entries.map((e) => e.id)).toEqual(['n1']);
    expect(s.outbox.deliveries.map((d) => d.id)).toEqual(['n2']);
    expect(recovered()).toBe(1);
    expect(b.health()).toEqual({ ok: true, failing: null });
    await b.close();
  });

  it('a call made while others are held goes behind them, never before (an older snapshot never overwrites a newer one)', async () => {
    const { b, faulty, recovered, reread } = await setup();
    faulty.code = 'EIO';
    await b.commit(F, poll(1, 1), retention);
    await b.commit(F, poll(2, 2), retention);
    faulty.code = null;
    // The backend answers again: this call writes the held ones first, then itself.
    await b.commit(F, poll(3, 3), retention);
    const s = await reread();
    expect(s.pollId).toBe(3);
    expect(s.history.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(recovered()).toBe(1);
    expect(b.heldCalls).toBe(0);
    await b.close();
  });

  it('retries on its own every retryMs', async () => {
    const { b, faulty, recovered, reread } = await setup(20);
    faulty.code = 'EROFS';
    await b.commit(F, poll(1, 1), retention);
    faulty.code = null;
    for (let i = 0; i < 500 && recovered() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recovered()).toBe(1);
    expect((await reread()).pollId).toBe(1);
    await b.close();
  });

  it('does not absorb NotLeaderError or errors that are not I/O errors', async () => {
    const { b, faulty } = await setup();
    await b.commit({ epoch: 3 }, poll(1, 1), retention);
    await expect(b.commit({ epoch: 2 }, poll(2, 2), retention)).rejects.toBeInstanceOf(NotLeaderError);
    faulty.code = null;
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(b.commit({ epoch: 3 }, { ...poll(2, 2), snapshot: cyclic }, retention)).rejects.toThrow(/circular/i);
    expect(b.health().ok).toBe(true);
    expect(b.heldCalls).toBe(0);
    await b.close();
  });

  it('held calls of a term that lost the lease are refused when replayed: dropped and reported, not retried forever', async () => {
    const { b, faulty, dropped, reread } = await setup();
    faulty.code = 'ECONNREFUSED';
    await b.commit({ epoch: 1 }, poll(1, 1), retention);
    await b.applyOutbox({ epoch: 1 }, delivered('n1'), retention);
    faulty.code = null;
    // Another leader wrote with a newer epoch meanwhile.
    await faulty.inner.applyOutbox({ epoch: 2 }, {}, retention);
    expect(await b.flush()).toBe(true);
    expect(dropped).toEqual([2]);
    expect((await reread()).pollId).toBe(null);
    await b.close();
  });
});
