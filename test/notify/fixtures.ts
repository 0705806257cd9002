// Notification builders for the notifier tests (through the real guidance, so messages are realistic).
import { readFileSync } from 'node:fs';
import { guidanceFor, defaultSeverity } from '../../src/alert/remediation/guidance.js';
import type { AlertNotification, AlertSubject, Condition, DigestNotification } from '../../src/model.js';

export const HOSTILE: Record<string, string> = JSON.parse(readFileSync(new URL('../fixtures/hostile-strings.json', import.meta.url), 'utf8'));
export const HUGE = 'A<!channel>*_'.repeat(800); // > 10 kB

export function subject(over: Partial<AlertSubject> = {}): AlertSubject {
  return {
    accountId: '111122223333',
    accountName: 'prod-payments',
    region: 'eu-west-1',
    storeId: 'cks-0123456789abcdef0',
    storeName: 'payments-hsm',
    storeType: 'AWS_CLOUDHSM',
    state: 'FAILED',
    errorCode: 'INVALID_CREDENTIALS',
    clusterId: 'cluster-abcdefghijk',
    details: {},
    ...over,
  };
}

let seq = 0;
export function alert(over: Partial<AlertNotification> = {}, subj: Partial<AlertSubject> = {}): AlertNotification {
  const condition: Condition = over.condition ?? 'FAILED';
  const s = subject(subj);
  return {
    id: `ntf-${++seq}`,
    kind: 'firing',
    severity: defaultSeverity(condition),
    condition,
    alertKey: `${s.accountId}/${s.region}/${s.storeId ?? s.clusterId}/${condition}`,
    subject: s,
    guidance: guidanceFor(condition, s),
    since: Date.UTC(2025, 0, 2, 3, 4, 5),
    createdAt: Date.UTC(2025, 0, 2, 3, 5, 0),
    ...over,
  };
}

export function digest(items: AlertNotification[], over: Partial<DigestNotification> = {}): DigestNotification {
  return {
    id: `dgst-${++seq}`,
    kind: 'digest',
    severity: items.some((i) => i.severity === 'critical') ? 'critical' : 'warning',
    items,
    createdAt: Date.UTC(2025, 0, 2, 3, 5, 0),
    ...over,
  };
}

/** A 12-store regional outage: FAILED with three different codes. */
export function outage(n = 12): DigestNotification {
  const codes = ['NETWORK_ERRORS', 'INTERNAL_ERROR', 'INSUFFICIENT_CLOUDHSM_HSMS'];
  return digest(
    Array.from({ length: n }, (_, i) =>
      alert({}, { storeId: `cks-${String(i).padStart(17, '0')}`, storeName: `store-${i}`, errorCode: codes[i % codes.length]! }),
    ),
  );
}
