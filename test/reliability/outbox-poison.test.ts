// A poison message at the daemon level: the real daemon, the simulator, the real webhook notifier and
// a local receiver that refuses one store's firing forever (500), or never answers it (hangs past the
// send timeout). Later critical alerts on the same channel must still arrive, the order per store must
// hold (another store's firing before its resolved; the poisoned store's resolved not before its
// firing was given up on), and the poison must be dead-lettered at its attempt limit: counted in
// /metrics, listed in /api/v1/outbox without the channel's URL, kept across a restart, and told to
// on-call by a self-alert on the other channel (resolved once the channel delivers an hour later).
// Outbox time is a manual clock the test advances, so backoff takes no real time.
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { createNotifiers } from '../../src/notify/index.js';
import type { Notifier } from '../../src/notify/notifier.js';
import type { OutboxView } from '../../src/notify/outbox.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { BreakableBackend, fileBackend } from '../helpers/state-backends.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { startReceiver, type Receiver, type RecordedRequest } from '../helpers/receiver.js';
import { metricValue, reportFigure, waitUntil } from './support.js';

const POISON = 'cks-r2b0000000000001';
const OTHER = 'cks-r2b0000000000002';
const ONCALL_TOKEN = 'oncall-hook-token-7f3a9c';
const MAX_ATTEMPTS = 4;

let sim: RunningSimulator | undefined;
let rx: Receiver | undefined;
const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop(500);
  await Promise.all([rx?.close(), sim?.close()]);
});

interface Seen { channel: 'oncall' | 'ops'; storeId: string; kind: string; id: string; answered: string; text: string }
const seen = (r: RecordedRequest): Seen => {
  const body = r.json as { id: string; kind: string; notification: { subject: { storeId: string }; guidance: { title: string; summary: string } } };
  return {
    channel: r.path.startsWith('/oncall') ? 'oncall' : 'ops', storeId: body.notification.subject.storeId, kind: body.kind, id: body.id, answered: String(r.status),
    text: `${body.notification.guidance.title} ${body.notification.guidance.summary}`,
  };
};

describe.each([
  ['answers 500 to it forever', 500],
  ['hangs past the send timeout on it', 'hang'],
] as const)('a receiver that %s', (_what, poison) => {
  it('still delivers later critical alerts on the channel, keeps per-store order, and dead-letters the poison visibly', async () => {
    sim = await simulator('reliability-fleet.yaml');
    const clock = new ManualClock(Date.UTC(2026, 4, 1, 10));
    rx = await startReceiver({
      respond: (req) => {
        const s = seen(req);
        if (s.channel === 'oncall' && s.storeId === POISON && s.kind === 'firing') return poison === 500 ? { status: 500, body: 'poisoned' } : 'hang';
        return { status: 200 };
      },
    });
    const stateDir = tempDir('kw-poison-');
    const config = simConfig(sim, {
      stateDir,
      alerting: {
        confirmations: 2, outboxMaxAttempts: MAX_ATTEMPTS,
        channels: [
          { type: 'webhook', name: 'oncall', url: `${rx.url}/oncall/${ONCALL_TOKEN}`, minSeverity: 'warning' },
          { type: 'webhook', name: 'ops', url: `${rx.url}/ops`, minSeverity: 'warning' },
        ],
      },
    });
    // The real notifiers, wrapped only to know when a send is under way (the test advances time when none is).
    let inFlight = 0;
    const wrap = (): Notifier[] => createNotifiers(config.alerting.channels).map((n) => ({
      id: n.id, type: n.type, minIntervalMs: n.minIntervalMs, accepts: (x) => n.accepts(x), render: (x) => n.render(x),
      send: async (x, signal) => { inFlight++; try { return await n.send(x, signal); } finally { inFlight--; } },
    }));
    // The real file backend, wrapped only to know when a write is under way (time waits for it too).
    const backends: BreakableBackend[] = [];
    const openStore = async (): Promise<BreakableBackend> => {
      const b = new BreakableBackend(await fileBackend(stateDir));
      backends.push(b);
      return b;
    };
    const writing = () => backends.reduce((n, b) => n + b.writing, 0);
    const outboxOptions = { clock, sendTimeoutMs: poison === 'hang' ? 2_000 : 1_000, stopTimeoutMs: 300, stallMs: 100 };
    const start = async () => {
      const d = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, serve: true, notifiers: wrap(), backend: await openStore(), now: clock.now, outbox: outboxOptions });
      daemons.push(d);
      await d.start();
      return d;
    };
    let daemon = await start();
    const poll = async (times = 1) => { for (let i = 0; i < times; i++) expect(await daemon.pollNow()).toBe(true); };
    const arrivals = () => rx!.requests.map(seen);
    const on = (channel: Seen['channel'], storeId: string, kind?: string) => arrivals().filter((a) => a.channel === channel && a.storeId === storeId && (!kind || a.kind === kind));
    const delivered = (channel: Seen['channel'], storeId: string, kind: string) => on(channel, storeId, kind).some((a) => a.answered.startsWith('2'));

    await poll();
    // The poisoned store fails: its firing goes out on both channels; on-call's receiver refuses it.
    sim.fleet.setStore(POISON, { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
    await poll(2);
    await waitUntil(() => on('oncall', POISON, 'firing').length >= 1 && delivered('ops', POISON, 'firing'), 'the poison firing tried on oncall');

    // Another store fails while the poison is being retried (or is still hanging): its critical alert arrives anyway.
    sim.fleet.setStore(OTHER, { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
    await poll(2);
    await waitUntil(() => delivered('oncall', OTHER, 'firing'), 'the later critical firing on the poisoned channel');
    const poisonEntry = () => daemon.alerts.outbox.view().entries.find((e) => e.channel === 'oncall' && e.storeId === POISON && e.kind === 'firing');
    expect(poisonEntry(), 'the poison is still queued, not given up yet').toBeDefined();
    if (poison === 'hang') expect(poisonEntry()!.inFlight, 'the critical alert went while the poison request was still hanging').toBe(true);

    // The other store recovers: its resolved follows its firing, while the poison is still failing.
    sim.fleet.setStore(OTHER, { state: 'CONNECTED', errorCode: null });
    await poll(2);
    await waitUntil(() => delivered('oncall', OTHER, 'resolved'), 'the other store resolved');
    expect(on('oncall', OTHER).map((a) => a.kind)).toEqual(['firing', 'resolved']);
    expect(poisonEntry()).toBeDefined();

    // The poisoned store recovers too: its resolved waits behind its firing (same alert key).
    sim.fleet.setStore(POISON, { state: 'CONNECTED', errorCode: null });
    await poll(2);
    const waiting = daemon.alerts.outbox.view().entries.find((e) => e.channel === 'oncall' && e.storeId === POISON && e.kind === 'resolved');
    expect(waiting?.waitingFor).toBe(poisonEntry()!.id);
    expect(on('oncall', POISON, 'resolved')).toEqual([]);

    // Time passes (backoff on the manual clock) until the poison reaches its attempt limit.
    let virtualSeconds = 0;
    const tick = async () => {
      expect(virtualSeconds, 'within an hour of virtual time').toBeLessThan(3600);
      clock.advance(1000);
      virtualSeconds++;
      // Let the outbox act on the new time: sends and state writes finish before time moves on.
      for (let quiet = 0; quiet < 4;) {
        await new Promise((r) => setImmediate(r));
        if (inFlight > 0 || writing() > 0) { quiet = 0; await new Promise((r) => setTimeout(r, 2)); } else quiet++;
      }
    };
    while (daemon.alerts.outbox.deadLetterList().length === 0) await tick();
    const secondsToDeadLetter = virtualSeconds;
    const [dead] = daemon.alerts.outbox.deadLetterList();
    expect(dead).toMatchObject({ channel: 'oncall', storeId: POISON, kind: 'firing', severity: 'critical', reason: 'max_attempts', attempts: MAX_ATTEMPTS });
    expect(dead!.lastError).toMatch(poison === 500 ? /HTTP 500/ : /no answer within|timed out/);
    expect(on('oncall', POISON, 'firing')).toHaveLength(MAX_ATTEMPTS);

    // Given up on, the firing no longer holds back its resolved, which arrives after every attempt of it.
    while (!delivered('oncall', POISON, 'resolved')) await tick();
    expect(on('oncall', POISON).map((a) => a.kind)).toEqual([...Array(MAX_ATTEMPTS).fill('firing'), 'resolved']);
    // The other channel had none of this trouble: everything once, in order per store.
    expect(on('ops', POISON).map((a) => a.kind)).toEqual(['firing', 'resolved']);
    expect(on('ops', OTHER).map((a) => a.kind)).toEqual(['firing', 'resolved']);

    // The self-alert: on the other channel, never on the dead-lettering one; it names the store and points at /api/v1/outbox.
    const selfAlert = (channel: Seen['channel'], kind: string) => arrivals().filter((a) => a.channel === channel && a.id.startsWith('self:outbox-dead-letters-oncall:') && a.kind === kind);
    await waitUntil(() => selfAlert('ops', 'firing').some((a) => a.answered.startsWith('2')), 'the dead-letter self-alert on ops');
    expect(selfAlert('ops', 'firing')[0]!.text).toMatch(new RegExp(`gave up delivering notifications to channel oncall.*${POISON}.*/api/v1/outbox`));
    expect(selfAlert('oncall', 'firing')).toEqual([]);

    // Visible: the metric per channel, and /api/v1/outbox (no URL, no token).
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(metricValue(metrics, 'keystore_watch_outbox_dead_letters_total{channel="oncall"}')).toBe(1);
    expect(metricValue(metrics, 'keystore_watch_outbox_dead_letters_total{channel="ops"}')).toBe(0);
    const apiText = await (await fetch(`${daemon.url}/api/v1/outbox`)).text();
    const api = JSON.parse(apiText) as OutboxView;
    expect(api.pending).toBe(0);
    expect(api.deadLettersTotal).toEqual({ oncall: 1 });
    expect(api.deadLetters).toEqual([expect.objectContaining({
      channel: 'oncall', id: dead!.id, storeId: POISON, accountId: '222222222222', region: 'eu-west-1', reason: 'max_attempts', attempts: MAX_ATTEMPTS,
      enqueuedAt: expect.stringMatching(/^2026-05-01T10:/), deadLetteredAt: expect.stringMatching(/^2026-05-01T1/),
    })]);
    expect(apiText).not.toContain(ONCALL_TOKEN);
    expect(apiText).not.toContain(rx.url);

    // An hour later the channel delivers again (another alert): the self-alert resolves, again only on ops.
    clock.advance(3_600_000);
    sim.fleet.setStore(OTHER, { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
    await poll(2);
    await waitUntil(() => selfAlert('ops', 'resolved').some((a) => a.answered.startsWith('2')), 'the dead-letter self-alert resolved on ops');
    expect(selfAlert('oncall', 'resolved')).toEqual([]);

    // Kept across a restart: the dead letter and its count are in the persisted outbox.
    await daemon.stop(500);
    daemons.splice(daemons.indexOf(daemon), 1);
    daemon = await start();
    expect(daemon.alerts.outbox.deadLetterList()).toEqual([dead]);
    const api2 = await (await fetch(`${daemon.url}/api/v1/outbox`)).json() as OutboxView;
    expect(api2.deadLetters.map((d) => d.id)).toEqual([dead!.id]);

    reportFigure(`outbox-poison-${poison}`, {
      attemptsBeforeDeadLetter: dead!.attempts, virtualSecondsToDeadLetter: secondsToDeadLetter, virtualSecondsToResolvedAfter: virtualSeconds - secondsToDeadLetter,
      oncallRequests: arrivals().filter((a) => a.channel === 'oncall').length,
    });
  }, 120_000);
});
