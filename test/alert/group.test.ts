import { describe, expect, it } from 'vitest';
import { deliverySubjectKey, groupForDelivery } from '../../src/alert/group.js';
import type { AlertNotification, Condition, Severity } from '../../src/model.js';
import { fakeGuidance, T0 } from '../diff/builders.js';

function n(storeId: string | null, kind: AlertNotification['kind'] = 'firing', over: { condition?: Condition; severity?: Severity; region?: string; code?: string } = {}): AlertNotification {
  const condition = over.condition ?? (storeId ? 'FAILED' : 'TARGET_DOWN');
  const subject = {
    accountId: '111111111111', accountName: 'prod', region: over.region ?? 'us-east-1', storeId, storeName: storeId, storeType: 'EXTERNAL_KEY_STORE',
    state: 'FAILED', errorCode: over.code ?? 'XKS_PROXY_TIMED_OUT', clusterId: null, details: {},
  };
  const alertKey = `${condition}:${storeId ? `store:111111111111/${subject.region}/${storeId}` : `target:111111111111/${subject.region}`}`;
  return { id: `${alertKey}:${kind}:${T0}`, kind, severity: over.severity ?? 'warning', condition, alertKey, subject, guidance: fakeGuidance(condition, subject), since: T0, createdAt: T0 + 1 };
}
const many = (count: number, kind: AlertNotification['kind'] = 'firing') => Array.from({ length: count }, (_, i) => n(`s${i}`, kind));

describe('groupForDelivery', () => {
  it('passes notifications through up to the threshold', () => {
    const five = many(5);
    expect(groupForDelivery(five, 5)).toEqual(five);
    expect(groupForDelivery([], 5)).toEqual([]);
  });

  it('replaces more than threshold stores with one digest keeping every item; severity is the max', () => {
    const items = [...many(11), n('s11', 'firing', { severity: 'critical', code: 'NETWORK_ERRORS' })];
    const out = groupForDelivery(items, 5);
    expect(out).toHaveLength(1);
    const d = out[0]!;
    expect(d.kind).toBe('digest');
    if (d.kind !== 'digest') return;
    expect(d.items).toEqual(items);
    expect(d.severity).toBe('critical');
    expect(d.createdAt).toBe(T0 + 1);
    expect(d.id).toMatch(/^digest:[0-9a-f]{32}$/);
  });

  it('digest ids are deterministic from the items', () => {
    const a = groupForDelivery(many(8), 5)[0]!;
    const b = groupForDelivery(many(8), 5)[0]!;
    const c = groupForDelivery(many(9), 5)[0]!;
    expect(a.id).toBe(b.id);
    expect(c.id).not.toBe(a.id);
  });

  it('counts distinct stores, not notifications: several conditions of one store count once', () => {
    const items = [...many(5), n('s0', 'firing', { condition: 'PROBE_FAILING' }), n('s1', 'resolved', { condition: 'DISCONNECTED' })];
    expect(groupForDelivery(items, 5)).toEqual(items);
  });

  it('counts firing and resolved together, targets as subjects of their own', () => {
    const items = [...many(3), ...many(2, 'resolved').map((x, i) => ({ ...x, subject: { ...x.subject, storeId: `r${i}` } })), n(null, 'firing', { region: 'eu-west-1' })];
    expect(groupForDelivery(items, 5).map((x) => x.kind)).toEqual(['digest']);
  });

  it('groups reminders separately, by the same rule, so new firings are not buried', () => {
    const reminders = many(10, 'reminder');
    const fresh = [n('new1'), n('new2')];
    const out = groupForDelivery([...reminders.slice(0, 4), ...fresh, ...reminders.slice(4)], 5);
    expect(out.map((x) => x.kind)).toEqual(['firing', 'firing', 'digest']);
    expect(out[2]!.kind === 'digest' && out[2]!.items).toEqual(reminders);
  });

  it('passes drills through untouched', () => {
    const drill = n('d', 'drill');
    expect(groupForDelivery([...many(7), drill], 5).map((x) => x.kind)).toEqual(['digest', 'drill']);
  });

  it('the delivery subject is the store, else the cluster, else the target', () => {
    expect(deliverySubjectKey(n('s1').subject)).toBe('store:111111111111/us-east-1/s1');
    expect(deliverySubjectKey({ ...n(null).subject, clusterId: 'cluster-1' })).toBe('cluster:111111111111/us-east-1/cluster-1');
    expect(deliverySubjectKey(n(null).subject)).toBe('target:111111111111/us-east-1');
  });
});
