// Outbound text end to end: a key store whose name (as the simulator's KMS returns it on the wire)
// holds lone UTF-16 surrogates and a right-to-left override fails; the daemon's Slack, webhook,
// PagerDuty and console messages must be text a strict receiver accepts: valid UTF-8, JSON without
// lone-surrogate escapes, no live bidi override (the characters shown as <U+202E> instead).
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { createNotifiers } from '../../src/notify/index.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { strictTextProblems } from '../helpers/strict-text.js';
import { reportFigure, waitUntil } from './support.js';

const STORE = 'cks-r2b0000000000003';
// "pay", a lone high surrogate, a right-to-left override making "exe.gnp" read "png.exe", a lone low surrogate, an isolate.
const EVIL_NAME = 'pay\uD800-\u202Eexe.gnp\uDFFF\u2066x';

let sim: RunningSimulator | undefined;
let rx: Receiver | undefined;
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop(500);
  await Promise.all([rx?.close(), sim?.close()]);
});

describe('outbound text end to end', () => {
  it('a store named with lone surrogates and U+202E reaches Slack, webhook, PagerDuty and the console as strict-clean text', async () => {
    sim = await simulator('reliability-fleet.yaml');
    rx = await startReceiver({ respond: (q) => (q.path.startsWith('/v2/enqueue') ? { status: 202, body: { status: 'success' } } : { status: 200, body: 'ok' }) });
    const config = simConfig(sim, {
      alerting: {
        confirmations: 2,
        channels: [
          { type: 'slack', webhookUrl: `${rx.url}/services/T000/B000/outboundtext`, minSeverity: 'warning' },
          { type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'warning' },
          { type: 'pagerduty', routingKey: 'outbound-text-routing-key', url: `${rx.url}/v2/enqueue`, minSeverity: 'critical' },
          { type: 'console', minSeverity: 'warning' },
        ],
      },
    });
    const consoleOut: string[] = [];
    const notifiers = createNotifiers(config.alerting.channels, { consoleWriter: (t) => consoleOut.push(t) });
    daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, serve: false, notifiers });
    await daemon.start();
    await daemon.pollNow();
    sim.fleet.setStore(STORE, { name: EVIL_NAME, state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
    await daemon.pollNow();
    await daemon.pollNow();
    // The name really came back from the (simulated) AWS wire with its lone surrogates.
    expect(daemon.latest!.stores.find((s) => s.id === STORE)!.name).toBe(EVIL_NAME);
    const got = (prefix: string) => rx!.requests.filter((q) => q.path.startsWith(prefix));
    await waitUntil(() => got('/services/').length >= 1 && got('/hook').length >= 1 && got('/v2/enqueue').length >= 1 && consoleOut.some((t) => t.includes(STORE)), 'the firing on every channel');

    const checked: Record<string, number> = {};
    for (const [channel, prefix] of [['slack', '/services/'], ['webhook', '/hook'], ['pagerduty', '/v2/enqueue']] as const) {
      for (const q of got(prefix)) {
        expect(strictTextProblems(q.raw, { json: true }), channel).toEqual([]);
        checked[channel] = (checked[channel] ?? 0) + 1;
      }
    }
    const consoleText = consoleOut.join('');
    expect(strictTextProblems(consoleText, { json: false })).toEqual([]);
    // Shown, not hidden: the override is visible as an escape on every channel.
    expect(got('/services/')[0]!.body).toContain('&lt;U+202E&gt;exe.gnp');
    expect((got('/hook')[0]!.json as { notification: { subject: { storeName: string } } }).notification.subject.storeName).toBe('pay\uFFFD-<U+202E>exe.gnp\uFFFD<U+2066>x');
    expect(got('/v2/enqueue')[0]!.body).toContain('<U+202E>exe.gnp');
    expect(consoleText).toContain('pay\uFFFD-<U+202E>exe.gnp');
    reportFigure('outbound-text', { checked, consoleBytes: Buffer.byteLength(consoleText) });
  }, 60_000);
});
