// The flat label set every alert carries (issue 16): what routes, silences and maintenance windows match
// on, what the Alertmanager channel posts and what /api/v1/alerts shows. Pure.
//
// Names are the Prometheus metrics' label names (src/metrics/render.ts), so one matcher works in both
// places: `alertname` (the runbook / Prometheus rule name, ALERT_NAMES in model.ts), `severity`,
// `account_id`, `account_name`, `region`, `custom_key_store_id`, `custom_key_store_name`,
// `custom_key_store_type`, `cloudhsm_cluster_id`, `ou_path`, one `tag_<key>` per account tag (the name
// tagLabelName gives, as on keystore_watch_account_info) and `code` (the ConnectionErrorCode of a FAILED
// store). A fact the alert does not have is left out, as Prometheus and Alertmanager treat an empty
// label: a matcher sees a missing label as the empty string (src/util/matchers.ts).
// keystore-watch's alerts about itself carry `alertname="KeystoreWatchDegraded"`, `severity` and
// `self_alert` (the condition id, e.g. "state-persist").
import { ALERT_NAMES, type AlertSubject, type Condition, type Severity } from '../model.js';
import { tagLabelName } from '../util/prom-label.js';

export type AlertLabels = Record<string, string>;

/** The fixed label names, in the order they are listed (tag_<key> labels follow them). */
export const ALERT_LABEL_NAMES = [
  'alertname', 'severity', 'account_id', 'account_name', 'region', 'custom_key_store_id', 'custom_key_store_name',
  'custom_key_store_type', 'cloudhsm_cluster_id', 'ou_path', 'code',
] as const;

/** The labels of an alert about `subject`. */
export function alertLabels(condition: Condition, severity: Severity, subject: AlertSubject): AlertLabels {
  const out: AlertLabels = { alertname: ALERT_NAMES[condition], severity };
  const put = (name: string, value: string | null | undefined): void => {
    if (value !== null && value !== undefined && value !== '' && !(name in out)) out[name] = value;
  };
  put('account_id', subject.accountId);
  put('account_name', subject.accountName);
  put('region', subject.region);
  put('custom_key_store_id', subject.storeId);
  put('custom_key_store_name', subject.storeName);
  put('custom_key_store_type', subject.storeType);
  put('cloudhsm_cluster_id', subject.clusterId);
  put('ou_path', subject.ouPath);
  put('code', subject.errorCode);
  // Key order, first key wins a label name (the config refuses two keys that meet; metrics do the same).
  for (const key of Object.keys(subject.tags ?? {}).sort()) put(tagLabelName(key), subject.tags![key]);
  return out;
}

/** The labels of a self-alert (keystore-watch about itself). */
export const selfAlertLabels = (id: string, severity: Severity): AlertLabels => ({ alertname: ALERT_NAMES.SELF, severity, self_alert: id });

/** The labels every one of `sets` has with the same value (a digest's labels, like Alertmanager's commonLabels). */
export function commonLabels(sets: readonly AlertLabels[]): AlertLabels {
  if (sets.length === 0) return {};
  const out: AlertLabels = { ...sets[0] };
  for (const s of sets.slice(1)) for (const k of Object.keys(out)) if (s[k] !== out[k]) delete out[k];
  return out;
}
