// Table-driven alert scenarios: each YAML file under test/fixtures/alert-scenarios describes a small world
// (targets, stores, clusters), a sequence of polls changing it, and the notifications expected after each
// poll (after storm grouping). The runner plays the poller's role the way src/snapshot/build.ts does:
// a failed target carries its last records over as stale, stateSince moves only when the state changes.
// Every scenario is also checked for invariants: one firing and one resolved per incident, same ids on a
// second run, and a replay of any poll from the state before it yields the same notification ids.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { emptyAlertState, evaluateAlerts, type AlertState } from '../../src/alert/engine.js';
import { groupForDelivery } from '../../src/alert/group.js';
import { defaultSeverity } from '../../src/alert/remediation/guidance.js';
import { parseDuration } from '../../src/util/duration.js';
import type { AlertNotification, ClusterRecord, Notification, ProbeResult, Snapshot, StoreRecord, TargetOutcome } from '../../src/model.js';
import { alerting as alertingDefaults, fakeGuidance, probeConfig, T0 } from '../diff/builders.js';

const DIR = join(import.meta.dirname, '../fixtures/alert-scenarios');

interface TargetSpec { account: string; region: string; name?: string }
interface StoreSpec { target: string; id?: string; name?: string; type?: string; cluster?: string; state?: string; trustAnchorExpiresIn?: string; stateSince?: string }
interface ClusterSpec { target: string; id?: string; state?: string; hsms?: string[]; certExpiresIn?: string; stateSince?: string; gone?: boolean }
interface PollSpec {
  after?: string;
  repeat?: number;
  targets?: Record<string, string>;
  cloudhsm?: Record<string, 'up' | 'down'>;
  stores?: Record<string, string | { state?: string; name?: string }>;
  clusters?: Record<string, Partial<ClusterSpec>>;
  /** fail = an error showing the store failing; denied = AccessDeniedException; throttled = ThrottlingException. */
  probes?: Record<string, 'ok' | 'fail' | 'denied' | 'throttled'>;
  expect?: (string | { digest: string[] })[];
  firing?: string[];
}
interface Scenario {
  name: string;
  alerting?: Record<string, unknown>;
  probe?: Record<string, unknown>;
  interval?: string;
  targets: Record<string, TargetSpec>;
  stores?: Record<string, StoreSpec>;
  clusters?: Record<string, ClusterSpec>;
  polls: PollSpec[];
}

const ms = (d: string | number): number => {
  const neg = typeof d === 'string' && d.startsWith('-');
  const v = parseDuration(neg ? (d as string).slice(1) : d);
  if (v === null) throw new Error(`bad duration ${d}`);
  return neg ? -v : v;
};

function normaliseDurations(o: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(o ?? {}) };
  for (const k of keys) if (typeof out[k] === 'string') out[k] = ms(out[k] as string);
  if (out.flapping && typeof out.flapping === 'object') {
    const f = out.flapping as { changes?: number; window?: string | number };
    out.flapping = { changes: f.changes ?? 4, window: typeof f.window === 'string' ? ms(f.window) : (f.window ?? ms('10m')) };
  }
  if (out.connectingTimeout && typeof out.connectingTimeout === 'object') {
    out.connectingTimeout = Object.fromEntries(Object.entries(out.connectingTimeout as Record<string, string>).map(([k, v]) => [k, ms(v)]));
  }
  return out;
}

/** The simulated world plus the poller's memory (last snapshot). */
class World {
  at = T0;
  pollId = 0;
  prev: Snapshot | null = null;
  /** The snapshot before the last poll's (what the pipeline passes as `previous`). */
  before: Snapshot | null = null;
  targets = new Map<string, { spec: TargetSpec; down: string | null; cloudHsmDown: boolean; failures: number; lastSuccessAt: number | null }>();
  stores = new Map<string, { spec: StoreSpec; id: string; name: string; state: string; code: string | null; gone: boolean; stateSince: number; trustAnchorNotAfter: number | null; dirty?: boolean }>();
  clusters = new Map<string, { spec: ClusterSpec; id: string; state: string; hsms: string[]; certNotAfter: number | null; gone: boolean; stateSince: number }>();
  probes = new Map<string, { mode: 'ok' | 'fail' | 'denied' | 'throttled'; failures: number; last: ProbeResult | null }>();

  constructor(readonly sc: Scenario) {
    for (const [alias, t] of Object.entries(sc.targets)) this.targets.set(alias, { spec: t, down: null, cloudHsmDown: false, failures: 0, lastSuccessAt: null });
    for (const [alias, s] of Object.entries(sc.stores ?? {})) {
      const [state, code] = (s.state ?? 'CONNECTED').split('/');
      this.stores.set(alias, {
        spec: s, id: s.id ?? `cks-${alias}`, name: s.name ?? `store ${alias}`, state: state!, code: code ?? null, gone: state === 'GONE',
        stateSince: T0 + (s.stateSince ? ms(s.stateSince) : -ms('1d')), trustAnchorNotAfter: s.trustAnchorExpiresIn ? T0 + ms(s.trustAnchorExpiresIn) : null,
      });
    }
    for (const [alias, c] of Object.entries(sc.clusters ?? {})) {
      this.clusters.set(alias, {
        spec: c, id: c.id ?? `cluster-${alias}`, state: c.state ?? 'ACTIVE', hsms: c.hsms ?? [], certNotAfter: c.certExpiresIn ? T0 + ms(c.certExpiresIn) : null,
        gone: c.gone ?? false, stateSince: T0 + (c.stateSince ? ms(c.stateSince) : -ms('1d')),
      });
    }
  }

  alias(subjectKey: string): string {
    const [kind, rest] = [subjectKey.slice(0, subjectKey.indexOf(':')), subjectKey.slice(subjectKey.indexOf(':') + 1)];
    const [account, region, id] = rest.split('/');
    const t = [...this.targets].find(([, v]) => v.spec.account === account && v.spec.region === region)?.[0];
    if (kind === 'target') return t ?? rest;
    if (kind === 'store') return [...this.stores].find(([, v]) => v.id === id && v.spec.target === t)?.[0] ?? rest;
    return [...this.clusters].find(([, v]) => v.id === id && v.spec.target === t)?.[0] ?? rest;
  }

  apply(p: PollSpec): void {
    for (const [alias, v] of Object.entries(p.targets ?? {})) {
      const t = this.targets.get(alias)!;
      t.down = v === 'up' ? null : (v.split(':')[1] ?? 'ConnectionRefused');
    }
    for (const [alias, v] of Object.entries(p.cloudhsm ?? {})) this.targets.get(alias)!.cloudHsmDown = v === 'down';
    for (const [alias, v] of Object.entries(p.stores ?? {})) {
      const s = this.stores.get(alias)!;
      const spec = typeof v === 'string' ? { state: v } : v;
      if (spec.name !== undefined) s.name = spec.name;
      if (spec.state !== undefined) {
        const [state, code] = spec.state.split('/');
        s.gone = state === 'GONE';
        if (!s.gone) { if (state !== s.state) s.dirty = true; s.state = state!; s.code = code ?? null; }
      }
    }
    for (const [alias, v] of Object.entries(p.clusters ?? {})) {
      const c = this.clusters.get(alias)!;
      if (v.state !== undefined) c.state = v.state;
      if (v.hsms !== undefined) c.hsms = v.hsms;
      if (v.gone !== undefined) c.gone = v.gone;
      if (v.certExpiresIn !== undefined) c.certNotAfter = T0 + ms(v.certExpiresIn);
    }
    for (const [alias, v] of Object.entries(p.probes ?? {})) {
      const pr = this.probes.get(alias) ?? { mode: 'ok', failures: 0, last: null };
      pr.mode = v;
      this.probes.set(alias, pr);
    }
  }

  poll(interval: number, probeEnabled: boolean): Snapshot {
    this.pollId += 1;
    const at = this.at;
    const prevStores = new Map((this.prev?.stores ?? []).map((s) => [`${s.accountId}/${s.region}/${s.id}`, s]));
    const prevClusters = new Map((this.prev?.clusters ?? []).map((c) => [`${c.accountId}/${c.region}/${c.id}`, c]));
    const stores: StoreRecord[] = [];
    const clusters: ClusterRecord[] = [];
    const targets: TargetOutcome[] = [];
    const probes: ProbeResult[] = [];
    for (const [talias, t] of this.targets) {
      const { account, region } = t.spec;
      const mine = [...this.stores].filter(([, s]) => s.spec.target === talias);
      const hasHsm = mine.some(([, s]) => !s.gone && (s.spec.type ?? 'AWS_CLOUDHSM') === 'AWS_CLOUDHSM');
      let cloudHsm: TargetOutcome['cloudHsm'] = null;
      if (t.down) {
        t.failures += 1;
        for (const s of this.prev?.stores ?? []) if (s.accountId === account && s.region === region) stores.push({ ...s, stale: true });
        for (const c of this.prev?.clusters ?? []) if (c.accountId === account && c.region === region) clusters.push({ ...c, stale: true });
        const before = this.prev?.targets.find((x) => x.accountId === account && x.region === region);
        if (before?.cloudHsm) cloudHsm = { ok: false, error: { code: t.down, message: 'target down' } };
      } else {
        t.failures = 0;
        t.lastSuccessAt = at;
        for (const [salias, s] of mine) {
          if (s.gone) continue;
          const type = s.spec.type ?? 'AWS_CLOUDHSM';
          const key = `${account}/${region}/${s.id}`;
          const old = prevStores.get(key);
          if (old ? old.state !== s.state : s.dirty) s.stateSince = at;
          s.dirty = false;
          const cl = s.spec.cluster ? this.clusters.get(s.spec.cluster) : undefined;
          stores.push({
            accountId: account, accountName: t.spec.name ?? talias, region, id: s.id, name: s.name, type, state: s.state, errorCode: s.state === 'FAILED' ? s.code : null,
            clusterId: type === 'AWS_CLOUDHSM' ? (cl?.id ?? `cluster-${s.spec.cluster ?? salias}`) : null,
            xks: type === 'EXTERNAL_KEY_STORE' ? { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: 'AKIA' } : null,
            trustAnchorSha256: type === 'AWS_CLOUDHSM' ? 'ab'.repeat(32) : null, trustAnchorNotAfter: s.trustAnchorNotAfter, createdAt: T0 - ms('100d'), stateSince: s.stateSince, stale: false,
          });
          if (probeEnabled && type === 'AWS_CLOUDHSM' && s.state === 'CONNECTED') {
            // As src/snapshot/build.ts does: only failing answers count; throttled keeps the last verdict.
            const pr = this.probes.get(salias) ?? { mode: 'ok', failures: 0, last: null };
            this.probes.set(salias, pr);
            const base = { accountId: account, region, storeId: s.id, durationMs: 10, at };
            let result: ProbeResult | null;
            if (pr.mode === 'ok' || pr.mode === 'fail') {
              pr.failures = pr.mode === 'fail' ? pr.failures + 1 : 0;
              result = { ...base, ok: pr.mode === 'ok', outcome: pr.mode === 'ok' ? 'ok' : 'failing', error: pr.mode === 'fail' ? { code: 'KMSInternalException', message: 'probe failed' } : null, consecutiveFailures: pr.failures };
            } else if (pr.mode === 'denied') {
              result = { ...base, ok: pr.last?.ok ?? false, outcome: 'denied', error: { code: 'AccessDeniedException', message: 'not authorized to perform: kms:GenerateRandom' }, consecutiveFailures: pr.failures };
            } else {
              result = pr.last ? { ...pr.last, outcome: 'throttled', error: { code: 'ThrottlingException', message: 'Rate exceeded' }, at } : null;
            }
            pr.last = result;
            if (result) probes.push(result);
          }
        }
        if (hasHsm) {
          if (t.cloudHsmDown) {
            cloudHsm = { ok: false, error: { code: 'ServiceUnavailable', message: 'cloudhsm down' } };
            for (const c of this.prev?.clusters ?? []) if (c.accountId === account && c.region === region) clusters.push({ ...c, stale: true });
          } else {
            cloudHsm = { ok: true, error: null };
            for (const [, c] of this.clusters) {
              if (c.spec.target !== talias || c.gone) continue;
              const old = prevClusters.get(`${account}/${region}/${c.id}`);
              if (old && old.state !== c.state) c.stateSince = at;
              clusters.push({
                accountId: account, region, id: c.id, state: c.state, stateMessage: null, vpcId: 'vpc-1', hsmType: 'hsm2m.medium',
                hsms: c.hsms.map((h, i) => { const [state, az] = h.split('@'); return { id: `hsm-${c.id}-${i}`, availabilityZone: az ?? null, subnetId: null, eniIp: null, state: state! }; }),
                certificateNotAfter: c.certNotAfter, stateSince: c.stateSince, stale: false,
              });
            }
          }
        }
      }
      targets.push({
        accountId: account, accountName: t.spec.name ?? talias, region, status: t.down ? 'failed' : 'ok', ok: !t.down, error: t.down ? { code: t.down, message: 'target down' } : null, durationMs: 100,
        lastSuccessAt: t.lastSuccessAt, consecutiveFailures: t.failures, cloudHsm,
      });
    }
    const snap: Snapshot = { pollId: this.pollId, startedAt: at - 1000, finishedAt: at, stores, clusters, targets, probes };
    this.before = this.prev;
    this.prev = snap;
    this.at += interval;
    return snap;
  }
}

function render(n: Notification, w: World): string | { digest: string[] } {
  // A severity other than the condition's default (FLAPPING escalated) is shown: "firing FLAPPING s1 (critical)".
  const one = (a: AlertNotification): string => `${a.kind} ${a.condition} ${w.alias(a.alertKey.slice(a.alertKey.indexOf(':') + 1))}${a.severity === defaultSeverity(a.condition) ? '' : ` (${a.severity})`}`;
  return n.kind === 'digest' ? { digest: n.items.map(one).sort() } : one(n);
}
const normaliseExpect = (e: (string | { digest: string[] })[]): (string | { digest: string[] })[] =>
  e.map((x) => (typeof x === 'string' ? x : { digest: [...x.digest].sort() }));

interface Run { ids: string[]; perPoll: { expect: unknown; got: unknown; firing?: unknown; gotFiring?: unknown; label: string }[]; all: AlertNotification[] }

function play(sc: Scenario): Run {
  const alerting = alertingDefaults(normaliseDurations(sc.alerting, ['repeatInterval', 'certificateExpiryWarning', 'clusterUpdateTimeout']) as never);
  const probe = probeConfig(sc.probe as never);
  const interval = ms(sc.interval ?? '1m');
  const w = new World(sc);
  let state: AlertState = emptyAlertState();
  const run: Run = { ids: [], perPoll: [], all: [] };
  sc.polls.forEach((p, i) => {
    for (let r = 0; r < (p.repeat ?? 1); r++) {
      if (r === 0) { w.apply(p); if (p.after) w.at += ms(p.after) - interval; }
      const snap = w.poll(interval, probe.enabled);
      const input = { state, snapshot: snap, previous: w.before, alerting, probe, now: snap.finishedAt, guidanceFor: fakeGuidance };
      const out = evaluateAlerts(input);
      // Replay invariant: the same poll evaluated again from the same state gives the same ids.
      expect(evaluateAlerts({ ...input, state: JSON.parse(JSON.stringify(state)) as AlertState }).notifications.map((n) => n.id)).toEqual(out.notifications.map((n) => n.id));
      // JSON round trip: what the lead persists must be enough.
      state = JSON.parse(JSON.stringify(out.state)) as AlertState;
      run.all.push(...out.notifications);
      const delivered = groupForDelivery(out.notifications, alerting.groupThreshold);
      run.ids.push(...delivered.map((n) => n.id));
      const firing = Object.values(state.alerts).filter((e) => e.firing).map((e) => `${e.condition} ${w.alias(e.subjectKey)}`).sort();
      run.perPoll.push({
        label: `poll ${i + 1}${p.repeat ? ` (repeat ${r + 1}/${p.repeat})` : ''} at +${(snap.finishedAt - T0) / 60_000}m`,
        expect: normaliseExpect(p.expect ?? []), got: delivered.map((n) => render(n, w)),
        firing: p.firing ? [...p.firing].sort() : undefined, gotFiring: p.firing ? firing : undefined,
      });
    }
  });
  return run;
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

describe('alert scenarios', () => {
  it('has scenarios', () => expect(files.length).toBeGreaterThan(10));
  it.each(files)('%s', (file) => {
    const sc = parse(readFileSync(join(DIR, file), 'utf8')) as Scenario;
    const run = play(sc);
    for (const p of run.perPoll) {
      expect({ poll: p.label, notifications: p.got }).toEqual({ poll: p.label, notifications: p.expect });
      if (p.firing) expect({ poll: p.label, firing: p.gotFiring }).toEqual({ poll: p.label, firing: p.firing });
    }
    // Lifecycle invariant per alert key: firing, then updates/reminders, then at most one resolved.
    const open = new Map<string, boolean>();
    for (const n of run.all) {
      const isOpen = open.get(n.alertKey) ?? false;
      if (n.kind === 'firing' && !isOpen) open.set(n.alertKey, true);
      else if (n.kind === 'resolved') { expect(isOpen, `${n.id}: resolved without firing`).toBe(true); open.set(n.alertKey, false); }
      else expect(isOpen, `${n.id}: ${n.kind} outside an incident`).toBe(true);
    }
    expect(new Set(run.ids).size, 'notification ids are unique').toBe(run.ids.length);
    // Determinism: a second run of the same scenario yields the same ids.
    expect(play(sc).ids).toEqual(run.ids);
  });
});
