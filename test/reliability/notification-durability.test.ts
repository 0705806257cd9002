// Notification durability at the daemon level: the real daemon, the real Slack, PagerDuty and webhook
// notifiers and the durable outbox, against receivers that fail for ten minutes of simulated time
// (500s, then 429 + Retry-After, then hanging requests, then refused connections) while 50 incidents
// happen on ten stores. Time is a manual clock shared by the daemon's polls and the outbox (backoff,
// pacing, Retry-After); the test advances it one second at a time and lets real I/O finish in between
// (virtual time stands still while a send is under way). After recovery every notification must arrive,
// in order per store, none twice, Slack at no more than one message per second.
// (test/notify/outbox-outage.test.ts covers the outbox alone with test notifiers; this is the pipeline.)
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { createNotifiers } from '../../src/notify/index.js';
import type { Notifier } from '../../src/notify/notifier.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { BreakableBackend, fileBackend } from '../helpers/state-backends.js';
import { startReceiver, type Receiver, type RecordedRequest } from '../helpers/receiver.js';
import { slackPayloadProblems } from '../helpers/slack-limits.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { metricValue, reportFigure, startProxy, type Proxy } from './support.js';

const MIN = 60_000;
const STORES = [
  'cks-r1a0000000000001', 'cks-r1b0000000000001', 'cks-r2a0000000000001', 'cks-r2b0000000000001', 'cks-r2b0000000000002',
  'cks-r2b0000000000003', 'cks-r2b0000000000004', 'cks-r2b0000000000005', 'cks-r3a0000000000001', 'cks-r3b0000000000001',
];
const INCIDENTS_PER_STORE = 5;

let sim: RunningSimulator | undefined;
let rx: Receiver | undefined;
let proxy: Proxy | undefined;
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop(500);
  await Promise.all([proxy?.close(), rx?.close(), sim?.close()]);
});

describe('notification durability through a ten-minute outage of every channel', () => {
  it('delivers all 50 incidents on Slack, PagerDuty and the webhook after recovery: in order, once, paced', async () => {
    sim = await simulator('reliability-fleet.yaml');
    const clock = new ManualClock(Date.UTC(2026, 4, 1, 10));
    let t0 = Infinity;
    type Phase = '500' | '429' | 'hang' | 'refused' | 'ok';
    const phase = (): Phase => {
      const d = clock.now() - t0;
      return d < 0 ? 'ok' : d < 2.5 * MIN ? '500' : d < 5 * MIN ? '429' : d < 7.5 * MIN ? 'hang' : d < 10 * MIN ? 'refused' : 'ok';
    };
    interface Arrival { channel: string; at: number; answer: string; req: RecordedRequest }
    const arrivals: Arrival[] = [];
    rx = await startReceiver({
      respond: (req) => {
        const channel = req.path.startsWith('/services/') ? 'slack' : req.path.startsWith('/v2/enqueue') ? 'pagerduty' : 'webhook';
        const p = phase();
        arrivals.push({ channel, at: clock.now(), answer: p, req });
        if (p === '500') return { status: 500 };
        if (p === '429') return { status: 429, headers: { 'retry-after': '20' } };
        if (p === 'hang') return 'hang';
        return channel === 'pagerduty' ? { status: 202, body: { status: 'success' } } : { status: 200, body: 'ok' };
      },
    });
    proxy = await startProxy(rx.url);
    const config = simConfig(sim, {
      alerting: {
        // FAILED two polls in four is a flapping store (10 flips in 10 minutes); this test counts the FAILED
        // incidents' notifications, so FLAPPING is set out of reach (tested in test/alert/states-e2e.test.ts).
        confirmations: 2, groupThreshold: 100, flapping: { changes: 100, window: '10m' },
        channels: [
          { type: 'slack', webhookUrl: `${proxy.url}/services/T000/B000/durability`, minSeverity: 'warning' },
          { type: 'pagerduty', routingKey: 'durability-routing-key', url: `${proxy.url}/v2/enqueue`, minSeverity: 'critical' },
          { type: 'webhook', url: `${proxy.url}/hook`, minSeverity: 'warning' },
        ],
      },
    });
    // The real notifiers, wrapped only to know when a send is under way (virtual time waits for it).
    let inFlight = 0;
    const notifiers: Notifier[] = createNotifiers(config.alerting.channels).map((n) => ({
      id: n.id, type: n.type, minIntervalMs: n.minIntervalMs,
      accepts: (x) => n.accepts(x), render: (x) => n.render(x),
      send: async (x, signal) => { inFlight++; try { return await n.send(x, signal); } finally { inFlight--; } },
    }));
    // The real file backend, wrapped only to know when a write is under way (virtual time waits for it too).
    const store = new BreakableBackend(await fileBackend(tempDir('kw-durability-')));
    // stallMs above sendTimeoutMs: sends stay one at a time per channel (this test is about an outage, not
    // a stalled send), so the arrival times the receiver stamps on the manual clock show the pacing.
    daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, serve: true, notifiers, backend: store, now: clock.now, outbox: { clock, sendTimeoutMs: 150, stopTimeoutMs: 300, stallMs: 1_000 } });
    await daemon.start();
    const outbox = daemon.alerts.outbox;

    const settle = async () => {
      for (let quiet = 0; quiet < 4;) {
        await new Promise((r) => setImmediate(r));
        if (inFlight > 0 || store.writing > 0) { quiet = 0; await new Promise((r) => setTimeout(r, 2)); } else quiet++;
      }
    };
    const poll = async () => { expect(await daemon!.pollNow()).toBe(true); };

    // Baseline, then the outage begins with the incidents.
    await poll();
    clock.advance(30_000);
    await poll();
    t0 = clock.now();
    const started = new Map(STORES.map((s) => [s, 0]));
    const failedNow = new Set<string>();
    let pollNo = 0;
    let lastPoll = clock.now() - 30_000;
    let steps = 0;
    const incidentsDone = () => [...started.values()].every((n) => n === INCIDENTS_PER_STORE) && failedNow.size === 0;
    while (steps < 4 * 3600) {
      if (clock.now() - lastPoll >= 30_000) {
        // Store i is FAILED for two polls out of four (offset by i) until it has had its five incidents.
        STORES.forEach((id, i) => {
          const wantFailed = (pollNo + i) % 4 < 2;
          if (wantFailed && !failedNow.has(id) && started.get(id)! < INCIDENTS_PER_STORE && (pollNo + i) % 4 === 0) {
            started.set(id, started.get(id)! + 1);
            failedNow.add(id);
            sim!.fleet.setStore(id, { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
          } else if (!wantFailed && failedNow.has(id)) {
            failedNow.delete(id);
            sim!.fleet.setStore(id, { state: 'CONNECTED', errorCode: null });
          }
        });
        await poll();
        pollNo++;
        lastPoll = clock.now();
      }
      const p = phase();
      if (p === 'refused') await proxy.down(); else await proxy.up();
      clock.advance(1000);
      steps++;
      await settle();
      if (clock.now() - t0 > 10 * MIN && incidentsDone() && outbox.pending() === 0 && inFlight === 0) break;
    }
    const outageEnd = t0 + 10 * MIN;
    expect(incidentsDone()).toBe(true);
    expect(outbox.pending()).toBe(0);

    const ok = (a: Arrival) => a.answer === 'ok';
    const byChannel = (c: string) => arrivals.filter((a) => a.channel === c);
    const failedAttempts = Object.fromEntries(['slack', 'pagerduty', 'webhook'].map((c) => [c, byChannel(c).filter((a) => !ok(a)).length]));
    // Every channel was really tried (and failed) during each phase it could see.
    for (const c of ['slack', 'pagerduty', 'webhook']) for (const ph of ['500', '429', 'hang']) expect(byChannel(c).some((a) => a.answer === ph), `${c} tried during ${ph}`).toBe(true);
    expect(arrivals.filter((a) => a.at >= t0 + 7.5 * MIN && a.at < outageEnd)).toHaveLength(0); // refused: nothing got through

    // Webhook: each notification id delivered exactly once, per store firing/resolved x5 in order.
    const hook = byChannel('webhook').filter(ok);
    const hookIds = hook.map((a) => String(a.req.headers['x-keystore-watch-idempotency-key']));
    expect(new Set(hookIds).size).toBe(hookIds.length);
    expect(hook).toHaveLength(2 * STORES.length * INCIDENTS_PER_STORE);
    const perStore = (items: { store: string; kind: string }[]) => {
      const m = new Map<string, string[]>();
      for (const i of items) m.set(i.store, [...(m.get(i.store) ?? []), i.kind]);
      return m;
    };
    const expectedKinds = Array.from({ length: INCIDENTS_PER_STORE }, () => ['firing', 'resolved']).flat();
    const hookOrder = perStore(hook.map((a) => { const n = (a.req.json as { notification: { kind: string; subject: { storeId: string } } }).notification; return { store: n.subject.storeId, kind: n.kind }; }));
    for (const s of STORES) expect(hookOrder.get(s), `webhook order for ${s}`).toEqual(expectedKinds);

    // Slack: one message per notification (id in the context line), in order per store, valid Block Kit, paced.
    const slack = byChannel('slack').filter(ok);
    const slackIds = slack.map((a) => /· id ([^\s"]+)/.exec(a.req.body)?.[1] ?? '?');
    expect(new Set(slackIds).size).toBe(slackIds.length);
    expect(slack).toHaveLength(2 * STORES.length * INCIDENTS_PER_STORE);
    for (const a of slack) expect(slackPayloadProblems(a.req.json as Record<string, unknown>)).toEqual([]);
    const slackOrder = perStore(slack.map((a) => ({ store: /(cks-r[0-9a-z]+)/.exec(a.req.body)![1]!, kind: /RESOLVED/.test((a.req.json as { text: string }).text) ? 'resolved' : 'firing' })));
    for (const s of STORES) expect(slackOrder.get(s), `slack order for ${s}`).toEqual(expectedKinds);
    const slackGaps = byChannel('slack').slice(1).map((a, i) => a.at - byChannel('slack')[i]!.at);
    expect(Math.min(...slackGaps)).toBeGreaterThanOrEqual(1000);
    // ...and at the paced rate once it can: the 100 messages go out within twice 100 s of the first success.
    const slackSpan = slack.at(-1)!.at - slack[0]!.at;
    expect(slackSpan).toBeLessThanOrEqual(2 * slack.length * 1000);

    // PagerDuty: per dedup_key trigger/resolve alternating, five incidents, no repeated event.
    const pd = byChannel('pagerduty').filter(ok).map((a) => a.req.json as { dedup_key: string; event_action: string; routing_key: string });
    expect(pd).toHaveLength(2 * STORES.length * INCIDENTS_PER_STORE);
    const pdOrder = new Map<string, string[]>();
    for (const e of pd) pdOrder.set(e.dedup_key, [...(pdOrder.get(e.dedup_key) ?? []), e.event_action]);
    expect(pdOrder.size).toBe(STORES.length);
    for (const seq of pdOrder.values()) expect(seq).toEqual(Array.from({ length: INCIDENTS_PER_STORE }, () => ['trigger', 'resolve']).flat());

    // Retry-After honoured: after a 429 the channel waits at least 20 s before its next attempt.
    let retryAfterChecked = 0;
    for (const c of ['slack', 'pagerduty', 'webhook']) {
      const list = byChannel(c);
      list.forEach((a, i) => {
        if (a.answer !== '429' || !list[i + 1]) return;
        expect(list[i + 1]!.at - a.at, `${c} next attempt after a 429`).toBeGreaterThanOrEqual(20_000);
        retryAfterChecked++;
      });
    }
    expect(retryAfterChecked).toBeGreaterThan(0);

    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    for (const c of ['slack', 'pagerduty', 'webhook']) expect(metricValue(metrics, `keystore_watch_notification_failures_total{channel="${c}"}`)).toBeGreaterThan(0);
    expect(metricValue(metrics, 'keystore_watch_outbox_pending')).toBe(0);
    const lastDelivery = Math.max(...arrivals.filter(ok).map((a) => a.at));
    reportFigure('notification-durability', {
      incidents: STORES.length * INCIDENTS_PER_STORE, outageMinutes: 10, polls: pollNo + 2,
      delivered: { slack: slack.length, pagerduty: pd.length, webhook: hook.length }, failedAttempts,
      minSlackGapMs: Math.min(...slackGaps), slackDeliverySpanSeconds: slackSpan / 1000, retryAfterChecks: retryAfterChecked,
      drainedMinutesAfterRecovery: Number(((lastDelivery - outageEnd) / MIN).toFixed(1)), virtualSteps: steps,
    });
  }, 240_000);
});
