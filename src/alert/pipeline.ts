// What happens to each new snapshot after the poll: diff -> change history; alert lifecycle ->
// notifications -> storm grouping -> durable outbox; then the alert state is persisted.
//
// Crash safety: the new alert state and the notifications it decided to send are written together,
// atomically, in one document, and only then handed to the outbox. A crash before that write loses
// nothing (the poll is evaluated again after the restart, with the same deterministic ids); a crash
// after it is repaired at start-up by handing the recorded notifications to the outbox again, which
// drops ids it already holds or delivered. So a notification is never sent for a decision the alert
// state does not remember (no firing without its resolved), and never lost.
import type { Config } from '../config/schema.js';
import type { Notification, Snapshot } from '../model.js';
import type { Logger } from '../log.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { StateStore } from '../state/store.js';
import type { Notifier } from '../notify/notifier.js';
import { createNotifiers } from '../notify/index.js';
import { Outbox, type DeadLetter, type OutboxOptions } from '../notify/outbox.js';
import { BoundedHistory } from '../state/history.js';
import { diffSnapshots, emptyDiffCarry, type Change, type DiffCarry } from '../diff/diff.js';
import { emptyAlertState, evaluateAlerts, firingAlerts, firingCountBySeverity, type AlertState } from './engine.js';
import { groupForDelivery } from './group.js';
import { defaultSeverity, guidanceFor } from './remediation/guidance.js';

export interface AlertPipelineOptions {
  config: Config;
  store: StateStore;
  logger: Logger;
  metrics: SelfMetrics;
  notifiers?: Notifier[];
  now: () => number;
  /** Delivery tuning (tests: a virtual clock, short send timeouts); defaults are the production values. */
  outbox?: Pick<OutboxOptions, 'clock' | 'sendTimeoutMs' | 'backoff' | 'stopTimeoutMs' | 'random' | 'stallMs'>;
  /** Told of every dead-lettered notification after it is counted (the hook for a self-alert on the other channels). */
  onDeadLetter?: (entry: DeadLetter) => void;
}

/** The persisted 'alerts' document: the lifecycle state, the diff's carry-over and the last poll's notifications, written together. */
interface AlertsDoc {
  alerts: AlertState;
  diff: DiffCarry;
  /** What the last evaluated poll decided to send; handed to the outbox again at start-up. */
  pending?: Notification[];
}

function parseAlertsDoc(data: unknown): AlertsDoc {
  const d = data as Partial<AlertsDoc> | null;
  if (!d || typeof d !== 'object' || !d.alerts || typeof d.alerts.alerts !== 'object' || !d.diff || !Array.isArray(d.diff.baselined)) {
    throw new Error('alerts document lacks alerts/diff');
  }
  return d as AlertsDoc;
}

export class AlertPipeline {
  private constructor(
    private readonly opts: AlertPipelineOptions,
    private doc: AlertsDoc,
    private readonly history: BoundedHistory<Change>,
    readonly outbox: Outbox,
  ) {}

  static async open(opts: AlertPipelineOptions): Promise<AlertPipeline> {
    const { config, store, logger, metrics } = opts;
    const doc = (await store.read('alerts', parseAlertsDoc)) ?? { alerts: emptyAlertState(), diff: emptyDiffCarry() };
    const history = await BoundedHistory.open<Change>(store, { limit: config.alerting.historyLimit, onDropped: (n) => metrics.historyDropped.inc(n), log: logger });
    const notifiers = opts.notifiers ?? createNotifiers(config.alerting.channels);
    const outbox = await Outbox.open({
      ...opts.outbox,
      store,
      notifiers,
      limit: config.alerting.outboxLimit,
      maxAttempts: config.alerting.outboxMaxAttempts,
      maxAgeMs: config.alerting.outboxMaxAge,
      deadLetterLimit: config.alerting.deadLetterLimit,
      log: logger,
      // The outbox logs each failure and drop itself; the pipeline only counts them.
      observer: {
        onDelivered: (channel) => metrics.notifications.inc({ channel }),
        onFailure: (channel) => metrics.notificationFailures.inc({ channel }),
        onDropped: (reason) => metrics.outboxDropped.inc({ reason }),
        onDeadLetter: (entry) => {
          metrics.outboxDeadLetters.inc({ channel: entry.channel });
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
    // Every configured channel shows in the dead-letter counter from the start (0 until one happens).
    for (const n of notifiers) metrics.outboxDeadLetters.inc({ channel: n.id }, 0);
    const pipeline = new AlertPipeline(opts, doc, history, outbox);
    pipeline.updateGauges();
    outbox.start();
    return pipeline;
  }

  /** The last poll the alert state has seen (the poll counter resumes above it after a restart). */
  get lastPollId(): number {
    return this.doc.alerts.lastPollId ?? 0;
  }

  async process(prev: Snapshot | null, next: Snapshot): Promise<void> {
    const { config, logger, store } = this.opts;
    if (this.doc.alerts.lastPollId !== null && next.pollId <= this.doc.alerts.lastPollId) return;
    const { changes, carry } = diffSnapshots(prev, next, this.doc.diff);
    if (changes.length) {
      await this.history.append(changes, next.finishedAt);
      for (const c of changes) logger.info({ change: c.type, ...changeFields(c) }, 'change');
    }
    const { state, notifications } = evaluateAlerts({
      state: this.doc.alerts,
      snapshot: next,
      // FLAPPING reads state changes against the previous snapshot; its history lives in the alert state.
      previous: prev,
      alerting: config.alerting,
      probe: config.probe,
      // Time-based conditions read the poll's own time, so a replayed poll decides exactly as before.
      now: next.finishedAt,
      guidanceFor,
      severityFor: defaultSeverity,
    });
    const grouped = notifications.length ? groupForDelivery(notifications, config.alerting.groupThreshold) : [];
    const doc: AlertsDoc = { alerts: state, diff: carry, pending: grouped };
    await store.write('alerts', doc);
    this.doc = doc;
    if (grouped.length) {
      await this.outbox.enqueue(grouped);
      for (const n of notifications) {
        logger.info({ kind: n.kind, severity: n.severity, condition: n.condition, accountId: n.subject.accountId, region: n.subject.region, storeId: n.subject.storeId, clusterId: n.subject.clusterId }, `alert ${n.kind}`);
      }
      if (grouped.length < notifications.length) logger.info({ stores: notifications.length }, 'storm: grouped into one digest per channel');
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    const counts = firingCountBySeverity(this.doc.alerts);
    for (const [severity, n] of Object.entries(counts)) this.opts.metrics.alertsFiring.set({ severity }, n);
  }

  firing() {
    return firingAlerts(this.doc.alerts).map((a) => ({
      ...a,
      since: new Date(a.since).toISOString(),
      firedAt: new Date(a.firedAt).toISOString(),
      lastNotifiedAt: a.lastNotifiedAt === null ? null : new Date(a.lastNotifiedAt).toISOString(),
    }));
  }

  recentEvents(limit: number) {
    return this.history.list({ limit }).reverse().map((e) => ({ seq: e.seq, ...e.item, at: new Date(e.at).toISOString() }));
  }

  async stop(drainMs: number): Promise<void> {
    await this.outbox.drain(drainMs).catch(() => false);
    await this.outbox.stop();
  }
}

function changeFields(c: Change): Record<string, unknown> {
  const { type: _t, ...rest } = c as Change & Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (typeof v !== 'object' || v === null) out[k] = v;
  return out;
}
