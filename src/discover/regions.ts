// Which regions each account has enabled, from the Account API (ListRegions through the account's own
// role), cached per account and read again at most every organizations.refreshInterval. It serves
// `regions: enabled` (poll exactly those) and, with an explicit list, the question "is this region
// answering UnrecognizedClientException because the account never enabled it?".
import { paginateListRegions, type AccountClient } from '@aws-sdk/client-account';
import type { TargetError } from '../model.js';

/** Statuses of a region the account can use (ListRegions RegionOptStatusContains). */
const USABLE = ['ENABLED', 'ENABLED_BY_DEFAULT'] as const;

/** Every region the caller's account has enabled (opt-in regions it opted into plus the default ones), sorted. */
export async function listEnabledRegions(client: AccountClient, signal?: AbortSignal): Promise<string[]> {
  const out = new Set<string>();
  // MaxResults is 1-50 for ListRegions; no AccountId: the account whose credentials sign the call.
  for await (const page of paginateListRegions({ client, pageSize: 50 }, { RegionOptStatusContains: [...USABLE] }, { abortSignal: signal })) {
    for (const r of page.Regions ?? []) {
      if (r.RegionName && (!r.RegionOptStatus || (USABLE as readonly string[]).includes(r.RegionOptStatus))) out.add(r.RegionName);
    }
  }
  return [...out].sort();
}

export interface EnabledRegionsAnswer {
  /** The last good answer, or null when ListRegions never answered for the account. */
  regions: string[] | null;
  /** Epoch ms of that answer. */
  fetchedAt: number | null;
  /** The error of the latest attempt when it failed (the last good answer, if any, is still returned). */
  error: TargetError | null;
}

interface Entry {
  regions: string[] | null;
  fetchedAt: number | null;
  /** Monotonic time of that fetch: freshness is measured on it, so a wall-clock step neither holds a refresh back nor forces one. */
  fetchedMono: number | null;
  error: TargetError | null;
  inflight: Promise<void> | null;
}

/**
 * Per-account cache of the enabled regions. A good answer is kept for `refreshInterval`; a failed
 * refresh keeps the last good answer (and reports the error), and is tried again at the next ask, so
 * an account whose regions were never read is not left blind for a whole interval.
 */
export class EnabledRegions {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: {
    refreshInterval: number;
    now: () => number;
    /** Monotonic ms for the refresh interval (default `now`, for tests that drive one clock). */
    monotonic?: () => number;
    fetch: (accountId: string, signal?: AbortSignal) => Promise<string[]>;
    toError: (err: unknown) => TargetError;
  }) {}

  /** The account's enabled regions, read from AWS when there is no answer younger than refreshInterval. */
  async get(accountId: string, signal?: AbortSignal): Promise<EnabledRegionsAnswer> {
    let e = this.entries.get(accountId);
    if (!e) {
      e = { regions: null, fetchedAt: null, fetchedMono: null, error: null, inflight: null };
      this.entries.set(accountId, e);
    }
    const mono = this.opts.monotonic ?? this.opts.now;
    const fresh = e.fetchedMono !== null && mono() - e.fetchedMono < this.opts.refreshInterval;
    if (!fresh) {
      const entry = e;
      // One request per account at a time, however many targets ask at once.
      entry.inflight ??= this.opts.fetch(accountId, signal).then(
        (regions) => { entry.regions = regions; entry.fetchedAt = this.opts.now(); entry.fetchedMono = mono(); entry.error = null; },
        (err: unknown) => { entry.error = this.opts.toError(err); },
      ).finally(() => { entry.inflight = null; });
      await entry.inflight;
    }
    return { regions: e.regions, fetchedAt: e.fetchedAt, error: e.error };
  }

  /** The cached answer without asking AWS. */
  peek(accountId: string): string[] | null {
    return this.entries.get(accountId)?.regions ?? null;
  }

  /** Forgets accounts no longer monitored. */
  retain(accountIds: ReadonlySet<string>): void {
    for (const id of this.entries.keys()) if (!accountIds.has(id)) this.entries.delete(id);
  }
}

/** The regions to poll in one account: the configured list or the enabled ones, minus excludeRegions. */
export function regionsToPoll(configured: readonly string[] | 'enabled', enabled: readonly string[] | null, exclude: readonly string[]): string[] | null {
  const base = configured === 'enabled' ? enabled : configured;
  if (!base) return null;
  const skip = new Set(exclude);
  return base.filter((r) => !skip.has(r));
}
