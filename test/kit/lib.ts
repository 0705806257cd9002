// Helpers shared by the operator-kit tests: paths, the metric contract, PromQL metric-name
// extraction, Grafana variable substitution and external-tool detection.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { mustRun, which } from '../helpers/tools.js';

export { which };

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const path = (...p: string[]): string => join(ROOT, ...p);
export const read = (...p: string[]): string => readFileSync(path(...p), 'utf8');

// ---------------------------------------------------------------------------------------------
// External tools (promtool, amtool, prometheus). Outside CI a missing binary skips the test; in CI
// (process.env.CI set) the test runs and fails, so CI cannot silently lose the check.

/** True when a test needing `bin` should be skipped: the binary is missing and we are not in CI. */
export const skipWithout = (...bins: string[]): boolean => !mustRun(...bins);

export interface RunResult { status: number | null; stdout: string; stderr: string }
export function run(bin: string, args: string[], opts: { cwd?: string; input?: string } = {}): RunResult {
  const r = spawnSync(bin, args, { cwd: opts.cwd ?? ROOT, input: opts.input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${bin} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const toolVersion = (bin: string): string =>
  execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0] ?? '';

// ---------------------------------------------------------------------------------------------
// The metric contract (test/kit/metric-contract.json).

export interface ContractMetric {
  name: string;
  type: 'gauge' | 'counter' | 'histogram' | 'summary';
  labels: string[];
  conditional?: string;
  /** A regular expression for labels a series may carry beside `labels` (keystore_watch_account_info's tag_<key>). */
  extraLabels?: string;
}
export interface Contract { metrics: ContractMetric[]; prometheus: { names: string[]; targetLabels: string[] } }

export const loadContract = (): Contract => JSON.parse(read('test', 'kit', 'metric-contract.json')) as Contract;

/** Every series name the contract allows in PromQL (histograms expand to _bucket/_sum/_count), with its labels. */
export function contractSeries(contract = loadContract()): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of contract.metrics) {
    if (m.type === 'histogram') {
      out.set(`${m.name}_bucket`, [...m.labels, 'le']);
      out.set(`${m.name}_sum`, m.labels);
      out.set(`${m.name}_count`, m.labels);
    } else if (m.type === 'summary') {
      out.set(m.name, [...m.labels, 'quantile']);
      out.set(`${m.name}_sum`, m.labels);
      out.set(`${m.name}_count`, m.labels);
    } else {
      out.set(m.name, m.labels);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PromQL: extract metric names and label matchers without a full parser. Good enough for the
// expressions we write (checked against the real parser by promtool in the same tests).

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'start', 'end']);

const stripStrings = (expr: string): string => expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');

/** Metric names referenced by a PromQL expression. */
export function metricNames(expr: string): string[] {
  let e = stripStrings(expr);
  e = e.replace(/\{[^}]*\}/g, ' ');                                     // label matchers
  e = e.replace(/\[[^\]]*\]/g, ' ');                                    // ranges and subqueries
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  e = e.replace(/\boffset\s+-?\w+/g, ' ');
  const names = new Set<string>();
  const re = /(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(\s*\()?/g;
  for (const m of e.matchAll(re)) {
    const [, name, call] = m;
    if (call) continue; // function call
    if (KEYWORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names].sort();
}

/** Label names used in `metric{...}` matchers: [{metric, label}]. */
export function selectorLabels(expr: string): { metric: string; label: string }[] {
  const out: { metric: string; label: string }[] = [];
  for (const m of expr.matchAll(/([a-zA-Z_:][\w:]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    for (const l of m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"/g)) out.push({ metric: m[1]!, label: l[1]! });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The dashboard.

export interface DashboardQuery { panelId: number; panel: string; type: string; refId: string; expr: string; instant: boolean }

export const loadDashboard = (): any => JSON.parse(read('dashboards', 'keystore-watch.json'));

export function dashboardPanels(d = loadDashboard()): any[] {
  const out: any[] = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    for (const c of p.panels ?? []) out.push(c); // panels inside collapsed rows
  }
  return out;
}

export function dashboardQueries(d = loadDashboard()): DashboardQuery[] {
  return dashboardPanels(d).flatMap((p) => (p.targets ?? []).map((t: any) => ({
    panelId: p.id, panel: p.title, type: p.type, refId: t.refId, expr: t.expr as string, instant: !!t.instant && !t.range,
  })));
}

/** Replace Grafana variables the way the system test does: every multi-value variable as "All". */
export function substituteVars(expr: string, values: Partial<Record<string, string>> = {}): string {
  const v: Record<string, string> = {
    account_name: '.*', ou_path: '.*', tag_owner: '.*', account_id: '.*', region: '.*', custom_key_store_type: '.*',
    status_url: 'http://127.0.0.1:9464',
    __rate_interval: '1m', __interval: '15s', __range: '5m', ...values,
  } as Record<string, string>;
  return expr
    .replace(/\$\{datasource\}|\$datasource/g, '')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b)!;
      if (!(name in v)) throw new Error(`unknown Grafana variable ${whole} in ${expr}`);
      return v[name]!;
    });
}

// ---------------------------------------------------------------------------------------------
// Alert rules.

export interface AlertRule { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }

export function alertRules(text = read('config', 'prometheus', 'alerts.yml')): AlertRule[] {
  const doc = parseYaml(text) as { groups: { name: string; rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

export const RUNBOOK_BASE = 'https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md';

/** The alert names docs/runbooks.md has one section each for (agreed with the runbook's author). */
export const ALERTS: Record<string, 'critical' | 'warning'> = {
  KmsCustomKeyStoreFailed: 'critical',
  KmsCustomKeyStoreConnectingTooLong: 'warning',
  KmsCustomKeyStoreDisconnected: 'warning',
  KmsCustomKeyStoreProbeFailing: 'critical',
  KmsCustomKeyStoreTrustAnchorExpiring: 'warning',
  KmsCustomKeyStoreUnknownState: 'critical',
  KmsCustomKeyStoreFlapping: 'warning',
  KmsCustomKeyStoreProbeNotPermitted: 'warning',
  CloudHsmClusterUnknownState: 'critical',
  CloudHsmClusterNotActive: 'warning',
  CloudHsmClusterNoActiveHsms: 'critical',
  CloudHsmClusterSingleAz: 'warning',
  CloudHsmHsmDegraded: 'warning',
  CloudHsmClusterNotFound: 'critical',
  CloudHsmClusterCertificateExpiring: 'warning',
  KeystoreWatchTargetDown: 'warning',
  KeystoreWatchRegionDeniedByScp: 'warning',
  KeystoreWatchAbsent: 'critical',
  KeystoreWatchNotPolling: 'critical',
  KeystoreWatchPollOverdue: 'critical',
  KeystoreWatchDegraded: 'critical',
  KeystoreWatchNotificationsFailing: 'warning',
  KeystoreWatchConfigReloadFailed: 'warning',
  KmsXksProxyCertificateExpiring: 'warning',
  KmsXksProxyCredentialOld: 'warning',
  KmsXksExternalKeyManagerUnhealthy: 'warning',
  KmsXksProxyUnhealthy: 'warning',
  KmsCustomKeyStoreThrottled: 'warning',
  CloudHsmHsmUnhealthy: 'warning',
};

/** GitHub's anchor for a markdown heading: lower-case, punctuation dropped, spaces to dashes. */
export const githubAnchor = (heading: string): string =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

export const exists = (...p: string[]): boolean => existsSync(path(...p));
