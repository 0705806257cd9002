// Simulator benchmark: 10,000 generated key stores (100 accounts x 10 regions x 10 stores), full
// paginated DescribeCustomKeyStores walks with the real KMS client at several page sizes, plus
// DescribeClusters and AssumeRole. The simulator runs as its own process (the `simulate` CLI) so its
// CPU use can be read from /proc: below 100% of one core means it is not the bottleneck.
//   npx tsx bench/simulator.ts [--scenario config/scenarios/bench-10k.yaml] [--concurrency 32]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { KMSClient, paginateDescribeCustomKeyStores } from '@aws-sdk/client-kms';
import { OrganizationsClient, paginateListAccounts } from '@aws-sdk/client-organizations';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import pLimit from 'p-limit';
import { baseAccessKeyId } from '../src/simulator/fleet.js';
import { loadScenarioFile } from '../src/simulator/scenario.js';

const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'config/scenarios/bench-10k.yaml' }, concurrency: { type: 'string', default: '32' } } });
const scenario = loadScenarioFile(values.scenario!);
const regions = scenario.generate?.regions ?? ['us-east-1'];
const concurrency = Number(values.concurrency);
const mgmt = { accessKeyId: baseAccessKeyId(scenario.managementAccount ?? scenario.accounts[0]!.id), secretAccessKey: 'x' };

const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'simulate', '--scenario', values.scenario!, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d;
    const m = /listening on (\S+)/.exec(buf);
    if (m) resolve(m[1]!);
  });
  child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
});
const cpuTicks = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
};

const requests = { n: 0 };
const countRequests = { applyToStack: (stack: { add: (mw: unknown, o: unknown) => void }) => stack.add((next: (a: unknown) => Promise<unknown>) => (args: unknown) => { requests.n++; return next(args); }, { step: 'finalizeRequest' }) };

async function measure(label: string, fn: () => Promise<number>) {
  requests.n = 0;
  const cpu0 = cpuTicks();
  const t0 = performance.now();
  const items = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (cpuTicks() - cpu0) / 100 / seconds;
  console.log(`${label.padEnd(42)} ${String(items).padStart(6)} items ${String(requests.n).padStart(6)} requests ${seconds.toFixed(2).padStart(6)} s ${Math.round(requests.n / seconds).toString().padStart(6)} req/s  simulator CPU ${(cpu * 100).toFixed(0)}% of a core`);
}

const org = new OrganizationsClient({ endpoint: url, region: 'us-east-1', credentials: mgmt, maxAttempts: 1 });
org.middlewareStack.use(countRequests as never);
const accounts: string[] = [];
await measure('ListAccounts (MaxResults 20)', async () => {
  for await (const p of paginateListAccounts({ client: org, pageSize: 20 }, {})) accounts.push(...p.Accounts!.map((a) => a.Id!));
  return accounts.length;
});

const limit = pLimit(concurrency);
const clients = new Map<string, KMSClient>();
const kms = (account: string, region: string) => {
  const key = `${account}/${region}`;
  let c = clients.get(key);
  if (!c) {
    c = new KMSClient({ endpoint: url, region, credentials: { accessKeyId: baseAccessKeyId(account), secretAccessKey: 'x' }, maxAttempts: 1 });
    c.middlewareStack.use(countRequests as never);
    clients.set(key, c);
  }
  return c;
};

for (const pageSize of [1, 3, 10, 1000]) {
  await measure(`DescribeCustomKeyStores walk, Limit ${pageSize}`, async () => {
    const counts = await Promise.all(accounts.flatMap((a) => regions.map((r) => limit(async () => {
      let n = 0;
      for await (const p of paginateDescribeCustomKeyStores({ client: kms(a, r), pageSize }, {})) n += p.CustomKeyStores!.length;
      return n;
    }))));
    return counts.reduce((x, y) => x + y, 0);
  });
}

await measure('DescribeClusters (MaxResults 25)', async () => {
  const counts = await Promise.all(accounts.flatMap((a) => regions.map((r) => limit(async () => {
    const c = new CloudHSMV2Client({ endpoint: url, region: r, credentials: { accessKeyId: baseAccessKeyId(a), secretAccessKey: 'x' }, maxAttempts: 1 });
    c.middlewareStack.use(countRequests as never);
    let n = 0;
    let token: string | undefined;
    do {
      const p = await c.send(new DescribeClustersCommand({ MaxResults: 25, NextToken: token }));
      n += p.Clusters!.length;
      token = p.NextToken;
    } while (token);
    return n;
  }))));
  return counts.reduce((x, y) => x + y, 0);
});

await measure('AssumeRole + walk per account (Limit 10)', async () => {
  const counts = await Promise.all(accounts.map((a) => limit(async () => {
    const credentials = fromTemporaryCredentials({ params: { RoleArn: `arn:aws:iam::${a}:role/keystore-watch`, RoleSessionName: 'bench' }, masterCredentials: mgmt, clientConfig: { endpoint: url, region: 'us-east-1' } });
    let n = 0;
    requests.n++; // the AssumeRole call itself
    for (const r of regions) {
      const c = new KMSClient({ endpoint: url, region: r, credentials, maxAttempts: 1 });
      c.middlewareStack.use(countRequests as never);
      for await (const p of paginateDescribeCustomKeyStores({ client: c, pageSize: 10 }, {})) n += p.CustomKeyStores!.length;
    }
    return n;
  })));
  return counts.reduce((x, y) => x + y, 0);
});

child.kill('SIGTERM');
