// Storm grouping: a region-wide outage should page once, not once per store.
//
// The notifications of one poll are split in two classes, each grouped on its own:
//  - changes (firing, resolved): if they concern more than `threshold` distinct subjects, one digest replaces them;
//  - reminders: the same rule, separately, so a reminder wave never buries a new firing in a digest and
//    a few new firings are not turned into a digest because many old alerts happen to remind this poll.
// A subject is the store (store and cluster findings of one store count once) or, for TARGET_DOWN, the target.
// Drills pass through untouched. Per-alert state is not touched: the digest only changes delivery.
// Order is kept: changes (or their digest) first, then reminders (or theirs), then anything else.
import { createHash } from 'node:crypto';
import { SEVERITY_RANK, type AlertNotification, type DigestNotification, type Notification, type Severity } from '../model.js';
import { deliverySubjectKey } from './subject-key.js';
import { commonLabels } from './labels.js';

/** The unit counted against the threshold (subject-key.ts). */
export { deliverySubjectKey };

function digestOf(items: AlertNotification[]): DigestNotification {
  let severity: Severity = 'info';
  let createdAt = 0;
  const hash = createHash('sha256');
  for (const n of items) {
    if (SEVERITY_RANK[n.severity] > SEVERITY_RANK[severity]) severity = n.severity;
    if (n.createdAt > createdAt) createdAt = n.createdAt;
    hash.update(n.id).update('\n');
  }
  // Deterministic from the item ids, in order: a replayed poll yields the same digest id.
  return { id: `digest:${hash.digest('hex').slice(0, 32)}`, kind: 'digest', severity, items, createdAt, labels: commonLabels(items.map((n) => n.labels ?? {})) };
}

function group(items: AlertNotification[], threshold: number): Notification[] {
  const subjects = new Set<string>();
  for (const n of items) subjects.add(deliverySubjectKey(n.subject));
  return subjects.size > threshold ? [digestOf(items)] : items;
}

export function groupForDelivery(notifications: AlertNotification[], threshold: number): Notification[] {
  const changes: AlertNotification[] = [];
  const reminders: AlertNotification[] = [];
  const other: AlertNotification[] = [];
  for (const n of notifications) {
    if (n.kind === 'firing' || n.kind === 'resolved') changes.push(n);
    else if (n.kind === 'reminder') reminders.push(n);
    else other.push(n);
  }
  return [...group(changes, threshold), ...group(reminders, threshold), ...other];
}
