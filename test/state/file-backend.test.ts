// What is particular to the file StateBackend: its write-ahead journal (a delivery appends one small
// line and rewrites no document), crash points injected between its steps, its torn-tail handling,
// and reading a stateDir written by the previous version (documents only, no journal).
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { BoundedHistory } from '../../src/state/history.js';
import { Outbox } from '../../src/notify/outbox.js';
import type { Notifier } from '../../src/notify/notifier.js';
import { RETENTION, commitPolls, consistentPoll, pollCommit } from './fixtures/backend-polls.js';
import { alert } from '../notify/fixtures.js';

const dirs: string[] = [];
const tmp = async () => { const d = await mkdtemp(path.join(tmpdir(), 'ksw-fb-')); dirs.push(d); return d; };
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }); });

class Crash extends Error {}

describe('FileStateBackend', () => {
  it('marks a delivery by appending one small journal record: no document is rewritten', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, checkpointBytes: 1 << 30 });
    await b.load();
    await commitPolls(b, 1, 1, 1, 200_000);
    await b.close();
    // Fold the journal into the documents, then watch them.
    const b2 = await FileStateBackend.open({ dir, checkpointBytes: 0 });
    await b2.load();
    await b2.commit({ epoch: 1 }, pollCommit(2, 200_000), RETENTION);
    await b2.close();
    const b3 = await FileStateBackend.open({ dir, checkpointBytes: 1 << 30 });
    await b3.load();
    const docs = ['snapshot', 'alerts', 'history', 'outbox'].map((n) => path.join(dir, `${n}.json`));
    const before = await Promise.all(docs.map((f) => stat(f).then((s) => s.mtimeMs)));
    const journalBefore = await b3.journalOnDisk();
    await b3.applyOutbox({ epoch: 1 }, { finish: [{ delivery: { channel: 'b', id: 'n-2', at: 7, outcome: 'delivered', attempts: 1, status: 200, error: null } }] }, RETENTION);
    const grew = (await b3.journalOnDisk()) - journalBefore;
    expect(grew).toBeGreaterThan(0);
    expect(grew).toBeLessThan(600);
    expect(await Promise.all(docs.map((f) => stat(f).then((s) => s.mtimeMs)))).toEqual(before);
    await b3.close();
  });

  it.each(['appended', 'checkpoint:snapshot', 'checkpoint:alerts', 'checkpoint:outbox', 'checkpoint:backend'])(
    'a crash injected at %s leaves the previous or the new poll whole',
    async (point) => {
      const dir = await tmp();
      const b = await FileStateBackend.open({ dir, checkpointBytes: 0 });
      await b.load();
      await commitPolls(b, 1, 1, 3);
      await b.close(); // its last checkpoint runs behind the commit: one writer on the directory at a time, as the stateDir lock makes it
      const crashing = await FileStateBackend.open({ dir, checkpointBytes: 0, faultPoint: (step) => { if (step === point) throw new Crash(step); } });
      await crashing.load().catch(() => {});
      // A crash is the process dying: whatever the call answers, only the disk counts. The checkpoint runs
      // behind the commit (queueCheckpoint): close() waits for it, so the disk is read once it stopped.
      await crashing.commit({ epoch: 1 }, pollCommit(4), RETENTION).catch(() => {});
      await crashing.close();
      const s = await (await FileStateBackend.open({ dir })).load();
      expect([3, 4]).toContain(consistentPoll(s));
      // Past the journal append the commit is durable: the new poll.
      expect(consistentPoll(s)).toBe(4);
    },
  );

  it('a commit resolves once its line is durable, without waiting for the checkpoint it triggers; the next write waits for that checkpoint', async () => {
    const dir = await tmp();
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const reached: string[] = [];
    const b = await FileStateBackend.open({ dir, checkpointBytes: 0, faultPoint: async (step) => { reached.push(step); if (step === 'checkpoint:snapshot') await held; } });
    await b.load();
    const settledWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => 'settled'), new Promise((r) => setTimeout(r, ms, 'pending'))]);
    // The first commit crosses the threshold (0 bytes): its checkpoint starts and is held at its first document.
    expect(await settledWithin(b.commit({ epoch: 1 }, pollCommit(1), RETENTION), 2000)).toBe('settled');
    await new Promise((r) => setTimeout(r, 50));
    expect(reached).toEqual(['appended', 'checkpoint:snapshot']);
    // The next write queues behind the checkpoint on the serial chain: not appended while it is held.
    const second = b.commit({ epoch: 1 }, pollCommit(2), RETENTION);
    expect(await settledWithin(second, 300)).toBe('pending');
    expect(reached).toEqual(['appended', 'checkpoint:snapshot']);
    release();
    await second;
    await b.close(); // waits for the checkpoint queued behind the second commit
    expect(reached.filter((s) => s === 'appended')).toHaveLength(2);
    expect(reached.filter((s) => s === 'checkpoint:backend')).toHaveLength(2);
    // Folded: the journal is empty and the documents hold poll 2.
    expect(await b.journalOnDisk()).toBe(0);
    const again = await FileStateBackend.open({ dir });
    expect(consistentPoll(await again.load())).toBe(2);
    await again.close();
  });

  it('close() waits for a checkpoint queued behind the last commit', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, checkpointBytes: 0, faultPoint: async (step) => { if (step === 'checkpoint:alerts') await new Promise((r) => setTimeout(r, 200)); } });
    await b.load();
    await b.commit({ epoch: 1 }, pollCommit(1), RETENTION);
    await b.close();
    expect(await readFile(path.join(dir, 'journal.log'), 'utf8')).toBe('');
    const snapshot = JSON.parse(await readFile(path.join(dir, 'snapshot.json'), 'utf8')) as { data: { pollId: number } };
    expect(snapshot.data.pollId).toBe(1);
  });

  it('control: the same checker catches the previous version\'s separate document writes crashing in between', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, checkpointBytes: 0 });
    await b.load();
    await commitPolls(b, 1, 1, 2);
    await b.close();
    // What Daemon + AlertPipeline did: alerts, then history, then the outbox, then the snapshot, one file each.
    const docs = await FileStateStore.open({ dir });
    const next = pollCommit(3);
    await docs.write('alerts', next.alerts);
    await docs.close(); // crash before the snapshot write
    const s = await (await FileStateBackend.open({ dir })).load();
    expect(() => consistentPoll(s)).toThrow(/mixed/);
  });

  it('discards a torn last journal record (a write that never resolved) and keeps appending after it', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, checkpointBytes: 1 << 30 });
    await b.load();
    await commitPolls(b, 1, 1, 2);
    await b.close();
    const journal = path.join(dir, 'journal.log');
    const whole = await readFile(journal, 'utf8');
    const line3 = (await (async () => {
      const d2 = await tmp();
      const c = await FileStateBackend.open({ dir: d2, checkpointBytes: 1 << 30 });
      await c.load();
      await commitPolls(c, 1, 1, 3);
      await c.close();
      return (await readFile(path.join(d2, 'journal.log'), 'utf8')).split('\n')[2]!;
    })());
    await appendFile(journal, line3.slice(0, Math.floor(line3.length / 2)));
    const again = await FileStateBackend.open({ dir, checkpointBytes: 1 << 30 });
    expect(consistentPoll(await again.load())).toBe(2);
    await again.commit({ epoch: 1 }, pollCommit(3), RETENTION);
    await again.close();
    const s = await (await FileStateBackend.open({ dir })).load();
    expect(consistentPoll(s)).toBe(3);
    expect(s.history.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(whole.split('\n')).toHaveLength(3);
  });

  it('a record whose checksum does not match is not applied', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, checkpointBytes: 1 << 30 });
    await b.load();
    await commitPolls(b, 1, 1, 2);
    await b.close();
    const journal = path.join(dir, 'journal.log');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[1] = lines[1]!.replace('"pollId":2', '"pollId":9');
    await writeFile(journal, lines.join('\n'));
    expect(consistentPoll(await (await FileStateBackend.open({ dir })).load())).toBe(1);
  });

  it('loads a stateDir written by the previous version (documents, no journal) with its queue, delivery log, history and alert state', async () => {
    const dir = await tmp();
    // The previous version's writers, unchanged: the Outbox over the document store, BoundedHistory, and the plain documents.
    const docs = await FileStateStore.open({ dir });
    const notifier: Notifier = { id: 'webhook', type: 'webhook', minIntervalMs: 0, accepts: () => true, send: async () => ({ ok: true, status: 200 }) } as unknown as Notifier;
    const outbox = await Outbox.open({ store: docs, notifiers: [notifier], limit: 100 });
    const a1 = alert();
    const a2 = alert();
    await outbox.enqueue([a1, a2]);
    await outbox.stop();
    const history = await BoundedHistory.open<{ type: string }>(docs, { limit: 10 });
    await history.append([{ type: 'store_added' }], 1234);
    await docs.write('alerts', { alerts: { version: 1, lastPollId: 41, alerts: {} }, diff: { baselined: [] } });
    await docs.write('snapshot', { pollId: 41, stores: [] });
    await docs.close();

    const s = await (await FileStateBackend.open({ dir })).load();
    expect(s.snapshot).toMatchObject({ pollId: 41 });
    expect(s.alerts).toMatchObject({ alerts: { lastPollId: 41 } });
    expect(s.history.entries).toEqual([{ seq: 1, at: 1234, item: { type: 'store_added' } }]);
    expect(s.outbox.entries.map((e) => [e.channel, e.id, (e.payload as { id: string }).id])).toEqual([['webhook', a1.id, a1.id], ['webhook', a2.id, a2.id]]);
    expect(s.outbox.meta?.nextSeq).toBe(3);
    expect(s.epoch).toBe(0);
  });

  it('refuses writes before load(): a checkpoint of an empty memory would overwrite the directory', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir });
    await b.load();
    await commitPolls(b, 1, 1, 2);
    await b.close();
    const early = await FileStateBackend.open({ dir, checkpointBytes: 0 });
    await expect(early.commit({ epoch: 1 }, pollCommit(3), RETENTION)).rejects.toThrow(/load\(\) must complete/);
    expect(consistentPoll(await early.load())).toBe(2);
    await early.close();
  });
});
