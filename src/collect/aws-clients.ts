// AWS plumbing at the edge: one keep-alive HTTP handler shared by every client, credentials per role
// (AssumeRole through one shared STS client, memoised until shortly before expiry), and KMS and CloudHSM
// clients pooled per region, each lent to one target at a time (lending-pool.ts).
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KMSClient } from '@aws-sdk/client-kms';
import { CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { AccountClient } from '@aws-sdk/client-account';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { Config } from '../config/schema.js';
import type { Target } from '../model.js';
import { LendingPool, leaseCredentials, leaseRequestHandler, type Lease } from './lending-pool.js';
import { cacheResolvedMiddleware } from './handler-cache.js';
import { withFastConfig } from './fast-config.js';
import { threadedCommandName } from './threaded-commands.js';
import { endpointVariant, type FipsService } from './fips.js';
import { isAssumedRoleArn } from '../config/partitions.js';
import { releasePrestartedSdkThread, SdkThreads, sdkThreadCount, type SdkThreadFailure, type ThreadedService } from './sdk-threads.js';

export type AwsService = 'kms' | 'cloudhsmv2' | 'sts' | 'organizations' | 'account' | 'cloudwatch' | 'cloudtrail';

/** Who the base credentials are (STS GetCallerIdentity). */
export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

/** AWS caps a role session reached by role chaining at one hour, whatever the role's MaxSessionDuration. */
export const ROLE_CHAINING_MAX_SECONDS = 3600;

/** Receives one call per HTTP attempt (retries included), for keystore_watch_aws_requests_total and _failures_total. */
export interface AwsRequestObserver {
  request(service: AwsService, operation: string): void;
  failure(service: AwsService, operation: string, code: string): void;
}

export interface AwsClientsOptions {
  aws: Config['aws'];
  /** Base credentials; default: the SDK's provider chain (env, profile, web identity / IRSA, IMDS). */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  observer?: AwsRequestObserver;
  /** Operator-facing warnings (session duration lowered, ...); each distinct warning is given once. */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
  /** An SDK thread failed (aws.sdkThreads): counted by the daemon (keystore_watch_sdk_thread_failures_total). */
  onSdkThreadFailure?: (reason: SdkThreadFailure, message: string, failuresInRow: number) => void;
  /** A thread answered again after failures. */
  onSdkThreadRecovered?: () => void;
  /** Tests only: the SDK thread's entry module (SdkThreadsOptions.entry), e.g. a scripted misbehaving thread. */
  sdkThreadEntry?: URL;
  /** Monotonic ms for forgetting idle roles (default performance.now(); tests drive it). */
  monotonic?: () => number;
}

/** A role's shared credentials and when a target last asked for them (monotonic ms). */
interface RoleCredentials {
  provider: AwsCredentialIdentityProvider;
  lastUsed: number;
}

type MiddlewareClient = { middlewareStack: { add: (mw: unknown, opts: unknown) => void } };

/** Counts every attempt: the deserialize step runs inside the retry loop, once per HTTP attempt. */
function instrument(client: MiddlewareClient, service: AwsService, observer: AwsRequestObserver | undefined): void {
  if (!observer) return;
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      observer.request(service, operation);
      try {
        return await next(args);
      } catch (err) {
        observer.failure(service, operation, errorCode(err));
        throw err;
      }
    },
    { step: 'deserialize', name: 'keystoreWatchRequestCounter', priority: 'high' },
  );
}

/** The AWS error code, or a transport class for errors that never reached AWS. */
export function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: string; Code?: string; $metadata?: unknown; cause?: { code?: string } };
  const sysCode = e?.code ?? e?.cause?.code;
  if (typeof sysCode === 'string' && /^E[A-Z]+$/.test(sysCode)) {
    return ({ ECONNREFUSED: 'ConnectionRefused', ECONNRESET: 'ConnectionReset', ENOTFOUND: 'DnsFailure', EAI_AGAIN: 'DnsFailure', ETIMEDOUT: 'Timeout', EPIPE: 'ConnectionReset' } as Record<string, string>)[sysCode] ?? sysCode;
  }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'Timeout';
  if (e?.name === 'SyntaxError') return 'MalformedResponse';
  return e?.name && e.name !== 'Error' ? e.name : (e?.Code ?? 'UnknownError');
}

/**
 * Client settings the SDK would otherwise look up again for every new client: each lookup walks
 * environment -> shared config files -> default, throwing (and formatting) a ProviderError at every
 * miss. Resolved once per AwsClients from the same sources, with the same precedence.
 */
export interface ResolvedClientSettings {
  useFipsEndpoint?: boolean;
  useDualstackEndpoint?: boolean;
  userAgentAppId?: string;
  authSchemePreference?: string[];
  /** An endpoint configured outside keystore-watch (AWS_ENDPOINT_URL_KMS, endpoint_url in the profile). */
  kmsConfiguredEndpoint?: string;
  /** The SDK's default user-agent sections (runtime, OS, package versions): the same for every KMS client. */
  kmsDefaultUserAgent?: unknown;
}

type ProviderBag = Record<string, (() => Promise<unknown>) | undefined>;

type EndpointProvider = (params: Record<string, unknown>, context?: unknown) => unknown;
type CachedEndpointProvider = EndpointProvider;

/**
 * The CloudHSM client's endpoint rules, evaluated once per distinct parameter set (region, FIPS,
 * dual-stack, endpoint override) instead of on every request. The CloudHSM client's older core has no
 * endpoint cache (the KMS, STS, Organizations and Account clients' cores do): its ruleset evaluation was
 * 2.7 % of the main thread on a dense cold sweep. Bounded: a handful of regions and variants in practice.
 */
export function cacheEndpoints(resolve: EndpointProvider, limit = 256): CachedEndpointProvider {
  const cache = new Map<string, unknown>();
  return (params, context) => {
    const key = JSON.stringify(params);
    let endpoint = cache.get(key);
    if (endpoint === undefined) {
      endpoint = resolve(params, context);
      if (cache.size >= limit) cache.clear();
      cache.set(key, endpoint);
    }
    return endpoint;
  };
}

/** An expiration in the past: see newCloudHsmClient. */
const ASK_AGAIN = new Date(0);

export class AwsClients {
  private readonly handler: NodeHttpHandler;
  private settings: ResolvedClientSettings | null = null;
  private settingsPromise: Promise<ResolvedClientSettings> | null = null;
  private readonly base: AwsCredentialIdentityProvider;
  private readonly credentials = new Map<string, RoleCredentials>();
  private readonly monotonic: () => number;
  private nextCredentialSweep = 0;
  private stsClient: STSClient | null = null;
  private orgClient: { key: string; client: OrganizationsClient } | null = null;
  /** AssumeRole DurationSeconds: aws.sessionDuration, lowered to 1 h when the base identity is itself a role session. */
  private sessionSeconds: number;
  /** Roles whose MaxSessionDuration refused the configured duration: assumed at 1 h from then on. */
  private readonly roleSessionCap = new Map<string, number>();
  private readonly warned = new Set<string>();
  private readonly kms: LendingPool<KMSClient>;
  private readonly cloudHsm: LendingPool<CloudHSMV2Client>;
  private readonly accountPool: LendingPool<AccountClient>;
  /** What account() hands out stands on this client (never sent through: every call borrows from accountPool). */
  private accountTemplate: AccountClient | null = null;
  private cloudHsmEndpoints: CachedEndpointProvider | null = null;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
  /** CloudWatch and CloudTrail clients, pooled per region and lent with the target's credentials. */
  private readonly cloudWatchPool: LendingPool<CloudWatchClient>;
  private readonly cloudTrailPool: LendingPool<CloudTrailClient>;
  /** Worker threads that send the per-target calls (aws.sdkThreads); null: every call on this thread. */
  private readonly threads: SdkThreads | null;

  constructor(private readonly opts: AwsClientsOptions) {
    const { aws } = opts;
    // Sockets sized to the concurrency: more would only queue at AWS, fewer would queue here.
    const agentOpts = { keepAlive: true, maxSockets: aws.concurrency + 8, maxFreeSockets: aws.concurrency + 8, scheduling: 'lifo' as const };
    this.agents = { http: new HttpAgent(agentOpts), https: new HttpsAgent(agentOpts) };
    this.handler = new NodeHttpHandler({
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
      requestTimeout: aws.requestTimeout,
      connectionTimeout: Math.min(aws.requestTimeout, 5000),
      throwOnRequestTimeout: true,
    });
    const base = opts.credentials ?? fromNodeProviderChain();
    this.base = typeof base === 'function' ? base : async () => base;
    const threads = sdkThreadCount(aws.sdkThreads ?? 'auto');
    this.threads = threads > 0
      ? new SdkThreads({
        threads, aws, entry: opts.sdkThreadEntry,
        onCounts: (counts) => {
          const o = opts.observer;
          if (o) for (const [service, operation, code] of counts) code === undefined ? o.request(service as AwsService, operation) : o.failure(service as AwsService, operation, code);
        },
        onRecovered: () => opts.onSdkThreadRecovered?.(),
        onThreadError: (message, reason, failuresInRow) => {
          opts.onSdkThreadFailure?.(reason, message, failuresInRow);
          // Not once per kind (warnOnce): every failure is news, and respawnDelayMs bounds how often it can happen.
          opts.onWarning?.('an AWS SDK thread failed; its calls in flight failed and it is replaced', { error: message, reason });
        },
      })
      : null;
    // A thread `keystore-watch once` started before reading the configuration is not needed.
    if (!this.threads) releasePrestartedSdkThread();
    // With threads, the lent clients are facades whose send() runs on a thread (sdk-threads.ts).
    const t = this.threads;
    this.kms = new LendingPool((key, lease) => (t ? remoteClient(KMSClient.prototype, t, 'kms', key, lease) : this.newKmsClient(key, lease)), aws.concurrency);
    this.cloudHsm = new LendingPool((region, lease) => (t ? remoteClient(CloudHSMV2Client.prototype, t, 'cloudhsmv2', region, lease) : this.newCloudHsmClient(region, lease)), aws.concurrency);
    this.cloudWatchPool = new LendingPool((region, lease) => (t ? remoteClient(CloudWatchClient.prototype, t, 'cloudwatch', region, lease) : this.newCloudWatchClient(region, lease)), aws.concurrency);
    this.cloudTrailPool = new LendingPool((region, lease) => (t ? remoteClient(CloudTrailClient.prototype, t, 'cloudtrail', region, lease) : this.newCloudTrailClient(region, lease)), aws.concurrency);
    this.accountPool = new LendingPool((region, lease) => this.newAccountClient(region, lease), aws.concurrency);
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.sessionSeconds = Math.round(aws.sessionDuration / 1000);
  }

  private warnOnce(key: string, message: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.onWarning?.(message, fields);
  }

  /**
   * FIPS or standard endpoint for one client (see fips.ts): FIPS only where AWS runs a FIPS host for the
   * service in that region, never with an endpoint override (the SDK refuses FIPS with a custom endpoint).
   */
  private endpointFor(service: FipsService, region: string): Record<string, boolean> {
    if (this.opts.aws.endpoint) return { useFipsEndpoint: false };
    const wanted = this.opts.aws.useFipsEndpoint ?? this.settings?.useFipsEndpoint;
    // Not yet known (prepare() running) and not configured: leave it to the SDK's own lookup, as before.
    if (wanted === undefined) return {};
    return { ...endpointVariant(service, region, wanted, this.settings?.useDualstackEndpoint ?? false) };
  }

  /**
   * STS GetCallerIdentity with the base credentials, once at start: who keystore-watch runs as. When that is
   * an assumed role (IRSA, ECS task role, instance role), every AssumeRole into an account is role chaining,
   * which AWS caps at one hour: a longer aws.sessionDuration is lowered to 1 h here, with one warning, instead
   * of every AssumeRole failing with "exceeds the 1 hour session limit for roles assumed by role chaining".
   */
  async identify(signal?: AbortSignal): Promise<CallerIdentity> {
    await this.prepare().catch(() => undefined); // the FIPS setting decides the STS endpoint
    const sts = this.sts();
    const out = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal });
    const identity = { account: out.Account ?? '', arn: out.Arn ?? '', userId: out.UserId ?? '' };
    if (isAssumedRoleArn(identity.arn) && this.sessionSeconds > ROLE_CHAINING_MAX_SECONDS) {
      this.warnOnce('role-chaining', `aws.sessionDuration lowered from ${this.sessionSeconds / 3600} h to 1 h: the base identity is an assumed role, so assuming each account's role is role chaining, which AWS limits to 1 hour`, {
        callerArn: identity.arn, configuredSeconds: this.sessionSeconds, usedSeconds: ROLE_CHAINING_MAX_SECONDS,
      });
      this.sessionSeconds = ROLE_CHAINING_MAX_SECONDS;
    }
    return identity;
  }

  /** The AssumeRole DurationSeconds in use (after the role-chaining cap). */
  get sessionDurationSeconds(): number {
    return this.sessionSeconds;
  }

  private sts(): STSClient {
    this.stsClient ??= withFastConfig(new STSClient({ ...this.common(this.opts.aws.homeRegion), ...this.endpointFor('sts', this.opts.aws.homeRegion), credentials: this.base }));
    return this.stsClient;
  }

  private common(region: string) {
    return {
      region,
      endpoint: this.opts.aws.endpoint ?? undefined,
      maxAttempts: this.opts.aws.maxAttempts,
      retryMode: 'standard',
      requestHandler: this.handler,
    };
  }

  /**
   * Resolves the per-client settings once (see ResolvedClientSettings). Clients created before this
   * finishes still work; they resolve the settings themselves, as the SDK does by default.
   */
  prepare(): Promise<ResolvedClientSettings> {
    this.settingsPromise ??= (async () => {
      const probe = new KMSClient({ ...this.common(this.opts.aws.homeRegion), credentials: this.base });
      const c = probe.config as unknown as ProviderBag;
      const get = async <T>(name: string): Promise<T | undefined> => {
        try {
          return (await c[name]?.()) as T | undefined;
        } catch {
          return undefined;
        }
      };
      const settings: ResolvedClientSettings = {
        useFipsEndpoint: (await get<boolean>('useFipsEndpoint')) ?? false,
        useDualstackEndpoint: (await get<boolean>('useDualstackEndpoint')) ?? false,
        userAgentAppId: await get<string>('userAgentAppId'),
        authSchemePreference: (await get<string[]>('authSchemePreference')) ?? [],
      };
      settings.kmsDefaultUserAgent = await get<unknown>('defaultUserAgentProvider');
      if (!this.opts.aws.endpoint) settings.kmsConfiguredEndpoint = (await get<string>('serviceConfiguredEndpoint')) || undefined;
      this.settings = settings;
      return settings;
    })();
    return this.settingsPromise;
  }

  /**
   * Starts the SDK threads (aws.sdkThreads) and waits until each has loaded the SDK, so a poll's deadlines
   * do not pay for that. Separate from prepare(): an HA follower identifies itself and waits for the lease
   * without them (they are a second V8 isolate each, and a follower makes no per-target call).
   */
  startSdkThreads(): Promise<void> {
    return this.threads?.start() ?? Promise.resolve();
  }

  /** Stops the SDK threads until startSdkThreads() or the next call (a replica that stops leading). */
  stopSdkThreads(): Promise<void> {
    return this.threads?.stop() ?? Promise.resolve();
  }

  /** The resolved settings as client config (empty until prepare() has finished). */
  private resolved(service: 'kms' | 'cloudhsmv2'): Record<string, unknown> {
    const s = this.settings;
    if (!s) return {};
    const out: Record<string, unknown> = { useDualstackEndpoint: s.useDualstackEndpoint };
    if (service === 'kms') {
      // Providers, not values: an undefined value would make the SDK look it up again.
      out.userAgentAppId = async () => s.userAgentAppId;
      out.authSchemePreference = async () => s.authSchemePreference;
      // The middleware maps this array to a new one before appending, so sharing it is safe.
      if (Array.isArray(s.kmsDefaultUserAgent)) out.defaultUserAgentProvider = async () => s.kmsDefaultUserAgent;
      if (!this.opts.aws.endpoint) {
        // Already looked up once: use it, or tell each client not to look again.
        if (s.kmsConfiguredEndpoint) out.endpoint = s.kmsConfiguredEndpoint;
        else out.ignoreConfiguredEndpointUrls = true;
      }
    }
    return out;
  }

  /**
   * Credentials for a target: AssumeRole when it has a role, else the caller's own. Shared per role; a
   * role no target asked for during a whole session duration is forgotten (its credentials have expired
   * by then anyway), so accounts that leave the organisation or the config do not stay in memory.
   */
  credentialsFor(target: Pick<Target, 'roleArn' | 'externalId'>): AwsCredentialIdentityProvider {
    if (!target.roleArn) return this.base;
    const now = this.monotonic();
    if (now >= this.nextCredentialSweep) this.forgetIdleRoles(now);
    const key = `${target.roleArn}|${target.externalId ?? ''}`;
    let entry = this.credentials.get(key);
    if (!entry) {
      const { roleArn, externalId } = target;
      entry = { provider: this.memoize(() => this.assumeRole(roleArn, externalId ?? undefined)), lastUsed: now };
      this.credentials.set(key, entry);
    }
    entry.lastUsed = now;
    return entry.provider;
  }

  private forgetIdleRoles(now: number): void {
    const idle = this.sessionSeconds * 1000;
    for (const [key, entry] of this.credentials) if (now - entry.lastUsed > idle) this.credentials.delete(key);
    // Once a minute at most: the sweep walks every role.
    this.nextCredentialSweep = now + 60_000;
  }

  /** Roles whose credentials are held (tests bound it). */
  get rolesHeld(): number {
    return this.credentials.size;
  }

  /**
   * AssumeRole with the base credentials through one STS client for all roles. fromTemporaryCredentials
   * would build an STS client per role and keep it for the process's life: with 1,000 accounts, 1,000
   * clients (about 20 MB of heap) and 1,000 client set-ups (about 1 ms of CPU each) on the first poll.
   */
  private async assumeRole(roleArn: string, externalId: string | undefined): Promise<AwsCredentialIdentity> {
    const send = (seconds: number) => this.sts().send(new AssumeRoleCommand({
      RoleArn: roleArn,
      RoleSessionName: this.opts.aws.roleSessionName,
      ExternalId: externalId,
      DurationSeconds: seconds,
    }));
    const seconds = Math.min(this.sessionSeconds, this.roleSessionCap.get(roleArn) ?? Infinity);
    let answer;
    try {
      answer = await send(seconds);
    } catch (err) {
      // A duration above the role's MaxSessionDuration, or above the role-chaining hour when identify() could
      // not tell: retry once at 1 h (what every role allows) and remember it for this role.
      const cap = seconds > ROLE_CHAINING_MAX_SECONDS ? sessionLimitReason(err) : null;
      if (!cap) throw err;
      this.opts.observer?.request('sts', 'AssumeRole');
      this.roleSessionCap.set(roleArn, ROLE_CHAINING_MAX_SECONDS);
      this.warnOnce(`session-cap:${roleArn}`, `AssumeRole refused a ${seconds / 3600} h session (${cap}); assuming ${roleArn} for 1 h instead`, { roleArn, requestedSeconds: seconds, usedSeconds: ROLE_CHAINING_MAX_SECONDS, reason: cap });
      answer = await send(ROLE_CHAINING_MAX_SECONDS).catch((e: unknown) => {
        this.opts.observer?.failure('sts', 'AssumeRole', errorCode(e));
        throw e;
      });
    }
    const { Credentials: c } = answer;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw Object.assign(new Error(`AssumeRole ${roleArn} answered without credentials`), { name: 'MalformedResponse' });
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  }

  /**
   * One AssumeRole per role until five minutes before expiry, shared by every client of the account
   * (each SDK client would otherwise cache its own copy and assume the role again).
   */
  private memoize(raw: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
    let cached: Promise<AwsCredentialIdentity> | null = null;
    const observer = this.opts.observer;
    return async () => {
      if (cached) {
        const current = await cached.catch(() => null);
        if (current && (!current.expiration || current.expiration.getTime() - Date.now() > 300_000)) return current;
      }
      observer?.request('sts', 'AssumeRole');
      const attempt: Promise<AwsCredentialIdentity> = raw().catch((err: unknown) => {
        observer?.failure('sts', 'AssumeRole', errorCode(err));
        if (cached === attempt) cached = null;
        throw err;
      });
      cached = attempt;
      return attempt;
    };
  }

  /**
   * Forgets cached credentials (and role session caps) of roles no longer in use: accounts that left the
   * organization or the config. Without it an organization with account churn grows the cache for the
   * process's life. `roles`: every role still in use (the accounts' and the Organizations role).
   */
  retainRoles(roles: Iterable<Pick<Target, 'roleArn' | 'externalId'>>): void {
    const keep = new Set<string>();
    const arns = new Set<string>();
    for (const r of roles) {
      if (!r.roleArn) continue;
      keep.add(`${r.roleArn}|${r.externalId ?? ''}`);
      arns.add(r.roleArn);
    }
    for (const k of this.credentials.keys()) if (!keep.has(k)) this.credentials.delete(k);
    for (const a of this.roleSessionCap.keys()) if (!arns.has(a)) this.roleSessionCap.delete(a);
  }

  /** Roles with cached credentials (tests, diagnostics). */
  get cachedRoles(): number {
    return this.credentials.size;
  }

  /** Forgets cached credentials of a role (after ExpiredToken / AccessDenied) so the next call assumes it again. */
  resetCredentials(target: Pick<Target, 'roleArn' | 'externalId'>): void {
    if (!target.roleArn) return;
    this.credentials.delete(`${target.roleArn}|${target.externalId ?? ''}`);
  }

  /**
   * Lends fn a KMS client of the target's region that signs every request with the target's
   * credentials and aborts it on opts.signal, for as long as fn runs (see LendingPool).
   *
   * Because a client has one borrower at a time, it can cache its resolved middleware (the SDK's
   * cacheMiddleware: about 130 us of CPU less per call, a third of the SDK's cost, measured against the
   * simulator). The cached handler ignores per-call options, which is why the signal travels through
   * the lease's request handler instead.
   */
  withKms<T>(target: Pick<Target, 'region' | 'roleArn' | 'externalId'>, fn: (client: KMSClient) => Promise<T>, opts: { probe?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    return this.kms.lend(`${opts.probe ? 'probe' : 'walk'}|${target.region}`, this.credentialsFor(target), fn, opts.signal);
  }

  private newKmsClient(key: string, lease: Lease<KMSClient>): KMSClient {
    const [use, region] = key.split('|') as ['walk' | 'probe', string];
    // Marked memoized so the SDK neither caches nor coalesces identities: every request asks whose turn it is.
    const credentials = Object.assign(leaseCredentials(lease, 'KMS'), { memoized: true });
    // The probe makes a single attempt: SDK retries would send a burst of GenerateRandom calls for every
    // failing store, past the probe's rate budget (probe.failuresBeforeAlert absorbs one-off errors).
    const client = withFastConfig(new KMSClient({
      ...this.common(region), ...this.resolved('kms'), ...this.endpointFor('kms', region), ...(use === 'probe' ? { maxAttempts: 1 } : {}),
      credentials, requestHandler: leaseRequestHandler(lease, this.handler), cacheMiddleware: true,
    }));
    instrument(client as unknown as MiddlewareClient, 'kms', this.opts.observer);
    return client;
  }

  /** Lends fn a CloudHSM client of the target's region, as withKms does. */
  withCloudHsm<T>(target: Pick<Target, 'region' | 'roleArn' | 'externalId'>, fn: (client: CloudHSMV2Client) => Promise<T>, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.cloudHsm.lend(target.region, this.credentialsFor(target), fn, opts.signal);
  }

  private newCloudHsmClient(region: string, lease: Lease<CloudHSMV2Client>): CloudHSMV2Client {
    // The registry's newest CloudHSM client (3.332.0) has its own older core. That core memoises a credential
    // provider until the identity it returned is near expiry, so the lease's identity is handed over marked
    // as already expired: the core then asks the lease again on every request, as the KMS client does.
    const current = leaseCredentials(lease, 'CloudHSM');
    const credentials = async () => ({ ...(await current()), expiration: ASK_AGAIN });
    const config = { ...this.common(region), ...this.resolved('cloudhsmv2'), ...this.endpointFor('cloudhsmv2', region), credentials, requestHandler: leaseRequestHandler(lease, this.handler) } as ConstructorParameters<typeof CloudHSMV2Client>[0];
    // The SDK's own resolver (read off a client that is never used), memoised for every client.
    this.cloudHsmEndpoints ??= cacheEndpoints((new CloudHSMV2Client({ region }).config as unknown as { endpointProvider: EndpointProvider }).endpointProvider);
    const client = new CloudHSMV2Client({ ...config, endpointProvider: this.cloudHsmEndpoints } as typeof config);
    instrument(client as unknown as MiddlewareClient, 'cloudhsmv2', this.opts.observer);
    // That core has no cacheMiddleware either: the same cache, kept by the project (handler-cache.ts).
    return cacheResolvedMiddleware(client);
  }

  /**
   * Lends fn a CloudWatch client of the target's region that signs as the target's account and aborts on
   * opts.signal (GetMetricData, ListMetrics), pooled per region like the KMS clients: a client per
   * account-region would cost about 20 KB of heap each across thousands of targets.
   */
  withCloudWatch<T>(target: Pick<Target, 'region' | 'roleArn' | 'externalId'>, fn: (client: CloudWatchClient) => Promise<T>, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.cloudWatchPool.lend(target.region, this.credentialsFor(target), fn, opts.signal);
  }

  /** Lends fn a CloudTrail client (LookupEvents), as withCloudWatch. Single attempt: the caller paces to 2 requests/s. */
  withCloudTrail<T>(target: Pick<Target, 'region' | 'roleArn' | 'externalId'>, fn: (client: CloudTrailClient) => Promise<T>, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.cloudTrailPool.lend(target.region, this.credentialsFor(target), fn, opts.signal);
  }

  // CloudWatch and CloudTrail clients cache their resolved middleware as the KMS clients do (one borrower at
  // a time, no per-call options): a cold dense poll sends ~11,000 ListMetrics, and the cold `once` sweep
  // measured 1,023 -> 886 us of CPU per call with it (bench/cpu-per-call.ts, 300 accounts, 3 runs each).
  private newCloudWatchClient(region: string, lease: Lease<CloudWatchClient>): CloudWatchClient {
    const credentials = Object.assign(leaseCredentials(lease, 'CloudWatch'), { memoized: true });
    const client = withFastConfig(new CloudWatchClient({ ...this.common(region), ...this.endpointFor('cloudwatch', region), credentials, requestHandler: leaseRequestHandler(lease, this.handler), cacheMiddleware: true }));
    instrument(client as unknown as MiddlewareClient, 'cloudwatch', this.opts.observer);
    return client;
  }

  private newCloudTrailClient(region: string, lease: Lease<CloudTrailClient>): CloudTrailClient {
    const credentials = Object.assign(leaseCredentials(lease, 'CloudTrail'), { memoized: true });
    const client = withFastConfig(new CloudTrailClient({ ...this.common(region), ...this.endpointFor('cloudtrail', region), maxAttempts: 1, credentials, requestHandler: leaseRequestHandler(lease, this.handler), cacheMiddleware: true }));
    instrument(client as unknown as MiddlewareClient, 'cloudtrail', this.opts.observer);
    return client;
  }

  /**
   * On an SDK thread (sdk-thread-main.ts): lends fn this thread's client of `service` and pool `key`,
   * signing with the credentials the main thread sent along with the call.
   */
  lendAs<T>(service: ThreadedService, key: string, credentials: AwsCredentialIdentity, fn: (client: unknown) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const provider = async () => credentials;
    const pool = { kms: this.kms, cloudhsmv2: this.cloudHsm, cloudwatch: this.cloudWatchPool, cloudtrail: this.cloudTrailPool }[service] as LendingPool<unknown>;
    return pool.lend(key, provider, fn, signal);
  }

  /** The worker threads sending the per-target calls; null when every call runs on this thread (aws.sdkThreads 0). */
  get sdkThreads(): SdkThreads | null {
    return this.threads;
  }

  /** Clients built so far, per service (the benchmark reports them; tests bound them). */
  get clientsCreated(): { kms: number; cloudhsmv2: number; account: number } {
    return { kms: this.kms.created, cloudhsmv2: this.cloudHsm.created, account: this.accountPool.created + (this.accountTemplate ? 1 : 0) };
  }

  /**
   * The one Organizations client: a global service reached through the home region, with the base
   * credentials or, with organizations.roleArn, that role's (assumed through the shared STS client and
   * renewed before expiry like the member roles). Adaptive retry: after a TooManyRequestsException the
   * SDK also slows its own sending rate instead of only backing off per request.
   */
  organizations(role: { roleArn: string | null; externalId: string | null } = { roleArn: null, externalId: null }): OrganizationsClient {
    const key = `${role.roleArn ?? ''}|${role.externalId ?? ''}`;
    if (this.orgClient?.key === key) return this.orgClient.client;
    // Looked up per request, so resetCredentials() is honoured; marked memoized so the SDK keeps no copy.
    const credentials = Object.assign(() => this.credentialsFor(role)(), { memoized: true });
    const client = withFastConfig(new OrganizationsClient({ ...this.common(this.opts.aws.homeRegion), ...this.endpointFor('organizations', this.opts.aws.homeRegion), retryMode: 'adaptive', credentials }));
    instrument(client as unknown as MiddlewareClient, 'organizations', this.opts.observer);
    this.orgClient = { key, client };
    return client;
  }

  /**
   * An Account API client signing as the target's account (its role, or the base credentials for the
   * caller's own account): ListRegions answers for the account whose credentials sign it. The Account API
   * is global per partition, reached through the home region.
   *
   * What comes back is a view: each send() borrows a pooled Account client for that one call (signing as
   * this target, aborting on the call's signal), so no client is built per account. It was one new client
   * per call, about 1 ms of CPU each: 1,000 on a cold start with `regions: enabled` over 1,000 accounts.
   */
  account(target: Pick<Target, 'roleArn' | 'externalId'>): AccountClient {
    const region = this.opts.aws.homeRegion;
    const credentials = this.credentialsFor(target);
    this.accountTemplate ??= this.newAccountClient(region, { client: undefined as unknown as AccountClient, current: null, signal: undefined });
    // send(command), send(command, options) and the SDK's callback forms send(command, cb) / send(command, options, cb).
    const send = (command: unknown, optionsOrCb?: unknown, cb?: unknown) => {
      const options = typeof optionsOrCb === 'object' && optionsOrCb !== null ? optionsOrCb as { abortSignal?: AbortSignal } : undefined;
      const callback = (typeof optionsOrCb === 'function' ? optionsOrCb : cb) as ((err: unknown, out?: unknown) => void) | undefined;
      const sent = this.accountPool.lend(region, credentials, (client) => (client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options), options?.abortSignal);
      if (!callback) return sent;
      sent.then((out) => callback(null, out), (err: unknown) => callback(err));
      return undefined;
    };
    return Object.create(this.accountTemplate, { send: { value: send }, destroy: { value: () => {} } }) as AccountClient;
  }

  private newAccountClient(region: string, lease: Lease<AccountClient>): AccountClient {
    const credentials = Object.assign(leaseCredentials(lease, 'Account'), { memoized: true });
    const client = withFastConfig(new AccountClient({ ...this.common(region), ...this.endpointFor('account', region), credentials, requestHandler: leaseRequestHandler(lease, this.handler) }));
    instrument(client as unknown as MiddlewareClient, 'account', this.opts.observer);
    return client;
  }

  /** Closes pooled sockets. Clients share the handler, so they are dropped, never destroyed one by one. */
  close(): void {
    this.kms.clear();
    this.cloudHsm.clear();
    this.cloudWatchPool.clear();
    this.cloudTrailPool.clear();
    this.accountPool.clear();
    this.accountTemplate = null;
    void this.threads?.close();
    this.credentials.clear();
    this.stsClient = null;
    this.orgClient = null;
    this.handler.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/**
 * Why AssumeRole refused the requested DurationSeconds, when it did: the role's MaxSessionDuration, or the
 * 1-hour limit of role chaining (both ValidationError, 400). Messages as STS words them.
 */
export function sessionLimitReason(err: unknown): string | null {
  if (errorCode(err) !== 'ValidationError') return null;
  const message = err instanceof Error ? err.message : String(err);
  if (/MaxSessionDuration/i.test(message)) return 'above the role\'s MaxSessionDuration';
  if (/role chaining/i.test(message)) return 'role chaining is limited to 1 hour';
  return null;
}

/**
 * A lent client whose send() runs on an SDK thread: the command's name and input go there with the
 * borrower's credentials and abort signal. It is an instance of the client's class as far as the SDK's
 * paginators check (the CloudHSM 3.332 paginator refuses anything else); nothing else of the client is used.
 */
function remoteClient<C>(proto: object, threads: SdkThreads, service: ThreadedService, key: string, lease: Lease<C>): C {
  const send = async (command: { input: unknown }, options?: unknown) => {
    if (typeof options === 'function') throw new Error('callback-style send() is not supported on a lent client');
    const name = threadedCommandName(command);
    if (name === null) throw new Error(`${service} ${(command as object).constructor.name} is not a command the SDK threads send (threaded-commands.ts)`);
    if (!lease.current) throw new Error(`${service} client used outside its lease (AwsClients.with*)`);
    const signal = lease.signal ?? (options as { abortSignal?: AbortSignal } | undefined)?.abortSignal;
    const credentials = await lease.current();
    return threads.call({ service, key, command: name, input: command.input, credentials }, signal);
  };
  return Object.create(proto, { send: { value: send }, destroy: { value: () => {} } }) as C;
}
