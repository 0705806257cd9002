// Routing end to end (issue 16): the real daemon (real SDK clients over HTTP, Organizations discovery
// giving OU paths and tags) against the simulator, four real local HTTP receivers as webhook channels.
// Two teams' channels receive only their accounts' alerts, one team found by OU path and one by tag;
// `continue` sends critical alerts to the team and to a catch-all; what no route takes goes to the
// default route's channel; the team's route reminds hourly while the catch-all reminds every 4h.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const STORES = { mgmt: 'cks-o111111111111111a', payments: 'cks-o222222222222222a', sandbox: 'cks-o333333333333333a', paymentsEu: 'cks-o555555555555555a' };

let sim: RunningSimulator;
let daemon: Daemon;
const rx: Record<'payments' | 'sandbox' | 'catchall' | 'ops', Receiver> = {} as never;
let clock = Date.parse('2026-03-02T09:00:00Z');

beforeAll(async () => {
  sim = await simulator('org-fleet.yaml');
  for (const name of ['payments', 'sandbox', 'catchall', 'ops'] as const) rx[name] = await startReceiver();
  const hook = (name: keyof typeof rx) => ({ type: 'webhook', name, url: `${rx[name].url}/${name}`, minSeverity: 'info' });
  const config = simConfig(sim, {
    accounts: [{ id: '111111111111', name: 'management' }],
    regions: ['us-east-1'],
    organizations: { enabled: true, refreshInterval: '10m', tags: ['owner'] },
    // CloudWatch is not what this test is about (its findings would route like any other alert).
    cloudwatch: { enabled: false },
    alerting: {
      confirmations: 2, repeatInterval: '4h',
      channels: [hook('payments'), hook('sandbox'), hook('catchall'), hook('ops')],
      defaultChannels: ['ops'],
      routes: [
        // By OU: the payments team owns /Prod/Payments and everything under it.
        { matchers: 'ou_path=~"/Prod/Payments(/.*)?"', channels: ['payments'], continue: true, repeatInterval: '1h' },
        // By tag: the sandbox team's accounts carry owner=sandbox-team.
        { matchers: ['tag_owner="sandbox-team"'], channels: ['sandbox'], continue: true },
        // Every critical alert also reaches the catch-all.
        { matchers: '{severity="critical"}', channels: ['catchall'] },
      ],
    },
  });
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
  await daemon.start();
});
afterAll(async () => {
  await daemon?.stop(2000);
  await Promise.all([sim?.close(), ...Object.values(rx).map((r) => r?.close())]);
});

async function poll(minutes = 1): Promise<void> {
  clock += minutes * MIN;
  expect(await daemon.pollNow()).toBe(true);
}

async function delivered(): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (daemon.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error(`outbox still holds ${daemon.alerts.outbox.pending()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Got { kind: string; storeId: string | null; labels: Record<string, string> }
/** Every alert a receiver got (digest items flattened), with its labels as posted. */
function got(name: keyof typeof rx): Got[] {
  return rx[name].requests.flatMap((r) => {
    const n = (r.json as { notification: { kind: string; items?: unknown[]; subject?: { storeId: string | null }; labels?: Record<string, string> } }).notification;
    const all = (n.items ?? [n]) as { kind: string; subject: { storeId: string | null }; labels: Record<string, string> }[];
    return all.map((i) => ({ kind: i.kind, storeId: i.subject.storeId, labels: i.labels }));
  });
}
const about = (name: keyof typeof rx, kind?: string) => got(name).filter((g) => !kind || g.kind === kind).map((g) => `${g.kind} ${g.storeId}`).sort();

describe('routing by owner, end to end', () => {
  it('payments FAILED (critical, by OU): the payments team and the catch-all, nobody else', async () => {
    await poll();
    await poll();
    await delivered();
    expect(about('payments')).toEqual([`firing ${STORES.payments}`]);
    expect(about('catchall')).toEqual([`firing ${STORES.payments}`]);
    expect(about('sandbox')).toEqual([]);
    expect(about('ops')).toEqual([]);
    const labels = got('payments')[0]!.labels;
    expect(labels).toMatchObject({
      alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', account_id: '222222222222', account_name: 'payments', region: 'us-east-1',
      custom_key_store_id: STORES.payments, custom_key_store_name: 'pay-hsm', custom_key_store_type: 'AWS_CLOUDHSM', ou_path: '/Prod/Payments',
      tag_owner: 'payments', code: 'INVALID_CREDENTIALS', cloudhsm_cluster_id: 'cluster-o2aaaaaaaaa',
    });
    // /api/v1/alerts shows the same labels.
    const api = (await (await fetch(`${daemon.url}/api/v1/alerts`)).json()) as { alerts: { labels: Record<string, string> }[] };
    expect(api.alerts.map((a) => a.labels)).toContainEqual(labels);
  });

  it('each team gets only its own: by tag (sandbox), by OU subtree (payments-eu), the rest to the default route', async () => {
    sim.fleet.setStore(STORES.sandbox, { state: 'DISCONNECTED' }); // warning, tag owner=sandbox-team
    sim.fleet.setStore(STORES.paymentsEu, { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' }); // critical, /Prod/Payments/EU
    sim.fleet.setStore(STORES.mgmt, { state: 'DISCONNECTED' }); // warning, nobody's
    await poll();
    await poll();
    await delivered();
    expect(about('payments', 'firing')).toEqual([`firing ${STORES.payments}`, `firing ${STORES.paymentsEu}`]);
    expect(about('sandbox', 'firing')).toEqual([`firing ${STORES.sandbox}`]);
    expect(about('catchall', 'firing')).toEqual([`firing ${STORES.payments}`, `firing ${STORES.paymentsEu}`]);
    expect(about('ops', 'firing')).toEqual([`firing ${STORES.mgmt}`]);
    // Whatever else happened, no channel got anything outside its share.
    for (const g of got('payments')) expect(g.labels.ou_path).toMatch(/^\/Prod\/Payments(\/|$)/);
    for (const g of got('sandbox')) expect(g.labels.tag_owner).toBe('sandbox-team');
    for (const g of got('catchall')) expect(g.labels.severity).toBe('critical');
    for (const g of got('ops')) {
      expect(g.labels.severity).not.toBe('critical');
      expect(g.labels.tag_owner).not.toBe('sandbox-team');
      expect(g.labels.ou_path ?? '').not.toMatch(/^\/Prod\/Payments/);
    }
  });

  it('reminders per route: the payments team hourly, the catch-all every 4h', async () => {
    const before = { payments: about('payments', 'reminder').length, catchall: about('catchall', 'reminder').length };
    for (let h = 1; h <= 4; h++) {
      await poll(60);
      await delivered();
    }
    const reminders = (name: keyof typeof rx) => about(name, 'reminder').slice(0);
    // Two firing payments alerts, four hours: four reminders each on the team's channel, one each on the catch-all.
    expect(reminders('payments').length - before.payments).toBe(8);
    expect(reminders('catchall').length - before.catchall).toBe(2);
    expect(new Set(reminders('catchall'))).toEqual(new Set([`reminder ${STORES.payments}`, `reminder ${STORES.paymentsEu}`]));
    // Warnings of the other routes remind at the default 4h: once in four hours.
    expect(about('sandbox', 'reminder')).toEqual([`reminder ${STORES.sandbox}`]);
    expect(about('ops', 'reminder')).toEqual([`reminder ${STORES.mgmt}`]);
  });

  it('a resolved goes where its firing went', async () => {
    sim.fleet.setStore(STORES.paymentsEu, { state: 'CONNECTED', errorCode: null });
    await poll();
    await poll();
    await delivered();
    expect(about('payments', 'resolved')).toEqual([`resolved ${STORES.paymentsEu}`]);
    expect(about('catchall', 'resolved')).toEqual([`resolved ${STORES.paymentsEu}`]);
    expect(about('sandbox', 'resolved')).toEqual([]);
    expect(about('ops', 'resolved')).toEqual([]);
  });
});
