// KMS over the wire with the real @aws-sdk/client-kms: pagination, filters, errors, entry shapes,
// GenerateRandom and the connect/disconnect state machine.
import { X509Certificate } from 'node:crypto';
import {
  ConnectCustomKeyStoreCommand, DescribeCustomKeyStoresCommand, DisconnectCustomKeyStoreCommand, GenerateRandomCommand,
  paginateDescribeCustomKeyStores, type CustomKeyStoresListEntry,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { creds, kmsClient, manyStores, MGMT, rawJson, rejection } from './helpers.js';

const N = 23;

describe('DescribeCustomKeyStores pagination', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({ scenario: manyStores(N) }); });
  afterAll(() => sim.close());

  it('returns every store exactly once for every Limit from 1 to more than the store count', async () => {
    const kms = kmsClient(sim);
    for (let limit = 1; limit <= N + 2; limit++) {
      const seen: string[] = [];
      let pages = 0;
      for await (const page of paginateDescribeCustomKeyStores({ client: kms, pageSize: limit }, {})) {
        pages++;
        expect(page.CustomKeyStores!.length).toBeLessThanOrEqual(limit);
        expect(page.Truncated).toBe(page.NextMarker !== undefined);
        seen.push(...page.CustomKeyStores!.map((s) => s.CustomKeyStoreId!));
      }
      expect(seen.length, `limit ${limit}`).toBe(N);
      expect(new Set(seen).size).toBe(N);
      expect(pages).toBe(Math.ceil(N / limit));
    }
  });

  it('omits NextMarker on the last page and sends Truncated false', async () => {
    const res = await rawJson(sim, 'TrentService.DescribeCustomKeyStores', { Limit: 1000 });
    expect(res.status).toBe(200);
    expect(res.json.Truncated).toBe(false);
    expect('NextMarker' in res.json).toBe(false);
    expect(typeof res.json.CustomKeyStores[0].CreationDate).toBe('number');
  });

  it('keeps markers stable when a store is deleted between two pages', async () => {
    const s = await startSimulator({ scenario: manyStores(6) });
    try {
      const kms = kmsClient(s);
      const first = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 2 }));
      s.fleet.removeStore(first.CustomKeyStores![1]!.CustomKeyStoreId!); // already returned
      s.fleet.removeStore('cks-00000000000000003'); // not yet returned
      const rest: string[] = [];
      let marker = first.NextMarker;
      while (marker) {
        const page = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 2, Marker: marker }));
        rest.push(...page.CustomKeyStores!.map((x) => x.CustomKeyStoreId!));
        marker = page.NextMarker;
      }
      expect(rest).toEqual(['cks-00000000000000002', 'cks-00000000000000004', 'cks-00000000000000005']);
    } finally {
      await s.close();
    }
  });

  it('rejects a marker it never issued, and markers after invalidation', async () => {
    const kms = kmsClient(sim);
    const err = await rejection(() => kms.send(new DescribeCustomKeyStoresCommand({ Marker: 'bm90LWEtbWFya2Vy' })));
    expect(err.name).toBe('InvalidMarkerException');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    const page = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1 }));
    sim.fleet.invalidateMarkers();
    expect((await rejection(() => kms.send(new DescribeCustomKeyStoresCommand({ Marker: page.NextMarker })))).name).toBe('InvalidMarkerException');
    // A marker is bound to its account and region.
    const other = kmsClient(sim, 'eu-west-1');
    const fresh = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1 }));
    expect((await rejection(() => other.send(new DescribeCustomKeyStoresCommand({ Marker: fresh.NextMarker })))).name).toBe('InvalidMarkerException');
  });

  it('validates Limit 1..1000', async () => {
    const kms = kmsClient(sim);
    for (const Limit of [0, 1001]) {
      const err = await rejection(() => kms.send(new DescribeCustomKeyStoresCommand({ Limit })));
      expect(err.name).toBe('ValidationException');
      expect(err.message).toMatch(/limit/);
    }
  });
});

describe('KMS against the demo scenario', () => {
  let sim: RunningSimulator;
  const clock = manualClock(Date.UTC(2025, 5, 1));
  beforeAll(async () => {
    sim = await startSimulator({ clock });
    sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 }); // the manual clock never leaves the first second
  });
  afterAll(() => sim.close());
  const acct = (a: string, region = 'us-east-1') => kmsClient(sim, region, creds(a));

  it('filters by id and by name, and rejects both at once', async () => {
    const kms = acct('222222222222');
    const byId = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0' }));
    expect(byId.CustomKeyStores!.map((s) => s.CustomKeyStoreName)).toEqual(['payments-hsm']);
    const byName = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'payments-xks' }));
    expect(byName.CustomKeyStores!.map((s) => s.CustomKeyStoreId)).toEqual(['cks-2b3c4d5e6f7a80002']);
    const both = await rejection(() => kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0', CustomKeyStoreName: 'payments-hsm' })));
    expect(both.name).toBe('ValidationException');
    expect(both.$metadata?.httpStatusCode).toBe(400);
  });

  it('answers CustomKeyStoreNotFoundException for an unknown id or name, and for another account\'s store', async () => {
    const kms = acct('222222222222');
    for (const input of [{ CustomKeyStoreId: 'cks-00000000000000000' }, { CustomKeyStoreName: 'nope' }]) {
      const err = await rejection(() => kms.send(new DescribeCustomKeyStoresCommand(input)));
      expect(err.name).toBe('CustomKeyStoreNotFoundException');
      expect(err.$metadata?.httpStatusCode).toBe(400);
    }
    const err = await rejection(() => acct(MGMT).send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0' })));
    expect(err.name).toBe('CustomKeyStoreNotFoundException');
  });

  it('returns every field that applies to each store type', async () => {
    const eu = (await acct('222222222222', 'eu-west-1').send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!;
    const hsm = eu.find((s) => s.CustomKeyStoreType === 'AWS_CLOUDHSM')!;
    expect(Object.keys(hsm).sort()).toEqual(['CloudHsmClusterId', 'ConnectionState', 'CreationDate', 'CustomKeyStoreId', 'CustomKeyStoreName', 'CustomKeyStoreType', 'TrustAnchorCertificate']);
    expect(hsm.CreationDate).toEqual(new Date('2024-04-02T12:00:00Z'));
    // The demo's trust anchor expires in 20 days: a real certificate.
    const cert = new X509Certificate(hsm.TrustAnchorCertificate!);
    expect(new Date(cert.validTo).getTime() - clock.now()).toBeLessThan(21 * 86_400_000);
    expect(new Date(cert.validTo).getTime() - clock.now()).toBeGreaterThan(19 * 86_400_000);
    const xks = eu.find((s) => s.CustomKeyStoreType === 'EXTERNAL_KEY_STORE')!;
    expect(xks).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'XKS_PROXY_NOT_REACHABLE' });
    expect(Object.keys(xks).sort()).toEqual(['ConnectionErrorCode', 'ConnectionState', 'CreationDate', 'CustomKeyStoreId', 'CustomKeyStoreName', 'CustomKeyStoreType', 'XksProxyConfiguration']);
    expect(Object.keys(xks.XksProxyConfiguration!).sort()).toEqual(['AccessKeyId', 'Connectivity', 'UriEndpoint', 'UriPath', 'VpcEndpointServiceName']);
  });

  it('serves stores in every connection state across the demo fleet', async () => {
    const states = new Set<string>();
    for (const [a, regions] of [[MGMT, ['us-east-1']], ['222222222222', ['us-east-1', 'eu-west-1']], ['333333333333', ['us-east-1', 'ap-southeast-2']]] as const) {
      for (const r of regions) {
        for (const s of (await acct(a, r).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!) states.add(s.ConnectionState!);
      }
    }
    expect([...states].sort()).toEqual(['CONNECTED', 'CONNECTING', 'DISCONNECTED', 'DISCONNECTING', 'FAILED']);
  });

  it('GenerateRandom: bytes for a CONNECTED CloudHSM store, the real errors otherwise', async () => {
    const kms = acct('222222222222');
    const ok = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 16, CustomKeyStoreId: 'cks-1234567890abcdef0' }));
    expect(ok.Plaintext!.length).toBe(16);
    expect((await rejection(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-3c4d5e6f7a8b90003' })))).name).toBe('CustomKeyStoreInvalidStateException');
    expect((await rejection(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-2b3c4d5e6f7a80002' })))).name).toBe('UnsupportedOperationException');
    expect((await rejection(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-00000000000000000' })))).name).toBe('CustomKeyStoreNotFoundException');
    // The demo's CONNECTED store whose cluster has no ACTIVE HSM fails its probe.
    const probe = await rejection(() => acct('333333333333').send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-5e6f7a8b9c0d10005' })));
    expect(probe.name).toBe('KMSInternalException');
    expect(probe.$metadata?.httpStatusCode).toBe(500);
    // Derived from the cluster, not scripted: an ACTIVE HSM makes it work, a scripted probeFailure still wins.
    const added = sim.fleet.addHsm('cluster-analyticsprd', { az: 'us-east-1a' });
    expect((await acct('333333333333').send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-5e6f7a8b9c0d10005' }))).Plaintext!.length).toBe(1);
    sim.fleet.setStore('cks-5e6f7a8b9c0d10005', { probeFailure: 'DependencyTimeoutException' });
    expect((await rejection(() => acct('333333333333').send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: 'cks-5e6f7a8b9c0d10005' })))).name).toBe('DependencyTimeoutException');
    sim.fleet.setStore('cks-5e6f7a8b9c0d10005', { probeFailure: null });
    sim.fleet.removeHsm('cluster-analyticsprd', added.id);
  });

  it('runs the connect/disconnect state machine on the simulated clock', async () => {
    const kms = acct('222222222222');
    const id = 'cks-3c4d5e6f7a8b90003'; // DISCONNECTED, healthy cluster
    const state = async () => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores![0]!;
    expect((await rejection(() => kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id })))).name).toBe('CustomKeyStoreInvalidStateException');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await state()).ConnectionState).toBe('CONNECTING');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id })); // idempotent while CONNECTING
    clock.advance(4_999);
    expect((await state()).ConnectionState).toBe('CONNECTING');
    clock.advance(1);
    expect((await state()).ConnectionState).toBe('CONNECTED');
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await state()).ConnectionState).toBe('DISCONNECTING');
    expect((await rejection(() => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id })))).name).toBe('CustomKeyStoreInvalidStateException');
    clock.advance(1_000);
    expect((await state()).ConnectionState).toBe('DISCONNECTED');

    // The scenario sets where the next connect ends: FAILED with that code; a FAILED store must be disconnected first.
    sim.fleet.setStore(id, { connectError: 'USER_LOCKED_OUT' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    clock.advance(5_000);
    expect(await state()).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'USER_LOCKED_OUT' });
    const again = await rejection(() => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id })));
    expect(again.name).toBe('CustomKeyStoreInvalidStateException');
    expect(again.$metadata?.httpStatusCode).toBe(400);
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    clock.advance(1_000);
    const s = await state();
    expect(s.ConnectionState).toBe('DISCONNECTED');
    expect(s.ConnectionErrorCode).toBeUndefined();
    expect((await rejection(() => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-00000000000000000' })))).name).toBe('CustomKeyStoreNotFoundException');
  });

  it('fails a connect with INSUFFICIENT_CLOUDHSM_HSMS or CLUSTER_NOT_FOUND, and rejects an inactive cluster', async () => {
    const kms = acct('333333333333');
    const describe = async (id: string) => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores![0]!;
    const noHsms = 'cks-5e6f7a8b9c0d10005';
    sim.fleet.setStore(noHsms, { state: 'DISCONNECTED' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: noHsms }));
    clock.advance(5_000);
    expect(await describe(noHsms)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INSUFFICIENT_CLOUDHSM_HSMS' });
    const missing = 'cks-6f7a8b9c0d1e20006';
    sim.fleet.setStore(missing, { state: 'DISCONNECTED' });
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: missing }));
    clock.advance(5_000);
    expect(await describe(missing)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'CLUSTER_NOT_FOUND' });
    const apac = kmsClient(sim, 'ap-southeast-2', creds('333333333333'));
    const degraded = await rejection(() => apac.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-9c0d1e2f3a4b50009' })));
    expect(degraded.name).toBe('CloudHsmClusterNotActiveException');
  });
});

describe('wire-level behaviour', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({});
    sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 });
  });
  afterAll(() => sim.close());

  it('rejects a request without authorization as AWS does', async () => {
    const res = await rawJson(sim, 'TrentService.DescribeCustomKeyStores', {}, { auth: null });
    expect(res.status).toBe(400);
    expect(res.json.__type).toBe('MissingAuthenticationTokenException');
    expect(res.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  });

  it('answers an unknown access key with UnrecognizedClientException', async () => {
    const kms = kmsClient(sim, 'us-east-1', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' });
    const err = await rejection(() => kms.send(new DescribeCustomKeyStoresCommand({})));
    expect(err.name).toBe('UnrecognizedClientException');
    expect(err.$metadata?.httpStatusCode).toBe(400);
  });

  it('answers an unknown operation with UnknownOperationException, and keeps serving', async () => {
    const res = await rawJson(sim, 'TrentService.CreateUnicorn', {});
    expect(res.status).toBe(400);
    expect(res.json.__type).toBe('UnknownOperationException');
    const unknownService = await rawJson(sim, 'NoSuchService_20200101.Foo', {});
    expect(unknownService.json.__type).toBe('UnknownOperationException');
    const garbage = await rawJson(sim, 'TrentService.DescribeCustomKeyStores', '{not json');
    expect(garbage.json.__type).toBe('SerializationException');
    expect((await rawJson(sim, 'TrentService.DescribeCustomKeyStores', {})).status).toBe(200);
  });

  it('sends error codes in __type and x-amzn-errortype with a lower-case message', async () => {
    const res = await rawJson(sim, 'TrentService.DescribeCustomKeyStores', { CustomKeyStoreId: 'cks-00000000000000000' });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ __type: 'CustomKeyStoreNotFoundException', message: expect.any(String) });
    expect(res.headers.get('x-amzn-errortype')).toBe('CustomKeyStoreNotFoundException');
  });

  it('takes the region from the SigV4 credential scope', async () => {
    const eu = await rawJson(sim, 'TrentService.DescribeCustomKeyStores', {}, { account: '222222222222', region: 'eu-west-1' });
    expect(eu.json.CustomKeyStores.map((s: CustomKeyStoresListEntry) => s.CustomKeyStoreName).sort()).toEqual(['eu-xks', 'payments-hsm-eu']);
    const nowhere = await rawJson(sim, 'TrentService.DescribeCustomKeyStores', {}, { account: '222222222222', region: 'sa-east-1' });
    expect(nowhere.json).toEqual({ CustomKeyStores: [], Truncated: false });
  });
});
