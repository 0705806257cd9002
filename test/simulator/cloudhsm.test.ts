// CloudHSM v2 DescribeClusters with the project's pinned @aws-sdk/client-cloudhsm-v2 (3.332.0).
import { X509Certificate } from 'node:crypto';
import { DescribeClustersCommand, paginateDescribeClusters } from '@aws-sdk/client-cloudhsm-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { control, creds, hsmClient, manyStores, rejection } from './helpers.js';

describe('DescribeClusters', () => {
  let sim: RunningSimulator;
  const clock = manualClock(Date.UTC(2025, 0, 1));
  beforeAll(async () => { sim = await startSimulator({ scenario: manyStores(30), clock }); });
  afterAll(() => sim.close());

  it('pages with MaxResults 1..25 and NextToken, each cluster once', async () => {
    const hsm = hsmClient(sim);
    for (const pageSize of [1, 4, 25]) {
      const ids: string[] = [];
      for await (const page of paginateDescribeClusters({ client: hsm, pageSize }, {})) {
        expect(page.Clusters!.length).toBeLessThanOrEqual(pageSize);
        ids.push(...page.Clusters!.map((c) => c.ClusterId!));
      }
      expect(new Set(ids).size).toBe(30);
      expect(ids.length).toBe(30);
    }
    for (const MaxResults of [0, 26]) expect((await rejection(() => hsm.send(new DescribeClustersCommand({ MaxResults })))).name).toBe('ValidationException');
    const bad = await rejection(() => hsm.send(new DescribeClustersCommand({ NextToken: 'bm9wZQ' })));
    expect(bad.name).toBe('CloudHsmInvalidRequestException');
    expect(bad.message).toMatch(/NextToken/);
  });

  it('filters by clusterIds, states and vpcIds, and rejects an unknown filter key', async () => {
    const hsm = hsmClient(sim);
    const all = (await hsm.send(new DescribeClustersCommand({}))).Clusters!;
    const pick = [all[3]!.ClusterId!, all[7]!.ClusterId!];
    const byId = await hsm.send(new DescribeClustersCommand({ Filters: { clusterIds: pick } }));
    expect(byId.Clusters!.map((c) => c.ClusterId)).toEqual(pick);
    sim.fleet.setCluster(pick[0]!, { state: 'DEGRADED', stateMessage: 'an HSM failed' });
    const degraded = await hsm.send(new DescribeClustersCommand({ Filters: { states: ['DEGRADED'] } }));
    expect(degraded.Clusters!.map((c) => [c.ClusterId, c.StateMessage])).toEqual([[pick[0], 'an HSM failed']]);
    expect((await hsm.send(new DescribeClustersCommand({ Filters: { vpcIds: [all[0]!.VpcId!] } }))).Clusters!.length).toBe(30);
    expect((await hsm.send(new DescribeClustersCommand({ Filters: { vpcIds: ['vpc-nope'] } }))).Clusters).toEqual([]);
    expect((await rejection(() => hsm.send(new DescribeClustersCommand({ Filters: { colour: ['blue'] } })))).name).toBe('CloudHsmInvalidRequestException');
  });

  it('describes HSMs, subnets and certificates; HSMs and certificates change through the control API', async () => {
    const hsm = hsmClient(sim);
    const id = 'cluster-bulkaaxxxxx';
    const one = async () => (await hsm.send(new DescribeClustersCommand({ Filters: { clusterIds: [id] } }))).Clusters![0]!;
    let c = await one();
    expect(c.Hsms!.map((h) => [h.AvailabilityZone, h.State])).toEqual([['us-east-1a', 'ACTIVE'], ['us-east-1b', 'ACTIVE']]);
    for (const h of c.Hsms!) {
      expect(h.HsmId).toMatch(/^hsm-[2-7a-zA-Z]{11}$/);
      expect(h.SubnetId).toBe(c.SubnetMapping![h.AvailabilityZone!]);
      expect(h.EniIp).toMatch(/^10\.\d+\.\d+\.\d+$/);
      expect(h.EniId).toMatch(/^eni-/);
    }
    expect(c.CreateTimestamp).toBeInstanceOf(Date);
    expect(c.VpcId).toMatch(/^vpc-/);
    expect(c.HsmType).toBe('hsm1.medium');

    const added = await control(sim, 'POST', `/_sim/clusters/${id}/hsms`, { az: 'us-east-1c', state: 'CREATE_IN_PROGRESS' });
    expect(added.status).toBe(201);
    await control(sim, 'PATCH', `/_sim/clusters/${id}/hsms/${c.Hsms![0]!.HsmId}`, { state: 'DEGRADED' });
    expect((await control(sim, 'DELETE', `/_sim/clusters/${id}/hsms/${c.Hsms![1]!.HsmId}`)).status).toBe(200);
    c = await one();
    expect(c.Hsms!.map((h) => [h.AvailabilityZone, h.State])).toEqual([['us-east-1a', 'DEGRADED'], ['us-east-1c', 'CREATE_IN_PROGRESS']]);

    const unknown = await control(sim, 'PUT', `/_sim/clusters/${id}/certificates/bogus`, { expiresIn: '10d' });
    expect([unknown.status, unknown.body.error]).toEqual([404, expect.stringMatching(/unknown certificate bogus/)]);
    const put = await control(sim, 'PUT', `/_sim/clusters/${id}/certificates/clusterCertificate`, { expiresIn: '10d' });
    expect(put.status).toBe(200);
    c = await one();
    const cert = new X509Certificate(c.Certificates!.ClusterCertificate!);
    expect(new Date(cert.validTo).getTime()).toBe(Math.floor((clock.now() + 10 * 86_400_000) / 1000) * 1000);
    await control(sim, 'DELETE', `/_sim/clusters/${id}/certificates/clusterCertificate`);
    expect((await one()).Certificates!.ClusterCertificate).toBeUndefined();
    expect((await control(sim, 'DELETE', `/_sim/clusters/${id}`)).status).toBe(200);
    expect((await hsm.send(new DescribeClustersCommand({ Filters: { clusterIds: [id] } }))).Clusters).toEqual([]);
  });

  it('answers CloudHSM errors with Message and the x-amzn-errortype header', async () => {
    const res = await fetch(sim.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'BaldrApiService.DescribeClusters', authorization: `AWS4-HMAC-SHA256 Credential=${creds().accessKeyId}/20250101/us-east-1/cloudhsm/aws4_request, SignedHeaders=host, Signature=0` },
      body: JSON.stringify({ Filters: { nope: [] } }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('CloudHsmInvalidRequestException');
    expect(await res.json()).toMatchObject({ __type: 'CloudHsmInvalidRequestException', Message: expect.any(String) });
  });
});
