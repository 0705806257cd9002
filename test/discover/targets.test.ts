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
