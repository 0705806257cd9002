import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { buildTargets, resolveAccounts } from '../../src/discover/targets.js';
import type { OrgAccount } from '../../src/discover/organizations.js';

const config = (extra: object) => parseConfigText(stringify({ regions: ['us-east-1', 'eu-west-1'], accounts: [{ id: '111111111111', name: 'mgmt' }], ...extra }), 'test', {});
const org: OrgAccount[] = [
  { id: '111111111111', name: 'management', status: 'ACTIVE' },
  { id: '222222222222', name: 'payments', status: 'ACTIVE' },
  { id: '333333333333', name: 'sandbox', status: 'ACTIVE' },
  { id: '444444444444', name: 'old', status: 'SUSPENDED' },
  { id: '555555555555', name: 'closing', status: 'PENDING_CLOSURE' },
];

describe('resolveAccounts', () => {
  it('uses the explicit accounts when discovery is off', () => {
    expect(resolveAccounts(config({}), org).map((a) => a.id)).toEqual(['111111111111']);
  });

  it('adds ACTIVE organization accounts with the org role, explicit accounts winning', () => {
    const accounts = resolveAccounts(config({ organizations: { enabled: true, roleName: 'KW', externalId: 'ext-123' } }), org);
    expect(accounts.map((a) => a.id)).toEqual(['111111111111', '222222222222', '333333333333']);
    expect(accounts[0]).toMatchObject({ name: 'mgmt', roleArn: null, source: 'config' });
    expect(accounts[1]).toMatchObject({ roleArn: 'arn:aws:iam::222222222222:role/KW', externalId: 'ext-123', source: 'organizations' });
  });

  it('honours include and exclude by id or name', () => {
    const inc = resolveAccounts(config({ organizations: { enabled: true, includeAccounts: ['payments', '444444444444'] } }), org);
    expect(inc.map((a) => a.id)).toEqual(['111111111111', '222222222222']);
    const exc = resolveAccounts(config({ organizations: { enabled: true, excludeAccounts: ['333333333333'] } }), org);
    expect(exc.map((a) => a.id)).toEqual(['111111111111', '222222222222']);
  });

  it('falls back to the explicit accounts when the organization list is unknown', () => {
    expect(resolveAccounts(config({ organizations: { enabled: true } }), null).map((a) => a.id)).toEqual(['111111111111']);
  });

  it('builds account x region targets', () => {
    const targets = buildTargets(resolveAccounts(config({}), null), ['us-east-1', 'eu-west-1']);
    expect(targets.map((t) => `${t.accountId}/${t.region}`)).toEqual(['111111111111/us-east-1', '111111111111/eu-west-1']);
  });
});

describe('resolveAccounts with OUs and tags', () => {
  const placed = (ouPath: string, ...ouIds: string[]) => ({ ouPath, ouIds: ['r-ab12', ...ouIds] });
  const orgWithOus: OrgAccount[] = [
    { id: '111111111111', name: 'management', status: 'ACTIVE', placement: placed('/'), tags: { owner: 'platform' } },
    { id: '222222222222', name: 'payments', status: 'ACTIVE', placement: placed('/Prod/Payments', 'ou-ab12-11111111', 'ou-ab12-22222222'), tags: { owner: 'payments', team: 'core' } },
    { id: '333333333333', name: 'sandbox', status: 'ACTIVE', placement: placed('/Sandbox', 'ou-ab12-33333333'), tags: {} },
    { id: '444444444444', name: 'payments-eu', status: 'ACTIVE', placement: placed('/Prod/Payments/EU', 'ou-ab12-11111111', 'ou-ab12-22222222', 'ou-ab12-44444444'), tags: { owner: 'payments-eu' } },
    { id: '555555555555', name: 'unknown', status: 'ACTIVE', placement: null, tags: {} },
  ];
  const ids = (c: object) => resolveAccounts(config({ accounts: [], organizations: { enabled: true, ...c } }), orgWithOus).map((a) => a.id);

  it('includeOUs by path takes the subtree; excludeOUs by id cuts a branch out of it', () => {
    expect(ids({ includeOUs: ['/Prod/Payments'] })).toEqual(['222222222222', '444444444444']);
    expect(ids({ includeOUs: ['/Prod'], excludeOUs: ['ou-ab12-44444444'] })).toEqual(['222222222222']);
    expect(ids({ includeOUs: ['ou-ab12-33333333', '/'] })).toEqual(['111111111111', '222222222222', '333333333333', '444444444444']);
  });

  it('an account whose OU is unknown is skipped by includeOUs and kept by excludeOUs', () => {
    expect(ids({ includeOUs: ['/'] })).not.toContain('555555555555');
    expect(ids({ excludeOUs: ['/Sandbox'] })).toEqual(['111111111111', '222222222222', '444444444444', '555555555555']);
  });

  it('OU filters work beside the account filters', () => {
    expect(ids({ includeOUs: ['/Prod'], excludeAccounts: ['payments-eu'] })).toEqual(['222222222222']);
  });

  it('discovered accounts carry their OU path and tags into the targets', () => {
    const accounts = resolveAccounts(config({ accounts: [], organizations: { enabled: true } }), orgWithOus);
    expect(accounts.find((a) => a.id === '222222222222')).toMatchObject({ ouPath: '/Prod/Payments', tags: { owner: 'payments', team: 'core' } });
    expect(accounts.find((a) => a.id === '555555555555')).toMatchObject({ ouPath: null, tags: {} });
    const targets = buildTargets(accounts, ['us-east-1']);
    expect(targets.find((t) => t.accountId === '222222222222')).toMatchObject({ ouPath: '/Prod/Payments', tags: { owner: 'payments', team: 'core' } });
  });

  it('explicit accounts are never filtered by OU, take what Organizations knows, and their own tags and ouPath win', () => {
    const c = config({
      accounts: [{ id: '333333333333', name: 'sb', tags: { owner: 'sandbox-team', cost: 'cc-1' } }, { id: '999999999999', ouPath: '/Outside', tags: { owner: 'x' } }],
      organizations: { enabled: true, includeOUs: ['/Prod'] },
    });
    const accounts = resolveAccounts(c, orgWithOus);
    expect(accounts.map((a) => a.id)).toEqual(['333333333333', '999999999999', '222222222222', '444444444444']);
    expect(accounts[0]).toMatchObject({ ouPath: '/Sandbox', tags: { owner: 'sandbox-team', cost: 'cc-1' }, source: 'config' });
    expect(accounts[1]).toMatchObject({ ouPath: '/Outside', tags: { owner: 'x' } });
  });

  it('without Organizations, explicit accounts carry the config tags and ouPath alone', () => {
    const accounts = resolveAccounts(config({ accounts: [{ id: '111111111111', tags: { owner: 'me' } }] }), orgWithOus);
    expect(accounts).toEqual([expect.objectContaining({ id: '111111111111', ouPath: null, tags: { owner: 'me' } })]);
  });
});
