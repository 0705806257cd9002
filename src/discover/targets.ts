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

type ExplicitAccount = Config['accounts'][number];

function explicitRef(a: ExplicitAccount, o: OrgAccount | undefined): AccountRef {
  return {
    id: a.id, name: a.name ?? a.id, roleArn: a.roleArn ?? null, externalId: a.externalId ?? null, source: 'config',
    ouPath: a.ouPath ?? o?.placement?.ouPath ?? null,
    tags: { ...(o?.tags ?? {}), ...(a.tags ?? {}) },
  };
}

/** The discovered account's ref, or null when the account filters or OU selectors leave it out. */
function organizationRef(config: Config, select: { candidate: (a: OrgAccount) => boolean; include: OuSelector[]; exclude: OuSelector[]; partition: string }, a: OrgAccount): AccountRef | null {
  const org = config.organizations;
  if (!select.candidate(a)) return null;
  if (selectByOu(a.placement ?? null, select.include, select.exclude) === 'skip') return null;
  return {
    id: a.id, name: a.name, roleArn: roleArnFor(select.partition, a.id, org.roleName), externalId: org.externalId, source: 'organizations',
    ouPath: a.placement?.ouPath ?? null, tags: { ...(a.tags ?? {}) },
  };
}

function selection(config: Config) {
  const org = config.organizations;
  // Role ARNs follow the partition (arn:aws-cn:iam::... in China), which the home region belongs to.
  return { candidate: organizationCandidates(config), include: selectors(org.includeOUs), exclude: selectors(org.excludeOUs), partition: partitionOfRegion(config.aws.homeRegion)?.name ?? 'aws' };
}

/**
 * Explicit accounts win over discovered ones (their role and name are the operator's choice); they also
 * get the OU path and tags Organizations knows of them, the config's own `ouPath` and `tags` winning.
 */
export function resolveAccounts(config: Config, orgAccounts: readonly OrgAccount[] | null): AccountRef[] {
  const out = new Map<string, AccountRef>();
  const org = config.organizations;
  const known = new Map((org.enabled ? orgAccounts ?? [] : []).map((a) => [a.id, a]));
  for (const a of config.accounts) out.set(a.id, explicitRef(a, known.get(a.id)));
  if (org.enabled && orgAccounts) {
    const select = selection(config);
    for (const a of orgAccounts) {
      if (out.has(a.id)) continue;
      const ref = organizationRef(config, select, a);
      if (ref) out.set(a.id, ref);
    }
  }
  return [...out.values()];
}

/**
 * resolveAccounts for an organization read that arrives in batches (OrganizationSource.stream): add()
 * answers the accounts each batch makes known, finish() the explicit accounts the organization did not
 * list. Together the same accounts as resolveAccounts over the whole list, each once, in arrival order.
 * An explicit account waits for the organization (it may carry the OU path and tags found there); with
 * Organizations disabled there is nothing to wait for, and finish() may be called at once.
 */
export class AccountResolver {
  private readonly given = new Set<string>();
  private readonly explicit: Map<string, ExplicitAccount>;
  private readonly select: ReturnType<typeof selection>;

  constructor(private readonly config: Config) {
    this.explicit = new Map(config.accounts.map((a) => [a.id, a]));
    this.select = selection(config);
  }

  add(orgAccounts: readonly OrgAccount[]): AccountRef[] {
    if (!this.config.organizations.enabled) return [];
    const out: AccountRef[] = [];
    for (const a of orgAccounts) {
      if (this.given.has(a.id)) continue;
      const e = this.explicit.get(a.id);
      const ref = e ? explicitRef(e, a) : organizationRef(this.config, this.select, a);
      if (!ref) continue;
      this.given.add(a.id);
      out.push(ref);
    }
    return out;
  }

  finish(): AccountRef[] {
    const out: AccountRef[] = [];
    for (const e of this.explicit.values()) {
      if (this.given.has(e.id)) continue;
      this.given.add(e.id);
      out.push(explicitRef(e, undefined));
    }
    return out;
  }
}

export function buildTargets(accounts: AccountRef[], regions: string[]): Target[] {
  return accounts.flatMap((a) => regions.map((region) => ({
    accountId: a.id, accountName: a.name, region, roleArn: a.roleArn, externalId: a.externalId, ouPath: a.ouPath, tags: a.tags,
  })));
}
