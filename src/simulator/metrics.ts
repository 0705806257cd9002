// CloudWatch in the simulator: the metrics AWS publishes for custom key stores (AWS/KMS) and CloudHSM
// clusters (AWS/CloudHSM), their values over time from the scenario (`metrics:` per store/cluster) and the
// control API, and the aggregation GetMetricData performs (period buckets, statistics, units).
//
// What AWS publishes, per the KMS developer guide ("Monitoring with Amazon CloudWatch", AWS KMS metrics and
// dimensions) and the CloudHSM guide: every XKS metric carries CustomKeyStoreId plus the dimensions of its
// dimension group (a MetricStat must name them all: CloudWatch never aggregates over dimensions for a
// MetricStat). The simulator publishes one datapoint (a statistic set) per minute while a metric has a value:
//  - XKS metrics only while the store is CONNECTED (KMS learns them from the proxy it talks to);
//  - count metrics (errors, throttles) only in minutes with at least one event: a quiet minute has no
//    datapoint, never a zero;
//  - nothing for a store or cluster before it existed; history stays after it is deleted.
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';

export const KMS_NAMESPACE = 'AWS/KMS';
export const CLOUDHSM_NAMESPACE = 'AWS/CloudHSM';
const MINUTE = 60_000;

/** A duration that may be negative ("-30m": before the simulator started), in milliseconds. */
export const signedDurationSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const neg = typeof v === 'string' ? v.trim().startsWith('-') : v < 0;
  const abs = typeof v === 'string' ? v.trim().replace(/^-/, '') : Math.abs(v);
  const ms = parseDuration(abs);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (write e.g. 90s, 5m, -30m for before the start)` });
    return z.NEVER;
  }
  return neg ? -ms : ms;
});

/**
 * A value over the scenario's timeline (offsets from the simulator's start): a constant; null (no datapoints);
 * a linear ramp (`from` until `start`, then towards `to` over `over`, then `to`); or a step series (each point
 * holds until the next; before the first point there is no data).
 */
const metricValueBranches = [
  z.number(),
  z.null(),
  z.strictObject({
    ramp: z.strictObject({
      from: z.number(),
      to: z.number(),
      over: z.union([z.string(), z.number()]).transform((v, ctx) => {
        const ms = parseDuration(v);
        if (ms === null || ms <= 0) { ctx.addIssue({ code: 'custom', message: `not a positive duration: ${JSON.stringify(v)}` }); return z.NEVER; }
        return ms;
      }),
      start: signedDurationSchema.default(0),
    }),
  }),
  z.strictObject({
    series: z.array(z.strictObject({ at: signedDurationSchema, value: z.number().nullable() })).min(1)
      .refine((points) => points.every((p, i) => i === 0 || points[i - 1]!.at < p.at), 'points must be in ascending order of at, each at a different time'),
  }),
] as const;

/**
 * Picks the branch a value's shape asks for, so that an error names the field that is wrong (a plain
 * union only says "Invalid input").
 */
function byShape<T extends z.ZodType>(pick: (v: unknown) => T | undefined, expected: string) {
  return z.unknown().transform((v, ctx) => {
    const schema = pick(v);
    if (!schema) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
    const r = schema.safeParse(v);
    if (r.success) return r.data as z.infer<T>;
    for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path as (string | number)[], message: issue.message } as never);
    return z.NEVER;
  });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const metricValueSchema = byShape((v) => {
  const [num, nul, ramp, series] = metricValueBranches;
  if (typeof v === 'number') return num;
  if (v === null) return nul;
  if (isObj(v) && 'ramp' in v) return ramp;
  if (isObj(v) && 'series' in v) return series;
  return undefined;
}, 'a number, null, { ramp: { from, to, over, start? } } or { series: [{ at, value }] }') as z.ZodType<
  number | null | { ramp: { from: number; to: number; over: number; start: number } } | { series: { at: number; value: number | null }[] }, unknown>;
export type MetricValue = z.infer<typeof metricValueSchema>;

const dimensionsSchema = z.record(z.string().min(1).max(255), z.string().min(1).max(1024));

/** One series: its value, extra dimensions (merged over the metric's defaults), and for latency the requests per minute. */
export const seriesEntrySchema = z.strictObject({
  value: metricValueSchema,
  dimensions: dimensionsSchema.optional(),
  /** XksProxyLatency only: requests per minute (the SampleCount); default 60. */
  requests: metricValueSchema.optional(),
});

/**
 * What a scenario writes per metric: a value, one series object, a list of series, or for
 * XksExternalKeyManagerStates / XksProxyErrors a map from the state / ErrorType to a value.
 */
const seriesListSchema = z.array(seriesEntrySchema).min(1);
const valueMapSchema = z.record(z.string(), metricValueSchema);
export const metricEntrySchema = byShape((v) => {
  if (typeof v === 'number' || v === null || (isObj(v) && ('ramp' in v || 'series' in v))) return metricValueSchema;
  if (Array.isArray(v)) return seriesListSchema;
  if (isObj(v) && 'value' in v) return seriesEntrySchema;
  if (isObj(v)) return valueMapSchema;
  return undefined;
}, 'a value (number, null, ramp, series), { value, dimensions?, requests? }, a list of those, or a map such as { Active: 2, Degraded: 1 }') as z.ZodType<
  MetricValue | z.infer<typeof seriesEntrySchema> | z.infer<typeof seriesEntrySchema>[] | Record<string, MetricValue>, unknown>;
export type MetricEntry = z.infer<typeof metricEntrySchema>;

/** How a metric's samples combine: one sample per minute (gauge), one sample per event of value 1 (count), one sample per request (latency). */
type Kind = 'gauge' | 'count' | 'latency';

interface MetricDef {
  namespace: string;
  owner: 'xks' | 'cloudhsm' | 'cluster';
  kind: Kind;
  /** The unit the simulator publishes with. AWS does not document every one: do not filter on Unit. */
  unit: string;
  /** Default dimensions in AWS's order; '$id' is the store or cluster id; functions derive from the owner. */
  dims: [string, string | ((o: OwnerInfo) => string)][];
  /** For the map shorthand: the dimension the map's keys fill, and the keys allowed. */
  split?: { dim: string; keys: readonly string[] };
  /** Extra dimensions that follow from the split key (XksProxyErrors: ExceptionName per ErrorType). */
  splitDims?: Record<string, Record<string, string>>;
}

export interface OwnerInfo { id: string; kind: 'store' | 'cluster'; storeType?: string; uriEndpoint?: string }

const hostOf = (o: OwnerInfo) => {
  try { return new URL(o.uriEndpoint ?? '').hostname || 'xks.example.com'; } catch { return 'xks.example.com'; }
};

export const EKM_STATES = ['Active', 'Degraded', 'Unavailable'] as const;
export const XKS_ERROR_TYPES = ['Retryable', 'Non-retryable'] as const;

/** The metrics the simulator publishes (KMS developer guide, AWS KMS metrics and dimensions; CloudHSM metrics). */
export const METRICS: Record<string, MetricDef> = {
  XksProxyCertificateDaysToExpire: { namespace: KMS_NAMESPACE, owner: 'xks', kind: 'gauge', unit: 'None', dims: [['CustomKeyStoreId', '$id'], ['CertificateName', hostOf]] },
  XksProxyCredentialAge: { namespace: KMS_NAMESPACE, owner: 'xks', kind: 'gauge', unit: 'None', dims: [['CustomKeyStoreId', '$id']] },
  XksExternalKeyManagerStates: {
    namespace: KMS_NAMESPACE, owner: 'xks', kind: 'gauge', unit: 'Count',
    dims: [['CustomKeyStoreId', '$id'], ['XksExternalKeyManagerState', 'Active']],
    split: { dim: 'XksExternalKeyManagerState', keys: EKM_STATES },
  },
  XksProxyErrors: {
    namespace: KMS_NAMESPACE, owner: 'xks', kind: 'count', unit: 'Count',
    dims: [['CustomKeyStoreId', '$id'], ['KmsOperation', 'Decrypt'], ['XksOperation', 'Decrypt'], ['KeySpec', 'SYMMETRIC_DEFAULT'], ['ErrorType', 'Retryable'], ['ExceptionName', 'InternalException']],
    split: { dim: 'ErrorType', keys: XKS_ERROR_TYPES },
    // AWS's guide does not list the ExceptionName values here; these are placeholders. Do not depend on them.
    splitDims: { Retryable: { ExceptionName: 'InternalException' }, 'Non-retryable': { ExceptionName: 'ValidationException' } },
  },
  XksProxyLatency: {
    namespace: KMS_NAMESPACE, owner: 'xks', kind: 'latency', unit: 'Milliseconds',
    dims: [['CustomKeyStoreId', '$id'], ['KmsOperation', 'Decrypt'], ['XksOperation', 'Decrypt'], ['KeySpec', 'SYMMETRIC_DEFAULT']],
  },
  ExternalKeyStoreThrottle: { namespace: KMS_NAMESPACE, owner: 'xks', kind: 'count', unit: 'Count', dims: [['CustomKeyStoreId', '$id'], ['KmsOperation', 'Decrypt'], ['KeySpec', 'SYMMETRIC_DEFAULT']] },
  CloudHSMKeyStoreThrottle: { namespace: KMS_NAMESPACE, owner: 'cloudhsm', kind: 'count', unit: 'Count', dims: [['CustomKeyStoreId', '$id'], ['KmsOperation', 'Decrypt'], ['KeySpec', 'SYMMETRIC_DEFAULT']] },
  HsmUnhealthy: { namespace: CLOUDHSM_NAMESPACE, owner: 'cluster', kind: 'gauge', unit: 'Count', dims: [['ClusterId', '$id']] },
};
export const STORE_METRIC_NAMES = Object.keys(METRICS).filter((n) => METRICS[n]!.owner !== 'cluster');
export const CLUSTER_METRIC_NAMES = Object.keys(METRICS).filter((n) => METRICS[n]!.owner === 'cluster');

/** KMS records a request that timed out as the 250 ms limit. */
export const XKS_TIMEOUT_MS = 250;

export const storeMetricsSchema = z.record(z.string(), metricEntrySchema.nullable());
export type MetricsSpec = z.infer<typeof storeMetricsSchema>;

/** Why a metrics map does not fit its owner (unknown metric, another store type's metric, a bad map key), one message per problem. */
export function metricsProblems(spec: MetricsSpec, owner: { kind: 'store' | 'cluster'; storeType?: string }): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const allowed = owner.kind === 'cluster' ? CLUSTER_METRIC_NAMES : STORE_METRIC_NAMES.filter((n) => METRICS[n]!.owner === (owner.storeType === 'EXTERNAL_KEY_STORE' ? 'xks' : 'cloudhsm'));
  for (const [name, entry] of Object.entries(spec)) {
    const def = METRICS[name];
    if (!def || !allowed.includes(name)) {
      out.push({ path: [name], message: `not a metric AWS publishes for ${owner.kind === 'cluster' ? 'a CloudHSM cluster' : `an ${owner.storeType ?? 'AWS_CLOUDHSM'} store`}; one of ${allowed.join(', ')}` });
      continue;
    }
    if (entry !== null && isValueMap(entry)) {
      if (!def.split) out.push({ path: [name], message: 'a map of values applies only to XksExternalKeyManagerStates (Active, Degraded, Unavailable) and XksProxyErrors (Retryable, Non-retryable)' });
      else for (const k of Object.keys(entry)) if (!def.split.keys.includes(k)) out.push({ path: [name, k], message: `not a ${def.split.dim}; one of ${def.split.keys.join(', ')}` });
    }
    if (Array.isArray(entry) || (entry !== null && typeof entry === 'object' && 'value' in entry)) {
      for (const e of [entry].flat() as z.infer<typeof seriesEntrySchema>[]) if (e.requests !== undefined && def.kind !== 'latency') out.push({ path: [name, 'requests'], message: 'requests applies only to XksProxyLatency' });
    }
  }
  return out;
}

function isValueMap(e: MetricEntry): e is Record<string, MetricValue> {
  return typeof e === 'object' && e !== null && !Array.isArray(e) && !('value' in e) && !('ramp' in e) && !('series' in e);
}

// ---------- value evaluation (pure) ----------

/** The value at `offset` ms from the simulator's start; null = no datapoint. */
export function valueAt(v: MetricValue, offset: number): number | null {
  if (v === null || typeof v === 'number') return v;
  if ('ramp' in v) {
    const { from, to, over, start } = v.ramp;
    if (offset <= start) return from;
    if (offset >= start + over) return to;
    return from + ((to - from) * (offset - start)) / over;
  }
  let out: number | null = null;
  for (const p of v.series) {
    if (p.at <= offset) out = p.value;
    else break;
  }
  return out;
}

/** One minute's samples: AWS's statistic set. */
export interface StatSet { n: number; sum: number; min: number; max: number }

export interface SeriesDef {
  namespace: string;
  metricName: string;
  /** Sorted by name: the identity of the series. */
  dimensions: { Name: string; Value: string }[];
  unit: string;
  kind: Kind;
  value: MetricValue;
  requests?: MetricValue | undefined;
  /** namespace|name|sorted dimensions: the series' identity, compared per query. */
  key: string;
}

/** The series a metrics map defines for an owner. */
export function expandSeries(owner: OwnerInfo, spec: MetricsSpec): SeriesDef[] {
  const out: SeriesDef[] = [];
  for (const [name, entry] of Object.entries(spec)) {
    const def = METRICS[name];
    if (!def || entry === null) continue;
    const base: Record<string, string> = {};
    for (const [k, v] of def.dims) base[k] = typeof v === 'function' ? v(owner) : v === '$id' ? owner.id : v;
    const add = (value: MetricValue, extra: Record<string, string> = {}, requests?: MetricValue) => {
      const dims = { ...base, ...extra };
      const dimensions = Object.entries(dims).map(([Name, Value]) => ({ Name, Value })).sort((a, b) => a.Name.localeCompare(b.Name));
      out.push({ namespace: def.namespace, metricName: name, dimensions, unit: def.unit, kind: def.kind, value, requests, key: seriesKey(def.namespace, name, dimensions) });
    };
    if (isValueMap(entry) && def.split) {
      for (const [k, v] of Object.entries(entry)) add(v, { [def.split.dim]: k, ...(def.splitDims?.[k] ?? {}) });
    } else if (Array.isArray(entry)) {
      for (const e of entry) add(e.value, withSplitDims(def, e.dimensions), e.requests);
    } else if (entry !== null && typeof entry === 'object' && 'value' in entry) {
      const e = entry as z.infer<typeof seriesEntrySchema>;
      add(e.value, withSplitDims(def, e.dimensions), e.requests);
    } else {
      add(entry as MetricValue);
    }
  }
  return out;
}

function withSplitDims(def: MetricDef, dims: Record<string, string> | undefined): Record<string, string> {
  if (!dims || !def.split) return dims ?? {};
  const key = dims[def.split.dim];
  return { ...(key !== undefined ? def.splitDims?.[key] ?? {} : {}), ...dims };
}

/** The statistic set of one minute of a series, or null when nothing was published that minute. */
export function minuteStats(s: SeriesDef, offset: number): StatSet | null {
  const v = valueAt(s.value, offset);
  if (v === null || !Number.isFinite(v)) return null;
  switch (s.kind) {
    case 'gauge':
      return { n: 1, sum: v, min: v, max: v };
    case 'count': {
      const n = Math.round(v);
      return n <= 0 ? null : { n, sum: n, min: 1, max: 1 };
    }
    case 'latency': {
      const r = s.requests === undefined ? 60 : valueAt(s.requests, offset);
      const n = r === null ? 0 : Math.round(r);
      if (n <= 0) return null;
      const ms = Math.min(Math.max(v, 0), XKS_TIMEOUT_MS);
      return { n, sum: ms * n, min: ms, max: ms };
    }
  }
}

/** Statistics GetMetricData accepts here: the basic five and percentiles pNN / pNN.NN. */
export const STAT = /^(SampleCount|Average|Sum|Minimum|Maximum|p(\d{1,2}(\.\d{1,2})?|100))$/;

/** One statistic of the minute sets of one period bucket. Percentiles: nearest rank over per-minute values weighted by samples. */
export function statistic(stat: string, sets: StatSet[]): number {
  let n = 0, sum = 0, min = Infinity, max = -Infinity;
  for (const s of sets) { n += s.n; sum += s.sum; min = Math.min(min, s.min); max = Math.max(max, s.max); }
  switch (stat) {
    case 'SampleCount': return n;
    case 'Sum': return sum;
    case 'Average': return sum / n;
    case 'Minimum': return min;
    case 'Maximum': return max;
  }
  const p = Number(stat.slice(1));
  const values = sets.map((s) => ({ v: s.sum / s.n, w: s.n })).sort((a, b) => a.v - b.v);
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  let seen = 0;
  for (const x of values) {
    seen += x.w;
    if (seen >= rank) return x.v;
  }
  return max;
}

export const minuteFloor = (t: number) => Math.floor(t / MINUTE) * MINUTE;

// ---------- the book: who publishes what, since when ----------

interface Version { from: number; series: SeriesDef[] }

interface Owner {
  id: string;
  account: string;
  region: string;
  info: OwnerInfo;
  /** The raw spec currently in force (merged by later changes). */
  spec: MetricsSpec;
  versions: Version[];
  /** Existence: [createdAt, deletedAt). -Infinity for scenario-loaded owners. */
  createdAt: number;
  deletedAt: number;
  /** CONNECTED intervals source for XKS gating: (at, connected) changes, ascending. */
  connected: { at: number; on: boolean }[];
}

export interface DatapointQuery {
  account: string;
  region: string;
  namespace: string;
  metricName: string;
  dimensions: { Name: string; Value: string }[];
  unit?: string | undefined;
}

/** Who publishes which series (per store/cluster, versioned over time), and the datapoints CloudWatch holds. */
export class MetricBook {
  private owners = new Map<string, Owner>();
  private byTarget = new Map<string, Set<string>>();
  /** "<account>/<region>|<series key>" -> the owners that ever published that series. */
  private byKey = new Map<string, Set<string>>();

  /**
   * @param startedAt offsets in value specs count from here
   * @param publishDelay a minute's datapoint is readable this long after the minute ends
   * @param history how far before the start scenario-loaded owners have datapoints
   */
  constructor(private readonly startedAt: number, private publishDelay: number, private history: number) {}

  configure(opts: { publishDelay?: number; history?: number }): void {
    if (opts.publishDelay !== undefined) this.publishDelay = opts.publishDelay;
    if (opts.history !== undefined) this.history = opts.history;
  }

  get settings(): { publishDelay: number; history: number } {
    return { publishDelay: this.publishDelay, history: this.history };
  }

  /** A store or cluster appears (at = -Infinity while loading the scenario). */
  register(account: string, region: string, info: OwnerInfo, spec: MetricsSpec | undefined, at: number, connected: boolean): void {
    const s = spec ?? {};
    const o: Owner = { id: info.id, account, region, info, spec: s, versions: [{ from: at, series: expandSeries(info, s) }], createdAt: at, deletedAt: Infinity, connected: [{ at, on: connected }] };
    this.owners.set(info.id, o);
    this.index(o, o.versions[0]!.series);
    const key = `${account}/${region}`;
    let set = this.byTarget.get(key);
    if (!set) this.byTarget.set(key, (set = new Set()));
    set.add(info.id);
  }

  /** Merges metric changes in from `at` on (null removes a metric): earlier datapoints keep their values. */
  update(id: string, patch: MetricsSpec, at: number, info?: Partial<OwnerInfo>): void {
    const o = this.owners.get(id);
    if (!o) return;
    if (info) o.info = { ...o.info, ...info };
    const spec: MetricsSpec = { ...o.spec };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete spec[k];
      else spec[k] = v;
    }
    o.spec = spec;
    const series = expandSeries(o.info, spec);
    const last = o.versions[o.versions.length - 1]!;
    if (last.from >= at) last.series = series;
    else o.versions.push({ from: at, series });
    this.index(o, series);
  }

  spec(id: string): MetricsSpec | undefined {
    return this.owners.get(id)?.spec;
  }

  /** The owner's connection state changed (XKS metrics are only published while CONNECTED). */
  noteConnected(id: string, at: number, on: boolean): void {
    const o = this.owners.get(id);
    if (!o) return;
    const last = o.connected[o.connected.length - 1]!;
    if (last.on === on) return;
    if (last.at >= at) last.on = on;
    else o.connected.push({ at, on });
  }

  noteDeleted(id: string, at: number): void {
    const o = this.owners.get(id);
    if (o) o.deletedAt = at;
  }

  private connectedAt(o: Owner, t: number): boolean {
    let on = false;
    for (const c of o.connected) {
      if (c.at <= t) on = c.on;
      else break;
    }
    return on;
  }

  private seriesAt(o: Owner, t: number): SeriesDef[] {
    let out: SeriesDef[] = [];
    for (const v of o.versions) {
      if (v.from <= t) out = v.series;
      else break;
    }
    return out;
  }

  /**
   * The minute statistic sets of one series between [start, end) readable at `now`, ascending.
   * The series is identified exactly: namespace, name and the full dimension set (order does not matter).
   */
  minutes(q: DatapointQuery, start: number, end: number, now: number): { at: number; set: StatSet }[] {
    const want = seriesKey(q.namespace, q.metricName, q.dimensions);
    const ids = this.byKey.get(`${q.account}/${q.region}|${want}`);
    if (!ids) return [];
    const out: { at: number; set: StatSet }[] = [];
    for (const id of ids) this.scan(this.owners.get(id)!, want, q.unit, start, end, now, (at, set) => { out.push({ at, set }); return true; });
    out.sort((a, b) => a.at - b.at);
    return out;
  }

  /**
   * Visits the readable minute datapoints of one owner's series in [start, end), ascending, or descending
   * with `newestFirst`; `visit` returns false to stop.
   */
  private scan(o: Owner, key: string, unit: string | undefined, start: number, end: number, now: number, visit: (at: number, set: StatSet) => boolean, newestFirst = false): void {
    const readable = minuteFloor(now - this.publishDelay) - MINUTE; // the last minute whose datapoint is out
    const gated = o.info.kind === 'store';
    const born = o.createdAt === -Infinity ? minuteFloor(this.startedAt - this.history) : minuteFloor(o.createdAt);
    const first = Math.max(Math.ceil(start / MINUTE) * MINUTE, born);
    const last = minuteFloor(Math.min(end - 1, readable, o.deletedAt - 1));
    const step = newestFirst ? -MINUTE : MINUTE;
    for (let t = newestFirst ? last : first; newestFirst ? t >= first : t <= last; t += step) {
      if (gated && !this.connectedAt(o, t)) continue;
      const s = this.seriesAt(o, t).find((x) => x.key === key && (unit === undefined || x.unit === unit));
      if (!s) continue;
      const set = minuteStats(s, t - this.startedAt);
      if (set && !visit(t, set)) return;
    }
  }

  /** The series published in an account and region (ListMetrics): those with a datapoint since `activeSince` (default: two weeks). */
  list(account: string, region: string, now: number, activeSince?: number): SeriesDef[] {
    const ids = this.byTarget.get(`${account}/${region}`);
    if (!ids) return [];
    const since = activeSince ?? now - 14 * 86_400_000;
    const seen = new Map<string, SeriesDef>();
    for (const id of ids) {
      const o = this.owners.get(id)!;
      const tried = new Set<string>();
      for (const v of o.versions) {
        for (const s of v.series) {
          if (seen.has(s.key) || tried.has(s.key)) continue;
          tried.add(s.key);
          let found = false;
          this.scan(o, s.key, undefined, since, now + 1, now, () => { found = true; return false; }, true);
          if (found) seen.set(s.key, s);
        }
      }
    }
    return [...seen.values()];
  }

  /** Indexes an owner's series by identity, so a query finds its publishers without scanning the region. */
  private index(o: Owner, series: SeriesDef[]): void {
    for (const s of series) {
      const k = `${o.account}/${o.region}|${s.key}`;
      let set = this.byKey.get(k);
      if (!set) this.byKey.set(k, (set = new Set()));
      set.add(o.id);
    }
  }
}

/** A series' identity: namespace, name and the dimension set in any order (JSON-encoded: names and values may hold any character). */
export const seriesKey = (namespace: string, metricName: string, dims: { Name: string; Value: string }[]) =>
  JSON.stringify([namespace, metricName, [...dims].map((d) => [d.Name, d.Value]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : a[1]! < b[1]! ? -1 : 1))]);

