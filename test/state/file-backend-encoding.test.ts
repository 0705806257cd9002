// The file backend's memory and bytes (issue 14, peak RSS at 20,000 stores): it keeps the caller's
// objects rather than a parsed copy, and writes its journal lines and checkpoint documents in chunks
// that are byte for byte what the previous versions wrote as one string (`<sha1> <JSON>\n`; the
// FileStateStore envelope), so a stateDir written before replays as it is.
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { writeAll } from '../../src/state/file-store.js';
import { encodeDocument } from '../../src/state/store.js';
import type { OnCallChanges, OutboxChanges, PollCommit } from '../../src/state/backend.js';
import { RETENTION, pollCommit } from './fixtures/backend-polls.js';

const dirs: string[] = [];
const tmp = async () => { const d = await mkdtemp(path.join(tmpdir(), 'ksw-fb-enc-')); dirs.push(d); return d; };
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }); });

/** Strings JSON and UTF-8 get wrong when a text is cut or re-encoded carelessly. */
const HOSTILE = ['', 'plain', 'é ü ß 中文', '🎉 emoji 👩‍👩‍👧', '"quoted" \\ back \\"', 'line\nbreak\ttab\u0000nul\u001f\u007f', '\ud800 lone high', 'lone low \udfff', '\udfff\ud800 reversed', '\u2028\u2029 separators', '</script>'];

/** A poll whose every string field is hostile, with enough stores to span many 64 KiB chunks. */
function hostilePoll(pollId: number, stores = 3000): PollCommit {
  const base = pollCommit(pollId);
  return {
    ...base,
    snapshot: {
      pollId, startedAt: 1, finishedAt: 2,
      stores: Array.from({ length: stores }, (_, i) => ({ id: `cks-${i}`, name: HOSTILE[i % HOSTILE.length]! + '🎉'.repeat(i % 5), tags: { [HOSTILE[(i + 3) % HOSTILE.length]!]: HOSTILE[i % HOSTILE.length] }, gone: undefined, n: i / 7 })),
      targets: HOSTILE.map((h) => ({ accountName: h, error: { message: h } })),
    },
    alerts: { alerts: Object.fromEntries(HOSTILE.map((h, i) => [`${h}:${i}`, { firing: i % 2 === 0, note: h }])) },
  };
}

/** The previous version's encoder: one string, hashed and written whole. */
const oldLine = (op: unknown) => {
  const json = JSON.stringify(op);
  return `${createHash('sha1').update(json).digest('hex')} ${json}\n`;
};

describe('FileStateBackend encoding', () => {
  it('keeps the committed objects themselves, not a parsed copy of them', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, fsync: false, checkpointBytes: 1 << 30 });
    await b.load();
    const poll = pollCommit(1);
    await b.commit({ epoch: 1 }, poll, RETENTION);
    const latest = await b.latestSnapshot();
    // The previous version answered JSON.parse of the line it wrote: equal, never the same object.
    expect(latest!.snapshot).toBe(poll.snapshot);
    // After a checkpoint too (the documents are written from memory).
    const b2 = await FileStateBackend.open({ dir, fsync: false, checkpointBytes: 0 });
    await b2.load();
    const poll2 = pollCommit(2);
    await b2.commit({ epoch: 1 }, poll2, RETENTION);
    expect((await b2.latestSnapshot())!.snapshot).toBe(poll2.snapshot);
    await b.close();
    await b2.close();
  });

  it('writes each journal line byte for byte as `sha1 + " " + JSON.stringify(op) + "\\n"`, hostile strings included', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, fsync: false, checkpointBytes: 1 << 30 });
    await b.load();
    const poll = hostilePoll(1);
    const outbox: OutboxChanges = {
      put: HOSTILE.map((h, i) => ({ channel: `ch-${h}`, id: `${h}-${i}`, seq: i + 10, enqueuedAt: 1, attempts: 0, nextAttemptAt: 0, inFlight: false, lastError: h, lastStatus: null, payload: { text: h, nested: { deeper: [h, { h }] } } })),
      finish: [{ delivery: { channel: 'ch-x', id: HOSTILE[4]!, at: 3, outcome: 'delivered', attempts: 1, status: 200, error: HOSTILE[6]! } }],
      meta: { nextSeq: 99, lastSendAt: { [HOSTILE[5]!]: 1 }, dropped: {}, deadLettered: {} },
    };
    const oncall: OnCallChanges = { put: [{ kind: 'audit', id: HOSTILE[8]!, at: 5, value: { by: HOSTILE[9]!, detail: HOSTILE } }] };
    const expected = [
      oldLine({ t: 'commit', epoch: 1, poll, retention: RETENTION }),
      oldLine({ t: 'outbox', epoch: 1, changes: outbox, retention: RETENTION }),
      oldLine({ t: 'oncall', epoch: 1, changes: oncall }),
    ].join('');
    await b.commit({ epoch: 1 }, poll, RETENTION);
    await b.applyOutbox({ epoch: 1 }, outbox, RETENTION);
    await b.applyOnCall({ epoch: 1 }, oncall);
    const written = await readFile(b.journalPath);
    expect(written.length).toBeGreaterThan(3 * 64 * 1024); // many chunks
    expect(written.equals(Buffer.from(expected, 'utf8'))).toBe(true);
    // journalBytes counts bytes (the file's size), not UTF-16 characters.
    expect(b.journalSize).toBe(written.length);
    await b.close();
  });

  it('replays a journal the previous version wrote (one string per line), and a torn line after it is cut off', async () => {
    const dir = await tmp();
    // A stateDir as the previous version left it: no documents yet, two complete lines and a torn third.
    const p1 = hostilePoll(1, 50);
    const p2 = hostilePoll(2, 60);
    const lines = oldLine({ t: 'commit', epoch: 1, poll: p1, retention: RETENTION }) + oldLine({ t: 'commit', epoch: 1, poll: p2, retention: RETENTION });
    const torn = oldLine({ t: 'commit', epoch: 1, poll: hostilePoll(3, 70), retention: RETENTION }).slice(0, 5000);
    await writeFile(path.join(dir, 'journal.log'), lines + torn);
    const b = await FileStateBackend.open({ dir, fsync: false });
    const s = await b.load();
    expect(s.pollId).toBe(2);
    expect(s.snapshot).toEqual(JSON.parse(JSON.stringify(p2.snapshot)));
    expect(s.alerts).toEqual(JSON.parse(JSON.stringify(p2.alerts)));
    await b.close();
  });

  it('what a call wrote is what the objects held at the call: a change made right after it is not written', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, fsync: false, checkpointBytes: 1 << 30 });
    await b.load();
    const poll = hostilePoll(1, 10);
    const expected = oldLine({ t: 'commit', epoch: 1, poll, retention: RETENTION });
    const done = b.commit({ epoch: 1 }, poll, RETENTION);
    // A caller breaking the contract (backend.ts: committed objects are not changed) still cannot change the line.
    (poll.snapshot as { stores: { name: string }[] }).stores[0]!.name = 'changed after the call';
    await done;
    expect(await readFile(b.journalPath, 'utf8')).toBe(expected);
    const reread = await FileStateBackend.open({ dir, fsync: false });
    expect(((await reread.load()).snapshot as { stores: { name: string }[] }).stores[0]!.name).toBe(HOSTILE[0]);
    await b.close();
    await reread.close();
  });

  it('writes the checkpoint documents byte for byte as the previous version did (the FileStateStore envelope)', async () => {
    const dir = await tmp();
    const b = await FileStateBackend.open({ dir, fsync: false, checkpointBytes: 0, now: () => 1_700_000_000_000 });
    await b.load();
    const poll = hostilePoll(1);
    await b.commit({ epoch: 1 }, poll, RETENTION);
    await b.close(); // the checkpoint runs behind the commit; close() waits for it
    expect(await b.journalOnDisk()).toBe(0); // folded
    expect(await readFile(path.join(dir, 'snapshot.json'), 'utf8')).toBe(encodeDocument('snapshot', poll.snapshot, 1_700_000_000_000));
    expect(await readFile(path.join(dir, 'alerts.json'), 'utf8')).toBe(encodeDocument('alerts', poll.alerts, 1_700_000_000_000));
    const s = await (await FileStateBackend.open({ dir, fsync: false })).load();
    expect(s.snapshot).toEqual(JSON.parse(JSON.stringify(poll.snapshot)));
  });
});

describe('writeAll', () => {
  it('writes every chunk in order, however the writes are cut short', async () => {
    const chunks = Array.from({ length: 300 }, (_, i) => Buffer.from(`${i}:${'x'.repeat(i % 17)}|`));
    const out: Buffer[] = [];
    let call = 0;
    // A handle whose writev takes at most a few bytes at a time, as a short write would.
    const fh = { writev: async (bufs: Buffer[]) => {
      const take = 1 + (call++ % 13);
      const joined = Buffer.concat(bufs).subarray(0, take);
      out.push(joined);
      return { bytesWritten: joined.length, buffers: bufs };
    } } as unknown as Parameters<typeof writeAll>[0];
    const n = await writeAll(fh, chunks);
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    expect(n).toBe(Buffer.concat(chunks).length);
    // From a generator (a document encoded while it is written), empty chunks included.
    out.length = 0;
    function* gen() { for (const c of chunks) { yield Buffer.alloc(0); yield c; } }
    expect(await writeAll(fh, gen())).toBe(n);
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('writes a real file whole', async () => {
    const dir = await tmp();
    const chunks = Array.from({ length: 200 }, (_, i) => Buffer.from(`${HOSTILE[i % HOSTILE.length]}-${i}\n`));
    const fh = await open(path.join(dir, 'f'), 'w');
    try { await writeAll(fh, chunks); } finally { await fh.close(); }
    expect((await readFile(path.join(dir, 'f'))).equals(Buffer.concat(chunks))).toBe(true);
  });
});
