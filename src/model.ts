// The data that flows through keystore-watch: discover -> collect -> snapshot -> diff -> alert -> notify.
// AWS enums come from the SDK so a new value AWS adds shows up as a type change, not a silent string.
import type { ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, XksProxyConnectivityType } from '@aws-sdk/client-kms';
import { ClusterState, HsmState } from '@aws-sdk/client-cloudhsm-v2';

/** AWS may add enum values before we know them: keep the SDK's names but accept any string at run time. */
export type Open<T extends string> = T | (string & {});

export type ConnectionState = Open<ConnectionStateType>;
export type ConnectionErrorCode = Open<ConnectionErrorCodeType>;
export type StoreType = Open<CustomKeyStoreType>;
export type XksConnectivity = Open<XksProxyConnectivityType>;
export type CloudHsmClusterState = Open<(typeof CLUSTER_STATE)[keyof typeof CLUSTER_STATE]>;
export type CloudHsmHsmState = Open<HsmState>;

/** The pinned CloudHSM client (3.332.0, the registry's newest) predates two cluster states of the current model. */
export const CLUSTER_STATE = { ...ClusterState, MODIFY_IN_PROGRESS: 'MODIFY_IN_PROGRESS', ROLLBACK_IN_PROGRESS: 'ROLLBACK_IN_PROGRESS' } as const;
export const CLUSTER_STATES: readonly string[] = Object.values(CLUSTER_STATE);
export const HSM_STATES: readonly string[] = Object.values(HsmState);

export const CONNECTION_STATES = ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING'] as const satisfies readonly ConnectionStateType[];

/**
 * Every ConnectionState this release handles, keyed by the SDK's enum: when the SDK gains a value the
 * type check fails here until someone decides what it means. Anything else at run time is "unknown"
 * and alerts (UNKNOWN_STATE): anything but CONNECTED means the store's keys are unusable.
 */
const KNOWN_CONNECTION_STATE: Record<ConnectionStateType, true> = { CONNECTED: true, CONNECTING: true, FAILED: true, DISCONNECTED: true, DISCONNECTING: true };
export const isKnownConnectionState = (state: string): boolean => Object.hasOwn(KNOWN_CONNECTION_STATE, state);
export const isKnownClusterState = (state: string): boolean => CLUSTER_STATES.includes(state);
export const isKnownHsmState = (state: string): boolean => HSM_STATES.includes(state);

/**
 * Who an account belongs to, as Organizations (OU path, tags) or the config says: carried on every record
 * of the account so metrics, the API and alerts can be routed by it. Optional: records written before it
 * existed lack it.
 */
export interface AccountFacts {
  /** OU path such as "/Prod/Payments" ("/" directly under the root); null when unknown. */
  ouPath?: string | null;
  /** Values of the configured tag keys (organizations.tags, accounts[].tags) the account has. */
  tags?: Record<string, string>;
}

/** One account x region pair the poller walks. */
export interface Target extends AccountFacts {
  accountId: string;
  accountName: string;
  region: string;
  /** Role assumed to reach the account; null for the caller's own account. */
  roleArn: string | null;
  externalId: string | null;
}

export interface XksProxy {
  connectivity: XksConnectivity | null;
  uriEndpoint: string | null;
  uriPath: string | null;
  vpcEndpointServiceName: string | null;
  /**
   * Last 4 characters of the proxy authentication access key id ('' when it is too short to show any),
   * null when none is set. The full id is @sensitive in the KMS model and is never kept (collect/sensitive.ts).
   */
  accessKeyIdLast4: string | null;
}

/** One custom key store as seen by one poll. Never holds the trust anchor's PEM text: only its fingerprint and expiry. */
export interface StoreRecord extends AccountFacts {
  accountId: string;
  accountName: string;
  region: string;
  id: string;
  name: string;
  type: StoreType;
  state: ConnectionState;
  /** Only while FAILED. */
  errorCode: ConnectionErrorCode | null;
  clusterId: string | null;
  xks: XksProxy | null;
  /** SHA-256 of the trust anchor certificate (to detect a change without keeping the text). */
  trustAnchorSha256: string | null;
  /** notAfter of the trust anchor certificate, epoch ms. */
  trustAnchorNotAfter: number | null;
  /** Creation date, epoch ms. */
  createdAt: number | null;
  /** When the current state was first observed, epoch ms. */
  stateSince: number;
  /** True when the store's target failed this poll and the record is carried over from an earlier poll. */
  stale: boolean;
}

export interface HsmRecord {
  id: string;
  availabilityZone: string | null;
  subnetId: string | null;
  eniIp: string | null;
  state: CloudHsmHsmState;
}

export interface ClusterRecord {
  accountId: string;
  region: string;
  id: string;
  state: CloudHsmClusterState;
  stateMessage: string | null;
  vpcId: string | null;
  hsmType: string | null;
  hsms: HsmRecord[];
  /** Availability Zones of the cluster's subnets (DescribeClusters SubnetMapping), sorted: where HSMs can be created. Absent in snapshots written before it existed. */
  subnetAzs?: string[];
  /** notAfter of the cluster certificate, epoch ms, when the cluster has one. */
  certificateNotAfter: number | null;
  /** When the current cluster state was first observed, epoch ms. */
  stateSince: number;
  stale: boolean;
}

export interface TargetError {
  /** AWS error code or a transport class: AccessDenied, ThrottlingException, Timeout, ConnectionRefused, ... */
  code: string;
  /** Human-readable, scrubbed of secrets. */
  message: string;
}

/**
 * How one account-region target answered:
 *  - ok: DescribeCustomKeyStores answered;
 *  - failed: it did not (credentials, permissions, throttling, network): a blind spot that raises TARGET_DOWN;
 *  - not_enabled: an opt-in region the account has not enabled (nothing can exist there): no alert, not
 *    polled again until the next refresh of the account's regions;
 *  - denied: a service control policy denies the call in that region: one warning per account.
 */
export type TargetStatus = 'ok' | 'failed' | 'not_enabled' | 'denied';
export const TARGET_STATUSES = ['ok', 'failed', 'not_enabled', 'denied'] as const satisfies readonly TargetStatus[];

export interface TargetOutcome extends AccountFacts {
  accountId: string;
  accountName: string;
  region: string;
  status: TargetStatus;
  /** status === 'ok' (kept for readers of the older shape). */
  ok: boolean;
  /** Why the target is not ok: the AWS error, or for not_enabled / denied the explanation. */
  error: TargetError | null;
  durationMs: number;
  /** Epoch ms of the last poll this target answered, null when it never did. */
  lastSuccessAt: number | null;
  /** Failed polls in a row (0 unless failed). */
  consecutiveFailures: number;
  /** CloudHSM enrichment for this target: null when the target has no CloudHSM store. */
  cloudHsm: {
    ok: boolean;
    error: TargetError | null;
    /** Referenced clusters DescribeClusters did not return (last known while enrichment fails). */
    missingClusterIds?: string[];
  } | null;  /**
   * CloudWatch enrichment of this target: absent when disabled or the target has no store. `denied` when the
   * role may not read CloudWatch (one warning, never a blind-spot alert). Never affects the stores.
   */
  cloudWatch?: { ok: boolean; denied: boolean; error: TargetError | null } | null;
}

/**
 * What one GenerateRandom probe says about the store (poller's classification of the answer):
 *  - ok: it answered;
 *  - failing: an error that shows the store failing (CustomKeyStoreInvalidStateException, KMSInternalException,
 *    DependencyTimeoutException, KMSInvalidStateException, a timeout): counts toward PROBE_FAILING;
 *  - denied: AccessDenied*: the probe is not permitted (IAM or SCP); says nothing about the store;
 *  - throttled: ThrottlingException: retried at the next interval, never a failure;
 *  - inconclusive: any other error (network on our side, the store deleted meanwhile): says nothing.
 */
export type ProbeOutcome = 'ok' | 'failing' | 'denied' | 'throttled' | 'inconclusive';

export interface ProbeResult {
  accountId: string;
  region: string;
  storeId: string;
  /** The last conclusive answer (ok or failing); a throttled or inconclusive probe keeps the previous one. */
  ok: boolean;
  /** The last attempt's classification; absent in snapshots written before it existed (then ok decides). */
  outcome?: ProbeOutcome;
  durationMs: number;
  error: TargetError | null;
  /** Failing outcomes in a row; ok resets it, denied/throttled/inconclusive leave it as it was. */
  consecutiveFailures: number;
  at: number;
}

/**
 * What CloudWatch says about one store (AWS/KMS, per CustomKeyStoreId), from the last period with a
 * datapoint within cloudwatch.lookback. A null field had no recent datapoint: absent, never zero.
 */
export interface StoreHealthRecord {
  accountId: string;
  region: string;
  storeId: string;
  /** XksProxyCertificateDaysToExpire (the smallest over the proxy's certificate names). */
  certificateDaysToExpire: number | null;
  /** XksProxyCredentialAge: days since the proxy authentication credential was associated with the store. */
  credentialAgeDays: number | null;
  /** XksExternalKeyManagerStates: external key manager instances per state (Active, Degraded, Unavailable). */
  keyManagers: Record<string, number> | null;
  /** XksProxyErrors in the last period, by ErrorType. */
  errors: { retryable: number; nonRetryable: number } | null;
  /** Requests KMS sent to the XKS proxy in the last period (XksProxyLatency SampleCount). */
  requests: number | null;
  /** Average XksProxyLatency over operations, ms (250 = the KMS timeout). */
  latencyMs: number | null;
  /** ExternalKeyStoreThrottle / CloudHSMKeyStoreThrottle in the last period. */
  throttled: number | null;
  /** True when CloudWatch could not be read this poll and the record is the last known one. */
  stale: boolean;
}

/** AWS/CloudHSM HsmUnhealthy of one cluster behind a CloudHSM key store. */
export interface ClusterHealthRecord {
  accountId: string;
  region: string;
  clusterId: string;
  hsmUnhealthy: number;
  stale: boolean;
}

/** The key store change a CloudTrail lookup is about. */
export type AttributedChange = 'DISCONNECTED' | 'CONNECTING' | 'created' | 'deleted' | 'configuration';

/** Who made one change, as CloudTrail recorded it (secrets removed from the request parameters). */
export interface ChangeActor {
  eventName: string;
  eventTime: number;
  eventId: string;
  /** userIdentity.arn (or the service/principal that stands for it). */
  principal: string;
  /** userIdentity.type: IAMUser, AssumedRole, Root, AWSService, ... */
  identityType: string;
  /** person: an IAM user, root, an Identity Center / SAML / web-identity session; service: an AWS service; role: other role sessions (automation). */
  kind: 'person' | 'service' | 'role';
  /** sourceIPAddress: an IP address, or the AWS service that made the call. */
  source: string | null;
  userAgent: string | null;
  /** requestParameters, flattened to strings, without credentials or passwords. */
  requestParameters: Record<string, string>;
}

export interface ChangeAttribution {
  accountId: string;
  region: string;
  storeId: string;
  change: AttributedChange;
  /** When keystore-watch saw the change (epoch ms). */
  seenAt: number;
  /** The earliest time the change can have happened (the store's previous observation, less clock slack). */
  windowStart: number;
  /** found: the event; not_found: CloudTrail has no matching event (searched until searchUntil); pending: not looked up yet (rate limit, deadline); error: the lookup failed. */
  status: 'found' | 'not_found' | 'pending' | 'error';
  actor: ChangeActor | null;
  /** Lookup attempts so far. */
  attempts: number;
  error: TargetError | null;
}

/** The immutable result of one poll. Everything downstream (metrics, diff, alerts, API) is a function of snapshots. */
export interface Snapshot {
  /** Monotonic poll counter. */
  pollId: number;
  /** Epoch ms when the poll started. */
  startedAt: number;
  /** Epoch ms when the poll finished. */
  finishedAt: number;
  stores: StoreRecord[];
  clusters: ClusterRecord[];
  targets: TargetOutcome[];
  probes: ProbeResult[];
  /** CloudWatch facts (absent in snapshots written before it existed, or with cloudwatch.enabled false). */
  storeHealth?: StoreHealthRecord[];
  clusterHealth?: ClusterHealthRecord[];
  /** CloudTrail "who changed it" for recent changes, kept while they are recent (see collect/cloudtrail.ts). */
  changeActors?: ChangeAttribution[];
}

export const storeKey = (s: { accountId: string; region: string; id: string }): string => `${s.accountId}/${s.region}/${s.id}`;
export const targetKey = (t: { accountId: string; region: string }): string => `${t.accountId}/${t.region}`;

// ---------------------------------------------------------------------------------------------
// Alerting vocabulary shared by the alert lifecycle, remediation guidance, notifiers and runbooks.

export type Severity = 'critical' | 'warning' | 'info';
export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Conditions the alert lifecycle tracks. FAILED is refined by the store's error code in the guidance. */
export type Condition =
  | 'FAILED'
  | 'CONNECTING_TOO_LONG'
  | 'DISCONNECTED'
  | 'PROBE_FAILING'
  | 'TRUST_ANCHOR_EXPIRING'
  | 'CLUSTER_NOT_ACTIVE'
  | 'NO_ACTIVE_HSMS'
  | 'SINGLE_AZ'
  | 'HSM_DEGRADED'
  | 'CLUSTER_MISSING'
  | 'CLUSTER_CERT_EXPIRING'
  | 'TARGET_DOWN'
  | 'UNKNOWN_STATE'
  | 'FLAPPING'
  | 'CLUSTER_UNKNOWN_STATE'
  | 'PROBE_NOT_PERMITTED'
  | 'SCP_DENIED'
  /** From CloudWatch (src/alert/conditions/cloudwatch.ts). */
  | 'XKS_CERT_EXPIRING'
  | 'XKS_CREDENTIAL_OLD'
  | 'XKS_KEY_MANAGER_UNHEALTHY'
  | 'XKS_PROXY_UNHEALTHY'
  | 'KEY_STORE_THROTTLED'
  | 'HSM_UNHEALTHY'
  /** keystore-watch reporting a problem with itself (src/alert/self-alerts.ts). */
  | 'SELF';

/** The Prometheus alert name of each condition (config/prometheus/alerts.yml and docs/runbooks.md use the same names). */
export const ALERT_NAMES = {
  FAILED: 'KmsCustomKeyStoreFailed',
  CONNECTING_TOO_LONG: 'KmsCustomKeyStoreConnectingTooLong',
  DISCONNECTED: 'KmsCustomKeyStoreDisconnected',
  PROBE_FAILING: 'KmsCustomKeyStoreProbeFailing',
  TRUST_ANCHOR_EXPIRING: 'KmsCustomKeyStoreTrustAnchorExpiring',
  CLUSTER_NOT_ACTIVE: 'CloudHsmClusterNotActive',
  NO_ACTIVE_HSMS: 'CloudHsmClusterNoActiveHsms',
  SINGLE_AZ: 'CloudHsmClusterSingleAz',
  HSM_DEGRADED: 'CloudHsmHsmDegraded',
  CLUSTER_MISSING: 'CloudHsmClusterNotFound',
  CLUSTER_CERT_EXPIRING: 'CloudHsmClusterCertificateExpiring',
  TARGET_DOWN: 'KeystoreWatchTargetDown',
  UNKNOWN_STATE: 'KmsCustomKeyStoreUnknownState',
  FLAPPING: 'KmsCustomKeyStoreFlapping',
  CLUSTER_UNKNOWN_STATE: 'CloudHsmClusterUnknownState',
  PROBE_NOT_PERMITTED: 'KmsCustomKeyStoreProbeNotPermitted',
  SCP_DENIED: 'KeystoreWatchRegionDeniedByScp',
  XKS_CERT_EXPIRING: 'KmsXksProxyCertificateExpiring',
  XKS_CREDENTIAL_OLD: 'KmsXksProxyCredentialOld',
  XKS_KEY_MANAGER_UNHEALTHY: 'KmsXksExternalKeyManagerUnhealthy',
  XKS_PROXY_UNHEALTHY: 'KmsXksProxyUnhealthy',
  KEY_STORE_THROTTLED: 'KmsCustomKeyStoreThrottled',
  HSM_UNHEALTHY: 'CloudHsmHsmUnhealthy',
  SELF: 'KeystoreWatchDegraded',
} as const satisfies Record<Condition, string>;


/** What an alert is about; ids are filled into guidance commands. */
export interface AlertSubject extends AccountFacts {
  accountId: string;
  accountName: string;
  region: string;
  storeId: string | null;
  storeName: string | null;
  storeType: StoreType | null;
  state: ConnectionState | null;
  errorCode: ConnectionErrorCode | null;
  clusterId: string | null;
  /** Extra facts for the message, e.g. { "HSM": "hsm-abc", "Days left": "12" }. */
  details: Record<string, string>;
}

export interface Guidance {
  title: string;
  summary: string;
  cause: string;
  steps: string[];
  commands: string[];
  docs: { title: string; url: string }[];
  /** Anchor in docs/runbooks.md, e.g. "kmscustomkeystorefailed". */
  runbookAnchor: string;
}

export type NotificationKind = 'firing' | 'reminder' | 'resolved' | 'digest' | 'drill';

export interface AlertNotification {
  /** Idempotency key: stable for one event, so a retry after a crash carries the same id. */
  id: string;
  kind: Exclude<NotificationKind, 'digest'>;
  severity: Severity;
  condition: Condition;
  /** Stable per subject and condition: the PagerDuty dedup_key. */
  alertKey: string;
  subject: AlertSubject;
  guidance: Guidance;
  /** Epoch ms when the condition began (firing) or ended (resolved). */
  since: number;
  createdAt: number;
  /** Channel ids that must not get this notification (self-alerts about a channel go elsewhere). */
  excludeChannels?: string[];
  /**
   * The alert's flat label set (src/alert/labels.ts): what routes, silences and the Alertmanager channel
   * match and post. Absent in notifications queued by versions before it existed.
   */
  labels?: Record<string, string>;
  /**
   * Reminders only: the epoch ms the incident fired (or was last updated) and of the notification before
   * this one, so a route with a longer repeatInterval than the engine's takes only some reminders
   * (src/notify/routing.ts).
   */
  reminder?: { anchor: number; previous: number };
}

export interface DigestNotification {
  id: string;
  kind: 'digest';
  severity: Severity;
  /** The per-store notifications the digest replaces; each keeps its own alert state. */
  items: AlertNotification[];
  createdAt: number;
  /** The labels all items share (like Alertmanager's commonLabels); routing looks at each item's own. */
  labels?: Record<string, string>;
}

export type Notification = AlertNotification | DigestNotification;
