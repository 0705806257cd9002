import { describe, expect, it } from 'vitest';
import {
  emptyAlertState, evaluateAlerts, firingAlerts, firingCountBySeverity,
  type AlertState, type EvaluateInput,
} from '../../src/alert/engine.js';
import type { AlertNotification, Snapshot, StoreRecord } from '../../src/model.js';
import { alerting, cluster, DAY, fakeGuidance, HOUR, hsm, MIN, probeConfig, snapshot, store, T0, target } from '../diff/builders.js';

/** Runs snapshots through the engine, returning every poll's notifications and the final state. */
function run(snaps: Snapshot[], over: Partial<EvaluateInput> = {}, state: AlertState = emptyAlertState()) {
  const polls: AlertNotification[][] = [];
  for (const snap of snaps) {
    const out = evaluateAlerts({ state, snapshot: snap, alerting: alerting(), probe: probeConfig(), now: snap.finishedAt, guidanceFor: fakeGuidance, ...over });
    polls.push(out.notifications);
    state = out.state;
  }
  return { polls, state, all: polls.flat() };
}

const failed = (id: string, code = 'INVALID_CREDENTIALS', over: Partial<StoreRecord> = {}) => store({ id, state: 'FAILED', errorCode: code, ...over });
const clusters = (...ids: string[]) => ids.map((id) => cluster({ id: `cluster-${id}` }));

describe('evaluateAlerts', () => {
  it('fires after confirmations, carries guidance and subject, resolves once', () => {
    const { polls, state } = run([
      snapshot(1, T0, { stores: [failed('s1', 'INVALID_CREDENTIALS', { stateSince: T0 - 5 * MIN })], clusters: clusters('s1') }),
      snapshot(2, T0 + MIN, { stores: [failed('s1', 'INVALID_CREDENTIALS', { stateSince: T0 - 5 * MIN })], clusters: clusters('s1') }),
      snapshot(3, T0 + 2 * MIN, { stores: [store({ id: 's1' })], clusters: clusters('s1') }),
      snapshot(4, T0 + 3 * MIN, { stores: [store({ id: 's1' })], clusters: clusters('s1') }),
    ]);
    expect(polls.map((p) => p.map((n) => n.kind))).toEqual([[], ['firing'], [], ['resolved']]);
    const [firing] = polls[1]!;
    expect(firing).toMatchObject({
      id: `FAILED:store:111111111111/eu-west-1/s1:firing:${T0 - 5 * MIN}:p2`,
      alertKey: 'FAILED:store:111111111111/eu-west-1/s1', severity: 'critical', condition: 'FAILED', since: T0 - 5 * MIN, createdAt: T0 + MIN,
      subject: { storeId: 's1', errorCode: 'INVALID_CREDENTIALS', clusterId: 'cluster-s1', state: 'FAILED' },
      guidance: { title: 'FAILED s1', cause: 'INVALID_CREDENTIALS' },
    });
    const [resolved] = polls[3]!;
    expect(resolved).toMatchObject({ id: `FAILED:store:111111111111/eu-west-1/s1:resolved:${T0 + MIN}`, since: T0 + 2 * MIN, subject: { state: 'CONNECTED', errorCode: 'INVALID_CREDENTIALS' } });
    expect(state.alerts).toEqual({});
  });

  it('honours severityFor and confirmations = 1', () => {
    const { polls } = run([snapshot(1, T0, { stores: [failed('s1')], clusters: clusters('s1') })], { alerting: alerting({ confirmations: 1 }), severityFor: () => 'info' });
    expect(polls[0]).toHaveLength(1);
    expect(polls[0]![0]!.severity).toBe('info');
  });

  it('is deterministic: the same inputs give the same ids and state', () => {
    const snaps = [0, 1, 2, 3].map((i) => snapshot(i + 1, T0 + i * HOUR * 2, { stores: [failed('a'), failed('b', 'NETWORK_ERRORS')], clusters: clusters('a', 'b') }));
    const a = run(snaps);
    const b = run(snaps);
    expect(a.all.map((n) => n.id)).toEqual(b.all.map((n) => n.id));
    expect(a.state).toEqual(b.state);
    expect(a.all.map((n) => n.id)).toContain(`FAILED:store:111111111111/eu-west-1/a:reminder:${T0 + 2 * HOUR}:1`);
  });

  it('ids do not depend on now: a replay at another wall-clock time yields the same ids', () => {
    const s1 = snapshot(1, T0, { stores: [failed('s1')], clusters: clusters('s1') });
    const s2 = snapshot(2, T0 + MIN, { stores: [failed('s1')], clusters: clusters('s1') });
    const state = run([s1]).state;
    const first = evaluateAlerts({ state, snapshot: s2, alerting: alerting(), probe: probeConfig(), now: T0 + MIN, guidanceFor: fakeGuidance });
    const replay = evaluateAlerts({ state, snapshot: s2, alerting: alerting(), probe: probeConfig(), now: T0 + MIN + 37_000, guidanceFor: fakeGuidance });
    expect(replay.notifications.map((n) => n.id)).toEqual(first.notifications.map((n) => n.id));
    expect(first.notifications).toHaveLength(1);
  });

  it('evaluating the same pollId twice against the state it produced is a no-op', () => {
    const s1 = snapshot(1, T0, { stores: [failed('s1')], clusters: clusters('s1') });
    const once = run([s1]);
    const twice = evaluateAlerts({ state: once.state, snapshot: s1, alerting: alerting(), probe: probeConfig(), now: T0, guidanceFor: fakeGuidance });
    expect(twice.state).toBe(once.state);
    expect(twice.notifications).toEqual([]);
  });

  it('state survives a JSON round trip', () => {
    const { state } = run([0, 1].map((i) => snapshot(i + 1, T0 + i * MIN, { stores: [failed('s1')], clusters: clusters('s1') })));
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  describe('clock jump', () => {
    it('an hour forward fires nothing on its own: confirmations count polls, not time', () => {
      const stores = [store({ id: 'ok' }), failed('f1')];
      const { polls } = run([
        snapshot(1, T0, { stores, clusters: clusters('ok', 'f1') }),
        snapshot(2, T0 + HOUR + MIN, { stores, clusters: clusters('ok', 'f1') }), // jump
      ]);
      // f1 fires on its second poll as it would have without the jump; nothing else.
      expect(polls[1]!.map((n) => `${n.kind} ${n.condition} ${n.subject.storeId}`)).toEqual(['firing FAILED f1']);
    });

    it('may legitimately bring a reminder forward', () => {
      const snaps = [
        snapshot(1, T0, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(2, T0 + MIN, { stores: [failed('f1')], clusters: clusters('f1') }), // fires
        snapshot(3, T0 + 3 * HOUR, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(4, T0 + 4 * HOUR + 2 * MIN, { stores: [failed('f1')], clusters: clusters('f1') }), // jump: 4h after firing
      ];
      expect(run(snaps).polls.map((p) => p.map((n) => n.kind))).toEqual([[], ['firing'], [], ['reminder']]);
    });

    it('backwards sends no reminder until the interval has passed by the new clock, counted from the step', () => {
      const snaps = [
        snapshot(1, T0, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(2, T0 + MIN, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(3, T0 - HOUR, { stores: [failed('f1')], clusters: clusters('f1') }), // step back
        snapshot(4, T0 + 3 * HOUR - MIN, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(5, T0 + 3 * HOUR, { stores: [failed('f1')], clusters: clusters('f1') }), // 4 h after the step
      ];
      expect(run(snaps).polls.map((p) => p.map((n) => n.kind))).toEqual([[], ['firing'], [], [], ['reminder']]);
    });

    it('a step back of 30 days holds reminders back by at most one repeatInterval, not by the step', () => {
      const snaps = [
        snapshot(1, T0, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(2, T0 + MIN, { stores: [failed('f1')], clusters: clusters('f1') }), // fires
        snapshot(3, T0 + 2 * HOUR - 30 * DAY, { stores: [failed('f1')], clusters: clusters('f1') }), // step back 30 days
        snapshot(4, T0 + 6 * HOUR - 30 * DAY, { stores: [failed('f1')], clusters: clusters('f1') }), // 4 h later
        snapshot(5, T0 + 10 * HOUR - 30 * DAY, { stores: [failed('f1')], clusters: clusters('f1') }), // 4 h later
      ];
      expect(run(snaps).polls.map((p) => p.map((n) => n.kind))).toEqual([[], ['firing'], [], ['reminder'], ['reminder']]);
    });

    it('forward by a day brings one reminder early, not a burst', () => {
      const snaps = [
        snapshot(1, T0, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(2, T0 + MIN, { stores: [failed('f1')], clusters: clusters('f1') }), // fires
        snapshot(3, T0 + 2 * MIN + DAY, { stores: [failed('f1')], clusters: clusters('f1') }), // step forward a day
        snapshot(4, T0 + 3 * MIN + DAY, { stores: [failed('f1')], clusters: clusters('f1') }),
        snapshot(5, T0 + 4 * MIN + DAY, { stores: [failed('f1')], clusters: clusters('f1') }),
      ];
      expect(run(snaps).polls.map((p) => p.map((n) => n.kind))).toEqual([[], ['firing'], ['reminder'], [], []]);
    });
  });

  describe('error code change while FAILED', () => {
    it('sends one update with the new code after confirmations, with its own id, and restarts the reminder timer', () => {
      const at = (i: number) => T0 + i * HOUR;
      const snaps = [
        snapshot(1, at(0), { stores: [failed('s1', 'INVALID_CREDENTIALS')], clusters: clusters('s1') }),
        snapshot(2, at(1), { stores: [failed('s1', 'INVALID_CREDENTIALS')], clusters: clusters('s1') }),
        snapshot(3, at(2), { stores: [failed('s1', 'NETWORK_ERRORS')], clusters: clusters('s1') }),
        snapshot(4, at(3), { stores: [failed('s1', 'NETWORK_ERRORS')], clusters: clusters('s1') }),
        snapshot(5, at(6), { stores: [failed('s1', 'NETWORK_ERRORS')], clusters: clusters('s1') }),
        snapshot(6, at(7), { stores: [failed('s1', 'NETWORK_ERRORS')], clusters: clusters('s1') }),
      ];
      const { polls } = run(snaps);
      expect(polls.map((p) => p.map((n) => `${n.kind}:${n.subject.errorCode}`))).toEqual([[], ['firing:INVALID_CREDENTIALS'], [], ['firing:NETWORK_ERRORS'], [], ['reminder:NETWORK_ERRORS']]);
      expect(polls[3]![0]!.id).toBe(`FAILED:store:111111111111/eu-west-1/s1:firing:${at(1)}:1`);
      expect(polls[3]![0]!.subject.details['Previous error code']).toBe('INVALID_CREDENTIALS');
      expect(polls[5]![0]!.id).toBe(`FAILED:store:111111111111/eu-west-1/s1:reminder:${at(1)}:1`);
    });
  });

  describe('removal', () => {
    it('resolves a firing alert when the store is gone from two successful polls, saying so', () => {
      const s = [failed('s1')];
      const { polls } = run([
        snapshot(1, T0, { stores: s, clusters: clusters('s1') }),
        snapshot(2, T0 + MIN, { stores: s, clusters: clusters('s1') }),
        snapshot(3, T0 + 2 * MIN, {}),
        snapshot(4, T0 + 3 * MIN, {}),
      ]);
      expect(polls[2]).toEqual([]);
      expect(polls[3]!.map((n) => [n.kind, n.subject.details.Resolution])).toEqual([['resolved', 'The key store no longer exists']]);
    });

    it('needs two absences even with confirmations = 1', () => {
      const s = [failed('s1')];
      const over = { alerting: alerting({ confirmations: 1 }) };
      const { polls } = run([snapshot(1, T0, { stores: s, clusters: clusters('s1') }), snapshot(2, T0 + MIN, {}), snapshot(3, T0 + 2 * MIN, {})], over);
      expect(polls.map((p) => p.map((n) => n.kind))).toEqual([['firing'], [], ['resolved']]);
    });

    it('resolves alerts of a target that is no longer monitored', () => {
      const other = target({ accountId: '222222222222' });
      const { polls } = run([
        snapshot(1, T0, { stores: [failed('s1')], clusters: clusters('s1') }),
        snapshot(2, T0 + MIN, { stores: [failed('s1')], clusters: clusters('s1') }),
        snapshot(3, T0 + 2 * MIN, { targets: [other] }),
        snapshot(4, T0 + 3 * MIN, { targets: [other] }),
      ]);
      expect(polls[3]!.map((n) => n.subject.details.Resolution)).toEqual(['The account/region is no longer monitored']);
    });
  });

  describe('stale data', () => {
    it('a stale FAILED record with a failed target neither fires nor resolves; a stale CONNECTED one opens nothing', () => {
      const down = (n: number) => target({ ok: false, consecutiveFailures: n, error: { code: 'Timeout', message: 't' }, cloudHsm: { ok: false, error: null } });
      const { polls, state } = run([
        snapshot(1, T0, { stores: [failed('s1'), store({ id: 's2' })], clusters: clusters('s1', 's2') }),
        snapshot(2, T0 + MIN, { stores: [failed('s1'), store({ id: 's2' })], clusters: clusters('s1', 's2') }),
        ...[1, 2].map((n) => snapshot(2 + n, T0 + (2 + n) * MIN, {
          stores: [failed('s1', 'INVALID_CREDENTIALS', { stale: true }), store({ id: 's2', stale: true })], clusters: clusters('s1', 's2').map((c) => ({ ...c, stale: true })), targets: [down(n)],
        })),
      ], { alerting: alerting({ targetDownAfter: 5 }) });
      expect(polls.slice(2)).toEqual([[], []]);
      expect(firingAlerts(state).map((a) => a.alertKey)).toEqual(['FAILED:store:111111111111/eu-west-1/s1']);
    });

    it('an alert whose subject vanished while the target is down is frozen, not resolved', () => {
      const down = target({ ok: false, consecutiveFailures: 1, error: { code: 'Timeout', message: 't' } });
      const { polls, state } = run([
        snapshot(1, T0, { stores: [failed('s1')], clusters: clusters('s1') }),
        snapshot(2, T0 + MIN, { stores: [failed('s1')], clusters: clusters('s1') }),
        snapshot(3, T0 + 2 * MIN, { targets: [down] }),
        snapshot(4, T0 + 3 * MIN, { targets: [{ ...down, consecutiveFailures: 2 }] }),
      ]);
      expect(polls.slice(2)).toEqual([[], []]);
      expect(firingAlerts(state)).toHaveLength(1);
    });
  });

  describe('cluster findings', () => {
    it('each fires once from one snapshot pair and resolves once; subject names the store and cluster', () => {
      const bad = cluster({
        id: 'cluster-s1', state: 'DEGRADED', certificateNotAfter: T0 + 5 * DAY,
        hsms: [hsm('h1', 'eu-west-1a', 'DEGRADED')],
      });
      const empty = cluster({ id: 'cluster-s2', hsms: [] });
      const stores = [store({ id: 's1', trustAnchorNotAfter: T0 + 2 * DAY }), store({ id: 's2' }), store({ id: 's3' })];
      const badSnap = (i: number) => snapshot(i, T0 + i * MIN, { stores, clusters: [bad, empty] }); // cluster-s3 missing
      const good = (i: number) => snapshot(i, T0 + i * MIN, { stores: stores.map((s) => ({ ...s, trustAnchorNotAfter: null })), clusters: clusters('s1', 's2', 's3') });
      const { polls, state } = run([badSnap(1), badSnap(2), badSnap(3), good(4), good(5)]);
      const fired = polls[1]!.map((n) => `${n.condition} ${n.subject.storeId} ${n.subject.clusterId} ${n.severity}`).sort();
      expect(fired).toEqual([
        'CLUSTER_CERT_EXPIRING s1 cluster-s1 warning',
        'CLUSTER_MISSING s3 cluster-s3 critical',
        'CLUSTER_NOT_ACTIVE s1 cluster-s1 warning',
        'HSM_DEGRADED s1 cluster-s1 warning',
        'NO_ACTIVE_HSMS s1 cluster-s1 critical',
        'NO_ACTIVE_HSMS s2 cluster-s2 critical',
        'TRUST_ANCHOR_EXPIRING s1 cluster-s1 warning',
      ]);
      expect(polls[1]!.find((n) => n.condition === 'HSM_DEGRADED')!.subject.details['Degraded HSMs']).toBe('h1 (eu-west-1a)');
      expect(polls[1]!.find((n) => n.condition === 'TRUST_ANCHOR_EXPIRING')!.subject.details['Days left']).toBe('1');
      expect(polls[2]).toEqual([]);
      expect(polls[3]).toEqual([]);
      expect(polls[4]!.map((n) => n.kind)).toEqual(Array(7).fill('resolved'));
      expect(state.alerts).toEqual({});
    });

    it('a failed CloudHSM enrichment freezes cluster findings only', () => {
      const degraded = cluster({ id: 'cluster-s1', hsms: [hsm('h1', 'a'), hsm('h2', 'b'), hsm('h3', 'c', 'DEGRADED')] });
      const first = run([1, 2].map((i) => snapshot(i, T0 + i * MIN, { stores: [store({ id: 's1' })], clusters: [degraded] })));
      expect(first.all.map((n) => n.condition)).toEqual(['HSM_DEGRADED']);
      const hsmDown = target({ cloudHsm: { ok: false, error: { code: 'ServiceUnavailable', message: 'x' } } });
      const later = run([3, 4, 5].map((i) => snapshot(i, T0 + i * MIN, { stores: [failed('s1')], clusters: [{ ...degraded, hsms: [], stale: true }], targets: [hsmDown] })), {}, first.state);
      expect(later.all.map((n) => `${n.kind} ${n.condition}`)).toEqual(['firing FAILED']);
      expect(firingAlerts(later.state).map((a) => a.condition).sort()).toEqual(['FAILED', 'HSM_DEGRADED']);
    });

    it('does not evaluate external key stores against clusters', () => {
      const { all } = run([1, 2].map((i) => snapshot(i, T0 + i * MIN, { stores: [store({ id: 'x1', type: 'EXTERNAL_KEY_STORE' })], targets: [target({ cloudHsm: null })] })));
      expect(all).toEqual([]);
    });
  });

  it('TARGET_DOWN fires at targetDownAfter consecutive failures, with the error in the subject', () => {
    const down = (n: number) => target({ ok: false, consecutiveFailures: n, lastSuccessAt: T0 - MIN, error: { code: 'AccessDenied', message: 'not authorized' } });
    const { polls } = run([1, 2, 3].map((n) => snapshot(n, T0 + n * MIN, { targets: [down(n)] })));
    expect(polls.map((p) => p.length)).toEqual([0, 0, 1]);
    expect(polls[2]![0]).toMatchObject({ condition: 'TARGET_DOWN', severity: 'warning', since: T0 - MIN, subject: { storeId: null, details: { Error: 'AccessDenied', 'Failed polls': '3' } } });
  });

  it('PROBE_FAILING only when the probe is enabled, on CONNECTED CloudHSM stores; a missing probe result is unknown', () => {
    const probe = (n: number) => ({ accountId: '111111111111', region: 'eu-west-1', storeId: 's1', ok: false, durationMs: 5, error: { code: 'KMSInternalException', message: 'x' }, consecutiveFailures: n, at: T0 });
    const snaps = [3, 4].map((n) => snapshot(n, T0 + n * MIN, { stores: [store({ id: 's1' })], clusters: clusters('s1'), probes: [probe(n)] }));
    expect(run(snaps).all).toEqual([]);
    const on = { probe: probeConfig({ enabled: true }) };
    const fired = run(snaps, on);
    expect(fired.all.map((n) => `${n.kind} ${n.condition} ${n.severity}`)).toEqual(['firing PROBE_FAILING critical']);
    const noResult = run([snapshot(5, T0 + 5 * MIN, { stores: [store({ id: 's1' })], clusters: clusters('s1') })], on, fired.state);
    expect(noResult.all).toEqual([]);
    expect(firingAlerts(noResult.state)).toHaveLength(1);
  });

  it('firingAlerts orders critical first; counts by severity include zeros', () => {
    const snaps = [1, 2].map((i) => snapshot(i, T0 + i * MIN, { stores: [store({ id: 'd', state: 'DISCONNECTED', type: 'EXTERNAL_KEY_STORE', clusterId: null }), failed('f')], clusters: clusters('f') }));
    const { state } = run(snaps);
    expect(firingAlerts(state).map((a) => [a.condition, a.severity])).toEqual([['FAILED', 'critical'], ['DISCONNECTED', 'warning']]);
    expect(firingCountBySeverity(state)).toEqual({ critical: 1, warning: 1, info: 0 });
    expect(firingCountBySeverity(emptyAlertState())).toEqual({ critical: 0, warning: 0, info: 0 });
  });

  it('handles 20,000 stores (fires and resolves every tenth)', () => {
    const N = 20_000;
    const mk = (i: number, state: string): StoreRecord => store({
      id: `cks-${i}`, region: ['eu-west-1', 'us-east-1', 'ap-south-1', 'sa-east-1'][i % 4]!, state, errorCode: state === 'FAILED' ? 'NETWORK_ERRORS' : null,
    });
    const regions = ['eu-west-1', 'us-east-1', 'ap-south-1', 'sa-east-1'];
    const targets = regions.map((region) => target({ region }));
    const clusterList = Array.from({ length: N }, (_, i) => cluster({ id: `cluster-cks-${i}`, region: regions[i % 4]! }));
    const healthy = (p: number) => snapshot(p, T0 + p * MIN, { stores: Array.from({ length: N }, (_, i) => mk(i, 'CONNECTED')), clusters: clusterList, targets });
    const broken = (p: number) => snapshot(p, T0 + p * MIN, { stores: Array.from({ length: N }, (_, i) => mk(i, i % 10 === 0 ? 'FAILED' : 'CONNECTED')), clusters: clusterList, targets });
    // Correctness at fleet size only: speed is measured by `npm run bench`, never asserted here.
    const { polls, state } = run([healthy(1), broken(2), broken(3), healthy(4), healthy(5)]);
    expect(polls.map((p) => p.length)).toEqual([0, 0, N / 10, 0, N / 10]);
    expect(state.alerts).toEqual({});
  });
});

describe('FLAPPING history', () => {
  // A store flipping at every poll for a day with a 30-day window: the track stays bounded and the
  // alert stays one incident.
  it('keeps a bounded track and one incident however long the store flaps', () => {
    const alertingCfg = alerting({ flapping: { changes: 4, window: 30 * DAY } });
    let state = emptyAlertState();
    let prev: Snapshot | null = null;
    const fired: string[] = [];
    for (let p = 1; p <= 2000; p++) {
      const at = T0 + p * MIN;
      const st = p % 2 === 0 ? 'FAILED' : 'CONNECTED';
      const s = store({ id: 'cks-flap', state: st, errorCode: st === 'FAILED' ? 'NETWORK_ERRORS' : null, stateSince: p === 1 ? T0 - DAY : at });
      const snap = snapshot(p, at, { stores: [s] });
      const out = evaluateAlerts({ state, snapshot: snap, previous: prev, alerting: alertingCfg, probe: probeConfig(), now: at, guidanceFor: fakeGuidance });
      // Reminders every repeatInterval (4h) are expected; firing/resolved make the incident.
      fired.push(...out.notifications.filter((n) => n.condition === 'FLAPPING' && n.kind !== 'reminder').map((n) => `${n.kind}:${n.severity}@${p}`));
      state = out.state;
      prev = snap;
    }
    expect(fired).toEqual(['firing:warning@5']);
    expect(Object.values(state.flaps ?? {})[0]!.points.length).toBeLessThanOrEqual(256);
  });
});
