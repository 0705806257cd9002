// The outbox on a StateBackend (src/state/backend.ts): each write is keyed outbox changes applied with
// applyOutbox; marking a delivery writes that delivery record and removes that entry by key, never the
// other entries. Real file backend on a temp dir, a real local HTTP receiver, a virtual clock.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type OutboxOptions } from '../../src/notify/outbox.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { NotLeaderError, type Fence, type OutboxChanges } from '../../src/state/backend.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { httpTestNotifier } from '../helpers/http-test-notifier.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import type { AlertNotification } from '../../src/model.js';

function alert(i: number): AlertNotification {
  const storeId = `cks-${String(i % 7).padStart(17, '0')}`;
  return {
    id: `n-${i}`, kind: 'firing', severity: 'critical', condition: 'FAILED', alertKey: `store:111111111111/us-east-1/${storeId}:FAILED`,
    subject: { accountId: '111111111111', accountName: 'prod', region: 'us-east-1', storeId, storeName: `store ${i}`, storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: 'cluster-abc', details: {} },
    guidance: { title: 't', summary: 's', cause: 'c', steps: ['a'], commands: ['aws kms ...'], docs: [], runbookAnchor: 'x' },
    since: 0, createdAt: 0,
  };
}

let receiver: Receiver;
let clock: VirtualClock;
let dir: string;
const open: Outbox[] = [];
const backends: FileStateBackend[] = [];

beforeEach(async () => {
  clock = new VirtualClock();
  receiver = await startReceiver({ now: clock.now });
  dir = await mkdtemp(path.join(tmpdir(), 'ksw-outbox-backend-'));
});
afterEach(async () => {
  for (const o of open.splice(0)) await o.stop();
  for (const b of backends.splice(0)) await b.close();
  await receiver.stop();
  await rm(dir, { recursive: true, force: true });
});

async function backendAt(): Promise<{ backend: FileStateBackend; loaded: Awaited<ReturnType<FileStateBackend['load']>> }> {
  const backend = await FileStateBackend.open({ dir, fsync: false });
  backends.push(backend);
  return { backend, loaded: await backend.load() };
}

async function makeOutbox(b: { backend: FileStateBackend; loaded: Awaited<ReturnType<FileStateBackend['load']>> }, over: Partial<OutboxOptions> & { fence?: () => Fence } = {}): Promise<Outbox> {
  const o = await Outbox.open({
    backend: { backend: b.backend, fence: over.fence ?? (() => ({ epoch: 1 })), loaded: b.loaded.outbox },
    notifiers: [httpTestNotifier({ id: 'webhook', url: `${receiver.url}/webhook` })],
    limit: 1000, clock, sendTimeoutMs: 2_000, stopTimeoutMs: 300, ...over,
  });
  open.push(o);
  return o;
}

/** The outbox writes in the journal, oldest first. */
async function outboxWrites(): Promise<OutboxChanges[]> {
  const text = await readFile(path.join(dir, 'journal.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l.slice(41)) as { t: string; changes: OutboxChanges }).filter((op) => op.t === 'outbox').map((op) => op.changes);
}

describe('Outbox on a StateBackend', () => {
  it('writes keyed changes: enqueue puts the new entries, a send puts its entry, a delivery finishes its key only', async () => {
    const b = await backendAt();
    const outbox = await makeOutbox(b);
    await outbox.enqueue([alert(1), alert(2), alert(3)]);
    let writes = await outboxWrites();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.put!.map((r) => [r.channel, r.id, r.seq, r.inFlight])).toEqual([['webhook', 'n-1', 1, false], ['webhook', 'n-2', 2, false], ['webhook', 'n-3', 3, false]]);
    expect((writes[0]!.put![0]!.payload as { id: string }).id).toBe('n-1');
    expect(writes[0]!.finish).toEqual([]);

    outbox.start();
    await outbox.whenIdle();
    await outbox.stop();
    writes = (await outboxWrites()).slice(1);
    // Per delivery: the in-flight marker (that one entry) and the end (that one key); no write carries another entry.
    for (const w of writes) expect((w.put ?? []).length + (w.finish ?? []).length).toBeLessThanOrEqual(1);
    const finished = writes.flatMap((w) => w.finish ?? []).map((f) => [f.delivery.id, f.delivery.outcome, f.delivery.status]);
    expect(finished).toEqual([['n-1', 'delivered', 200], ['n-2', 'delivered', 200], ['n-3', 'delivered', 200]]);
    expect(writes.flatMap((w) => w.put ?? []).map((r) => [r.id, r.inFlight, r.attempts])).toEqual([['n-1', true, 1], ['n-2', true, 1], ['n-3', true, 1]]);

    const after = await (await backendAt()).backend.load();
    expect(after.outbox.entries).toEqual([]);
    expect(after.outbox.deliveries.map((d) => [d.channel, d.id, d.outcome])).toEqual([['webhook', 'n-1', 'delivered'], ['webhook', 'n-2', 'delivered'], ['webhook', 'n-3', 'delivered']]);
    expect(after.outbox.meta?.nextSeq).toBe(4);
  });

  it('a new instance loaded from the backend has the queued entries and skips an id it already delivered', async () => {
    const first = await makeOutbox(await backendAt());
    await first.enqueue([alert(1)]);
    first.start();
    await first.whenIdle();
    await first.stop();
    await first.enqueue([alert(2), alert(3)]);
    // As if the process died here: a fresh backend and outbox on the same directory.
    const second = await makeOutbox(await backendAt());
    expect(second.pending()).toBe(2);
    expect(await second.enqueue([alert(1), alert(2)])).toMatchObject({ queued: 0, duplicates: 2 });
    second.start();
    await second.whenIdle();
    expect(receiver.delivered().map((r) => (r.json as { id: string }).id)).toEqual(['n-1', 'n-2', 'n-3']);
  });

  it('an entry found in flight at load is re-sent with the same key, and its in-flight marker is cleared by key', async () => {
    const b = await backendAt();
    await b.backend.applyOutbox({ epoch: 1 }, {
      put: [{ channel: 'webhook', id: 'n-7', seq: 1, enqueuedAt: 0, attempts: 1, nextAttemptAt: 0, inFlight: true, lastError: null, lastStatus: null, payload: alert(7) }],
      meta: { nextSeq: 2, lastSendAt: {}, dropped: {}, deadLettered: {} },
    }, { deliveriesPerChannel: 100, deadLetters: 100 });
    const again = await backendAt();
    const outbox = await makeOutbox(again);
    expect(outbox.resumedInFlight()).toBe(1);
    const reload = await (await backendAt()).backend.load();
    expect(reload.outbox.entries.map((e) => [e.id, e.inFlight])).toEqual([['n-7', false]]);
    outbox.start();
    await outbox.whenIdle();
    expect(receiver.delivered().map((r) => r.headers['idempotency-key'])).toEqual(['n-7']);
  });

  it('entries of a channel no longer configured end as channel_removed records (not left in the backend)', async () => {
    const b = await backendAt();
    await b.backend.applyOutbox({ epoch: 1 }, {
      put: [{ channel: 'gone', id: 'n-9', seq: 1, enqueuedAt: 0, attempts: 0, nextAttemptAt: 0, inFlight: false, lastError: null, lastStatus: null, payload: alert(9) }],
    }, { deliveriesPerChannel: 100, deadLetters: 100 });
    const outbox = await makeOutbox(await backendAt());
    expect(outbox.droppedTotals().channel_removed).toBe(1);
    const reload = await (await backendAt()).backend.load();
    expect(reload.outbox.entries).toEqual([]);
    expect(reload.outbox.deliveries.map((d) => [d.channel, d.id, d.outcome])).toEqual([['gone', 'n-9', 'channel_removed']]);
  });

  it('a write refused with NotLeaderError rejects enqueue and writes nothing; the changes go with the next accepted write', async () => {
    const b = await backendAt();
    let epoch = 1;
    // Another writer moved the backend to epoch 2.
    await b.backend.applyOutbox({ epoch: 2 }, { meta: { nextSeq: 1, lastSendAt: {}, dropped: {}, deadLettered: {} } }, { deliveriesPerChannel: 100, deadLetters: 100 });
    const outbox = await makeOutbox(b, { fence: () => ({ epoch }) });
    await expect(outbox.enqueue([alert(1)])).rejects.toBeInstanceOf(NotLeaderError);
    expect((await (await backendAt()).backend.load()).outbox.entries).toEqual([]);
    epoch = 2;
    await outbox.enqueue([alert(2)]);
    const reload = await (await backendAt()).backend.load();
    expect(reload.outbox.entries.map((e) => e.id)).toEqual(['n-1', 'n-2']);
  });

  it('a delivery whose record could not be written is written with the next accepted write (the entry does not come back)', async () => {
    const b = await backendAt();
    let epoch = 2;
    const outbox = await makeOutbox(b, { fence: () => ({ epoch }) });
    await outbox.enqueue([alert(1)]);
    // Refused from here (a lower epoch than the backend holds): the send happens, its records do not land.
    epoch = 1;
    outbox.start();
    await outbox.whenIdle();
    await outbox.stop();
    expect(receiver.delivered()).toHaveLength(1);
    expect((await (await backendAt()).backend.load()).outbox.entries.map((e) => e.id)).toEqual(['n-1']);
    epoch = 2;
    await outbox.enqueue([alert(2)]);
    const reload = await (await backendAt()).backend.load();
    expect(reload.outbox.deliveries.map((d) => [d.id, d.outcome])).toEqual([['n-1', 'delivered']]);
    expect(reload.outbox.entries.map((e) => e.id)).toEqual(['n-2']);
  });
});
