// The configuration schema: the one source of the config types (z.infer) and of the validation
// messages operators see. Every refinement names the key it is about.
import { z } from 'zod';
import cron from 'node-cron';
import { parseDuration } from '../util/duration.js';

const ACCOUNT_ID = /^\d{12}$/;
const ROLE_ARN = /^arn:aws[a-zA-Z-]*:iam::\d{12}:role\/[\w+=,.@\-/]{1,512}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

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

export const channelSchema = z.discriminatedUnion('type', [slackChannel, pagerDutyChannel, webhookChannel, consoleChannel], {
  error: (iss) => (iss.code === 'invalid_union' ? 'expected type to be one of slack, pagerduty, webhook, console' : undefined),
});

const connectingTimeout = z.strictObject({
  AWS_CLOUDHSM: duration().default(20 * 60_000),
  EXTERNAL_KEY_STORE: duration().default(5 * 60_000),
});

export const configSchema = z.strictObject({
  schedule: z.string().default('*/1 * * * *').refine((v) => cron.validate(v), 'expected a node-cron expression such as "*/1 * * * *" (5 or 6 fields)'),
  listen: listenAddress.default('0.0.0.0:9464'),
  stateDir: z.string().min(1).default('./data'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  http: z.strictObject({
    authToken: z.string().min(16, 'authToken must be at least 16 characters').nullable().default(null),
    tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).nullable().default(null),
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
    /** Region used for STS and Organizations calls. */
    homeRegion: z.string().regex(REGION, 'expected an AWS region such as us-east-1').default('us-east-1'),
  }).prefault({}),
  accounts: z.array(accountSchema).default([]),
  organizations: z.strictObject({
    enabled: z.boolean().default(false),
    roleName: z.string().regex(/^[\w+=,.@-]{1,64}$/, 'expected an IAM role name').default('KeystoreWatch'),
    externalId: z.string().regex(EXTERNAL_ID, 'expected 2-1224 characters of [\\w+=,.@:/-]').nullable().default(null),
    includeAccounts: z.array(z.string().min(1)).default([]),
    excludeAccounts: z.array(z.string().min(1)).default([]),
  }).prefault({}),
  regions: z.array(z.string().regex(REGION, 'expected an AWS region such as us-east-1')).min(1, 'list at least one region'),
  alerting: z.strictObject({
    confirmations: z.number().int().min(1).max(100).default(2),
    repeatInterval: duration().default(4 * 3_600_000),
    connectingTimeout: connectingTimeout.prefault({}),
    targetDownAfter: z.number().int().min(1).max(1000).default(3),
    groupThreshold: z.number().int().min(1).default(5),
    certificateExpiryWarning: duration().default(30 * 86_400_000),
    clusterUpdateTimeout: duration().default(60 * 60_000),
    expectDisconnected: z.array(z.string().min(1)).default([]),
    channels: z.array(channelSchema).default([]),
    /** Caps so the state on disk cannot grow without end; the oldest entries are dropped first and counted. */
    historyLimit: z.number().int().min(10).default(5000),
    outboxLimit: z.number().int().min(10).default(10000),
    /** A notification still failing after this many attempts, or this long after it was queued, is dead-lettered (kept, counted, shown in /api/v1/outbox). */
    outboxMaxAttempts: z.number().int().min(1).max(100_000).default(50),
    outboxMaxAge: duration().default(6 * 3_600_000).refine((ms) => ms >= 1_000, 'must be at least 1s'),
    deadLetterLimit: z.number().int().min(10).max(100_000).default(500),
  }).prefault({}),
  probe: z.strictObject({
    enabled: z.boolean().default(false),
    interval: duration().default(60_000),
    /** GenerateRandom calls per second per account and region, kept below KMS's 5/s so DescribeCustomKeyStores keeps its budget. */
    ratePerSecond: z.number().min(0.1).max(4).default(1),
    failuresBeforeAlert: z.number().int().min(1).default(3),
  }).prefault({}),
}).superRefine((c, ctx) => {
  if (c.accounts.length === 0 && !c.organizations.enabled) {
    ctx.addIssue({ code: 'custom', path: ['accounts'], message: 'list at least one account or enable organizations discovery' });
  }
  const seen = new Map<string, number>();
  c.accounts.forEach((a, i) => {
    if (seen.has(a.id)) ctx.addIssue({ code: 'custom', path: ['accounts', i, 'id'], message: `account ${a.id} is listed twice (also at accounts[${seen.get(a.id)}])` });
    seen.set(a.id, i);
  });
  const regions = new Set<string>();
  c.regions.forEach((r, i) => {
    if (regions.has(r)) ctx.addIssue({ code: 'custom', path: ['regions', i], message: `region ${r} is listed twice` });
    regions.add(r);
  });
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ChannelConfig = z.infer<typeof channelSchema>;
export type AccountConfig = z.infer<typeof accountSchema>;
