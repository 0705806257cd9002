// Regions as AWS has them: the SDK's partition metadata, opt-in regions per account, a region that
// exists nowhere, and Account ListRegions, all through the real SDK clients.
import { AccountClient, ListRegionsCommand, paginateListRegions } from '@aws-sdk/client-account';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { ListAccountsCommand } from '@aws-sdk/client-organizations';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENABLED_BY_DEFAULT, partitionOf, regionInfo, regionsOf } from '../../src/simulator/regions.js';
import { parseScenario, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { control, creds, hsmClient, kmsClient, MGMT, rejection } from './helpers.js';

const MEMBER = '222222222222';

const scenario = (): ScenarioInput => ({
  accounts: [
    { id: MGMT, regions: { 'us-east-1': { stores: [{ name: 'mgmt-hsm', clusterId: 'cluster-aaaaaaaaaaaa' }], clusters: [{ id: 'cluster-aaaaaaaaaaaa', hsms: [{ az: 'us-east-1a' }] }] } } },
    {
      id: MEMBER,
      optInRegions: ['me-central-1'],
      regions: { 'me-central-1': { stores: [{ name: 'uae-hsm', clusterId: 'cluster-bbbbbbbbbbbb' }], clusters: [{ id: 'cluster-bbbbbbbbbbbb', hsms: [{ az: 'me-central-1a' }] }] } },
    },
  ],
  faults: { rateLimitPerSecond: 0 },
});

const sts = (sim: RunningSimulator, region: string, account = MGMT) => new STSClient({ endpoint: sim.url, region, credentials: creds(account), maxAttempts: 1 });
const accountClient = (sim: RunningSimulator, account = MGMT, region = 'us-east-1') => new AccountClient({ endpoint: sim.url, region, credentials: creds(account), maxAttempts: 1 });

describe('the region list', () => {
  it('comes from the SDK partition metadata, with partitions and opt-in flags', () => {
    expect(partitionOf('us-east-1')).toBe('aws');
    expect(partitionOf('cn-north-1')).toBe('aws-cn');
    expect(partitionOf('us-gov-west-1')).toBe('aws-us-gov');
    for (const typo of ['us-east-7', 'eu-west1', 'xx-fake-9']) expect(partitionOf(typo)).toBeUndefined();
    // Endpoint pseudo-regions belong to their partition but are no region an account lists.
    expect(partitionOf('aws-global')).toBe('aws');
    expect(regionsOf('aws')).not.toContain('aws-global');
    for (const r of ['me-central-1', 'af-south-1', 'ap-east-1', 'il-central-1', 'eu-south-2', 'ap-southeast-5', 'mx-central-1', 'ca-west-1']) expect(regionInfo(r)?.optIn).toBe(true);
    for (const r of ENABLED_BY_DEFAULT) expect(regionInfo(r)).toMatchObject({ partition: 'aws', optIn: false });
    expect(regionsOf('aws-cn')).toEqual(['cn-north-1', 'cn-northwest-1']);
    expect(regionInfo('cn-north-1')?.optIn).toBe(false);
    expect(regionsOf('aws').length).toBeGreaterThan(30);
  });
});

describe('opt-in regions and regions that do not exist', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario() }); });
  afterAll(() => sim.close());

  it('an opt-in region the account has not enabled answers as AWS does: UnrecognizedClientException 400, STS InvalidClientTokenId 403', async () => {
    const kms = await rejection(() => kmsClient(sim, 'me-central-1').send(new DescribeCustomKeyStoresCommand({})));
    expect(kms.name).toBe('UnrecognizedClientException');
    expect(kms.message).toBe('The security token included in the request is invalid.');
    expect(kms.$metadata?.httpStatusCode).toBe(400);
    const hsm = await rejection(() => hsmClient(sim, 'af-south-1').send(new DescribeClustersCommand({})));
    expect([hsm.name, hsm.$metadata?.httpStatusCode]).toEqual(['UnrecognizedClientException', 400]);
    const st = await rejection(() => sts(sim, 'me-central-1').send(new GetCallerIdentityCommand({})));
    expect([st.name, st.message, st.$metadata?.httpStatusCode]).toEqual(['InvalidClientTokenId', 'The security token included in the request is invalid.', 403]);
  });

  it('the account that enabled it sees its stores there; default regions work for everyone', async () => {
    const member = await kmsClient(sim, 'me-central-1', creds(MEMBER)).send(new DescribeCustomKeyStoresCommand({}));
    expect(member.CustomKeyStores!.map((s) => s.CustomKeyStoreName)).toEqual(['uae-hsm']);
    expect((await kmsClient(sim, 'us-east-1', creds(MEMBER)).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toEqual([]);
    expect((await kmsClient(sim, 'ap-northeast-3').send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toEqual([]);
    expect((await sts(sim, 'me-central-1', MEMBER).send(new GetCallerIdentityCommand({}))).Account).toBe(MEMBER);
  });

  it('a region of another partition does not know the credentials either', async () => {
    const err = await rejection(() => kmsClient(sim, 'cn-north-1').send(new DescribeCustomKeyStoresCommand({})));
    expect(err.name).toBe('UnrecognizedClientException');
  });

  it('a region in no partition is a connection failure, not an AWS answer', async () => {
    for (const region of ['us-east-7', 'xx-fake-9']) {
      const err = await rejection(() => kmsClient(sim, region).send(new DescribeCustomKeyStoresCommand({})));
      expect(err.$metadata?.httpStatusCode).toBeUndefined();
      expect(`${err.name} ${err.message} ${String((err as { code?: string }).code)}`).toMatch(/ECONNRESET|socket hang up/);
    }
    // Global services resolve to their partition's endpoint from any client region, as the SDK does.
    expect((await new (await import('@aws-sdk/client-organizations')).OrganizationsClient({ endpoint: sim.url, region: 'me-central-1', credentials: creds(), maxAttempts: 1 })
      .send(new ListAccountsCommand({}))).Accounts).toHaveLength(2);
  });

  it('the control API enables an opt-in region at run time and refuses a default one', async () => {
    expect((await control(sim, 'PATCH', `/_sim/accounts/${MGMT}`, { optInRegions: ['us-east-1'] })).status).toBe(400);
    expect((await control(sim, 'PATCH', `/_sim/accounts/${MGMT}`, { optInRegions: ['us-east-9'] })).status).toBe(400);
    expect((await control(sim, 'PATCH', `/_sim/accounts/${MGMT}`, { optInRegions: ['af-south-1'] })).body.optInRegions).toEqual(['af-south-1']);
    expect((await hsmClient(sim, 'af-south-1').send(new DescribeClustersCommand({}))).Clusters).toEqual([]);
    await control(sim, 'PATCH', `/_sim/accounts/${MGMT}`, { optInRegions: [] });
    expect((await rejection(() => hsmClient(sim, 'af-south-1').send(new DescribeClustersCommand({})))).name).toBe('UnrecognizedClientException');
    expect((await control(sim, 'POST', '/_sim/stores', { account: MGMT, region: 'us-east-7', name: 'x', clusterId: 'cluster-cccccccccccc' })).status).toBe(400);
  });
});

describe('Account ListRegions (REST-JSON, POST /listRegions)', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario() }); });
  afterAll(() => sim.close());

  const all = async (client: AccountClient, input: ConstructorParameters<typeof ListRegionsCommand>[0] = {}, pageSize?: number) => {
    const out: { RegionName?: string; RegionOptStatus?: string }[] = [];
    let pages = 0;
    for await (const page of paginateListRegions({ client, ...(pageSize && { pageSize }) }, input)) { pages++; out.push(...page.Regions!); }
    return { regions: out, pages };
  };

  it('lists every region of the partition with its opt-in status, paginated', async () => {
    const { regions, pages } = await all(accountClient(sim, MEMBER), {}, 7);
    expect(regions.map((r) => r.RegionName)).toEqual([...regionsOf('aws')]);
    expect(pages).toBe(Math.ceil(regionsOf('aws').length / 7));
    const status = Object.fromEntries(regions.map((r) => [r.RegionName, r.RegionOptStatus]));
    expect(status).toMatchObject({ 'us-east-1': 'ENABLED_BY_DEFAULT', 'me-central-1': 'ENABLED', 'af-south-1': 'DISABLED', 'ap-northeast-3': 'ENABLED_BY_DEFAULT' });
    // Without MaxResults a page is smaller than the list: a client must follow NextToken.
    const first = await accountClient(sim, MEMBER).send(new ListRegionsCommand({}));
    expect(first.NextToken).toBeTruthy();
    expect(first.Regions!.length).toBeLessThan(regionsOf('aws').length);
  });

  it('filters with RegionOptStatusContains', async () => {
    const enabled = await all(accountClient(sim, MEMBER), { RegionOptStatusContains: ['ENABLED', 'ENABLED_BY_DEFAULT'] });
    expect(enabled.regions.map((r) => r.RegionName).sort()).toEqual([...ENABLED_BY_DEFAULT, 'me-central-1'].sort());
    const mgmt = await all(accountClient(sim, MGMT), { RegionOptStatusContains: ['ENABLED'] });
    expect(mgmt.regions).toEqual([]);
  });

  it('answers from any client region (a global service), validates its input, and only the management account may name another account', async () => {
    expect((await accountClient(sim, MGMT, 'me-central-1').send(new ListRegionsCommand({ MaxResults: 50 }))).Regions!.length).toBeGreaterThan(17);
    expect((await rejection(() => accountClient(sim).send(new ListRegionsCommand({ MaxResults: 51 })))).name).toBe('ValidationException');
    expect((await rejection(() => accountClient(sim).send(new ListRegionsCommand({ NextToken: 'bm9wZQ' })))).name).toBe('ValidationException');
    const other = await all(accountClient(sim, MGMT), { AccountId: MEMBER, RegionOptStatusContains: ['ENABLED'] });
    expect(other.regions).toEqual([{ RegionName: 'me-central-1', RegionOptStatus: 'ENABLED' }]);
    const own = await rejection(() => accountClient(sim, MGMT).send(new ListRegionsCommand({ AccountId: MGMT })));
    expect([own.name, own.$metadata?.httpStatusCode]).toEqual(['AccessDeniedException', 403]);
    expect(own.message).toContain('standalone context');
    const member = await rejection(() => accountClient(sim, MEMBER).send(new ListRegionsCommand({ AccountId: MGMT })));
    expect(member.name).toBe('AccessDeniedException');
  });

  it('is counted and can be faulted as service "account"', async () => {
    sim.fleet.resetCounters();
    await accountClient(sim).send(new ListRegionsCommand({}));
    expect(sim.fleet.counters().byOperation.ListRegions).toMatchObject({ ok: 1 });
    sim.fleet.setFaults({ errors: [{ service: 'account', error: 'TooManyRequestsException', remaining: 1 }] });
    const err = await rejection(() => accountClient(sim).send(new ListRegionsCommand({})));
    expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['TooManyRequestsException', 429]);
  });
});

describe('scenario checks', () => {
  const withRegion = (region: string, extra: Record<string, unknown> = {}) => () => parseScenario({ accounts: [{ id: MGMT, ...extra, regions: { [region]: {} } }] });
  it('refuses a region in no partition, an opt-in region not enabled, a region of another partition, and a default region in optInRegions', () => {
    expect(withRegion('us-east-7')).toThrow(/accounts\[0\]\.regions\.us-east-7: us-east-7 is not a region of any AWS partition/);
    expect(withRegion('il-central-1')).toThrow(/il-central-1 is an opt-in region this account has not enabled \(add it to optInRegions\)/);
    expect(withRegion('il-central-1', { optInRegions: ['il-central-1'] })).not.toThrow();
    expect(withRegion("cn-north-1")).toThrow(/cn-north-1 is in partition aws-cn, the scenario in aws/);
    expect(() => parseScenario({ partition: "aws-cn", accounts: [{ id: MGMT, regions: { "cn-north-1": {} } }] })).not.toThrow();
    expect(withRegion('us-east-1', { optInRegions: ['eu-west-1'] })).toThrow(/optInRegions\[0\]: eu-west-1 is enabled by default/);
    expect(() => parseScenario({ generate: { accounts: 2, regions: ['us-east-1', 'eu-west1'] } })).toThrow(/generate\.regions\[1\]/);
  });
});
