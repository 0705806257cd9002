// Which accounts and regions to poll: the explicit list plus, optionally, every ACTIVE account of the
// organization, filtered by account and by OU. Pure: the Organizations answer is an input.
import type { Config } from '../config/schema.js';
import type { Target } from '../model.js';
import type { OrgAccount } from './organizations.js';
import { parseOuSelector, selectByOu, type OuSelector } from './ou-path.js';
import { partitionOfRegion, roleArnFor } from '../config/partitions.js';

export interface AccountRef {
  id: string;
  name: string;
  roleArn: string | null;
  externalId: string | null;
  source: 'config' | 'organizations';
  /** OU path ("/Prod/Payments", "/" under the root); null when unknown or not in the organization. */
  ouPath: string | null;
  /** Values of the configured tag keys the account has. */
  tags: Record<string, string>;
}

const selectors = (list: readonly string[]): OuSelector[] => list.map(parseOuSelector).filter((s): s is OuSelector => typeof s !== 'string');

const matchesAccount = (a: Pick<OrgAccount, 'id' | 'name'>, list: readonly string[]) => list.includes(a.id) || list.includes(a.name);

/**
 * Accounts of the organization worth reading placement and tags for: those that may be polled (ACTIVE,
 * past the account filters) and the explicitly configured ones. The OU filters need the placement, so
 * they cannot narrow this set.
 */
export function organizationCandidates(config: Config): (a: OrgAccount) => boolean {
  const org = config.organizations;
  const explicit = new Set(config.accounts.map((a) => a.id));
  return (a) => explicit.has(a.id) || (a.status === 'ACTIVE'
    && (org.includeAccounts.length === 0 || matchesAccount(a, org.includeAccounts))
    && !matchesAccount(a, org.excludeAccounts));
}

/** The tag keys read from Organizations. */
export const organizationTagKeys = (config: Config): Set<string> => new Set(config.organizations.tags);

/**
 * Explicit accounts win over discovered ones (their role and name are the operator's choice); they also
 * get the OU path and tags Organizations knows of them, the config's own `ouPath` and `tags` winning.
 */
export function resolveAccounts(config: Config, orgAccounts: readonly OrgAccount[] | null): AccountRef[] {
  const out = new Map<string, AccountRef>();
  const org = config.organizations;
  // Role ARNs follow the partition (arn:aws-cn:iam::... in China), which the home region belongs to.
  const partition = partitionOfRegion(config.aws.homeRegion)?.name ?? 'aws';
  const known = new Map((org.enabled ? orgAccounts ?? [] : []).map((a) => [a.id, a]));
  for (const a of config.accounts) {
    const o = known.get(a.id);
    out.set(a.id, {
      id: a.id, name: a.name ?? a.id, roleArn: a.roleArn ?? null, externalId: a.externalId ?? null, source: 'config',
      ouPath: a.ouPath ?? o?.placement?.ouPath ?? null,
      tags: { ...(o?.tags ?? {}), ...(a.tags ?? {}) },
    });
  }
  if (org.enabled && orgAccounts) {
    const candidate = organizationCandidates(config);
    const include = selectors(org.includeOUs);
    const exclude = selectors(org.excludeOUs);
    for (const a of orgAccounts) {
      if (out.has(a.id) || !candidate(a)) continue;
      if (selectByOu(a.placement ?? null, include, exclude) === 'skip') continue;
      out.set(a.id, {
        id: a.id, name: a.name, roleArn: roleArnFor(partition, a.id, org.roleName), externalId: org.externalId, source: 'organizations',
        ouPath: a.placement?.ouPath ?? null, tags: { ...(a.tags ?? {}) },
      });
    }
  }
  return [...out.values()];
}

export function buildTargets(accounts: AccountRef[], regions: string[]): Target[] {
  return accounts.flatMap((a) => regions.map((region) => ({
    accountId: a.id, accountName: a.name, region, roleArn: a.roleArn, externalId: a.externalId, ouPath: a.ouPath, tags: a.tags,
  })));
}
