// OU placement and tags read through the real Organizations SDK client, against a scripted local
// endpoint that answers what the simulator never would: broken trees (a loop, no parent, a nameless OU)
// and hostile names. The simulator-backed paths are in organizations-e2e.test.ts.
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { afterEach, describe, expect, it } from 'vitest';
import { accountTags, enrichAccounts, OuCache, OU_NAME_TTL_MS, type OrgAccount } from '../../src/discover/organizations.js';
import { errorCode } from '../../src/collect/aws-clients.js';
import { startReceiver, type Receiver, type Reply } from '../helpers/receiver.js';

/** The organization the endpoint serves: child id -> parent, OU id -> name, account id -> tags. */
interface Tree { parents: Record<string, { Id: string; Type: 'ROOT' | 'ORGANIZATIONAL_UNIT' } | null>; names: Record<string, string | null>; tags?: Record<string, { Key: string; Value: string }[]> }

let rx: Receiver | undefined;
afterEach(async () => { await rx?.close(); rx = undefined; });

async function endpoint(tree: Tree, deny: string[] = []): Promise<OrganizationsClient> {
  rx = await startReceiver({
    respond: (req): Reply => {
      const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      const input = (req.json ?? {}) as Record<string, string>;
      const error = (type: string, status: number, message: string): Reply => ({ status, headers: { 'x-amzn-errortype': type }, body: { __type: type, Message: message } });
      if (deny.includes(op)) return error('AccessDeniedException', 403, "You don't have permissions to access this resource.");
      if (op === 'ListParents') {
        const p = tree.parents[input.ChildId!];
        return p === undefined ? error('ChildNotFoundException', 400, 'We can\'t find an organizational unit (OU) or AWS account with the ChildId that you specified.') : { status: 200, body: { Parents: p ? [p] : [] } };
      }
      if (op === 'DescribeOrganizationalUnit') {
        const name = tree.names[input.OrganizationalUnitId!];
        return { status: 200, body: { OrganizationalUnit: { Id: input.OrganizationalUnitId, ...(name === null ? {} : { Name: name }) } } };
      }
      if (op === 'ListTagsForResource') return { status: 200, body: { Tags: tree.tags?.[input.ResourceId!] ?? [] } };
      return error('InvalidInputException', 400, `unexpected ${op}`);
    },
  });
  return new OrganizationsClient({ endpoint: rx.url, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x' } });
}
const calls = (op: string) => rx!.requests.filter((r) => String(r.headers['x-amz-target']).endsWith(`.${op}`)).length;

const ROOT = { Id: 'r-ab12', Type: 'ROOT' } as const;
const ou = (id: string) => ({ Id: id, Type: 'ORGANIZATIONAL_UNIT' } as const);

describe('OuCache.placementOf', () => {
  it('walks up to the root, names each OU once, and caches OUs across accounts', async () => {
    const client = await endpoint({
      parents: { '222222222222': ou('ou-ab12-22222222'), '333333333333': ou('ou-ab12-22222222'), '444444444444': ROOT, 'ou-ab12-22222222': ou('ou-ab12-11111111'), 'ou-ab12-11111111': ROOT },
      names: { 'ou-ab12-11111111': 'Prod', 'ou-ab12-22222222': 'Payments' },
    });
    const cache = new OuCache();
    expect(await cache.placementOf(client, '222222222222')).toEqual({ ouPath: '/Prod/Payments', ouIds: ['r-ab12', 'ou-ab12-11111111', 'ou-ab12-22222222'] });
    expect(await cache.placementOf(client, '333333333333')).toEqual({ ouPath: '/Prod/Payments', ouIds: ['r-ab12', 'ou-ab12-11111111', 'ou-ab12-22222222'] });
    expect(await cache.placementOf(client, '444444444444')).toEqual({ ouPath: '/', ouIds: ['r-ab12'] });
    // One ListParents per account and per OU, one DescribeOrganizationalUnit per OU.
    expect(calls('ListParents')).toBe(5);
    expect(calls('DescribeOrganizationalUnit')).toBe(2);
  });

  it('re-reads OU names after the TTL but never an OU\'s parent (OUs cannot move)', async () => {
    const tree: Tree = { parents: { '222222222222': ou('ou-ab12-22222222'), 'ou-ab12-22222222': ROOT }, names: { 'ou-ab12-22222222': 'Payments' } };
    const client = await endpoint(tree);
    let t = 0;
    const cache = new OuCache(() => t);
    await cache.placementOf(client, '222222222222');
    tree.names['ou-ab12-22222222'] = 'Payments-Renamed';
    t = OU_NAME_TTL_MS - 1;
    expect((await cache.placementOf(client, '222222222222')).ouPath).toBe('/Payments');
    t = OU_NAME_TTL_MS;
    expect((await cache.placementOf(client, '222222222222')).ouPath).toBe('/Payments-Renamed');
    expect(calls('ListParents')).toBe(3 + 1); // three account lookups, the OU's parent once
    expect(calls('DescribeOrganizationalUnit')).toBe(2);
  });

  it('hostile OU names cannot fake a path; a nameless OU shows its id', async () => {
    const client = await endpoint({
      parents: { '222222222222': ou('ou-ab12-33333333'), 'ou-ab12-33333333': ou('ou-ab12-22222222'), 'ou-ab12-22222222': ROOT },
      names: { 'ou-ab12-22222222': 'Prod/Payments\n<!channel>', 'ou-ab12-33333333': null },
    });
    expect((await new OuCache().placementOf(client, '222222222222')).ouPath).toBe('/Prod%2FPayments\n<!channel>/ou-ab12-33333333');
  });

  it('refuses a parent loop and an answer without a parent instead of hanging or inventing a path', async () => {
    const loop = await endpoint({ parents: { '222222222222': ou('ou-ab12-11111111'), 'ou-ab12-11111111': ou('ou-ab12-22222222'), 'ou-ab12-22222222': ou('ou-ab12-11111111') }, names: { 'ou-ab12-11111111': 'A', 'ou-ab12-22222222': 'B' } });
    await expect(new OuCache().placementOf(loop, '222222222222')).rejects.toMatchObject({ name: 'MalformedResponse' });
    await rx!.close();
    const orphan = await endpoint({ parents: { '222222222222': null }, names: {} });
    await expect(new OuCache().placementOf(orphan, '222222222222')).rejects.toMatchObject({ name: 'MalformedResponse' });
  });
});

describe('accountTags', () => {
  it('keeps only the configured keys, matched case-sensitively, values as AWS sent them', async () => {
    const client = await endpoint({ parents: {}, names: {}, tags: { '222222222222': [{ Key: 'owner', Value: 'payments' }, { Key: 'Owner', Value: 'other' }, { Key: 'team', Value: '<@U123> *x*' }, { Key: 'cost', Value: '' }] } });
    expect(await accountTags(client, '222222222222', new Set(['owner', 'team', 'cost', 'missing']))).toEqual({ owner: 'payments', team: '<@U123> *x*', cost: '' });
  });
});

describe('enrichAccounts', () => {
  const accounts: OrgAccount[] = ['222222222222', '333333333333', '444444444444', '555555555555'].map((id) => ({ id, name: id, status: 'ACTIVE' }));
  const tree: Tree = {
    parents: Object.fromEntries([...accounts.map((a) => [a.id, ou('ou-ab12-11111111')] as const), ['ou-ab12-11111111', ROOT] as const]),
    names: { 'ou-ab12-11111111': 'Prod' },
    tags: { '222222222222': [{ Key: 'owner', Value: 'payments' }] },
  };
  const opts = (over = {}) => ({ candidates: (a: OrgAccount) => a.id !== '555555555555', tagKeys: new Set(['owner']), ous: new OuCache(), errorCode, ...over });

  it('reads placement and tags of the candidates only', async () => {
    const client = await endpoint(tree);
    const { accounts: out, problems } = await enrichAccounts(client, accounts, opts());
    expect(problems).toEqual([]);
    expect(out.map((a) => [a.id, a.placement?.ouPath ?? null, a.tags])).toEqual([
      ['222222222222', '/Prod', { owner: 'payments' }], ['333333333333', '/Prod', {}], ['444444444444', '/Prod', {}], ['555555555555', null, {}],
    ]);
    expect(calls('ListTagsForResource')).toBe(3);
  });

  it('after a permission error stops calling that operation, and keeps what the last read knew', async () => {
    const client = await endpoint(tree, ['ListParents', 'ListTagsForResource']);
    const previous = new Map<string, OrgAccount>([['222222222222', { ...accounts[0]!, placement: { ouPath: '/Old', ouIds: ['r-ab12'] }, tags: { owner: 'old-owner' } }]]);
    const { accounts: out, problems } = await enrichAccounts(client, accounts, opts({ previous }));
    expect(out.find((a) => a.id === '222222222222')).toMatchObject({ placement: { ouPath: '/Old' }, tags: { owner: 'old-owner' } });
    expect(out.find((a) => a.id === '333333333333')).toMatchObject({ placement: null, tags: {} });
    expect(problems.map((p) => [p.operation, p.accounts, errorCode(p.error)])).toEqual([['ListParents', 3, 'AccessDeniedException'], ['ListTagsForResource', 3, 'AccessDeniedException']]);
    // Two workers may each meet the denial once; never one call per account.
    expect(calls('ListParents')).toBeLessThanOrEqual(2);
    expect(calls('ListTagsForResource')).toBeLessThanOrEqual(2);
  });
});
