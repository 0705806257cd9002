// The `sdk-threads` self-alert end to end: a real daemon (aws.sdkThreads: 1) against the simulator,
// whose SDK thread is the scripted fixture (test/fixtures/sdk-threads/scripted-thread.mjs) crashing as
// it loads. The wiring under test is the daemon's: AwsClients' onSdkThreadFailure / onSdkThreadRecovered
// raise and resolve the self-alert on the alert pipeline. SdkThreads' own counting is tested in
// test/collect/sdk-threads.test.ts and the alert's text in test/daemon.test.ts; here it must reach a
// real channel (a webhook to a local receiver, critical-only), /api/v1/alerts, /readyz and /metrics.
//
// The fixture reads KW_SCRIPTED_THREAD when a thread starts (a worker copies process.env at creation),
// so switching it to `answer` makes the next thread the daemon starts after its backoff answer: the
// recovery path runs in the same daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../src/daemon.js';
import type { AlertNotification } from '../src/model.js';
import type { RunningSimulator } from '../src/simulator/server.js';
import type { WebhookBody } from '../src/notify/webhook.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from './helpers/sim.js';
import { startReceiver, type Receiver, type RecordedRequest } from './helpers/receiver.js';
import { captureLogger, metricValue, waitUntil } from './reliability/support.js';

const SCRIPTED_THREAD = new URL('./fixtures/sdk-threads/scripted-thread.mjs', import.meta.url);
const mode = (m: 'crash' | 'answer') => { process.env.KW_SCRIPTED_THREAD = m; };

let sim: RunningSimulator;
let rx: Receiver;
let daemon: Daemon;
const logs = captureLogger('info');

beforeAll(async () => {
  sim = await simulator('reliability-fleet.yaml');
  rx = await startReceiver();
  mode('crash');
  const config = simConfig(sim, {
    stateDir: tempDir('kw-sdk-threads-'),
    aws: { sdkThreads: 1 },
    // Critical only: the self-alert must reach a channel that takes nothing less (the targets going
    // down behind the dead thread are not what this test is about).
    alerting: { channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'critical' }] },
  });
  daemon = new Daemon({ config, logger: logs.logger, credentials: BASE_CREDENTIALS, schedule: false, sdkThreadEntry: SCRIPTED_THREAD });
  await daemon.start();
});
afterAll(async () => {
  await daemon?.stop(1000);
  await rx?.close();
  await sim?.close();
  delete process.env.KW_SCRIPTED_THREAD;
});

const metrics = async () => (await fetch(`${daemon.url}/metrics`)).text();
const selfAlerts = async () => ((await (await fetch(`${daemon.url}/api/v1/alerts`)).json()) as { self: { id: string; severity: string; summary: string }[] }).self;
/** What the webhook received about the sdk-threads self-alert, in order. */
const sdkThreadsHooks = (): { event: string; n: AlertNotification }[] => rx.requests
  .map((q: RecordedRequest) => ({ event: String(q.headers['x-keystore-watch-event']), n: (q.json as WebhookBody).notification as AlertNotification }))
  .filter((h) => h.n.alertKey === 'SELF:sdk-threads');

describe('the sdk-threads self-alert in a running daemon', () => {
  it('fires when the SDK threads fail one after another: critical, through the webhook, in /api/v1/alerts, /readyz and /metrics', async () => {
    // start() loaded the first thread (it crashed: one failure, no alert yet); the poll starts its
    // replacement, which crashes too: two in a row.
    expect(await daemon.pollNow()).toBe(true);

    const self = (await selfAlerts()).find((a) => a.id === 'sdk-threads');
    expect(self).toMatchObject({ severity: 'critical', summary: expect.stringMatching(/AWS SDK threads keep failing \(\d+ in a row\): polls may not reach AWS/) });
    const ready = await fetch(`${daemon.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('AWS SDK threads keep failing');
    const text = await metrics();
    expect(metricValue(text, 'keystore_watch_self_alert{id="sdk-threads",severity="critical"}')).toBe(1);
    expect(metricValue(text, 'keystore_watch_sdk_thread_failures_total{reason="crashed"}')).toBeGreaterThanOrEqual(2);

    await rx.until(() => sdkThreadsHooks().some((h) => h.event === 'firing'), 20_000, 'the sdk-threads firing at the webhook');
    const firing = sdkThreadsHooks().filter((h) => h.event === 'firing');
    expect(firing).toHaveLength(1); // raised again on every failure, sent once
    const { n } = firing[0]!;
    expect(n).toMatchObject({ kind: 'firing', severity: 'critical', condition: 'SELF' });
    expect(n.guidance.title).toMatch(/AWS SDK threads keep failing \(\d+ in a row\)/);
    // The failure the thread reported, and the workaround on-call can apply now.
    expect(n.subject.details['Last failure']).toContain('cannot load the AWS SDK in this thread');
    expect(Number(n.subject.details['Failures in a row'])).toBeGreaterThanOrEqual(2);
    expect(n.guidance.steps.join('\n')).toContain('aws.sdkThreads: 0');
    // The log line the alert's first step points to.
    expect(logs.lines().some((l) => l.includes('"an AWS SDK thread failed; its calls in flight failed and it is replaced"') && l.includes('cannot load the AWS SDK in this thread'))).toBe(true);
  });

  it('resolves when a thread answers again', async () => {
    mode('answer');
    // The next thread starts once the restart backoff allows (0.5 s after the second failure, longer
    // after more); polls meanwhile fail their calls at once without starting one.
    await waitUntil(async () => {
      await daemon.pollNow();
      return !(await selfAlerts()).some((a) => a.id === 'sdk-threads');
    }, 'a poll on a new, answering thread to resolve the self-alert', 40_000, 250);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
    expect(metricValue(await metrics(), 'keystore_watch_self_alert{id="sdk-threads",severity="critical"}')).toBe(0);

    await rx.until(() => sdkThreadsHooks().some((h) => h.event === 'resolved'), 20_000, 'the sdk-threads resolved at the webhook');
    expect(sdkThreadsHooks().map((h) => h.event)).toEqual(['firing', 'resolved']);
    const resolved = sdkThreadsHooks()[1]!.n;
    expect(resolved).toMatchObject({ kind: 'resolved', severity: 'critical' });
    expect(resolved.guidance.summary).toBe('An AWS SDK thread answers again: polls reach AWS.');
  });
});
