// Fault injection, rate limiting and request counters: the parts of the simulator that make it
// behave like a busy, imperfect AWS. All randomness is seeded; all time comes from the SimClock.
import { seededRng, type Rng } from './random.js';
import type { Faults, InjectedError, ServiceName } from './scenario.js';

/** KMS custom key store operations share the documented 5 requests/s per account and region, each counted separately. */
export const RATE_LIMITED_BY_DEFAULT = new Set(['DescribeCustomKeyStores', 'ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'CreateCustomKeyStore', 'UpdateCustomKeyStore', 'DeleteCustomKeyStore']);

/**
 * Fixed AWS quotas per account and region, applied unless `rateLimits` names the operation (0 = unlimited):
 * CloudWatch GetMetricData 50 TPS and ListMetrics 25 TPS (CloudWatch service quotas); CloudTrail
 * LookupEvents 2 TPS (CloudTrail quotas: "2 transactions per second per account per Region", not adjustable).
 */
export const FIXED_QUOTAS: Record<string, number> = { GetMetricData: 50, ListMetrics: 25, LookupEvents: 2 };

/** HTTP status of an injected AWS error code when the fault does not set one. */
const STATUS: Record<ServiceName, Record<string, number>> = {
  kms: { KMSInternalException: 500, DependencyTimeoutException: 503, KMSInvalidStateException: 409, ServiceUnavailableException: 503 },
  cloudhsm: { CloudHsmInternalFailureException: 500, ServiceUnavailableException: 503 },
  organizations: { AccessDeniedException: 403, AWSOrganizationsNotInUseException: 404, ServiceException: 500, TooManyRequestsException: 429 },
  sts: { AccessDenied: 403, RegionDisabledException: 403, InternalFailure: 500, ServiceUnavailable: 503 },
  account: { AccessDeniedException: 403, InternalServerException: 500, TooManyRequestsException: 429, ResourceNotFoundException: 404 },
  cloudwatch: { InternalServiceError: 500, InternalServiceFault: 500, AccessDenied: 403, AccessDeniedException: 403, ServiceUnavailable: 503 },
  cloudtrail: { InternalServerError: 500, ServiceUnavailable: 503 },
};
const GENERIC_STATUS: Record<string, number> = { InternalFailure: 500, InternalServerError: 500, ServiceUnavailable: 503 };

export function injectedStatus(service: ServiceName, code: string): number {
  return STATUS[service][code] ?? GENERIC_STATUS[code] ?? 400;
}

export interface RequestKey { service: ServiceName; operation: string; account: string; region: string }

export type Outcome = 'ok' | 'throttled' | 'failed';
type Tally = Record<Outcome, number>;
const tally = (): Tally => ({ ok: 0, throttled: 0, failed: 0 });

export interface CountersSnapshot {
  total: number;
  byOutcome: Tally;
  byOperation: Record<string, Tally>;
  byAccountRegion: Record<string, Tally>;
  /** "<account>/<region>/<operation>" */
  byTarget: Record<string, Tally>;
  /** Per service, per operation: e.g. byService.organizations.ListParents (services never called are absent). */
  byService: Partial<Record<ServiceName, Record<string, Tally>>>;
  /**
   * Answers written, and how long the simulator held them: `drawnMs` sums the latency it drew for each,
   * `heldMs` the real time from the request's arrival to the answer's last byte. heldMs - drawnMs is the
   * simulator's own cost (reading, handling, timer lateness, writing): what a benchmark's bound, computed
   * from the drawn latency, cannot blame on the client.
   */
  served: { answers: number; drawnMs: number; heldMs: number; minExtraMs: number | null };
}

/** One answered (or hung) request, for tests that check spacing: `at` is simulated time, epoch ms. */
export interface RequestLogEntry extends RequestKey { at: number; outcome: Outcome }

export class Counters {
  /** The most recent requests, oldest first (bounded: at most about 2 x logLimit are kept). */
  private log: RequestLogEntry[] = [];
  private total = 0;
  private byOutcome = tally();
  private byOperation = new Map<string, Tally>();
  private byAccountRegion = new Map<string, Tally>();
  private byTarget = new Map<string, Tally>();
  private byService = new Map<ServiceName, Map<string, Tally>>();
  private served: CountersSnapshot['served'] = { answers: 0, drawnMs: 0, heldMs: 0, minExtraMs: null };

  constructor(private readonly now: () => number = Date.now, private readonly logLimit = 10_000) {}

  record(key: RequestKey, outcome: Outcome): void {
    this.log.push({ ...key, at: this.now(), outcome });
    if (this.log.length > 2 * this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    this.total++;
    this.byOutcome[outcome]++;
    const bump = (m: Map<string, Tally>, k: string) => {
      let t = m.get(k);
      if (!t) m.set(k, (t = tally()));
      t[outcome]++;
    };
    bump(this.byOperation, key.operation);
    bump(this.byAccountRegion, `${key.account}/${key.region}`);
    bump(this.byTarget, `${key.account}/${key.region}/${key.operation}`);
    let ops = this.byService.get(key.service);
    if (!ops) this.byService.set(key.service, (ops = new Map()));
    bump(ops, key.operation);
  }

  /** One answer written: the latency drawn for it and the real time it was held (see CountersSnapshot.served). */
  answered(drawnMs: number, heldMs: number): void {
    this.served.answers++;
    this.served.drawnMs += drawnMs;
    this.served.heldMs += heldMs;
    // The least an answer was held beyond its drawn latency: below 0, the simulator answered early (kinder than drawn).
    const extra = heldMs - drawnMs;
    if (this.served.minExtraMs === null || extra < this.served.minExtraMs) this.served.minExtraMs = extra;
  }

  snapshot(): CountersSnapshot {
    const obj = (m: Map<string, Tally>) => Object.fromEntries([...m].map(([k, v]) => [k, { ...v }]));
    const byService: CountersSnapshot['byService'] = {};
    for (const [service, ops] of this.byService) byService[service] = obj(ops);
    return { total: this.total, byOutcome: { ...this.byOutcome }, byOperation: obj(this.byOperation), byAccountRegion: obj(this.byAccountRegion), byTarget: obj(this.byTarget), byService, served: { ...this.served } };
  }

  /** Recent requests matching every given field, oldest first. */
  requests(filter: Partial<RequestKey> = {}): RequestLogEntry[] {
    const keys = (Object.keys(filter) as (keyof RequestKey)[]).filter((k) => filter[k] !== undefined);
    return this.log.filter((e) => keys.every((k) => e[k] === filter[k])).map((e) => ({ ...e }));
  }

  reset(): void {
    this.log = [];
    this.total = 0;
    this.byOutcome = tally();
    this.byOperation.clear();
    this.byAccountRegion.clear();
    this.byTarget.clear();
    this.byService.clear();
    this.served = { answers: 0, drawnMs: 0, heldMs: 0, minExtraMs: null };
  }
}

export class FaultEngine {
  private rng: Rng;
  /** Accepted-request timestamps of the last second, per account/region/operation (a sliding window). */
  private windows = new Map<string, number[]>();

  constructor(private cfg: Faults) {
    this.rng = seededRng(cfg.seed);
  }

  get config(): Faults {
    return this.cfg;
  }

  set config(next: Faults) {
    if (next.seed !== this.cfg.seed) this.rng = seededRng(next.seed);
    this.cfg = next;
  }

  limitFor(operation: string): number {
    return this.cfg.rateLimits[operation] ?? FIXED_QUOTAS[operation] ?? (RATE_LIMITED_BY_DEFAULT.has(operation) ? this.cfg.rateLimitPerSecond : 0);
  }

  /** True when the request is over the rate: at most `limit` requests are accepted in any 1-second window. */
  throttled(key: RequestKey, now: number): boolean {
    const limit = this.limitFor(key.operation);
    if (limit <= 0) return false;
    const k = `${key.account}/${key.region}/${key.operation}`;
    let w = this.windows.get(k);
    if (!w) this.windows.set(k, (w = []));
    while (w.length > 0 && w[0]! <= now - 1000) w.shift();
    if (w.length >= limit) return true;
    w.push(now);
    return false;
  }

  /** The first configured fault that matches this request and wins its dice roll. */
  pick(key: RequestKey): InjectedError | undefined {
    for (const f of this.cfg.errors) {
      if (f.service && f.service !== key.service) continue;
      if (f.operation && f.operation !== '*' && f.operation !== key.operation) continue;
      if (f.account && f.account !== key.account) continue;
      if (f.region && f.region !== key.region) continue;
      if (f.remaining === 0) continue;
      if (f.probability < 1 && this.rng() >= f.probability) continue;
      if (f.remaining !== undefined) f.remaining--;
      return f;
    }
    return undefined;
  }

  /** Latency to add to a response: fixed plus uniform jitter. */
  delayMs(): number {
    const { latencyMs, jitterMs } = this.cfg;
    return latencyMs + (jitterMs > 0 ? this.rng() * jitterMs : 0);
  }

  /** Whether this read sees the state from before the latest change (eventual consistency). */
  staleRead(): boolean {
    const ec = this.cfg.eventualConsistency;
    return ec.fraction > 0 && ec.duration > 0 && this.rng() < ec.fraction;
  }

  resetRateWindows(): void {
    this.windows.clear();
  }
}
