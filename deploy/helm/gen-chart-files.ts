// Generates the files the Helm chart reads with .Files (a chart can only read files inside its own
// directory), from the project's one copy of each:
//  - files/alerts.yml from config/prometheus/alerts.yml, with the tunable thresholds below replaced
//    by tokens (__KW_<key>__) that templates/prometheusrule.yaml fills from
//    .Values.prometheusRule.thresholds; with the default values the chart renders exactly the rules
//    of alerts.yml (test/deploy/helm.test.ts);
//  - files/dashboards/keystore-watch.json, a copy of dashboards/keystore-watch.json.
//
//   npx tsx deploy/helm/gen-chart-files.ts          # write the files
//   npx tsx deploy/helm/gen-chart-files.ts --check  # exit 1 when they are out of date
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { writeOrCheck } from '../../scripts/generated-file.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART_DIR = join(ROOT, 'deploy', 'helm', 'keystore-watch');
export const ALERTS_SOURCE = join(ROOT, 'config', 'prometheus', 'alerts.yml');
export const DASHBOARD_SOURCE = join(ROOT, 'dashboards', 'keystore-watch.json');
export const CHART_ALERTS = join(CHART_DIR, 'files', 'alerts.yml');
export const CHART_DASHBOARD = join(CHART_DIR, 'files', 'dashboards', 'keystore-watch.json');

export interface Threshold {
  /** The key under prometheusRule.thresholds. */
  key: string;
  default: number;
  alert: string;
  /** Each literal (with {v} where the value stands) must occur exactly once in the rule's field. */
  replace: { field: 'expr' | 'description'; literal: string }[];
  help: string;
}

export const THRESHOLDS: readonly Threshold[] = [
  { key: 'connectingCloudHsmSeconds', default: 1200, alert: 'KmsCustomKeyStoreConnectingTooLong', replace: [{ field: 'expr', literal: 'kms_custom_key_store_state_since_timestamp_seconds) > {v}\n    and on(account_id, region, custom_key_store_id)\n      max without(instance, pod) (kms_custom_key_store_info{custom_key_store_type="AWS_CLOUDHSM"})' }], help: 'a CloudHSM key store CONNECTING longer than this (seconds) alerts' },
  { key: 'connectingExternalSeconds', default: 300, alert: 'KmsCustomKeyStoreConnectingTooLong', replace: [{ field: 'expr', literal: 'kms_custom_key_store_state_since_timestamp_seconds) > {v}\n    and on(account_id, region, custom_key_store_id)\n      max without(instance, pod) (kms_custom_key_store_info{custom_key_store_type!="AWS_CLOUDHSM"})' }], help: 'an external key store CONNECTING longer than this (seconds) alerts' },
  { key: 'trustAnchorExpiryDays', default: 30, alert: 'KmsCustomKeyStoreTrustAnchorExpiring', replace: [{ field: 'expr', literal: '< {v} * 86400' }, { field: 'description', literal: 'less than {v} days' }], help: 'days before a CloudHSM trust anchor certificate expires' },
  { key: 'flappingChanges', default: 4, alert: 'KmsCustomKeyStoreFlapping', replace: [{ field: 'expr', literal: '[10m])) >= {v}' }, { field: 'description', literal: 'at least {v} times' }], help: 'CONNECTED flips in 10 minutes that make a store flapping' },
  { key: 'clusterCertificateExpiryDays', default: 30, alert: 'CloudHsmClusterCertificateExpiring', replace: [{ field: 'expr', literal: '< {v} * 86400' }, { field: 'description', literal: 'less than {v} days' }], help: 'days before a CloudHSM cluster certificate expires' },
  { key: 'xksProxyCertificateExpiryDays', default: 30, alert: 'KmsXksProxyCertificateExpiring', replace: [{ field: 'expr', literal: '< {v} * 86400' }], help: 'days before an XKS proxy TLS certificate expires' },
  { key: 'xksProxyCredentialMaxAgeDays', default: 90, alert: 'KmsXksProxyCredentialOld', replace: [{ field: 'expr', literal: '> {v} * 86400' }, { field: 'description', literal: 'more than {v} days' }], help: 'age (days) of an XKS proxy authentication credential that alerts' },
  { key: 'throttledRequests', default: 10, alert: 'KmsCustomKeyStoreThrottled', replace: [{ field: 'expr', literal: 'kms_custom_key_store_throttled_requests) >= {v})' }], help: 'requests KMS throttled for a store in one CloudWatch period' },
  { key: 'notPollingSeconds', default: 600, alert: 'KeystoreWatchNotPolling', replace: [{ field: 'expr', literal: 'keystore_watch_last_poll_timestamp_seconds) > {v}' }], help: 'age (seconds) of the last completed poll that alerts' },
];

export const token = (key: string): string => `__KW_${key}__`;

type Rule = { alert?: string; expr: string; annotations?: Record<string, string> };

/** Whitespace-insensitive search for a multi-line literal: the rule text is indented differently. */
function replaceOnce(text: string, literal: string, value: string, where: string): string {
  const [before, after] = literal.split('{v}') as [string, string];
  const esc = (s: string) => s.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\s+');
  const re = new RegExp(`(${esc(before)}${/\s$/.test(before) ? '\\s*' : ''})(-?[\\d.]+)(${/^\s/.test(after) ? '\\s*' : ''}${esc(after)})`, 'g');
  const matches = [...text.matchAll(re)];
  if (matches.length !== 1) throw new Error(`${where}: expected "${literal}" exactly once, found ${matches.length}`);
  return text.replace(re, `$1${value}$3`);
}

export function renderChartAlerts(alertsYaml = readFileSync(ALERTS_SOURCE, 'utf8')): string {
  const doc = parse(alertsYaml) as { groups: { name: string; rules: Rule[] }[] };
  for (const t of THRESHOLDS) {
    const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === t.alert);
    if (!rule) throw new Error(`threshold ${t.key}: no alert ${t.alert} in ${ALERTS_SOURCE}`);
    for (const r of t.replace) {
      const where = `threshold ${t.key} (${t.alert} ${r.field})`;
      if (r.field === 'expr') {
        checkDefault(rule.expr, r.literal, t.default, where);
        rule.expr = replaceOnce(rule.expr, r.literal, token(t.key), where);
      } else {
        const text = rule.annotations?.description ?? '';
        checkDefault(text, r.literal, t.default, where);
        rule.annotations!.description = replaceOnce(text, r.literal, token(t.key), where);
      }
    }
  }
  return `# GENERATED from config/prometheus/alerts.yml by deploy/helm/gen-chart-files.ts: do not edit.
# Thresholds are tokens (__KW_<key>__) that templates/prometheusrule.yaml fills from
# .Values.prometheusRule.thresholds.
${stringify(doc, { lineWidth: 0, blockQuote: 'literal' })}`;
}

/** The number the literal holds in the source must be the documented default. */
function checkDefault(text: string, literal: string, expected: number, where: string): void {
  replaceOnce(text, literal, '0', where);
  const [before] = literal.split('{v}') as [string, string];
  const esc = before.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\s+');
  const found = text.match(new RegExp(`${esc}\\s*(-?[\\d.]+)`))?.[1];
  if (Number(found) !== expected) throw new Error(`${where}: alerts.yml has ${found}, the chart's default is ${expected}: change both together`);
}

export const renderChartDashboard = (): string => readFileSync(DASHBOARD_SOURCE, 'utf8');

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  writeOrCheck(CHART_ALERTS, renderChartAlerts(), process.argv, 'npx tsx deploy/helm/gen-chart-files.ts');
  writeOrCheck(CHART_DASHBOARD, renderChartDashboard(), process.argv, 'npx tsx deploy/helm/gen-chart-files.ts');
}
