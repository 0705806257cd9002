// Bounded history of recent changes (what /api/v1/events serves), persisted as the `history`
// document. The cap (alerting.historyLimit) keeps disk use flat: the oldest entries are dropped
// first and counted, so an operator can tell the history is truncated rather than complete.
import { silentLog, type Log, type StateStore } from './store.js';

export interface HistoryEntry<T> {
  /** Monotonic across restarts: a client can page with `sinceSeq`. */
  seq: number;
  /** Epoch ms. */
  at: number;
  item: T;
}

export interface HistoryDoc<T> {
  nextSeq: number;
  /** Entries dropped by the cap since the history began. */
  dropped: number;
  entries: HistoryEntry<T>[];
}

/** Pure: appends and caps, oldest first out. */
export function appendBounded<E>(entries: readonly E[], add: readonly E[], limit: number): { entries: E[]; dropped: number } {
  const all = entries.concat(add);
  const over = Math.max(0, all.length - Math.max(0, limit));
  return { entries: over ? all.slice(over) : all, dropped: over };
}

function parseHistoryDoc<T>(data: unknown): HistoryDoc<T> {
  const d = data as HistoryDoc<T>;
  if (!d || typeof d !== 'object' || !Array.isArray(d.entries) || !Number.isInteger(d.nextSeq) || !Number.isInteger(d.dropped)) {
    throw new Error('expected { nextSeq, dropped, entries[] }');
  }
  for (const e of d.entries) {
    if (!e || typeof e !== 'object' || !Number.isInteger(e.seq) || typeof e.at !== 'number') throw new Error('history entry without seq/at');
  }
  return d;
}

export interface HistoryOptions {
  /** alerting.historyLimit */
  limit: number;
  /** Called with the number of entries a single append dropped (keystore_watch_history_dropped_total). */
  onDropped?(count: number): void;
  log?: Log;
}

export class BoundedHistory<T> {
  private doc: HistoryDoc<T>;

  private constructor(private readonly store: StateStore | null, private readonly opts: HistoryOptions, doc: HistoryDoc<T> | null) {
    this.doc = doc ?? { nextSeq: 1, dropped: 0, entries: [] };
  }

  /** Loads the persisted history (a corrupt one starts empty, reported by the store); applies a lowered limit at once. */
  static async open<T>(store: StateStore, opts: HistoryOptions): Promise<BoundedHistory<T>> {
    const doc = await store.read<HistoryDoc<T>>('history', parseHistoryDoc);
    const h = new BoundedHistory<T>(store, opts, doc);
    const capped = appendBounded(h.doc.entries, [], opts.limit);
    if (capped.dropped) {
      h.doc = { ...h.doc, entries: capped.entries, dropped: h.doc.dropped + capped.dropped };
      opts.onDropped?.(capped.dropped);
      await store.write('history', h.doc);
    }
    return h;
  }

  /**
   * The history as a StateBackend loaded it (backend.ts LoadedState.history): kept in memory only; the
   * poll's commit persists what appendInMemory() returns. A lowered limit applies at the next commit.
   */
  static fromLoaded<T>(doc: HistoryDoc<T>, opts: HistoryOptions): BoundedHistory<T> {
    const h = new BoundedHistory<T>(null, opts, doc);
    const capped = appendBounded(h.doc.entries, [], opts.limit);
    if (capped.dropped) h.doc = { ...h.doc, entries: capped.entries, dropped: h.doc.dropped + capped.dropped };
    return h;
  }

  /** Appends to memory only; returns every entry added (the backend's commit stores and caps them). */
  appendInMemory(items: readonly T[], at: number): HistoryEntry<T>[] {
    if (items.length === 0) return [];
    const added = items.map((item, i) => ({ seq: this.doc.nextSeq + i, at, item }));
    const { entries, dropped } = appendBounded(this.doc.entries, added, this.opts.limit);
    this.doc = { nextSeq: this.doc.nextSeq + items.length, dropped: this.doc.dropped + dropped, entries };
    if (dropped) this.opts.onDropped?.(dropped);
    return added;
  }

  /** Appends items (one timestamp for the batch, e.g. one poll's changes) and persists before returning. */
  async append(items: readonly T[], at: number): Promise<HistoryEntry<T>[]> {
    if (items.length === 0) return [];
    const added = items.map((item, i) => ({ seq: this.doc.nextSeq + i, at, item }));
    const { entries, dropped } = appendBounded(this.doc.entries, added, this.opts.limit);
    this.doc = { nextSeq: this.doc.nextSeq + items.length, dropped: this.doc.dropped + dropped, entries };
    if (dropped) {
      this.opts.onDropped?.(dropped);
      (this.opts.log ?? silentLog).debug({ dropped, limit: this.opts.limit }, 'history cap reached; oldest entries dropped');
    }
    await this.store?.write('history', this.doc);
    return added.slice(Math.max(0, added.length - entries.length));
  }

  /** Newest last. `sinceSeq` returns entries after that seq; `limit` keeps the newest n. */
  list(opts: { sinceSeq?: number; limit?: number } = {}): HistoryEntry<T>[] {
    let out = this.doc.entries;
    if (opts.sinceSeq !== undefined) out = out.filter((e) => e.seq > opts.sinceSeq!);
    if (opts.limit !== undefined) out = out.slice(Math.max(0, out.length - opts.limit));
    return out.slice();
  }

  get size(): number {
    return this.doc.entries.length;
  }

  /** Entries dropped by the cap since the history began (persisted). */
  get dropped(): number {
    return this.doc.dropped;
  }
}
