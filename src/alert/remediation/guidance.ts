// Turns the remediation table into the Guidance of one alert: picks the entry for the condition
// (FAILED: error code x store type), fills the command templates with the alert's ids, shell-quoted,
// and names the runbook section. Pure: no I/O, no clock.
import type { AlertSubject, Condition, Guidance, Severity } from '../../model.js';
import { partitionOfRegion } from '../../config/partitions.js';
import {
  CONDITION_GUIDANCE,
  CONDITION_TITLES,
  ERROR_CODE_GUIDANCE,
  GENERIC_FAILED,
  KNOWN_STORE_TYPES,
  SELF_MONITORING_GUIDANCE,
  SELF_MONITORING_TITLES,
  type GuidanceTemplate,
  type KnownStoreType,
  type SelfMonitoringAlert,
} from './table.js';

export { SELF_MONITORING_ALERTS, type SelfMonitoringAlert, type KnownStoreType } from './table.js';

// The alert names are data a notifier renders: they live with the Condition type (model.ts), so notify/ needs nothing from alert/.
export { ALERT_NAMES } from '../../model.js';
import { ALERT_NAMES } from '../../model.js';

export type ConditionAlertName = (typeof ALERT_NAMES)[Condition];
export type AlertName = ConditionAlertName | SelfMonitoringAlert;

/** Every condition, in runbook order. */
export const CONDITIONS = Object.keys(ALERT_NAMES) as Condition[];

/** GitHub's anchor for a `## <AlertName>` heading. */
export const runbookAnchor = (alertName: string): string => alertName.toLowerCase();

/** GitHub's anchor for any heading: lower case, punctuation other than - and _ dropped, spaces to -. */
export const headingAnchor = (heading: string): string =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

const CRITICAL: ReadonlySet<Condition> = new Set<Condition>(['FAILED', 'NO_ACTIVE_HSMS', 'PROBE_FAILING', 'CLUSTER_MISSING', 'UNKNOWN_STATE', 'CLUSTER_UNKNOWN_STATE', 'SELF']);

/** Conditions whose severity depends on the observation (the runbook says so); their default is the lower one. */
export const ESCALATING: Partial<Record<Condition, string>> = {
  FLAPPING: 'critical when the store spent more than half the window not CONNECTED',
  XKS_CERT_EXPIRING: 'critical under `cloudwatch.certificateCritical` (7 days)',
  XKS_KEY_MANAGER_UNHEALTHY: 'critical when an instance is Unavailable',
  XKS_PROXY_UNHEALTHY: 'critical ("CONNECTED but failing") past `cloudwatch.errorRateCritical` or `cloudwatch.latencyCritical`',
  SELF: 'warning for a warning self-alert, such as `memory-headroom` or a stale `organizations-discovery` list, as the `severity` label of `keystore_watch_self_alert` says',
};

export function defaultSeverity(condition: Condition): Severity {
  return CRITICAL.has(condition) ? 'critical' : 'warning';
}

export const SELF_MONITORING_SEVERITY: Record<SelfMonitoringAlert, Severity> = {
  KeystoreWatchAbsent: 'critical',
  KeystoreWatchNotPolling: 'critical',
  KeystoreWatchPollOverdue: 'critical',
  KeystoreWatchNotificationsFailing: 'warning',
  KeystoreWatchConfigReloadFailed: 'warning',
};

/**
 * Keys of AlertSubject.details that guidance reads to fill commands. The finding code sets them;
 * every notifier also shows them as fields. AZ lists are comma-separated.
 */
export const SUBJECT_DETAIL = {
  /** The HSM a finding is about (HSM_DEGRADED). */
  hsmId: 'HSM',
  /** Availability Zone of that HSM. */
  hsmAz: 'HSM AZ',
  /** Zones that have ACTIVE HSMs, e.g. "eu-west-1a". */
  activeAzs: 'Active AZs',
  /** Zones where the cluster has subnets (its SubnetMapping), e.g. "eu-west-1a, eu-west-1b". */
  clusterAzs: 'Cluster AZs',
  /** The role keystore-watch assumes for the target (TARGET_DOWN). */
  roleArn: 'Role ARN',
  /** The IAM action an access denial names, e.g. "kms:DescribeCustomKeyStores" (TARGET_DOWN, SCP_DENIED). */
  deniedAction: 'Denied action',
  /** Regions a service control policy denies, comma-separated (SCP_DENIED). */
  deniedRegions: 'Denied regions',
  /** The CloudWatch finding's verdict shown in the title (XKS_PROXY_UNHEALTHY, XKS_KEY_MANAGER_UNHEALTHY). */
  verdict: 'Verdict',
} as const;

export type Placeholder = 'storeId' | 'region' | 'accountId' | 'clusterId' | 'az' | 'az2' | 'hsmId' | 'roleArn' | 'action' | 'dnsSuffix';

/** How a placeholder is written when the value is not known (runbooks, or a subject without it). */
export const PLACEHOLDER_VARIABLES: Record<Placeholder, string> = {
  storeId: '"$CUSTOM_KEY_STORE_ID"',
  region: '"$AWS_REGION"',
  accountId: '"$ACCOUNT_ID"',
  clusterId: '"$CLUSTER_ID"',
  az: '"$AVAILABILITY_ZONE"',
  az2: '"$SECOND_AVAILABILITY_ZONE"',
  hsmId: '"$HSM_ID"',
  roleArn: '"$ROLE_ARN"',
  action: '"$IAM_ACTION"',
  dnsSuffix: '"$AWS_DNS_SUFFIX"',
};

// Characters that mean nothing to a POSIX shell in an unquoted word; anything else is single-quoted.
const SHELL_SAFE = /^[A-Za-z0-9_.:/=@+,%-]+$/;

/**
 * Quotes a value for a POSIX shell. Control characters (newlines, escapes) cannot be pasted safely
 * and never occur in AWS ids, so they become "?" (literal inside quotes).
 */
export function shellQuote(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  if (SHELL_SAFE.test(clean)) return clean;
  return `'${clean.replace(/'/g, `'\\''`)}'`;
}

/** Fills {placeholders}; known values are shell-quoted, unknown ones become shell variables. */
export function fillCommand(template: string, values: Partial<Record<Placeholder, string | null | undefined>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (!Object.hasOwn(PLACEHOLDER_VARIABLES, name)) return whole;
    const v = values[name as Placeholder];
    return v ? shellQuote(v) : PLACEHOLDER_VARIABLES[name as Placeholder];
  });
}

export function knownStoreType(type: string | null | undefined): KnownStoreType | null {
  return type && (KNOWN_STORE_TYPES as readonly string[]).includes(type) ? (type as KnownStoreType) : null;
}

const isKnownCode = (code: string): code is keyof typeof ERROR_CODE_GUIDANCE => Object.hasOwn(ERROR_CODE_GUIDANCE, code);

/**
 * An error code as shown in a title. AWS codes are words joined by single underscores, which no
 * chat markup can turn into formatting; anything else is defanged (every other character becomes
 * "?") and capped.
 */
export function displayCode(code: string): string {
  const clean = /^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$/.test(code) ? code : code.replace(/[^A-Za-z0-9]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 63)}…` : clean;
}

/** The table entry for a condition, store type and error code, and whether it was a specific match. */
export function templateFor(condition: Condition, storeType: string | null, errorCode: string | null): { template: GuidanceTemplate; title: string; generic: boolean } {
  const type = knownStoreType(storeType);
  if (condition === 'FAILED') {
    const title = errorCode ? `${CONDITION_TITLES.FAILED}: ${displayCode(errorCode)}` : CONDITION_TITLES.FAILED;
    if (errorCode && isKnownCode(errorCode)) {
      const entries = ERROR_CODE_GUIDANCE[errorCode];
      const exact = type ? entries[type] : undefined;
      if (exact) return { template: exact, title, generic: false };
      // A code that exists for one store type only says which type it is about.
      const only = Object.values(entries);
      if (only.length === 1) return { template: only[0]!, title, generic: false };
    }
    return { template: GENERIC_FAILED[type ?? 'UNKNOWN'], title, generic: true };
  }
  const entry = CONDITION_GUIDANCE[condition];
  return { template: (type && entry[type]) || entry.default, title: CONDITION_TITLES[condition], generic: false };
}

/** Titles that carry the raw value AWS sent (defanged like error codes), so on-call sees it at once. */
function titleFor(condition: Condition, subject: AlertSubject, title: string): string {
  if (condition === 'UNKNOWN_STATE' && subject.state) return `${title}: ${displayCode(subject.state)}`;
  // The finding's own verdict ("CONNECTED but degraded" / "... failing", "DEGRADED" / "UNAVAILABLE").
  const verdict = subject.details?.[SUBJECT_DETAIL.verdict];
  if (verdict && (condition === 'XKS_PROXY_UNHEALTHY' || condition === 'XKS_KEY_MANAGER_UNHEALTHY')) return `${title}: ${displayCode(verdict.replace(/\s+/g, '_')).replace(/_/g, ' ')}`;
  if (condition === 'CLUSTER_UNKNOWN_STATE') {
    const raw = subject.details?.['Cluster state'];
    return raw ? `${title}: ${displayCode(raw)}` : title;
  }
  return title;
}

const splitList = (v: string | undefined): string[] => (v ? v.split(/[\s,;]+/).filter(Boolean) : []);
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** Availability Zones to put HSMs in: cluster zones without an ACTIVE HSM first, else guesses from the region. */
export function missingAzs(subject: Pick<AlertSubject, 'region' | 'details'>): string[] {
  const active = new Set(splitList(subject.details[SUBJECT_DETAIL.activeAzs]));
  const cluster = splitList(subject.details[SUBJECT_DETAIL.clusterAzs]);
  const fromCluster = cluster.filter((az) => !active.has(az));
  if (fromCluster.length > 0 || cluster.length > 0) return fromCluster;
  if (!REGION.test(subject.region)) return [];
  return ['a', 'b', 'c'].map((l) => subject.region + l).filter((az) => !active.has(az));
}

function placeholderValues(condition: Condition, subject: AlertSubject): Partial<Record<Placeholder, string | null>> {
  const d = subject.details ?? {};
  let az: string | undefined;
  let az2: string | undefined;
  if (condition === 'HSM_DEGRADED') {
    az = d[SUBJECT_DETAIL.hsmAz] || undefined;
  } else {
    [az, az2] = missingAzs({ region: subject.region, details: d });
  }
  return {
    storeId: subject.storeId,
    region: subject.region,
    accountId: subject.accountId,
    clusterId: subject.clusterId,
    az,
    az2,
    hsmId: d[SUBJECT_DETAIL.hsmId] || undefined,
    roleArn: d[SUBJECT_DETAIL.roleArn] || undefined,
    action: d[SUBJECT_DETAIL.deniedAction] || undefined,
    // Host names follow the partition: amazonaws.com, amazonaws.com.cn in China.
    dnsSuffix: partitionOfRegion(subject.region)?.dnsSuffix,
  };
}

/** A table entry as Guidance: `values` fill the command placeholders (unknown ones become shell variables). */
export function guidanceFromTemplate(title: string, t: GuidanceTemplate, values: Partial<Record<Placeholder, string | null>>, alertName: string): Guidance {
  return {
    title,
    summary: t.summary,
    cause: t.cause,
    steps: [...t.steps],
    commands: t.commands.map((c) => fillCommand(c, values)),
    docs: t.docs.map((d) => ({ ...d })),
    runbookAnchor: runbookAnchor(alertName),
  };
}

/** Guidance for one alert, with the subject's ids filled into the commands. */
export function guidanceFor(condition: Condition, subject: AlertSubject): Guidance {
  const { template, title } = templateFor(condition, subject.storeType, subject.errorCode);
  return guidanceFromTemplate(titleFor(condition, subject, title), template, placeholderValues(condition, subject), ALERT_NAMES[condition]);
}

/** Guidance for the alerts only Prometheus raises (used by the runbooks). */
export function selfMonitoringGuidance(name: SelfMonitoringAlert): Guidance {
  return guidanceFromTemplate(SELF_MONITORING_TITLES[name], SELF_MONITORING_GUIDANCE[name], {}, name);
}
