// keystore-watch's own metrics (process-lifetime counters and histograms) in a prom-client registry.
//
// Conventions (Prometheus "Writing exporters" and instrumentation guides): counters whose label values
// are known in advance (state error kinds, outbox drop reasons, clock step directions, the configured
// channels: knownChannels()) are exported at 0 from start-up, so rate() has a first sample and an alert on
// absent() or on a rise from 0 works before the first event; HELP says when a value was taken (the last
// poll, keystore_watch_last_poll_timestamp_seconds) or what it counts since (process start).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REVISION, VERSION } from '../version.js';
import type { AwsRequestObserver } from '../collect/aws-clients.js';
import type { DropReason } from '../notify/outbox-records.js';

/** Every outbox drop reason (a Record, so a new DropReason fails the type check until it is listed). */
const DROP_REASONS: Record<DropReason, true> = { overflow: true, channel_removed: true };
/** keystore_watch_state_errors_total kinds. */
export const STATE_ERROR_KINDS = ['corrupt', 'write'] as const;

export class SelfMetrics {
  readonly registry = new Registry();
  readonly awsRequests = new Counter({ name: 'keystore_watch_aws_requests_total', help: 'AWS API requests sent (every attempt, retries included).', labelNames: ['service', 'operation'] as const, registers: [this.registry] });
  readonly awsFailures = new Counter({ name: 'keystore_watch_aws_request_failures_total', help: 'AWS API requests that failed, by error code (throttles included).', labelNames: ['service', 'operation', 'code'] as const, registers: [this.registry] });
  readonly pollDuration = new Histogram({ name: 'keystore_watch_poll_duration_seconds', help: 'Duration of a whole poll of every target.', buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300], registers: [this.registry] });
  readonly lastPoll = new Gauge({ name: 'keystore_watch_last_poll_timestamp_seconds', help: 'When the last poll finished (Unix seconds). The store, cluster and target series (kms_*, aws_cloudhsm_*, keystore_watch_target_*) are the values of this poll.', registers: [this.registry] });
  readonly polls = new Counter({ name: 'keystore_watch_polls_total', help: 'Polls of AWS completed since the process started.', registers: [this.registry] });
  readonly pollsSkipped = new Counter({ name: 'keystore_watch_polls_skipped_total', help: 'Scheduled ticks skipped because the previous poll was still running.', registers: [this.registry] });
  readonly buildInfo = new Gauge({ name: 'keystore_watch_build_info', help: 'Build information (version, source revision, Node.js version); always 1.', labelNames: ['version', 'revision', 'nodejs_version'] as const, registers: [this.registry] });
  readonly accounts = new Gauge({ name: 'keystore_watch_accounts', help: 'Accounts polled (explicit and discovered), as of the last poll (keystore_watch_last_poll_timestamp_seconds).', registers: [this.registry] });
  readonly orgErrors = new Counter({ name: 'keystore_watch_organizations_errors_total', help: 'Failed Organizations reads (the last known account list is kept).', labelNames: ['code'] as const, registers: [this.registry] });
  readonly orgPartial = new Counter({ name: 'keystore_watch_organizations_enrichment_failures_total', help: 'Accounts whose OU path or tags an Organizations read could not get (they keep the last known ones).', labelNames: ['operation', 'code'] as const, registers: [this.registry] });
  readonly notifications = new Counter({ name: 'keystore_watch_notifications_total', help: 'Notifications delivered since the process started, per channel (every configured channel from 0).', labelNames: ['channel'] as const, registers: [this.registry] });
  readonly notificationFailures = new Counter({ name: 'keystore_watch_notification_failures_total', help: 'Failed notification delivery attempts since the process started, per channel (every configured channel from 0).', labelNames: ['channel'] as const, registers: [this.registry] });
  readonly outboxPending = new Gauge({ name: 'keystore_watch_outbox_pending', help: 'Notifications waiting in the outbox.', registers: [this.registry] });
  readonly outboxDropped = new Counter({ name: 'keystore_watch_outbox_dropped_total', help: 'Notifications dropped from the outbox since the process started: reason="overflow" (alerting.outboxLimit reached), "channel_removed" (its channel left the configuration).', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly outboxDeadLetters = new Counter({ name: 'keystore_watch_outbox_dead_letters_total', help: 'Notifications given up on (refused for good, or still failing at alerting.outboxMaxAttempts / outboxMaxAge), per channel: kept in /api/v1/outbox.', labelNames: ['channel'] as const, registers: [this.registry] });
  readonly historyDropped = new Counter({ name: 'keystore_watch_history_dropped_total', help: 'Change history entries dropped because the history cap was reached.', registers: [this.registry] });
  readonly alertsFiring = new Gauge({ name: 'keystore_watch_alerts_firing', help: 'Alerts firing after the last poll (keystore_watch_last_poll_timestamp_seconds), per severity.', labelNames: ['severity'] as const, registers: [this.registry] });
  readonly configReloadSuccessful = new Gauge({ name: 'keystore_watch_config_last_reload_successful', help: 'Whether the last configuration reload attempt succeeded (1 at start-up; 0 while the file on disk is invalid and the previous configuration runs).', registers: [this.registry] });
  readonly configReloadSuccessTime = new Gauge({ name: 'keystore_watch_config_last_reload_success_timestamp_seconds', help: 'When the configuration was last loaded successfully (start-up or reload).', registers: [this.registry] });
  readonly alertsSilenced = new Gauge({ name: 'keystore_watch_alerts_silenced', help: 'Firing alerts muted now by a silence or a maintenance window (they are still counted in keystore_watch_alerts_firing).', registers: [this.registry] });
  readonly pollOverdue = new Gauge({ name: 'keystore_watch_poll_overdue', help: '1 while no poll has started within the grace after it was due (the watchdog, on monotonic time).', registers: [this.registry] });
  readonly pollOverdueTotal = new Counter({ name: 'keystore_watch_poll_overdue_total', help: 'Times the watchdog found a poll overdue.', registers: [this.registry] });
  readonly clockSteps = new Counter({ name: 'keystore_watch_clock_steps_total', help: 'Steps of the wall clock noticed by the scheduler (it re-anchors the schedule on the new time).', labelNames: ['direction'] as const, registers: [this.registry] });
  readonly probeThrottled = new Counter({ name: 'keystore_watch_probe_throttled_total', help: 'GenerateRandom probes answered with ThrottlingException (retried at the next probe interval, never counted as a failure).', labelNames: ['account_id', 'region'] as const, registers: [this.registry] });
  readonly httpConnections = new Gauge({ name: 'keystore_watch_http_connections', help: 'Open connections to the HTTP server.', registers: [this.registry] });
  readonly httpConnectionsDropped = new Counter({ name: 'keystore_watch_http_connections_dropped_total', help: 'HTTP connections closed to stay within http.maxConnections: evicted_idle (an idle connection made room for a new one) or all_busy (the new one, every connection being in a request).', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly stateErrors = new Counter({ name: 'keystore_watch_state_errors_total', help: 'State store problems: kind="corrupt" documents moved aside, kind="write" failed writes (retries included).', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly sdkThreadFailures = new Counter({ name: 'keystore_watch_sdk_thread_failures_total', help: 'AWS SDK threads (aws.sdkThreads) that failed: reason="crashed" (exited or threw), "unresponsive" (did not answer a cancelled call and was terminated); the calls each had in flight failed (those targets down, last known stores kept) and a new thread replaced it.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly leader = new Gauge({ name: 'keystore_watch_leader', help: '1 on the replica that leads (polls AWS and delivers notifications), 0 on a follower (state.backend: postgres). A single replica on the file backend always leads.', registers: [this.registry] });
  readonly leaseEpoch = new Gauge({ name: 'keystore_watch_lease_epoch', help: 'The lease epoch this replica leads with (0 while it follows); increases with every change of leader.', registers: [this.registry] });
  readonly leaderDegraded = new Gauge({ name: 'keystore_watch_leader_degraded', help: '1 while this replica leads without PostgreSQL (its lease could not be renewed and no peer in state.peers reaches the database): polling and paging from memory, state writes held.', registers: [this.registry] });
  readonly degradedTerms = new Counter({ name: 'keystore_watch_degraded_terms_total', help: 'Times this leader kept leading without PostgreSQL; peers="unreachable" when some peer did not answer (if that peer was alive and reached the database, both replicas paged: duplicates possible).', labelNames: ['peers'] as const, registers: [this.registry] });
  readonly selfAlert = new Gauge({ name: 'keystore_watch_self_alert', help: 'Self-alerts keystore-watch raised about itself: 1 while firing, 0 once resolved (id: state-persist, ...; severity: critical, warning, as the alert it sends; KeystoreWatchDegraded takes its severity from it).', labelNames: ['id', 'severity'] as const, registers: [this.registry] });

  constructor(opts: { processMetrics?: boolean } = {}) {
    this.buildInfo.set({ version: VERSION, revision: REVISION, nodejs_version: process.version }, 1);
    for (const severity of ['critical', 'warning', 'info']) this.alertsFiring.set({ severity }, 0);
    this.outboxPending.set(0);
    this.polls.inc(0);
    this.pollsSkipped.inc(0);
    this.historyDropped.inc(0);
    this.pollOverdue.set(0);
    this.pollOverdueTotal.inc(0);
    for (const direction of ['forward', 'backward']) this.clockSteps.inc({ direction }, 0);
    for (const kind of STATE_ERROR_KINDS) this.stateErrors.inc({ kind }, 0);
    for (const reason of ['crashed', 'unresponsive']) this.sdkThreadFailures.inc({ reason }, 0);
    for (const reason of Object.keys(DROP_REASONS)) this.outboxDropped.inc({ reason }, 0);
    this.httpConnections.set(0);
    this.leader.set(0);
    this.leaseEpoch.set(0);
    this.leaderDegraded.set(0);
    for (const peers of ['answered', 'unreachable']) this.degradedTerms.inc({ peers }, 0);
    for (const reason of ['evicted_idle', 'all_busy']) this.httpConnectionsDropped.inc({ reason }, 0);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * keystore_watch_organizations_age_seconds, registered only with Organizations discovery: the age of the
   * account list in use, or, before any read has succeeded, the time since start-up (the list is missing
   * for that long), so an alert on the age also catches a discovery that never worked.
   */
  watchOrganizations(ageMs: () => number | null, now: () => number = Date.now): void {
    const startedAt = now();
    new Gauge({
      name: 'keystore_watch_organizations_age_seconds',
      help: 'Age of the Organizations account list in use (since start-up while none was read yet).',
      registers: [this.registry],
      collect() {
        const age = ageMs();
        this.set((age ?? Math.max(0, now() - startedAt)) / 1000);
      },
    });
  }

  /**
   * The configured notification channels (their outbox ids): each shows in the delivery, failure and
   * dead-letter counters at 0 before its first notification, so rate() and absence alerts see it.
   */
  knownChannels(ids: Iterable<string>): void {
    for (const channel of ids) {
      this.notifications.inc({ channel }, 0);
      this.notificationFailures.inc({ channel }, 0);
      this.outboxDeadLetters.inc({ channel }, 0);
    }
  }

  /** The HTTP server's connection observer (server/http.ts HttpConnectionObserver; typed here so metrics/ does not import server/). */
  get httpObserver(): { open(count: number): void; dropped(reason: 'evicted_idle' | 'all_busy'): void } {
    return {
      open: (n) => this.httpConnections.set(n),
      dropped: (reason) => this.httpConnectionsDropped.inc({ reason }),
    };
  }

  get awsObserver(): AwsRequestObserver {
    return {
      request: (service, operation) => this.awsRequests.inc({ service, operation }),
      failure: (service, operation, code) => this.awsFailures.inc({ service, operation, code }),
    };
  }

  async render(): Promise<string> {
    const text = await this.registry.metrics();
    // prom-client names three gauges *_total, which Prometheus's own linter (promtool) rejects.
    return text.replace(/^# HELP nodejs_active_(handles|requests|resources)_total .*\n# TYPE .*\n(nodejs_active_\1_total.*\n)*/gm, '');
  }
}
