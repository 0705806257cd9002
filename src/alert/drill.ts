// A fire drill: a clearly labelled TEST notification for one store and error code, rendered with the
// real guidance (keystore-watch drill, and the status page's "Send TEST notification").
import type { AlertNotification, AlertSubject } from '../model.js';
import { guidanceFor } from './remediation/guidance.js';

export function drillNotification(subject: AlertSubject, at: number): AlertNotification {
  return {
    id: `drill:${subject.storeId}:${subject.errorCode}:${at}`,
    kind: 'drill',
    severity: 'critical',
    condition: 'FAILED',
    alertKey: `drill:FAILED:store:${subject.accountId}/${subject.region}/${subject.storeId}`,
    subject,
    guidance: guidanceFor('FAILED', subject),
    since: at,
    createdAt: at,
  };
}
