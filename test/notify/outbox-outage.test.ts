// Ten minutes (virtual) of a failing receiver while 50 incidents happen: 500s, then 429 with
// Retry-After, then hanging requests (timeouts), then a closed port (refused connections), then
// recovery. Every notification must arrive, in order per store on every channel, none twice, with
// Slack paced to one message per second and Retry-After respected. (Across stores the order may
// change: a message that fails is retried on its own schedule while the others go.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertNotification } from '../../src/model.js';
import { Outbox } from '../../src/notify/outbox.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { startReceiver, type Reply } from '../helpers/receiver.js';
import { httpTestNotifier } from '../helpers/http-test-notifier.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

const INCIDENTS = 50;
const MIN = 60_000;

function notification(incident: number, kind: 'firing' | 'resolved'): AlertNotification {
  const store = incident % 12;
  const storeId = `cks-${String(store).padStart(17, '0')}`;
  return {
    id: `inc-${incident}:${kind}`, kind, severity: incident % 4 === 0 ? 'critical' : 'warning', condition: 'FAILED',
    alertKey: `store:111111111111/eu-west-1/${storeId}:FAILED`,
    subject: { accountId: '111111111111', accountName: 'prod', region: 'eu-west-1', storeId, storeName: `store-${store}`, storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: 'cluster-x', details: {} },
    guidance: { title: 't', summary: 's', cause: 'c', steps: [], commands: [], docs: [], runbookAnchor: 'x' },
    since: incident, createdAt: incident,
  };
}

let dir: string;
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

describe('outbox through a ten-minute receiver outage', () => {
  it('delivers everything after recovery: in order, once, paced, Retry-After honoured', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ksw-outage-'));
    const clock = new VirtualClock();
    const t0 = clock.now();
    const receiver = await startReceiver({ now: clock.now });
    let mode: 'fail500' | 'throttle' | 'hang' | 'ok' = 'fail500';
    const answered: Record<string, number> = { 500: 0, 429: 0, hang: 0 };
    receiver.setRespond((): Reply => {
      switch (mode) {
        case 'fail500': answered[500]!++; return { status: 500 };
        case 'throttle': answered[429]!++; return { status: 429, headers: { 'retry-after': '20' } };
        case 'hang': answered.hang!++; return 'hang';
        default: return { status: 200 };
      }
    });
    const failures: [string, string][] = [];
    const logs: Record<string, unknown>[] = [];
    const outbox = await Outbox.open({
      store: await FileStateStore.open({ dir }),
      notifiers: [
        httpTestNotifier({ id: 'slack', type: 'slack', url: `${receiver.url}/slack`, minIntervalMs: 1000 }),
        httpTestNotifier({ id: 'pagerduty', type: 'pagerduty', url: `${receiver.url}/pd`, accepts: (n) => n.severity === 'critical' }),
        httpTestNotifier({ id: 'webhook', url: `${receiver.url}/webhook` }),
      ],
      // stallMs above sendTimeoutMs: sends stay one at a time per channel, so the arrival times the
      // receiver stamps on the virtual clock (which runs on while real I/O is under way) show the pacing.
      limit: 10_000, clock, sendTimeoutMs: 150, stopTimeoutMs: 300, stallMs: 1_000,
      observer: { onFailure: (ch, code) => failures.push([ch, code]) },
      log: pino({ level: 'warn' }, { write: (s: string) => { logs.push(JSON.parse(s)); } }),
    });
    outbox.start();

    // 50 incidents over the outage: a firing every 6 s (virtual) and its resolution a little later.
    const expected: string[] = [];
    const enqueuer = (async () => {
      for (let i = 0; i < INCIDENTS; i++) {
        const batch = [notification(i, 'firing'), ...(i >= 2 ? [notification(i - 2, 'resolved')] : [])];
        await outbox.enqueue(batch);
        expected.push(...batch.map((n) => n.id));
        await clock.sleep(6_000);
      }
      const tail = [notification(INCIDENTS - 2, 'resolved'), notification(INCIDENTS - 1, 'resolved')];
      await outbox.enqueue(tail);
      expected.push(...tail.map((n) => n.id));
    })();

    // The outage script, driven by virtual time and by what the receiver has actually seen.
    const until = (pred: () => boolean, what: string) => receiver.until(pred, 60_000, what);
    const networkFailures = () => failures.filter(([, c]) => c === 'network').length;
    await until(() => answered[500]! >= 6 && clock.now() >= t0 + 2.5 * MIN, '500 phase');
    mode = 'throttle';
    await until(() => answered[429]! >= 6 && clock.now() >= t0 + 5 * MIN, '429 phase');
    mode = 'hang';
    // Wait for the client side to give up (closing the port early would turn a timeout into a reset).
    await until(() => failures.filter(([, c]) => c === 'timeout').length >= 3 && clock.now() >= t0 + 7 * MIN, 'hang phase');
    await receiver.stop();
    await until(() => networkFailures() >= 6 && clock.now() >= t0 + 10 * MIN, 'refused phase');
    mode = 'ok';
    await receiver.restart();
    await enqueuer;
    await outbox.whenIdle();
    await outbox.stop();
    const elapsedMin = (clock.now() - t0) / MIN;

    const idsOf = (reqs: { json: unknown }[]) => reqs.map((r) => (r.json as { id: string }).id);
    const critical = new Set(expected.filter((id) => Number(/inc-(\d+)/.exec(id)![1]) % 4 === 0));
    for (const [ch, route, want] of [
      ['slack', '/slack', expected], ['webhook', '/webhook', expected], ['pagerduty', '/pd', expected.filter((id) => critical.has(id))],
    ] as const) {
      const delivered = idsOf(receiver.delivered(route));
      // Every notification, exactly once, and in enqueue order per store.
      expect([...delivered].sort(), ch).toEqual([...want].sort());
      expect(new Set(delivered).size, ch).toBe(delivered.length);
      const storeOf = (id: string) => Number(/inc-(\d+)/.exec(id)![1]) % 12;
      for (let store = 0; store < 12; store++) {
        expect(delivered.filter((id) => storeOf(id) === store), `${ch} store ${store}`).toEqual(want.filter((id) => storeOf(id) === store));
      }
      // Retry-After: the next request on the channel never comes sooner than 20 s after a 429.
      const all = receiver.forPath(route);
      all.forEach((r, i) => { if (r.status === 429 && all[i + 1]) expect(all[i + 1]!.at - r.at, ch).toBeGreaterThanOrEqual(20_000); });
    }
    const slack = receiver.forPath('/slack');
    const slackGaps = slack.slice(1).map((r, i) => r.at - slack[i]!.at);
    expect(Math.min(...slackGaps)).toBeGreaterThanOrEqual(1000);
    expect(new Set(failures.map(([, c]) => c))).toEqual(new Set(['http_500', 'http_429', 'timeout', 'network']));
    expect(logs.some((l) => /ECONNREFUSED/.test(String(l.error)))).toBe(true);
    expect(outbox.pending()).toBe(0);
    expect(outbox.droppedTotals()).toEqual({ overflow: 0, channel_removed: 0 });
    expect(outbox.deadLetterList()).toEqual([]);
    expect(elapsedMin).toBeGreaterThan(10);
    console.log(`outage: ${expected.length} notifications x 3 channels delivered after ${elapsedMin.toFixed(1)} virtual minutes; ` +
      `${receiver.requests.length} requests, failures by code ${JSON.stringify(Object.fromEntries([...new Set(failures.map(([, c]) => c))].map((c) => [c, failures.filter(([, x]) => x === c).length])))}`);
    await receiver.stop();
  }, 120_000);
});
