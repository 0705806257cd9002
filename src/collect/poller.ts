// One poll: resolve accounts, walk every account x region with bounded concurrency and a deadline per
// target, enrich CloudHSM stores with their clusters, optionally probe, and build the next snapshot.
// Failures stay inside their target: a target that fails keeps its last known stores, marked stale.
import { setTimeout as sleep } from 'node:timers/promises';
import { GenerateRandomCommand } from '@aws-sdk/client-kms';
import type { Config } from '../config/schema.js';
import type { Snapshot, Target, TargetError } from '../model.js';
import { storeKey, targetKey } from '../model.js';
import { redact } from '../util/redact.js';
import { groupBy } from '../util/group-by.js';
import { mapBounded } from '../util/map-bounded.js';
import { AwsClients, errorCode } from './aws-clients.js';
import { walkKeyStores } from './key-stores.js';
import { describeClusters } from './clusters.js';
import { buildSnapshot, type TargetPollResult } from '../snapshot/build.js';
import { listOrganizationAccounts, type OrgAccount } from '../discover/organizations.js';
import { buildTargets, resolveAccounts, type AccountRef } from '../discover/targets.js';

export interface PollerOptions {
  config: Config;
  clients: AwsClients;
  now?: () => number;
  /** Monotonic ms for the probe interval (default performance.now()): a wall-clock step must not stall or rush probes. */
  monotonic?: () => number;
  /** Called as targets finish (for the CLI progress line). */
  onProgress?: (done: number, total: number) => void;
  onOrganizationsError?: (error: TargetError) => void;
}

/** Codes after which cached credentials are worth dropping so the next poll assumes the role again. */
const CREDENTIAL_ERRORS = new Set(['ExpiredTokenException', 'ExpiredToken', 'UnrecognizedClientException', 'InvalidClientTokenId', 'AccessDenied', 'AccessDeniedException']);

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

export class Poller {
  private pollId = 0;
  private lastOrgAccounts: OrgAccount[] | null = null;
  /** Monotonic time of each store's last probe (in memory only: a restart probes everything once). */
  private lastProbeAt = new Map<string, number>();
  /** performance.now() when the last probe call of each account-region ended: the spacing also holds across polls. */
  private lastProbeCallEnd = new Map<string, number>();
  private readonly now: () => number;
  private readonly monotonic: () => number;

  constructor(private readonly opts: PollerOptions) {
    this.now = opts.now ?? Date.now;
    this.monotonic = opts.monotonic ?? (() => performance.now());
  }

  /** The accounts to poll; Organizations failures keep the last known list. */
  async accounts(signal?: AbortSignal): Promise<AccountRef[]> {
    const { config } = this.opts;
    if (config.organizations.enabled) {
      try {
        this.lastOrgAccounts = await listOrganizationAccounts(this.opts.clients.organizations(), signal);
      } catch (err) {
        this.opts.onOrganizationsError?.(toTargetError(err));
      }
    }
    return resolveAccounts(config, this.lastOrgAccounts);
  }

  async targets(signal?: AbortSignal): Promise<Target[]> {
    return buildTargets(await this.accounts(signal), this.opts.config.regions);
  }

  /** Restores the counter and the discovered account list after a restart. */
  resume(prev: Pick<Snapshot, 'pollId'> | null): void {
    if (prev) this.pollId = Math.max(this.pollId, prev.pollId);
  }

  async poll(prev: Snapshot | null, signal?: AbortSignal): Promise<Snapshot> {
    const startedAt = this.now();
    const pollId = Math.max(this.pollId, prev?.pollId ?? 0) + 1;
    this.pollId = pollId;
    const targets = interleaveAccounts(await this.targets(signal));
    await this.opts.clients.prepare().catch(() => undefined);
    let done = 0;
    // One listener on the caller's signal for the whole poll (not one per target in flight), which
    // aborts the targets running when it fires.
    const running = new Set<AbortController>();
    const abortRunning = () => { for (const c of running) c.abort(); };
    signal?.addEventListener('abort', abortRunning, { once: true });
    let results: TargetPollResult[];
    try {
      results = await mapBounded(targets, this.opts.config.aws.concurrency, async (t) => {
        const r = await this.pollTarget(t, running, signal?.aborted === true);
        this.opts.onProgress?.(++done, targets.length);
        return r;
      });
    } finally {
      signal?.removeEventListener('abort', abortRunning);
    }
    const snapshot = buildSnapshot(prev, results, { pollId, startedAt, finishedAt: this.now() });
    // Forget probe times of stores that are gone, so churn cannot grow the map without end.
    if (this.lastProbeAt.size > 0) {
      const present = new Set(snapshot.stores.map(storeKey));
      for (const k of this.lastProbeAt.keys()) if (!present.has(k)) this.lastProbeAt.delete(k);
    }
    return snapshot;
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
      if (CREDENTIAL_ERRORS.has(result.error.code)) clients.resetCredentials(target);
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
        out.push({ storeId: s.id, ok: true, durationMs: performance.now() - t0, error: null });
      } catch (err) {
        out.push({ storeId: s.id, ok: false, durationMs: performance.now() - t0, error: toTargetError(err) });
      } finally {
        this.lastProbeCallEnd.set(tk, performance.now());
      }
    }
    return out;
  }
}
