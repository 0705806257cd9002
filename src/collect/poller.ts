// Collecting one poll: resolve accounts, walk every account x region with bounded concurrency and a
// deadline per target, enrich CloudHSM stores with their clusters, optionally probe. The snapshot is
// built from the collection by the next stage (src/pipeline/snapshot-poller.ts).
// Failures stay inside their target: a target that fails keeps its last known stores, marked stale.
import { setTimeout as sleep } from 'node:timers/promises';
import { GenerateRandomCommand } from '@aws-sdk/client-kms';
import type { Config } from '../config/schema.js';
import type { ProbeOutcome, Snapshot, Target, TargetError } from '../model.js';
import { storeKey, targetKey } from '../model.js';
import { redact } from '../util/redact.js';
import { groupBy } from '../util/group-by.js';
import { mapBounded } from '../util/map-bounded.js';
import { AwsClients, errorCode } from './aws-clients.js';
import { walkKeyStores } from './key-stores.js';
import { describeClusters } from './clusters.js';
import type { CollectedPoll, TargetPollResult } from './result.js';
import { ChangeAttributor } from './cloudtrail.js';
import { changeActorsOfTarget, cloudWatchOfTarget, type MonitoringDeps, type TargetHistory } from './monitoring.js';
import type { EnrichProblem } from '../discover/organizations.js';
import { OrganizationSource } from '../discover/organization-source.js';
import { AccountResolver, buildTargets, resolveAccounts, type AccountRef } from '../discover/targets.js';
import { EnabledRegions, listEnabledRegions, regionsToPoll, type EnabledRegionsAnswer } from '../discover/regions.js';
import { TargetQueue } from './target-queue.js';
import { classifyUnanswered, isExpiredCredentials, isScpDeny, mayBeRegionNotEnabled } from './target-errors.js';

export interface PollerOptions {
  config: Config;
  clients: AwsClients;
  now?: () => number;
  /** Monotonic ms for the probe interval, region rechecks and the enabled-regions cache (default `now` when injected, else performance.now()): a wall-clock step must not stall or rush them. */
  monotonic?: () => number;
  /** Called as targets finish (for the CLI progress line). */
  onProgress?: (done: number, total: number) => void;
  /** An Organizations read failed; the last good account list is kept. */
  onOrganizationsError?: (error: TargetError) => void;
  /** An Organizations read succeeded, listing `accounts` accounts. */
  onOrganizationsRead?: (accounts: number) => void;
  /** An Organizations read listed the accounts but could not read the OU path or tags of some. */
  onOrganizationsPartial?: (problems: { operation: EnrichProblem['operation']; accounts: number; error: TargetError }[]) => void;
  /** Account ListRegions failed for an account (regions: enabled); its last known regions are kept when there are any. */
  onRegionsError?: (accountId: string, error: TargetError, keptLastKnown: boolean) => void;
  /** A GenerateRandom probe was throttled (counted in keystore_watch_probe_throttled_total; retried at the next interval). */
  onProbeThrottled?: (target: Target) => void;
  /** The role may not read CloudWatch in this target (one warning per target; never a blind-spot alert). */
  onCloudWatchDenied?: (target: Target, error: TargetError) => void;
}

/**
 * GenerateRandom errors that show the key store failing. From the KMS model's GenerateRandom error list
 * (../shared/reference/aws-models/kms-2014-11-01.json: CustomKeyStoreInvalidStateException,
 * DependencyTimeoutException, KMSInternalException) plus KMSInvalidStateException, which KMS answers for
 * cryptographic operations when the cluster has no ACTIVE HSM ("Using KMS keys in an AWS CloudHSM key
 * store"), and timeouts of the call itself. CustomKeyStoreNotFoundException (the store was deleted since
 * the walk) and UnsupportedOperationException (not a CloudHSM store) say nothing about a store's health.
 */
const PROBE_FAILING_CODES = new Set(['CustomKeyStoreInvalidStateException', 'KMSInternalException', 'DependencyTimeoutException', 'KMSInvalidStateException', 'Timeout']);
/** KMS answers ThrottlingException past the "Cryptographic operations (symmetric) request rate" or the CloudHSM key store request quota. */
const THROTTLING_CODES = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** What a GenerateRandom error says about the store. Pure. */
export function classifyProbeError(code: string): Exclude<ProbeOutcome, 'ok'> {
  if (PROBE_FAILING_CODES.has(code)) return 'failing';
  if (code.startsWith('AccessDenied')) return 'denied';
  if (THROTTLING_CODES.has(code)) return 'throttled';
  return 'inconclusive';
}

export function toTargetError(err: unknown): TargetError {
  const code = errorCode(err);
  const raw = err instanceof Error ? err.message : String(err);
  return { code, message: redact(raw).replace(/\s+/g, ' ').slice(0, 300) };
}

/**
 * Round-robin over accounts, each round visiting every account once, so the targets in flight at once
 * belong to different accounts (in account order, one account's regions would all wait on its single
 * AssumeRole). Within a round, account j takes its region (round + j) mod n: neighbours in the queue are
 * in different regions too, so the requests in flight spread over the regions and each region's KMS
 * client pool stays near concurrency / regions instead of growing to the full concurrency in every region.
 */
export function interleaveAccounts(targets: readonly Target[]): Target[] {
  const lists = [...groupBy(targets, (t) => t.accountId).values()];
  const out: Target[] = [];
  for (let round = 0; out.length < targets.length; round++) {
    lists.forEach((list, j) => {
      if (round < list.length) out.push(list[(round + j) % list.length]!);
    });
  }
  return out;
}

/** The targets of one poll: those to walk, and those already settled without a call (not_enabled, unknown regions). */
export interface TargetPlan {
  walk: Target[];
  settled: TargetPollResult[];
}

export class Poller {
  private pollId = 0;
  /** Accounts, OUs and tags, read at most once per organizations.refreshInterval. */
  readonly organizations: OrganizationSource | null;
  /** Each account's enabled regions (Account ListRegions), refreshed every organizations.refreshInterval. */
  private readonly enabledRegions: EnabledRegions;
  /**
   * Targets found not enabled, by targetKey: until when they are not polled again, on the monotonic
   * clock (the decision: a wall-clock step must not hold the recheck back) and as epoch ms (the message).
   */
  private readonly notEnabledUntil = new Map<string, { mono: number; wall: number }>();
  /** The accounts of the current plan, for the enabled-regions reads (each through its account's role). */
  private readonly accountsById = new Map<string, AccountRef>();
  /** Monotonic time of each store's last probe (in memory only: a restart probes everything once). */
  private lastProbeAt = new Map<string, number>();
  /** performance.now() when the last probe call of each account-region ended: the spacing also holds across polls. */
  readonly lastProbeCallEnd = new Map<string, number>();
  private readonly now: () => number;
  private readonly monotonic: () => number;

  /** CloudWatch / CloudTrail enrichment (collect/monitoring.ts). */
  private readonly monitoring: MonitoringDeps;
  /** The previous snapshot per target, for change detection (set per poll). */
  private history = new Map<string, TargetHistory>();

  constructor(private readonly opts: PollerOptions) {
    this.now = opts.now ?? Date.now;
    // An injected wall clock without a monotonic one drives both (tests); the daemon passes both.
    this.monotonic = opts.monotonic ?? opts.now ?? (() => performance.now());
    this.monitoring = {
      config: opts.config, clients: opts.clients, now: this.now, toError: toTargetError, lastRead: new Map(), monotonic: this.monotonic,
      attributor: new ChangeAttributor({ ...opts.config.cloudtrail, now: this.now }),
    };
    this.enabledRegions = new EnabledRegions({
      refreshInterval: opts.config.organizations.refreshInterval,
      now: this.now,
      monotonic: this.monotonic,
      toError: toTargetError,
      fetch: (accountId, signal) => {
        const account = this.accountsById.get(accountId);
        if (!account) return Promise.reject(new Error(`account ${accountId} is not monitored`));
        return listEnabledRegions(this.opts.clients.account(account), signal);
      },
    });
    const { config } = opts;
    const role = { roleArn: config.organizations.roleArn, externalId: config.organizations.roleExternalId };
    this.organizations = config.organizations.enabled
      ? new OrganizationSource({
        config,
        client: () => opts.clients.organizations(role),
        errorCode,
        // Ages and retry times of the account list are intervals: a wall-clock jump must neither age the
        // list (a false organizations-discovery warning) nor hold back a retry.
        now: this.monotonic,
        onError: (err) => opts.onOrganizationsError?.(toTargetError(err)),
        onRead: (accounts) => opts.onOrganizationsRead?.(accounts.length),
        onPartial: (problems) => opts.onOrganizationsPartial?.(problems.map((p) => ({ ...p, error: toTargetError(p.error) }))),
      })
      : null;
  }

  /** The accounts to poll; Organizations is read at most once per refreshInterval, failures keep the last known list. */
  async accounts(signal?: AbortSignal): Promise<AccountRef[]> {
    const org = this.organizations ? await this.organizations.current(signal) : null;
    return resolveAccounts(this.opts.config, org);
  }

  /** Stops background Organizations reads. */
  close(): void {
    this.organizations?.close();
  }

  /** The targets this poll walks (see plan()). */
  async targets(signal?: AbortSignal): Promise<Target[]> {
    return (await this.plan(await this.accounts(signal), signal)).walk;
  }

  /**
   * Account x region targets. `regions: enabled` reads each account's enabled regions (cached); an account
   * whose regions were never read becomes one failed target in the home region carrying the ListRegions
   * error, so the blind spot is visible. With an explicit list, targets found not enabled are settled
   * without a call until their recheck time.
   */
  async plan(accounts: AccountRef[], signal?: AbortSignal): Promise<TargetPlan> {
    const { config } = this.opts;
    this.accountsById.clear();
    for (const a of accounts) this.accountsById.set(a.id, a);
    this.enabledRegions.retain(new Set(this.accountsById.keys()));
    const plan: TargetPlan = { walk: [], settled: [] };
    const mono = this.monotonic();
    const answers = config.regions === 'enabled'
      ? await mapBounded(accounts, config.aws.concurrency, (a) => this.enabledRegions.get(a.id, signal))
      : null;
    accounts.forEach((a, i) => {
      const p = this.planAccount(a, answers?.[i] ?? null, mono);
      plan.walk.push(...p.walk);
      plan.settled.push(...p.settled);
    });
    this.forgetUnplanned(plan);
    return plan;
  }

  /**
   * One account's targets: the configured regions, or its enabled ones (`answer`, regions: enabled). With
   * no answer ever, one failed target in the home region carries the ListRegions error, so the blind spot
   * is visible; targets found not enabled are settled without a call until their recheck time.
   */
  private planAccount(a: AccountRef, answer: EnabledRegionsAnswer | null, mono: number): TargetPlan {
    const { config } = this.opts;
    const plan: TargetPlan = { walk: [], settled: [] };
    if (answer?.error) this.opts.onRegionsError?.(a.id, answer.error, answer.regions !== null);
    const regions = regionsToPoll(config.regions, answer?.regions ?? null, config.excludeRegions);
    if (!regions) {
      const target = buildTargets([a], [config.aws.homeRegion])[0]!;
      const error = answer?.error ?? { code: 'UnknownError', message: 'no answer' };
      plan.settled.push(unanswered(target, { code: error.code, message: `Account ListRegions failed, so the regions to poll are unknown: ${error.message}` }, 'failed'));
      return plan;
    }
    for (const t of buildTargets([a], regions)) {
      const until = this.notEnabledUntil.get(targetKey(t));
      if (until !== undefined && mono < until.mono) plan.settled.push(unanswered(t, notEnabledError(t, until.wall), 'not_enabled'));
      else plan.walk.push(t);
    }
    return plan;
  }

  /**
   * Forgets what is kept per target or account of those no longer planned (accounts that left the
   * organization or the config), so account churn cannot grow these maps for the process's life.
   */
  private forgetUnplanned(plan: TargetPlan): void {
    const { config } = this.opts;
    const planned = new Set([...plan.walk, ...plan.settled.map((r) => r.target)].map(targetKey));
    for (const k of this.notEnabledUntil.keys()) if (!planned.has(k)) this.notEnabledUntil.delete(k);
    for (const k of this.lastProbeCallEnd.keys()) if (!planned.has(k)) this.lastProbeCallEnd.delete(k);
    this.opts.clients.retainRoles([...this.accountsById.values(), { roleArn: config.organizations.roleArn ?? null, externalId: config.organizations.roleExternalId ?? null }]);
  }

  /** Restores the counter and the discovered account list after a restart. */
  resume(prev: Pick<Snapshot, 'pollId'> | null): void {
    if (prev) this.pollId = Math.max(this.pollId, prev.pollId);
  }

  /**
   * One sweep. Discovery streams into it (issue 14): the targets of each account start as soon as the
   * account is known (its Organizations page read and placed, its enabled regions answered), joining one
   * round-robin over every account known so far, while later pages and ListRegions answers arrive. A
   * discovery failure part-way keeps the accounts already found (OrganizationSource.stream).
   */
  async collect(prev: (Pick<Snapshot, 'pollId'> & Partial<Pick<Snapshot, 'stores' | 'targets' | 'changeActors' | 'finishedAt'>>) | null, signal?: AbortSignal): Promise<CollectedPoll> {
    this.history = targetHistory(prev);
    const startedAt = this.now();
    const pollId = Math.max(this.pollId, prev?.pollId ?? 0) + 1;
    this.pollId = pollId;
    const { config } = this.opts;
    const queue = new TargetQueue(config.aws.concurrency);
    const plan: TargetPlan = { walk: [], settled: [] };
    const mono = this.monotonic();
    this.accountsById.clear();
    const place = (a: AccountRef, answer: EnabledRegionsAnswer | null) => {
      const p = this.planAccount(a, answer, mono);
      plan.walk.push(...p.walk);
      plan.settled.push(...p.settled);
      queue.addAccount(p.walk);
    };
    const addAccounts = (accounts: AccountRef[]) => {
      for (const a of accounts) {
        this.accountsById.set(a.id, a);
        if (config.regions !== 'enabled') place(a, null);
        // ListRegions (cached) takes a worker slot like any call; the account's targets follow its answer.
        else queue.addTask(async () => place(a, await this.enabledRegions.get(a.id, signal)));
      }
    };
    const discovery = (async () => {
      try {
        const resolver = new AccountResolver(config);
        if (this.organizations) for await (const batch of this.organizations.stream(signal)) addAccounts(resolver.add(batch));
        addAccounts(resolver.finish());
      } finally {
        queue.close();
      }
    })();
    await Promise.all([this.opts.clients.prepare().catch(() => undefined), this.opts.clients.startSdkThreads()]);
    let done = 0;
    // One listener on the caller's signal for the whole poll (not one per target in flight), which
    // aborts the targets running when it fires.
    const running = new Set<AbortController>();
    const abortRunning = () => { for (const c of running) c.abort(); };
    signal?.addEventListener('abort', abortRunning, { once: true });
    const results: TargetPollResult[] = [];
    const worker = async () => {
      for (let w = await queue.next(); w; w = await queue.next()) {
        if (w.kind === 'task') {
          await w.run();
          continue;
        }
        results.push(await this.pollTarget(w.target, running, signal?.aborted === true));
        this.opts.onProgress?.(++done, queue.total);
      }
    };
    try {
      // Discovery closes the queue however it ends, so the workers always finish; its error (if any) is
      // raised only once they have.
      const workers = Promise.all(Array.from({ length: Math.max(1, config.aws.concurrency) }, worker));
      await Promise.allSettled([discovery, workers]);
      await discovery;
      await workers;
    } finally {
      signal?.removeEventListener('abort', abortRunning);
    }
    this.enabledRegions.retain(new Set(this.accountsById.keys()));
    this.forgetUnplanned(plan);
    await this.settleUnrecognized(results, signal);
    return { pollId, startedAt, finishedAt: this.now(), results: [...plan.settled, ...results] };
  }

  /** Forgets probe times of stores that are gone (`present`: the store keys of the latest snapshot), so churn cannot grow the map without end. */
  forgetProbesExcept(present: ReadonlySet<string>): void {
    for (const k of this.lastProbeAt.keys()) if (!present.has(k)) this.lastProbeAt.delete(k);
  }

  get probeTimes(): number {
    return this.lastProbeAt.size;
  }

  /**
   * KMS answers UnrecognizedClientException ("The security token included in the request is invalid") both
   * for credentials it does not accept and for an opt-in region the account has not enabled (STS says
   * InvalidClientTokenId). Told apart per account, after the walks: the account's enabled regions from
   * ListRegions when they can be read (authoritative), else whether the same credentials answered in another
   * region this poll. A region not enabled is settled as not_enabled until the next refresh; otherwise the
   * credentials really are bad, so they are dropped and the role is assumed again next poll.
   */
  private async settleUnrecognized(results: TargetPollResult[], signal?: AbortSignal): Promise<void> {
    const suspects = results.filter((r) => r.stores === null && r.error && mayBeRegionNotEnabled(r.error.code));
    if (suspects.length === 0) return;
    const { clients, config } = this.opts;
    const answered = new Set(results.filter((r) => r.stores !== null).map((r) => r.target.accountId));
    // Accounts in parallel (bounded): on a first poll every account may have a suspect region.
    await mapBounded([...groupBy(suspects, (r) => r.target.accountId)], config.aws.concurrency, async ([accountId, list]) => {
      // Cached, or read now (a failed read leaves null: the fallback below decides).
      const enabled = (await this.enabledRegions.get(accountId, signal)).regions;
      const answeredElsewhere = answered.has(accountId);
      for (const r of list) {
        const status = classifyUnanswered(r.target.region, enabled, answeredElsewhere);
        if (status === 'not_enabled') {
          const until = this.now() + config.organizations.refreshInterval;
          this.notEnabledUntil.set(targetKey(r.target), { mono: this.monotonic() + config.organizations.refreshInterval, wall: until });
          r.status = 'not_enabled';
          r.error = notEnabledError(r.target, until, r.error!);
        } else {
          clients.resetCredentials(r.target);
        }
      }
    });
  }

  private async pollTarget(target: Target, running: Set<AbortController>, aborted: boolean): Promise<TargetPollResult> {
    const { config } = this.opts;
    const started = performance.now();
    // One controller per target, released when the target ends: AbortSignal.timeout() would keep its timer
    // (and the signal) alive for the whole targetTimeout after the target is done.
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, config.aws.targetTimeout);
    if (aborted) ctl.abort();
    running.add(ctl);
    try {
      return await this.walkTarget(target, ctl.signal, () => timedOut, started);
    } finally {
      clearTimeout(timer);
      running.delete(ctl);
    }
  }

  private async walkTarget(target: Target, signal: AbortSignal, timedOut: () => boolean, started: number): Promise<TargetPollResult> {
    const { config, clients } = this.opts;
    const result: TargetPollResult = { target, durationMs: 0, stores: null, error: null, cloudHsm: { attempted: false }, probes: [] };
    try {
      result.stores = await clients.withKms(target, (kms) => walkKeyStores(kms, target.accountId, target.region, config.aws.pageSize, signal), { signal });
    } catch (err) {
      result.error = timedOut() ? { code: 'Timeout', message: `no answer within ${config.aws.targetTimeout} ms` } : toTargetError(err);
      // Only an expired session is a reason to assume the role again; a permission or a region is not
      // (re-assuming for every not-enabled region on every poll was the old behaviour).
      if (isExpiredCredentials(result.error.code)) clients.resetCredentials(target);
      else if (isScpDeny(result.error)) result.status = 'denied';
      result.durationMs = performance.now() - started;
      return result;
    }

    const clusterIds = [...new Set(result.stores.filter((s) => s.type === 'AWS_CLOUDHSM' && s.clusterId).map((s) => s.clusterId!))].sort();
    if (clusterIds.length > 0) {
      try {
        const clusters = await clients.withCloudHsm(target, (hsm) => describeClusters(hsm, target.accountId, target.region, clusterIds), { signal });
        result.cloudHsm = { attempted: true, clusters, error: null };
      } catch (err) {
        // Enrichment failing never touches the stores: only the cluster data goes stale.
        result.cloudHsm = { attempted: true, clusters: null, error: timedOut() ? { code: 'Timeout', message: 'CloudHSM enrichment past the target deadline' } : toTargetError(err) };
      }
    }

    // Who changed what (CloudTrail), then CloudWatch: both only add facts, never touch the stores.
    result.changeActors = await changeActorsOfTarget(this.monitoring, target, result.stores, this.history.get(targetKey(target)), signal);
    result.cloudWatch = await cloudWatchOfTarget(this.monitoring, target, result.stores, clusterIds, signal, timedOut);
    if (result.cloudWatch.attempted && result.cloudWatch.denied) this.opts.onCloudWatchDenied?.(target, result.cloudWatch.error!);

    if (config.probe.enabled) result.probes = await this.probe(target, result.stores, signal);
    result.durationMs = performance.now() - started;
    return result;
  }

  /**
   * GenerateRandom(1 byte) against each CONNECTED CloudHSM store whose probe is due, spaced to the probe's
   * own rate budget so DescribeCustomKeyStores keeps the rest of KMS's 5 requests/s.
   */
  private async probe(target: Target, stores: NonNullable<TargetPollResult['stores']>, signal: AbortSignal): Promise<TargetPollResult['probes']> {
    const { config, clients } = this.opts;
    const out: TargetPollResult['probes'] = [];
    const spacing = 1000 / config.probe.ratePerSecond;
    const now = this.monotonic();
    const due = stores.filter((s) => s.type === 'AWS_CLOUDHSM' && s.state === 'CONNECTED' && now - (this.lastProbeAt.get(storeKey(s)) ?? -Infinity) >= config.probe.interval);
    const tk = targetKey(target);
    for (const s of due) {
      // Wait until `spacing` after the previous call of this account-region ended (that call may belong to
      // the previous poll); loop because a timer may fire a little early.
      const readyAt = (this.lastProbeCallEnd.get(tk) ?? -Infinity) + spacing;
      while (!signal.aborted && performance.now() < readyAt) await sleep(readyAt - performance.now(), undefined, { signal }).catch(() => undefined);
      if (signal.aborted) break;
      this.lastProbeAt.set(storeKey(s), now);
      const t0 = performance.now();
      try {
        await clients.withKms(target, (kms) => kms.send(new GenerateRandomCommand({ NumberOfBytes: 1, CustomKeyStoreId: s.id })), { probe: true, signal });
        out.push({ storeId: s.id, ok: true, outcome: 'ok', durationMs: performance.now() - t0, error: null });
      } catch (err) {
        // The target's deadline aborting the call is our limit, not the store's answer.
        if (signal.aborted) break;
        const error = toTargetError(err);
        const outcome = classifyProbeError(error.code);
        if (outcome === 'throttled') this.opts.onProbeThrottled?.(target);
        out.push({ storeId: s.id, ok: false, outcome, durationMs: performance.now() - t0, error });
      } finally {
        this.lastProbeCallEnd.set(tk, performance.now());
      }
    }
    return out;
  }
}

/** The previous snapshot's stores, observation time and change attributions per target. */
function targetHistory(prev: Partial<Pick<Snapshot, 'stores' | 'targets' | 'changeActors' | 'finishedAt'>> | null): Map<string, TargetHistory> {
  const out = new Map<string, TargetHistory>();
  if (!prev?.targets || !prev.stores) return out;
  const stores = groupBy(prev.stores, targetKey);
  const actors = groupBy(prev.changeActors ?? [], targetKey);
  for (const t of prev.targets) {
    const k = targetKey(t);
    // A target that never answered has no baseline: its first answer creates nothing.
    out.set(k, { stores: t.lastSuccessAt === null ? null : stores.get(k) ?? [], observedAt: t.lastSuccessAt ?? prev.finishedAt ?? 0, changeActors: actors.get(k) ?? [] });
  }
  return out;
}

/** A target settled without stores: not_enabled, denied, or failed before any call. */
function unanswered(target: Target, error: TargetError, status: 'failed' | 'not_enabled' | 'denied'): TargetPollResult {
  return { target, durationMs: 0, stores: null, error, status, cloudHsm: { attempted: false }, probes: [] };
}

function notEnabledError(t: Target, until: number, cause?: TargetError): TargetError {
  return {
    code: 'RegionNotEnabled',
    message: `${t.region} is not enabled in account ${t.accountId}${cause ? ` (KMS answered ${cause.code})` : ''}; checked again after ${new Date(until).toISOString()}`,
  };
}
