// Every alert carries the flat label set of issue 16 (src/alert/labels.ts): the notifications the engine
// decides, self-alerts, digests and /api/v1/alerts' firing list.
import { describe, expect, it } from 'vitest';
import { alertLabels, commonLabels, selfAlertLabels } from '../../src/alert/labels.js';
import { emptyAlertState, evaluateAlerts, firingAlerts, type AlertState } from '../../src/alert/engine.js';
import { groupForDelivery } from '../../src/alert/group.js';
import { selfAlertNotification } from '../../src/alert/self-alerts.js';
import { ALERT_NAMES, type AlertNotification, type AlertSubject, type Snapshot } from '../../src/model.js';
import { tagLabelName } from '../../src/util/prom-label.js';
import { matches, parseMatchers } from '../../src/util/matchers.js';
import { accountInfoLabels } from '../../src/metrics/render.js';
import { alerting, fakeGuidance, MIN, probeConfig, snapshot, store, T0, target } from '../diff/builders.js';

const subject = (over: Partial<AlertSubject> = {}): AlertSubject => ({
  accountId: '222222222222', accountName: 'payments-prod', region: 'eu-west-1', storeId: 'cks-1234567890abcdef0', storeName: 'payments-hsm',
  storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: 'cluster-abc', details: {},
  ouPath: '/Prod/Payments', tags: { Team: 'payments', CostCenter: 'cc-42', 'cost-center': 'other' }, ...over,
});

function run(snaps: Snapshot[]): { notifications: AlertNotification[]; state: AlertState } {
  let state: AlertState = emptyAlertState();
  const notifications: AlertNotification[] = [];
  for (const snap of snaps) {
    const r = evaluateAlerts({ state, snapshot: snap, alerting: alerting(), probe: probeConfig(), now: snap.finishedAt, guidanceFor: fakeGuidance });
    notifications.push(...r.notifications);
    state = r.state;
  }
  return { notifications, state };
}

describe('alertLabels', () => {
  it('a FAILED store: every fact as its label, tags as tag_<key>, code', () => {
    expect(alertLabels('FAILED', 'critical', subject())).toEqual({
      alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', account_id: '222222222222', account_name: 'payments-prod', region: 'eu-west-1',
      custom_key_store_id: 'cks-1234567890abcdef0', custom_key_store_name: 'payments-hsm', custom_key_store_type: 'AWS_CLOUDHSM',
      cloudhsm_cluster_id: 'cluster-abc', ou_path: '/Prod/Payments', code: 'NETWORK_ERRORS',
      // CostCenter and cost-center meet at tag_cost_center (the config refuses it; the first key in order wins, as in the metrics).
      tag_cost_center: 'cc-42', tag_team: 'payments',
    });
  });

  it('tag labels are named exactly as on keystore_watch_account_info', () => {
    const tags = { Team: 'payments', 'owner:email': 'a@b.c', 'Cost Center': 'x' };
    const labels = alertLabels('TARGET_DOWN', 'critical', subject({ tags }));
    const metric = accountInfoLabels({ accountId: '222222222222', accountName: 'payments-prod', ouPath: '/Prod/Payments', tags });
    for (const key of Object.keys(tags)) expect(labels[tagLabelName(key)]).toBe(metric[tagLabelName(key)]);
  });

  it('facts the alert lacks are left out (they match as the empty string)', () => {
    const labels = alertLabels('TARGET_DOWN', 'warning', subject({ storeId: null, storeName: null, storeType: null, errorCode: null, clusterId: null, ouPath: null, tags: {} }));
    expect(labels).toEqual({ alertname: 'KeystoreWatchTargetDown', severity: 'warning', account_id: '222222222222', account_name: 'payments-prod', region: 'eu-west-1' });
    expect(matches(parseMatchers('custom_key_store_id="", code=""'), labels)).toBe(true);
  });

  it('every condition has its runbook alert name', () => {
    for (const [c, name] of Object.entries(ALERT_NAMES)) expect(alertLabels(c as keyof typeof ALERT_NAMES, 'info', subject()).alertname).toBe(name);
  });

  it('a hostile tag cannot overwrite a fixed label', () => {
    // tagLabelName always prefixes tag_, so no tag can become severity or account_id.
    const labels = alertLabels('FAILED', 'critical', subject({ tags: { severity: 'info', account_id: 'x', __proto__: 'y' } as Record<string, string> }));
    expect(labels.severity).toBe('critical');
    expect(labels.account_id).toBe('222222222222');
    expect(labels.tag_severity).toBe('info');
  });

  it('commonLabels keeps what every set shares', () => {
    expect(commonLabels([{ a: '1', b: '2' }, { a: '1', b: '3' }, { a: '1' }])).toEqual({ a: '1' });
    expect(commonLabels([])).toEqual({});
  });
});

describe('labels travel with the alerts', () => {
  const owner = { ouPath: '/Prod/Payments', tags: { team: 'payments' } };
  const failed = (i: number) => snapshot(i, T0 + i * MIN, { stores: [store({ id: 's1', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: null, ...owner })], targets: [target(owner)] });

  it('engine notifications and the firing list carry them', () => {
    const { notifications, state } = run([failed(1), failed(2)]);
    expect(notifications).toHaveLength(1);
    const want = { alertname: 'KmsCustomKeyStoreFailed', severity: 'critical', custom_key_store_id: 's1', code: 'NETWORK_ERRORS', ou_path: '/Prod/Payments', tag_team: 'payments' };
    expect(notifications[0]!.labels).toMatchObject(want);
    expect(firingAlerts(state)[0]!.labels).toMatchObject(want);
  });

  it('a reminder says when its incident fired and when the previous message went', () => {
    const later = (i: number, at: number) => ({ ...failed(i), finishedAt: at });
    const { notifications } = run([failed(1), failed(2), later(3, T0 + 2 * MIN + 4 * 3_600_000)]);
    const reminder = notifications.find((n) => n.kind === 'reminder')!;
    expect(reminder.reminder).toEqual({ anchor: T0 + 2 * MIN, previous: T0 + 2 * MIN });
  });

  it('self-alerts and digests carry theirs', () => {
    const self = selfAlertNotification({ id: 'state-persist', severity: 'critical', summary: 's', detail: 'd', kind: 'firing', since: T0, firedAt: T0, createdAt: T0, host: 'h' });
    expect(self.labels).toEqual(selfAlertLabels('state-persist', 'critical'));
    expect(self.labels).toEqual({ alertname: 'KeystoreWatchDegraded', severity: 'critical', self_alert: 'state-persist' });
    const many = Array.from({ length: 6 }, (_, i) => ({ ...selfAlertNotification({ id: `x${i}`, severity: 'warning', summary: 's', detail: 'd', kind: 'firing', since: T0, firedAt: T0, createdAt: T0, host: 'h' }), subject: subject({ storeId: `cks-${i}` }) }));
    const [digest] = groupForDelivery(many, 5);
    expect(digest!.kind).toBe('digest');
    expect(digest!.labels).toEqual({ alertname: 'KeystoreWatchDegraded', severity: 'warning' });
  });
});
