// Discovery streams into the sweep (issue 14): the real Poller and SDK clients over HTTP against the
// simulator, with the order of requests read back from the simulator's request log (control API).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '../../src/collect/aws-clients.js';
import { SnapshotPoller as Poller } from '../../src/pipeline/snapshot-poller.js';
import { parseConfig } from '../../src/config/load.js';
import type { Snapshot } from '../../src/model.js';
import { generateFleet } from '../../src/simulator/generate.js';
import { generateSchema } from '../../src/simulator/scenario.js';
import { baseAccessKeyId, startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { tempDir } from '../helpers/sim.js';

// 200 accounts: ten ListAccounts pages of 20. One store per account-region (generated accounts sit in
// /<Env>/<Team>, e.g. payments-prod-3 in /Prod/Payments).
const GENERATE = { seed: 5, accounts: 200, regions: ['us-east-1', 'eu-west-1'], storesPerRegion: 1, cloudHsmFraction: 0.4, failedFraction: 0, suspendedFraction: 0 };
const ACCOUNTS = generateFleet(generateSchema.parse(GENERATE));
const MGMT = ACCOUNTS[0]!.id;
const CREDENTIALS = { accessKeyId: baseAccessKeyId(MGMT), secretAccessKey: 'stream-test' };
const title = (s: string) => s[0]!.toUpperCase() + s.slice(1);
/** The OU path the generator gave the account, from its name (team-env-i). */
const expectedOuPath = (name: string | undefined) => { const [team, env] = (name ?? '').split('-'); return `/${title(env!)}/${title(team!)}`; };

let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator({ scenario: { generate: GENERATE, faults: { latencyMs: 10, jitterMs: 10 } }, port: 0 });
});
afterEach(async () => {
  await fetch(`${sim.url}/_sim/accounts/${MGMT}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ missingPermissions: [] }) });
  await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
  await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 10, jitterMs: 10 }) });
  await fetch(`${sim.url}/_sim/counters/reset`, { method: 'POST' });
});
afterAll(async () => { await sim?.close(); });

async function poller(extra: Record<string, unknown>, opts: { now?: () => number; errors?: string[] } = {}) {
  const { aws, ...rest } = extra as { aws?: Record<string, unknown> };
  const config = parseConfig({
    schedule: '0 0 1 1 *', listen: '127.0.0.1:0', stateDir: tempDir(),
    aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '10s', targetTimeout: '30s', concurrency: 16, ...aws },
    accounts: [], regions: GENERATE.regions, organizations: { enabled: true, roleName: 'KeystoreWatch' },
    ...rest,
  }, 'stream-test', {});
  const clients = new AwsClients({ aws: config.aws, credentials: CREDENTIALS });
  // As the daemon and `once` do before their first poll (identify(), startSdkThreads()): settings resolved, SDK threads up.
  await Promise.all([clients.prepare(), clients.startSdkThreads()]);
  const poller = new Poller({ config, clients, now: opts.now, onOrganizationsError: (e) => opts.errors?.push(e.code) });
  return { poller, close: () => { poller.close(); clients.close(); } };
}

/** The simulator's request log, in the order the requests arrived. */
async function requestLog(): Promise<{ operation: string; account: string }[]> {
  return (await (await fetch(`${sim.url}/_sim/requests`)).json()) as { operation: string; account: string }[];
}

const polledAccounts = (s: Snapshot) => new Set(s.targets.map((t) => t.accountId));

describe('discovery streams into the sweep', () => {
  /** Refuses the top-down walk's actions to the management account: discovery falls back to ListAccounts. */
  const withoutTreeWalk = () => fetch(`${sim.url}/_sim/accounts/${MGMT}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ missingPermissions: ['organizations:ListRoots', 'organizations:ListOrganizationalUnitsForParent', 'organizations:ListAccountsForParent'] }) });

  async function expectEveryAccountWithItsOuPath(snap: Snapshot) {
    expect(snap.targets).toHaveLength(ACCOUNTS.length * GENERATE.regions.length);
    expect(snap.targets.every((t) => t.ok)).toBe(true);
    expect(snap.stores).toHaveLength(ACCOUNTS.length * GENERATE.regions.length);
    const byId = new Map(ACCOUNTS.map((a) => [a.id, a]));
    for (const s of snap.stores) expect(s.ouPath).toBe(expectedOuPath(byId.get(s.accountId)?.name));
  }

  it('starts DescribeCustomKeyStores before the last ListAccounts page (ListAccounts + ListParents), and still polls every account with its OU path', async () => {
    await withoutTreeWalk();
    const { poller: p, close } = await poller({});
    const snap = await p.poll(null);
    close();
    const log = await requestLog();
    const lastPage = log.map((r) => r.operation).lastIndexOf('ListAccounts');
    const firstDescribe = log.findIndex((r) => r.operation === 'DescribeCustomKeyStores');
    expect(log.filter((r) => r.operation === 'ListAccounts')).toHaveLength(10);
    expect(firstDescribe).toBeGreaterThanOrEqual(0);
    expect(firstDescribe).toBeLessThan(lastPage);
    // Nothing lost to streaming: every account x region once, each store with the account's OU path.
    await expectEveryAccountWithItsOuPath(snap);
  });

  it('starts DescribeCustomKeyStores before the last ListAccountsForParent page of the top-down walk, with every OU path and no ListParents', async () => {
    const { poller: p, close } = await poller({});
    const snap = await p.poll(null);
    close();
    const ops = (await requestLog()).map((r) => r.operation);
    expect(ops.indexOf('DescribeCustomKeyStores')).toBeGreaterThanOrEqual(0);
    expect(ops.indexOf('DescribeCustomKeyStores')).toBeLessThan(ops.lastIndexOf('ListAccountsForParent'));
    expect(ops.filter((o) => o === 'ListParents' || o === 'ListAccounts' || o === 'DescribeOrganizationalUnit')).toEqual([]);
    await expectEveryAccountWithItsOuPath(snap);
  });

  it('with regions: enabled, an account\'s targets start when its ListRegions answers, not after every account\'s', async () => {
    const { poller: p, close } = await poller({ regions: 'enabled', organizations: { enabled: false }, accounts: ACCOUNTS.slice(0, 60).map((a) => ({ id: a.id, roleArn: `arn:aws:iam::${a.id}:role/KeystoreWatch` })), aws: { concurrency: 8 } });
    const snap = await p.poll(null);
    close();
    const ops = (await requestLog()).map((r) => r.operation);
    expect(ops.filter((o) => o === 'ListRegions')).toHaveLength(60);
    expect(ops.indexOf('DescribeCustomKeyStores')).toBeLessThan(ops.lastIndexOf('ListRegions'));
    expect(snap.targets.every((t) => t.ok)).toBe(true);
    // Every region each account enabled (the default ones), the fleet's two among them.
    const regions = new Set(snap.targets.map((t) => t.region));
    expect([...regions]).toEqual(expect.arrayContaining(GENERATE.regions));
    expect(snap.targets).toHaveLength(60 * regions.size);
    expect(polledAccounts(snap).size).toBe(60);
  });

  it('a first read that fails part-way keeps the accounts it listed, polls them, and the next good read adds the rest', async () => {
    // ListAccounts at most 2 per second, no retry: a later page of the ten is refused (TooManyRequestsException).
    await withoutTreeWalk();
    await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimits: { ListAccounts: 2 } }) });
    let now = Date.now();
    const errors: string[] = [];
    const { poller: p, close } = await poller({ regions: ['us-east-1'], aws: { maxAttempts: 1 } }, { now: () => now, errors });
    try {
      const first = await p.poll(null);
      expect(errors).toEqual(['TooManyRequestsException']);
      const seen = polledAccounts(first);
      expect(seen.size).toBeGreaterThanOrEqual(20); // at least the first page
      expect(seen.size).toBeLessThan(ACCOUNTS.length);
      expect(first.targets.every((t) => t.ok)).toBe(true);
      // The retry is not due yet: the accounts listed are polled again, none dropped.
      const second = await p.poll(first);
      expect([...polledAccounts(second)].sort()).toEqual([...seen].sort());
      expect(second.stores.filter((s) => !s.stale)).toHaveLength(seen.size);
      await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimits: {} }) });
      now += 60_000; // past the 30 s retry backoff
      const third = await p.poll(second);
      expect(polledAccounts(third).size).toBe(ACCOUNTS.length);
      expect(third.targets.every((t) => t.ok)).toBe(true);
    } finally {
      close();
    }
  });
});
