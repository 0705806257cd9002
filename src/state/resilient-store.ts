// Keeps the daemon paging when the disk under stateDir refuses writes (full, remounted read-only,
// permissions changed, I/O errors): a StateStore wrapper that turns a failed write into "held in
// memory, to be persisted later" instead of an exception that would stop the alert pipeline.
//
//   write()   passes the write to the backend. If the backend fails with an I/O error (an errno code:
//             ENOSPC, EROFS, EACCES, EIO, EDQUOT, EMFILE, ...), the document's latest value is kept
//             in memory as unpersisted, the failure is reported (observer.onWriteError: the
//             keystore_watch_state_errors_total{kind="write"} counter, a log line, the self-alert)
//             and write() RESOLVES: the caller carries on from memory. Any other error (a value that
//             cannot be encoded, a closed store, a test's injected crash) is a bug or a deliberate
//             failure and is rethrown unchanged.
//   recovery  while something is unpersisted, every `retryMs` (and after any successful write) the
//             latest value of each unpersisted document is written again, in the order outbox ->
//             alerts -> history -> snapshot. When none is left, observer.onRecovered fires. Each
//             document is written whole, so writing its latest value is a complete reconciliation:
//             nothing in memory is lost, nothing is applied twice.
//
// What a crash costs while writes fail: the documents on disk are those of the last successful
// write. After a restart the daemon polls again from that older state; notifications delivered
// from memory meanwhile may be sent again (new poll ids), and ones decided and not yet delivered are
// decided again. So: at-least-once, a duplicate possible only when the process died while it could
// not write — never silence.
// Why that flush order: the outbox first, so a crash between two flush writes finds every queued or
// delivered notification recorded before the alert state that decided them (a crash then can only
// repeat, never drop, a notification); the alert state before the snapshot, as in a normal poll.
import type { DocParser, StateDocName, StateStore } from './store.js';

export interface StateWriteFailure {
  name: StateDocName;
  /** errno code, e.g. ENOSPC. */
  code: string;
  /** One line, for logs, /readyz and the self-alert. */
  reason: string;
  /** The error itself (the log line keeps its name, message, code and stack). */
  error: unknown;
}

export interface StateHealth {
  ok: boolean;
  /** Set while some document could not be written. */
  failing: null | {
    /** The latest failure. */
    reason: string;
    code: string;
    /** Epoch ms of the first failure of this episode. */
    since: number;
    /** Documents held only in memory. */
    documents: StateDocName[];
  };
}

export interface ResilientStoreObserver {
  /** Every failed write attempt (retries included). */
  onWriteError?(f: StateWriteFailure, firstOfEpisode: boolean): void;
  /** Every document written again; `downMs` since the first failure. */
  onRecovered?(downMs: number): void;
}

export interface ResilientStoreOptions {
  observer?: ResilientStoreObserver;
  /** Retry interval while something is unpersisted. Default 10 s. */
  retryMs?: number;
  now?: () => number;
}

const FLUSH_ORDER: readonly StateDocName[] = ['outbox', 'alerts', 'history', 'snapshot'];

/** An I/O failure the disk may recover from, as opposed to a programming error. */
export function ioErrorCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null;
}

export class ResilientStateStore implements StateStore {
  /** Latest value handed to write() per document that is not known to be durable yet. */
  private readonly latest = new Map<StateDocName, { value: unknown; ver: number }>();
  /** Documents whose latest attempt failed. */
  private readonly failed = new Set<StateDocName>();
  private episode: { since: number; reason: string; code: string } | null = null;
  private ver = 0;
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly now: () => number;

  constructor(readonly inner: StateStore, private readonly opts: ResilientStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  read<T>(name: StateDocName, parse?: DocParser<T>): Promise<T | null> {
    return this.inner.read(name, parse);
  }

  async write<T>(name: StateDocName, value: T): Promise<void> {
    const ver = ++this.ver;
    this.latest.set(name, { value, ver });
    try {
      await this.inner.write(name, value);
    } catch (err) {
      const code = ioErrorCode(err);
      if (code === null) {
        if (this.latest.get(name)?.ver === ver && !this.failed.has(name)) this.latest.delete(name);
        throw err;
      }
      if (this.latest.get(name)?.ver === ver) this.failed.add(name);
      this.fail(name, code, err);
      return;
    }
    if (this.latest.get(name)?.ver === ver) {
      this.latest.delete(name);
      this.failed.delete(name);
    }
    if (this.episode) this.scheduleFlush(0);
  }

  health(): StateHealth {
    if (!this.episode) return { ok: true, failing: null };
    return { ok: false, failing: { ...this.episode, documents: FLUSH_ORDER.filter((n) => this.failed.has(n)) } };
  }

  /** Writes every unpersisted document now; resolves when done (true when nothing is left unpersisted). */
  async flush(): Promise<boolean> {
    if (!this.flushing) {
      this.flushing = (async () => {
        for (const name of FLUSH_ORDER) {
          const v = this.failed.has(name) ? this.latest.get(name) : undefined;
          if (v) await this.write(name, v.value);
        }
      })().finally(() => { this.flushing = null; });
    }
    await this.flushing;
    this.checkRecovered();
    return this.failed.size === 0;
  }

  async close(): Promise<void> {
    if (this.episode && !this.closed) await this.flush().catch(() => false);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inner.close();
  }

  private fail(name: StateDocName, code: string, err: unknown): void {
    const reason = oneLine(err);
    const first = this.episode === null;
    if (first) this.episode = { since: this.now(), reason, code };
    else this.episode = { ...this.episode!, reason, code };
    this.opts.observer?.onWriteError?.({ name, code, reason, error: err }, first);
    this.scheduleFlush(this.opts.retryMs ?? 10_000);
  }

  private scheduleFlush(delayMs: number): void {
    if (this.closed || (this.timer && delayMs > 0)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().catch(() => false);
    }, delayMs);
    this.timer.unref();
  }

  private checkRecovered(): void {
    if (this.episode && this.failed.size === 0) {
      const downMs = this.now() - this.episode.since;
      this.episode = null;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.opts.observer?.onRecovered?.(downMs);
    } else if (this.episode && !this.timer) {
      this.scheduleFlush(this.opts.retryMs ?? 10_000);
    }
  }
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 500);
}
