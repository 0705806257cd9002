// The process shell: the stateDir lock, the state store, the HTTP API, the schedule and the watchdog.
// With state.backend: postgres there is no stateDir lock: replicas share the database and one leads
// under a lease (src/ha/); see "Replicas on PostgreSQL" below.
// Each scheduled tick runs one poll through src/pipeline/poll-pipeline.ts (read that file to follow a
// poll from discovery to a Slack message); this file only starts, serves and stops it.
//
// Start-up order (nothing is read before the lock, nothing is sent before the port is bound):
//   1. the stateDir lock (src/state/lock.ts): a second daemon on the same directory exits 2 here, and so
//      does a stateDir that is not a directory or not writable;
//   2. the state is loaded from the StateBackend (src/state/backend.ts: FileStateBackend under stateDir,
//      or PostgresStateBackend), the alert pipeline and outbox opened on it (no delivery yet);
//   3. the HTTP port is bound (a failure releases the lock and sends nothing);
//   4. outbox delivery starts, then the schedule and the first poll.
// Each poll is ONE commit(fence, poll) (snapshot, alert state, history, new outbox entries) and each
// delivery an applyOutbox of keyed records; the fence is SINGLE_REPLICA_EPOCH for one replica and the
// lease epoch for a leader. When the disk (or the database) refuses writes, ResilientStateBackend holds
// the calls in memory and the daemon keeps evaluating and delivering; the failure is counted, logged,
// shown in /readyz and sent as the self-alert 'state-persist', which resolves when every held call is
// written again.
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { Config } from './config/schema.js';
import type { Snapshot } from './model.js';
import { publicStore } from './snapshot/public.js';
import type { Logger } from './log.js';
import { AwsClients } from './collect/aws-clients.js';
import { SnapshotPoller } from './pipeline/snapshot-poller.js';
import { SelfMetrics } from './metrics/self.js';
import { startHttpServer, type HttpRoute, type RunningHttpServer } from './server/http.js';
import { nonOverlapping } from './scheduler.js';
import { POLL_OVERDUE_ALERT, PollTiming, pollOverdueSelfAlert, type PollTimingOptions } from './poll-timing.js';
import { monotonicNow, type TimeSource } from './util/monotonic.js';
import { SINGLE_REPLICA_EPOCH, isNotLeaderError, type Fence, type StateBackend } from './state/backend.js';
import { FileStateBackend } from './state/file-backend.js';
import { ResilientStateBackend } from './state/resilient-backend.js';
import { readOnlyView, termView } from './state/backend-views.js';
import { StateDirLock } from './state/lock.js';
import { parseSnapshotDoc } from './snapshot/persist.js';
import { EMPTY_METRICS, encodeSnapshotMetrics } from './metrics/exposition.js';
import { PgConnection } from './state/postgres-connect.js';
import { PostgresStateBackend } from './state/postgres-backend.js';
import { LeaderLease } from './ha/lease.js';
import { ReplicaRole } from './ha/replica.js';
import { peerHooks } from './ha/peer-hooks.js';
import { AlertPipeline, parseAlertsDoc } from './pipeline/alert-pipeline.js';
import { PollPipeline } from './pipeline/poll-pipeline.js';
import { onCallRoutes } from './server/oncall-routes.js';
import { OnCall, type OnCallActions } from './alert/oncall.js';
import { compileWindows } from './alert/maintenance.js';
import { mergeAuditEvents } from './server/oncall-routes.js';
import type { Notifier } from './notify/notifier.js';
import type { AlertPipelineOptions } from './pipeline/alert-pipeline.js';
import { Reloader, type ReloadOutcome, type ReloadPlan } from './config/reload.js';
import { reloadRoutes } from './server/reload-routes.js';
import { AlertmanagerResender } from './pipeline/alertmanager-resend.js';
import type { SelfAlertInput } from './alert/self-alerts.js';
import { statusRoutes } from './server/status/routes.js';
import type { StatusEvent } from './server/status/source.js';
import { sendDrill } from './server/status/drill.js';
import { statusAlerts, statusOnCall } from './server/status/adapt.js';
import { createNotifiers } from './notify/index.js';
import { MEMORY_ALERT, memoryHeadroomVerdict, systemMemoryProbe, type MemoryProbe } from './memory-headroom.js';

type LoadedOnCall = import('./state/backend.js').LoadedState['onCall'];

/** Each part validated as it loads: a part this version cannot read is set aside, counted as corrupt and started afresh. */
const LOAD_PARTS = { parseSnapshot: parseSnapshotDoc, parseAlerts: parseAlertsDoc };

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** Where a poll's peak memory and the memory limit are read (tests); default /proc/self and /sys/fs/cgroup. */
  memory?: MemoryProbe;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /**
   * The state backend of a single replica (tests: a fault-injecting or in-memory one). Defaults to the
   * FileStateBackend under config.stateDir (the stateDir lock is taken either way); the daemon wraps it
   * in ResilientStateBackend. Given, state.backend: postgres is ignored (one replica).
   */
  backend?: StateBackend;
  /** Defaults to the notifiers built from config.alerting.channels. */
  notifiers?: Notifier[];
  now?: () => number;
  /** Monotonic ms for in-process intervals (probe interval). Default: `now` when one is injected (a test's virtual clock drives both), else performance.now(). */
  monotonic?: () => number;
  /** The scheduler's and watchdog's clocks (default the system's). */
  time?: TimeSource;
  /** The poll watchdog's grace and hooks (the self-alert): see PollTimingOptions. */
  watchdog?: PollTimingOptions['watchdog'];
  /** Serve HTTP (default true). */
  serve?: boolean;
  /** Run on config.schedule (default true); false leaves polling to pollNow(). */
  schedule?: boolean;
  /** Outbox delivery tuning (a virtual clock, short send timeouts in tests). */
  outbox?: AlertPipelineOptions['outbox'];
  /** While state writes fail, how often the held writes are retried (default 10 s). */
  stateRetryMs?: number;
  /** Hot reload (SIGHUP, POST /-/reload): the file and how to re-read and validate it (loadConfig). */
  configSource?: { path: string; load(): Config };
  /** Tests only: the AWS SDK thread's entry module (aws.sdkThreads > 0), e.g. a scripted thread that crashes. */
  sdkThreadEntry?: URL;
}

/** /readyz: ready, or not with the reasons (one line each). */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

const STATE_ALERT = 'state-persist';
export const SDK_THREADS_ALERT = 'sdk-threads';

/** The self-alert while AWS SDK threads fail one after another (aws.sdkThreads): pure. */
export function sdkThreadsSelfAlert(lastFailure: string, failuresInRow: number): SelfAlertInput {
  return {
    id: SDK_THREADS_ALERT,
    severity: 'critical',
    summary: `keystore-watch's AWS SDK threads keep failing (${failuresInRow} in a row): polls may not reach AWS`,
    detail: 'The worker threads that send the per-target AWS calls (aws.sdkThreads) failed one after another, so the calls they had in flight failed: those targets are down and keep their last known stores, marked stale. keystore-watch restarts a thread after a backoff (up to 30 s) and resolves this alert when one answers again. Until then a key store that fails may not be noticed.',
    steps: [
      'Read the daemon log lines "an AWS SDK thread failed" for the reason (out of memory, a module that cannot load, a thread that stopped answering).',
      'As a workaround, set aws.sdkThreads: 0 in the configuration and restart keystore-watch (aws.* is not applied by a reload): every AWS call then runs on the main thread, slower on large fleets but without worker threads.',
      'If the threads ran out of memory, give the container more memory; report the failure with the log lines.',
    ],
    details: { 'Last failure': lastFailure, 'Failures in a row': String(failuresInRow) },
  };
}
export const ORGANIZATIONS_ALERT = 'organizations-discovery';

/**
 * Whether a failed Organizations read is worth a self-alert, and which (pure). The daemon keeps the last
 * good account list, so one failed refresh changes nothing on-call must know. It matters when
 * - no list was ever read and a second read in a row failed: only the explicitly listed accounts are
 *   watched (critical: the organization's accounts are a blind spot), or
 * - the list in use is older than max(4 x organizations.refreshInterval, 1 h): accounts created or moved
 *   since are not watched (warning).
 * Resolved by the next good read.
 */
export function organizationsSelfAlert(e: { code: string; message: string }, o: { ageMs: number | null; failuresInRow: number; refreshIntervalMs: number; explicitAccounts: number }): SelfAlertInput | null {
  const staleAfterMs = Math.max(4 * o.refreshIntervalMs, 3_600_000);
  const common = {
    id: ORGANIZATIONS_ALERT,
    steps: [
      'Read the daemon log lines "organizations read failed" for the error code.',
      'AccessDeniedException: the role keystore-watch uses for Organizations (organizations.roleArn, or its own credentials) must be in the management account or a delegated administrator account and allow organizations:ListAccounts, ListRoots, ListOrganizationalUnitsForParent and ListAccountsForParent; check for a service control policy or permission boundary that denies them.',
      'AWSOrganizationsNotInUseException: the account is not in an organization; list the accounts explicitly (accounts:) and set organizations.enabled: false.',
      'Run keystore-watch check-config to see the accounts it resolves; the alert resolves at the next good read.',
    ],
    details: { 'Error code': e.code, 'Failed reads in a row': String(o.failuresInRow), 'Accounts listed explicitly': String(o.explicitAccounts) },
  };
  if (o.ageMs === null) {
    if (o.failuresInRow < 2) return null;
    return {
      ...common,
      severity: 'critical',
      summary: `keystore-watch cannot list the organization's accounts (${e.code}): only ${o.explicitAccounts} explicitly listed account(s) are watched`,
      detail: 'Organizations discovery has not read the account list once since keystore-watch started. Every account it would find is a blind spot: a custom key store there that stops working will not be noticed. This resolves at the first good read.',
    };
  }
  if (o.ageMs <= staleAfterMs) return null;
  return {
    ...common,
    severity: 'warning',
    summary: `keystore-watch's account list from Organizations is ${Math.round(o.ageMs / 60_000)} minutes old (${e.code}): new accounts are not watched`,
    detail: 'Organizations reads keep failing, so keystore-watch polls the last account list it read. Accounts created, moved or re-tagged since are not watched or are labelled as before. This resolves at the next good read.',
    details: { ...common.details, 'List age (min)': String(Math.round(o.ageMs / 60_000)) },
  };
}

/** One replica on files writes with the fixed epoch (no election). */
const SINGLE_FENCE: Fence = { epoch: SINGLE_REPLICA_EPOCH };

export class Daemon {
  readonly metrics = new SelfMetrics();
  /** One poll through every stage: src/pipeline/poll-pipeline.ts. */
  private readonly poll: PollPipeline;
  private lock: StateDirLock | null = null;
  /** The state backend the pipeline writes through (a leader term's, when replicated); null while following. */
  private resilient: ResilientStateBackend | null = null;
  private stateLog = { at: 0, suppressed: 0 };
  private readonly clients: AwsClients;
  /** The poll's peak memory and the container's limit (memory-headroom.ts). */
  private readonly memory: MemoryProbe;
  private poller: SnapshotPoller;
  /** Hot reload (src/config/reload.ts): set when the daemon knows its config file. */
  readonly reloader: Reloader | null;
  /** The fence the pipeline writes with (loadState's), for reconfigure() to reopen it. */
  private fence: (() => Fence) | null = null;
  /** Held while reconfigure() swaps the pieces: a poll starting meanwhile waits for it. */
  private reconfiguring: Promise<void> = Promise.resolve();
  /** Re-posts firing alerts to the Alertmanager channels every resendInterval (through the outbox). */
  private readonly resender = new AlertmanagerResender({ pipeline: () => this.pipeline, channels: () => this.opts.config.alerting.channels, now: () => this.now() });
  private pipeline!: AlertPipeline;
  private server: RunningHttpServer | null = null;
  private readonly polls = nonOverlapping(() => this.runPoll(), () => {
    this.metrics.pollsSkipped.inc();
    this.opts.logger.warn({ schedule: this.opts.config.schedule }, 'previous poll still running; skipping this tick');
  }, () => this.timing.started());
  private timing: PollTiming;
  private readonly abort = new AbortController();
  /** state.backend: postgres: replicas share the database; one leads under a lease, the others follow (src/ha/). */
  private readonly replicated: boolean;
  private ha: { conn: PgConnection; lease: LeaderLease; role: ReplicaRole; base: PostgresStateBackend | null; peers: ReturnType<typeof peerHooks> } | null = null;
  /** Aborted when this replica stops leading: a poll under way drops its result (the new leader polls itself). */
  private termAbort = new AbortController();
  /** The state's change mark (PostgresStateBackend.changeMark) the follower's view was built from. */
  private viewKey = '';
  private readonly now: () => number;

  constructor(private readonly opts: DaemonOptions) {
    this.now = opts.now ?? Date.now;
    this.replicated = opts.config.state.backend === 'postgres' && !opts.backend;
    this.timing = this.pollTiming(opts.config.schedule);
    this.memory = opts.memory ?? systemMemoryProbe();
    this.clients = new AwsClients({
      aws: opts.config.aws, credentials: opts.credentials, observer: this.metrics.awsObserver,
      onWarning: (message, fields) => opts.logger.warn(fields, message),
      sdkThreadEntry: opts.sdkThreadEntry,
      onSdkThreadFailure: (reason, message, failuresInRow) => {
        this.metrics.sdkThreadFailures.inc({ reason });
        // One failure is replaced at once and costs one poll's calls at most; a replacement failing too
        // means polls may not reach AWS at all: say so (targets down alone would not tell why).
        if (failuresInRow >= 2) this.pipeline?.self.raise(sdkThreadsSelfAlert(message, failuresInRow));
      },
      onSdkThreadRecovered: () => this.pipeline?.self.resolve(SDK_THREADS_ALERT, 'An AWS SDK thread answers again: polls reach AWS.'),
    });
    this.poller = this.snapshotPoller(opts.config);
    // The poller is read at each poll (a reload may replace it). The alert pipeline commits the
    // snapshot with the poll (StateBackend.commit): no separate snapshot write.
    const self = this;
    this.poll = new PollPipeline({ get poller() { return self.poller; }, alerts: () => this.pipeline, store: () => null, metrics: this.metrics, logger: opts.logger });
    this.metrics.watchOrganizations(() => this.poller.organizations?.ageMs() ?? null, this.opts.monotonic ?? this.opts.now ?? monotonicNow);
    // The configuration in force was loaded successfully (what Prometheus reports at start-up too).
    this.metrics.configReloadSuccessful.set(1);
    this.metrics.configReloadSuccessTime.set(this.now() / 1000);
    this.reloader = opts.configSource ? new Reloader({
      source: opts.configSource.path, load: opts.configSource.load, running: () => this.opts.config, now: this.now,
      apply: (plan) => this.reconfigure(plan),
      onOutcome: (o) => this.reloaded(o),
    }) : null;
  }

  /** The schedule and its watchdog (rebuilt when a reload changes the schedule). */
  private pollTiming(schedule: string): PollTiming {
    const opts = this.opts;
    // The watchdog's hooks: the self-alert through every channel, then any the caller gave.
    return new PollTiming({
      schedule, logger: opts.logger, metrics: this.metrics, time: opts.time,
      watchdog: {
        ...opts.watchdog,
        onOverdue: (e) => {
          this.pipeline?.self.raise(pollOverdueSelfAlert(e, schedule));
          opts.watchdog?.onOverdue?.(e);
        },
        onRecovered: (e) => {
          this.pipeline?.self.resolve(POLL_OVERDUE_ALERT, `Polls start again (${Math.round(e.lateMs / 1000)} s after the one that was due).`);
          opts.watchdog?.onRecovered?.(e);
        },
      },
    });
  }

  /** discover -> collect -> snapshot for `config` (rebuilt when a reload changes what to poll). */
  private snapshotPoller(config: Config): SnapshotPoller {
    const opts = this.opts;
    const cloudWatchWarned = new Set<string>();
    const poller: SnapshotPoller = new SnapshotPoller({
      config,
      clients: this.clients,
      now: this.now,
      monotonic: opts.monotonic ?? opts.now ?? monotonicNow,
      onProbeThrottled: (t) => this.metrics.probeThrottled.inc({ account_id: t.accountId, region: t.region }),
      // One warning per account (keystore_watch_cloudwatch_up shows each target), never a blind-spot alert.
      onCloudWatchDenied: (t, e) => {
        if (cloudWatchWarned.has(t.accountId)) return;
        cloudWatchWarned.add(t.accountId);
        opts.logger.warn({ accountId: t.accountId, region: t.region, code: e.code, error: e.message }, 'CloudWatch reads denied: external key store and CloudHSM health from CloudWatch is unavailable in this account (grant cloudwatch:GetMetricData and cloudwatch:ListMetrics, or set cloudwatch.enabled: false)');
      },
      onOrganizationsError: (e) => {
        this.metrics.orgErrors.inc({ code: e.code });
        // This poller's source (during a reload, this.poller may already be the next one).
        const ageMs = poller.organizations?.ageMs() ?? null;
        opts.logger.warn({ code: e.code, error: e.message, ageSeconds: ageMs === null ? null : Math.round(ageMs / 1000) }, 'organizations read failed; keeping the last known account list');
        const alert = organizationsSelfAlert(e, {
          ageMs, failuresInRow: poller.organizations?.consecutiveFailures ?? 1,
          refreshIntervalMs: config.organizations.refreshInterval, explicitAccounts: config.accounts.length,
        });
        if (alert) this.pipeline?.self.raise(alert);
      },
      onOrganizationsRead: (accounts) => {
        this.pipeline?.self.resolve(ORGANIZATIONS_ALERT, `Organizations answered again: ${accounts} account(s) listed.`);
      },
      onOrganizationsPartial: (problems) => {
        for (const p of problems) {
          this.metrics.orgPartial.inc({ operation: p.operation, code: p.error.code }, p.accounts);
          opts.logger.warn({ operation: p.operation, accounts: p.accounts, code: p.error.code, error: p.error.message },
            `organizations ${p.operation} failed for ${p.accounts} account(s); they keep their last known OU path and tags (grant organizations:${p.operation} if denied)`);
        }
      },
      onRegionsError: (accountId, e, kept) => {
        opts.logger.warn({ accountId, code: e.code, error: e.message }, kept ? 'account ListRegions failed; keeping the last known enabled regions' : 'account ListRegions failed; the regions to poll in this account are unknown');
      },
    });
    return poller;
  }

  /**
   * Hot reload's seam (src/config/reload.ts planReload): swaps the pieces a new configuration changes,
   * between polls, keeping the state. poller: a new collector (the next poll walks the new accounts and
   * regions); pipeline: the alert pipeline and outbox reopened on the same state with the new
   * thresholds and channels; schedule: the scheduler restarted. Restart-only keys are already kept at
   * their running values in plan.config.
   */
  async reconfigure(plan: ReloadPlan): Promise<void> {
    let release!: () => void;
    const held = this.reconfiguring;
    this.reconfiguring = new Promise<void>((r) => { release = r; });
    try {
      await held;
      await this.polls.idle();
      const next = plan.config;
      const leading = (!this.ha || this.ha.role.role === 'leader') && this.pipeline !== undefined;
      if (plan.parts.includes('poller')) {
        const old = this.poller;
        this.poller = this.snapshotPoller(next);
        this.poller.resume({ pollId: Math.max(this.pipeline?.lastPollId ?? 0, this.poll.snapshot?.pollId ?? 0) });
        old.close();
        // The new collector reads Organizations afresh (its first good read resolves the alert); without discovery there is nothing to wait for.
        if (!next.organizations.enabled) this.pipeline?.self.resolve(ORGANIZATIONS_ALERT, 'Organizations discovery was turned off by a configuration reload.');
      }
      if (plan.parts.includes('pipeline') && leading && this.resilient && this.fence) {
        // The same state, read back through the backend: what the last commit and deliveries wrote.
        this.resender.stop();
        await this.pipeline.stop(0);
        const backend = this.resilient;
        const loaded = await backend.load(LOAD_PARTS);
        // Silences, acknowledgements and the audit trail reopen on the same records, with the new maintenance windows.
        this.opts.config = next;
        this.onCall = this.openOnCall(backend, this.fence, loaded.onCall);
        this.pipeline = await AlertPipeline.open({ config: next, backend: { backend, fence: this.fence, loaded }, logger: this.opts.logger, metrics: this.metrics, notifiers: this.opts.notifiers, now: this.now, outbox: this.opts.outbox, mute: this.onCall });
        this.pipeline.startDelivery();
      }
      this.opts.config = next;
      if (plan.parts.includes('schedule')) {
        this.timing.stop();
        this.timing = this.pollTiming(next.schedule);
        if (leading && this.opts.schedule !== false) this.timing.start(this.polls);
      }
      if (leading) this.resender.start();
    } finally {
      release();
    }
  }

  /** A reload's outcome: metrics, log lines (every problem, every key needing a restart), the audit event. */
  private reloaded(o: ReloadOutcome): void {
    const { logger } = this.opts;
    this.metrics.configReloadSuccessful.set(o.ok ? 1 : 0);
    if (o.ok) this.metrics.configReloadSuccessTime.set(o.at / 1000);
    // The audit trail (src/alert/oncall.ts, /api/v1/events type "audit"): who reloaded, when, what it did.
    const detail = { file: o.source, applied: o.applied.join(', '), restartRequired: o.restartRequired.join(', '), problems: o.problems.join('\n') };
    this.onCall?.audit({ action: o.ok ? 'config_reloaded' : 'config_reload_failed', by: o.by, detail })
      .catch((err: unknown) => logger.warn({ err, by: o.by }, 'could not record the reload in the audit trail (a follower, or the state backend refuses writes)'));
    if (!o.ok) {
      for (const p of o.problems) logger.error({ by: o.by, file: o.source, problem: p }, 'configuration reload failed; keeping the running configuration');
      return;
    }
    for (const key of o.restartRequired) logger.warn({ by: o.by, file: o.source, key }, `configuration key ${key} changed but needs a restart; keeping the running value`);
    logger.info({ by: o.by, file: o.source, applied: o.applied, restartRequired: o.restartRequired }, o.applied.length ? 'configuration reloaded' : 'configuration reloaded; nothing to apply');
  }

  get url(): string | null {
    return this.server?.url ?? null;
  }

  get latest(): Snapshot | null {
    return this.poll.snapshot;
  }

  /** Silences, acknowledgements and audit events (src/alert/oncall.ts); null on a follower (writes go to the leader). */
  onCallActions(): OnCallActions | null {
    return this.onCall;
  }

  private onCall: OnCall | null = null;

  /** The on-call records as loaded (a leader's term or a single replica writes them with `fence`; a follower cannot write). */
  private openOnCall(backend: StateBackend, fence: () => Fence, records: LoadedOnCall): OnCall {
    const { config } = this.opts;
    return new OnCall({
      persist: (c) => (backend.applyOnCall ? backend.applyOnCall(fence(), c) : Promise.reject(new Error('this state backend keeps no on-call records'))),
      now: this.now,
      lookupAlert: (k) => this.pipeline?.alertRef(k) ?? null,
      expectDisconnected: config.alerting.expectDisconnected,
      windows: compileWindows(config.alerting.maintenanceWindows),
      onChange: () => this.pipeline?.refreshGauges(),
    }, records ?? []);
  }

  get alerts(): AlertPipeline {
    return this.pipeline;
  }

  /** start() under way (or settled): stop() waits for it, so a SIGTERM during start-up stops what started. */
  private starting: Promise<void> | null = null;
  private startDone = false;
  /** stop() was called before start() finished: open() starts no schedule. */
  private stopRequested = false;

  start(): Promise<void> {
    this.starting ??= this.startOnce().finally(() => { this.startDone = true; });
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      // Nothing was sent (delivery starts last); let the next daemon have the directory.
      await this.server?.close().catch(() => {});
      this.server = null;
      await this.resilient?.close().catch(() => {});
      await this.lock?.release().catch(() => {});
      await this.ha?.lease.stop().catch(() => {});
      await this.ha?.base?.close().catch(() => {});
      await this.ha?.conn.close().catch(() => {});
      this.clients.close();
      throw err;
    }
  }

  private async open(): Promise<void> {
    const { config, logger } = this.opts;
    if (this.replicated) return this.openReplicated();
    this.metrics.leader.set(1);
    this.metrics.leaseEpoch.set(1);
    this.lock = await StateDirLock.acquire(config.stateDir, {
      onTakeover: (prev, why) => logger.warn({ stateDir: config.stateDir, previousPid: prev?.pid ?? null, previousHost: prev?.hostname ?? null, why }, 'took over a stale stateDir lock'),
      onHeartbeatError: (reason) => logger.warn({ stateDir: config.stateDir, reason }, 'cannot renew the stateDir lock lease'),
      onLost: (holder) => {
        logger.error({ stateDir: config.stateDir, holderPid: holder?.pid ?? null, holderHost: holder?.hostname ?? null }, 'lost the stateDir lock: its file was removed and another process holds it now');
        this.pipeline?.self.raise({
          id: 'state-lock', severity: 'critical',
          summary: `keystore-watch lost its stateDir lock: another process holds ${config.stateDir}`,
          detail: 'The lock file was removed while this daemon ran and another keystore-watch took the directory. Two daemons now write the same state and both send alerts. Stop one of them.',
          details: { 'State directory': config.stateDir, 'Lock holder': holder ? `pid ${holder.pid} on ${holder.hostname}` : 'unknown' },
        });
      },
    });
    // FileStateBackend reads the documents of the previous releases as its checkpoint: an old stateDir loads as it is.
    const inner = this.opts.backend ?? (await FileStateBackend.open({
      dir: config.stateDir,
      observer: { onCorrupt: (r) => this.corrupt(r) },
    }));
    this.resilient = this.resilientOver(inner);
    await this.loadState(() => SINGLE_FENCE);
    await this.serve();
    this.pipeline.startDelivery();
    this.resender.start();
    // The SDK threads load while STS answers: the first poll then finds them ready.
    const threads = this.clients.startSdkThreads();
    await this.identify();
    await threads;
    if (this.opts.schedule !== false && !this.stopRequested) {
      this.timing.start(this.polls);
      // A poll also runs at start-up rather than waiting for the first tick.
      void this.polls.trigger();
    }
  }

  private corrupt(r: { name: string; reason: string; movedTo: string | null }): void {
    this.metrics.stateErrors.inc({ kind: 'corrupt' });
    this.opts.logger.error({ document: r.name, reason: r.reason, movedTo: r.movedTo }, 'state document was corrupt; moved aside and starting that part afresh');
  }

  /** The daemon's state backend around `inner`: writes the disk or database refuses are held in memory and retried (ResilientStateBackend). */
  private resilientOver(inner: StateBackend): ResilientStateBackend {
    const { config, logger } = this.opts;
    // A term's backend reports only while it is the daemon's current one: a retry of a term that ended
    // (deposed, re-elected since) must not raise 'state-persist' on the next term's pipeline.
    const current = () => this.resilient === backend;
    const backend: ResilientStateBackend = new ResilientStateBackend(inner, {
      retryMs: this.opts.stateRetryMs,
      observer: {
        onWriteError: (f, first) => {
          if (!current()) return;
          this.metrics.stateErrors.inc({ kind: 'write' });
          // Every poll, delivery and retry writes: one line per minute while it lasts, not one per write
          // (monotonic, so a backward clock step cannot silence the reminder lines).
          const t = monotonicNow();
          if (first || t - this.stateLog.at >= 60_000) {
            const fields = { err: f.error, ...(this.ha ? { schema: config.state.schema } : { stateDir: config.stateDir }), write: f.call, code: f.code, reason: f.reason, failedWritesSinceLastLine: this.stateLog.suppressed };
            if (first) logger.error(fields, 'cannot persist state; still evaluating and delivering alerts from memory');
            else logger.warn(fields, 'state still cannot be persisted');
            this.stateLog = { at: t, suppressed: 0 };
          } else this.stateLog.suppressed++;
          this.pipeline?.self.raise(this.stateAlert(f.reason));
        },
        onRecovered: (downMs) => {
          if (!current()) return;
          if (this.ha) {
            logger.info({ schema: config.state.schema, downSeconds: Math.round(downMs / 1000) }, 'state persisted again; the in-memory state is in PostgreSQL');
            this.pipeline?.self.resolve(STATE_ALERT, `keystore-watch writes its state to PostgreSQL (schema ${config.state.schema}) again; what it held in memory is written.`);
            return;
          }
          logger.info({ stateDir: config.stateDir, downSeconds: Math.round(downMs / 1000) }, 'state persisted again; the in-memory state is on disk');
          this.pipeline?.self.resolve(STATE_ALERT, `keystore-watch writes its state to ${config.stateDir} again; what it held in memory is on disk.`);
        },
        // Held writes refused for good when replayed: another replica leads (the term view steps down).
        onHeldDropped: (err, calls) => {
          if (!isNotLeaderError(err)) logger.error({ err, calls }, 'held state writes refused for good when replayed; dropped');
        },
      },
    });
    return backend;
  }

  /** Loads the state (snapshot, alerts, outbox, history) from the backend and opens the alert pipeline on it; no delivery yet. */
  private async loadState(fence: () => Fence): Promise<void> {
    const { config, logger } = this.opts;
    const backend = this.resilient!;
    this.fence = fence;
    const loaded = await backend.load(LOAD_PARTS);
    const restored = loaded.snapshot as Snapshot | null;
    await this.poll.restore(restored);
    if (restored) logger.info({ pollId: restored.pollId, stores: restored.stores.length }, 'restored the last snapshot');
    this.onCall = this.openOnCall(backend, fence, loaded.onCall);
    this.pipeline = await AlertPipeline.open({ config, backend: { backend, fence, loaded }, logger, metrics: this.metrics, notifiers: this.opts.notifiers, now: this.now, outbox: this.opts.outbox, mute: this.onCall });
    // A write that failed while the pipeline was opening had no pipeline to raise the self-alert on.
    const health = this.resilient!.health();
    if (health.failing) this.pipeline.self.raise(this.stateAlert(health.failing.reason));
    this.poller.resume({ pollId: this.pipeline.lastPollId });
  }

  private async serve(): Promise<void> {
    const { config, logger } = this.opts;
    if (this.opts.serve !== false) {
      this.server = await startHttpServer({
        listen: config.listen,
        authToken: config.http.authToken,
        tls: config.http.tls,
        limits: { maxConnections: config.http.maxConnections, headersTimeout: config.http.headersTimeout, requestTimeout: config.http.requestTimeout, keepAliveTimeout: config.http.keepAliveTimeout },
        observer: this.metrics.httpObserver,
        routes: this.httpRoutes(),
        sources: {
          metrics: async () => ({ snapshot: this.poll.snapshotMetrics, self: await this.metrics.render() }),
          ready: () => this.readiness(),
          stores: (f) => this.storesView(f),
          targets: () => ({ pollId: this.poll.snapshot?.pollId ?? null, targets: this.poll.snapshot?.targets ?? [] }),
          alerts: () => ({ alerts: this.pipeline.firing(), self: this.pipeline.firingSelf() }),
          events: (limit) => ({ events: mergeAuditEvents(this.pipeline.recentEvents(limit), this.onCall?.events(limit) ?? [], limit) }),
          outbox: (limit) => this.pipeline.outbox.view(limit),
          ...(this.ha ? { replica: () => this.ha!.peers.status() } : {}),
        },
      });
      logger.info({ url: this.server.url }, 'serving /metrics, /healthz, /readyz and /api/v1');
    }
  }

  /**
   * Feature endpoints (src/server/http.ts HttpRoute): each feature's routes come from its own module
   * under src/server/; list them here. Writes ('write' access) need http.authToken.
   */
  private httpRoutes(): HttpRoute[] {
    const { http } = this.opts.config;
    // The status page at / (src/server/status/): reads the same snapshot and alert state as /api/v1.
    const status = statusRoutes({
      authToken: http.authToken, trustedUserHeader: http.trustedUserHeader, externalUrl: http.externalUrl, tls: Boolean(http.tls),
      source: {
        snapshot: () => this.poll.snapshot,
        alerts: () => statusAlerts(this.pipeline?.firing() ?? []),
        selfAlerts: () => this.pipeline?.firingSelf().map((a) => ({ ...a, since: Date.parse(a.since) })) ?? [],
        events: (limit) => (this.pipeline?.recentEvents(limit) ?? []) as StatusEvent[],
        role: () => this.role,
        oncall: () => { const a = this.onCallActions(); return a ? statusOnCall(a) : null; },
        drill: (store, code, by) => sendDrill(this.opts.notifiers ?? createNotifiers(this.opts.config.alerting.channels), store, code, by, this.now()),
        now: this.now,
      },
    });
    return [
      ...onCallRoutes({ actions: () => this.onCallActions(), unavailable: () => 'this replica follows; silences and acknowledgements are written by the leader (see /api/v1/replica)' }),
      ...(this.reloader ? reloadRoutes((by) => this.reloader!.reload(by)) : []),
      // One alert by its key: an Alertmanager alert's generatorURL when the alert has no store page.
      {
        method: 'GET', path: '/api/v1/alerts/:id', access: 'read',
        handle: (c) => {
          const alert = this.pipeline?.firing().find((a) => a.alertKey === c.params.id);
          if (!alert) return c.send(404, 'no firing alert with this id (it may have resolved: see /api/v1/events)\n');
          return c.json({ alert });
        },
      },
      ...status,
    ];
  }

  // ---- Replicas on PostgreSQL (state.backend: postgres) ------------------------------------------
  // Start-up: connect and migrate (the database must be reachable), read the latest committed state
  // as a follower, bind the port, then run for the lease. Elected: lead(); deposed: follow(); while
  // following: refreshView() every state.refreshInterval. See src/ha/lease.ts and src/ha/replica.ts.

  private async openReplicated(): Promise<void> {
    const { config, logger } = this.opts;
    const st = config.state;
    this.metrics.leader.set(0);
    this.metrics.leaseEpoch.set(0);
    const conn = new PgConnection({
      url: st.url, queryTimeoutMs: st.queryTimeout, applicationName: 'keystore-watch',
      onIdleError: (err) => logger.warn({ err }, 'PostgreSQL connection lost (idle); reconnecting at the next query'),
    });
    let leaseErrorAt = -Infinity;
    // state.peers: a leader that cannot renew asks the other replicas before stepping down (src/ha/peers.ts).
    const peers = peerHooks({
      peers: st.peers, authToken: config.http.authToken, leaseDurationMs: st.leaseDuration, renewIntervalMs: st.renewInterval,
      lease: () => lease, log: logger,
      onDegraded: (epoch, degraded, unreachablePeers) => {
        this.metrics.leaderDegraded.set(degraded ? 1 : 0);
        if (degraded) this.metrics.degradedTerms.inc({ peers: unreachablePeers.length ? 'unreachable' : 'answered' });
        logger[degraded ? 'error' : 'info']({ epoch, unreachablePeers }, degraded
          ? 'leading without PostgreSQL (no peer reaches it): polling and paging from memory; state writes are held until the database answers'
          : 'PostgreSQL answers again: lease reclaimed with the same epoch; writing back the held state');
      },
    });
    const lease = new LeaderLease({
      ...(peers.configured ? peers.lease : {}),
      conn, schema: st.schema, ttlMs: st.leaseDuration, renewMs: st.renewInterval,
      onElected: (epoch) => role.elected(epoch),
      onDeposed: (epoch, why) => role.deposed(epoch, why),
      onError: (err, during) => {
        // One line per lease duration while the database cannot be reached, not one per attempt.
        const t = monotonicNow();
        if (t - leaseErrorAt >= st.leaseDuration) logger.warn({ err, during, leader: lease.isLeader() }, `leader lease ${during} failed`);
        leaseErrorAt = t;
      },
    });
    const role: ReplicaRole = new ReplicaRole({
      lease, refreshMs: st.refreshInterval, log: logger,
      hooks: { lead: (epoch) => this.lead(epoch), follow: (why) => this.follow(why), refresh: () => this.refreshView() },
    });
    this.ha = { conn, lease, role, base: null, peers };
    // Connects and migrates (under an advisory lock): the database must answer at start-up.
    this.ha.base = await PostgresStateBackend.open({ conn, url: st.url, schema: st.schema, log: logger, onCorrupt: (r) => this.corrupt(r) });
    await this.refreshView();
    await this.serve();
    await this.identify();
    if (this.stopRequested) return;
    logger.info({ holder: lease.holder, schema: st.schema, leaseSeconds: st.leaseDuration / 1000, peers: st.peers }, 'following; trying for the leader lease');
    peers.startWarning();
    role.start();
  }

  /** Elected: reload everything from the database, then poll and deliver; every write carries `epoch`. */
  private async lead(epoch: number): Promise<void> {
    const ha = this.ha!;
    this.termAbort = new AbortController();
    this.metrics.leader.set(1);
    this.metrics.leaseEpoch.set(epoch);
    // A follower runs no SDK thread; they load while the state reloads (the first poll waits for them).
    void this.clients.startSdkThreads();
    // This term's writes: fence = the lease epoch (the database refuses it once another replica holds
    // the lease, or ours expired by the database's clock); a refusal steps down at once, never held.
    this.resilient = this.resilientOver(termView(ha.base!, (err) => this.notLeader(epoch, err)));
    // A re-elected replica starts its term with its own state alerts: the previous term's are not carried over.
    this.stateLog = { at: 0, suppressed: 0 };
    await this.loadState(() => ({ epoch }));
    // The previous leader's committed poll counts as evaluated (no readiness blip at a failover).
    this.poll.evaluated = this.poll.snapshot !== null;
    this.poll.lastPollError = null;
    this.pipeline.startDelivery();
    this.resender.start();
    if (this.opts.schedule !== false) {
      this.timing.start(this.polls);
      void this.polls.trigger();
    }
    this.opts.logger.info({ epoch, pollId: this.poll.snapshot?.pollId ?? null, pending: this.pipeline.outbox.pending() }, 'leading: state reloaded, polling and delivering');
  }

  /** A write of term `epoch` refused with NotLeaderError: the database says another replica leads; give the lease up now. */
  private notLeader(epoch: number, err: Error): void {
    const ha = this.ha!;
    if (ha.lease.epoch !== epoch && ha.role.role !== 'leader') return;
    void ha.lease.resign(`a state write was refused: ${err.message}`);
  }

  /** Deposed: stop polling and sending now; a poll under way drops its result (its writes are refused anyway). */
  private async follow(reason: string): Promise<void> {
    this.termAbort.abort(new Error('no longer the leader'));
    this.metrics.leader.set(0);
    this.metrics.leaseEpoch.set(0);
    this.metrics.leaderDegraded.set(0);
    this.timing.stop();
    this.resender.stop();
    await this.pipeline?.outbox.stop();
    // The term's store: its retries of unwritten documents end here (a later term starts from the database).
    const ended = this.resilient;
    this.resilient = null;
    await ended?.close().catch(() => {});
    // A follower makes no per-target AWS call: its SDK threads (a V8 isolate each) go until it leads again.
    await this.clients.stopSdkThreads();
    // The term's self-alerts about its own writes end with it: a follower does not write, and a
    // re-elected replica starts its new term from the database, not with the last term's alarms.
    for (const a of this.pipeline?.self.firing() ?? []) this.metrics.selfAlert.set({ id: a.id, severity: a.severity }, 0);
    this.viewKey = '';
    void reason;
  }

  /** Follower: re-reads the latest committed state when the leader wrote something, and serves it. */
  private async refreshView(): Promise<void> {
    const ha = this.ha!;
    const base = ha.base!;
    const key = (await base.changeMark()) ?? '';
    if (key === this.viewKey && this.pipeline) return;
    const loaded = await base.load(LOAD_PARTS);
    const snapshot = loaded.snapshot as Snapshot | null;
    // The follower's pipeline only serves /api/v1/*: it never writes (readOnlyView) and never delivers.
    const onCall = this.openOnCall(readOnlyView(base), () => ({ epoch: 0 }), loaded.onCall);
    const pipeline = await AlertPipeline.open({
      config: this.opts.config, backend: { backend: readOnlyView(base), fence: () => ({ epoch: 0 }), loaded },
      logger: this.opts.logger.child({ role: 'follower' }, { level: 'error' }), metrics: this.metrics,
      notifiers: this.opts.notifiers, now: this.now, outbox: this.opts.outbox, mute: onCall,
    });
    this.poll.snapshotMetrics.release();
    const encoded = snapshot ? await encodeSnapshotMetrics(snapshot) : EMPTY_METRICS;
    // Elected meanwhile: lead() has loaded its own state.
    if (ha.role.role !== 'follower') return;
    this.poll.snapshot = snapshot;
    this.poll.snapshotMetrics = encoded;
    this.pipeline = pipeline;
    this.onCall = onCall;
    this.viewKey = key;
    if (snapshot) this.metrics.lastPoll.set(snapshot.finishedAt / 1000);
  }

  /** AWS SDK threads running now (aws.sdkThreads): none on an HA follower. */
  get sdkThreadsRunning(): number {
    return this.clients.sdkThreads?.running ?? 0;
  }

  /**
   * Leader or follower (state.backend: postgres); a single replica on files always leads. An elected
   * replica says 'leader' once it has loaded the term's state (ReplicaRole.serving), not while it loads.
   */
  get role(): 'leader' | 'follower' {
    return this.ha ? this.ha.role.serving : 'leader';
  }

  /** Ready once a poll's alerts were handled, and while nothing critical is wrong with keystore-watch itself. */
  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.ha && this.ha.role.role === 'follower') {
      // A follower serves the leader's committed state: ready while it can read it.
      if (this.ha.role.refreshError) reasons.push(`follower: cannot read the latest committed state from PostgreSQL: ${this.ha.role.refreshError}`);
      else if (!this.poll.snapshot) reasons.push('follower: no committed snapshot yet (waiting for the leader\'s first poll)');
      return { ready: reasons.length === 0, reasons };
    }
    if (this.ha?.lease.degraded) reasons.push('leading without PostgreSQL: no replica reaches the database; polling and paging from memory, state writes held');
    const { evaluated, lastPollError } = this.poll;
    if (!evaluated) reasons.push(lastPollError ? `no poll evaluated yet; the last one failed: ${lastPollError}` : 'waiting for the first poll');
    else if (lastPollError) reasons.push(`the last poll failed: ${lastPollError}`);
    for (const a of this.pipeline?.self.firing() ?? []) if (a.severity === 'critical') reasons.push(a.summary);
    return { ready: reasons.length === 0, reasons };
  }

  /** The state store's health (for tests and diagnostics). */
  stateHealth() {
    return this.resilient?.health() ?? { ok: true, failing: null };
  }

  private stateAlert(reason: string): { id: string; severity: 'critical'; summary: string; detail: string; details: Record<string, string> } {
    const dir = this.opts.config.stateDir;
    if (this.ha) {
      const { schema, leaseDuration } = this.opts.config.state;
      return {
        id: STATE_ALERT,
        severity: 'critical' as const,
        summary: `keystore-watch cannot persist state: ${reason}`,
        detail: `Writes to PostgreSQL (schema ${schema}) fail. The leader still evaluates and sends alerts from memory, and writes them back when the database answers. If it cannot renew its lease within ${leaseDuration / 1000} s it asks the replicas in state.peers: when one of them reaches the database it stops leading (that one takes over from the last committed state; duplicates possible for what was sent meanwhile); when none does (or none is configured to ask, in which case it stops leading and nobody pages until the database returns) it keeps leading from memory.`,
        details: { 'PostgreSQL schema': schema },
      };
    }
    return {
      id: STATE_ALERT,
      severity: 'critical' as const,
      summary: `keystore-watch cannot persist state: ${reason}`,
      detail: `Writes to the state directory ${dir} fail. Alerts are still evaluated and sent from memory; when writes succeed again the in-memory state is written back and this alert resolves. A restart before that forgets what was sent meanwhile (duplicates possible).`,
      details: { 'State directory': dir },
    };
  }

  /**
   * Who the daemon runs as, once at start (STS GetCallerIdentity with the base credentials). Also decides
   * the role-chaining cap on aws.sessionDuration (AwsClients.identify). A failure is logged, not fatal:
   * the polls then show what is wrong, target by target.
   */
  private async identify(): Promise<void> {
    const { logger, config } = this.opts;
    try {
      const who = await this.clients.identify(this.abort.signal);
      logger.info({ account: who.account, arn: who.arn, homeRegion: config.aws.homeRegion, sessionSeconds: this.clients.sessionDurationSeconds }, 'AWS identity');
    } catch (err) {
      if (this.stopRequested) return;
      logger.warn({ err }, 'STS GetCallerIdentity failed; polling anyway');
    }
  }

  /** Polls now unless a poll is running (then the call is counted as a skip). */
  pollNow(): Promise<boolean> {
    return this.polls.trigger();
  }

  private storesView(f: { state?: string; accountId?: string; region?: string; type?: string }) {
    const stores = (this.poll.snapshot?.stores ?? []).filter(
      (s) => (!f.state || s.state === f.state) && (!f.accountId || s.accountId === f.accountId) && (!f.region || s.region === f.region) && (!f.type || s.type === f.type),
    );
    return { pollId: this.poll.snapshot?.pollId ?? null, takenAt: this.poll.snapshot ? new Date(this.poll.snapshot.finishedAt).toISOString() : null, stores: stores.map(publicStore) };
  }

  private async runPoll(): Promise<void> {
    // A reload swapping the pieces finishes first.
    await this.reconfiguring;
    // A follower never polls AWS; deposed while polling, the term's signal drops the result (the new leader polls itself).
    if (this.ha && this.ha.role.role !== 'leader') return Promise.resolve();
    const peakIsPoll = this.memory.resetPeak();
    await this.poll.run(this.ha ? AbortSignal.any([this.abort.signal, this.termAbort.signal]) : this.abort.signal);
    this.checkMemoryHeadroom(peakIsPoll);
  }

  /** The poll's peak memory against the container's limit (memory-headroom.ts): the self-alert raised, updated or resolved. */
  private checkMemoryHeadroom(peakIsPoll: boolean): void {
    const self = this.pipeline?.self;
    // Stopping: the poll was cut short and the outbox is closing; nothing to tell.
    if (!self || this.abort.signal.aborted) return;
    try {
      const verdict = memoryHeadroomVerdict({
        peakBytes: this.memory.peak(), limitBytes: this.memory.limit(), peakIsPoll,
        stores: this.poll.snapshot?.stores.length ?? 0, firing: self.isFiring(MEMORY_ALERT),
      });
      if (!verdict) return;
      if ('raise' in verdict) {
        if (self.raise(verdict.raise)) this.opts.logger.warn({ summary: verdict.raise.summary }, 'poll peaked near the memory limit');
      } else {
        self.resolve(MEMORY_ALERT, verdict.resolve);
      }
    } catch (err) {
      // A probe of memory must never fail a poll.
      this.opts.logger.warn({ err }, 'could not compare the poll\'s peak memory with the memory limit');
    }
  }

  /** Graceful stop: abandon the running poll after `graceMs`, deliver what the outbox can, close the server. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.starting && !this.startDone) {
      // Stopped while starting (a SIGTERM during the STS call, say): the outbox may already be
      // delivering. Cut the start's AWS calls short and wait for it, then stop what it opened; a
      // start that failed has closed everything itself.
      this.stopRequested = true;
      this.abort.abort();
      if (!(await this.starting.then(() => true, () => false))) return;
    }
    this.timing.stop();
    this.resender.stop();
    const idle = this.polls.idle();
    const timer = setTimeout(() => this.abort.abort(), graceMs);
    await idle;
    clearTimeout(timer);
    this.abort.abort();
    // No Organizations read in the background any more (one in flight is aborted).
    this.poller.close();
    if (this.ha) {
      // Replicas: the poll under way has committed (or given up); hand the lease over now (the outbox
      // stops, sends under way finish), so the other replica takes over at its next attempt and
      // delivers what is still queued.
      await this.ha.role.stop();
      await this.server?.close();
      await this.ha.base?.close();
      await this.ha.conn.close();
    } else {
      await this.pipeline?.stop(Math.min(graceMs, 5000));
      await this.server?.close();
      await this.resilient?.close();
      await this.lock?.release();
    }
    this.clients.close();
  }
}
