// Organizations structure with the real client: the root, OUs from the accounts' `ou` paths,
// ListParents up to the root, DescribeOrganizationalUnit, account tags, who may ask, throttling, and
// the per-service counters a test reads to prove "no Organizations calls between refreshes".
import {
  DescribeOrganizationalUnitCommand, ListParentsCommand, ListRootsCommand, ListTagsForResourceCommand, OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleet } from '../../src/simulator/generate.js';
import { generateSchema, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { control, creds, MGMT, rejection } from './helpers.js';

const PAYMENTS = '222222222222';
const LEDGER = '333333333333';
const TOOLING = '444444444444';
const ADMIN = '555555555555';

const scenario = (): ScenarioInput => ({
  accounts: [
    { id: MGMT },
    { id: PAYMENTS, ou: '/Prod/Payments', tags: { owner: 'payments', 'cost-center': 'cc-42' } },
    { id: LEDGER, ou: '/Prod/Ledger' },
    { id: TOOLING, ou: '/Infra' },
    { id: ADMIN, ou: '/Infra' },
  ],
  organizations: { delegatedAdministrators: [ADMIN] },
});

const org = (sim: RunningSimulator, credentials: Parameters<typeof creds>[0] | ReturnType<typeof fromTemporaryCredentials> = MGMT) =>
  new OrganizationsClient({ endpoint: sim.url, region: 'us-east-1', credentials: typeof credentials === 'string' ? creds(credentials) : credentials, maxAttempts: 1 });

/** The OU path of an account, walked the way the daemon does: ListParents to the root, names from DescribeOrganizationalUnit. */
async function ouPath(client: OrganizationsClient, account: string): Promise<string> {
  const names: string[] = [];
  let child = account;
  for (;;) {
    const [parent] = (await client.send(new ListParentsCommand({ ChildId: child }))).Parents!;
    if (parent!.Type === 'ROOT') break;
    names.unshift((await client.send(new DescribeOrganizationalUnitCommand({ OrganizationalUnitId: parent!.Id! }))).OrganizationalUnit!.Name!);
    child = parent!.Id!;
  }
  return `/${names.join('/')}`;
}

describe('Organizations structure', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario() }); });
  afterAll(() => sim.close());

  it('walks ListParents to the root and names the OUs; ids have the real formats and are stable', async () => {
    const client = org(sim);
    expect(await ouPath(client, PAYMENTS)).toBe('/Prod/Payments');
    expect(await ouPath(client, LEDGER)).toBe('/Prod/Ledger');
    expect(await ouPath(client, MGMT)).toBe('/');
    const root = (await client.send(new ListRootsCommand({}))).Roots![0]!;
    expect(root.Id).toMatch(/^r-[0-9a-z]{4}$/);
    expect(root.Arn).toMatch(new RegExp(`^arn:aws:organizations::${MGMT}:root/o-[0-9a-f]{10}/${root.Id}$`));
    const [payments] = (await client.send(new ListParentsCommand({ ChildId: PAYMENTS }))).Parents!;
    const [ledger] = (await client.send(new ListParentsCommand({ ChildId: LEDGER }))).Parents!;
    expect(payments!.Id).toMatch(new RegExp(`^ou-${root.Id!.slice(2)}-[0-9a-z]{8}$`));
    expect(payments!.Type).toBe('ORGANIZATIONAL_UNIT');
    // Both sit under the same /Prod OU.
    const up = async (id: string) => (await client.send(new ListParentsCommand({ ChildId: id }))).Parents![0]!.Id;
    expect(await up(payments!.Id!)).toBe(await up(ledger!.Id!));
    const ou = (await client.send(new DescribeOrganizationalUnitCommand({ OrganizationalUnitId: payments!.Id! }))).OrganizationalUnit!;
    expect(ou).toMatchObject({ Name: 'Payments', Arn: expect.stringMatching(new RegExp(`^arn:aws:organizations::${MGMT}:ou/o-[0-9a-f]{10}/${payments!.Id}$`)) });
    // Same scenario, same ids (a new simulator).
    const again = await startSimulator({ scenario: scenario() });
    try {
      expect((await org(again).send(new ListParentsCommand({ ChildId: PAYMENTS }))).Parents![0]!.Id).toBe(payments!.Id);
    } finally { await again.close(); }
  });

  it('lists account tags; unknown ids answer the modeled errors', async () => {
    const client = org(sim);
    expect((await client.send(new ListTagsForResourceCommand({ ResourceId: PAYMENTS }))).Tags).toEqual([{ Key: 'owner', Value: 'payments' }, { Key: 'cost-center', Value: 'cc-42' }]);
    expect((await client.send(new ListTagsForResourceCommand({ ResourceId: LEDGER }))).Tags).toEqual([]);
    const noChild = await rejection(() => client.send(new ListParentsCommand({ ChildId: '999999999999' })));
    expect([noChild.name, noChild.$metadata?.httpStatusCode]).toEqual(['ChildNotFoundException', 404]);
    const noOu = await rejection(() => client.send(new DescribeOrganizationalUnitCommand({ OrganizationalUnitId: 'ou-abcd-12345678' })));
    expect(noOu.name).toBe('OrganizationalUnitNotFoundException');
    expect((await rejection(() => client.send(new ListTagsForResourceCommand({ ResourceId: '999999999999' })))).name).toBe('TargetNotFoundException');
    const bad = await rejection(() => client.send(new ListParentsCommand({ ChildId: 'not-an-id' })));
    expect([bad.name, (bad as { Reason?: string }).Reason]).toEqual(['InvalidInputException', 'INVALID_PATTERN']);
  });

  it('answers the management account and a delegated administrator only; a tooling account must assume a role into the management account', async () => {
    const denied = await rejection(() => org(sim, TOOLING).send(new ListParentsCommand({ ChildId: PAYMENTS })));
    expect([denied.name, denied.$metadata?.httpStatusCode]).toEqual(['AccessDeniedException', 403]);
    expect((await org(sim, ADMIN).send(new ListParentsCommand({ ChildId: PAYMENTS }))).Parents).toHaveLength(1);
    const viaRole = fromTemporaryCredentials({
      params: { RoleArn: `arn:aws:iam::${MGMT}:role/KeystoreWatchOrganizations`, RoleSessionName: 'ksw-org' },
      masterCredentials: creds(TOOLING),
      clientConfig: { endpoint: sim.url, region: 'us-east-1', maxAttempts: 1 },
    });
    expect((await org(sim, viaRole).send(new ListTagsForResourceCommand({ ResourceId: PAYMENTS }))).Tags).toHaveLength(2);
  });

  it('follows account changes at run time (ou and tags through the control API)', async () => {
    await control(sim, 'PATCH', `/_sim/accounts/${LEDGER}`, { ou: '/Prod/Payments/Ledger', tags: { owner: 'ledger' } });
    expect(await ouPath(org(sim), LEDGER)).toBe('/Prod/Payments/Ledger');
    expect((await org(sim).send(new ListTagsForResourceCommand({ ResourceId: LEDGER }))).Tags).toEqual([{ Key: 'owner', Value: 'ledger' }]);
    expect((await control(sim, 'PATCH', `/_sim/accounts/${LEDGER}`, { ou: 'Prod//x' })).status).toBe(400);
  });

  it('TooManyRequestsException is injectable; counters say how many Organizations calls each operation got', async () => {
    await control(sim, 'POST', '/_sim/counters/reset');
    const client = org(sim);
    await ouPath(client, PAYMENTS);
    await client.send(new ListTagsForResourceCommand({ ResourceId: PAYMENTS }));
    sim.fleet.setFaults({ errors: [{ service: 'organizations', operation: 'ListParents', error: 'TooManyRequestsException', remaining: 1 }] });
    const throttled = await rejection(() => client.send(new ListParentsCommand({ ChildId: PAYMENTS })));
    expect([throttled.name, throttled.$metadata?.httpStatusCode]).toEqual(['TooManyRequestsException', 429]);
    const counted = (await control(sim, 'GET', '/_sim/counters/organizations')).body;
    expect(counted.total).toBe(7);
    expect(counted.byOperation).toEqual({
      ListParents: { ok: 3, throttled: 1, failed: 0 },
      DescribeOrganizationalUnit: { ok: 2, throttled: 0, failed: 0 },
      ListTagsForResource: { ok: 1, throttled: 0, failed: 0 },
    });
    expect((await control(sim, 'GET', '/_sim/counters/kms')).body).toEqual({ service: 'kms', total: 0, byOperation: {} });
    expect((await control(sim, 'GET', '/_sim/counters/nope')).status).toBe(404);
  });

  it('with organizations disabled every call answers AWSOrganizationsNotInUseException', async () => {
    const off = await startSimulator({ scenario: { ...scenario(), organizations: { enabled: false } } });
    try {
      const err = await rejection(() => org(off).send(new ListParentsCommand({ ChildId: PAYMENTS })));
      expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['AWSOrganizationsNotInUseException', 404]);
    } finally { await off.close(); }
  });
});

describe('generated fleets', () => {
  it('carry OU paths and owner tags without changing the fleet a seed yields', () => {
    const accounts = generateFleet(generateSchema.parse({ accounts: 20, seed: 7 }));
    for (const a of accounts) {
      expect(a.ou).toMatch(/^\/(Prod|Staging|Dev|Dr)\/[A-Z][a-z]+$/);
      expect(a.tags.owner).toBe(a.name!.split('-')[0]);
    }
  });
});
