// The configuration schema: the one source of the config types (z.infer) and of the validation
// messages operators see. Every refinement names the key it is about.
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { tagLabelName } from '../util/prom-label.js';
import { parseOuSelector } from '../discover/ou-path.js';
import { parseCron } from './cron.js';
import { channelIds } from './channel-ids.js';
import { routeSchema, validateRoutes, type RouteConfig } from './routes.js';
import { parseMatcherList } from '../util/matchers.js';
import { arnPartition, partitionOfRegion } from './partitions.js';

const ACCOUNT_ID = /^\d{12}$/;
const ROLE_ARN = /^arn:aws[a-zA-Z-]*:iam::\d{12}:role\/[\w+=,.@\-/]{1,512}$/;

/** A region name the SDK's partition metadata lists (see partitions.ts): typos exit 2 naming the key. */
const region = z.string().refine((r) => partitionOfRegion(r) !== null, {
  error: (iss) => `unknown AWS region ${JSON.stringify(iss.input)}: no partition of this build's AWS SDK lists it (a typo such as "us-east-7" or "eu-west1"?)`,
});
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
/** Organizations TagKey / TagValue (organizations-2016-11-28 model): letters, separators, digits and _.:/=+-@. */
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
const tagKey = z.string().regex(TAG_KEY, 'expected a tag key: 1-128 letters, digits, spaces or _.:/=+-@');
const ouSelector = z.string().superRefine((v, ctx) => {
  const s = parseOuSelector(v);
  if (typeof s === 'string') ctx.addIssue({ code: 'custom', message: s });
});
const ouPath = z.string().superRefine((v, ctx) => {
  const s = parseOuSelector(v);
  if (typeof s === 'string' || s.kind !== 'path') ctx.addIssue({ code: 'custom', message: 'expected an OU path such as /Prod/Payments ("/" for the root)' });
});

/** Alertmanager matchers (src/util/matchers.ts), each string one matcher or a comma-separated list. */
const matcherListSchema = z.array(z.string().min(1)).min(1, 'at least one matcher, e.g. account_id="222222222222"').superRefine((list, ctx) => {
  try { parseMatcherList(list); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); }
});

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;
const rfc3339 = () => z.string().regex(RFC3339, 'expected an RFC 3339 time such as 2026-12-01T02:00:00Z').transform((v) => Date.parse(v));

/**
 * A maintenance window: recurring (`schedule`, a cron expression in UTC with node-cron's grammar, open for
 * `duration` from each start) or fixed (`start` .. `end`, RFC 3339). Matching alerts send nothing while
 * it is open (src/alert/maintenance.ts).
 */
type MaintenanceWindowConfig =
  | { name: string; matchers: string[]; schedule: string; duration: number }
  | { name: string; matchers: string[]; start: number; end: number };

const maintenanceWindowSchema = z.strictObject({
  name: z.string().min(1).max(200),
  matchers: matcherListSchema,
  schedule: z.string().superRefine((v, ctx) => { const r = parseCron(v); if (!r.ok) ctx.addIssue({ code: 'custom', message: r.problem }); }).optional(),
  duration: z.string().or(z.number()).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms !== null && ms >= 60_000 && ms <= 31 * 86_400_000) return ms;
    ctx.addIssue({ code: 'custom', message: 'expected a duration between 1m and 31d, e.g. "2h"' });
    return z.NEVER as never as number;
  }).optional(),
  start: rfc3339().optional(),
  end: rfc3339().optional(),
}).superRefine((w, ctx) => {
  const recurring = w.schedule !== undefined || w.duration !== undefined;
  const fixed = w.start !== undefined || w.end !== undefined;
  if (recurring && fixed) ctx.addIssue({ code: 'custom', message: 'give either schedule + duration (recurring) or start + end (fixed), not both' });
  else if (recurring && (w.schedule === undefined || w.duration === undefined)) ctx.addIssue({ code: 'custom', path: [w.schedule === undefined ? 'schedule' : 'duration'], message: 'a recurring window needs both schedule (cron, UTC) and duration' });
  else if (fixed && (w.start === undefined || w.end === undefined)) ctx.addIssue({ code: 'custom', path: [w.start === undefined ? 'start' : 'end'], message: 'a fixed window needs both start and end (RFC 3339)' });
  else if (!recurring && !fixed) ctx.addIssue({ code: 'custom', message: 'needs schedule + duration (recurring) or start + end (fixed)' });
  else if (fixed && w.end! <= w.start!) ctx.addIssue({ code: 'custom', path: ['end'], message: 'end must be after start' });
}).transform((w): MaintenanceWindowConfig => (w.schedule !== undefined
  ? { name: w.name, matchers: w.matchers, schedule: w.schedule, duration: w.duration! }
  : { name: w.name, matchers: w.matchers, start: w.start!, end: w.end! }));

/** A duration such as "10s", "4h", "30d"; parsed to milliseconds. */
const duration = (what = 'a duration such as "30s", "5m", "4h"') =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[\w.-]*):\d{1,5}$/, 'expected HOST:PORT, e.g. "0.0.0.0:9464"').refine(
  (v) => { const port = Number(v.slice(v.lastIndexOf(':') + 1)); return port >= 0 && port <= 65535; },
  'port must be between 0 and 65535',
);

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
const severity = z.enum(['critical', 'warning', 'info']);

const accountSchema = z.strictObject({
  id: z.string().regex(ACCOUNT_ID, 'expected a 12-digit AWS account id (quote it in YAML so leading zeros survive)'),
  name: z.string().min(1).max(128).optional(),
  roleArn: z.string().regex(ROLE_ARN, 'expected an IAM role ARN such as arn:aws:iam::111111111111:role/KeystoreWatch').nullable().optional(),
  externalId: z.string().regex(EXTERNAL_ID, 'expected 2-1224 characters of [\\w+=,.@:/-]').nullable().optional(),
  /** Owner facts for an account Organizations does not describe (or to override what it says). */
  ouPath: ouPath.optional(),
  tags: z.record(tagKey, z.string().regex(TAG_VALUE, 'expected a tag value: up to 256 letters, digits, spaces or _.:/=+-@')).optional()
    .refine((t) => !t || Object.keys(t).length <= 50, 'at most 50 tags (the AWS limit per resource)'),
}).superRefine((a, ctx) => {
  if (a.roleArn && a.roleArn.split(':')[4] !== a.id) {
    ctx.addIssue({ code: 'custom', path: ['roleArn'], message: `role ARN belongs to account ${a.roleArn.split(':')[4]}, not ${a.id}` });
  }
});

const channelBase = { minSeverity: severity.default('warning'), name: z.string().min(1).max(64).optional() };

const slackChannel = z.strictObject({ type: z.literal('slack'), webhookUrl: httpUrl, ...channelBase });
const pagerDutyChannel = z.strictObject({
  type: z.literal('pagerduty'),
  routingKey: z.string().min(1, 'routing key is empty (is the environment variable set?)'),
  url: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
  ...channelBase,
  minSeverity: severity.default('critical'),
});
const webhookChannel = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  hmacSecret: z.string().min(1).nullable().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  ...channelBase,
});
const consoleChannel = z.strictObject({ type: z.literal('console'), ...channelBase, minSeverity: severity.default('info') });
/** Alertmanager API v2 (src/notify/alertmanager.ts): `url` or `urls` (every instance of a cluster gets every alert). */
const alertmanagerChannel = z.strictObject({
  type: z.literal('alertmanager'),
  url: httpUrl.optional(),
  urls: z.array(httpUrl).min(1, 'list at least one Alertmanager URL').max(16).optional(),
  /** Firing alerts are re-posted this often; Alertmanager resolves an alert not re-posted by its endsAt (4 × this). */
  resendInterval: duration().default(60_000).refine((ms) => ms >= 1000 && ms <= 3_600_000, 'must be between 1s and 1h'),
  basicAuth: z.strictObject({ username: z.string().min(1), password: z.string().min(1, 'password is empty (is the environment variable set?)') }).nullable().optional(),
  bearerToken: z.string().min(1, 'bearer token is empty (is the environment variable set?)').nullable().optional(),
  ...channelBase,
  // Alertmanager routes by severity itself: by default it gets everything.
  minSeverity: severity.default('info'),
}).superRefine((c, ctx) => {
  if (!c.url && !c.urls) ctx.addIssue({ code: 'custom', path: ['urls'], message: 'set url or urls (the Alertmanager base URL, e.g. http://alertmanager:9093)' });
  if (c.url && c.urls) ctx.addIssue({ code: 'custom', path: ['url'], message: 'set url or urls, not both' });
  if (c.basicAuth && c.bearerToken) ctx.addIssue({ code: 'custom', path: ['bearerToken'], message: 'set basicAuth or bearerToken, not both' });
});

export const channelSchema = z.discriminatedUnion('type', [slackChannel, pagerDutyChannel, webhookChannel, consoleChannel, alertmanagerChannel], {
  error: (iss) => (iss.code === 'invalid_union' ? 'expected type to be one of slack, pagerduty, webhook, console, alertmanager' : undefined),
});

const connectingTimeout = z.strictObject({
  AWS_CLOUDHSM: duration().default(20 * 60_000),
  EXTERNAL_KEY_STORE: duration().default(5 * 60_000),
});

/**
 * CloudWatch: GetMetricData per account-region per poll (AWS/KMS external key store and CloudHSM key store
 * metrics, AWS/CloudHSM HsmUnhealthy), and the thresholds of the findings it feeds.
 */
const cloudwatchSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** GetMetricData Period: KMS publishes these metrics per minute; the console graphs 5-minute periods. */
  period: duration().default(300_000).refine((ms) => ms >= 60_000 && ms % 60_000 === 0, 'must be a whole number of minutes, at least 1m'),
  /** How far back a datapoint may be and still count; older means the metric is absent (never zero). */
  lookback: duration().default(15 * 60_000).refine((ms) => ms >= 60_000 && ms <= 86_400_000, 'must be between 1m and 24h'),
  /** XKS proxy TLS certificate: critical under this (the warning is alerting.certificateExpiryWarning). */
  certificateCritical: duration().default(7 * 86_400_000),
  /** XKS proxy authentication credential older than this: rotate it. */
  credentialMaxAge: duration().default(90 * 86_400_000),
  /** Share of proxy requests failing (errors / requests in one period) for "CONNECTED but degraded" and "... failing". */
  errorRateWarning: z.number().min(0).max(1).default(0.05),
  errorRateCritical: z.number().min(0).max(1).default(0.25),
  /** Fewer errors than this in a period never count (one failed request of three is not a trend). */
  minErrors: z.number().int().min(1).default(5),
  /** Average proxy latency near KMS's 250 ms timeout: degraded at this, failing at latencyCritical. */
  latencyWarning: duration().default(200).refine((ms) => ms > 0 && ms <= 250, 'must be at most 250ms (the KMS timeout)'),
  latencyCritical: duration().default(240).refine((ms) => ms > 0 && ms <= 250, 'must be at most 250ms (the KMS timeout)'),
  /** Throttled requests in one period (ExternalKeyStoreThrottle, CloudHSMKeyStoreThrottle) that raise KEY_STORE_THROTTLED. */
  throttledRequests: z.number().int().min(1).default(10),
}).superRefine((c, ctx) => {
  if (c.errorRateCritical < c.errorRateWarning) ctx.addIssue({ code: 'custom', path: ['errorRateCritical'], message: 'must not be below errorRateWarning' });
  if (c.latencyCritical < c.latencyWarning) ctx.addIssue({ code: 'custom', path: ['latencyCritical'], message: 'must not be below latencyWarning' });
  if (c.lookback < c.period) ctx.addIssue({ code: 'custom', path: ['lookback'], message: 'must be at least one period' });
});

/** CloudTrail LookupEvents: 2 requests per second per account and region (the AWS quota; not adjustable). */
const cloudtrailSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Requests per second per account-region; AWS allows 2. */
  ratePerSecond: z.number().min(0.1).max(2).default(2),
  /** A change without a matching event is looked up again each poll until this long after it was seen (CloudTrail delivers events within minutes). */
  searchWindow: duration().default(15 * 60_000).refine((ms) => ms >= 0 && ms <= 86_400_000, 'must be at most 24h'),
  /** Pages of LookupEvents (50 events each) at most per event name, account-region and poll. */
  maxPages: z.number().int().min(1).max(100).default(10),
});

export const configSchema = z.strictObject({
  schedule: z.string().default('*/1 * * * *').superRefine((v, ctx) => {
    const r = parseCron(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `${r.problem} (a cron expression such as "*/1 * * * *")` });
  }),
  listen: listenAddress.default('0.0.0.0:9464'),
  stateDir: z.string().min(1).default('./data'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  http: z.strictObject({
    authToken: z.string().min(16, 'authToken must be at least 16 characters').nullable().default(null),
    tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).nullable().default(null),
    /** Open connections at most; beyond it the oldest idle connection is closed (server/http.ts). */
    maxConnections: z.number().int().min(8).max(65_536).default(256),
    /** From connecting to the end of the request headers (a TLS handshake included). */
    headersTimeout: duration().default(10_000).refine((ms) => ms >= 1000 && ms <= 300_000, 'must be between 1s and 5m'),
    /** From connecting to the end of the whole request. */
    requestTimeout: duration().default(30_000).refine((ms) => ms >= 1000 && ms <= 600_000, 'must be between 1s and 10m'),
    /** Idle time allowed between two requests on one connection. */
    keepAliveTimeout: duration().default(65_000).refine((ms) => ms >= 1000 && ms <= 600_000, 'must be between 1s and 10m'),
    /** The URL people and Alertmanager reach the daemon at (a reverse proxy's, path prefix included): status page links in notifications, an Alertmanager alert's generatorURL. */
    externalUrl: httpUrl.nullable().default(null),
    /** Header an authenticating proxy (oauth2-proxy: X-Forwarded-User) sets to the signed-in user: the status page trusts it. */
    trustedUserHeader: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a header name such as X-Forwarded-User').nullable().default(null),
  }).prefault({}),
  aws: z.strictObject({
    endpoint: httpUrl.nullable().default(null),
    concurrency: z.number().int().min(1).max(1024).default(32),
    maxAttempts: z.number().int().min(1).max(20).default(5),
    requestTimeout: duration().default(10_000),
    targetTimeout: duration().default(60_000),
    pageSize: z.number().int().min(1).max(1000).default(1000),
    roleSessionName: z.string().regex(/^[\w+=,.@-]{2,64}$/, 'expected 2-64 characters of [\\w+=,.@-]').default('keystore-watch'),
    sessionDuration: duration().default(3_600_000).refine((ms) => ms >= 900_000 && ms <= 43_200_000, 'must be between 15m and 12h'),
    /**
     * Region used for STS, Organizations and Account calls. Default: the home region of the partition the
     * regions belong to (us-east-1, cn-northwest-1, us-gov-west-1), filled in by the transform below.
     */
    homeRegion: region.nullable().default(null),
    /**
     * FIPS endpoints: null follows the SDK's own setting (AWS_USE_FIPS_ENDPOINT, use_fips_endpoint in the
     * profile). Applied per service only where AWS has a FIPS endpoint for it in that region (collect/fips.ts).
     */
    useFipsEndpoint: z.boolean().nullable().default(null),
    /**
     * Worker threads that run the per-target AWS SDK calls (KMS, CloudHSM, CloudWatch, CloudTrail): the
     * SDK's signing and (de)serialisation cost ~0.6 ms of CPU per call, which on one event loop caps a
     * sweep at ~1,500 calls/s whatever the concurrency (collect/sdk-threads.ts). "auto": one per CPU beyond
     * the first, at most 2; 0 keeps every call on the main thread.
     */
    sdkThreads: z.union([z.literal('auto'), z.number().int().min(0).max(16)]).default('auto'),
  }).prefault({}),
  accounts: z.array(accountSchema).default([]),
  organizations: z.strictObject({
    enabled: z.boolean().default(false),
    roleName: z.string().regex(/^[\w+=,.@-]{1,64}$/, 'expected an IAM role name').default('KeystoreWatch'),
    externalId: z.string().regex(EXTERNAL_ID, 'expected 2-1224 characters of [\\w+=,.@:/-]').nullable().default(null),
    includeAccounts: z.array(z.string().min(1)).default([]),
    excludeAccounts: z.array(z.string().min(1)).default([]),
    /** OU ids (ou-…, r-…) or paths (/Prod/Payments, matching the subtree). */
    includeOUs: z.array(ouSelector).default([]),
    excludeOUs: z.array(ouSelector).default([]),
    /** How often discovered data (accounts, their OU paths and tags, each account's enabled regions) is read again; the last good answer is kept meanwhile. */
    refreshInterval: duration().default(15 * 60_000).refine((ms) => ms >= 60_000, 'must be at least 1m'),
    /** A role assumed for the Organizations calls (in the management or a delegated administrator account). */
    roleArn: z.string().regex(ROLE_ARN, 'expected an IAM role ARN such as arn:aws:iam::111111111111:role/KeystoreWatchOrganizations').nullable().default(null),
    /** External id for organizations.roleArn (organizations.externalId is the member roles' one). */
    roleExternalId: z.string().regex(EXTERNAL_ID, 'expected 2-1224 characters of [\\w+=,.@:/-]').nullable().default(null),
    /** Account tag keys read with ListTagsForResource and exported as tag_<key> labels. */
    tags: z.array(tagKey).max(20, 'at most 20 tag keys (each becomes a label of keystore_watch_account_info)').default([]),
  }).prefault({}),
  /** A list of regions polled in every account, or "enabled": every region each account has enabled (Account ListRegions). */
  regions: z.union([
    z.literal('enabled'),
    z.array(region).min(1, 'list at least one region'),
  ], { error: (iss) => (iss.code === 'invalid_union' ? 'expected a list of regions such as [us-east-1, eu-west-1], or the word "enabled"' : undefined) }),
  /** Regions never polled, with either form of `regions`. */
  excludeRegions: z.array(region).default([]),
  /**
   * Where the state lives. file (default): documents under stateDir, one replica (the stateDir lock).
   * postgres: a PostgreSQL database shared by replicas, one of which leads under a lease (src/ha/).
   */
  state: z.strictObject({
    backend: z.enum(['file', 'postgres']).default('file'),
    /** postgres:// URL (the password is a secret: never logged or shown). Null: the PG* environment variables. */
    url: z.string().min(1).nullable().default(null).refine((v) => v === null || /^postgres(ql)?:\/\/[^\s]*$/.test(v), 'expected a postgres:// or postgresql:// URL'),
    /** The schema of keystore-watch's tables (created and migrated at start). */
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case SQL identifier (letters, digits, _), at most 63 characters').default('keystore_watch'),
    /** How long a leader's lease lasts without renewal: the longest a dead leader delays the takeover. */
    leaseDuration: duration().default(15_000).refine((ms) => ms >= 1000 && ms <= 300_000, 'must be between 1s and 5m'),
    /** How often the leader renews its lease and a follower tries to take it. */
    renewInterval: duration().default(5_000).refine((ms) => ms >= 200, 'must be at least 200ms'),
    /** How often a follower re-reads the latest committed snapshot and alert state it serves. */
    refreshInterval: duration().default(5_000).refine((ms) => ms >= 200 && ms <= 300_000, 'must be between 200ms and 5m'),
    /** Deadline of one database call (and of connecting). */
    queryTimeout: duration().default(10_000).refine((ms) => ms >= 500 && ms <= 300_000, 'must be between 500ms and 5m'),
    /**
     * The other replicas' base URLs (http(s)://host:port), or dns+http(s)://name:port for every address a
     * name resolves to (a Kubernetes headless Service). A leader that cannot renew its lease asks them
     * before stepping down: when none reaches PostgreSQL it keeps polling and paging from memory
     * (src/ha/peers.ts, docs/ha.md). Empty: a database outage stops paging until it returns.
     */
    peers: z.array(z.string().regex(/^(dns\+)?https?:\/\/[^\s/?#]+\/?$/i, 'expected http(s)://host:port or dns+http(s)://name:port (a base URL without a path)')).max(32).default([]),
  }).prefault({}).superRefine((st, ctx) => {
    if (st.renewInterval * 2 > st.leaseDuration) ctx.addIssue({ code: 'custom', path: ['renewInterval'], message: `must be at most half of state.leaseDuration (${st.leaseDuration / 1000}s), so one failed renewal does not lose the lease` });
    if (st.backend === 'file' && st.url !== null) ctx.addIssue({ code: 'custom', path: ['url'], message: 'is only used with state.backend: postgres' });
    if (st.backend === 'file' && st.peers.length > 0) ctx.addIssue({ code: 'custom', path: ['peers'], message: 'is only used with state.backend: postgres' });
  }),
  alerting: z.strictObject({
    confirmations: z.number().int().min(1).max(100).default(2),
    repeatInterval: duration().default(4 * 3_600_000),
    connectingTimeout: connectingTimeout.prefault({}),
    targetDownAfter: z.number().int().min(1).max(1000).default(3),
    groupThreshold: z.number().int().min(1).default(5),
    certificateExpiryWarning: duration().default(30 * 86_400_000),
    clusterUpdateTimeout: duration().default(60 * 60_000),
    expectDisconnected: z.array(z.string().min(1)).default([]),
    /** Planned work: matching alerts are muted like a silence while a window is open (src/alert/maintenance.ts). */
    maintenanceWindows: z.array(maintenanceWindowSchema).default([]),
    /**
     * A store whose ConnectionState changes `changes` times within `window` raises one FLAPPING alert
     * (critical when it spent more than half the window not CONNECTED), resolved once it has been stable
     * for a whole window. Choose a window of at least `changes` poll intervals, or it can never fire.
     */
    flapping: z.strictObject({
      changes: z.number().int().min(2).max(100).default(4),
      window: duration().default(10 * 60_000).refine((ms) => ms >= 1000, 'must be at least 1s'),
    }).prefault({}),
    channels: z.array(channelSchema).default([]),
    /** The routing tree under the default route (src/config/routes.ts, src/notify/routing.ts); absent: every channel takes every alert its minSeverity allows. */
    routes: z.array(routeSchema).optional(),
    /** The channels of alerts no route matches (the default route); absent: every channel. */
    defaultChannels: z.array(z.string().min(1)).optional(),
    /** Caps so the state on disk cannot grow without end; the oldest entries are dropped first and counted. */
    historyLimit: z.number().int().min(10).default(5000),
    outboxLimit: z.number().int().min(10).default(10000),
    /** A notification still failing after this many attempts, or this long after it was queued, is dead-lettered (kept, counted, shown in /api/v1/outbox). */
    outboxMaxAttempts: z.number().int().min(1).max(100_000).default(50),
    outboxMaxAge: duration().default(6 * 3_600_000).refine((ms) => ms >= 1_000, 'must be at least 1s'),
    deadLetterLimit: z.number().int().min(10).max(100_000).default(500),
  }).superRefine((a, ctx) => validateRoutes(a.routes, a.defaultChannels, channelIds(a.channels), ctx)).prefault({}),
  probe: z.strictObject({
    enabled: z.boolean().default(false),
    interval: duration().default(60_000),
    /**
     * GenerateRandom calls per second per account and region. GenerateRandom does not share
     * DescribeCustomKeyStores' quota: it counts against the account's "Cryptographic operations (symmetric)
     * request rate" quota, shared with the applications' Encrypt/Decrypt/GenerateDataKey calls, and with
     * CustomKeyStoreId also against the "AWS CloudHSM key store request quota" of that store (not adjustable;
     * https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html). The cap keeps the probe
     * a negligible share of both; a ThrottlingException is counted and retried at the next interval.
     */
    ratePerSecond: z.number().min(0.1).max(4).default(1),
    failuresBeforeAlert: z.number().int().min(1).default(3),
  }).prefault({}),
  /** CloudWatch enrichment of existing stores (src/collect/cloudwatch.ts) and the findings it feeds. */
  cloudwatch: cloudwatchSchema.prefault({}),
  /** "Who changed it": CloudTrail LookupEvents when a store's state or configuration changes (src/collect/cloudtrail.ts). */
  cloudtrail: cloudtrailSchema.prefault({}),
}).superRefine((c, ctx) => {
  if (c.accounts.length === 0 && !c.organizations.enabled) {
    ctx.addIssue({ code: 'custom', path: ['accounts'], message: 'list at least one account or enable organizations discovery' });
  }
  const seen = new Map<string, number>();
  c.accounts.forEach((a, i) => {
    if (seen.has(a.id)) ctx.addIssue({ code: 'custom', path: ['accounts', i, 'id'], message: `account ${a.id} is listed twice (also at accounts[${seen.get(a.id)}])` });
    seen.set(a.id, i);
  });
  if (c.organizations.roleExternalId && !c.organizations.roleArn) {
    ctx.addIssue({ code: 'custom', path: ['organizations', 'roleExternalId'], message: 'is the external id of organizations.roleArn, which is not set' });
  }
  // Every configured tag key becomes a label: two keys may not end up as the same label name.
  const labels = new Map<string, string>();
  const claim = (key: string, path: (string | number)[]) => {
    const label = tagLabelName(key);
    const first = labels.get(label);
    if (first === undefined) labels.set(label, key);
    else if (first !== key) ctx.addIssue({ code: 'custom', path, message: `tag keys ${JSON.stringify(first)} and ${JSON.stringify(key)} would both be exported as the label ${label}` });
    else if (path[0] === 'organizations') ctx.addIssue({ code: 'custom', path, message: `tag key ${JSON.stringify(key)} is listed twice` });
  };
  c.organizations.tags.forEach((k, i) => claim(k, ['organizations', 'tags', i]));
  c.accounts.forEach((a, i) => {
    for (const k of Object.keys(a.tags ?? {})) {
      const label = tagLabelName(k);
      if (labels.get(label) !== k) claim(k, ['accounts', i, 'tags', k]);
    }
  });
  const regions = new Set<string>();
  const listed = c.regions === 'enabled' ? [] : c.regions;
  listed.forEach((r, i) => {
    if (regions.has(r)) ctx.addIssue({ code: 'custom', path: ['regions', i], message: `region ${r} is listed twice` });
    regions.add(r);
  });
  if (listed.length > 0 && listed.every((r) => c.excludeRegions.includes(r))) {
    ctx.addIssue({ code: 'custom', path: ['excludeRegions'], message: 'excludes every region listed in regions: nothing would be polled' });
  }
  // One partition: credentials, ARNs and endpoints of aws, aws-cn and aws-us-gov never mix. The first
  // region listed (else aws.homeRegion, else aws) decides; every other key that names one must agree.
  const named: { path: (string | number)[]; partition: string; what: string }[] = [];
  listed.forEach((r, i) => named.push({ path: ['regions', i], partition: partitionOfRegion(r)?.name ?? '', what: `region ${r}` }));
  if (c.aws.homeRegion) named.push({ path: ['aws', 'homeRegion'], partition: partitionOfRegion(c.aws.homeRegion)?.name ?? '', what: `region ${c.aws.homeRegion}` });
  c.excludeRegions.forEach((r, i) => named.push({ path: ['excludeRegions', i], partition: partitionOfRegion(r)?.name ?? '', what: `region ${r}` }));
  c.accounts.forEach((a, i) => { if (a.roleArn) named.push({ path: ['accounts', i, 'roleArn'], partition: arnPartition(a.roleArn) ?? '', what: `role ARN ${a.roleArn}` }); });
  if (c.organizations.roleArn) named.push({ path: ['organizations', 'roleArn'], partition: arnPartition(c.organizations.roleArn) ?? '', what: `role ARN ${c.organizations.roleArn}` });
  const known = named.filter((n) => n.partition !== '');
  const first = known[0];
  const partition = first?.partition ?? 'aws';
  for (const n of known) {
    if (n.partition !== partition) {
      ctx.addIssue({ code: 'custom', path: n.path, message: `${n.what} is in partition ${n.partition}, but ${first!.what} (${formatKey(first!.path)}) is in ${partition}: one keystore-watch watches one partition (run one per partition)` });
    }
  }
}).transform((c) => {
  // Fill the home region from the partition once validation has passed.
  if (c.aws.homeRegion) return c as typeof c & { aws: { homeRegion: string } };
  const first = c.regions === 'enabled' ? undefined : c.regions[0];
  const homeRegion = (first && partitionOfRegion(first)?.homeRegion) || roleArnHome(c.accounts) || 'us-east-1';
  return { ...c, aws: { ...c.aws, homeRegion } };
});

/** With `regions: enabled` and no homeRegion, the role ARNs say the partition. */
function roleArnHome(accounts: { roleArn?: string | null }[]): string | null {
  const p = accounts.map((a) => (a.roleArn ? arnPartition(a.roleArn) : null)).find((x) => x);
  return p ? PARTITION_HOMES[p] ?? null : null;
}

/** Home regions of the partitions whose ARNs keystore-watch may see before it knows a region. */
const PARTITION_HOMES: Record<string, string> = { aws: 'us-east-1', 'aws-cn': 'cn-northwest-1', 'aws-us-gov': 'us-gov-west-1' };

const formatKey = (path: (string | number)[]): string => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ChannelConfig = z.infer<typeof channelSchema>;
export type AccountConfig = z.infer<typeof accountSchema>;
export type { RouteConfig };
