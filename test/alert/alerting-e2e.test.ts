// The daemon against the simulator and real local Slack-, PagerDuty- and webhook-shaped receivers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver, type RecordedRequest } from '../helpers/receiver.js';
import { slackPayloadProblems as checkSlackPayload } from '../helpers/slack-limits.js';

let sim: RunningSimulator;
let daemon: Daemon;
let slack: Receiver, pd: Receiver, hook: Receiver;
let clock = Date.UTC(2026, 0, 1, 12);

const STORE_A = 'cks-a000000000000001';

beforeAll(async () => {
  sim = await simulator('alerting-fleet.yaml');
  [slack, pd, hook] = await Promise.all([startReceiver(), startReceiver({ respond: () => ({ status: 202, body: { status: 'success' } }) }), startReceiver()]);
  const config = simConfig(sim, {
    accounts: [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }],
    alerting: {
      confirmations: 2, repeatInterval: '4h', targetDownAfter: 3, groupThreshold: 5,
      channels: [
        { type: 'slack', webhookUrl: `${slack.url}/services/T0/B0/slacksecret`, minSeverity: 'warning' },
        { type: 'pagerduty', routingKey: 'pd-routing-key-secret', url: `${pd.url}/v2/enqueue`, minSeverity: 'critical' },
        { type: 'webhook', url: `${hook.url}/kms`, hmacSecret: 'hmac-secret-value', minSeverity: 'warning' },
      ],
    },
  });
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
  await daemon.start();
});
afterAll(async () => {
  await daemon?.stop(2000);
  await Promise.all([sim?.close(), slack?.close(), pd?.close(), hook?.close()]);
});

/** One poll, `minutes` of simulated time after the previous one. */
async function poll(minutes = 1): Promise<void> {
  clock += minutes * 60_000;
  expect(await daemon.pollNow()).toBe(true);
}

/** Waits until the outbox is empty, then returns every request each receiver saw. */
async function delivered(): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (daemon.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error(`outbox still holds ${daemon.alerts.outbox.pending()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hookEvents = () => hook.requests.map((r) => ({ kind: r.headers['x-keystore-watch-event'], id: r.headers['x-keystore-watch-idempotency-key'], body: r.json as { notification: { condition?: string; subject?: { storeId: string | null }; items?: unknown[] } } }));
const slackTexts = () => slack.requests.map((r) => (r.json as { text: string }).text);
const pdEvents = () => pd.requests.map((r) => r.json as { event_action: string; dedup_key: string; routing_key: string; payload?: { severity: string } });
const counts = () => ({ slack: slack.requests.length, pd: pd.requests.length, hook: hook.requests.length });

describe('alerting end to end', () => {
  it('sends nothing for a healthy baseline and nothing for a single-poll flap', async () => {
    await poll();
    await poll();
    sim.fleet.setStore(STORE_A, { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    await poll();
    sim.fleet.setStore(STORE_A, { state: 'CONNECTED', errorCode: null });
    await poll();
    await poll();
    await delivered();
    expect(counts()).toEqual({ slack: 0, pd: 0, hook: 0 });
  });

  it('fires once on every channel after two confirming polls, with guidance and ids filled in', async () => {
    sim.fleet.setStore(STORE_A, { state: 'FAILED', errorCode: 'INVALID_CREDENTIALS' });
    await poll();
    await delivered();
    expect(counts()).toEqual({ slack: 0, pd: 0, hook: 0 });
    await poll();
    await poll();
    await delivered();
    expect(counts()).toEqual({ slack: 1, pd: 1, hook: 1 });
    const pdEvent = pdEvents()[0]!;
    expect(pdEvent).toMatchObject({ event_action: 'trigger', routing_key: 'pd-routing-key-secret', payload: { severity: 'critical' } });
    const slackBody = slack.requests[0]!.json as Record<string, unknown>;
    expect(checkSlackPayload(slackBody)).toEqual([]);
    const slackJson = JSON.stringify(slackBody);
    expect(slackJson).toContain(`aws kms disconnect-custom-key-store --custom-key-store-id ${STORE_A} --region us-east-1`);
    expect(slackJson).toContain('INVALID_CREDENTIALS');
    expect(slackJson).not.toContain('<!channel>');
    expect(hookEvents()[0]).toMatchObject({ kind: 'firing', body: { notification: { condition: 'FAILED', subject: { storeId: STORE_A } } } });
  });

  it('reminds after the repeat interval, and resolves exactly once after two CONNECTED polls', async () => {
    await poll(4 * 60 + 1);
    await delivered();
    expect(hookEvents().map((e) => e.kind)).toEqual(['firing', 'reminder']);
    sim.fleet.setStore(STORE_A, { state: 'CONNECTED', errorCode: null });
    await poll();
    await delivered();
    expect(hookEvents().map((e) => e.kind)).toEqual(['firing', 'reminder']);
    await poll();
    await poll();
    await poll();
    await delivered();
    expect(hookEvents().map((e) => e.kind)).toEqual(['firing', 'reminder', 'resolved']);
    expect(pdEvents().map((e) => e.event_action)).toEqual(['trigger', 'trigger', 'resolve']);
    expect(new Set(pdEvents().map((e) => e.dedup_key)).size).toBe(1);
    expect(slackTexts()).toHaveLength(3);
    expect(slackTexts()[2]).toMatch(/RESOLVED/);
    expect(new Set(hookEvents().map((e) => e.id)).size).toBe(3);
  });

  it('warns (not pages) for DISCONNECTED and for CONNECTING longer than the external-store timeout', async () => {
    const before = counts();
    sim.fleet.setStore('cks-a000000000000002', { state: 'DISCONNECTED' });
    sim.fleet.setStore('cks-a000000000000003', { state: 'CONNECTING' });
    await poll();
    await poll();
    await delivered();
    // DISCONNECTED fired after two polls; CONNECTING has not yet lasted 5 minutes.
    const conditions = () => hookEvents().slice(before.hook).map((e) => `${e.kind}:${e.body.notification.condition}`);
    expect(conditions()).toEqual(['firing:DISCONNECTED']);
    await poll(6);
    await poll();
    await delivered();
    expect(conditions()).toEqual(['firing:DISCONNECTED', 'firing:CONNECTING_TOO_LONG']);
    expect(pd.requests.length).toBe(before.pd);
    sim.fleet.setStore('cks-a000000000000002', { state: 'CONNECTED' });
    sim.fleet.setStore('cks-a000000000000003', { state: 'CONNECTED' });
    await poll();
    await poll();
    await delivered();
    expect(conditions().filter((c) => c.startsWith('resolved'))).toHaveLength(2);
  });

  it('raises the blind-spot alert after three failed polls of a target, and no false store alerts', async () => {
    const before = hook.requests.length;
    sim.fleet.setAccount('222222222222', { denyAssumeRole: true });
    sim.fleet.expireCredentials('222222222222');
    await poll();
    await poll();
    await delivered();
    expect(hook.requests.length).toBe(before);
    await poll();
    await delivered();
    const events = hookEvents().slice(before);
    // One blind spot per account-region: the account is polled in two regions.
    expect(events.map((e) => `${e.kind}:${e.body.notification.condition}`)).toEqual(['firing:TARGET_DOWN', 'firing:TARGET_DOWN']);
    sim.fleet.setAccount('222222222222', { denyAssumeRole: false });
    await poll();
    await poll();
    await poll();
    await delivered();
    expect(hookEvents().slice(before).map((e) => `${e.kind}:${e.body.notification.condition}`)).toEqual(['firing:TARGET_DOWN', 'firing:TARGET_DOWN', 'resolved:TARGET_DOWN', 'resolved:TARGET_DOWN']);
  });

  it('sends one digest per channel for a 12-store regional outage, while tracking each store', async () => {
    const before = counts();
    for (let i = 1; i <= 12; i++) sim.fleet.setStore(`cks-e0000000000000${String(i).padStart(2, '0')}`, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    await poll();
    await poll();
    await delivered();
    // Slack and the webhook get one digest; PagerDuty gets one event per store so each incident keeps its own dedup_key and resolves on its own.
    expect(counts()).toEqual({ slack: before.slack + 1, pd: before.pd + 12, hook: before.hook + 1 });
    expect(new Set(pdEvents().slice(before.pd).map((e) => e.dedup_key)).size).toBe(12);
    const digest = hookEvents().at(-1)!;
    expect(digest.kind).toBe('digest');
    expect(digest.body.notification.items).toHaveLength(12);
    expect(checkSlackPayload(slack.requests.at(-1)!.json as Record<string, unknown>)).toEqual([]);
    const alerts = (await (await fetch(`${daemon.url}/api/v1/alerts`)).json()) as { alerts: { condition: string; subject: { storeId: string } }[] };
    expect(alerts.alerts.filter((a) => a.condition === 'FAILED').map((a) => a.subject.storeId)).toHaveLength(12);
  });

  it('never lets a secret reach a payload, the API or metrics', async () => {
    const everything = [
      ...slack.requests.map((r: RecordedRequest) => r.body), ...pd.requests.map((r) => JSON.stringify({ ...(r.json as object), routing_key: undefined })), ...hook.requests.map((r) => r.body),
      await (await fetch(`${daemon.url}/metrics`)).text(), await (await fetch(`${daemon.url}/api/v1/alerts`)).text(), await (await fetch(`${daemon.url}/api/v1/events`)).text(),
    ].join('\n');
    for (const secret of ['slacksecret', 'pd-routing-key-secret', 'hmac-secret-value', 'sim-secret-canary-4711']) expect(everything).not.toContain(secret);
  });
});
