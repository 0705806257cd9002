// The project's cacheMiddleware for the CloudHSM client's older SDK core (src/collect/handler-cache.ts), on a
// real CloudHSMV2Client against the simulator: resolved once per command class, options still honoured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudHSMV2Client, DescribeBackupsCommand, DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { cacheResolvedMiddleware } from '../../src/collect/handler-cache.js';
import { startSimulator, baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';

let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    scenario: {
      accounts: [{ id: '100000000000', name: 'management' }],
      faults: { rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 },
      generate: { seed: 3, accounts: 2, regions: ['us-east-1'], storesPerRegion: 3, cloudHsmFraction: 1 },
    },
  });
});
afterAll(async () => { await sim?.close(); });

function client() {
  const account = sim.fleet.listAccounts().find((a) => a.id !== '100000000000')!.id;
  const c = new CloudHSMV2Client({ region: 'us-east-1', endpoint: sim.url, maxAttempts: 1, credentials: { accessKeyId: baseAccessKeyId(account), secretAccessKey: 'x' } });
  let resolves = 0;
  (c.middlewareStack as unknown as { add: (mw: (next: unknown) => unknown, o: object) => void })
    .add((next) => { resolves += 1; return next; }, { step: 'initialize', name: 'testResolveCounter' });
  return { c: cacheResolvedMiddleware(c), resolves: () => resolves };
}

describe('cacheResolvedMiddleware (older SDK core)', () => {
  it('resolves the stack once per command class, and each call still sends its own input', async () => {
    const { c, resolves } = client();
    const all = await c.send(new DescribeClustersCommand({}));
    expect(all.Clusters!.length).toBeGreaterThan(1);
    const first = all.Clusters![0]!.ClusterId!;
    // A filtered call through the cached handler: the answer is that input's, not the first call's.
    const one = await c.send(new DescribeClustersCommand({ Filters: { clusterIds: [first] } }));
    expect(one.Clusters!.map((x) => x.ClusterId)).toEqual([first]);
    await c.send(new DescribeClustersCommand({}));
    expect(resolves()).toBe(1);
    // Another command class gets its own handler (the simulator, like a CloudHSM API it does not model,
    // refuses DescribeBackups: an error through the cached handler leaves the cache as it was).
    await expect(c.send(new DescribeBackupsCommand({}))).rejects.toThrow(/DescribeBackups|operation/i);
    await expect(c.send(new DescribeBackupsCommand({}))).rejects.toThrow(/DescribeBackups|operation/i);
    expect(resolves()).toBe(2);
    expect((await c.send(new DescribeClustersCommand({ Filters: { clusterIds: [first] } }))).Clusters!.map((x) => x.ClusterId)).toEqual([first]);
    expect(resolves()).toBe(2);
  });

  it('a call with options goes through the SDK\'s own send, which honours them', async () => {
    const { c, resolves } = client();
    await c.send(new DescribeClustersCommand({}));
    const aborted = AbortSignal.abort();
    await expect(c.send(new DescribeClustersCommand({}), { abortSignal: aborted })).rejects.toThrow(/abort/i);
    await expect(c.send(new DescribeClustersCommand({}), { abortSignal: aborted })).rejects.toThrow(/abort/i);
    expect(resolves()).toBe(3);
  });
});
