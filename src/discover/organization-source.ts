// The organization as the poller sees it: read through one Organizations client at most once per
// organizations.refreshInterval (Refreshing), the last good answer kept while a read fails.
//
// A read walks the tree top-down (ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent:
// every account comes with its OU path, about two calls per OU), then ListTagsForResource for the
// accounts that may be polled when organizations.tags is set. Where the caller may not walk the tree (an
// IAM policy from before: AccessDenied), the read falls back to ListAccounts with ListParents /
// DescribeOrganizationalUnit per account (cached, see organizations.ts) and tries the walk again at the
// next read. A failed listing fails the read; a failed placement or tag read of some accounts does not
// (those accounts keep what the last read knew, and the failure is reported), so a policy without
// organizations:ListParents does not stop discovery.
//
// A read streams (issue 14): each page's accounts are handed to the poll that waits for the first read
// (stream()) as soon as their placement and tags are known, so their targets start long before the last
// page. Listing calls go ahead of queued tag and placement reads (each unlocks up to 20 accounts);
// Organizations calls stay at most ORGANIZATIONS_CONCURRENCY in flight. A first read that fails part-way
// keeps the accounts it did list (provisional, until a read succeeds): an account already polled is not
// dropped by a later page failing.
import type { OrganizationsClient } from '@aws-sdk/client-organizations';
import type { Config } from '../config/schema.js';
import { Slots } from '../util/slots.js';
import { AccountEnricher, ORGANIZATIONS_CONCURRENCY, OuCache, PERMISSION_ERRORS, organizationAccountPages, walkOrganization, type EnrichProblem, type OrgAccount } from './organizations.js';
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

/** The accounts of the read in progress as they become usable (listed, placed and tagged). */
class LiveRead {
  readonly ready: OrgAccount[] = [];
  state: 'running' | 'done' | 'failed' = 'running';
  private waiters: (() => void)[] = [];

  push(a: OrgAccount): void {
    this.ready.push(a);
    this.wake();
  }

  end(state: 'done' | 'failed'): void {
    this.state = state;
    this.wake();
  }

  /** Resolves at the next account or the end of the read (or when the signal aborts). */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => { signal?.removeEventListener('abort', done); resolve(); };
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export class OrganizationSource {
  private readonly ous: OuCache;
  private readonly cache: Refreshing<OrgAccount[]>;
  private live: LiveRead | null = null;
  /** Accounts a first read listed before it failed: used until a read succeeds (never replaces a good answer). */
  private provisional: OrgAccount[] | null = null;

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
    const live = (this.live = new LiveRead());
    const listed: Promise<OrgAccount>[] = [];
    try {
      const client = this.opts.client();
      const enricher = new AccountEnricher(client, {
        candidates: organizationCandidates(config),
        tagKeys: organizationTagKeys(config),
        ous: this.ous,
        previous: new Map((this.cache.value ?? this.provisional ?? []).map((a) => [a.id, a])),
        signal,
        errorCode: this.opts.errorCode,
      });
      const slots = new Slots(ORGANIZATIONS_CONCURRENCY);
      const seen = new Set<string>();
      const take = (page: OrgAccount[]) => {
        for (const a of page) {
          if (seen.has(a.id)) continue; // listed twice (moved during the walk, or again by the fallback)
          seen.add(a.id);
          const p = (enricher.needsCalls(a) ? slots.run(() => enricher.enrich(a)) : enricher.enrich(a)).then((e) => { live.push(e); return e; });
          p.catch(() => undefined); // awaited below; not unhandled while later pages are fetched
          listed.push(p);
        }
      };
      try {
        let walked = false;
        try {
          await walkOrganization(client, { signal, slots, onAccounts: take });
          walked = true;
        } catch (err) {
          if (signal.aborted || !PERMISSION_ERRORS.has(this.opts.errorCode(err))) throw err;
        }
        if (!walked) for await (const page of organizationAccountPages(client, signal, () => slots.acquire(true))) take(page);
      } catch (err) {
        // The accounts already listed are still placed and handed out before the read counts as failed.
        await Promise.allSettled(listed);
        throw err;
      }
      // In the order listed, whatever order the tag and placement reads finished in.
      const accounts = await Promise.all(listed);
      const problems = enricher.problems;
      if (problems.length > 0) this.opts.onPartial?.(problems);
      this.provisional = null;
      live.end('done');
      return accounts;
    } catch (err) {
      if (this.cache.value === null && live.ready.length > 0) {
        const merged = new Map((this.provisional ?? []).map((a) => [a.id, a]));
        for (const a of live.ready) merged.set(a.id, a);
        this.provisional = [...merged.values()];
      }
      live.end('failed');
      throw err;
    }
  }

  /** The accounts to use now: waits only for the first read (see Refreshing). */
  async current(signal?: AbortSignal): Promise<OrgAccount[] | null> {
    return (await this.cache.current(signal)) ?? this.provisional;
  }

  /**
   * The accounts to use now, in batches as they become known: the held answer at once (a due refresh
   * runs in the background), or, before the first good read, each account of the read in progress as
   * soon as it is placed. Ends when the read ends (or `signal` aborts); after a failed read, with the
   * provisional accounts not yet handed out.
   */
  async *stream(signal?: AbortSignal): AsyncGenerator<OrgAccount[]> {
    if (this.cache.value === null) {
      const finished = this.cache.current(signal);
      const live = this.live;
      if (live && live.state === 'running') {
        const given = new Set<string>();
        let i = 0;
        for (;;) {
          if (i < live.ready.length) {
            const batch = live.ready.slice(i);
            i = live.ready.length;
            for (const a of batch) given.add(a.id);
            yield batch;
            continue;
          }
          if (live.state !== 'running' || signal?.aborted) break;
          await live.changed(signal);
        }
        if (signal?.aborted) return;
        await finished;
        const rest = this.cache.value === null ? (this.provisional ?? []).filter((a) => !given.has(a.id)) : [];
        if (rest.length > 0) yield rest;
        return;
      }
      await finished;
    }
    const accounts = await this.current(signal);
    if (accounts && accounts.length > 0) yield accounts;
  }

  /** Age of the account list held (ms), null before the first good read. */
  ageMs(): number | null {
    return this.cache.ageMs();
  }

  /** Failed reads since the last good one (already counting the failure an onError call reports). */
  get consecutiveFailures(): number {
    return this.cache.consecutiveFailures;
  }

  /** Waits for a read in progress (tests; check-config). */
  settled(): Promise<void> {
    return this.cache.settled();
  }

  close(): void {
    this.cache.close();
  }
}
