// In-memory state backend for unit tests of other modules. It stores the same encoded text the
// file backend writes, so values that do not survive JSON (undefined, Maps, Dates, cycles) fail or
// change here exactly as they would on disk, and corruption can be injected with setRaw().
import {
  decodeDocument, encodeDocument,
  type CorruptReport, type DocParser, type StateDocName, type StateStore, type StateStoreObserver,
} from './store.js';

export class MemoryStateStore implements StateStore {
  private readonly docs = new Map<StateDocName, string>();
  /** Documents set aside as corrupt, oldest first. */
  readonly quarantined: { name: StateDocName; text: string; reason: string }[] = [];
  /** Number of completed writes per document (lets tests assert that a hot path did not rewrite a cold document). */
  readonly writes = new Map<StateDocName, number>();
  private closed = false;

  constructor(private readonly observer: StateStoreObserver = {}, private readonly now: () => number = Date.now) {}

  async read<T>(name: StateDocName, parse?: DocParser<T>): Promise<T | null> {
    if (this.closed) throw new Error('state store is closed');
    const text = this.docs.get(name);
    if (text === undefined) return null;
    const decoded = decodeDocument(name, text, parse);
    if (decoded.ok) return decoded.value;
    this.docs.delete(name);
    this.quarantined.push({ name, text, reason: decoded.reason });
    const report: CorruptReport = { name, reason: decoded.reason, movedTo: `memory:${name}.corrupt-${this.quarantined.length}`, bytes: text.length };
    this.observer.onCorrupt?.(report);
    return null;
  }

  async write<T>(name: StateDocName, value: T): Promise<void> {
    if (this.closed) throw new Error('state store is closed');
    const text = encodeDocument(name, value, this.now());
    this.docs.set(name, text);
    this.writes.set(name, (this.writes.get(name) ?? 0) + 1);
    this.observer.onWrite?.(name, text.length, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Test hook: the stored text of a document (the envelope JSON), or undefined. */
  getRaw(name: StateDocName): string | undefined {
    return this.docs.get(name);
  }

  /** Test hook: replace a document's stored text, e.g. with garbage, to exercise the corrupt path. */
  setRaw(name: StateDocName, text: string): void {
    this.docs.set(name, text);
  }
}
