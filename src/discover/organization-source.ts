// The organization as the poller sees it: read through one Organizations client at most once per
// organizations.refreshInterval (Refreshing), the last good answer kept while a read fails.
//
// A read is ListAccounts, then ListParents / DescribeOrganizationalUnit (cached, see organizations.ts)
// and ListTagsForResource for the accounts that may be polled. A failed ListAccounts fails the read; a
// failed placement or tag read of some accounts does not (those accounts keep what the last read knew,
// and the failure is reported), so a policy without organizations:ListParents does not stop discovery.
import type { OrganizationsClient } from '@aws-sdk/client-organizations';
import type { Config } from '../config/schema.js';
import { enrichAccounts, listOrganizationAccounts, OuCache, type EnrichProblem, type OrgAccount } from './organizations.js';
import { Refreshing } from './refresh.js';
import { organizationCandidates, organizationTagKeys } from './targets.js';

export interface OrganizationSourceOptions {
  config: Config;
  client: () => OrganizationsClient;
  /** The AWS error code of an error (collect/aws-clients errorCode). */
  errorCode: (err: unknown) => string;
  now?: () => number;
  /** A read failed (the last good answer is kept). */
  onError?: (err: unknown) => void;
  /** A read succeeded, but the placement or tags of some accounts could not be read. */
  onPartial?: (problems: EnrichProblem[]) => void;
  /** A read succeeded. */
  onRead?: (accounts: OrgAccount[]) => void;
}

export class OrganizationSource {
  private readonly ous: OuCache;
  private readonly cache: Refreshing<OrgAccount[]>;

  constructor(private readonly opts: OrganizationSourceOptions) {
    const now = opts.now ?? Date.now;
    this.ous = new OuCache(now);
    this.cache = new Refreshing<OrgAccount[]>({
      interval: opts.config.organizations.refreshInterval,
      now,
      read: (signal) => this.read(signal),
      onError: opts.onError,
      onValue: opts.onRead,
    });
  }

  private async read(signal: AbortSignal): Promise<OrgAccount[]> {
    const { config } = this.opts;
    const client = this.opts.client();
    const accounts = await listOrganizationAccounts(client, signal);
    const previous = new Map((this.cache.value ?? []).map((a) => [a.id, a]));
    const { accounts: enriched, problems } = await enrichAccounts(client, accounts, {
      candidates: organizationCandidates(config),
      tagKeys: organizationTagKeys(config),
      ous: this.ous,
      previous,
      signal,
      errorCode: this.opts.errorCode,
    });
    if (problems.length > 0) this.opts.onPartial?.(problems);
    return enriched;
  }

  /** The accounts to use now: waits only for the first read (see Refreshing). */
  current(signal?: AbortSignal): Promise<OrgAccount[] | null> {
    return this.cache.current(signal);
  }

  /** Age of the account list held (ms), null before the first good read. */
  ageMs(): number | null {
    return this.cache.ageMs();
  }

  /** Waits for a read in progress (tests; check-config). */
  settled(): Promise<void> {
    return this.cache.settled();
  }

  close(): void {
    this.cache.close();
  }
}
