// External key store and CloudHSM health from CloudWatch, and "who changed it" from CloudTrail, end to end:
// the real daemon polls the simulator over HTTP with the real SDK clients (CloudWatch GetMetricData/ListMetrics
// in AWS JSON 1.0, CloudTrail LookupEvents in JSON 1.1), the alert lifecycle runs, and real local HTTP
// receivers (webhook, Slack) and the console channel get the notifications.
// Fixture: test/fixtures/scenarios/xks-health.yaml. The simulator and the daemon share one clock; each poll
// is three minutes after the previous one (cloudwatch.period 1m), so a metric change shows in the next poll.
// The tests run in order on one fleet; each leaves it healthy for the next.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../src/model.js';
import { startCwHarness, type CwHarness, type HookEvent } from '../helpers/cloudwatch.js';

const ACCOUNT = '111111111111';
let h: CwHarness;

beforeAll(async () => {
  h = await startCwHarness({
    fixture: 'xks-health.yaml',
    accounts: [{ id: ACCOUNT, name: 'management' }],
    regions: ['us-east-1', 'eu-west-1', 'us-west-2'],
  });
  // Baseline: every store seen once before anything changes.
  await h.poll();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const tag = (e: HookEvent) => `${e.kind}:${e.condition}:${e.subject.clusterId && !e.subject.storeId ? e.subject.clusterId : e.subject.storeId}`;
const counter = (op: string, region = 'us-east-1'): number => {
  const t = h.sim.fleet.counters().byTarget[`${ACCOUNT}/${region}/${op}`];
  return t ? t.ok + t.failed + t.throttled : 0;
};
const control = async (path: string, body: unknown, method = 'POST') => {
  const r = await fetch(`${h.sim.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status, await r.clone().text()).toBeLessThan(300);
  return r.json();
};

/** Breaks, expects exactly one firing on the second poll, fixes, expects exactly one resolved on the second poll. */
async function cycle(condition: Condition, id: string, breakIt: () => unknown, fixIt: () => unknown): Promise<HookEvent> {
  await h.delivered();
  const mark = h.hook.requests.length;
  const since = () => h.events().slice(mark).map(tag);
  await breakIt();
  await h.poll();
  await h.delivered();
  expect(since(), 'one poll is not a confirmation').toEqual([]);
  await h.poll();
  await h.delivered();
  expect(since()).toEqual([`firing:${condition}:${id}`]);
  await h.poll();
  await h.delivered();
  expect(since(), 'no repeat while it holds').toEqual([`firing:${condition}:${id}`]);
  const firing = h.events()[mark]!;
  await fixIt();
  await h.poll();
  await h.delivered();
  expect(since(), 'one good poll does not resolve').toEqual([`firing:${condition}:${id}`]);
  await h.poll();
  await h.delivered();
  expect(since()).toEqual([`firing:${condition}:${id}`, `resolved:${condition}:${id}`]);
  return firing;
}

describe('CloudWatch enrichment', () => {
  it('a healthy fleet: no alert, the CloudWatch figures exported, metrics without datapoints absent', async () => {
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(h.events()).toEqual([]);
    const text = await h.metrics();
    const id = `account_id="${ACCOUNT}",region="us-east-1",custom_key_store_id="cks-x000000000000001"`;
    expect(text).toContain(`kms_custom_key_store_xks_proxy_certificate_expiry_seconds{${id}} ${200 * 86400}`);
    expect(text).toContain(`kms_custom_key_store_xks_proxy_credential_age_seconds{${id}} ${10 * 86400}`);
    expect(text).toContain(`kms_custom_key_store_xks_external_key_manager_state{${id},state="Active"} 2`);
    expect(text).toContain(`kms_custom_key_store_xks_external_key_manager_state{${id},state="Degraded"} 0`);
    expect(text).toContain(`kms_custom_key_store_xks_proxy_latency_seconds{${id}} 0.04`);
    expect(text).toContain(`kms_custom_key_store_xks_proxy_requests{${id}} 100`);
    // KMS publishes no XksProxyErrors datapoint in a minute without errors: absent, never a made-up zero.
    expect(text).not.toContain(`kms_custom_key_store_xks_proxy_errors{${id}`);
    expect(text).toContain(`aws_cloudhsm_cluster_hsm_unhealthy{account_id="${ACCOUNT}",region="us-east-1",cloudhsm_cluster_id="cluster-health000001"} 0`);
    expect(text).toContain(`keystore_watch_cloudwatch_up{account_id="${ACCOUNT}",region="us-east-1"} 1`);
  });

  it('batches: one GetMetricData call per account-region per poll (all of its stores and clusters in it)', async () => {
    const before = { east: counter('GetMetricData'), eu: counter('GetMetricData', 'eu-west-1'), west: counter('GetMetricData', 'us-west-2') };
    await h.poll();
    await h.poll();
    await h.poll();
    expect(counter('GetMetricData') - before.east).toBe(3);
    expect(counter('GetMetricData', 'eu-west-1') - before.eu).toBe(3);
    // No store in us-west-2 yet: nothing to ask CloudWatch about.
    expect(counter('GetMetricData', 'us-west-2') - before.west).toBe(0);
    // Five stores and a cluster in us-east-1 took one call: more than one query each.
    const snap = h.daemon.latest!;
    expect(snap.storeHealth!.filter((s) => s.region === 'us-east-1')).toHaveLength(4);
  });

  it('XKS_CERT_EXPIRING: proxy certificate 5 days from expiry is critical, resolved once renewed', async () => {
    const e = await cycle('XKS_CERT_EXPIRING', 'cks-x000000000000001',
      () => h.sim.fleet.setMetrics('cks-x000000000000001', { XksProxyCertificateDaysToExpire: 5 }),
      () => h.sim.fleet.setMetrics('cks-x000000000000001', { XksProxyCertificateDaysToExpire: 365 }));
    expect(e.severity).toBe('critical');
    expect(e.subject.details['Days left']).toBe('5');
    expect(e.guidance.title).toBe('External key store proxy TLS certificate expiring');
  });

  it('XKS_CREDENTIAL_OLD: a credential 120 days old is a warning, with the rotation command', async () => {
    const e = await cycle('XKS_CREDENTIAL_OLD', 'cks-x000000000000002',
      () => h.sim.fleet.setMetrics('cks-x000000000000002', { XksProxyCredentialAge: 120 }),
      () => h.sim.fleet.setMetrics('cks-x000000000000002', { XksProxyCredentialAge: 0 }));
    expect(e.severity).toBe('warning');
    expect(e.subject.details['Credential age']).toBe('120 days');
    expect(e.guidance.commands.join('\n')).toContain('aws kms update-custom-key-store --custom-key-store-id cks-x000000000000002 --xks-proxy-authentication-credential');
  });

  it('XKS_KEY_MANAGER_UNHEALTHY: a DEGRADED external key manager instance', async () => {
    const e = await cycle('XKS_KEY_MANAGER_UNHEALTHY', 'cks-x000000000000003',
      () => h.sim.fleet.setMetrics('cks-x000000000000003', { XksExternalKeyManagerStates: { Active: 1, Degraded: 1, Unavailable: 0 } }),
      () => h.sim.fleet.setMetrics('cks-x000000000000003', { XksExternalKeyManagerStates: { Active: 2, Degraded: 0, Unavailable: 0 } }));
    expect(e.severity).toBe('warning');
    expect(e.guidance.title).toBe('External key manager unhealthy: DEGRADED');
  });

  it('XKS_PROXY_UNHEALTHY: the error rate rises while the store stays CONNECTED ("CONNECTED but failing")', async () => {
    const e = await cycle('XKS_PROXY_UNHEALTHY', 'cks-x000000000000004',
      () => h.sim.fleet.setMetrics('cks-x000000000000004', { XksProxyErrors: { Retryable: 30, 'Non-retryable': 10 } }),
      () => h.sim.fleet.setMetrics('cks-x000000000000004', { XksProxyErrors: null }));
    expect(e.severity).toBe('critical');
    expect(e.subject.state).toBe('CONNECTED');
    expect(e.guidance.title).toBe('External key store: CONNECTED but failing');
    expect(e.subject.details['Proxy errors']).toBe('40 (retryable 30, non-retryable 10)');
    expect(h.daemon.latest!.stores.find((s) => s.id === 'cks-x000000000000004')!.state).toBe('CONNECTED');
  });

  it('HSM_UNHEALTHY: CloudWatch HsmUnhealthy for the cluster behind a CloudHSM store', async () => {
    const e = await cycle('HSM_UNHEALTHY', 'cks-h000000000000001',
      () => h.sim.fleet.setMetrics('cluster-health000001', { HsmUnhealthy: 1 }),
      () => h.sim.fleet.setMetrics('cluster-health000001', { HsmUnhealthy: 0 }));
    expect(e.severity).toBe('warning');
    expect(e.subject.clusterId).toBe('cluster-health000001');
  });

  it('a CloudWatch outage leaves store states and store alerts untouched, and freezes the CloudWatch findings', async () => {
    await h.delivered();
    const mark = h.hook.requests.length;
    const since = () => h.events().slice(mark).map(tag);
    // A CloudWatch finding fires first.
    h.sim.fleet.setMetrics('cks-x000000000000001', { XksProxyCertificateDaysToExpire: 3 });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(since()).toEqual(['firing:XKS_CERT_EXPIRING:cks-x000000000000001']);

    h.sim.fleet.setFaults({ errors: [{ service: 'cloudwatch', error: 'ServiceUnavailable' }] });
    const before = h.daemon.latest!.stores.map((s) => ({ id: s.id, state: s.state, stateSince: s.stateSince }));
    // While CloudWatch is down the certificate is renewed (no resolve: nothing is known) and a store is
    // disconnected (its store alert works as always).
    h.sim.fleet.setMetrics('cks-x000000000000001', { XksProxyCertificateDaysToExpire: 365 });
    h.sim.fleet.disconnect('cks-x000000000000002');
    await h.poll();
    await h.poll();
    await h.poll();
    await h.delivered();
    const snap = h.daemon.latest!;
    expect(snap.stores.every((s) => !s.stale), 'no store is stale because of CloudWatch').toBe(true);
    expect(snap.stores.filter((s) => s.id !== 'cks-x000000000000002').map((s) => ({ id: s.id, state: s.state, stateSince: s.stateSince })))
      .toEqual(before.filter((s) => s.id !== 'cks-x000000000000002'));
    expect(snap.targets.find((t) => t.region === 'us-east-1')).toMatchObject({ ok: true, status: 'ok', cloudWatch: { ok: false, denied: false } });
    expect(since()).toEqual(['firing:XKS_CERT_EXPIRING:cks-x000000000000001', 'firing:DISCONNECTED:cks-x000000000000002']);
    const text = await h.metrics();
    expect(text).toContain(`keystore_watch_cloudwatch_up{account_id="${ACCOUNT}",region="us-east-1"} 0`);
    expect(text).toContain(`keystore_watch_target_up{account_id="${ACCOUNT}",region="us-east-1"} 1`);
    expect(text).toContain(`kms_custom_key_store_cloudwatch_stale{account_id="${ACCOUNT}",region="us-east-1",custom_key_store_id="cks-x000000000000001"} 1`);

    // CloudWatch back: the renewed certificate resolves the finding.
    h.sim.fleet.setFaults({ errors: [] });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(since()).toEqual(['firing:XKS_CERT_EXPIRING:cks-x000000000000001', 'firing:DISCONNECTED:cks-x000000000000002', 'resolved:XKS_CERT_EXPIRING:cks-x000000000000001']);
    h.sim.fleet.connect('cks-x000000000000002');
    await h.poll();
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(since().slice(3)).toEqual(['resolved:DISCONNECTED:cks-x000000000000002']);
  }, 60_000);
});

describe('CloudWatch not permitted', () => {
  it('AccessDenied on CloudWatch is not a blind spot: no alert, keystore_watch_cloudwatch_up 0, the stores as they are', async () => {
    await h.delivered();
    const mark = h.hook.requests.length;
    h.sim.fleet.setFaults({ errors: [{ service: 'cloudwatch', error: 'AccessDenied', message: 'User: arn:aws:sts::111111111111:assumed-role/KeystoreWatch/keystore-watch is not authorized to perform: cloudwatch:ListMetrics' }] });
    await h.poll();
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(h.events().slice(mark)).toEqual([]);
    const t = h.daemon.latest!.targets.find((x) => x.region === 'us-east-1')!;
    expect(t).toMatchObject({ ok: true, status: 'ok', cloudWatch: { ok: false, denied: true } });
    expect(h.daemon.latest!.stores.every((s) => !s.stale)).toBe(true);
    expect(await h.metrics()).toContain(`keystore_watch_cloudwatch_up{account_id="${ACCOUNT}",region="us-east-1"} 0`);
    h.sim.fleet.setFaults({ errors: [] });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(h.events().slice(mark)).toEqual([]);
    expect(h.daemon.latest!.targets.find((x) => x.region === 'us-east-1')!.cloudWatch).toEqual({ ok: true, denied: false, error: null });
  }, 60_000);
});

describe('who changed it (CloudTrail)', () => {
  it('a DISCONNECTED alert names the principal, time and source in the webhook, Slack and console; a change without an event says so', async () => {
    await h.delivered();
    const mark = h.hook.requests.length;
    const slackMark = h.slack.requests.length;
    const consoleMark = h.console.length;
    await control('/_sim/stores/cks-d000000000000001/disconnect', { actor: { arn: 'arn:aws:iam::111111111111:user/alice', sourceIp: '203.0.113.7' } });
    // Disconnected with no CloudTrail record at all.
    h.sim.fleet.disconnect('cks-d000000000000002');
    const event = (await (await fetch(`${h.sim.url}/_sim/cloudtrail/events?account=${ACCOUNT}&region=eu-west-1`)).json()) as { eventTime: number }[];
    const eventTime = new Date(event[event.length - 1]!.eventTime).toISOString();
    await h.poll();
    await h.poll();
    await h.delivered();
    const fired = h.events().slice(mark).filter((e) => e.kind === 'firing' && e.condition === 'DISCONNECTED');
    const byPerson = fired.find((e) => e.subject.storeId === 'cks-d000000000000001')!;
    const noEvent = fired.find((e) => e.subject.storeId === 'cks-d000000000000002')!;
    expect(byPerson.severity).toBe('warning');
    expect(byPerson.subject.details).toMatchObject({
      'Changed by': 'arn:aws:iam::111111111111:user/alice (a person, IAMUser)',
      'Changed at': eventTime,
      'Changed from': '203.0.113.7',
    });
    expect(byPerson.subject.details['CloudTrail event']).toMatch(/^DisconnectCustomKeyStore /);
    expect(byPerson.subject.details.Note).toMatch(/^Disconnected by a person/);
    expect(noEvent.subject.details['Changed by']).toBe('no CloudTrail event found');

    await h.slack.until(() => h.slack.requests.length >= slackMark + 2, 20_000, 'two Slack messages');
    const slackText = h.slack.requests.slice(slackMark).map((r) => r.body).join('\n');
    expect(slackText).toContain('arn:aws:iam::111111111111:user/alice');
    expect(slackText).toContain(eventTime);
    expect(slackText).toContain('no CloudTrail event found');
    const consoleText = h.console.slice(consoleMark).join('');
    expect(consoleText).toContain('arn:aws:iam::111111111111:user/alice');
    expect(consoleText).toContain(eventTime);
    expect(consoleText).toContain('no CloudTrail event found');

    // The change event in /api/v1/events carries the same.
    const events = (await (await fetch(`${h.daemon.url}/api/v1/events?limit=50`)).json()) as { events: { type: string; storeId?: string; to?: string; actor?: { status: string; principal?: string; eventTime?: string; message?: string | null } }[] };
    const change = events.events.find((e) => e.type === 'state_changed' && e.storeId === 'cks-d000000000000001' && e.to === 'DISCONNECTED');
    expect(change?.actor).toMatchObject({ status: 'found', principal: 'arn:aws:iam::111111111111:user/alice', eventTime, kind: 'person' });
    const none = events.events.find((e) => e.type === 'state_changed' && e.storeId === 'cks-d000000000000002' && e.to === 'DISCONNECTED');
    expect(none?.actor).toMatchObject({ status: 'not_found', message: 'no CloudTrail event found' });
  }, 60_000);

  it('LookupEvents stays within 2 requests per second per account-region under a storm (60 stores disconnected and updated at once), finds every actor, and never shows the credential', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `cks-s${String(i).padStart(15, '0')}`;
      ids.push(id);
      h.sim.fleet.addStore(ACCOUNT, 'us-west-2', { id, name: `storm-${i}`, type: 'EXTERNAL_KEY_STORE', state: 'CONNECTED' });
    }
    await h.poll(); // baseline of the new stores (a first sight is not a creation)
    await h.delivered();
    const mark = h.hook.requests.length;
    h.sim.fleet.resetCounters();
    // Each store: UpdateCustomKeyStore (new name and proxy credential) and DisconnectCustomKeyStore, 120 events:
    // more than one 50-event page per event name, so the lookups come in a burst that pacing must spread.
    const actor = { arn: 'arn:aws:sts::111111111111:assumed-role/Ops/bob', sourceIp: '198.51.100.9' };
    for (const [i, id] of ids.entries()) {
      await control(`/_sim/stores/${id}`, { state: 'DISCONNECTED', name: `storm-${i}-renamed`, xks: { accessKeyId: 'AKIASTORMCANARY12345' }, actor }, 'PATCH');
    }
    await h.poll();
    await h.poll();
    await h.delivered(150_000);
    const calls = h.sim.fleet.requestLog({ service: 'cloudtrail', operation: 'LookupEvents', account: ACCOUNT, region: 'us-west-2' });
    expect(calls.length, 'more than one page per event name').toBeGreaterThanOrEqual(4);
    expect(calls.every((c) => c.outcome === 'ok'), 'never throttled').toBe(true);
    for (let i = 2; i < calls.length; i++) expect(calls[i]!.at - calls[i - 2]!.at, 'three calls within one second').toBeGreaterThanOrEqual(1000);
    // EventName lookups serve the whole storm, not one call per store.
    expect(calls.length).toBeLessThanOrEqual(8);
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    console.log(`[reliability] ${JSON.stringify({ name: 'cloudtrail-storm', stores: 60, events: 120, lookupEvents: calls.length, minGapMs: Math.min(...gaps), throttled: calls.filter((c) => c.outcome === 'throttled').length })}`);
    const fired = h.events().slice(mark).filter((e) => e.kind === 'firing' && e.condition === 'DISCONNECTED');
    expect(fired.map((e) => e.subject.storeId).sort()).toEqual(ids);
    for (const e of fired) expect(e.subject.details['Changed by']).toBe('arn:aws:sts::111111111111:assumed-role/Ops/bob (a role session, AssumedRole)');
    // The configuration change event names the actor and the request, without the credential.
    const events = await (await fetch(`${h.daemon.url}/api/v1/events?limit=500`)).text();
    const parsed = JSON.parse(events) as { events: { type: string; storeId?: string; actor?: { status: string; principal?: string; requestParameters?: Record<string, string> } }[] };
    const updates = parsed.events.filter((e) => e.type === 'config_changed' && ids.includes(e.storeId ?? ''));
    expect(updates).toHaveLength(60);
    for (const u of updates) {
      expect(u.actor).toMatchObject({ status: 'found', principal: 'arn:aws:sts::111111111111:assumed-role/Ops/bob' });
      expect(u.actor!.requestParameters).toHaveProperty('customKeyStoreId', u.storeId);
    }
    expect(events).not.toMatch(/xksProxyAuthenticationCredential|rawSecretAccessKey/i);
    expect(JSON.stringify(h.events().slice(mark))).not.toMatch(/xksProxyAuthenticationCredential|rawSecretAccessKey/i);
  }, 240_000);
});
