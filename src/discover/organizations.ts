// Reads the AWS Organization: its member accounts (ListAccounts), where each sits (ListParents up to the
// root, DescribeOrganizationalUnit for the names) and the tags the configuration names
// (ListTagsForResource). Every call can only be made from the management account or a delegated
// administrator (organizations.roleArn assumes a role there).
//
// Organizations throttles easily (TooManyRequestsException, which the SDK retries with backoff):
// calls go out at most ORGANIZATIONS_CONCURRENCY at a time, and OUs are cached across reads. An OU's
// parent never changes (the API has MoveAccount but no operation that moves an OU), so it is read once;
// OU names can change (UpdateOrganizationalUnit) and are read again after OU_NAME_TTL_MS.
import {
  DescribeOrganizationalUnitCommand,
  ParentType,
  paginateListAccounts,
  paginateListAccountsForParent,
  paginateListOrganizationalUnitsForParent,
  paginateListRoots,
  type Account,
  paginateListParents,
  paginateListTagsForResource,
  type OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { mapBounded } from '../util/map-bounded.js';
import type { Slots } from '../util/slots.js';
import { formatOuPath, type OuPlacement } from './ou-path.js';

export interface OrgAccount {
  id: string;
  name: string;
  /** ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED (State or the older Status field). */
  status: string;
  /** Where the account sits; null when not read (not a candidate) or unknown (the read failed). */
  placement?: OuPlacement | null;
  /** The configured tag keys the account has, with their values. */
  tags?: Record<string, string>;
}

/** Organizations calls in flight at once during a read. */
export const ORGANIZATIONS_CONCURRENCY = 2;
/** OU names are read again after this long (a renamed OU shows its new name within the hour). */
export const OU_NAME_TTL_MS = 3_600_000;
/** AWS allows OUs five levels deep; a longer chain means a broken answer, not a deeper tree. */
const MAX_OU_DEPTH = 10;

const orgAccount = (a: Account): OrgAccount | null => {
  if (!a.Id) return null;
  const state = (a as { State?: string }).State;
  return { id: a.Id, name: a.Name ?? a.Id, status: state ?? a.Status ?? 'UNKNOWN' };
};

export async function listOrganizationAccounts(client: OrganizationsClient, signal?: AbortSignal): Promise<OrgAccount[]> {
  const out: OrgAccount[] = [];
  for await (const page of organizationAccountPages(client, signal)) out.push(...page);
  return out;
}

/** Runs `each` on every page of a paginator, each request inside one of `slots` (`first`: ahead of the others). */
async function eachPage<T>(pages: AsyncIterable<T>, slots: Slots | undefined, first: boolean, each: (page: T) => void): Promise<void> {
  const it = pages[Symbol.asyncIterator]();
  for (;;) {
    const release = slots ? await slots.acquire(first) : undefined;
    let step: IteratorResult<T>;
    try {
      step = await it.next();
    } finally {
      release?.();
    }
    if (step.done) return;
    each(step.value);
  }
}

/**
 * The organization top-down (ListRoots, then per root or OU ListOrganizationalUnitsForParent and
 * ListAccountsForParent): every account arrives with its placement, from about two calls per OU instead
 * of a ListParents per account (measured: 1,000 accounts in 44 OUs, ~110 calls instead of ~1,090, see
 * docs/performance.md). `onAccounts` gets each page's accounts as it arrives; the accounts of a page are
 * listed ahead of further OUs. An account moved while the walk runs may be seen twice (the caller keeps
 * one) or, rarely, missed until the next read. Fails with the first error once the other branches end.
 */
export async function walkOrganization(client: OrganizationsClient, opts: { signal?: AbortSignal; slots?: Slots; onAccounts: (accounts: OrgAccount[]) => void }): Promise<void> {
  const { signal, slots } = opts;
  let rootId: string | undefined;
  await eachPage(paginateListRoots({ client }, {}, { abortSignal: signal }), slots, true, (page) => {
    rootId ??= page.Roots?.find((r) => r.Id)?.Id;
  });
  if (!rootId) throw Object.assign(new Error('ListRoots answered no root'), { name: 'MalformedResponse' });
  const root = rootId;
  const branches: Promise<void>[] = [];
  const visit = (id: string, names: string[], ids: string[], depth: number) => {
    const placement: OuPlacement = { ouPath: formatOuPath(names), ouIds: [root, ...ids] };
    branches.push(eachPage(paginateListAccountsForParent({ client, pageSize: 20 }, { ParentId: id }, { abortSignal: signal }), slots, true, (page) => {
      const accounts: OrgAccount[] = [];
      for (const a of page.Accounts ?? []) {
        const o = orgAccount(a);
        if (o) accounts.push({ ...o, placement });
      }
      if (accounts.length > 0) opts.onAccounts(accounts);
    }));
    if (depth >= MAX_OU_DEPTH) return; // AWS allows five levels: a deeper answer is broken, not a deeper tree
    branches.push(eachPage(paginateListOrganizationalUnitsForParent({ client, pageSize: 20 }, { ParentId: id }, { abortSignal: signal }), slots, false, (page) => {
      for (const ou of page.OrganizationalUnits ?? []) {
        // A nameless answer is not a name: the id stands in rather than an empty path segment.
        if (ou.Id && !ids.includes(ou.Id)) visit(ou.Id, [...names, ou.Name || ou.Id], [...ids, ou.Id], depth + 1);
      }
    }));
  };
  visit(root, [], [], 0);
  const errors: unknown[] = [];
  for (let done = 0; done < branches.length;) {
    const batch = branches.slice(done);
    done = branches.length;
    for (const r of await Promise.allSettled(batch)) if (r.status === 'rejected') errors.push(r.reason);
  }
  if (errors.length > 0) throw errors[0];
}

/**
 * ListAccounts page by page, so discovery can stream: the accounts of a page are usable while the next
 * page is fetched. `beforePage` runs before each request (the caller's Organizations concurrency slot).
 */
export async function* organizationAccountPages(client: OrganizationsClient, signal?: AbortSignal, beforePage?: () => Promise<() => void>): AsyncGenerator<OrgAccount[]> {
  // Pages may be empty while NextToken is still set; the paginator follows the token regardless.
  const pages = paginateListAccounts({ client, pageSize: 20 }, {}, { abortSignal: signal })[Symbol.asyncIterator]();
  for (;;) {
    const release = beforePage ? await beforePage() : undefined;
    let step: Awaited<ReturnType<typeof pages.next>>;
    try {
      step = await pages.next();
    } finally {
      release?.();
    }
    if (step.done || !step.value) return;
    const out: OrgAccount[] = [];
    for (const a of step.value.Accounts ?? []) {
      const o = orgAccount(a);
      if (o) out.push(o);
    }
    yield out;
  }
}

/** The one parent of an account or OU ("in the current release, a child can have only a single parent"). */
async function parentOf(client: OrganizationsClient, childId: string, signal?: AbortSignal): Promise<{ id: string; type: string }> {
  for await (const page of paginateListParents({ client }, { ChildId: childId }, { abortSignal: signal })) {
    const p = page.Parents?.find((x) => x.Id);
    if (p?.Id) return { id: p.Id, type: p.Type ?? (p.Id.startsWith('r-') ? ParentType.ROOT : ParentType.ORGANIZATIONAL_UNIT) };
  }
  throw Object.assign(new Error(`ListParents answered no parent for ${childId}`), { name: 'MalformedResponse' });
}

interface OuNode {
  parentId: string;
  parentIsRoot: boolean;
  name: string;
  namedAt: number;
}

/** OU parents and names, kept across reads (see the header for what is read again and when). */
export class OuCache {
  private readonly nodes = new Map<string, OuNode>();
  private readonly pending = new Map<string, Promise<OuNode>>();

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.nodes.size;
  }

  /** Where an account sits: one ListParents for the account, then the cached OU chain up to the root. */
  async placementOf(client: OrganizationsClient, accountId: string, signal?: AbortSignal): Promise<OuPlacement> {
    let parent = await parentOf(client, accountId, signal);
    const names: string[] = [];
    const ids: string[] = [];
    while (parent.type !== ParentType.ROOT) {
      if (ids.length >= MAX_OU_DEPTH || ids.includes(parent.id)) {
        throw Object.assign(new Error(`the OU chain above ${accountId} does not reach a root within ${MAX_OU_DEPTH} levels`), { name: 'MalformedResponse' });
      }
      const node = await this.node(client, parent.id, signal);
      names.unshift(node.name);
      ids.unshift(parent.id);
      parent = { id: node.parentId, type: node.parentIsRoot ? ParentType.ROOT : ParentType.ORGANIZATIONAL_UNIT };
    }
    return { ouPath: formatOuPath(names), ouIds: [parent.id, ...ids] };
  }

  private node(client: OrganizationsClient, ouId: string, signal?: AbortSignal): Promise<OuNode> {
    const known = this.nodes.get(ouId);
    if (known && this.now() - known.namedAt < OU_NAME_TTL_MS) return Promise.resolve(known);
    // Concurrent placements share one read of the same OU.
    let p = this.pending.get(ouId);
    if (!p) {
      p = (async () => {
        const parent = known ? { id: known.parentId, type: known.parentIsRoot ? ParentType.ROOT : ParentType.ORGANIZATIONAL_UNIT } : await parentOf(client, ouId, signal);
        const { OrganizationalUnit: ou } = await client.send(new DescribeOrganizationalUnitCommand({ OrganizationalUnitId: ouId }), { abortSignal: signal });
        // A nameless answer is not a name: the id stands in rather than an empty path segment.
        const node: OuNode = { parentId: parent.id, parentIsRoot: parent.type === ParentType.ROOT, name: ou?.Name || ouId, namedAt: this.now() };
        this.nodes.set(ouId, node);
        return node;
      })().finally(() => this.pending.delete(ouId));
      this.pending.set(ouId, p);
    }
    return p;
  }
}

/** The account's tags among `keys` (tag keys are case-sensitive in AWS, so matched exactly). */
export async function accountTags(client: OrganizationsClient, accountId: string, keys: ReadonlySet<string>, signal?: AbortSignal): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const page of paginateListTagsForResource({ client }, { ResourceId: accountId }, { abortSignal: signal })) {
    for (const t of page.Tags ?? []) if (t.Key !== undefined && keys.has(t.Key) && !(t.Key in out)) out[t.Key] = t.Value ?? '';
  }
  return out;
}

export interface EnrichProblem {
  operation: 'ListParents' | 'ListTagsForResource';
  /** Accounts the operation failed (or was skipped) for. */
  accounts: number;
  /** The first error seen. */
  error: unknown;
}

/** Error codes that say a permission is missing: the same answer would come for every account. */
export const PERMISSION_ERRORS = new Set(['AccessDeniedException', 'AccessDenied', 'AWSOrganizationsNotInUseException']);

export interface EnrichOptions {
  candidates: (a: OrgAccount) => boolean;
  tagKeys: ReadonlySet<string>;
  ous: OuCache;
  previous?: ReadonlyMap<string, OrgAccount>;
  signal?: AbortSignal;
  errorCode: (err: unknown) => string;
}

/**
 * Reads placement and tags of one account at a time (the caller bounds the concurrency), for one read of
 * the organization. An account whose read fails keeps what `previous` knew of it (null / no tags when
 * nothing). After a permission error the operation is not tried again in this read (a missing
 * organizations:ListParents would otherwise cost one denied call per account).
 */
export class AccountEnricher {
  private readonly problemsSeen = new Map<EnrichProblem['operation'], EnrichProblem>();
  private readonly denied = new Set<EnrichProblem['operation']>();

  constructor(private readonly client: OrganizationsClient, private readonly opts: EnrichOptions) {}

  /** True when the account needs calls (a candidate without placement, or tags to read); others are answered at once by enrich(). */
  needsCalls(a: OrgAccount): boolean {
    return this.opts.candidates(a) && (a.placement === undefined || this.opts.tagKeys.size > 0);
  }

  get problems(): EnrichProblem[] {
    return [...this.problemsSeen.values()];
  }

  private fail(operation: EnrichProblem['operation'], err: unknown): void {
    const p = this.problemsSeen.get(operation);
    if (p) p.accounts += 1;
    else this.problemsSeen.set(operation, { operation, accounts: 1, error: err });
    if (err !== undefined && PERMISSION_ERRORS.has(this.opts.errorCode(err))) this.denied.add(operation);
  }

  async enrich(a: OrgAccount): Promise<OrgAccount> {
    const { opts, client } = this;
    if (!opts.candidates(a)) return { ...a, placement: null, tags: {} };
    const before = opts.previous?.get(a.id);
    let placement: OuPlacement | null = a.placement ?? before?.placement ?? null;
    // Placed by the top-down walk: no ListParents.
    if (a.placement !== undefined) { /* known */ } else if (this.denied.has('ListParents')) this.fail('ListParents', undefined);
    else {
      try {
        placement = await opts.ous.placementOf(client, a.id, opts.signal);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        this.fail('ListParents', err);
      }
    }
    let tags: Record<string, string> = before?.tags ?? {};
    if (opts.tagKeys.size > 0) {
      if (this.denied.has('ListTagsForResource')) this.fail('ListTagsForResource', undefined);
      else {
        try {
          tags = await accountTags(client, a.id, opts.tagKeys, opts.signal);
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          this.fail('ListTagsForResource', err);
        }
      }
    }
    return { ...a, placement, tags };
  }
}

/** Placement and tags of every candidate, ORGANIZATIONS_CONCURRENCY at a time (see AccountEnricher). */
export async function enrichAccounts(
  client: OrganizationsClient,
  accounts: readonly OrgAccount[],
  opts: EnrichOptions,
): Promise<{ accounts: OrgAccount[]; problems: EnrichProblem[] }> {
  const enricher = new AccountEnricher(client, opts);
  const out = await mapBounded(accounts, ORGANIZATIONS_CONCURRENCY, (a) => enricher.enrich(a));
  return { accounts: out, problems: enricher.problems };
}
