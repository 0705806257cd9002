// Keeps the daemon paging when the state backend refuses writes (disk full, read-only, I/O errors,
// PostgreSQL unreachable): the StateBackend counterpart of resilient-store.ts (issue 12, "keep paging,
// fail loud"), for the pipeline once it commits through StateBackend (issue 15).
//
//   commit() / applyOutbox()   passed to the backend one at a time, in call order. A call that fails
//             with an I/O error (an errno code: ENOSPC, EROFS, EIO, ECONNREFUSED, ETIMEDOUT, ...) is
//             held in memory, reported (observer.onWriteError: the keystore_watch_state_errors_total
//             counter, a log line, the self-alert) and RESOLVES: the caller carries on from memory.
//             While anything is held, later calls are held behind it (not applied first: an earlier
//             commit replayed after a later one would put an older snapshot back), and resolve too.
//             Any other error (NotLeaderError, an encoding error, a closed backend) is rethrown as is.
//   recovery  every `retryMs` (and at once after the first call that could not be held back because
//             the backend answered) the held calls are applied again, oldest first, stopping at the
//             first that still fails. Every call is idempotent (backend.ts IDEMPOTENCE), so applying
//             one that did land after all changes nothing. When none is left, observer.onRecovered.
//   fencing   a held call keeps the fence it was made with: replayed after this replica lost the
//             lease, it is refused with NotLeaderError; then it and the calls held behind it are
//             dropped (the new leader owns the state) and reported through observer.onHeldDropped.
//
// What a crash costs while calls are held: the backend has the state of the last call that landed; the
// daemon restarts from it, so notifications sent from memory meanwhile may be sent again (at-least-once).
// Memory: each held commit keeps its snapshot until it is written (not coalesced).
import type { Fence, LoadOptions, LoadedState, OnCallChanges, OutboxChanges, PartParser, PollCommit, Retention, StateBackend } from './backend.js';
import { ioErrorCode, type StateHealth } from './resilient-store.js';
import type { StateDocName } from './store.js';

type Call =
  | { t: 'commit'; fence: Fence; poll: PollCommit; retention: Retention }
  | { t: 'outbox'; fence: Fence; changes: OutboxChanges; retention: Retention };

export interface BackendWriteFailure {
  /** What the failed call writes. */
  call: 'commit' | 'outbox';
  /** errno code, e.g. ENOSPC. */
  code: string;
  /** One line, for logs, /readyz and the self-alert. */
  reason: string;
  error: unknown;
}

export interface ResilientBackendObserver {
  /** Every failed attempt (retries included); `firstOfEpisode` for the first of an outage. */
  onWriteError?(f: BackendWriteFailure, firstOfEpisode: boolean): void;
  /** Every held call written; `downMs` since the first failure. */
  onRecovered?(downMs: number): void;
  /** Held calls refused for good when replayed (NotLeaderError, a non-I/O error): dropped. */
  onHeldDropped?(err: unknown, calls: number): void;
}

export interface ResilientBackendOptions {
  observer?: ResilientBackendObserver;
  /** Retry interval while something is held. Default 10 s. */
  retryMs?: number;
  now?: () => number;
}

const PARTS: Record<Call['t'], StateDocName[]> = { commit: ['outbox', 'alerts', 'history', 'snapshot'], outbox: ['outbox'] };
const ORDER: readonly StateDocName[] = ['outbox', 'alerts', 'history', 'snapshot'];

export class ResilientStateBackend implements StateBackend {
  private held: Call[] = [];
  private episode: { since: number; reason: string; code: string } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly now: () => number;

  constructor(readonly inner: StateBackend, private readonly opts: ResilientBackendOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  load(opts?: LoadOptions): Promise<LoadedState> {
    return this.inner.load(opts);
  }

  latestSnapshot(parse?: PartParser): Promise<{ pollId: number | null; snapshot: unknown } | null> {
    return this.inner.latestSnapshot(parse);
  }

  commit(fence: Fence, poll: PollCommit, retention: Retention): Promise<void> {
    return this.submit({ t: 'commit', fence, poll, retention });
  }

  applyOutbox(fence: Fence, changes: OutboxChanges, retention: Retention): Promise<void> {
    return this.submit({ t: 'outbox', fence, changes, retention });
  }

  /**
   * On-call writes (an operator's action) are NOT held: they go straight to the backend, after the
   * writes under way, and a refusal fails the action so the operator sees it (HTTP 503) and retries.
   */
  applyOnCall(fence: Fence, changes: OnCallChanges): Promise<void> {
    const inner = this.inner;
    if (!inner.applyOnCall) return Promise.reject(new Error('this state backend keeps no on-call records'));
    const next = this.chain.catch(() => undefined).then(() => inner.applyOnCall!(fence, changes));
    return next;
  }

  health(): StateHealth {
    if (!this.episode) return { ok: true, failing: null };
    const parts = new Set(this.held.flatMap((c) => PARTS[c.t]));
    return { ok: false, failing: { ...this.episode, documents: ORDER.filter((p) => parts.has(p)) } };
  }

  /** Calls held in memory, oldest first (diagnostics, tests). */
  get heldCalls(): number {
    return this.held.length;
  }

  /** Applies the held calls now; true when none is left. */
  flush(): Promise<boolean> {
    return this.serial(async () => {
      await this.replay();
      return this.held.length === 0;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.episode) await this.flush().catch(() => false);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain.catch(() => {});
    await this.inner.close();
  }

  private submit(call: Call): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state backend is closed'));
    return this.serial(async () => {
      if (this.held.length) {
        // Behind what is held, never before it; try the backend again at once.
        this.held.push(call);
        await this.replay();
        return;
      }
      try {
        await this.run(call);
      } catch (err) {
        const code = ioErrorCode(err);
        if (code === null) throw err;
        this.held.push(call);
        this.fail(call, code, err);
      }
    });
  }

  /** Applies held calls oldest first, stopping at the first I/O failure. */
  private async replay(): Promise<void> {
    while (this.held.length) {
      const call = this.held[0]!;
      try {
        await this.run(call);
      } catch (err) {
        const code = ioErrorCode(err);
        if (code !== null) {
          this.fail(call, code, err);
          return;
        }
        // Refused for good (NotLeaderError: another replica leads now): nothing held can be written.
        const n = this.held.length;
        this.held = [];
        this.opts.observer?.onHeldDropped?.(err, n);
        break;
      }
      this.held.shift();
    }
    if (this.episode) {
      const downMs = this.now() - this.episode.since;
      this.episode = null;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.opts.observer?.onRecovered?.(downMs);
    }
  }

  private run(call: Call): Promise<void> {
    return call.t === 'commit' ? this.inner.commit(call.fence, call.poll, call.retention) : this.inner.applyOutbox(call.fence, call.changes, call.retention);
  }

  private fail(call: Call, code: string, err: unknown): void {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 500);
    const first = this.episode === null;
    this.episode = first ? { since: this.now(), reason, code } : { ...this.episode!, reason, code };
    this.opts.observer?.onWriteError?.({ call: call.t, code, reason, error: err }, first);
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().catch(() => false).then((done) => { if (!done) this.schedule(); });
    }, this.opts.retryMs ?? 10_000);
    this.timer.unref();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.catch(() => {}).then(fn);
    this.chain = next;
    return next;
  }
}
