// Account API clients are pooled and lent per call (AwsClients.account), not built per account: every
// ListRegions must still be signed as its own account (the Account API answers for the signing account),
// under concurrency, and the number of clients built stays at the concurrency whatever the account count.
// Roles nobody asked for during a session duration are forgotten.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListRegionsCommand } from '@aws-sdk/client-account';
import { AwsClients, cacheEndpoints } from '../../src/collect/aws-clients.js';
import { listEnabledRegions } from '../../src/discover/regions.js';
import { parseConfig } from '../../src/config/load.js';
import { mapBounded } from '../../src/util/map-bounded.js';
import { startSimulator, baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { tempDir } from '../helpers/sim.js';

const MANAGEMENT = '100000000000';
const OPT_IN = ['af-south-1', 'ap-east-1', 'eu-south-1', 'me-central-1'];
/** Account i enables the opt-in regions of the bits of i: 16 different answers over 24 accounts. */
const ACCOUNTS = Array.from({ length: 24 }, (_, i) => ({ id: String(200000000000 + i), name: `acct-${i}`, optInRegions: OPT_IN.filter((_, b) => (i >> b) & 1) }));
const CONCURRENCY = 6;

let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    scenario: {
      managementAccount: MANAGEMENT,
      accounts: [{ id: MANAGEMENT, name: 'management' }, ...ACCOUNTS],
      faults: { rateLimitPerSecond: 0, latencyMs: 5, jitterMs: 10 },
    },
  });
});
afterAll(async () => { await sim?.close(); });

function clientsFor(extra: Partial<ConstructorParameters<typeof AwsClients>[0]> = {}) {
  const config = parseConfig({ stateDir: tempDir(), aws: { endpoint: sim.url, concurrency: CONCURRENCY, maxAttempts: 1 }, accounts: [{ id: MANAGEMENT }], regions: ['us-east-1'] }, 'test', {});
  return new AwsClients({ aws: config.aws, credentials: { accessKeyId: baseAccessKeyId(MANAGEMENT), secretAccessKey: 'x' }, ...extra });
}
const role = (id: string) => ({ roleArn: `arn:aws:iam::${id}:role/KeystoreWatch`, externalId: null });

describe('AwsClients.account', () => {
  it('signs every ListRegions as its own account under concurrency, with at most one client per concurrent call', async () => {
    const clients = clientsFor();
    try {
      for (let pass = 0; pass < 2; pass++) {
        const answers = await mapBounded(ACCOUNTS, CONCURRENCY, (a) => listEnabledRegions(clients.account(role(a.id))));
        ACCOUNTS.forEach((a, i) => {
          const got = answers[i]!;
          expect(got.filter((r) => OPT_IN.includes(r)), a.id).toEqual([...a.optInRegions].sort());
          expect(got, a.id).toContain('us-east-1');
        });
      }
      // 48 calls for 24 accounts: the pool built at most one client per slot (plus the template views stand on).
      expect(clients.clientsCreated.account).toBeLessThanOrEqual(CONCURRENCY + 1);
      expect(clients.clientsCreated.account).toBeGreaterThan(0);
    } finally {
      clients.close();
    }
  });

  it('keeps the SDK callback form of send', async () => {
    const clients = clientsFor();
    try {
      const a = ACCOUNTS[5]!; // bits 0 and 2 of 5: af-south-1 and eu-south-1
      const out = await new Promise<{ Regions?: { RegionName?: string }[] }>((resolve, reject) => {
        (clients.account(role(a.id)).send as unknown as (c: unknown, cb: (e: unknown, o?: unknown) => void) => void)(
          new ListRegionsCommand({ RegionOptStatusContains: ['ENABLED'] }), (err, o) => (err ? reject(err) : resolve(o as never)));
      });
      // ENABLED (not ENABLED_BY_DEFAULT): exactly the opt-in regions this account enabled.
      expect(out.Regions?.map((r) => r.RegionName).sort()).toEqual([...a.optInRegions].sort());
      expect(a.optInRegions.length).toBe(2);
    } finally {
      clients.close();
    }
  });

  it('gives the call its own abort signal', async () => {
    const clients = clientsFor();
    sim.fleet.setFaults({ errors: [{ service: 'account', error: 'hang' }] });
    try {
      const ctl = new AbortController();
      const call = listEnabledRegions(clients.account(role(ACCOUNTS[0]!.id)), ctl.signal);
      setTimeout(() => ctl.abort(), 200);
      await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 5, jitterMs: 10 });
      clients.close();
    }
  });
});

describe('AwsClients role credentials', () => {
  it('forgets roles no target asked for during a whole session duration, keeps the ones in use', () => {
    let now = 0;
    const clients = clientsFor({ monotonic: () => now });
    try {
      const session = clients.sessionDurationSeconds * 1000;
      for (const a of ACCOUNTS) clients.credentialsFor(role(a.id));
      expect(clients.rolesHeld).toBe(ACCOUNTS.length);
      const kept = clients.credentialsFor(role(ACCOUNTS[0]!.id));
      // Half a session later only account 0 is still asked for.
      now = session / 2;
      expect(clients.credentialsFor(role(ACCOUNTS[0]!.id))).toBe(kept);
      expect(clients.rolesHeld).toBe(ACCOUNTS.length);
      // A session and a bit after the others were last asked for: they are gone, account 0 is not.
      now = session + 61_000;
      expect(clients.credentialsFor(role(ACCOUNTS[0]!.id))).toBe(kept);
      expect(clients.rolesHeld).toBe(1);
      // An account that comes back gets fresh credentials (a new AssumeRole on first use).
      expect(clients.credentialsFor(role(ACCOUNTS[1]!.id))).not.toBe(kept);
      expect(clients.rolesHeld).toBe(2);
    } finally {
      clients.close();
    }
  });
});

describe('cacheEndpoints', () => {
  it('resolves each distinct parameter set once, answers the same endpoint for it, and stays bounded', () => {
    const calls: string[] = [];
    const resolve = (p: Record<string, unknown>) => { calls.push(String(p.Region)); return { url: new URL(`https://cloudhsmv2.${String(p.Region)}.amazonaws.com`) }; };
    const cached = cacheEndpoints(resolve, 4);
    const a = cached({ Region: 'us-east-1', UseFIPS: false, UseDualStack: false });
    expect(cached({ Region: 'us-east-1', UseFIPS: false, UseDualStack: false })).toBe(a);
    // FIPS is another parameter set, so another endpoint.
    expect(cached({ Region: 'us-east-1', UseFIPS: true, UseDualStack: false })).not.toBe(a);
    expect(calls).toEqual(['us-east-1', 'us-east-1']);
    for (const r of ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-north-1', 'eu-south-1']) cached({ Region: r });
    // Past the limit the cache starts over instead of growing: us-east-1 is resolved again.
    cached({ Region: 'us-east-1', UseFIPS: false, UseDualStack: false });
    expect(calls.filter((r) => r === 'us-east-1')).toHaveLength(3);
  });
});
