// Faults and realism: the rate limit, injected errors (incl. hang, reset, malformed, truncated),
// latency, eventual consistency and counters, through the real KMS client and the control API.
import { DescribeCustomKeyStoresCommand, ConnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { control, creds, hsmClient, kmsClient, rejection } from './helpers.js';

const describeAll = (kms: KMSClient) => kms.send(new DescribeCustomKeyStoresCommand({}));

describe('rate limit', () => {
  let sim: RunningSimulator;
  const clock = manualClock();
  beforeAll(async () => { sim = await startSimulator({ clock }); sim.fleet.setFaults({ latencyMs: 0, jitterMs: 0 }); });
  afterAll(() => sim.close());

  for (const limit of [5, 3, 12]) {
    it(`accepts exactly ${limit} requests per second per account, region and operation, then throttles`, async () => {
      sim.fleet.setFaults({ rateLimitPerSecond: limit });
      clock.advance(10_000);
      sim.fleet.resetCounters();
      const kms = kmsClient(sim, 'us-east-1', creds('222222222222'));
      for (let i = 0; i < limit; i++) await describeAll(kms);
      const err = await rejection(() => describeAll(kms));
      expect(err.name).toBe('ThrottlingException');
      expect(err.$metadata?.httpStatusCode).toBe(400);
      expect(err.message).toBe('You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.');
      // Other regions, accounts and operations have their own budget.
      await describeAll(kmsClient(sim, 'eu-west-1', creds('222222222222')));
      await describeAll(kmsClient(sim, 'us-east-1', creds('333333333333')));
      await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-3c4d5e6f7a8b90003' }));
      // A sliding one-second window.
      clock.advance(999);
      expect((await rejection(() => describeAll(kms))).name).toBe('ThrottlingException');
      clock.advance(1);
      await describeAll(kms);
      const c = sim.fleet.counters();
      expect(c.byTarget['222222222222/us-east-1/DescribeCustomKeyStores']).toEqual({ ok: limit + 1, throttled: 2, failed: 0 });
      expect(c.byOutcome.throttled).toBe(2);
    });
  }

  it('limits other operations only when configured', async () => {
    sim.fleet.setFaults({ rateLimitPerSecond: 5, rateLimits: { DescribeClusters: 2 } });
    clock.advance(10_000);
    const hsm = hsmClient(sim, 'us-east-1', creds('222222222222'));
    await hsm.send(new DescribeClustersCommand({}));
    await hsm.send(new DescribeClustersCommand({}));
    const err = await rejection(() => hsm.send(new DescribeClustersCommand({})));
    expect(err.name).toBe('ThrottlingException');
  });
});

describe('injected faults', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({}); });
  afterAll(() => sim.close());
  beforeEach(() => { sim.fleet.replaceFaults({ rateLimitPerSecond: 0 }); });

  it('injects AWS errors by operation, account and region with their status codes', async () => {
    sim.fleet.setFaults({ errors: [
      { operation: 'DescribeCustomKeyStores', account: '222222222222', region: 'us-east-1', error: 'KMSInternalException' },
      { operation: 'DescribeCustomKeyStores', account: '333333333333', error: 'DependencyTimeoutException' },
      { service: 'kms', account: '111111111111', region: 'us-east-1', error: 'AccessDeniedException', message: 'not allowed' },
    ] });
    const e500 = await rejection(() => describeAll(kmsClient(sim, 'us-east-1', creds('222222222222'))));
    expect([e500.name, e500.$metadata?.httpStatusCode]).toEqual(['KMSInternalException', 500]);
    const e503 = await rejection(() => describeAll(kmsClient(sim, 'ap-southeast-2', creds('333333333333'))));
    expect([e503.name, e503.$metadata?.httpStatusCode]).toEqual(['DependencyTimeoutException', 503]);
    const denied = await rejection(() => describeAll(kmsClient(sim, 'us-east-1', creds('111111111111'))));
    expect([denied.name, denied.message, denied.$metadata?.httpStatusCode]).toEqual(['AccessDeniedException', 'not allowed', 400]);
    // Unaffected targets are unaffected.
    expect((await describeAll(kmsClient(sim, 'eu-west-1', creds('222222222222')))).CustomKeyStores!.length).toBe(2);
    expect((await describeAll(kmsClient(sim, 'eu-west-1', creds('111111111111')))).CustomKeyStores).toEqual([]);
    const c = sim.fleet.counters();
    expect(c.byAccountRegion['222222222222/us-east-1']!.failed).toBe(1);
  });

  it('stops after `remaining` injections and picks by a seeded probability', async () => {
    sim.fleet.setFaults({ errors: [{ operation: 'DescribeCustomKeyStores', error: 'KMSInternalException', remaining: 2 }] });
    const kms = kmsClient(sim);
    for (let i = 0; i < 2; i++) expect((await rejection(() => describeAll(kms))).name).toBe('KMSInternalException');
    await describeAll(kms);
    const outcomes = async () => {
      sim.fleet.replaceFaults({ rateLimitPerSecond: 0, seed: 42, errors: [{ operation: 'DescribeCustomKeyStores', error: 'KMSInternalException', probability: 0.5 }] });
      const out: boolean[] = [];
      for (let i = 0; i < 40; i++) out.push(await describeAll(kms).then(() => true, () => false));
      return out;
    };
    const a = await outcomes();
    sim.fleet.replaceFaults({ rateLimitPerSecond: 0, seed: 7 });
    const b = await outcomes();
    expect(a).toEqual(b);
    const ok = a.filter(Boolean).length;
    expect(ok).toBeGreaterThan(8);
    expect(ok).toBeLessThan(32);
  });

  it('hangs, resets, and answers malformed or truncated bodies', async () => {
    const kms = new KMSClient({ endpoint: sim.url, region: 'us-east-1', credentials: creds(), maxAttempts: 1, requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true } as never });
    const inject = (error: string) => sim.fleet.setFaults({ errors: [{ operation: 'DescribeCustomKeyStores', error }] });
    inject('hang');
    const started = Date.now();
    const hang = await rejection(() => describeAll(kms));
    expect(hang.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    inject('reset');
    const reset = await rejection(() => describeAll(kms));
    expect(String(reset.code ?? reset.name)).toMatch(/ECONNRESET|socket hang up/i);
    inject('malformed');
    const malformed = await rejection(() => describeAll(kms));
    expect(malformed.message).toMatch(/JSON|Deserialization|Unexpected end/i);
    inject('truncated');
    const truncated = await rejection(() => describeAll(kms));
    expect(truncated).toBeInstanceOf(Error);
    // And the server is still fine.
    sim.fleet.setFaults({ errors: [] });
    expect((await describeAll(kms)).CustomKeyStores!.length).toBe(1);
    expect(sim.fleet.counters().byOperation.DescribeCustomKeyStores!.failed).toBeGreaterThanOrEqual(4);
  });

  it('adds latency with timers', async () => {
    sim.fleet.setFaults({ latencyMs: 150, jitterMs: 50 });
    const kms = kmsClient(sim);
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 10 }, () => describeAll(kms)));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(1000); // concurrent requests wait in parallel: no busy wait
  });

  it('counts, per answer, the latency it drew and the real time it held the call (its own cost is the difference)', async () => {
    sim.fleet.setFaults({ latencyMs: 150, jitterMs: 50 });
    sim.fleet.resetCounters();
    expect(sim.fleet.counters().served).toEqual({ answers: 0, drawnMs: 0, heldMs: 0, minExtraMs: null });
    const kms = kmsClient(sim);
    await Promise.all(Array.from({ length: 10 }, () => describeAll(kms)));
    await control(sim, 'GET', '/_sim/stats'); // the control API is not an answer to a client
    const { served } = sim.fleet.counters();
    expect(served.answers).toBe(10);
    // Drawn: latencyMs + uniform [0, jitterMs) each.
    expect(served.drawnMs).toBeGreaterThanOrEqual(1500);
    expect(served.drawnMs).toBeLessThan(2000);
    // Held: from arrival to the last byte, so never less than drawn, for any answer.
    expect(served.heldMs).toBeGreaterThanOrEqual(served.drawnMs);
    expect(served.minExtraMs).toBeGreaterThanOrEqual(0);
    // An error answer is held and counted too.
    sim.fleet.setFaults({ errors: [{ operation: 'DescribeCustomKeyStores', error: 'DependencyTimeoutException' }] });
    await rejection(() => describeAll(kms));
    sim.fleet.setFaults({ errors: [] });
    expect(sim.fleet.counters().served.answers).toBe(11);
    sim.fleet.resetCounters();
    expect(sim.fleet.counters().served).toEqual({ answers: 0, drawnMs: 0, heldMs: 0, minExtraMs: null });
  });

  it('never answers before the latency it drew, even for requests handled late in a long turn of its event loop', async () => {
    // Node arms a timer from the event loop's cached time, taken when the turn began: a request handled
    // late in a busy turn would otherwise be answered up to that turn's length early (kinder than drawn).
    sim.fleet.setFaults({ latencyMs: 5, jitterMs: 5 });
    sim.fleet.resetCounters();
    const kms = kmsClient(sim);
    for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 60 }, () => describeAll(kms)));
    const { served } = sim.fleet.counters();
    expect(served.answers).toBe(300);
    expect(served.minExtraMs).toBeGreaterThanOrEqual(0);
  });

  it('is configurable through PUT/PATCH/GET /_sim/faults and validates input', async () => {
    const put = await control(sim, 'PUT', '/_sim/faults', { rateLimitPerSecond: 0, errors: [{ operation: 'DescribeCustomKeyStores', error: 'DependencyTimeoutException' }] });
    expect(put.status).toBe(200);
    expect(put.body.errors).toHaveLength(1);
    expect((await rejection(() => describeAll(kmsClient(sim)))).name).toBe('DependencyTimeoutException');
    const patch = await control(sim, 'PATCH', '/_sim/faults', { errors: [] });
    expect(patch.body).toMatchObject({ rateLimitPerSecond: 0, errors: [] });
    await describeAll(kmsClient(sim));
    const bad = await control(sim, 'PUT', '/_sim/faults', { latencyMs: -1, bogus: true });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/latencyMs/);
    expect(bad.body.error).toMatch(/bogus/);
    const counters = await control(sim, 'GET', '/_sim/counters');
    expect(counters.body.byOutcome.ok).toBeGreaterThan(0);
    expect((await control(sim, 'POST', '/_sim/counters/reset')).body.total).toBe(0);
    expect((await control(sim, 'DELETE', '/_sim/faults')).body).toMatchObject({ rateLimitPerSecond: 5, latencyMs: 20 }); // back to the demo's
  });
});

describe('eventual consistency', () => {
  it('serves the previous state to a fraction of reads for the configured time', async () => {
    const clock = manualClock();
    const sim = await startSimulator({ clock });
    try {
      sim.fleet.replaceFaults({ rateLimitPerSecond: 0, eventualConsistency: { fraction: 1, duration: '10s' } });
      const kms = kmsClient(sim, 'us-east-1', creds('222222222222'));
      const state = async () => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0' }))).CustomKeyStores![0]!.ConnectionState;
      sim.fleet.setStore('cks-1234567890abcdef0', { state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
      expect(sim.fleet.getStore('cks-1234567890abcdef0')!.state).toBe('FAILED');
      expect(await state()).toBe('CONNECTED');
      clock.advance(9_999);
      expect(await state()).toBe('CONNECTED');
      clock.advance(1);
      expect(await state()).toBe('FAILED');

      sim.fleet.setFaults({ eventualConsistency: { fraction: 0.5, duration: '1m' } });
      sim.fleet.setStore('cks-1234567890abcdef0', { state: 'CONNECTED' });
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add((await state())!);
      expect([...seen].sort()).toEqual(['CONNECTED', 'FAILED']);

      // A deleted store stays visible to stale reads; a new one is invisible to them.
      sim.fleet.setFaults({ eventualConsistency: { fraction: 1, duration: '5s' } });
      sim.fleet.removeStore('cks-2b3c4d5e6f7a80002');
      sim.fleet.addStore('222222222222', 'us-east-1', { id: 'cks-aaaaaaaaaaaaaaaaa', name: 'brand-new', type: 'EXTERNAL_KEY_STORE' });
      const names = async () => (await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.map((s) => s.CustomKeyStoreName).sort();
      expect(await names()).toEqual(['payments-hsm', 'payments-hsm-staging', 'payments-xks']);
      clock.advance(5_000);
      expect(await names()).toEqual(['brand-new', 'payments-hsm', 'payments-hsm-staging']);
    } finally {
      await sim.close();
    }
  });
});
