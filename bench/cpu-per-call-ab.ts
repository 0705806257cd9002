// Interleaved A/B of the per-call cuts of issue 14 item 3, in one process against the simulator in another
// (no latency, no rate limit), so both sides see the same machine load: this process's CPU time
// (process.cpuUsage) per AWS call, A and B alternating over several rounds.
//   A: CloudHSM DescribeClusters on a reused client, endpoint rules evaluated per call (the SDK default for
//      the 3.332 core) vs memoised per parameter set (cacheEndpoints).
//   B: Account ListRegions through a new AccountClient per call (AwsClients.account() before) vs the
//      pooled view AwsClients.account() hands out now.
//   npx tsx bench/cpu-per-call-ab.ts [--rounds 5] [--calls 1000]
import { parseArgs } from 'node:util';
import { AccountClient, ListRegionsCommand } from '@aws-sdk/client-account';
import { CloudHSMV2Client, DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { AwsClients, cacheEndpoints } from '../src/collect/aws-clients.js';
import { parseConfig } from '../src/config/load.js';
import { mapBounded } from '../src/util/map-bounded.js';
import { SimProcess } from './lib/sim-process.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, calls: { type: 'string', default: '1000' } } });
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const CONCURRENCY = 16;

const sim = await SimProcess.start({ seed: 5, accounts: 20, regions: ['us-east-1', 'eu-west-1'], storesPerRegion: 2, cloudHsmFraction: 1, failedFraction: 0, hsmsPerCluster: 2 }, { latencyMs: 0, jitterMs: 0, rateLimitPerSecond: 0 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  const config = parseConfig({ stateDir: '/tmp', aws: { endpoint: sim.url, concurrency: CONCURRENCY, maxAttempts: 1 }, accounts: [{ id: sim.managementAccountId }], regions: ['us-east-1'] }, 'bench', {});
  const clients = new AwsClients({ aws: config.aws, credentials: sim.credentials });
  const members = sim.accountIds.slice(1);
  const role = (i: number) => ({ roleArn: `arn:aws:iam::${members[i % members.length]}:role/KeystoreWatch`, externalId: null });
  const base = { region: 'us-east-1', endpoint: sim.url, credentials: sim.credentials, maxAttempts: 1 };

  /** CPU µs per call of `call` over CALLS calls, CONCURRENCY at a time. */
  async function cpuPerCall(call: (i: number) => Promise<unknown>): Promise<number> {
    const c0 = process.cpuUsage();
    await mapBounded(Array.from({ length: CALLS }, (_, i) => i), CONCURRENCY, call);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / CALLS;
  }

  const hsmDefault = new CloudHSMV2Client(base);
  const hsmCached = new CloudHSMV2Client({ ...base, endpointProvider: cacheEndpoints((new CloudHSMV2Client(base).config as unknown as { endpointProvider: never }).endpointProvider) } as never);
  const describe = (c: CloudHSMV2Client) => () => c.send(new DescribeClustersCommand({}));
  const newClientPerCall = (i: number) => {
    const c = new AccountClient({ ...base, credentials: clients.credentialsFor(role(i)) });
    return c.send(new ListRegionsCommand({ MaxResults: 50 }));
  };
  const pooledView = (i: number) => clients.account(role(i)).send(new ListRegionsCommand({ MaxResults: 50 }));

  // Warm-up: JIT, credentials of every role, sockets.
  await cpuPerCall(describe(hsmDefault)); await cpuPerCall(describe(hsmCached)); await cpuPerCall(newClientPerCall); await cpuPerCall(pooledView);
  const r = { hsmDefault: [] as number[], hsmCached: [] as number[], newClient: [] as number[], pooled: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    r.hsmDefault.push(await cpuPerCall(describe(hsmDefault)));
    r.hsmCached.push(await cpuPerCall(describe(hsmCached)));
    r.newClient.push(await cpuPerCall(newClientPerCall));
    r.pooled.push(await cpuPerCall(pooledView));
  }
  const line = (label: string, xs: number[]) => console.log(`  ${label.padEnd(58)} median ${median(xs).toFixed(0).padStart(5)} us/call  (${ROUNDS} rounds: ${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`);
  console.log(`CPU per call in this process, ${CALLS} calls per round, ${CONCURRENCY} in flight, simulator in another process at no latency:`);
  line('CloudHSM DescribeClusters, endpoint rules per call (before)', r.hsmDefault);
  line('CloudHSM DescribeClusters, endpoint memoised (after)', r.hsmCached);
  line('Account ListRegions, new AccountClient per call (before)', r.newClient);
  line('Account ListRegions, pooled AwsClients.account() (after)', r.pooled);
  console.log(`Account clients built by the pooled path over ${(ROUNDS + 1) * CALLS} calls: ${clients.clientsCreated.account}`);
  clients.close();
} finally {
  await sim.stop();
}
