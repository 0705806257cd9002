// The durable outbox against real local HTTP receivers, on a virtual clock so minutes of backoff
// take milliseconds. The notifier is a small real HTTP client (test/helpers/http-test-notifier.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlertNotification } from '../../src/model.js';
import { Outbox, type DeadLetter, type DropReason, type OutboxOptions } from '../../src/notify/outbox.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import type { CorruptReport, StateDocName, StateStore } from '../../src/state/store.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { httpTestNotifier } from '../helpers/http-test-notifier.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { ManualClock } from '../helpers/manual-clock.js';

export function alert(i: number, over: Partial<AlertNotification> = {}): AlertNotification {
  const storeId = `cks-${String(i % 7).padStart(17, '0')}`;
  return {
    id: `n-${i}`, kind: 'firing', severity: i % 3 === 0 ? 'critical' : 'warning', condition: 'FAILED', alertKey: `store:111111111111/us-east-1/${storeId}:FAILED`,
    subject: { accountId: '111111111111', accountName: 'prod', region: 'us-east-1', storeId, storeName: `store ${i}`, storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: 'cluster-abc', details: {} },
    guidance: { title: 't', summary: 's', cause: 'c', steps: ['a'], commands: ['aws kms ...'], docs: [], runbookAnchor: 'x' },
    since: 0, createdAt: 0, ...over,
  };
}

class Counters {
  delivered = new Map<string, number>();
  failures: [string, string][] = [];
  dropped: [DropReason, string][] = [];
  pendingSeen: number[] = [];
  observer = {
    onDelivered: (ch: string) => { this.delivered.set(ch, (this.delivered.get(ch) ?? 0) + 1); },
    onFailure: (ch: string, code: string) => { this.failures.push([ch, code]); },
    onDropped: (reason: DropReason, ch: string) => { this.dropped.push([reason, ch]); },
    onPending: (n: number) => { this.pendingSeen.push(n); },
  };
  codes = (ch?: string) => this.failures.filter(([c]) => ch === undefined || c === ch).map(([, code]) => code);
}

const ids = (reqs: { json: unknown }[]) => reqs.map((r) => (r.json as { id: string }).id);
const gaps = (reqs: { at: number }[]) => reqs.slice(1).map((r, i) => r.at - reqs[i]!.at);
/** Gaps between send starts on the test clock (x-sent-at): pacing is decided when a send starts. */
const startGaps = (reqs: { headers: Record<string, unknown> }[]) => gaps(reqs.map((r) => ({ at: Number(r.headers['x-sent-at']) })));

let receiver: Receiver;
let clock: VirtualClock;
let dir: string;
const open: Outbox[] = [];

beforeEach(async () => {
  clock = new VirtualClock();
  receiver = await startReceiver({ now: clock.now });
  dir = await mkdtemp(path.join(tmpdir(), 'ksw-outbox-'));
});
afterEach(async () => {
  for (const o of open.splice(0)) await o.stop();
  await receiver.stop();
  await rm(dir, { recursive: true, force: true });
});

async function makeOutbox(over: Partial<OutboxOptions> & { store: StateStore }): Promise<Outbox> {
  const o = await Outbox.open({
    notifiers: [httpTestNotifier({ id: 'webhook', url: `${receiver.url}/webhook` })],
    // A generous send timeout: on a loaded machine a short one times out answered sends (a retry, a duplicate).
    limit: 1000, clock, sendTimeoutMs: 2_000, stopTimeoutMs: 300, ...over,
  });
  open.push(o);
  return o;
}

describe('Outbox: delivery', () => {
  it('delivers every notification once, FIFO per channel while nothing fails, paced to each channel, with the id as idempotency key', async () => {
    const c = new Counters();
    const outbox = await makeOutbox({
      store: await FileStateStore.open({ dir }),
      notifiers: [
        httpTestNotifier({ id: 'slack', type: 'slack', url: `${receiver.url}/slack`, minIntervalMs: 1000, now: clock.now }),
        httpTestNotifier({ id: 'pagerduty', type: 'pagerduty', url: `${receiver.url}/pd`, accepts: (n) => n.severity === 'critical' }),
      ],
      observer: c.observer,
      log: pino({ level: 'silent' }),
    });
    const r = await outbox.enqueue(Array.from({ length: 12 }, (_, i) => alert(i)));
    expect(r).toEqual({ queued: 12 + 4, duplicates: 0, unrouted: 0, dropped: 0 });
    expect(outbox.pending()).toBe(16);
    outbox.start();
    await outbox.whenIdle();
    expect(ids(receiver.delivered('/slack'))).toEqual(Array.from({ length: 12 }, (_, i) => `n-${i}`));
    expect(ids(receiver.delivered('/pd'))).toEqual(['n-0', 'n-3', 'n-6', 'n-9']);
    expect(receiver.requests.map((q) => q.headers['idempotency-key'])).toEqual(ids(receiver.requests));
    expect(Math.min(...startGaps(receiver.forPath('/slack')))).toBeGreaterThanOrEqual(1000);
    expect(c.delivered).toEqual(new Map([['slack', 12], ['pagerduty', 4]]));
    expect(c.failures).toEqual([]);
    expect(c.pendingSeen.at(-1)).toBe(0);
    expect(outbox.deliveryLog('pagerduty').map((d) => [d.id, d.outcome, d.status])).toEqual([['n-0', 'delivered', 200], ['n-3', 'delivered', 200], ['n-6', 'delivered', 200], ['n-9', 'delivered', 200]]);
  });

  it('persists before enqueue() returns: a new instance on the same stateDir has every entry', async () => {
    const store = await FileStateStore.open({ dir });
    const first = await makeOutbox({ store });
    await first.enqueue([alert(1), alert(2)]);
    // No stop(), no start(): as if the process died right after enqueue returned.
    const second = await makeOutbox({ store: await FileStateStore.open({ dir }) });
    expect(second.pending()).toBe(2);
    second.start();
    await second.whenIdle();
    expect(ids(receiver.delivered())).toEqual(['n-1', 'n-2']);
  });

  it('sends a notification enqueued twice with the same id once, whether still queued or already delivered', async () => {
    const outbox = await makeOutbox({ store: new MemoryStateStore() });
    expect((await outbox.enqueue([alert(1), alert(1)])).duplicates).toBe(1);
    expect((await outbox.enqueue([alert(1)])).duplicates).toBe(1);
    outbox.start();
    await outbox.whenIdle();
    const replay = await outbox.enqueue([alert(1), alert(2)]); // e.g. the alert engine replaying a poll after a crash
    expect(replay).toMatchObject({ queued: 1, duplicates: 1 });
    await outbox.whenIdle();
    expect(ids(receiver.requests)).toEqual(['n-1', 'n-2']);
  });

  it('the delivered-id log survives a restart, so a replay after a crash is still deduplicated', async () => {
    const first = await makeOutbox({ store: await FileStateStore.open({ dir }) });
    await first.enqueue([alert(1)]);
    first.start();
    await first.whenIdle();
    await first.stop();
    const second = await makeOutbox({ store: await FileStateStore.open({ dir }) });
    second.start();
    expect(await second.enqueue([alert(1)])).toMatchObject({ queued: 0, duplicates: 1 });
    expect(receiver.requests).toHaveLength(1);
  });

  it('counts notifications no channel accepts', async () => {
    const outbox = await makeOutbox({ store: new MemoryStateStore(), notifiers: [httpTestNotifier({ id: 'pd', url: receiver.url, accepts: (n) => n.severity === 'critical' })] });
    expect(await outbox.enqueue([alert(1), alert(3)])).toEqual({ queued: 1, duplicates: 0, unrouted: 1, dropped: 0 });
  });

  it('rejects two channels with the same id', async () => {
    await expect(Outbox.open({ store: new MemoryStateStore(), limit: 10, notifiers: [httpTestNotifier({ id: 'x', url: receiver.url }), httpTestNotifier({ id: 'x', url: receiver.url })] }))
      .rejects.toThrow(/two channels share the id "x"/);
  });
});

describe('Outbox: failures', () => {
  it('retries 5xx with growing, jittered backoff capped at maxMs, then delivers: a channel failing on every message is backed off as a whole', async () => {
    const c = new Counters();
    const outbox = await makeOutbox({ store: new MemoryStateStore(), observer: c.observer });
    let failUntil = clock.now() + 20 * 60_000;
    receiver.setRespond(() => (clock.now() < failUntil ? { status: 503 } : { status: 200 }));
    await outbox.enqueue([alert(1), alert(2)]);
    outbox.start();
    await outbox.whenIdle();
    const failed = receiver.requests.filter((q) => q.status === 503);
    const g = gaps(failed);
    // The first failure may be one bad message: the next goes at once. From the second failure in a
    // row on, the channel waits between half and all of 1s, 2s, 4s, ... capped at 5 minutes.
    expect(g[0]).toBeLessThan(1000);
    g.slice(1).forEach((gap, i) => {
      const step = Math.min(300_000, 1000 * 2 ** i);
      expect(gap).toBeGreaterThanOrEqual(step / 2);
      expect(gap).toBeLessThanOrEqual(300_050);
    });
    expect(Math.max(...g)).toBeGreaterThan(150_000);
    // One request per backoff step for the whole channel, not one per queued message: 20 minutes of 503s cost about 15 requests.
    expect(failed.length).toBeLessThan(25);
    // Both messages were tried (the channel probes with whichever is due), and both arrive.
    expect(new Set(ids(failed))).toEqual(new Set(['n-1', 'n-2']));
    expect(ids(receiver.delivered()).sort()).toEqual(['n-1', 'n-2']);
    expect(c.codes().every((code) => code === 'http_503')).toBe(true);
    expect(c.failures.length).toBe(failed.length);
    expect(outbox.deadLetterList()).toEqual([]);
    failUntil = 0;
  });

  it('honours Retry-After on 429: the next attempt is not before it', async () => {
    const c = new Counters();
    const outbox = await makeOutbox({ store: new MemoryStateStore(), observer: c.observer });
    let n = 0;
    receiver.setRespond(() => (++n <= 3 ? { status: 429, headers: { 'retry-after': '45' } } : { status: 200 }));
    await outbox.enqueue([alert(1)]);
    outbox.start();
    await outbox.whenIdle();
    expect(receiver.requests).toHaveLength(4);
    for (const gap of gaps(receiver.requests)) expect(gap).toBeGreaterThanOrEqual(45_000);
    expect(c.codes()).toEqual(['http_429', 'http_429', 'http_429']);
  });

  it('times out a hanging receiver and retries until it answers; the second message does not wait behind the first', async () => {
    const c = new Counters();
    const outbox = await makeOutbox({ store: new MemoryStateStore(), observer: c.observer, sendTimeoutMs: 150 });
    let n = 0;
    receiver.setRespond(() => (++n <= 2 ? 'hang' : { status: 200 }));
    await outbox.enqueue([alert(1), alert(2)]);
    outbox.start();
    await outbox.whenIdle();
    // (Two hangs; a loaded machine may time out a slow answer too.)
    expect(c.codes().length).toBeGreaterThanOrEqual(2);
    expect(new Set(c.codes())).toEqual(new Set(['timeout']));
    // n-1 hangs, then n-2 is tried at once (not held behind n-1's backoff) and hangs too; both then arrive.
    expect(ids(receiver.requests).slice(0, 2)).toEqual(['n-1', 'n-2']);
    expect(ids(receiver.delivered()).sort()).toEqual(['n-1', 'n-2']);
  });

  it('keeps retrying refused connections (closed port) and delivers once the receiver is back', async () => {
    const c = new Counters();
    const outbox = await makeOutbox({ store: new MemoryStateStore(), observer: c.observer });
    await receiver.stop();
    await outbox.enqueue([alert(1), alert(2), alert(3)]);
    outbox.start();
    await receiver.until(() => c.failures.length >= 5, 10_000, 'five refused attempts');
    await receiver.restart();
    await outbox.whenIdle();
    expect(new Set(c.codes())).toEqual(new Set(['network']));
    // Three stores: each delivered once (across stores the order after an outage is the order the probes went).
    expect(ids(receiver.delivered()).sort()).toEqual(['n-1', 'n-2', 'n-3']);
  });

  it('dead-letters a non-retryable 4xx after recording it (kept, counted, scrubbed, logged, reported) and moves on', async () => {
    const c = new Counters();
    const dead: DeadLetter[] = [];
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    const outbox = await makeOutbox({ store: new MemoryStateStore(), observer: { ...c.observer, onDeadLetter: (d) => dead.push(d) }, log });
    receiver.setRespond((q) => ((q.json as { id: string }).id === 'n-2' ? { status: 400 } : { status: 200 }));
    await outbox.enqueue([alert(1), alert(2), alert(3)]);
    outbox.start();
    await outbox.whenIdle();
    expect(ids(receiver.requests)).toEqual(['n-1', 'n-2', 'n-3']);
    expect(c.dropped).toEqual([]);
    expect(c.codes()).toEqual(['http_400']);
    expect(dead).toEqual([expect.objectContaining({ channel: 'webhook', id: 'n-2', reason: 'rejected', attempts: 1, lastStatus: 400, lastError: 'HTTP 400', alertKey: alert(2).alertKey, storeId: alert(2).subject.storeId })]);
    expect(outbox.deadLetterList()).toEqual(dead);
    expect(outbox.deadLetterTotals()).toEqual({ webhook: 1 });
    expect(outbox.deliveryLog('webhook').find((d) => d.id === 'n-2')).toMatchObject({ outcome: 'dead_lettered', status: 400, error: 'HTTP 400', attempts: 1 });
    expect(lines.find((l) => l.msg === 'notification rejected by the channel; dead-lettered')).toMatchObject({ level: 50, channel: 'webhook', notification: 'n-2', reason: 'rejected' });
  });

  it('a notifier that throws or ignores its abort signal cannot wedge the channel', async () => {
    let calls = 0;
    const wedged = {
      ...httpTestNotifier({ id: 'odd', url: receiver.url }),
      send: async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        if (calls === 2) return new Promise<never>(() => {});
        return { ok: true as const, status: 202 };
      },
    };
    const c = new Counters();
    const outbox = await makeOutbox({ store: new MemoryStateStore(), notifiers: [wedged], observer: c.observer, sendTimeoutMs: 100 });
    await outbox.enqueue([alert(1)]);
    outbox.start();
    await outbox.whenIdle();
    expect(c.codes()).toEqual(['network', 'timeout']);
    expect(c.delivered.get('odd')).toBe(1);
  });
});

describe('Outbox: caps', () => {
  it('caps the queue at the limit, dropping the oldest first and counting them', async () => {
    const c = new Counters();
    const store = new MemoryStateStore();
    const outbox = await makeOutbox({ store, observer: c.observer, limit: 10 });
    const r1 = await outbox.enqueue(Array.from({ length: 8 }, (_, i) => alert(i)));
    const r2 = await outbox.enqueue(Array.from({ length: 17 }, (_, i) => alert(8 + i)));
    expect([r1.dropped, r2.dropped]).toEqual([0, 15]);
    expect(outbox.pending()).toBe(10);
    expect(c.dropped).toHaveLength(15);
    expect(c.dropped.every(([reason]) => reason === 'overflow')).toBe(true);
    outbox.start();
    await outbox.whenIdle();
    expect(ids(receiver.requests)).toEqual(Array.from({ length: 10 }, (_, i) => `n-${15 + i}`));
    // The totals are persisted: a restart still reports them.
    await outbox.stop();
    const again = await makeOutbox({ store });
    expect(again.droppedTotals()).toEqual({ overflow: 15, channel_removed: 0 });
    // A dropped id is remembered too: replaying it does not resurrect it.
    expect(await again.enqueue([alert(0)])).toMatchObject({ queued: 0, duplicates: 1 });
  });

  it('bounds the delivered-id log per channel', async () => {
    const outbox = await makeOutbox({ store: new MemoryStateStore(), deliveryLogLimit: 5 });
    await outbox.enqueue(Array.from({ length: 12 }, (_, i) => alert(i)));
    outbox.start();
    await outbox.whenIdle();
    expect(outbox.deliveryLog('webhook').map((d) => d.id)).toEqual(['n-7', 'n-8', 'n-9', 'n-10', 'n-11']);
    // An id older than the log is treated as new (documented limit of the dedup window).
    expect((await outbox.enqueue([alert(0), alert(11)]))).toMatchObject({ queued: 1, duplicates: 1 });
  });

  it('applies a lowered limit when it loads an existing outbox', async () => {
    const store = new MemoryStateStore();
    const big = await makeOutbox({ store, limit: 100 });
    await big.enqueue(Array.from({ length: 30 }, (_, i) => alert(i)));
    const c = new Counters();
    const small = await makeOutbox({ store, limit: 10, observer: c.observer });
    expect(small.pending()).toBe(10);
    expect(c.dropped).toHaveLength(20);
  });
});

describe('Outbox: restarts and crashes', () => {
  it('resumes delivery from the persisted outbox after stop(), in order, nothing twice', async () => {
    const notifier = () => [httpTestNotifier({ id: 'slack', type: 'slack', url: `${receiver.url}/slack`, minIntervalMs: 1000, now: clock.now })];
    const first = await makeOutbox({ store: await FileStateStore.open({ dir }), notifiers: notifier() });
    await first.enqueue(Array.from({ length: 20 }, (_, i) => alert(i)));
    first.start();
    await receiver.until(() => receiver.delivered().length >= 7, 10_000, 'seven deliveries');
    await first.stop();
    const sentBefore = receiver.delivered().length;
    expect(first.pending()).toBe(20 - sentBefore);

    const second = await makeOutbox({ store: await FileStateStore.open({ dir }), notifiers: notifier() });
    expect(second.pending()).toBe(20 - sentBefore);
    expect(second.resumedInFlight()).toBe(0);
    second.start();
    await second.whenIdle();
    expect(ids(receiver.delivered())).toEqual(Array.from({ length: 20 }, (_, i) => `n-${i}`));
    expect(Math.min(...startGaps(receiver.requests))).toBeGreaterThanOrEqual(1000); // pacing survives the restart too
  });

  it('crash between send and record: re-sent after restart with the SAME idempotency key', async () => {
    // A store that "dies" (never completes another write) the moment the receiver has the request,
    // i.e. after the in-flight marker landed and before the delivery could be recorded.
    const inner = await FileStateStore.open({ dir });
    let dead = false;
    const dying: StateStore = {
      read: (n, p) => inner.read(n, p),
      write: (n: StateDocName, v) => (dead ? new Promise<void>(() => {}) : inner.write(n, v)),
      close: () => inner.close(),
    };
    receiver.setRespond((q) => {
      if ((q.json as { id: string }).id === 'n-2') dead = true;
      return { status: 200 };
    });
    const first = await Outbox.open({ store: dying, notifiers: [httpTestNotifier({ id: 'webhook', url: `${receiver.url}/webhook` })], limit: 100, clock, sendTimeoutMs: 300 });
    await first.enqueue([alert(1), alert(2), alert(3)]);
    first.start();
    await receiver.until(() => dead, 10_000, 'the crash point');

    const second = await makeOutbox({ store: await FileStateStore.open({ dir }) });
    expect(second.resumedInFlight()).toBe(1);
    second.start();
    await second.whenIdle();
    expect(ids(receiver.requests)).toEqual(['n-1', 'n-2', 'n-2', 'n-3']);
    const n2 = receiver.requests.filter((q) => (q.json as { id: string }).id === 'n-2');
    expect(n2.map((q) => q.headers['idempotency-key'])).toEqual(['n-2', 'n-2']);
    // A receiver deduplicating on the key sees each notification exactly once.
    expect([...new Set(receiver.requests.map((q) => q.headers['idempotency-key']))]).toEqual(['n-1', 'n-2', 'n-3']);
  });

  it('stop() lets the send under way finish within stopTimeoutMs, then aborts it and keeps the entry', async () => {
    receiver.setRespond(() => 'hang');
    const store = await FileStateStore.open({ dir });
    const outbox = await makeOutbox({ store, sendTimeoutMs: 60_000, stopTimeoutMs: 200 });
    await outbox.enqueue([alert(1)]);
    outbox.start();
    await receiver.until(() => receiver.requests.length === 1, 10_000, 'the hanging request');
    const t0 = Date.now();
    await outbox.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(outbox.pending()).toBe(1);
    receiver.setRespond(() => ({ status: 200 }));
    const again = await makeOutbox({ store: await FileStateStore.open({ dir }) });
    expect(again.resumedInFlight()).toBe(0); // stop() recorded the interrupted send
    again.start();
    await again.whenIdle();
    expect(ids(receiver.delivered())).toEqual(['n-1']);
  });

  it('drops entries of a channel that is no longer configured, counted', async () => {
    const store = new MemoryStateStore();
    const before = await makeOutbox({ store, notifiers: [httpTestNotifier({ id: 'old', url: receiver.url }), httpTestNotifier({ id: 'webhook', url: receiver.url })] });
    await before.enqueue([alert(1), alert(2)]);
    const c = new Counters();
    const after = await makeOutbox({ store, observer: c.observer });
    expect(after.pending()).toBe(2);
    expect(c.dropped).toEqual([['channel_removed', 'old'], ['channel_removed', 'old']]);
    expect(after.droppedTotals().channel_removed).toBe(2);
  });

  it('a corrupt outbox file is set aside and reported; the outbox starts empty instead of crash-looping', async () => {
    const corrupt: CorruptReport[] = [];
    const store = await FileStateStore.open({ dir, observer: { onCorrupt: (r) => corrupt.push(r) } });
    const first = await makeOutbox({ store });
    await first.enqueue([alert(1)]);
    const { writeFile, readFile } = await import('node:fs/promises');
    const text = await readFile(store.pathOf('outbox'), 'utf8');
    await writeFile(store.pathOf('outbox'), text.replace(/"nextSeq":\d+/, '"nextSeq":"one"'));
    const second = await makeOutbox({ store });
    expect(second.pending()).toBe(0);
    expect(corrupt).toEqual([expect.objectContaining({ name: 'outbox', reason: expect.stringMatching(/shape check failed/) })]);
    await second.enqueue([alert(2)]);
    second.start();
    await second.whenIdle();
    expect(ids(receiver.requests)).toEqual(['n-2']);
  });
});

describe('Outbox: drain', () => {
  it('drain(timeout) starts delivery and reports whether everything went out (delivered or dead-lettered)', async () => {
    // Limits out of reach: virtual time runs fast, and a failing entry must still be pending when drain() gives up.
    const outbox = await makeOutbox({ store: new MemoryStateStore(), maxAttempts: 1_000_000, maxAgeMs: 1e15 });
    await outbox.enqueue([alert(1), alert(2)]);
    expect(await outbox.drain(60_000)).toBe(true);
    expect(receiver.delivered()).toHaveLength(2);
    receiver.setRespond(() => ({ status: 500 }));
    await outbox.enqueue([alert(3)]);
    const t0 = Date.now();
    expect(await outbox.drain(300)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(outbox.pending()).toBe(1);
  });
});

describe('Outbox: time', () => {
  // A manual clock: time moves only when the test advances it, so each step is exact.
  let manual: ManualClock;
  let rx: Receiver;
  beforeEach(async () => {
    manual = new ManualClock(Date.UTC(2026, 0, 1));
    rx = await startReceiver({ now: manual.now });
  });
  afterEach(async () => { await rx.stop(); });
  const settle = async (o: Outbox) => {
    for (let quiet = 0; quiet < 4;) {
      await new Promise((r) => setImmediate(r));
      if (o.view().entries.some((e) => e.inFlight) || rx.requests.some((q) => q.status === null)) { quiet = 0; await new Promise((r) => setTimeout(r, 2)); } else quiet++;
    }
  };
  const run = async (o: Outbox, seconds: number, each?: (second: number) => void) => {
    for (let i = 1; i <= seconds; i++) { each?.(i); manual.advance(1000); await settle(o); }
  };
  const minute = { baseMs: 60_000, maxMs: 60_000, factor: 1 };
  const open1 = async (over: Partial<OutboxOptions> & { store: StateStore }) => {
    const o = await Outbox.open({ notifiers: [httpTestNotifier({ id: 'webhook', url: `${rx.url}/webhook` })], limit: 100, clock: manual, sendTimeoutMs: 2000, stopTimeoutMs: 300, ...over });
    open.push(o);
    return o;
  };

  it('schedules retries on monotonic time: an hour of wall-clock jump either way neither fires them at once nor parks them, nor ages entries', async () => {
    let offset = 0;
    // Wall clock = manual time plus a jump; monotonic = manual time (what the receiver stamps).
    const jumping = { now: () => manual.now() + offset, monotonic: manual.now, sleep: manual.sleep };
    const outbox = await open1({ store: new MemoryStateStore(), clock: jumping, backoff: minute, maxAgeMs: 10 * 60_000, maxAttempts: 100 });
    rx.setRespond(() => ({ status: 500 }));
    await outbox.enqueue([alert(1), alert(2)]);
    outbox.start();
    await settle(outbox);
    await run(outbox, 540, (sec) => {
      if (sec === 120) offset = 3_600_000;
      if (sec === 300) offset = -3_600_000;
    });
    const byId = (id: string) => rx.requests.filter((q) => (q.json as { id: string }).id === id);
    for (const id of ['n-1', 'n-2']) {
      // Each retry between half its minute and its minute plus the channel's own minute of backoff: never at once, never an hour late.
      expect(byId(id).length).toBeGreaterThanOrEqual(3);
      for (const gap of gaps(byId(id))) {
        expect(gap).toBeGreaterThanOrEqual(30_000);
        expect(gap).toBeLessThanOrEqual(121_000);
      }
    }
    // Nine minutes of monotonic time: under the 10-minute age limit, whatever the wall clock said.
    expect(outbox.deadLetterList()).toEqual([]);
    // With no jump, the age limit does apply: one more minute and the next failure of each is its last.
    await run(outbox, 180);
    expect(outbox.deadLetterList().map((d) => [d.id, d.reason]).sort()).toEqual([['n-1', 'max_age'], ['n-2', 'max_age']]);
  });

  it("keeps each entry's schedule, attempts and last error across a restart (persisted as wall-clock time)", async () => {
    const store = await FileStateStore.open({ dir });
    const first = await open1({ store, backoff: minute });
    rx.setRespond(() => ({ status: 503 }));
    await first.enqueue([alert(1)]);
    first.start();
    await settle(first);
    await first.stop();
    expect(rx.requests).toHaveLength(1);
    const failedAt = rx.requests[0]!.at;
    rx.setRespond(() => ({ status: 200 }));
    const second = await open1({ store: await FileStateStore.open({ dir }), backoff: minute });
    const [entry] = second.view().entries;
    expect(entry).toMatchObject({ id: 'n-1', attempts: 1, lastStatus: 503, lastError: 'HTTP 503', inFlight: false });
    const dueIn = Date.parse(entry!.nextAttemptAt) - failedAt;
    expect(dueIn).toBeGreaterThanOrEqual(30_000);
    expect(dueIn).toBeLessThanOrEqual(60_000);
    second.start();
    await run(second, 29);
    expect(rx.requests).toHaveLength(1); // not before its time
    await run(second, 31);
    expect(rx.requests).toHaveLength(2);
    expect(rx.requests[1]!.at - failedAt).toBe(Math.ceil(dueIn / 1000) * 1000);
  });

  it('a persisted due time far ahead (written by a wall clock that was a month fast) is honoured at most as the longest delay', async () => {
    const store = new MemoryStateStore();
    const fast = { now: () => manual.now() + 30 * 86_400_000, monotonic: manual.now, sleep: manual.sleep };
    const first = await open1({ store, clock: fast, backoff: minute });
    rx.setRespond(() => ({ status: 503 }));
    await first.enqueue([alert(1)]);
    first.start();
    await settle(first);
    await first.stop();
    rx.setRespond(() => ({ status: 200 }));
    const restartedAt = manual.now();
    const second = await open1({ store, backoff: minute, maxRetryAfterMs: 120_000 });
    second.start();
    await run(second, 121);
    // Written as "in 30 days and a minute"; honoured as at most the longest delay the outbox chooses (here the 2-minute Retry-After cap).
    expect(rx.requests).toHaveLength(2);
    expect(rx.requests[1]!.at - restartedAt).toBeLessThanOrEqual(120_000);
  });
});

describe('Outbox: dead letters and upgrades', () => {
  it('caps the kept dead letters (oldest forgotten first) while the per-channel totals keep counting; a revoked channel (404 to all) is backed off as it dead-letters', async () => {
    const dead: string[] = [];
    const outbox = await makeOutbox({ store: new MemoryStateStore(), deadLetterLimit: 10, observer: { onDeadLetter: (d) => dead.push(d.id) } });
    receiver.setRespond(() => ({ status: 404, body: 'no_service' }));
    await outbox.enqueue(Array.from({ length: 25 }, (_, i) => alert(i)));
    outbox.start();
    await outbox.whenIdle();
    expect(dead).toHaveLength(25);
    expect(outbox.deadLetterTotals()).toEqual({ webhook: 25 });
    expect(outbox.deadLetterList().map((d) => d.id)).toEqual(dead.slice(-10));
    expect(outbox.deadLetterList().every((d) => d.reason === 'rejected' && d.attempts === 1 && d.lastStatus === 404)).toBe(true);
    // Each message tried once (4xx is final), but not all at once: the channel backs off as they fail.
    expect(receiver.requests).toHaveLength(25);
    expect(receiver.requests.at(-1)!.at - receiver.requests[0]!.at).toBeGreaterThan(60_000);
    expect(outbox.view(3).deadLetters.map((d) => d.id)).toEqual(dead.slice(-3).reverse());
  });

  it('loads an outbox written before dead letters existed (no deadLetters, a "rejected" drop count and log outcome) without setting it aside', async () => {
    const store = new MemoryStateStore();
    const n = alert(7);
    await store.write('outbox', {
      nextSeq: 3,
      notifications: [n],
      entries: [{ seq: 2, channel: 'webhook', id: n.id, enqueuedAt: clock.now() - 1000, attempts: 2, nextAttemptAt: clock.now(), inFlight: false, lastError: 'HTTP 503', lastStatus: 503 }],
      log: { webhook: [{ id: 'n-old', at: clock.now() - 5000, outcome: 'rejected', attempts: 1, status: 400, error: 'HTTP 400' }] },
      lastSendAt: {},
      dropped: { rejected: 1, overflow: 2, channel_removed: 0 },
    });
    const outbox = await makeOutbox({ store });
    expect(store.quarantined).toEqual([]);
    expect(outbox.pending()).toBe(1);
    expect(outbox.droppedTotals()).toEqual({ overflow: 2, channel_removed: 0 });
    expect((await outbox.enqueue([alert(0, { id: 'n-old' })])).duplicates).toBe(1);
    outbox.start();
    await outbox.whenIdle();
    expect(ids(receiver.delivered())).toEqual(['n-7']);
  });
});

describe('Outbox: channel health after a poison message', () => {
  const sentAt = (r: { at: number }) => r.at;

  it('a poison entry\'s retries do not count towards the channel backoff: the next entry that fails once holds the channel ~1 s, not the 300 s cap', async () => {
    const outbox = await makeOutbox({ store: new MemoryStateStore(), maxAttempts: 1000 });
    // n-0 is refused (500) on every attempt; n-1 on its first attempt only; n-2 is fine.
    receiver.setRespond((req) => {
      const id = (JSON.parse(req.body) as { id: string }).id;
      if (id === 'n-0') return { status: 500, body: 'poison' };
      if (id === 'n-1' && receiver.requests.filter((r) => (r.json as { id: string }).id === 'n-1').length <= 1) return { status: 500, body: 'once' };
      return { status: 200, body: 'ok' };
    });
    await outbox.enqueue([alert(0)]);
    outbox.start();
    await receiver.until(() => receiver.requests.length >= 9, 20_000, 'the poison retried 9 times');
    await outbox.enqueue([alert(1), alert(2)]);
    await receiver.until(() => receiver.delivered().some((r) => (r.json as { id: string }).id === 'n-2'), 20_000, 'n-2 delivered');
    const reqs = receiver.requests.map((r) => ({ id: (r.json as { id: string }).id, at: sentAt(r) }));
    const firstN1 = reqs.find((r) => r.id === 'n-1')!;
    const n2 = reqs.find((r) => r.id === 'n-2')!;
    // Before: the streak counted the poison's 9 failures and held the whole channel for backoffDelay(9) (>= 150 s).
    expect(n2.at - firstN1.at).toBeLessThan(5_000);
  });

  it('entries that are gone (dead-lettered) stop holding the channel: a later entry failing alone does not keep the whole channel backed off', async () => {
    const outbox = await makeOutbox({ store: new MemoryStateStore(), maxAttempts: 1000 });
    // n-0 and n-1 are refused for good (404: dead-lettered at once): the channel looked down. Then n-2
    // fails again and again alone (500): a poison message, which must not hold the channel for n-3.
    receiver.setRespond((req) => {
      const id = (JSON.parse(req.body) as { id: string }).id;
      if (id === 'n-0' || id === 'n-1') return { status: 404, body: 'gone' };
      return id === 'n-2' ? { status: 500, body: 'poison' } : { status: 200, body: 'ok' };
    });
    await outbox.enqueue([alert(0), alert(1)]);
    outbox.start();
    await outbox.whenIdle();
    expect(outbox.deadLetterTotals()).toEqual({ webhook: 2 });
    await outbox.enqueue([alert(2)]);
    await receiver.until(() => receiver.requests.filter((r) => (r.json as { id: string }).id === 'n-2').length >= 8, 20_000, 'n-2 retried 8 times');
    const before = clock.now();
    await outbox.enqueue([alert(3)]);
    await receiver.until(() => receiver.delivered().some((r) => (r.json as { id: string }).id === 'n-3'), 20_000, 'n-3 delivered');
    const n3 = receiver.delivered().find((r) => (r.json as { id: string }).id === 'n-3')!;
    // Before: the dead entries kept the channel "failing on several entries", so each n-2 retry pushed
    // the whole-channel hold further (up to the 300 s cap) and n-3 waited behind it.
    expect(sentAt(n3) - before).toBeLessThan(5_000);
  });
});
