// Which accounts and regions to poll: the explicit list plus, optionally, every ACTIVE account of the
// organization. Pure: the Organizations answer is an input.
import type { Config } from '../config/schema.js';
import type { Target } from '../model.js';
import type { OrgAccount } from './organizations.js';
import { partitionOfRegion, roleArnFor } from '../config/partitions.js';

export interface AccountRef {
  id: string;
  name: string;
  roleArn: string | null;
  externalId: string | null;
  source: 'config' | 'organizations';
}

/** Explicit accounts win over discovered ones (their role and name are the operator's choice). */
export function resolveAccounts(config: Config, orgAccounts: OrgAccount[] | null): AccountRef[] {
  const out = new Map<string, AccountRef>();
  for (const a of config.accounts) {
    out.set(a.id, { id: a.id, name: a.name ?? a.id, roleArn: a.roleArn ?? null, externalId: a.externalId ?? null, source: 'config' });
  }
  const org = config.organizations;
  // Role ARNs follow the partition (arn:aws-cn:iam::... in China), which the home region belongs to.
  const partition = partitionOfRegion(config.aws.homeRegion)?.name ?? 'aws';
  if (org.enabled && orgAccounts) {
    const matches = (a: OrgAccount, list: string[]) => list.includes(a.id) || list.includes(a.name);
    for (const a of orgAccounts) {
      if (a.status !== 'ACTIVE') continue;
      if (org.includeAccounts.length > 0 && !matches(a, org.includeAccounts)) continue;
      if (matches(a, org.excludeAccounts)) continue;
      if (out.has(a.id)) continue;
      out.set(a.id, { id: a.id, name: a.name, roleArn: roleArnFor(partition, a.id, org.roleName), externalId: org.externalId, source: 'organizations' });
    }
  }
  return [...out.values()];
}

export function buildTargets(accounts: AccountRef[], regions: string[]): Target[] {
  return accounts.flatMap((a) => regions.map((region) => ({ accountId: a.id, accountName: a.name, region, roleArn: a.roleArn, externalId: a.externalId })));
}
