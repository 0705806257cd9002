// Alert subjects carry the account's OU path and tags (store, cluster and target findings), so every
// notification can be routed by owner and read by people.
import { describe, expect, it } from 'vitest';
import { emptyAlertState, evaluateAlerts, type AlertState } from '../../src/alert/engine.js';
import type { AlertNotification, Snapshot } from '../../src/model.js';
import { alerting, cluster, fakeGuidance, MIN, probeConfig, snapshot, store, T0, target } from '../diff/builders.js';

const owner = { ouPath: '/Prod/Payments', tags: { owner: 'payments' } };

function run(snaps: Snapshot[]): AlertNotification[] {
  let state: AlertState = emptyAlertState();
  const out: AlertNotification[] = [];
  for (const snap of snaps) {
    const r = evaluateAlerts({ state, snapshot: snap, alerting: alerting(), probe: probeConfig(), now: snap.finishedAt, guidanceFor: fakeGuidance });
    out.push(...r.notifications);
    state = r.state;
  }
  return out;
}

describe('owner facts in alert subjects', () => {
  it('store and cluster findings carry the store\'s OU path and tags', () => {
    const failed = store({ id: 's1', state: 'FAILED', errorCode: 'NETWORK_ERRORS', ...owner });
    const connected = store({ id: 's2', ...owner });
    const noHsm = cluster({ id: 'cluster-s2', hsms: [] });
    const snaps = [0, 1].map((i) => snapshot(i + 1, T0 + i * MIN, { stores: [failed, connected], clusters: [cluster({ id: 'cluster-s1' }), noHsm], targets: [target(owner)] }));
    const fired = run(snaps);
    expect(fired.map((n) => n.condition).sort()).toEqual(['FAILED', 'NO_ACTIVE_HSMS'].sort());
    for (const n of fired) expect(n.subject, n.condition).toMatchObject(owner);
  });

  it('a target-down finding carries the target\'s, and null / {} when the account has none', () => {
    const down = (i: number, facts = {}) => snapshot(i, T0 + i * MIN, { targets: [target({ ok: false, error: { code: 'AccessDenied', message: 'x' }, consecutiveFailures: i, ...facts })] });
    expect(run([down(1, owner), down(2, owner), down(3, owner)])[0]!.subject).toMatchObject(owner);
    expect(run([down(1), down(2), down(3)])[0]!.subject).toMatchObject({ ouPath: null, tags: {} });
  });
});
