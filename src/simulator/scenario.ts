// Scenario files: the public YAML format operators write for fire drills. One zod schema is the
// single source of the types (z.infer) and of the error messages (file, field path, problem).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClusterState, HsmState } from '@aws-sdk/client-cloudhsm-v2';
import { ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, XksProxyConnectivityType } from '@aws-sdk/client-kms';
import { AccountState } from '@aws-sdk/client-organizations';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { metricsProblems, signedDurationSchema, storeMetricsSchema } from './metrics.js';
import { PARTITION_IDS, regionInfo } from './regions.js';
import { actorSchema, KEY_STORE_EVENTS } from './trail.js';

export const DEMO_SCENARIO_PATH: string = fileURLToPath(new URL('../../config/scenarios/demo.yaml', import.meta.url));

export class ScenarioError extends Error {
  constructor(message: string, readonly issues: { path: string; message: string }[] = []) {
    super(message);
    this.name = 'ScenarioError';
  }
}

// The CloudHSM client pinned by the project (3.332.0) predates two cluster states the model has.
export const CLUSTER_STATES = { ...ClusterState, MODIFY_IN_PROGRESS: 'MODIFY_IN_PROGRESS', ROLLBACK_IN_PROGRESS: 'ROLLBACK_IN_PROGRESS' } as const;
export type ClusterStateValue = (typeof CLUSTER_STATES)[keyof typeof CLUSTER_STATES];

export const ACCOUNT_ID = /^\d{12}$/;
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
export const STORE_ID = /^cks-[0-9a-zA-Z]{1,60}$/;
// AWS's pattern is [2-7a-zA-Z]; digits 0, 1, 8, 9 are tolerated so scenarios may use ids such as cluster-1a23b4cdefg.
export const CLUSTER_ID = /^cluster-[0-9a-zA-Z]{11,16}$/;
export const HSM_ID = /^hsm-[0-9a-zA-Z]{11,16}$/;
const AZ = /^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/;

/** "90s", "5m", or a bare number of seconds -> milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (write e.g. 250ms, 90s, 5m, 1h, 30d)` });
    return z.NEVER;
  }
  return ms;
});

/** ISO-8601 text (YAML may also hand over a Date) -> epoch milliseconds. */
export const timestampSchema = z.union([z.string(), z.date(), z.number()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v * 1000 : v instanceof Date ? v.getTime() : Date.parse(v);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: `not a timestamp: ${JSON.stringify(v)} (write e.g. 2024-03-01T10:00:00Z)` });
    return z.NEVER;
  }
  return ms;
});

const pemSchema = z.string().regex(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, 'must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)');

/** A certificate to generate: valid until `notAfter`, or for `expiresIn` from simulator start. */
export const certValiditySchema = z.strictObject({
  expiresIn: durationSchema.optional(),
  notAfter: timestampSchema.optional(),
  notBefore: timestampSchema.optional(),
}).refine((v) => !(v.expiresIn !== undefined && v.notAfter !== undefined), 'give expiresIn or notAfter, not both');
/** A certificate field: a PEM to serve verbatim, a validity to generate, or null for none. */
export const certFieldSchema = z.union([pemSchema, certValiditySchema, z.null()]);

/**
 * A state AWS may add to an enum after the SDK was built (AWS adds enum values; clients must cope).
 * Given as `unknownState:` beside the strict `state:` so that a typo in `state` is still refused.
 */
export const UNKNOWN_STATE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;
function unknownStateSchema(known: Record<string, string>) {
  const values = new Set(Object.values(known));
  return z.string()
    .regex(UNKNOWN_STATE, 'must be an UPPER_SNAKE_CASE state name that the SDK does not know, e.g. QUARANTINED')
    .refine((v) => !values.has(v), { message: 'is a known state; write it as state: instead' });
}

const oneState = (v: { state?: unknown; unknownState?: unknown }) => v.state === undefined || v.unknownState === undefined;
const ONE_STATE = { path: ['unknownState'], message: 'give state or unknownState, not both' };

const errorCodeName = z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'must be an AWS error code such as KMSInternalException');
const overridesSchema = z.record(z.string(), z.unknown());

const xksSchema = z.strictObject({
  connectivity: z.enum(XksProxyConnectivityType).default('PUBLIC_ENDPOINT'),
  uriEndpoint: z.string().min(1).optional(),
  uriPath: z.string().min(1).optional(),
  accessKeyId: z.string().min(1).optional(),
  vpcEndpointServiceName: z.string().min(1).optional(),
});

// Fields a store may change at run time (timeline `set`, control API PATCH, Fleet.setStore).
const storeMutable = {
  name: z.string().min(1).max(256),
  state: z.enum(ConnectionStateType),
  /** A ConnectionState the SDK does not know (e.g. QUARANTINED), served as-is; replaces `state`. */
  unknownState: unknownStateSchema(ConnectionStateType),
  errorCode: z.enum(ConnectionErrorCodeType).nullable(),
  trustAnchorCertificate: pemSchema.nullable(),
  trustAnchor: certValiditySchema,
  xks: xksSchema,
  /** Where the next ConnectCustomKeyStore ends: null = CONNECTED, a code = FAILED with it. */
  connectError: z.enum(ConnectionErrorCodeType).nullable(),
  connectDelay: durationSchema,
  /** GenerateRandom on this store answers this error (e.g. KMSInternalException); null = works. */
  probeFailure: errorCodeName.nullable(),
  /** Raw fields merged into the wire entry last (null removes one): unknown enums, hostile strings. */
  overrides: overridesSchema,
  clusterId: z.string().regex(CLUSTER_ID, 'must look like cluster-1a23b4cdefg (cluster- and 11-16 letters or digits)'),
  /** CloudWatch metrics KMS publishes for this store (XksProxyCertificateDaysToExpire, XksProxyErrors, ...): see docs/simulator.md. A change applies from now on. */
  metrics: storeMetricsSchema,
};
export const storePatchSchema = z.strictObject(storeMutable).partial().refine(oneState, ONE_STATE);
export type StorePatch = z.infer<typeof storePatchSchema>;

export const storeSchema = z.strictObject({
  ...storeMutable,
  id: z.string().regex(STORE_ID, 'must look like cks-1234567890abcdef0').optional(),
  type: z.enum(CustomKeyStoreType).default('AWS_CLOUDHSM'),
  state: storeMutable.state.optional(),
  createdAt: timestampSchema.optional(),
}).partial({ unknownState: true, name: true, errorCode: true, trustAnchorCertificate: true, trustAnchor: true, xks: true, connectError: true, connectDelay: true, probeFailure: true, overrides: true, clusterId: true, metrics: true })
  .superRefine((s, ctx) => {
    if (s.type === 'AWS_CLOUDHSM') {
      if (!s.clusterId) ctx.addIssue({ code: 'custom', path: ['clusterId'], message: 'required for an AWS_CLOUDHSM store' });
      if (s.xks) ctx.addIssue({ code: 'custom', path: ['xks'], message: 'only applies to an EXTERNAL_KEY_STORE store' });
    } else {
      for (const k of ['clusterId', 'trustAnchorCertificate', 'trustAnchor'] as const) {
        if (s[k] != null) ctx.addIssue({ code: 'custom', path: [k], message: 'only applies to an AWS_CLOUDHSM store' });
      }
    }
    if (s.state !== undefined && s.unknownState !== undefined) ctx.addIssue({ code: 'custom', path: ['unknownState'], message: 'give state or unknownState, not both' });
    for (const message of errorCodeProblems(effectiveState(s, 'CONNECTED'), s.errorCode)) ctx.addIssue({ code: 'custom', path: ['errorCode'], message });
    for (const p of s.metrics ? metricsProblems(s.metrics, { kind: 'store', storeType: s.type }) : []) ctx.addIssue({ code: 'custom', path: ['metrics', ...p.path], message: p.message });
  });
export type StoreInput = z.input<typeof storeSchema>;
export type StoreSpec = z.infer<typeof storeSchema>;

/** The state a spec or patch sets: `unknownState` wins over `state`; `fallback` when neither is given. */
export function effectiveState<S extends string, F extends string | undefined>(p: { state?: S | undefined; unknownState?: string | undefined }, fallback: F): S | string | F {
  return p.unknownState ?? p.state ?? fallback;
}

export function errorCodeProblems(state: string | undefined, errorCode: string | null | undefined): string[] {
  if (state === 'FAILED' && !errorCode) return ['required when state is FAILED (a ConnectionErrorCode such as INVALID_CREDENTIALS)'];
  if (state !== undefined && state !== 'FAILED' && errorCode) return [`KMS reports an errorCode only when state is FAILED (state is ${state})`];
  return [];
}

export const hsmSchema = z.strictObject({
  id: z.string().regex(HSM_ID, 'must look like hsm-abcdefghijk').optional(),
  az: z.string().regex(AZ, 'must be an Availability Zone such as us-east-1a'),
  state: z.enum(HsmState).optional(),
  /** An HsmState the SDK does not know, served as-is; replaces `state`. */
  unknownState: unknownStateSchema(HsmState).optional(),
  stateMessage: z.string().optional(),
  subnetId: z.string().optional(),
  eniId: z.string().optional(),
  eniIp: z.string().optional(),
}).refine(oneState, ONE_STATE);
export const hsmPatchSchema = z.strictObject({ state: z.enum(HsmState), unknownState: unknownStateSchema(HsmState), stateMessage: z.string().nullable() }).partial()
  .refine(oneState, ONE_STATE);
export type HsmInput = z.input<typeof hsmSchema>;
export type HsmPatch = z.infer<typeof hsmPatchSchema>;

export const CERTIFICATE_NAMES = ['clusterCsr', 'hsmCertificate', 'awsHardwareCertificate', 'manufacturerHardwareCertificate', 'clusterCertificate'] as const;
export type CertificateName = (typeof CERTIFICATE_NAMES)[number];
const certificatesSchema = z.strictObject(Object.fromEntries(CERTIFICATE_NAMES.map((n) => [n, certFieldSchema.optional()])) as Record<CertificateName, z.ZodOptional<typeof certFieldSchema>>);

const clusterMutable = {
  state: z.enum(CLUSTER_STATES),
  /** A ClusterState the SDK does not know, served as-is; replaces `state`. */
  unknownState: unknownStateSchema(CLUSTER_STATES),
  stateMessage: z.string().nullable(),
  hsms: z.array(hsmSchema),
  certificates: certificatesSchema,
  overrides: overridesSchema,
  /** CloudWatch metrics AWS/CloudHSM publishes for this cluster (HsmUnhealthy). */
  metrics: storeMetricsSchema,
};
export const clusterPatchSchema = z.strictObject(clusterMutable).partial().refine(oneState, ONE_STATE);
export type ClusterPatch = z.infer<typeof clusterPatchSchema>;

export const clusterSchema = z.strictObject({
  ...clusterMutable,
  id: z.string().regex(CLUSTER_ID, 'must look like cluster-1a23b4cdefg (cluster- and 11-16 letters or digits)'),
  state: clusterMutable.state.optional(),
  hsms: clusterMutable.hsms.default([]),
  vpcId: z.string().optional(),
  hsmType: z.string().default('hsm1.medium'),
  subnets: z.record(z.string().regex(AZ, 'must be an Availability Zone such as us-east-1a'), z.string()).optional(),
  createdAt: timestampSchema.optional(),
}).partial({ unknownState: true, stateMessage: true, certificates: true, overrides: true, metrics: true }).refine(oneState, ONE_STATE)
  .superRefine((c, ctx) => {
    for (const p of c.metrics ? metricsProblems(c.metrics, { kind: 'cluster' }) : []) ctx.addIssue({ code: 'custom', path: ['metrics', ...p.path], message: p.message });
  });
export type ClusterInput = z.input<typeof clusterSchema>;
export type ClusterSpec = z.infer<typeof clusterSchema>;

const regionSchema = z.strictObject({
  stores: z.array(storeSchema).default([]),
  clusters: z.array(clusterSchema).default([]),
});

/** An IAM action such as kms:DescribeCustomKeyStores, with `*` wildcards (kms:*, kms:Describe*, *). */
const iamActionSchema = z.string().regex(/^(\*|[a-z0-9-]+:[A-Za-z0-9*]+)$/, 'must be an IAM action such as kms:DescribeCustomKeyStores or kms:* (service prefix, colon, action)');

export const scpDenySchema = z.strictObject({
  account: z.string({ error: 'must be a 12-digit account id in quotes' }).regex(ACCOUNT_ID, 'must be a 12-digit account id (quote it in YAML)'),
  /** Omitted: every region. */
  region: z.string().regex(REGION, 'must be a region name such as us-east-1').optional(),
  action: iamActionSchema,
});

const accountMutable = {
  name: z.string().min(1),
  email: z.string().min(1),
  status: z.enum(AccountState),
  /** true denies every role in this account; a list denies those role names. */
  denyAssumeRole: z.union([z.boolean(), z.array(z.string())]),
  /** When set, AssumeRole into this account must pass this ExternalId. */
  externalId: z.string().min(2).nullable(),
  /** The opt-in regions this account has enabled (me-central-1, af-south-1, ...); every other opt-in region is refused. */
  optInRegions: z.array(z.string().regex(REGION, 'must be a region name such as me-central-1')),
  /** The OU the account sits in, as a path from the root: /Prod/Payments ("/" = directly under the root). */
  ou: z.string().regex(/^\/([^/]{1,128}(\/[^/]{1,128})*)?$/, 'must be an OU path such as /Prod/Payments ("/" = the root)'),
  /** Organizations tags of the account (ListTagsForResource). */
  tags: z.record(z.string().min(1).max(128), z.string().max(256)).refine((t) => Object.keys(t).length <= 50, 'at most 50 tags'),
  /** IAM actions no identity of this account is allowed (implicit deny), e.g. [kms:GenerateRandom]; `*` wildcards. */
  missingPermissions: z.array(iamActionSchema),
  /** IAM roles with settings of their own (any role name may be assumed; unlisted roles have the IAM defaults). */
  roles: z.record(z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name'), z.strictObject({
    /** The role's MaxSessionDuration: 1h (the IAM default) to 12h. */
    maxSessionDuration: durationSchema.refine((ms) => ms >= 3_600_000 && ms <= 43_200_000, 'must be between 1h and 12h (IAM MaxSessionDuration)'),
  }).partial()),
};
export const accountPatchSchema = z.strictObject(accountMutable).partial();
export type AccountPatch = z.infer<typeof accountPatchSchema>;
export const accountSchema = z.strictObject({
  ...accountMutable,
  id: z.string({ error: 'must be a 12-digit account id in quotes, e.g. "111111111111" (YAML reads bare digits as a number)' }).regex(ACCOUNT_ID, 'must be a 12-digit account id (quote it in YAML)'),
  status: accountMutable.status.default('ACTIVE'),
  denyAssumeRole: accountMutable.denyAssumeRole.default(false),
  optInRegions: accountMutable.optInRegions.default([]),
  roles: accountMutable.roles.default({}),
  missingPermissions: accountMutable.missingPermissions.default([]),
  ou: accountMutable.ou.default('/'),
  tags: accountMutable.tags.default({}),
  joinedAt: timestampSchema.optional(),
  regions: z.record(z.string().regex(REGION, 'must be a region name such as us-east-1'), regionSchema).default({}),
}).partial({ name: true, email: true, externalId: true });
export type AccountSpec = z.infer<typeof accountSchema>;

export const SERVICES = ['kms', 'cloudhsm', 'sts', 'organizations', 'account', 'cloudwatch', 'cloudtrail'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const injectedErrorSchema = z.strictObject({
  service: z.enum(SERVICES).optional(),
  operation: z.string().min(1).optional(),
  account: z.string().regex(ACCOUNT_ID, 'must be a 12-digit account id (quote it in YAML)').optional(),
  region: z.string().regex(REGION, 'must be a region name such as us-east-1').optional(),
  probability: z.number().min(0).max(1).default(1),
  /** An AWS error code (KMSInternalException, AccessDeniedException, DependencyTimeoutException, ...) or hang | reset | malformed | truncated. */
  error: z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'must be an AWS error code or one of hang, reset, malformed, truncated'),
  status: z.number().int().min(400).max(599).optional(),
  message: z.string().optional(),
  /** Stop after this many injections. */
  remaining: z.number().int().positive().optional(),
});
export type InjectedError = z.infer<typeof injectedErrorSchema>;

const faultsFields = {
  latencyMs: z.number().min(0),
  jitterMs: z.number().min(0),
  /** Per account x region x operation for the KMS custom key store operations; 0 = unlimited. */
  rateLimitPerSecond: z.number().int().min(0),
  /** Per-operation overrides (any service), e.g. { GenerateRandom: 50, DescribeClusters: 10 }. */
  rateLimits: z.record(z.string(), z.number().int().min(0)),
  errors: z.array(injectedErrorSchema),
  eventualConsistency: z.strictObject({ fraction: z.number().min(0).max(1).default(0), duration: durationSchema.default(0) }),
  /** Seed of the random choices (fault probabilities, jitter, stale reads). */
  seed: z.number().int(),
};
export const faultsSchema = z.strictObject({
  latencyMs: faultsFields.latencyMs.default(0),
  jitterMs: faultsFields.jitterMs.default(0),
  rateLimitPerSecond: faultsFields.rateLimitPerSecond.default(5),
  rateLimits: faultsFields.rateLimits.default({}),
  errors: faultsFields.errors.default([]),
  eventualConsistency: faultsFields.eventualConsistency.default({ fraction: 0, duration: 0 }),
  seed: faultsFields.seed.default(1),
});
export const faultsPatchSchema = z.strictObject(faultsFields).partial();
export type Faults = z.infer<typeof faultsSchema>;
export type FaultsInput = z.input<typeof faultsSchema>;
export type FaultsPatch = z.infer<typeof faultsPatchSchema>;

export const generateSchema = z.strictObject({
  seed: z.number().int().default(1),
  accounts: z.number().int().min(0).max(100_000).default(0),
  regions: z.array(z.string().regex(REGION, 'must be a region name such as us-east-1')).min(1).default(['us-east-1', 'eu-west-1']),
  /** Average stores per account x region; fractions spread stores thinly over many targets. */
  storesPerRegion: z.number().min(0).max(1000).default(1),
  cloudHsmFraction: z.number().min(0).max(1).default(0.7),
  failedFraction: z.number().min(0).max(1).default(0.1),
  disconnectedFraction: z.number().min(0).max(1).default(0),
  hsmsPerCluster: z.number().int().min(0).max(28).default(2),
  suspendedFraction: z.number().min(0).max(1).default(0),
});
export type GenerateSpec = z.infer<typeof generateSchema>;

const timelineEntrySchema = z.strictObject({
  at: durationSchema,
  store: z.string().optional(),
  cluster: z.string().optional(),
  account: z.string().optional(),
  set: z.record(z.string(), z.unknown()).optional(),
  delete: z.literal(true).optional(),
  faults: z.record(z.string(), z.unknown()).optional(),
  /** Replaces the service control policy denies from this moment ([] = none). */
  scpDeny: z.array(z.unknown()).optional(),
  /** Who made this store change: CloudTrail records the matching KMS call (none without an actor). */
  actor: actorSchema.optional(),
});

/** A CloudTrail event that happened before the simulator started (or at a given offset), e.g. who disconnected a store. */
const pastEventSchema = z.strictObject({
  /** Offset from the start, usually negative: -2h. */
  at: signedDurationSchema,
  store: z.string().regex(STORE_ID, 'must look like cks-1234567890abcdef0'),
  eventName: z.enum(KEY_STORE_EVENTS),
  actor: actorSchema,
  /** Record a failed call: { code, message }. */
  error: z.strictObject({ code: z.string().min(1), message: z.string() }).optional(),
});

export const scenarioSchema = z.strictObject({
  /** The partition of every account (aws, aws-cn, aws-us-gov): an organization lives in one partition. */
  partition: z.enum(PARTITION_IDS as [string, ...string[]]).default('aws'),
  managementAccount: z.string({ error: 'must be a 12-digit account id in quotes, e.g. "111111111111"' }).regex(ACCOUNT_ID, 'must be a 12-digit account id (quote it in YAML)').optional(),
  accounts: z.array(accountSchema).default([]),
  /** Service control policy denies: { account, region?, action } (never applied to the management account, as at AWS). */
  scpDeny: z.array(scpDenySchema).default([]),
  timeline: z.array(timelineEntrySchema).default([]),
  faults: faultsSchema.default(faultsSchema.parse({})),
  generate: generateSchema.optional(),
  cloudwatch: z.strictObject({
    /** A minute's datapoint is readable this long after the minute ends (AWS: typically one to a few minutes). */
    publishDelay: durationSchema.default(60_000),
    /** How far before the start scenario stores and clusters already have datapoints. */
    history: durationSchema.default(3 * 3_600_000),
  }).default({ publishDelay: 60_000, history: 3 * 3_600_000 }),
  cloudtrail: z.strictObject({
    /**
     * LookupEvents shows an event this long after the call. AWS: "CloudTrail typically delivers an event
     * within an average of about 5 minutes of an API call" (CloudTrail FAQ; not guaranteed), so the default
     * is that, never kinder; a scenario that wants the join sooner (the demo, tests) says so.
     */
    deliveryDelay: durationSchema.default(300_000),
    /** Events recorded before (or at offsets after) the start. */
    events: z.array(pastEventSchema).default([]),
  }).default({ deliveryDelay: 300_000, events: [] }),
  connection: z.strictObject({ connectDelay: durationSchema.default(5000), disconnectDelay: durationSchema.default(1000) }).default({ connectDelay: 5000, disconnectDelay: 1000 }),
  organizations: z.strictObject({
    enabled: z.boolean().default(true),
    delegatedAdministrators: z.array(z.string().regex(ACCOUNT_ID)).default([]),
    /** Answer an empty page (with NextToken) before each non-empty one, as Organizations may. */
    emptyPages: z.boolean().default(false),
  }).default({ enabled: true, delegatedAdministrators: [], emptyPages: false }),
  credentials: z.strictObject({
    /** Issued credentials expire after min(DurationSeconds, this). */
    maxLifetime: durationSchema.optional(),
    /** Whose keys `sim.credentials` are: default the management account (e.g. a tooling account instead). */
    baseAccount: z.string().regex(ACCOUNT_ID, 'must be a 12-digit account id (quote it in YAML)').optional(),
    /** user: AKIASIM0<id>, an IAM user; role: ASIASIM0<id>, a session of baseRoleName (IRSA, ECS task or instance role), so AssumeRole is role chaining. */
    baseIdentity: z.enum(['user', 'role']).default('user'),
    /** The role whose session ASIASIM0<id> keys are. */
    baseRoleName: z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name').default('keystore-watch-base'),
  }).default({ baseIdentity: 'user', baseRoleName: 'keystore-watch-base' }),
}).transform((s, ctx) => {
  const storeIds = new Set<string>();
  const storeTypes = new Map<string, string>();
  const clusterIds = new Set<string>();
  const accountIds = new Set<string>();
  s.accounts.forEach((a, ai) => {
    if (accountIds.has(a.id)) ctx.addIssue({ code: 'custom', path: ['accounts', ai, 'id'], message: `duplicate account id ${a.id}` });
    accountIds.add(a.id);
    const partition = s.partition;
    const enabled = new Set(a.optInRegions);
    a.optInRegions.forEach((region, ri) => {
      const message = optInProblem(region, partition);
      if (message) ctx.addIssue({ code: 'custom', path: ['accounts', ai, 'optInRegions', ri], message });
    });
    for (const [region, r] of Object.entries(a.regions)) {
      const message = regionProblem(region, partition, enabled);
      if (message) ctx.addIssue({ code: 'custom', path: ['accounts', ai, 'regions', region], message });
      const names = new Set<string>();
      r.stores.forEach((st, si) => {
        const path = ['accounts', ai, 'regions', region, 'stores', si];
        if (st.id && storeIds.has(st.id)) ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate store id ${st.id}` });
        if (st.id) { storeIds.add(st.id); storeTypes.set(st.id, st.type); }
        if (st.name && names.has(st.name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `duplicate store name ${st.name} in ${a.id}/${region} (KMS names are unique per account and region)` });
        if (st.name) names.add(st.name);
      });
      r.clusters.forEach((c, ci) => {
        const path = ['accounts', ai, 'regions', region, 'clusters', ci];
        if (clusterIds.has(c.id)) ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate cluster id ${c.id}` });
        clusterIds.add(c.id);
        c.hsms.forEach((h, hi) => {
          if (!h.az.startsWith(region)) ctx.addIssue({ code: 'custom', path: [...path, 'hsms', hi, 'az'], message: `${h.az} is not in region ${region}` });
        });
      });
    }
  });
  s.generate?.regions.forEach((region, ri) => {
    const message = regionProblem(region, s.partition, null);
    if (message) ctx.addIssue({ code: 'custom', path: ['generate', 'regions', ri], message });
  });
  s.scpDeny.forEach((d, i) => {
    if (s.accounts.length > 0 && !accountIds.has(d.account)) ctx.addIssue({ code: 'custom', path: ['scpDeny', i, 'account'], message: `${d.account} is not one of accounts[].id` });
    const message = d.region === undefined ? undefined : regionProblem(d.region, s.partition, null);
    if (message) ctx.addIssue({ code: 'custom', path: ['scpDeny', i, 'region'], message });
  });
  if (s.credentials.baseAccount && s.accounts.length > 0 && !accountIds.has(s.credentials.baseAccount)) {
    ctx.addIssue({ code: 'custom', path: ['credentials', 'baseAccount'], message: `${s.credentials.baseAccount} is not one of accounts[].id` });
  }
  if (s.managementAccount && s.accounts.length > 0 && !accountIds.has(s.managementAccount)) {
    ctx.addIssue({ code: 'custom', path: ['managementAccount'], message: `${s.managementAccount} is not one of accounts[].id` });
  }
  if (s.accounts.length === 0 && !(s.generate && s.generate.accounts > 0)) {
    ctx.addIssue({ code: 'custom', path: ['accounts'], message: 'at least one account is required (or generate.accounts > 0)' });
  }
  const timeline = s.timeline.map((e, i) => {
    const path: (string | number)[] = ['timeline', i];
    const targets = [e.store, e.cluster, e.account, e.faults, e.scpDeny].filter((t) => t !== undefined).length;
    if (e.actor && e.store === undefined) ctx.addIssue({ code: 'custom', path: [...path, 'actor'], message: 'an actor applies only to store entries (CloudTrail records key store calls)' });
    if (targets !== 1) {
      ctx.addIssue({ code: 'custom', path, message: 'each entry names exactly one of store, cluster, account, faults or scpDeny' });
      return { at: e.at, kind: 'invalid' as const };
    }
    if (e.faults) return { at: e.at, kind: 'faults' as const, faults: parseInto(faultsPatchSchema, e.faults, ctx, [...path, 'faults']) };
    if (e.scpDeny) {
      const list = parseInto(z.array(scpDenySchema), e.scpDeny, ctx, [...path, 'scpDeny']);
      list?.forEach((d, di) => {
        if (s.accounts.length > 0 && !accountIds.has(d.account)) ctx.addIssue({ code: 'custom', path: [...path, 'scpDeny', di, 'account'], message: `${d.account} is not one of accounts[].id` });
      });
      return { at: e.at, kind: 'scp' as const, scpDeny: list };
    }
    if ((e.set === undefined) === (e.delete === undefined)) {
      ctx.addIssue({ code: 'custom', path, message: 'each store/cluster/account entry has exactly one of set or delete' });
      return { at: e.at, kind: 'invalid' as const };
    }
    if (e.store !== undefined) {
      if (!storeIds.has(e.store)) ctx.addIssue({ code: 'custom', path: [...path, 'store'], message: `no store with id ${e.store} in accounts[].regions.*.stores (timeline stores need an explicit id)` });
      const set = e.set && parseInto(storePatchSchema, e.set, ctx, [...path, 'set']);
      for (const message of set ? errorCodeProblems(effectiveState(set, undefined), set.errorCode) : []) ctx.addIssue({ code: 'custom', path: [...path, 'set', 'errorCode'], message });
      // The raw patch, not the parsed one: the Fleet validates it again when it applies, and parsing twice
      // would read durations already in milliseconds as seconds (connectDelay 5s became 5000 s).
      if (set?.metrics) {
        const type = storeTypes.get(e.store);
        for (const p of metricsProblems(set.metrics, { kind: 'store', storeType: type })) ctx.addIssue({ code: 'custom', path: [...path, 'set', 'metrics', ...p.path], message: p.message });
      }
      return { at: e.at, kind: 'store' as const, id: e.store, set: set && e.set, delete: e.delete === true, actor: e.actor };
    }
    if (e.cluster !== undefined) {
      if (!clusterIds.has(e.cluster)) ctx.addIssue({ code: 'custom', path: [...path, 'cluster'], message: `no cluster with id ${e.cluster} in accounts[].regions.*.clusters` });
      const set = e.set && parseInto(clusterPatchSchema, e.set, ctx, [...path, 'set']);
      return { at: e.at, kind: 'cluster' as const, id: e.cluster, set: set && e.set, delete: e.delete === true };
    }
    if (!accountIds.has(e.account!)) ctx.addIssue({ code: 'custom', path: [...path, 'account'], message: `no account with id ${e.account} in accounts[]` });
    if (e.delete) ctx.addIssue({ code: 'custom', path: [...path, 'delete'], message: 'accounts cannot be deleted; set status: CLOSED instead' });
    const set = e.set && parseInto(accountPatchSchema, e.set, ctx, [...path, 'set']);
    set?.optInRegions?.forEach((region, ri) => {
      const message = optInProblem(region, s.partition);
      if (message) ctx.addIssue({ code: 'custom', path: [...path, 'set', 'optInRegions', ri], message });
    });
    return { at: e.at, kind: 'account' as const, id: e.account!, set: set && e.set };
  });
  s.cloudtrail.events.forEach((ev, i) => {
    if (!storeIds.has(ev.store)) ctx.addIssue({ code: 'custom', path: ['cloudtrail', 'events', i, 'store'], message: `no store with id ${ev.store} in accounts[].regions.*.stores` });
  });
  return { ...s, timeline };
});

/** Why an account of `partition` cannot hold resources in `region` (enabled: its opt-in regions; null: all). */
export function regionProblem(region: string, partition: string, enabled: ReadonlySet<string> | null): string | undefined {
  const info = regionInfo(region);
  if (!info) return `${region} is not a region of any AWS partition (the SDK's partition metadata does not know it)`;
  if (info.partition !== partition) return `${region} is in partition ${info.partition}, the scenario in ${partition} (set partition: ${info.partition}; one simulator serves one partition)`;
  if (info.optIn && enabled && !enabled.has(region)) return `${region} is an opt-in region this account has not enabled (add it to optInRegions)`;
  return undefined;
}

/** Why `region` cannot be listed in optInRegions of an account of `partition`. */
export function optInProblem(region: string, partition: string): string | undefined {
  const info = regionInfo(region);
  if (!info) return `${region} is not a region of any AWS partition`;
  if (info.partition !== partition) return `${region} is in partition ${info.partition}, the scenario in ${partition}`;
  if (!info.optIn) return `${region} is enabled by default (list only opt-in regions)`;
  return undefined;
}

function parseInto<T extends z.ZodType>(schema: T, value: unknown, ctx: z.RefinementCtx, path: (string | number)[]): z.infer<T> | undefined {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const messages = formatIssues(r.error);
  r.error.issues.forEach((issue, i) => ctx.addIssue({ code: 'custom', path: [...path, ...(issue.path as (string | number)[])], message: messages[i]!.message }));
  return undefined;
}

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type TimelineEntry = Scenario['timeline'][number];

/** Renders a zod path as operators read it: accounts[0].regions.us-east-1.stores[1].state */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(top level)';
}

export function formatIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => {
    let message = i.message;
    if (i.code === 'invalid_value' && 'values' in i) message = `invalid value; expected one of ${(i.values as unknown[]).join(' | ')}`;
    if (i.code === 'unrecognized_keys') message = `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return { path: formatPath(i.path), message };
  });
}

const parsed = new WeakSet<object>();
export function isParsedScenario(s: unknown): s is Scenario {
  return typeof s === 'object' && s !== null && parsed.has(s);
}

export function parseScenario(doc: unknown, source = 'scenario'): Scenario {
  if (isParsedScenario(doc)) return doc;
  const r = scenarioSchema.safeParse(doc ?? {});
  if (!r.success) {
    const issues = formatIssues(r.error);
    throw new ScenarioError(issues.map((i) => `${source}: ${i.path}: ${i.message}`).join('\n'), issues);
  }
  parsed.add(r.data);
  return r.data;
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScenarioError(`${path}: cannot read scenario file: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}: ` : '';
    throw new ScenarioError(`${path}: ${where}invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ScenarioError(`${path}: (top level): a scenario is a YAML mapping (managementAccount, accounts, timeline, faults, generate)`);
  }
  return parseScenario(doc, path);
}
