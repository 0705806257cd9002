// KMS clients are pooled per region and lent to one account at a time; each request must still be signed as its own
// account. Many accounts polled concurrently, with latency so requests overlap: every store the poller
// reports must belong, in the simulator, to the account and region it was reported under.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { ListMetricsCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LookupEventsCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { DescribeClustersCommand, type CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { AwsClients } from '../../src/collect/aws-clients.js';
import { SnapshotPoller } from '../../src/pipeline/snapshot-poller.js';
import { parseConfig } from '../../src/config/load.js';
import { startSimulator, baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { tempDir } from '../helpers/sim.js';

let sim: RunningSimulator;
const ACCOUNTS = 40;

beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    scenario: {
      accounts: [{ id: '100000000000', name: 'management' }],
      faults: { rateLimitPerSecond: 0, latencyMs: 5, jitterMs: 10 },
      generate: { seed: 7, accounts: ACCOUNTS, regions: ['us-east-1', 'eu-west-1'], storesPerRegion: 2, cloudHsmFraction: 0.3 },
    },
  });
});
afterAll(async () => { await sim?.close(); });

/** Config and clients for the management account alone (fleet: false) or every account through AssumeRole. */
function setup(aws: Record<string, unknown>, fleet: boolean) {
  const accounts = sim.fleet.listAccounts().filter((a) => a.id !== '100000000000');
  const config = parseConfig({
    stateDir: tempDir(),
    aws: { endpoint: sim.url, ...aws },
    accounts: fleet ? [{ id: '100000000000' }, ...accounts.map((a) => ({ id: a.id, roleArn: `arn:aws:iam::${a.id}:role/KeystoreWatch` }))] : [{ id: '100000000000' }],
    regions: fleet ? ['us-east-1', 'eu-west-1'] : ['us-east-1'],
  }, 'test', {});
  const clients = new AwsClients({ aws: config.aws, credentials: { accessKeyId: baseAccessKeyId('100000000000'), secretAccessKey: 'x' } });
  return { accounts, config, clients };
}

describe('shared per-region KMS clients', () => {
  it('sign every request as its own account under concurrency', async () => {
    const { accounts, config, clients } = setup({ concurrency: 32, maxAttempts: 1 }, true);
    expect(accounts.length).toBe(ACCOUNTS);
    try {
      const snap = await new SnapshotPoller({ config, clients }).poll(null);
      expect(snap.targets.filter((t) => !t.ok)).toEqual([]);
      expect(snap.stores.length).toBeGreaterThan(ACCOUNTS);
      for (const s of snap.stores) {
        const truth = sim.fleet.getStore(s.id)!;
        expect(`${truth.account}/${truth.region}`, s.id).toBe(`${s.accountId}/${s.region}`);
      }
      const expected = accounts.reduce((n, a) => n + sim.fleet.storesIn(a.id, 'us-east-1', false).length + sim.fleet.storesIn(a.id, 'eu-west-1', false).length, 0);
      expect(snap.stores.length).toBe(expected);
      // CloudHSM clients are lent the same way (with an older SDK core that memoises credentials):
      // every cluster behind a CloudHSM store is found, under the account that owns it.
      const wanted = new Set(snap.stores.filter((s) => s.type === 'AWS_CLOUDHSM' && s.clusterId).map((s) => s.clusterId!));
      expect(wanted.size).toBeGreaterThan(5);
      expect(new Set(snap.clusters.map((c) => c.id))).toEqual(wanted);
      for (const c of snap.clusters) {
        const truth = sim.fleet.getCluster(c.id)!;
        expect(`${truth.account}/${truth.region}`, c.id).toBe(`${c.accountId}/${c.region}`);
      }
      // One client per region and use, reused across accounts: far fewer than the 80 targets.
      expect(clients.clientsCreated.kms).toBeLessThanOrEqual(2 * 32);
      expect(clients.clientsCreated.cloudhsmv2).toBeLessThanOrEqual(2 * 32);
    } finally {
      clients.close();
    }
  });

  it('CloudWatch, CloudTrail and CloudHSM clients resolve their middleware once and still sign every call as its borrower', async () => {
    // cacheMiddleware: a lent client keeps the handler it resolved on its first call (about 130 us of CPU
    // less per call; 11,000 ListMetrics on a cold dense poll). Safe only because a client has one borrower
    // at a time and the calls carry no per-call options: the signer asks the lease whose turn it is. The
    // CloudHSM client's older core has no such option; the project keeps the same cache (handler-cache.ts).
    // sdkThreads 0: the clients themselves, in this thread (on an SDK thread the same pools lend the same clients).
    const { accounts, clients } = setup({ concurrency: 1, maxAttempts: 1, sdkThreads: 0 }, true);
    const order = [accounts[0]!, accounts[1]!, accounts[2]!, accounts[0]!];
    const target = (id: string) => ({ region: 'us-east-1', roleArn: `arn:aws:iam::${id}:role/KeystoreWatch`, externalId: null });
    // Counts how often each lent client's middleware stack is resolved into a handler.
    const resolves = new Map<object, number>();
    const counted = <C extends CloudWatchClient | CloudTrailClient | CloudHSMV2Client>(client: C): C => {
      if (!resolves.has(client)) {
        resolves.set(client, 0);
        const stack = client.middlewareStack as unknown as { add: (mw: (next: unknown) => unknown, o: object) => void };
        stack.add((next) => { resolves.set(client, resolves.get(client)! + 1); return next; }, { step: 'initialize', name: 'testResolveCounter' });
      }
      return client;
    };
    try {
      // The simulator tallies each call under the account whose credentials signed it.
      const signedAs = (account: string, op: string) => sim.fleet.counters().byTarget[`${account}/us-east-1/${op}`]?.ok ?? 0;
      for (const account of order) {
        const ops = ['ListMetrics', 'LookupEvents', 'DescribeClusters'];
        const before = ops.map((op) => signedAs(account.id, op));
        await clients.withCloudWatch(target(account.id), (cw) => counted(cw).send(new ListMetricsCommand({ Namespace: 'AWS/KMS' })));
        await clients.withCloudTrail(target(account.id), (ct) => counted(ct).send(new LookupEventsCommand({ MaxResults: 5 })));
        await clients.withCloudHsm(target(account.id), (hsm) => counted(hsm).send(new DescribeClustersCommand({})));
        expect(ops.map((op) => signedAs(account.id, op)), account.id).toEqual(before.map((n) => n + 1));
      }
      // Sequential lends reuse one client per service and region: three clients, each resolved once for four calls.
      expect([...resolves.values()]).toEqual([1, 1, 1]);
    } finally {
      clients.close();
    }
  });

  it('refuses a call on a client kept past its lease instead of signing it as someone', async () => {
    const { clients } = setup({ maxAttempts: 1 }, false);
    try {
      const target = { region: 'us-east-1', roleArn: null, externalId: null };
      const kept = await clients.withKms(target, async (kms) => {
        await kms.send(new DescribeCustomKeyStoresCommand({}));
        return kms;
      });
      await expect(kept.send(new DescribeCustomKeyStoresCommand({}))).rejects.toThrow(/outside its lease/);
    } finally {
      clients.close();
    }
  });

  it('answers at the deadline even while the SDK sleeps between retries, and lends the client again only once its call has ended', async () => {
    const { clients } = setup({ maxAttempts: 10 }, false);
    const target = { region: 'us-east-1', roleArn: null, externalId: null };
    // As the poller does first: settings resolved and the SDK threads (if any) up before the 300 ms deadline starts.
    await Promise.all([clients.prepare(), clients.startSdkThreads()]);
    // Throttled on every attempt: with 10 attempts the SDK's backoff (500 ms base, doubling) would run for many seconds.
    sim.fleet.setFaults({ errors: [{ service: 'kms', account: '100000000000', region: 'us-east-1', error: 'ThrottlingException', status: 400 }] });
    const sent = () => sim.fleet.counters().byTarget['100000000000/us-east-1/DescribeCustomKeyStores']?.throttled ?? 0;
    try {
      const signal = AbortSignal.timeout(300);
      let lent: unknown;
      const walk = clients.withKms(target, (kms) => { lent = kms; return kms.send(new DescribeCustomKeyStoresCommand({})); }, { signal });
      await expect(walk).rejects.toMatchObject({ name: 'AbortError' });
      expect(signal.aborted).toBe(true);
      // The first client is still inside its (aborted) call: a second borrower gets another client.
      sim.fleet.setFaults({ errors: [] });
      const second = await clients.withKms(target, async (kms) => { await kms.send(new DescribeCustomKeyStoresCommand({})); return kms; });
      expect(second).not.toBe(lent);
      // After the deadline the first call sends nothing more: its next attempt is refused before it leaves.
      const atDeadline = sent();
      expect(atDeadline).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1500));
      expect(sent()).toBe(atDeadline);
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 5, jitterMs: 10 });
      clients.close();
    }
  });

  it('stops the targets in flight when the caller aborts, without a listener per target on its signal', async () => {
    const { config, clients } = setup({ concurrency: 32, maxAttempts: 1 }, true);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    // Every KMS answer hangs: all 32 slots are busy when the caller gives up.
    sim.fleet.setFaults({ errors: [{ service: 'kms', error: 'hang' }] });
    try {
      const ctl = new AbortController();
      const poll = new SnapshotPoller({ config, clients }).poll(null, ctl.signal);
      await new Promise((r) => setTimeout(r, 300));
      ctl.abort();
      const snap = await poll;
      expect(snap.targets).toHaveLength(config.accounts.length * config.regions.length);
      expect(snap.targets.length).toBeGreaterThan(32);
      expect(snap.targets.filter((t) => t.ok)).toEqual([]);
      // Aborted by the caller, not timed out: the targets' own deadline (60 s) is far away.
      expect(snap.targets.filter((t) => /no answer within/.test(t.error?.message ?? ''))).toEqual([]);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 5, jitterMs: 10 });
      clients.close();
    }
  });
});
