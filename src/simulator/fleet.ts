// The simulator's in-memory world: accounts, regions, key stores, clusters and HSMs, the
// connect/disconnect state machine, the timeline, issued credentials and eventual consistency.
// Stores and clusters are indexed by account+region so a request never scans the whole fleet.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConnectionStateType, type ConnectionErrorCodeType, type CustomKeyStoreType, type XksProxyConnectivityType } from '@aws-sdk/client-kms';
import type { HsmState } from '@aws-sdk/client-cloudhsm-v2';
import type { AccountState } from '@aws-sdk/client-organizations';
import { selfSignedPem } from './certs.js';
import { systemClock, type SimClock } from './clock.js';
import { AwsError, SimError } from './errors.js';
import { Counters, FaultEngine, type CountersSnapshot, type RequestKey, type RequestLogEntry } from './faults.js';
import { generateFleet } from './generate.js';
import {
  accountPatchSchema, accountSchema, CERTIFICATE_NAMES, certFieldSchema, clusterPatchSchema, clusterSchema, errorCodeProblems, faultsPatchSchema,
  effectiveState, faultsSchema, formatIssues, hsmPatchSchema, hsmSchema, optInProblem, parseScenario, regionProblem, scpDenySchema, storePatchSchema, storeSchema,
  type AccountSpec, type CertificateName, type ClusterSpec, type ClusterStateValue, type Faults, type Scenario, type ScenarioInput, type StoreSpec, type TimelineEntry,
} from './scenario.js';
import { BASE32ISH } from './random.js';
import { Policies, type ScpDeny } from './policies.js';
import { buildOrgTree, organizationId, type OrgTree } from './org-tree.js';
import { regionInfo } from './regions.js';
import { MetricBook, metricsProblems, storeMetricsSchema, type MetricsSpec, type OwnerInfo } from './metrics.js';
import { actorSchema, keyStoreEventDetails, Trail, type Actor, type KeyStoreEventName, type TrailEvent } from './trail.js';
import { z } from 'zod';

const DAY = 86_400_000;
const KNOWN_CONNECTION_STATES: ReadonlySet<string> = new Set(Object.values(ConnectionStateType));
const TEN_YEARS = 3650 * DAY;

// ---------- records ----------

export interface Validity { notBefore: number; notAfter: number }
/** A certificate as the fleet keeps it: PEM given verbatim, a validity to generate, or absent. */
export type CertValue = string | Validity | null;

export interface Store {
  id: string;
  name: string;
  type: CustomKeyStoreType;
  account: string;
  region: string;
  state: ConnectionStateType | string;
  errorCode: ConnectionErrorCodeType | string | null;
  createdAt: number;
  clusterId?: string;
  trustAnchor?: CertValue;
  xks?: { connectivity: XksProxyConnectivityType; uriEndpoint: string; uriPath: string; accessKeyId: string; vpcEndpointServiceName?: string };
  connectError: ConnectionErrorCodeType | null;
  connectDelay?: number;
  probeFailure: string | null;
  overrides?: Record<string, unknown>;
}

export interface Hsm {
  id: string;
  az: string;
  state: HsmState | string;
  stateMessage: string | null;
  subnetId: string;
  eniId: string;
  eniIp: string;
}

export interface Cluster {
  id: string;
  account: string;
  region: string;
  state: ClusterStateValue | string;
  stateMessage: string | null;
  vpcId: string;
  securityGroup: string;
  hsmType: string;
  subnets: Record<string, string>;
  hsms: Hsm[];
  certificates: Partial<Record<CertificateName, CertValue>>;
  createdAt: number;
  overrides?: Record<string, unknown>;
}

export interface Account {
  id: string;
  name: string;
  email: string;
  status: AccountState;
  denyAssumeRole: boolean | string[];
  externalId: string | null;
  joinedAt: number;
  /** aws, aws-cn, aws-us-gov, ... */
  partition: string;
  /** The opt-in regions this account has enabled. */
  optInRegions: string[];
  /** Roles with settings of their own: MaxSessionDuration in ms. */
  roles: Record<string, { maxSessionDuration?: number }>;
  /** IAM actions the account's identities lack (implicit deny). */
  missingPermissions: string[];
  /** OU path from the root, e.g. /Prod/Payments. */
  ou: string;
  tags: Record<string, string>;
}

/** IAM's default MaxSessionDuration for a role. */
const DEFAULT_MAX_SESSION = 3_600_000;

/** Whether an account's credentials work in a region (see regionAccess). */
export type RegionAccess = 'ok' | 'not-enabled' | 'other-partition' | 'no-such-region';

/** A versioned record: `old` is what a stale read sees until `old.until` (eventual consistency). */
interface Rec<T> { seq: number; cur: T | null; old?: { val: T | null; until: number } }

interface RegionIndex { stores: Rec<Store>[]; clusters: Rec<Cluster>[] }

interface Issued { account: string; roleName: string; sessionName: string; sessionToken: string; expiresAt: number }

/** Who a request is from: an account's IAM user (base keys) or a role session. */
export interface Identity { account: string; partition: string; roleName?: string; sessionName?: string }

/** Static keys: AKIASIM0<account> an IAM user of that account, ASIASIM0<account> a session of the base role there. */
const BASE_KEY = /^(AKIA|ASIA)SIM0(\d{12})$/;
/** The RoleSessionName of the static ASIA base keys' session. */
export const BASE_SESSION_NAME = 'keystore-watch-base';

interface ScheduledEvent { at: number; order: number; run: () => void }

export interface FleetOptions { clock?: SimClock }

/** The access key id of an account's long-term (base) credentials: AKIASIM0 + the 12-digit account id (ASIASIM0 for a session of the base role). */
export function baseAccessKeyId(accountId: string, identity: 'user' | 'role' = 'user'): string {
  return `${identity === 'role' ? 'ASIA' : 'AKIA'}SIM0${accountId}`;
}

const hashChars = (seed: string, alphabet: string, length: number): string => {
  const digest = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[digest[i % digest.length]! % alphabet.length];
  return out;
};

// ---------- the fleet ----------

export class Fleet {
  readonly clock: SimClock;
  readonly startedAt: number;
  readonly scenario: Scenario;
  readonly managementAccountId: string;
  readonly faults: FaultEngine;
  readonly requestCounters = new Counters(() => this.clock.now());
  /** SCP denies and missing permissions, checked before every handler. */
  readonly policies = new Policies();
  private scpDenyList: ScpDeny[] = [];

  private accounts = new Map<string, Account>();
  /** The accounts in order, built on first read after a change: ListAccounts pages slice it. */
  private accountList: Account[] | null = null;
  private regions = new Map<string, RegionIndex>();
  private stores = new Map<string, Rec<Store>>();
  private clusters = new Map<string, Rec<Cluster>>();
  private issued = new Map<string, Issued>();
  /** Root and OUs from the accounts' ou paths, rebuilt on first read after an account changes. */
  private orgTreeCache: OrgTree | null = null;
  /** Account id -> its enabled opt-in regions (a Set, for the per-request check). */
  private enabledRegions = new Map<string, Set<string>>();
  private events: ScheduledEvent[] = [];
  private seq = 0;
  private eventOrder = 0;
  private markerKey = randomBytes(32);
  private pemCache = new Map<string, string>();
  /** Store id -> transition counter: a pending CONNECTING/DISCONNECTING completion only applies if nothing changed since. */
  private transitions = new Map<string, number>();
  /** Deleted stores by id: CloudTrail events may still name them. */
  private deletedStores = new Map<string, Store>();
  /** While loading the scenario there is no "before" for stale reads to see. */
  private loading = true;
  /** CloudWatch: the metrics stores and clusters publish. */
  readonly metrics: MetricBook;
  /** CloudTrail: the key store calls made, by whom. */
  readonly trail: Trail;

  constructor(scenario: Scenario | ScenarioInput, opts: FleetOptions = {}) {
    this.scenario = parseScenario(scenario);
    this.clock = opts.clock ?? systemClock();
    this.startedAt = this.clock.now();
    this.faults = new FaultEngine(structuredClone(this.scenario.faults));
    this.metrics = new MetricBook(this.startedAt, this.scenario.cloudwatch.publishDelay, this.scenario.cloudwatch.history);
    this.trail = new Trail(this.scenario.cloudtrail.deliveryDelay);
    const listed = this.scenario.accounts;
    const generated = this.scenario.generate ? generateFleet(this.scenario.generate, new Set(listed.map((a) => a.id))) : [];
    for (const a of [...listed, ...generated]) this.loadAccount(a);
    this.managementAccountId = this.scenario.managementAccount ?? listed[0]?.id ?? generated[0]!.id;
    this.setScpDeny(this.scenario.scpDeny);
    this.loading = false;
    for (const e of this.scenario.timeline) this.schedule(this.startedAt + e.at, () => this.applyTimeline(e, this.startedAt + e.at));
    for (const ev of this.scenario.cloudtrail.events) {
      const store = this.getStore(ev.store);
      if (store) this.recordKeyStoreEvent(store, ev.eventName, ev.actor, { at: this.startedAt + ev.at, error: ev.error });
    }
  }

  // ---------- time ----------

  /** Applies every scheduled change (timeline, connect/disconnect completions) that is due. */
  tick(): void {
    const now = this.clock.now();
    while (this.events.length > 0 && this.events[0]!.at <= now) this.events.shift()!.run();
  }

  advanceClock(ms: number): number {
    this.clock.advance(ms);
    this.tick();
    return this.clock.now();
  }

  now(): number {
    return this.clock.now();
  }

  private schedule(at: number, run: () => void): void {
    const ev = { at, order: this.eventOrder++, run };
    let i = this.events.length;
    while (i > 0 && (this.events[i - 1]!.at > at)) i--;
    this.events.splice(i, 0, ev);
  }

  /** Applies a timeline entry as of its scheduled time `at` (CloudTrail and CloudWatch date it then, however late the tick). */
  private applyTimeline(e: TimelineEntry, at: number): void {
    try {
      if (e.kind === 'faults' && e.faults) this.setFaults(e.faults);
      else if (e.kind === 'store') e.delete ? this.removeStore(e.id, { actor: e.actor, at }) : e.set && this.setStore(e.id, e.set, { actor: e.actor, at });
      else if (e.kind === 'cluster') e.delete ? this.removeCluster(e.id, { at }) : e.set && this.setCluster(e.id, e.set, { at });
      else if (e.kind === 'account' && e.set) this.setAccount(e.id, e.set);
      else if (e.kind === 'scp' && e.scpDeny) this.setScpDeny(e.scpDeny);
    } catch {
      // A timeline entry whose target was removed at run time is skipped, not fatal.
    }
  }

  // ---------- loading ----------

  private loadAccount(a: AccountSpec): void {
    this.accountList = null;
    this.accounts.set(a.id, {
      id: a.id,
      name: a.name ?? `account-${a.id}`,
      email: a.email ?? `aws+${a.id}@example.com`,
      status: a.status,
      denyAssumeRole: a.denyAssumeRole,
      externalId: a.externalId ?? null,
      joinedAt: a.joinedAt ?? Date.UTC(2023, 0, 1),
      partition: this.scenario.partition,
      optInRegions: [...new Set(a.optInRegions)],
      roles: a.roles,
      missingPermissions: a.missingPermissions,
      ou: a.ou,
      tags: a.tags,
    });
    this.orgTreeCache = null;
    this.enabledRegions.set(a.id, new Set(a.optInRegions));
    this.policies.setMissingPermissions(a.id, a.missingPermissions);
    for (const [region, r] of Object.entries(a.regions)) {
      for (const c of r.clusters) this.insertCluster(this.buildCluster(a.id, region, c), c.metrics);
      r.stores.forEach((s, i) => this.insertStore(this.buildStore(a.id, region, s, i), s.metrics));
    }
  }

  private regionIndex(account: string, region: string): RegionIndex {
    const key = `${account}/${region}`;
    let idx = this.regions.get(key);
    if (!idx) this.regions.set(key, (idx = { stores: [], clusters: [] }));
    return idx;
  }

  private certValue(spec: z.infer<typeof certFieldSchema> | undefined, fallback: Validity | null): CertValue {
    if (spec === undefined) return fallback;
    if (spec === null || typeof spec === 'string') return spec;
    const now = this.clock.now();
    const notAfter = spec.notAfter ?? (spec.expiresIn !== undefined ? now + spec.expiresIn : now + 365 * DAY);
    return { notBefore: spec.notBefore ?? Math.min(now - 30 * DAY, notAfter - DAY), notAfter };
  }

  private buildStore(account: string, region: string, s: StoreSpec, index: number): Store {
    const id = s.id ?? `cks-${hashChars(`${account}/${region}/${s.name ?? index}`, '0123456789abcdef', 17)}`;
    const createdAt = s.createdAt ?? Date.UTC(2024, 0, 1);
    const state = effectiveState(s, 'CONNECTED');
    const store: Store = {
      id,
      name: s.name ?? id,
      type: s.type,
      account,
      region,
      state,
      errorCode: state === 'FAILED' ? (s.errorCode ?? 'INTERNAL_ERROR') : null,
      createdAt,
      connectError: s.connectError ?? null,
      probeFailure: s.probeFailure ?? null,
    };
    if (s.connectDelay !== undefined) store.connectDelay = s.connectDelay;
    if (s.overrides) store.overrides = s.overrides;
    if (s.type === 'AWS_CLOUDHSM') {
      store.clusterId = s.clusterId!;
      store.trustAnchor = s.trustAnchorCertificate ?? this.certValue(s.trustAnchor, { notBefore: createdAt - DAY, notAfter: createdAt + TEN_YEARS });
    } else {
      const x = s.xks ?? { connectivity: 'PUBLIC_ENDPOINT' as const };
      store.xks = {
        connectivity: x.connectivity,
        uriEndpoint: x.uriEndpoint ?? (x.connectivity === 'VPC_ENDPOINT_SERVICE' ? `https://xks.${region}.internal.example.com` : `https://xks.example.com`),
        uriPath: x.uriPath ?? '/kms/xks/v1',
        accessKeyId: x.accessKeyId ?? hashChars(`xks/${id}`, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 20),
      };
      if (x.connectivity === 'VPC_ENDPOINT_SERVICE') store.xks.vpcEndpointServiceName = x.vpcEndpointServiceName ?? `com.amazonaws.vpce.${region}.vpce-svc-${hashChars(id, '0123456789abcdef', 17)}`;
    }
    return store;
  }

  private buildHsm(clusterId: string, h: z.infer<typeof hsmSchema>, index: number, subnets: Record<string, string>): Hsm {
    const id = h.id ?? `hsm-${hashChars(`${clusterId}/${index}/${h.az}`, BASE32ISH, 11)}`;
    const n = createHash('sha256').update(id).digest();
    return {
      id,
      az: h.az,
      state: effectiveState(h, 'ACTIVE'),
      stateMessage: h.stateMessage ?? null,
      subnetId: h.subnetId ?? subnets[h.az] ?? `subnet-${hashChars(`${clusterId}/${h.az}`, '0123456789abcdef', 17)}`,
      eniId: h.eniId ?? `eni-${hashChars(`eni/${id}`, '0123456789abcdef', 17)}`,
      eniIp: h.eniIp ?? `10.${n[0]! % 256}.${n[1]! % 256}.${(n[2]! % 250) + 4}`,
    };
  }

  private buildCluster(account: string, region: string, c: ClusterSpec): Cluster {
    const createdAt = c.createdAt ?? Date.UTC(2024, 0, 1);
    const subnets: Record<string, string> = { ...(c.subnets ?? {}) };
    for (const az of [`${region}a`, `${region}b`, ...c.hsms.map((h) => h.az)]) {
      subnets[az] ??= `subnet-${hashChars(`${c.id}/${az}`, '0123456789abcdef', 17)}`;
    }
    const longLived: Validity = { notBefore: createdAt - DAY, notAfter: createdAt + TEN_YEARS };
    const state = effectiveState(c, 'ACTIVE');
    const initialized = !['CREATE_IN_PROGRESS', 'UNINITIALIZED'].includes(state);
    const certificates: Cluster['certificates'] = {};
    for (const name of CERTIFICATE_NAMES) {
      const fallback = name === 'clusterCsr' ? null : name === 'clusterCertificate' && !initialized ? null : longLived;
      const v = this.certValue(c.certificates?.[name], fallback);
      if (v !== null) certificates[name] = v;
    }
    const cluster: Cluster = {
      id: c.id,
      account,
      region,
      state,
      stateMessage: c.stateMessage ?? null,
      vpcId: c.vpcId ?? `vpc-${hashChars(`${account}/${region}/vpc`, '0123456789abcdef', 17)}`,
      securityGroup: `sg-${hashChars(`${c.id}/sg`, '0123456789abcdef', 17)}`,
      hsmType: c.hsmType,
      subnets,
      hsms: [],
      certificates,
      createdAt,
    };
    cluster.hsms = c.hsms.map((h, i) => this.buildHsm(c.id, h, i, subnets));
    if (c.overrides) cluster.overrides = c.overrides;
    return cluster;
  }

  private insertStore(store: Store, metrics?: MetricsSpec): void {
    const prev = this.stores.get(store.id);
    if (prev?.cur) throw new SimError(`store ${store.id} already exists`, 409);
    const idx = this.regionIndex(store.account, store.region);
    this.requireFreeName(idx, store);
    if (prev) this.unlink(prev, 'stores');
    const rec: Rec<Store> = { seq: ++this.seq, cur: null };
    this.update(rec, store);
    idx.stores.push(rec);
    this.stores.set(store.id, rec);
    this.metrics.register(store.account, store.region, storeOwner(store), metrics, this.loading ? -Infinity : this.clock.now(), store.state === 'CONNECTED');
  }

  private insertCluster(cluster: Cluster, metrics?: MetricsSpec): void {
    const prev = this.clusters.get(cluster.id);
    if (prev?.cur) throw new SimError(`cluster ${cluster.id} already exists`, 409);
    if (prev) this.unlink(prev, 'clusters');
    const rec: Rec<Cluster> = { seq: ++this.seq, cur: null };
    this.update(rec, cluster);
    this.regionIndex(cluster.account, cluster.region).clusters.push(rec);
    this.clusters.set(cluster.id, rec);
    this.metrics.register(cluster.account, cluster.region, { id: cluster.id, kind: 'cluster' }, metrics, this.loading ? -Infinity : this.clock.now(), true);
  }

  /** KMS store names are unique per account and region. */
  private requireFreeName(idx: RegionIndex, store: Pick<Store, 'name' | 'account' | 'region'>): void {
    if (idx.stores.some((r) => r.cur?.name === store.name)) throw new SimError(`a store named ${JSON.stringify(store.name)} already exists in ${store.account}/${store.region}`, 409);
  }

  /** Removes a deleted record from its region list and id map. */
  private unlink(rec: Rec<Store> | Rec<Cluster>, kind: 'stores' | 'clusters'): void {
    const v = rec.cur ?? rec.old?.val;
    if (!v) return;
    const idx = this.regions.get(`${v.account}/${v.region}`);
    const list = idx?.[kind] as (Rec<Store> | Rec<Cluster>)[] | undefined;
    const i = list ? list.indexOf(rec) : -1;
    if (i >= 0) list!.splice(i, 1);
    const map = (kind === 'stores' ? this.stores : this.clusters) as Map<string, Rec<Store> | Rec<Cluster>>;
    if (map.get(v.id) === rec) map.delete(v.id);
  }

  /** Drops deleted records whose stale-read window has passed. */
  private purge(idx: RegionIndex, now: number): void {
    const dead = (r: Rec<Store> | Rec<Cluster>) => r.cur === null && !(r.old && r.old.until > now);
    for (const r of idx.stores.filter(dead)) this.unlink(r, 'stores');
    for (const r of idx.clusters.filter(dead)) this.unlink(r, 'clusters');
  }

  /** Replaces a record's value, remembering the previous one for stale reads. */
  private update<T>(rec: Rec<T>, next: T | null): void {
    const ec = this.faults.config.eventualConsistency;
    if (!this.loading && ec.fraction > 0 && ec.duration > 0) rec.old = { val: rec.cur, until: this.clock.now() + ec.duration };
    else delete rec.old;
    rec.cur = next;
  }

  private view<T>(rec: Rec<T>, stale: boolean, now: number): T | null {
    return stale && rec.old && rec.old.until > now ? rec.old.val : rec.cur;
  }

  // ---------- reads used by the services ----------

  /** The stores of one account and region, in creation order, with their position for markers. */
  storesIn(account: string, region: string, stale: boolean): { seq: number; store: Store }[] {
    return this.visible(account, region, (idx) => idx.stores, stale, (seq, store) => ({ seq, store }));
  }

  clustersIn(account: string, region: string, stale: boolean): { seq: number; cluster: Cluster }[] {
    return this.visible(account, region, (idx) => idx.clusters, stale, (seq, cluster) => ({ seq, cluster }));
  }

  /** What a read sees of one record list of an account and region; purges deleted records on the way. */
  private visible<T, R>(account: string, region: string, list: (idx: RegionIndex) => Rec<T>[], stale: boolean, wrap: (seq: number, value: T) => R): R[] {
    const idx = this.regions.get(`${account}/${region}`);
    if (!idx) return [];
    const now = this.clock.now();
    const out: R[] = [];
    let dead = false;
    for (const rec of list(idx)) {
      const v = this.view(rec, stale, now);
      if (v) out.push(wrap(rec.seq, v));
      else if (rec.cur === null) dead = true;
    }
    if (dead) this.purge(idx, now);
    return out;
  }

  getStore(id: string): Store | undefined {
    return this.stores.get(id)?.cur ?? undefined;
  }

  getCluster(id: string): Cluster | undefined {
    return this.clusters.get(id)?.cur ?? undefined;
  }

  getAccount(id: string): Account | undefined {
    return this.accounts.get(id);
  }

  /** The organization's root and OUs (cached until an account changes). */
  orgTree(): OrgTree {
    return (this.orgTreeCache ??= buildOrgTree(organizationId(this.managementAccountId), this.accounts.values()));
  }

  /** The MaxSessionDuration of a role (ms): the scenario's, or IAM's default of 1 hour. */
  maxSessionDuration(account: string, roleName: string): number {
    return this.accounts.get(account)?.roles[roleName]?.maxSessionDuration ?? DEFAULT_MAX_SESSION;
  }

  /** The account whose keys the simulator hands out as its base credentials. */
  get baseAccountId(): string {
    return this.scenario.credentials.baseAccount ?? this.managementAccountId;
  }

  /**
   * Whether an account's credentials work in a region: an opt-in region the account has not enabled,
   * or a region of another partition, does not know the account's credentials at all.
   */
  regionAccess(account: string, region: string): RegionAccess {
    const info = regionInfo(region);
    if (!info) return 'no-such-region';
    const a = this.accounts.get(account);
    if (!a) return 'ok';
    if (info.partition !== a.partition) return 'other-partition';
    if (info.optIn && !this.enabledRegions.get(account)?.has(region)) return 'not-enabled';
    return 'ok';
  }

  /** The accounts in order (or those from position `start` to `end`), without copying the whole list per page. */
  listAccounts(start = 0, end?: number): Account[] {
    this.accountList ??= [...this.accounts.values()];
    return this.accountList.slice(start, end);
  }

  accountCount(): number {
    return this.accounts.size;
  }

  /** The PEM of a certificate value, generating (and caching) one for a validity. */
  pem(value: CertValue | undefined, commonName: string): string | undefined {
    if (value === null || value === undefined) return undefined;
    if (typeof value === 'string') return value;
    const key = `${commonName}|${value.notBefore}|${value.notAfter}`;
    let pem = this.pemCache.get(key);
    if (!pem) this.pemCache.set(key, (pem = selfSignedPem({ commonName, ...value })));
    return pem;
  }

  // ---------- pagination markers ----------

  /** An opaque marker for "after position seq" in `scope`; only markers this fleet issued verify. */
  marker(scope: string, seq: number): string {
    const sig = createHmac('sha256', this.markerKey).update(`${scope}|${seq}`).digest().subarray(0, 12);
    return Buffer.concat([Buffer.from(`${seq}:`), sig]).toString('base64url');
  }

  /** The position a marker stands for, or undefined when this fleet never issued it for `scope`. */
  readMarker(scope: string, marker: string): number | undefined {
    const raw = Buffer.from(marker, 'base64url');
    const colon = raw.indexOf(0x3a);
    if (colon <= 0) return undefined;
    const seq = Number(raw.subarray(0, colon).toString());
    if (!Number.isSafeInteger(seq)) return undefined;
    const expected = createHmac('sha256', this.markerKey).update(`${scope}|${seq}`).digest().subarray(0, 12);
    const got = raw.subarray(colon + 1);
    return got.length === expected.length && timingSafeEqual(got, expected) ? seq : undefined;
  }

  /** Makes every outstanding marker and NextToken invalid (InvalidMarkerException mid-walk). */
  invalidateMarkers(): void {
    this.markerKey = randomBytes(32);
  }

  // ---------- credentials ----------

  /** The account an access key id belongs to, or why it is refused. */
  identify(accessKeyId: string, sessionToken: string | undefined): Identity | { error: 'unknown' | 'expired' } {
    const base = BASE_KEY.exec(accessKeyId);
    if (base) {
      const a = this.accounts.get(base[2]!);
      if (!a) return { error: 'unknown' };
      return base[1] === 'AKIA' ? { account: a.id, partition: a.partition } : { account: a.id, partition: a.partition, roleName: this.scenario.credentials.baseRoleName, sessionName: BASE_SESSION_NAME };
    }
    const cred = this.issued.get(accessKeyId);
    if (!cred || (sessionToken !== undefined && sessionToken !== cred.sessionToken)) return { error: 'unknown' };
    if (Date.now() >= cred.expiresAt) return { error: 'expired' };
    return { account: cred.account, partition: this.accounts.get(cred.account)?.partition ?? this.scenario.partition, roleName: cred.roleName, sessionName: cred.sessionName };
  }

  issueCredentials(account: string, roleName: string, durationSeconds: number, sessionName = 'keystore-watch'): { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiresAt: number } {
    const max = this.scenario.credentials.maxLifetime;
    const lifetime = Math.min(durationSeconds * 1000, max ?? Infinity);
    const accessKeyId = `ASIA${[...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('')}`;
    const sessionToken = randomBytes(96).toString('base64');
    // Wall-clock time, not the simulated clock: the SDK caches credentials by the Expiration it is
    // told, so advancing the simulated clock must not silently invalidate them (expireCredentials does).
    const expiresAt = Date.now() + lifetime;
    this.issued.set(accessKeyId, { account, roleName, sessionName, sessionToken, expiresAt });
    if (this.issued.size > 100_000) this.purgeExpiredCredentials();
    return { accessKeyId, secretAccessKey: randomBytes(30).toString('base64'), sessionToken, expiresAt };
  }

  private purgeExpiredCredentials(): void {
    const now = Date.now();
    for (const [k, v] of this.issued) if (v.expiresAt <= now) this.issued.delete(k);
  }

  /** Expires every issued credential (of one account): the next request with one answers ExpiredTokenException. */
  expireCredentials(account?: string): number {
    const now = Date.now();
    let n = 0;
    for (const c of this.issued.values()) {
      if ((account === undefined || c.account === account) && c.expiresAt > now) { c.expiresAt = now; n++; }
    }
    return n;
  }

  // ---------- the connect/disconnect state machine (KMS semantics) ----------

  connect(storeId: string): void {
    const store = this.getStore(storeId);
    if (!store) throw new AwsError('CustomKeyStoreNotFoundException', `Custom key store ${storeId} does not exist in this account and region.`);
    if (store.state === 'FAILED' || store.state === 'DISCONNECTING') {
      throw new AwsError('CustomKeyStoreInvalidStateException', `Custom key store ${storeId} has a ConnectionState of ${store.state}. ${store.state === 'FAILED' ? 'Disconnect it (DisconnectCustomKeyStore) before connecting it again.' : 'Wait for the disconnect to complete.'}`);
    }
    // A state this simulator (and the SDK) does not know: refuse rather than guess, the stricter answer.
    if (!KNOWN_CONNECTION_STATES.has(store.state)) throw new AwsError('CustomKeyStoreInvalidStateException', `Custom key store ${storeId} has a ConnectionState of ${store.state}.`);
    if (store.state !== 'DISCONNECTED') return; // CONNECTED or CONNECTING: nothing to do, 200 OK
    let outcome: string | null = store.connectError;
    if (store.type === 'AWS_CLOUDHSM') {
      const cluster = this.getCluster(store.clusterId!);
      if (!cluster || cluster.account !== store.account || cluster.region !== store.region) outcome ??= 'CLUSTER_NOT_FOUND';
      else if (cluster.state !== 'ACTIVE') {
        throw new AwsError('CloudHsmClusterNotActiveException', `The CloudHSM cluster ${cluster.id} associated with custom key store ${storeId} is not active (state ${cluster.state}).`);
      } else if (!cluster.hsms.some((h) => h.state === 'ACTIVE')) outcome ??= 'INSUFFICIENT_CLOUDHSM_HSMS';
    }
    const delay = store.connectDelay ?? this.scenario.connection.connectDelay;
    this.transition(storeId, { state: 'CONNECTING', errorCode: null }, delay, outcome === null ? { state: 'CONNECTED', errorCode: null } : { state: 'FAILED', errorCode: outcome });
  }

  disconnect(storeId: string): void {
    const store = this.getStore(storeId);
    if (!store) throw new AwsError('CustomKeyStoreNotFoundException', `Custom key store ${storeId} does not exist in this account and region.`);
    if (store.state === 'DISCONNECTED' || store.state === 'DISCONNECTING' || !KNOWN_CONNECTION_STATES.has(store.state)) {
      throw new AwsError('CustomKeyStoreInvalidStateException', `Custom key store ${storeId} has a ConnectionState of ${store.state}; it is not connected.`);
    }
    this.transition(storeId, { state: 'DISCONNECTING', errorCode: null }, this.scenario.connection.disconnectDelay, { state: 'DISCONNECTED', errorCode: null });
  }

  private transition(storeId: string, now: Pick<Store, 'state' | 'errorCode'>, delay: number, then: Pick<Store, 'state' | 'errorCode'>): void {
    if (delay <= 0) { this.patchStore(storeId, then); return; }
    this.patchStore(storeId, now);
    const token = this.transitions.get(storeId)!;
    this.schedule(this.clock.now() + delay, () => {
      if (this.transitions.get(storeId) === token && this.getStore(storeId)) this.patchStore(storeId, then);
    });
  }

  private patchStore(id: string, patch: Partial<Store>, at = this.clock.now()): Store {
    const rec = this.stores.get(id);
    if (!rec?.cur) throw new SimError(`no store ${id}`, 404);
    const next: Store = { ...rec.cur, ...patch };
    // ConnectionErrorCode only exists while FAILED.
    if (next.state !== 'FAILED') next.errorCode = null;
    this.update(rec, next);
    this.metrics.noteConnected(id, at, next.state === 'CONNECTED');
    this.transitions.set(id, (this.transitions.get(id) ?? 0) + 1);
    return next;
  }

  // ---------- programmatic / control-API mutations ----------

  /**
   * Changes a store (state, errorCode, name, connectError, probeFailure, trustAnchor, xks, overrides, metrics).
   * With an actor, CloudTrail records the KMS call such a change takes (Update/Connect/DisconnectCustomKeyStore).
   */
  setStore(id: string, patch: unknown, opts: { actor?: unknown; at?: number } = {}): Store {
    const p = validate(storePatchSchema, patch);
    const actor = opts.actor === undefined || opts.actor === null ? undefined : validate(actorSchema, opts.actor);
    const cur = this.stores.get(id)?.cur;
    if (!cur) throw new SimError(`no store ${id}`, 404);
    if (p.metrics) {
      const problems = metricsProblems(p.metrics, { kind: 'store', storeType: cur.type });
      if (problems.length) throw new SimError(problems.map((x) => `metrics.${x.path.join('.')}: ${x.message}`).join('; '), 400, problems.map((x) => ({ path: `metrics.${x.path.join('.')}`, message: x.message })));
    }
    const state = effectiveState(p, cur.state);
    const errorCode = p.errorCode !== undefined ? p.errorCode : state === 'FAILED' ? cur.errorCode : null;
    const problems = errorCodeProblems(state, errorCode);
    if (problems.length) throw new SimError(`errorCode: ${problems[0]}`, 400, [{ path: 'errorCode', message: problems[0]! }]);
    if (p.name !== undefined && p.name !== cur.name) this.requireFreeName(this.regionIndex(cur.account, cur.region), { ...cur, name: p.name });
    const next: Partial<Store> = { state, errorCode };
    if (p.name !== undefined) next.name = p.name;
    if (p.connectError !== undefined) next.connectError = p.connectError;
    if (p.connectDelay !== undefined) next.connectDelay = p.connectDelay;
    if (p.probeFailure !== undefined) next.probeFailure = p.probeFailure;
    if (p.overrides !== undefined) next.overrides = p.overrides;
    if (cur.type === 'AWS_CLOUDHSM') {
      if (p.clusterId !== undefined) next.clusterId = p.clusterId;
      if (p.trustAnchorCertificate !== undefined) next.trustAnchor = p.trustAnchorCertificate ?? this.certValue(undefined, { notBefore: cur.createdAt - DAY, notAfter: cur.createdAt + TEN_YEARS });
      if (p.trustAnchor !== undefined) next.trustAnchor = this.certValue(p.trustAnchor, null);
    } else if (p.xks !== undefined && cur.xks) {
      // The schema defaults connectivity to PUBLIC_ENDPOINT; a patch that does not name it keeps the store's.
      const named = (patch as { xks?: Record<string, unknown> } | null)?.xks ?? {};
      next.xks = { ...cur.xks, ...Object.fromEntries(Object.entries(p.xks).filter(([k, v]) => v !== undefined && (k !== 'connectivity' || named.connectivity !== undefined))) };
    } else if (p.clusterId !== undefined || p.trustAnchor !== undefined || p.trustAnchorCertificate != null) {
      throw new SimError('clusterId and trust anchors only apply to AWS_CLOUDHSM stores', 400);
    }
    const now = opts.at ?? this.clock.now();
    const after = this.patchStore(id, next, now);
    if (p.metrics !== undefined || next.xks) this.metrics.update(id, p.metrics ?? {}, now, storeOwner(after));
    if (actor) {
      const changed: Record<string, unknown> = {};
      if (p.name !== undefined && p.name !== cur.name) changed.newCustomKeyStoreName = p.name;
      if (p.clusterId !== undefined && p.clusterId !== cur.clusterId) changed.cloudHsmClusterId = p.clusterId;
      if (p.trustAnchor !== undefined || p.trustAnchorCertificate !== undefined) changed.trustAnchorCertificate = '-----BEGIN CERTIFICATE-----…';
      const x = after.xks;
      if (x && cur.xks) {
        if (x.uriEndpoint !== cur.xks.uriEndpoint) changed.xksProxyUriEndpoint = x.uriEndpoint;
        if (x.uriPath !== cur.xks.uriPath) changed.xksProxyUriPath = x.uriPath;
        if (x.connectivity !== cur.xks.connectivity) changed.xksProxyConnectivity = x.connectivity;
        if (x.vpcEndpointServiceName !== cur.xks.vpcEndpointServiceName) changed.xksProxyVpcEndpointServiceName = x.vpcEndpointServiceName;
        // The proxy credential is secret: CloudTrail hides it.
        if (x.accessKeyId !== cur.xks.accessKeyId) changed.xksProxyAuthenticationCredential = { accessKeyId: 'HIDDEN_DUE_TO_SECURITY_REASONS', rawSecretAccessKey: 'HIDDEN_DUE_TO_SECURITY_REASONS' };
      }
      if (Object.keys(changed).length > 0) this.recordKeyStoreEvent(after, 'UpdateCustomKeyStore', actor, { changed, at: now });
      const was = cur.state;
      const is = after.state;
      if (is !== was && (is === 'DISCONNECTED' || is === 'DISCONNECTING')) this.recordKeyStoreEvent(after, 'DisconnectCustomKeyStore', actor, { at: now });
      else if (is !== was && (is === 'CONNECTING' || (is === 'CONNECTED' && was !== 'CONNECTING'))) this.recordKeyStoreEvent(after, 'ConnectCustomKeyStore', actor, { at: now });
    }
    return after;
  }

  /** Changes the metrics a store or cluster publishes from now on (null removes a metric). */
  setMetrics(id: string, patch: unknown): MetricsSpec {
    const p = validate(storeMetricsSchema, patch);
    const store = this.getStore(id);
    const cluster = store ? undefined : this.getCluster(id);
    if (!store && !cluster) throw new SimError(`no store or cluster ${id}`, 404);
    const problems = metricsProblems(p, store ? { kind: 'store', storeType: store.type } : { kind: 'cluster' });
    if (problems.length) throw new SimError(problems.map((x) => `${x.path.join('.')}: ${x.message}`).join('; '), 400, problems.map((x) => ({ path: x.path.join('.'), message: x.message })));
    this.metrics.update(id, p, this.clock.now());
    return this.metrics.spec(id) ?? {};
  }

  /**
   * Records a key store call in CloudTrail (LookupEvents shows it after the delivery delay). Used by the KMS
   * operations (the caller's identity), the timeline and the control API (a given actor).
   */
  recordKeyStoreEvent(store: Store, eventName: KeyStoreEventName, actor: Actor, opts: { at?: number; error?: { code: string; message: string } | undefined; changed?: Record<string, unknown> } = {}): TrailEvent {
    const partition = this.accounts.get(store.account)?.partition ?? this.scenario.partition;
    return this.trail.record({
      account: store.account,
      region: store.region,
      partition,
      eventName,
      at: opts.at ?? this.clock.now(),
      actor,
      error: opts.error,
      ...keyStoreEventDetails(eventName, store, opts.changed),
    });
  }

  /** Records a CloudTrail event from the control API: { store, eventName, actor, at?, error? }. */
  addTrailEvent(input: unknown): TrailEvent {
    const v = validate(z.strictObject({
      store: z.string(),
      eventName: z.enum(['ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'UpdateCustomKeyStore', 'CreateCustomKeyStore', 'DeleteCustomKeyStore']),
      actor: actorSchema,
      /** Epoch ms or ISO; default now. */
      at: z.union([z.number(), z.string()]).optional(),
      error: z.strictObject({ code: z.string().min(1), message: z.string() }).optional(),
    }), input);
    const store = this.getStore(v.store) ?? this.deletedStores.get(v.store);
    if (!store) throw new SimError(`no store ${v.store}`, 404);
    const at = v.at === undefined ? this.clock.now() : typeof v.at === 'number' ? v.at : Date.parse(v.at);
    if (!Number.isFinite(at)) throw new SimError('at: an epoch-ms number or an ISO timestamp', 400);
    return this.recordKeyStoreEvent(store, v.eventName, v.actor, { at, error: v.error });
  }

  /** Adds a store to an account and region (the account must exist); with an actor, CloudTrail records CreateCustomKeyStore. */
  addStore(account: string, region: string, input: unknown, opts: { actor?: unknown } = {}): Store {
    this.requireRegion(this.requireAccount(account), region);
    const spec = validate(storeSchema, input);
    const actor = opts.actor === undefined || opts.actor === null ? undefined : validate(actorSchema, opts.actor);
    const store = this.buildStore(account, region, spec, this.regionIndex(account, region).stores.length);
    this.insertStore(store, spec.metrics);
    if (actor) this.recordKeyStoreEvent(store, 'CreateCustomKeyStore', actor);
    return store;
  }

  /** Deletes a store; with an actor, CloudTrail records DeleteCustomKeyStore. */
  removeStore(id: string, opts: { actor?: unknown; at?: number } = {}): void {
    const rec = this.stores.get(id);
    if (!rec?.cur) throw new SimError(`no store ${id}`, 404);
    const actor = opts.actor === undefined || opts.actor === null ? undefined : validate(actorSchema, opts.actor);
    const { account, region } = rec.cur;
    this.deletedStores.set(id, rec.cur);
    const at = opts.at ?? this.clock.now();
    if (actor) this.recordKeyStoreEvent(rec.cur, 'DeleteCustomKeyStore', actor, { at });
    this.metrics.noteDeleted(id, at);
    this.update(rec, null);
    this.transitions.set(id, (this.transitions.get(id) ?? 0) + 1);
    this.purge(this.regionIndex(account, region), this.clock.now());
  }

  addCluster(account: string, region: string, input: unknown): Cluster {
    this.requireRegion(this.requireAccount(account), region);
    const spec = validate(clusterSchema, input);
    const cluster = this.buildCluster(account, region, spec);
    for (const h of cluster.hsms) if (!h.az.startsWith(region)) throw new SimError(`hsms: ${h.az} is not in region ${region}`, 400);
    this.insertCluster(cluster, spec.metrics);
    return cluster;
  }

  setCluster(id: string, patch: unknown, opts: { at?: number } = {}): Cluster {
    const p = validate(clusterPatchSchema, patch);
    const cur = this.requireCluster(id);
    const next: Cluster = { ...cur };
    next.state = effectiveState(p, cur.state);
    if (p.stateMessage !== undefined) next.stateMessage = p.stateMessage;
    if (p.overrides !== undefined) next.overrides = p.overrides;
    if (p.metrics !== undefined) {
      const problems = metricsProblems(p.metrics, { kind: 'cluster' });
      if (problems.length) throw new SimError(problems.map((x) => `metrics.${x.path.join('.')}: ${x.message}`).join('; '), 400);
      this.metrics.update(id, p.metrics, opts.at ?? this.clock.now());
    }
    if (p.hsms !== undefined) {
      const subnets = { ...cur.subnets };
      next.hsms = p.hsms.map((h, i) => this.buildHsm(id, h, i, subnets));
      for (const h of next.hsms) subnets[h.az] ??= h.subnetId;
      next.subnets = subnets;
    }
    if (p.certificates !== undefined) {
      next.certificates = { ...cur.certificates };
      for (const [name, v] of Object.entries(p.certificates) as [CertificateName, z.infer<typeof certFieldSchema> | undefined][]) {
        if (v !== undefined) next.certificates[name] = this.certValue(v, null);
      }
    }
    this.update(this.clusters.get(id)!, next);
    return next;
  }

  removeCluster(id: string, opts: { at?: number } = {}): void {
    const { account, region } = this.requireCluster(id);
    this.metrics.noteDeleted(id, opts.at ?? this.clock.now());
    this.update(this.clusters.get(id)!, null);
    this.purge(this.regionIndex(account, region), this.clock.now());
  }

  addHsm(clusterId: string, input: unknown): Hsm {
    const cur = this.requireCluster(clusterId);
    const spec = validate(hsmSchema, input);
    if (!spec.az.startsWith(cur.region)) throw new SimError(`az: ${spec.az} is not in region ${cur.region}`, 400);
    const hsm = this.buildHsm(clusterId, spec, cur.hsms.length + this.seq++, cur.subnets);
    if (cur.hsms.some((h) => h.id === hsm.id)) throw new SimError(`HSM ${hsm.id} already exists in ${clusterId}`, 409);
    this.update(this.clusters.get(clusterId)!, { ...cur, hsms: [...cur.hsms, hsm], subnets: { ...cur.subnets, [hsm.az]: cur.subnets[hsm.az] ?? hsm.subnetId } });
    return hsm;
  }

  setHsm(clusterId: string, hsmId: string, patch: unknown): Hsm {
    const p = validate(hsmPatchSchema, patch);
    const cur = this.requireCluster(clusterId);
    const old = cur.hsms.find((h) => h.id === hsmId);
    if (!old) throw new SimError(`no HSM ${hsmId} in cluster ${clusterId}`, 404);
    const hsm: Hsm = { ...old, state: effectiveState(p, old.state), ...(p.stateMessage !== undefined && { stateMessage: p.stateMessage }) };
    this.update(this.clusters.get(clusterId)!, { ...cur, hsms: cur.hsms.map((h) => (h.id === hsmId ? hsm : h)) });
    return hsm;
  }

  removeHsm(clusterId: string, hsmId: string): void {
    const cur = this.requireCluster(clusterId);
    if (!cur.hsms.some((h) => h.id === hsmId)) throw new SimError(`no HSM ${hsmId} in cluster ${clusterId}`, 404);
    this.update(this.clusters.get(clusterId)!, { ...cur, hsms: cur.hsms.filter((h) => h.id !== hsmId) });
  }

  /** Sets (PEM, or { expiresIn | notAfter } to generate) or, with null, removes one cluster certificate. */
  setClusterCertificate(clusterId: string, name: CertificateName, value: unknown): Cluster {
    if (!(CERTIFICATE_NAMES as readonly string[]).includes(name)) throw new SimError(`unknown certificate ${name}; one of ${CERTIFICATE_NAMES.join(', ')}`, 404);
    return this.setCluster(clusterId, { certificates: { [name]: value } });
  }

  addAccount(input: unknown): Account {
    const spec = validate(accountSchema, input);
    if (this.accounts.has(spec.id)) throw new SimError(`account ${spec.id} already exists`, 409);
    const partition = this.scenario.partition;
    const enabled = new Set(spec.optInRegions);
    const issues = [
      ...spec.optInRegions.map((r, i) => ({ path: `optInRegions[${i}]`, message: optInProblem(r, partition) })),
      ...Object.keys(spec.regions).map((r) => ({ path: `regions.${r}`, message: regionProblem(r, partition, enabled) })),
    ].filter((i): i is { path: string; message: string } => i.message !== undefined);
    if (issues.length) throw new SimError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), 400, issues);
    this.loadAccount(spec);
    return this.accounts.get(spec.id)!;
  }

  setAccount(id: string, patch: unknown): Account {
    const p = validate(accountPatchSchema, patch);
    const cur = this.requireAccount(id);
    if (p.optInRegions) {
      const issues = p.optInRegions.flatMap((r, i) => { const message = optInProblem(r, cur.partition); return message ? [{ path: `optInRegions[${i}]`, message }] : []; });
      if (issues.length) throw new SimError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), 400, issues);
      p.optInRegions = [...new Set(p.optInRegions)];
      this.enabledRegions.set(id, new Set(p.optInRegions));
    }
    const next: Account = { ...cur, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) } as Account;
    this.accounts.set(id, next);
    this.accountList = null;
    this.orgTreeCache = null;
    if (p.missingPermissions) this.policies.setMissingPermissions(id, p.missingPermissions);
    return next;
  }

  // ---------- policies ----------

  getScpDeny(): ScpDeny[] {
    return structuredClone(this.scpDenyList);
  }

  /** Replaces the service control policy denies ([] = none). */
  setScpDeny(input: unknown): ScpDeny[] {
    const list = validate(z.array(scpDenySchema), input ?? []);
    for (const d of list) {
      const a = this.accounts.get(d.account);
      if (!a) throw new SimError(`account: no account ${d.account}`, 404);
      const message = d.region === undefined ? undefined : regionProblem(d.region, a.partition, null);
      if (message) throw new SimError(`region: ${message}`, 400, [{ path: 'region', message }]);
    }
    this.scpDenyList = list;
    this.policies.setScpDeny(list);
    return this.getScpDeny();
  }

  // ---------- faults and counters ----------

  getFaults(): Faults {
    return structuredClone(this.faults.config);
  }

  /** Merges a partial fault configuration into the current one. */
  setFaults(patch: unknown): Faults {
    const p = validate(faultsPatchSchema, patch);
    const merged = { ...this.faults.config, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) } as Faults;
    this.faults.config = merged;
    if (p.rateLimitPerSecond !== undefined || p.rateLimits !== undefined) this.faults.resetRateWindows();
    return this.getFaults();
  }

  /** Replaces the whole fault configuration (omitted fields take their defaults: no faults, 5/s). */
  replaceFaults(input: unknown): Faults {
    this.faults.config = validate(faultsSchema, input ?? {});
    this.faults.resetRateWindows();
    return this.getFaults();
  }

  /** Back to the scenario's faults. */
  resetFaults(): Faults {
    this.faults.config = structuredClone(this.scenario.faults);
    this.faults.resetRateWindows();
    return this.getFaults();
  }

  counters(): CountersSnapshot {
    return this.requestCounters.snapshot();
  }

  /** Recent requests (simulated time), oldest first, e.g. { operation: 'GenerateRandom', account, region }. */
  requestLog(filter: Partial<RequestKey> = {}): RequestLogEntry[] {
    return this.requestCounters.requests(filter);
  }

  resetCounters(): void {
    this.requestCounters.reset();
  }

  // ---------- snapshot for GET /_sim/fleet ----------

  snapshot(filter: { account?: string; region?: string } = {}): FleetSnapshot {
    this.tick();
    // One pass over the region index, grouped by account: no accounts x regions scan.
    const byAccount = new Map<string, Record<string, { stores: Store[]; clusters: Cluster[] }>>();
    for (const [key, idx] of this.regions) {
      const [acct, region] = key.split('/') as [string, string];
      if ((filter.account && acct !== filter.account) || (filter.region && region !== filter.region)) continue;
      const stores = idx.stores.map((r) => r.cur).filter((s): s is Store => s !== null);
      const clusters = idx.clusters.map((r) => r.cur).filter((c): c is Cluster => c !== null);
      if (!stores.length && !clusters.length) continue;
      let regions = byAccount.get(acct);
      if (!regions) byAccount.set(acct, (regions = {}));
      regions[region] = { stores, clusters };
    }
    const accounts = this.listAccounts()
      .filter((a) => !filter.account || a.id === filter.account)
      .map((a) => ({ ...a, baseAccessKeyId: baseAccessKeyId(a.id), regions: byAccount.get(a.id) ?? {} }));
    return { now: this.clock.now(), startedAt: this.startedAt, managementAccount: this.managementAccountId, baseAccessKeyId: baseAccessKeyId(this.managementAccountId), accounts, pendingEvents: this.events.length };
  }

  /** Totals, cheap enough for large fleets. */
  stats(): { accounts: number; stores: number; clusters: number; targets: number } {
    let stores = 0;
    let clusters = 0;
    for (const r of this.stores.values()) if (r.cur) stores++;
    for (const r of this.clusters.values()) if (r.cur) clusters++;
    return { accounts: this.accounts.size, stores, clusters, targets: this.regions.size };
  }

  private requireAccount(id: string): Account {
    const a = this.accounts.get(id);
    if (!a) throw new SimError(`no account ${id}`, 404);
    return a;
  }

  /** A region that exists in the account's partition (a disabled opt-in region may hold resources: they stay when a region is disabled). */
  private requireRegion(account: Account, region: string): void {
    const message = regionProblem(region, account.partition, null);
    if (message) throw new SimError(`region: ${message}`, 400, [{ path: 'region', message }]);
  }

  private requireCluster(id: string): Cluster {
    const c = this.clusters.get(id)?.cur;
    if (!c) throw new SimError(`no cluster ${id}`, 404);
    return c;
  }
}

export interface FleetSnapshot {
  now: number;
  startedAt: number;
  managementAccount: string;
  baseAccessKeyId: string;
  accounts: (Account & { baseAccessKeyId: string; regions: Record<string, { stores: Store[]; clusters: Cluster[] }> })[];
  pendingEvents: number;
}

/** What the metrics catalogue needs to know of a store: its id, type and proxy endpoint (the certificate's name). */
function storeOwner(s: Store): OwnerInfo {
  return { id: s.id, kind: 'store', storeType: s.type, ...(s.xks && { uriEndpoint: s.xks.uriEndpoint }) };
}

function validate<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = formatIssues(r.error);
  throw new SimError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), 400, issues);
}
