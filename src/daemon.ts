// The imperative shell that ties the pieces together: schedule -> poll -> snapshot -> (diff, alerts,
// outbox) -> persisted state, metrics text and the HTTP API.
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { Config } from './config/schema.js';
import type { Snapshot } from './model.js';
import { publicStore } from './snapshot/public.js';
import type { Logger } from './log.js';
import { AwsClients } from './collect/aws-clients.js';
import { Poller } from './collect/poller.js';
import { EMPTY_METRICS, encodeSnapshotMetrics, type EncodedMetrics } from './metrics/exposition.js';
import { SelfMetrics } from './metrics/self.js';
import { startHttpServer, type RunningHttpServer } from './server/http.js';
import { nonOverlapping, onSchedule } from './scheduler.js';
import type { StateStore } from './state/store.js';
import { openFileStateStore } from './state/file-store.js';
import { parseSnapshotDoc } from './snapshot/persist.js';
import { AlertPipeline } from './alert/pipeline.js';
import type { Notifier } from './notify/notifier.js';
import type { AlertPipelineOptions } from './alert/pipeline.js';

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Defaults to the file store under config.stateDir. */
  store?: StateStore;
  /** Defaults to the notifiers built from config.alerting.channels. */
  notifiers?: Notifier[];
  now?: () => number;
  /** Serve HTTP (default true). */
  serve?: boolean;
  /** Run on config.schedule (default true); false leaves polling to pollNow(). */
  schedule?: boolean;
  /** Outbox delivery tuning (a virtual clock, short send timeouts in tests). */
  outbox?: AlertPipelineOptions['outbox'];
}

export class Daemon {
  readonly metrics = new SelfMetrics();
  private snapshot: Snapshot | null = null;
  private snapshotMetrics: EncodedMetrics = EMPTY_METRICS;
  private ready = false;
  private readonly clients: AwsClients;
  private readonly poller: Poller;
  private store!: StateStore;
  private pipeline!: AlertPipeline;
  private server: RunningHttpServer | null = null;
  private readonly polls = nonOverlapping(() => this.runPoll(), () => {
    this.metrics.pollsSkipped.inc();
    this.opts.logger.warn({ schedule: this.opts.config.schedule }, 'previous poll still running; skipping this tick');
  });
  private stopSchedule: (() => void) | null = null;
  private readonly abort = new AbortController();
  private readonly now: () => number;

  constructor(private readonly opts: DaemonOptions) {
    this.now = opts.now ?? Date.now;
    this.clients = new AwsClients({
      aws: opts.config.aws, credentials: opts.credentials, observer: this.metrics.awsObserver,
      onWarning: (message, fields) => opts.logger.warn(fields, message),
    });
    this.poller = new Poller({
      config: opts.config,
      clients: this.clients,
      now: this.now,
      onProbeThrottled: (t) => this.metrics.probeThrottled.inc({ account_id: t.accountId, region: t.region }),
      onOrganizationsError: (e) => {
        this.metrics.orgErrors.inc({ code: e.code });
        opts.logger.warn({ code: e.code, error: e.message }, 'organizations ListAccounts failed; keeping the last known account list');
      },
      onRegionsError: (accountId, e, kept) => {
        opts.logger.warn({ accountId, code: e.code, error: e.message }, kept ? 'account ListRegions failed; keeping the last known enabled regions' : 'account ListRegions failed; the regions to poll in this account are unknown');
      },
    });
  }

  get url(): string | null {
    return this.server?.url ?? null;
  }

  get latest(): Snapshot | null {
    return this.snapshot;
  }

  get alerts(): AlertPipeline {
    return this.pipeline;
  }

  async start(): Promise<void> {
    const { config, logger } = this.opts;
    this.store = this.opts.store ?? (await openFileStateStore({
      dir: config.stateDir,
      observer: {
        onCorrupt: (r) => {
          this.metrics.stateErrors.inc({ kind: 'corrupt' });
          logger.error({ document: r.name, reason: r.reason, movedTo: r.movedTo }, 'state document was corrupt; moved aside and starting that part afresh');
        },
      },
    }));
    this.snapshot = await this.store.read('snapshot', parseSnapshotDoc);
    if (this.snapshot) {
      this.poller.resume(this.snapshot);
      this.snapshotMetrics = await encodeSnapshotMetrics(this.snapshot);
      logger.info({ pollId: this.snapshot.pollId, stores: this.snapshot.stores.length }, 'restored the last snapshot');
    }
    this.pipeline = await AlertPipeline.open({ config, store: this.store, logger, metrics: this.metrics, notifiers: this.opts.notifiers, now: this.now, outbox: this.opts.outbox });
    this.poller.resume({ pollId: this.pipeline.lastPollId });
    if (this.opts.serve !== false) {
      this.server = await startHttpServer({
        listen: config.listen,
        authToken: config.http.authToken,
        tls: config.http.tls,
        limits: { maxConnections: config.http.maxConnections, headersTimeout: config.http.headersTimeout, requestTimeout: config.http.requestTimeout, keepAliveTimeout: config.http.keepAliveTimeout },
        observer: this.metrics.httpObserver,
        sources: {
          metrics: async () => ({ snapshot: this.snapshotMetrics, self: await this.metrics.render() }),
          ready: () => this.ready,
          stores: (f) => this.storesView(f),
          targets: () => ({ pollId: this.snapshot?.pollId ?? null, targets: this.snapshot?.targets ?? [] }),
          alerts: () => ({ alerts: this.pipeline.firing() }),
          events: (limit) => ({ events: this.pipeline.recentEvents(limit) }),
          outbox: (limit) => this.pipeline.outbox.view(limit),
        },
      });
      logger.info({ url: this.server.url }, 'serving /metrics, /healthz, /readyz and /api/v1');
    }
    await this.identify();
    if (this.opts.schedule !== false) {
      this.stopSchedule = onSchedule(config.schedule, this.polls);
      // A poll also runs at start-up rather than waiting for the first tick.
      void this.polls.trigger();
    }
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
      logger.warn({ err }, 'STS GetCallerIdentity failed; polling anyway');
    }
  }

  /** Polls now unless a poll is running (then the call is counted as a skip). */
  pollNow(): Promise<boolean> {
    return this.polls.trigger();
  }

  private storesView(f: { state?: string; accountId?: string; region?: string; type?: string }) {
    const stores = (this.snapshot?.stores ?? []).filter(
      (s) => (!f.state || s.state === f.state) && (!f.accountId || s.accountId === f.accountId) && (!f.region || s.region === f.region) && (!f.type || s.type === f.type),
    );
    return { pollId: this.snapshot?.pollId ?? null, takenAt: this.snapshot ? new Date(this.snapshot.finishedAt).toISOString() : null, stores: stores.map(publicStore) };
  }

  private async runPoll(): Promise<void> {
    const { logger } = this.opts;
    const t0 = performance.now();
    try {
      const prev = this.snapshot;
      const next = await this.poller.poll(prev, this.abort.signal);
      if (this.abort.signal.aborted) return;
      this.snapshot = next;
      this.snapshotMetrics = await encodeSnapshotMetrics(next);
      const seconds = (performance.now() - t0) / 1000;
      this.metrics.pollDuration.observe(seconds);
      this.metrics.lastPoll.set(next.finishedAt / 1000);
      this.metrics.polls.inc();
      this.metrics.accounts.set(new Set(next.targets.map((t) => t.accountId)).size);
      const down = next.targets.filter((t) => t.status === 'failed');
      logger.info({ pollId: next.pollId, seconds: Number(seconds.toFixed(3)), targets: next.targets.length, down: down.length, stores: next.stores.length }, 'poll finished');
      for (const t of down) logger.warn({ accountId: t.accountId, region: t.region, code: t.error?.code, error: t.error?.message, consecutiveFailures: t.consecutiveFailures }, 'target down; keeping its last known stores (stale)');
      // Alert state (with the notifications it decided) first, snapshot last: a crash in between replays
      // the diff against the same previous snapshot, and the alert state skips a poll it already saw.
      await this.pipeline.process(prev, next);
      await this.store.write('snapshot', next);
      this.ready = true;
    } catch (err) {
      logger.error({ err }, 'poll failed');
    }
  }

  /** Graceful stop: abandon the running poll after `graceMs`, deliver what the outbox can, close the server. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopSchedule?.();
    const idle = this.polls.idle();
    const timer = setTimeout(() => this.abort.abort(), graceMs);
    await idle;
    clearTimeout(timer);
    this.abort.abort();
    await this.pipeline?.stop(Math.min(graceMs, 5000));
    await this.server?.close();
    await this.store?.close();
    this.clients.close();
  }
}
