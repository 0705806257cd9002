// The StateBackend contract (src/state/backend.ts), as a suite any backend runs: call
// backendContract(name, makeHarness) from a test file. The file backend runs it in
// backend-contract.test.ts; the PostgreSQL backend adds its harness there.
import { runWriterAndKill as runKill } from './support/kill-writer.js';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NotLeaderError, SINGLE_REPLICA_EPOCH, type StateBackend } from '../../src/state/backend.js';
import { HISTORY_LIMIT, RETENTION, commitPolls, consistentPoll, pollCommit } from './fixtures/backend-polls.js';
import { openBackend, type BackendSpec } from './fixtures/backends.js';

export interface BackendHarness {
  /** How to open the backend, in this process or in the writer child. */
  spec: BackendSpec;
  /** Makes `epoch` the current lease epoch before a write carries it (PostgreSQL: the lease row). The file backend takes the writer's epoch as is. */
  lead(epoch: number): Promise<void>;
  cleanup(): Promise<void>;
}

const writer = fileURLToPath(new URL('./fixtures/backend-writer.ts', import.meta.url));
const KILLS = Number(process.env.KSW_CRASH_KILLS ?? (process.env.KSW_LONG ? 100 : 12));

function runWriterAndKill(spec: BackendSpec, killAfterMs: number, pad: number): Promise<{ start: number; lastAck: number }> {
  // Kill after a few commits, at a random moment (inside a commit, a checkpoint, or between).
  return runKill({ script: writer, args: [JSON.stringify(spec), String(pad)], killAfterMs, armAfter: 2 });
}

export function backendContract(name: string, makeHarness: () => Promise<BackendHarness>): void {
  describe(`StateBackend contract: ${name}`, () => {
    let h: BackendHarness | null = null;
    const open: StateBackend[] = [];
    const openB = async () => { const b = await openBackend(h!.spec); open.push(b); return b; };
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close().catch(() => {});
      await h?.cleanup();
      h = null;
    });

    it('loads an empty state, then exactly what was committed, also after a reopen', async () => {
      h = await makeHarness();
      const b = await openB();
      const empty = await b.load();
      expect(consistentPoll(empty)).toBe(0);
      expect(empty.outbox.meta).toBeNull();
      await h.lead(SINGLE_REPLICA_EPOCH);
      await commitPolls(b, SINGLE_REPLICA_EPOCH, 1, 3);
      expect(consistentPoll(await b.load())).toBe(3);
      await b.close();
      const again = await (await openB()).load();
      expect(consistentPoll(again)).toBe(3);
      expect(again.epoch).toBe(SINGLE_REPLICA_EPOCH);
      expect(again.outbox.entries.map((e) => `${e.channel}:${e.id}`)).toEqual(['b:n-1', 'b:n-2', 'a:n-3', 'b:n-3']);
      expect((await open.at(-1)!.latestSnapshot())?.snapshot).toMatchObject({ pollId: 3 });
    });

    it('keeps on-call records (silences, acks, audit) across a reopen, keyed, fenced, audit capped, and untouched by poll commits', async () => {
      h = await makeHarness();
      await h.lead(1);
      const b = await openB();
      await b.load();
      expect(b.applyOnCall).toBeTypeOf('function');
      const sil = { kind: 'silence' as const, id: 's-1', at: 10, value: { id: 's-1', matchers: ['account_id="2"'], comment: 'x\u0000<b>"' } };
      await b.applyOnCall!({ epoch: 1 }, { put: [sil, { kind: 'ack', id: 'FAILED:store:2/us-east-1/cks-1', at: 11, value: { by: 'bob' } }] });
      await commitPolls(b, 1, 1, 2);
      // Replace by key, delete by key (a missing key is a no-op), and an audit cap of 3.
      await b.applyOnCall!({ epoch: 1 }, {
        put: [{ ...sil, at: 12, value: { ...sil.value, expired: true } }, ...[1, 2, 3, 4, 5].map((i) => ({ kind: 'audit' as const, id: `e-${i}`, at: 100 + i, value: { i } }))],
        delete: [{ kind: 'ack', id: 'FAILED:store:2/us-east-1/cks-1' }, { kind: 'ack', id: 'missing' }], auditLimit: 3,
      });
      await b.applyOnCall!({ epoch: 1 }, { put: [{ kind: 'audit', id: 'e-5', at: 105, value: { i: 5 } }], auditLimit: 3 });
      await b.close();
      const again = await (await openB()).load();
      expect(consistentPoll(again)).toBe(2);
      const byKey = Object.fromEntries((again.onCall ?? []).map((r) => [`${r.kind}:${r.id}`, r]));
      expect(Object.keys(byKey).sort()).toEqual(['audit:e-3', 'audit:e-4', 'audit:e-5', 'silence:s-1']);
      expect(byKey['silence:s-1']!.value).toEqual({ ...sil.value, expired: true });
      // Fenced like every write: an older epoch changes nothing.
      await h.lead(2);
      const b2 = open.at(-1)!;
      await b2.applyOnCall!({ epoch: 2 }, { put: [{ kind: 'audit', id: 'e-6', at: 106, value: {} }] });
      await expect(b2.applyOnCall!({ epoch: 1 }, { put: [{ kind: 'silence', id: 's-old', at: 1, value: {} }] })).rejects.toBeInstanceOf(NotLeaderError);
      const last = await (await openB()).load();
      expect((last.onCall ?? []).some((r) => r.id === 's-old')).toBe(false);
      expect((last.onCall ?? []).some((r) => r.id === 'e-6')).toBe(true);
    });

    it('orders un-awaited calls in call order (a later commit is never overwritten by an earlier one)', async () => {
      h = await makeHarness();
      await h.lead(1);
      const b = await openB();
      await b.load();
      await Promise.all(Array.from({ length: 8 }, (_, i) => b.commit({ epoch: 1 }, pollCommit(i + 1, (8 - i) * 2000), RETENTION)));
      expect(consistentPoll(await (await openB()).load())).toBe(8);
    });

    it('is idempotent: the same commit applied twice leaves the state of one', async () => {
      h = await makeHarness();
      await h.lead(1);
      const b = await openB();
      await b.load();
      await commitPolls(b, 1, 1, 2);
      await b.commit({ epoch: 1 }, pollCommit(2), RETENTION);
      const s = await (await openB()).load();
      expect(consistentPoll(s)).toBe(2);
      expect(s.history.entries.map((e) => e.seq)).toEqual([1, 2]);
      expect(s.outbox.deliveries.filter((d) => d.id === 'n-1')).toHaveLength(1);
    });

    it('keys outbox records: marking one delivery removes that entry only and records it once', async () => {
      h = await makeHarness();
      await h.lead(1);
      const b = await openB();
      await b.load();
      await commitPolls(b, 1, 1, 1);
      const before = await b.load();
      const target = before.outbox.entries.find((e) => e.channel === 'b')!;
      await b.applyOutbox({ epoch: 1 }, { put: [{ ...target, attempts: 1, inFlight: true }] }, RETENTION);
      const mid = await (await openB()).load();
      expect(mid.outbox.entries.find((e) => e.channel === 'b')).toMatchObject({ attempts: 1, inFlight: true });
      expect(mid.outbox.entries.find((e) => e.channel === 'a')).toEqual(before.outbox.entries.find((e) => e.channel === 'a'));
      await b.applyOutbox({ epoch: 1 }, { finish: [{ delivery: { channel: 'b', id: target.id, at: 5, outcome: 'delivered', attempts: 1, status: 200, error: null } }] }, RETENTION);
      const after = await (await openB()).load();
      expect(after.outbox.entries.map((e) => `${e.channel}:${e.id}`)).toEqual(['a:n-1']);
      expect(after.outbox.deliveries).toEqual([{ channel: 'b', id: 'n-1', at: 5, outcome: 'delivered', attempts: 1, status: 200, error: null }]);
      // The poll's other parts are untouched by outbox writes.
      expect(consistentPoll({ ...after, outbox: { ...after.outbox, entries: [...after.outbox.entries, { ...target }] } })).toBe(1);
    });

    it('caps deliveries per channel, dead letters and history (oldest first out, history drops counted)', async () => {
      h = await makeHarness();
      await h.lead(1);
      const b = await openB();
      await b.load();
      const n = RETENTION.deliveriesPerChannel + 5;
      await commitPolls(b, 1, 1, n);
      await b.applyOutbox({ epoch: 1 }, {
        finish: Array.from({ length: RETENTION.deadLetters + 3 }, (_, i) => ({
          delivery: { channel: 'b', id: `n-${i + 1}`, at: 10 + i, outcome: 'dead_lettered', attempts: 3, status: 400, error: 'bad' },
          deadLetter: { channel: 'b', id: `n-${i + 1}`, at: 10 + i, summary: { i } },
        })),
      }, RETENTION);
      const s = await (await openB()).load();
      expect(s.outbox.deliveries.filter((d) => d.channel === 'a')).toHaveLength(RETENTION.deliveriesPerChannel);
      expect(s.outbox.deliveries.filter((d) => d.channel === 'a').at(0)!.id).toBe(`n-${n - RETENTION.deliveriesPerChannel}`);
      expect(s.outbox.deadLetters).toHaveLength(RETENTION.deadLetters);
      expect(s.outbox.deadLetters[0]!.summary).toEqual({ i: 3 });
      expect(s.history.entries).toHaveLength(HISTORY_LIMIT);
      expect(s.history.dropped).toBe(n - HISTORY_LIMIT);
      expect(s.history.entries[0]!.seq).toBe(n - HISTORY_LIMIT + 1);
    });

    it('fencing: a write with an older epoch fails with NotLeaderError and changes nothing, also after a restart', async () => {
      h = await makeHarness();
      await h.lead(1);
      const b = await openB();
      await b.load();
      await commitPolls(b, 1, 1, 1);
      await h.lead(2);
      const leader = await openB();
      await leader.load();
      await leader.commit({ epoch: 2 }, pollCommit(2), RETENTION);
      // The deposed writer (epoch 1), through its own instance and through the new one.
      for (const writerInstance of [b, leader]) {
        await expect(writerInstance.commit({ epoch: 1 }, pollCommit(3), RETENTION)).rejects.toBeInstanceOf(NotLeaderError);
        await expect(writerInstance.applyOutbox({ epoch: 1 }, { finish: [{ delivery: { channel: 'a', id: 'n-2', at: 9, outcome: 'delivered', attempts: 1, status: 200, error: null } }] }, RETENTION))
          .rejects.toMatchObject({ name: 'NotLeaderError', code: 'NOT_LEADER', epoch: 1 });
      }
      const restarted = await openB();
      const s = await restarted.load();
      expect(consistentPoll(s)).toBe(2);
      expect(s.epoch).toBe(2);
      await expect(restarted.commit({ epoch: 1 }, pollCommit(3), RETENTION)).rejects.toBeInstanceOf(NotLeaderError);
      await restarted.commit({ epoch: 2 }, pollCommit(3), RETENTION);
      expect(consistentPoll(await restarted.load())).toBe(3);
    });

    it(`atomicity: a writer SIGKILLed mid-commit ${KILLS} times always leaves one whole poll, never older than the last confirmed`, async () => {
      h = await makeHarness();
      await h.lead(SINGLE_REPLICA_EPOCH);
      let newer = 0;
      for (let k = 0; k < KILLS; k++) {
        const { start, lastAck } = await runWriterAndKill(h.spec, Math.floor(Math.random() * 80), 40_000);
        const b = await openB();
        const s = await b.load();
        await b.close();
        const n = consistentPoll(s);
        expect(lastAck).toBeGreaterThan(start);
        expect(n).toBeGreaterThanOrEqual(lastAck);
        expect(n).toBeLessThanOrEqual(lastAck + 1);
        if (n === lastAck + 1) newer++;
      }
      console.log(`[backend contract ${name}] ${KILLS} SIGKILLs mid-commit: every load was one whole poll (${newer} kills landed after the commit was durable, before its confirmation)`);
    }, 600_000);
  });
}
