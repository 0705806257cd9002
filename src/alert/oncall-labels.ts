// The labels silences and maintenance windows match on: the alert's label set (issue 16 item 1).
// TEMPORARY: builds the documented label set itself until src/alert/labels.ts (helper "route") is
// merged; then this delegates to it so routing and muting see the same labels.
import { ALERT_NAMES, type AlertSubject, type Condition, type Severity } from '../model.js';

export function alertLabels(a: { condition: Condition; severity: Severity; subject: AlertSubject }): Record<string, string> {
  const s = a.subject;
  const l: Record<string, string> = {
    alertname: (ALERT_NAMES as Record<string, string>)[a.condition] ?? a.condition,
    severity: a.severity,
    account_id: s.accountId,
    account_name: s.accountName,
    region: s.region,
  };
  if (s.storeId) l.custom_key_store_id = s.storeId;
  if (s.storeName) l.custom_key_store_name = s.storeName;
  if (s.storeType) l.custom_key_store_type = s.storeType;
  if (s.clusterId) l.cloudhsm_cluster_id = s.clusterId;
  if (s.ouPath) l.ou_path = s.ouPath;
  if (s.errorCode) l.code = s.errorCode;
  for (const [k, v] of Object.entries(s.tags ?? {})) l[`tag_${k}`] = v;
  return l;
}
