// ONE POLL, top to bottom. This is the module that wires the stages (as Alertmanager's PipelineBuilder
// does); the scheduler (src/scheduler.ts, driven by src/daemon.ts) calls run() once per tick.
//
//   1. discover + collect  SnapshotPoller.poll -> Poller.collect (src/collect/poller.ts): the accounts
//                          (src/discover/: config or AWS Organizations) x regions, each target walked
//                          with DescribeCustomKeyStores, CloudHSM DescribeClusters, optional probes;
//   2. snapshot            buildSnapshot (src/snapshot/build.ts, pure): the next immutable snapshot, with
//                          failed targets' stores carried over as stale; metrics text encoded from it
//                          while steps 3-4 run;
//   3. evaluate            AlertPipeline.process (./alert-pipeline.ts): diffSnapshots (src/diff/, pure) ->
//                          change history; evaluateAlerts (src/alert/engine.ts + src/alert/conditions/,
//                          pure) -> notifications; storm grouping (src/alert/group.ts);
//   4. commit              the alert state with the notifications it decided, the history and the
//                          outbox entries (src/state/), then the snapshot (below);
//   5. deliver             the outbox (src/notify/outbox.ts) sends each entry to its channel's notifier
//                          (src/notify/slack.ts renders the Slack message) with retries, pacing and dead
//                          letters, independently of the polls.
// Steps 4 and 5 on a StateBackend (src/state/backend.ts; AlertPipelineOptions.backend): step 4 is ONE
// commit(poll) (snapshot, alert state, history, new outbox entries) and each delivery an applyOutbox of
// keyed records, fenced by the lease epoch. The daemon (src/daemon.ts) opens the pipeline on a backend:
// FileStateBackend for one replica, PostgresStateBackend for the leader of several.
import type { Logger } from '../log.js';
import type { Snapshot } from '../model.js';
import { EMPTY_METRICS, encodeSnapshotMetrics, type EncodedMetrics } from '../metrics/exposition.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { StateStore } from '../state/store.js';
import type { AlertPipeline } from './alert-pipeline.js';
import type { SnapshotPoller } from './snapshot-poller.js';

export interface PollPipelineOptions {
  poller: SnapshotPoller;
  /** The evaluate/commit/deliver half, opened after the state is loaded. */
  alerts: () => AlertPipeline;
  /** The document store the snapshot is written to; null when the alert pipeline commits it (StateBackend). */
  store: () => StateStore | null;
  metrics: SelfMetrics;
  logger: Logger;
}

export class PollPipeline {
  /** The latest snapshot (what /api/v1/stores serves and the next poll builds on). */
  snapshot: Snapshot | null = null;
  /** Its metrics text, encoded once per poll (gzip; see metrics/exposition.ts). */
  snapshotMetrics: EncodedMetrics = EMPTY_METRICS;
  /** A poll's results were evaluated and its alerts handed to delivery at least once. */
  evaluated = false;
  /** Why the last poll did not get its alerts handled (null when it did). */
  lastPollError: string | null = null;
  /** The last snapshot the alert pipeline processed: the base of the next diff. */
  private processed: Snapshot | null = null;
  /** A poll whose evaluation (AlertPipeline.process) failed: evaluated again at the next poll. */
  private unprocessed: Snapshot | null = null;

  constructor(private readonly opts: PollPipelineOptions) {}

  /** Start-up: the persisted snapshot is both the latest and the last processed one. */
  async restore(snapshot: Snapshot | null): Promise<void> {
    this.snapshot = snapshot;
    this.processed = snapshot;
    // A replica taking over again (state.backend: postgres) starts from the database, not from a poll of its earlier term.
    this.unprocessed = null;
    if (snapshot) {
      this.opts.poller.resume(snapshot);
      this.snapshotMetrics = await encodeSnapshotMetrics(snapshot);
    }
  }

  /** The poll's duration, its summary line and one line per target down. */
  private finished(next: Snapshot, t0: number): void {
    const { logger, metrics } = this.opts;
    const seconds = (performance.now() - t0) / 1000;
    metrics.pollDuration.observe(seconds);
    metrics.polls.inc();
    metrics.accounts.set(new Set(next.targets.map((t) => t.accountId)).size);
    const down = next.targets.filter((t) => t.status === 'failed');
    logger.info({ pollId: next.pollId, seconds: Number(seconds.toFixed(3)), targets: next.targets.length, down: down.length, stores: next.stores.length }, 'poll finished');
    for (const t of down) logger.warn({ accountId: t.accountId, region: t.region, code: t.error?.code, error: t.error?.message, consecutiveFailures: t.consecutiveFailures }, 'target down; keeping its last known stores (stale)');
  }

  /** One poll through every stage. Never throws: a failure is logged and kept in lastPollError (readiness). */
  async run(signal: AbortSignal): Promise<void> {
    const { logger, metrics } = this.opts;
    const t0 = performance.now();
    let stage = 'poll';
    let exposed: Promise<{ err: unknown } | null> | null = null;
    try {
      // 1-2. discover, collect, snapshot.
      const next = await this.opts.poller.poll(this.snapshot, signal);
      if (signal.aborted) return;
      this.snapshot = next;
      stage = 'metrics';
      // The previous exposition stays served (gzip) while the next one renders; its uncompressed copy, if a
      // scrape asked for one, goes first, so a render never overlaps a ~60 MB plain copy at 20k stores.
      this.snapshotMetrics.release();
      // The exposition renders while the alerts are evaluated and committed rather than before them: its
      // compression runs on the libuv pool and the commit waits on the disk, so each fills the other's idle
      // time instead of the poll paying for both one after the other. The poll's duration and its "poll
      // finished" line are taken when the exposition is ready, as before; its failure is raised below.
      exposed = encodeSnapshotMetrics(next).then((encoded) => {
        this.snapshotMetrics = encoded;
        this.finished(next, t0);
        return null;
      }, (err: unknown) => ({ err }));
      // 3-4. evaluate and commit. Alert state (with the notifications it decided) first, snapshot last:
      // a crash in between replays the diff against the same previous snapshot, and the alert state skips
      // a poll it already saw. A state write the disk refuses does not throw here (ResilientStateStore):
      // the alerts are still handled from memory. The diff base is the last snapshot the pipeline
      // processed, so a poll whose alerts could not be handled is diffed again next time rather than skipped.
      stage = 'alerts';
      // A poll whose evaluation failed last time is evaluated once more first, so its changes still reach
      // the history (/api/v1/events) and the alert lifecycle: diffing only the last processed snapshot
      // against this one would lose a change that came and went in between. One retry: a poll that fails
      // again is given up (logged) so a poll that cannot be evaluated never holds back the fresh ones.
      const alerts = this.opts.alerts();
      const retry = this.unprocessed;
      this.unprocessed = null;
      if (retry && retry.pollId > (this.processed?.pollId ?? 0)) {
        try {
          await alerts.process(this.processed, retry);
          this.processed = retry;
          logger.info({ pollId: retry.pollId }, 'evaluated a poll whose evaluation had failed');
        } catch (err) {
          logger.error({ err, pollId: retry.pollId }, 'the evaluation of a poll failed twice; its intermediate changes are given up');
        }
      }
      this.unprocessed = next;
      await alerts.process(this.processed, next);
      this.processed = next;
      this.unprocessed = null;
      stage = 'state';
      await this.opts.store()?.write('snapshot', next);
      stage = 'metrics';
      const unexposed = await exposed;
      if (unexposed) throw unexposed.err;
      // Only now: the poll's results were evaluated and its alerts handed to delivery (5. runs on its
      // own), so KeystoreWatchNotPolling (on this metric) also catches a pipeline that cannot handle alerts.
      metrics.lastPoll.set(next.finishedAt / 1000);
      this.evaluated = true;
      this.lastPollError = null;
    } catch (err) {
      // Deposed while polling (replicas): the result is dropped (its commit was refused or would be);
      // the role change says so in one line, this is not a failed poll.
      if (signal.aborted && stage !== 'poll') return;
      const reason = `${stage === 'poll' ? '' : `${stage}: `}${err instanceof Error ? err.message : String(err)}`.replace(/\s+/g, ' ').slice(0, 500);
      this.lastPollError = reason;
      logger.error({ err, stage, reason }, 'poll failed');
    } finally {
      // A poll that failed after the render began still ends with it, so a later poll's exposition is
      // never overwritten by this one's.
      await exposed;
    }
  }
}
