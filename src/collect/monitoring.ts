// The CloudWatch and CloudTrail enrichment of one target, run by the poller after the KMS walk and the
// CloudHSM enrichment, inside the same per-target deadline. Isolated like the CloudHSM enrichment: whatever
// fails here, the stores and their states stay exactly as DescribeCustomKeyStores returned them.
import type { Config } from '../config/schema.js';
import type { ChangeAttribution, StoreRecord, Target, TargetError } from '../model.js';
import type { ObservedStore } from './key-stores.js';
import type { AwsClients } from './aws-clients.js';
import { readCloudWatch, type CloudWatchReading } from './cloudwatch.js';
import type { ChangeAttributor } from './cloudtrail.js';

export type CloudWatchResult =
  | { attempted: false }
  /** Read less than one cloudwatch.period ago: nothing new can have been published; the last reading stands. */
  | { attempted: false; reused: true }
  | { attempted: true; reading: CloudWatchReading | null; error: TargetError | null; denied: boolean };

/** What the previous snapshot knew about the target (for change detection and carry-over). */
export interface TargetHistory {
  /** The target's last known stores, null when it never answered (no baseline: nothing is "created"). */
  stores: StoreRecord[] | null;
  /** When those stores were observed (epoch ms). */
  observedAt: number;
  changeActors: ChangeAttribution[];
}

export interface MonitoringDeps {
  config: Pick<Config, 'cloudwatch' | 'cloudtrail'>;
  /** Monotonic ms of each target's last successful CloudWatch read (targetKey -> ms). */
  lastRead: Map<string, number>;
  monotonic: () => number;
  clients: AwsClients;
  attributor: ChangeAttributor;
  now: () => number;
  toError: (err: unknown) => TargetError;
}

/** CloudWatch facts of the target's stores and clusters; never throws. */
export async function cloudWatchOfTarget(deps: MonitoringDeps, target: Target, stores: readonly ObservedStore[], clusterIds: readonly string[], signal: AbortSignal, timedOut: () => boolean): Promise<CloudWatchResult> {
  const { cloudwatch } = deps.config;
  // Only stores that exist, and only kinds CloudWatch has metrics for.
  const storeIds = new Set(stores.filter((s) => s.type === 'EXTERNAL_KEY_STORE' || s.type === 'AWS_CLOUDHSM').map((s) => s.id));
  if (!cloudwatch.enabled || (storeIds.size === 0 && clusterIds.length === 0)) return { attempted: false };
  // GetMetricData is billed per metric requested: polls more frequent than the period re-read nothing new.
  const key = `${target.accountId}/${target.region}`;
  const last = deps.lastRead.get(key);
  if (last !== undefined && deps.monotonic() - last < cloudwatch.period) return { attempted: false, reused: true };
  try {
    const reading = await deps.clients.withCloudWatch(target, (client) => readCloudWatch(client, storeIds, new Set(clusterIds), {
      periodMs: cloudwatch.period, lookbackMs: cloudwatch.lookback, now: deps.now(), signal,
    }), { signal });
    deps.lastRead.set(key, deps.monotonic());
    return { attempted: true, reading, error: null, denied: false };
  } catch (err) {
    const error = timedOut() ? { code: 'Timeout', message: 'CloudWatch enrichment past the target deadline' } : deps.toError(err);
    return { attempted: true, reading: null, error, denied: /^AccessDenied/.test(error.code) || error.code === 'UnauthorizedOperation' };
  }
}

/** CloudTrail "who changed it" for the target's changes since its last known stores; never throws. */
export async function changeActorsOfTarget(deps: MonitoringDeps, target: Target, stores: readonly ObservedStore[], history: TargetHistory | undefined, signal: AbortSignal): Promise<ChangeAttribution[] | undefined> {
  if (!deps.config.cloudtrail.enabled) return undefined;
  try {
    return await deps.attributor.attribute({
      withClient: (fn) => deps.clients.withCloudTrail(target, fn, { signal }),
      accountId: target.accountId,
      region: target.region,
      prev: history?.stores ? { stores: history.stores, observedAt: history.observedAt } : null,
      next: stores,
      carried: history?.changeActors ?? [],
      signal,
    });
  } catch {
    // Best effort: the last known attributions stay.
    return history?.changeActors;
  }
}
