// What happens to each new snapshot after the poll: diff -> change history; alert lifecycle ->
// notifications -> storm grouping -> durable outbox; then the alert state is persisted.
//
// Crash safety: the new alert state and the notifications it decided to send are written together,
// atomically, in one document, and only then handed to the outbox. A crash before that write loses
// nothing (the poll is evaluated again after the restart, with the same deterministic ids); a crash
// after it is repaired at start-up by handing the recorded notifications to the outbox again, which
// drops ids it already holds or delivered. So a notification is never sent for a decision the alert
// state does not remember (no firing without its resolved), and never lost.
// When the disk refuses writes, the daemon's store (src/state/resilient-store.ts) resolves them from
// memory, so the pipeline keeps evaluating and the outbox keeps delivering; see that file for what a
// crash in that state costs.
//
// Delivery does not start in open(): the daemon calls startDelivery() once it holds the stateDir lock
// and has bound its port. `self` carries keystore-watch's alerts about itself (self-alerts.ts).
import type { Config } from '../config/schema.js';
import type { AlertSubject, Condition, Notification, Severity, Snapshot } from '../model.js';
import type { Logger } from '../log.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { StateStore } from '../state/store.js';
import type { Fence, LoadedState, StateBackend } from '../state/backend.js';
import type { Notifier } from '../notify/notifier.js';
import { channelIds, createNotifiers } from '../notify/index.js';
import { createRouter, type Router } from '../notify/routing.js';
import { Outbox, systemClock, type DeadLetter, type OutboxOptions } from '../notify/outbox.js';
import { BoundedHistory } from '../state/history.js';
import { withStatusLinks } from '../server/status/links.js';
import { diffSnapshots, emptyDiffCarry, type Change, type DiffCarry } from '../diff/diff.js';
import { emptyAlertState, evaluateAlerts, firingAlerts, firingCountBySeverity, type AlertState } from '../alert/engine.js';
import { groupForDelivery } from '../alert/group.js';
import { defaultSeverity, guidanceFor } from '../alert/remediation/guidance.js';
import { SelfAlerts, type SelfAlertInput } from '../alert/self-alerts.js';
import { activeAck, applyMuting, emptyMuteCarry, mutedFiring, type Ack, type CompiledSilence, type CompiledWindow, type MuteCarry, type MuteReason } from '../alert/silences.js';
import { alertLabels } from '../alert/labels.js';

const labelsOfAlert = (a: { condition: Condition; severity: Severity; subject: AlertSubject }) => alertLabels(a.condition, a.severity, a.subject);

/** Silences, maintenance windows and acknowledgements the pipeline applies at each poll (src/alert/oncall.ts). */
export interface MuteSource {
  compiled(): { silences: readonly CompiledSilence[]; windows: readonly CompiledWindow[] };
  acks(): ReadonlyMap<string, Ack>;
}

/**
 * The pipeline on a StateBackend (src/state/backend.ts): state from its load(), and each evaluated poll
 * written as ONE commit (snapshot, alert state, history entries, new outbox entries); the outbox writes
 * its deliveries as keyed changes (applyOutbox).
 */
export interface AlertPipelineBackend {
  backend: StateBackend;
  /** The writer's fence (lease epoch), read at each write. */
  fence: () => Fence;
  loaded: LoadedState;
}

export interface AlertPipelineOptions {
  config: Config;
  /** The document store of the previous releases (one of store and backend). */
  store?: StateStore;
  /** One commit per poll through a StateBackend (one of store and backend). */
  backend?: AlertPipelineBackend;
  logger: Logger;
  metrics: SelfMetrics;
  notifiers?: Notifier[];
  now: () => number;
  /** Delivery tuning (tests: a virtual clock, short send timeouts); defaults are the production values. */
  outbox?: Pick<OutboxOptions, 'clock' | 'sendTimeoutMs' | 'backoff' | 'stopTimeoutMs' | 'random' | 'stallMs'>;
  /** Told of every dead-lettered notification after it is counted (the hook for a self-alert on the other channels). */
  onDeadLetter?: (entry: DeadLetter) => void;
  /** Silences, maintenance windows, acknowledgements (src/alert/silences.ts applies them before the outbox). */
  mute?: MuteSource;
}

/** The persisted 'alerts' document: the lifecycle state, the diff's carry-over and the last poll's notifications, written together. */
interface AlertsDoc {
  alerts: AlertState;
  diff: DiffCarry;
  /** What the last evaluated poll decided to send; handed to the outbox again at start-up. */
  pending?: Notification[];
  /** Alerts whose messages a silence or maintenance window held back (sent once when un-muted). */
  muted?: MuteCarry;
}

export function parseAlertsDoc(data: unknown): AlertsDoc {
  const d = data as Partial<AlertsDoc> | null;
  if (!d || typeof d !== 'object' || !d.alerts || typeof d.alerts.alerts !== 'object' || !d.diff || !Array.isArray(d.diff.baselined)) {
    throw new Error('alerts document lacks alerts/diff');
  }
  return d as AlertsDoc;
}

/** How long a channel must go without a dead letter (and then deliver) before its dead-letter self-alert resolves. */
export const DEAD_LETTER_QUIET_MS = 3_600_000;

export class AlertPipeline {
  /** keystore-watch's alerts about itself (see self-alerts.ts); delivered through the same outbox. */
  readonly self: SelfAlerts;

  private constructor(
    private readonly opts: AlertPipelineOptions,
    private doc: AlertsDoc,
    private readonly history: BoundedHistory<Change>,
    readonly outbox: Outbox,
    /** alerting.routes (src/notify/routing.ts): the outbox routes with it, the engine reminds by it. */
    readonly router: Router,
  ) {
    this.self = new SelfAlerts({
      deliver: (ns) => this.outbox.enqueue(ns),
      channelsFor: (n) => this.outbox.channelsFor(n),
      now: opts.now,
      log: opts.logger,
      onChange: (id, firing, severity) => opts.metrics.selfAlert.set({ id, severity }, firing ? 1 : 0),
    });
  }

  /** Monotonic ms (the outbox's clock) of the last dead letter per channel whose self-alert is firing. */
  private readonly lastDeadLetter = new Map<string, number>();

  private mono(): number {
    const clock = this.opts.outbox?.clock ?? systemClock;
    return clock.monotonic ? clock.monotonic() : clock.now();
  }

  /**
   * A channel gave up on a notification: on-call hears it on the other channels (self.raise leaves the
   * channel out unless it is the only one). One self-alert per channel; a further dead letter on it
   * only updates the text. It resolves once the channel has delivered again an hour after its last dead letter.
   */
  deadLettered(d: DeadLetter): void {
    const total = this.outbox.deadLetterTotals()[d.channel] ?? 1;
    this.lastDeadLetter.set(d.channel, this.mono());
    const about = d.storeId ? `key store ${d.storeName ? `${d.storeName} (${d.storeId})` : d.storeId}` : d.clusterId ? `cluster ${d.clusterId}` : d.items !== null ? `a digest of ${d.items} alerts` : d.id;
    const why = d.reason === 'rejected' ? `refused for good (HTTP ${d.lastStatus ?? '?'})` : d.reason === 'max_attempts' ? `still failing after ${d.attempts} attempts` : `still failing after alerting.outboxMaxAge`;
    this.self.raise({
      id: `outbox-dead-letters-${d.channel}`,
      severity: 'critical',
      summary: `keystore-watch gave up delivering notifications to channel ${d.channel}`,
      detail: `The ${d.severity} ${d.kind} notification about ${about}${d.accountId ? ` in ${d.accountId} ${d.region ?? ''}` : ''} was dead-lettered on channel ${d.channel}: ${why}; last error: ${d.lastError ?? 'none'}. On-call did not get it there. ${total} dead letter(s) on ${d.channel} so far, listed in /api/v1/outbox.`,
      steps: [
        'Read the dead letters of the channel, with their last errors, in /api/v1/outbox.',
        'Fix the channel (webhook URL or routing key, the receiver, a payload it refuses) and tell on-call about any dead-lettered firing that still matters.',
      ],
      commands: ['curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/api/v1/outbox"'],
      details: { Channel: d.channel, 'Dead letters': String(total), 'Last dead letter': d.id },
      excludeChannels: [d.channel],
    });
  }

  /** A delivery on `channel`: its dead-letter self-alert resolves when an hour has passed since its last dead letter. */
  channelDelivered(channel: string): void {
    const at = this.lastDeadLetter.get(channel);
    if (at === undefined || this.mono() - at < DEAD_LETTER_QUIET_MS) return;
    this.lastDeadLetter.delete(channel);
    this.self.resolve(`outbox-dead-letters-${channel}`, `Channel ${channel} delivers again, an hour after its last dead letter. Earlier dead letters stay listed in /api/v1/outbox.`);
  }

  /** Shorthands for other modules (scheduler watchdog, outbox dead letters): see self-alerts.ts. */
  raiseSelfAlert(input: SelfAlertInput): boolean {
    return this.self.raise(input);
  }

  resolveSelfAlert(id: string, detail?: string): boolean {
    return this.self.resolve(id, detail);
  }

  static async open(opts: AlertPipelineOptions): Promise<AlertPipeline> {
    const { config, store, backend, logger, metrics } = opts;
    if (!store === !backend) throw new Error('the alert pipeline needs exactly one of store and backend');
    const historyOpts = { limit: config.alerting.historyLimit, onDropped: (n: number) => metrics.historyDropped.inc(n), log: logger };
    const doc = (backend ? alertsDocOf(backend.loaded.alerts, logger) : await store!.read('alerts', parseAlertsDoc)) ?? { alerts: emptyAlertState(), diff: emptyDiffCarry() };
    const history = backend
      ? BoundedHistory.fromLoaded<Change>(backend.loaded.history as { nextSeq: number; dropped: number; entries: { seq: number; at: number; item: Change }[] }, historyOpts)
      : await BoundedHistory.open<Change>(store!, historyOpts);
    const notifiers = opts.notifiers ?? createNotifiers(config.alerting.channels, { externalUrl: config.http.externalUrl });
    const configuredMin = new Map(channelIds(config.alerting.channels).map((id, i) => [id, config.alerting.channels[i]!.minSeverity]));
    const router = createRouter(config.alerting, notifiers.map((n) => ({ id: n.id, minSeverity: configuredMin.get(n.id) })));
    // The outbox reports to the pipeline it feeds (dead-letter self-alerts), which exists once open() returns.
    let self: AlertPipeline | undefined;
    const outbox = await Outbox.open({
      ...opts.outbox,
      ...(backend
        ? { backend: { backend: backend.backend, fence: backend.fence, loaded: backend.loaded.outbox } }
        : { store }),
      notifiers,
      router: router.route,
      limit: config.alerting.outboxLimit,
      maxAttempts: config.alerting.outboxMaxAttempts,
      maxAgeMs: config.alerting.outboxMaxAge,
      deadLetterLimit: config.alerting.deadLetterLimit,
      log: logger,
      // The outbox logs each failure and drop itself; the pipeline only counts them.
      observer: {
        onDelivered: (channel) => {
          metrics.notifications.inc({ channel });
          self?.channelDelivered(channel);
        },
        onFailure: (channel) => metrics.notificationFailures.inc({ channel }),
        onDropped: (reason) => metrics.outboxDropped.inc({ reason }),
        onDeadLetter: (entry) => {
          metrics.outboxDeadLetters.inc({ channel: entry.channel });
          self?.deadLettered(entry);
          opts.onDeadLetter?.(entry);
        },
        onPending: (n) => metrics.outboxPending.set(n),
      },
    });
    if (doc.pending?.length) {
      // A crash may have come between recording these and queueing them; ids already queued or delivered are skipped.
      const r = await outbox.enqueue(doc.pending);
      if (r.queued) logger.warn({ queued: r.queued }, 'recovered notifications recorded before a crash');
    }
    metrics.outboxPending.set(outbox.pending());
    // Every configured channel shows in the delivery, failure and dead-letter counters from the start (0 until one happens).
    metrics.knownChannels(notifiers.map((n) => n.id));
    const pipeline = new AlertPipeline(opts, doc, history, outbox, router);
    self = pipeline;
    pipeline.updateGauges();
    return pipeline;
  }

  /**
   * Starts delivery. Separate from open() so the daemon sends nothing before it holds the stateDir
   * lock and has bound its HTTP port (a copy that cannot start must not send the outbox's entries).
   */
  startDelivery(): void {
    this.outbox.start();
  }

  /** The last poll the alert state has seen (the poll counter resumes above it after a restart). */
  get lastPollId(): number {
    return this.doc.alerts.lastPollId ?? 0;
  }

  async process(prev: Snapshot | null, next: Snapshot): Promise<void> {
    const { config, logger, store, backend } = this.opts;
    if (this.doc.alerts.lastPollId !== null && next.pollId <= this.doc.alerts.lastPollId) return;
    const { changes: all, carry } = diffSnapshots(prev, next, this.doc.diff);
    // Change ids are content hashes (with the pollId): a poll evaluated again after a failed attempt
    // (Daemon.runPoll) does not record the changes its first attempt already recorded.
    const recorded = all.length ? new Set(this.history.list({ sinceSeq: 0 }).filter((e) => e.item.pollId === next.pollId).map((e) => e.item.id)) : new Set<string>();
    const changes = recorded.size ? all.filter((c) => !recorded.has(c.id)) : all;
    // Backend: the entries go into the poll's commit below; the document store writes them now.
    const added = backend ? this.history.appendInMemory(changes, next.finishedAt) : changes.length ? await this.history.append(changes, next.finishedAt) : [];
    for (const c of changes) logger.info({ change: c.type, ...changeFields(c) }, 'change');
    const evaluated = evaluateAlerts({
      state: this.doc.alerts,
      snapshot: next,
      // FLAPPING reads state changes against the previous snapshot; its history lives in the alert state.
      previous: prev,
      alerting: config.alerting,
      probe: config.probe,
      cloudwatch: config.cloudwatch,
      // Time-based conditions read the poll's own time, so a replayed poll decides exactly as before.
      now: next.finishedAt,
      guidanceFor,
      severityFor: defaultSeverity,
      repeatIntervalFor: this.router.repeatIntervalFor,
    });
    // Silences, maintenance windows, acknowledgements: the lifecycle above is untouched (a muted alert
    // fires and resolves in state, history and metrics); only what goes to the outbox changes.
    const muting = this.opts.mute ? applyMuting({
      notifications: evaluated.notifications, state: evaluated.state, carry: this.doc.muted ?? emptyMuteCarry(),
      ...this.opts.mute.compiled(), acks: this.opts.mute.acks(), now: next.finishedAt, labelsOf: labelsOfAlert, guidanceFor,
    }) : null;
    const state = muting?.state ?? evaluated.state;
    const notifications = muting?.notifications ?? evaluated.notifications;
    const muted = muting ? { muted: muting.carry } : {};
    for (const m of muting?.muted ?? []) {
      logger.info({ kind: m.notification.kind, condition: m.notification.condition, alertKey: m.notification.alertKey, mutedBy: m.reason.kind, ...('id' in m.reason ? { silence: m.reason.id } : {}), ...('name' in m.reason ? { window: m.reason.name } : {}) }, 'alert muted: not sent');
    }
    // http.externalUrl: each alert links to its store's status page (data on the notification; notifiers render it).
    const grouped = notifications.length ? withStatusLinks(groupForDelivery(notifications, config.alerting.groupThreshold), config.http.externalUrl) : [];
    if (backend) {
      // ONE commit: the snapshot, the alert state, this poll's history and its new outbox entries, atomically
      // (backend.ts ATOMICITY), so the decided notifications need no separate record (no `pending`).
      const doc: AlertsDoc = { alerts: state, diff: carry, ...muted };
      await this.outbox.enqueue(grouped, (outbox, retention) => backend.backend.commit(backend.fence(), {
        pollId: next.pollId, snapshot: next, alerts: doc,
        history: { entries: added, limit: config.alerting.historyLimit }, outbox,
      }, retention));
      this.doc = doc;
    } else {
      const doc: AlertsDoc = { alerts: state, diff: carry, pending: grouped, ...muted };
      await store!.write('alerts', doc);
      this.doc = doc;
      if (grouped.length) await this.outbox.enqueue(grouped);
    }
    if (grouped.length) {
      for (const n of notifications) {
        logger.info({ kind: n.kind, severity: n.severity, condition: n.condition, accountId: n.subject.accountId, region: n.subject.region, storeId: n.subject.storeId, clusterId: n.subject.clusterId }, `alert ${n.kind}`);
      }
      if (grouped.length < notifications.length) logger.info({ stores: notifications.length }, 'storm: grouped into one digest per channel');
    }
    this.updateGauges();
  }

  /** Re-reads the gauges (after a silence or acknowledgement changed between polls). */
  refreshGauges(): void {
    this.updateGauges();
  }

  private updateGauges(): void {
    const counts = firingCountBySeverity(this.doc.alerts);
    for (const [severity, n] of Object.entries(counts)) this.opts.metrics.alertsFiring.set({ severity }, n);
    this.opts.metrics.alertsSilenced?.set(this.mutedNow().size);
  }

  /** Firing alerts muted right now (by a silence or a maintenance window), by alertKey. */
  mutedNow(now = this.opts.now()): Map<string, MuteReason> {
    if (!this.opts.mute) return new Map();
    const { silences, windows } = this.opts.mute.compiled();
    return mutedFiring(this.doc.alerts, silences, windows, now, labelsOfAlert);
  }

  /** An alert by alertKey (for acknowledgements): whether it fires and its incident. */
  alertRef(alertKey: string): { firing: boolean; firedAt: number | null } | null {
    const e = this.doc.alerts.alerts[alertKey];
    return e ? { firing: e.firing, firedAt: e.firedAt } : null;
  }

  /** Firing self-alerts for /api/v1/alerts (`self`). */
  firingSelf() {
    return this.self.firing().map((a) => ({ ...a, since: new Date(a.since).toISOString() }));
  }

  firing() {
    const now = this.opts.now();
    const muted = this.mutedNow(now);
    const acks = this.opts.mute?.acks();
    return firingAlerts(this.doc.alerts).map((a) => {
      const m = muted.get(a.alertKey);
      const ack = acks ? activeAck(acks, a.alertKey, a.firedAt, now) : null;
      return {
        ...a,
        since: new Date(a.since).toISOString(),
        firedAt: new Date(a.firedAt).toISOString(),
        lastNotifiedAt: a.lastNotifiedAt === null ? null : new Date(a.lastNotifiedAt).toISOString(),
        silenced: m ? { by: m.kind, ...(m.kind === 'silence' ? { silenceId: m.id, createdBy: m.createdBy } : { window: m.name }), until: new Date(m.until).toISOString() } : null,
        acknowledged: ack ? { by: ack.by, comment: ack.comment, at: new Date(ack.at).toISOString(), until: ack.until === null ? null : new Date(ack.until).toISOString() } : null,
      };
    });
  }

  recentEvents(limit: number) {
    return this.history.list({ limit }).reverse().map((e) => ({ seq: e.seq, ...e.item, at: new Date(e.at).toISOString() }));
  }

  async stop(drainMs: number): Promise<void> {
    await this.outbox.drain(drainMs).catch(() => false);
    await this.outbox.stop();
  }
}

/** The backend's alert-state part; a shape the pipeline cannot read starts afresh, said loudly. */
function alertsDocOf(data: unknown, logger: Logger): AlertsDoc | null {
  if (data === null || data === undefined) return null;
  try {
    return parseAlertsDoc(data);
  } catch (err) {
    logger.error({ err }, 'the stored alert state has a shape this version cannot read; starting the alert lifecycle afresh');
    return null;
  }
}

function changeFields(c: Change): Record<string, unknown> {
  const { type: _t, ...rest } = c as Change & Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (typeof v !== 'object' || v === null) out[k] = v;
  return out;
}
