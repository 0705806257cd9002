// The file StateBackend (the single-replica default): checkpoint documents plus a write-ahead journal.
//
// Layout under stateDir:
//   snapshot.json alerts.json history.json outbox.json   checkpoint documents, in the format the
//                 previous versions wrote (FileStateStore envelopes), so an existing stateDir loads
//                 as it is and nothing needs migrating;
//   backend.json  the checkpoint's epoch and pollId;
//   journal.log   every write since the checkpoint, one line each: `<sha1 of the JSON> <JSON>\n`.
//
// Why a journal and not one atomic document: a commit must be atomic over the snapshot (MBs), the
// alert state, the history and the outbox, but a delivery (many per poll) must not rewrite any of
// them (issue 15: "a delivery is marked by key, not by rewriting a document"). One appended line,
// fsynced, is atomic by construction (a torn last line fails its checksum and is discarded as
// never written: the call that wrote it never resolved), costs the size of the change, and is the
// same for a poll commit and for marking one delivery. The checkpoint documents are rewritten from
// memory only when the journal has grown past `checkpointBytes` (and at open after a replay), each
// by atomic rename; the journal is emptied only after all of them are durable. A crash during a
// checkpoint replays the whole journal over a mix of old and new documents: every journal record is
// idempotent and the last write per key wins (see backend.ts IDEMPOTENCE), so the result is the
// same state.
//
// Fencing: the highest epoch accepted is kept in memory, in every journal line, in backend.json and
// in the small `epoch` file, which every write reads first: a write with a lower epoch rejects with
// NotLeaderError before anything is written, from this instance or another one on the directory.
// (Across processes this check and the append are not one atomic step; the stateDir lock is what
// keeps a second process out. The file backend is the single-replica default.)
import { createHash } from 'node:crypto';
import { copyFile, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  NotLeaderError, outboxKeyString,
  type DeadLetterRecord, type DeliveryRecord, type Fence, type HistoryRecord, type LoadOptions, type LoadedState,
  type OutboxChanges, type OutboxMeta, type OnCallChanges, type OnCallRecord, onCallKeyString, DEFAULT_ONCALL_AUDIT_LIMIT, type OutboxRecord, type PartParser, type PollCommit, type Retention, type StateBackend,
} from './backend.js';
import { FileStateStore, writeAll } from './file-store.js';
import { ENCODE_CHUNK_BYTES, silentLog, type Log, type StateStoreObserver } from './store.js';
import { jsonChunks } from '../snapshot/json-chunks.js';

export interface FileStateBackendOptions {
  dir: string;
  observer?: StateStoreObserver;
  log?: Log;
  now?: () => number;
  /** Turn off only in throwaway tests and benchmarks. Default true. */
  fsync?: boolean;
  /**
   * The journal is folded into the checkpoint documents once it is larger than this. Default: twice the
   * last poll commit's line (at least 8 KiB, at most 16 MiB), so the directory holds at most about three
   * copies of the state: a fixed 16 MiB filled a small volume (64 KB tmpfs in state-dir.test.ts) with
   * journalled snapshots and the daemon was never ready again after the disk came back.
   */
  checkpointBytes?: number;
  /**
   * Read the state without writing anything (CLIs next to a running daemon: drill, check-config): load()
   * replays the journal in memory but does not fold it into the documents, and writes reject.
   */
  readOnly?: boolean;
  /** Test hook: called between the steps of a write (after the journal append, between checkpoint documents). */
  faultPoint?: (step: string) => void | Promise<void>;
}

const JOURNAL = 'journal.log';
/** The highest epoch accepted, as plain text: read before every write, so a second instance on the directory is fenced too. */
const EPOCH_FILE = 'epoch';

type JournalOp =
  | { t: 'commit'; epoch: number; poll: PollCommit; retention: Retention }
  | { t: 'outbox'; epoch: number; changes: OutboxChanges; retention: Retention }
  | { t: 'oncall'; epoch: number; changes: OnCallChanges };

interface Memory {
  epoch: number;
  pollId: number | null;
  snapshot: unknown | null;
  alerts: unknown | null;
  history: { nextSeq: number; dropped: number; entries: HistoryRecord[] };
  entries: Map<string, OutboxRecord>;
  deliveries: DeliveryRecord[];
  deadLetters: DeadLetterRecord[];
  meta: OutboxMeta | null;
  /** Silences, acknowledgements, audit events by onCallKeyString (checkpoint document `oncall`). */
  onCall: Map<string, OnCallRecord>;
}

/** The outbox.json checkpoint: the format notify/outbox.ts wrote before records existed (payloads stored once). */
interface OutboxCheckpoint {
  nextSeq: number;
  notifications: { id: string }[];
  entries: Omit<OutboxRecord, 'payload'>[];
  log: Record<string, Omit<DeliveryRecord, 'channel'>[]>;
  lastSendAt: Record<string, number>;
  dropped: Record<string, number>;
  deadLetters: unknown[];
  deadLettered: Record<string, number>;
}

const emptyMemory = (): Memory => ({
  epoch: 0, pollId: null, snapshot: null, alerts: null, history: { nextSeq: 1, dropped: 0, entries: [] },
  entries: new Map(), deliveries: [], deadLetters: [], meta: null, onCall: new Map(),
});

export class FileStateBackend implements StateBackend {
  private mem: Memory = emptyMemory();
  private chain: Promise<unknown> = Promise.resolve();
  private journalBytes = 0;
  private closed = false;
  private readonly fsync: boolean;
  private readonly checkpointBytes: number | null;
  /** Bytes of the last poll commit's journal line (sizes the default checkpoint threshold). */
  private lastCommitBytes = 0;
  private readonly log: Log;

  private constructor(readonly docs: FileStateStore, private readonly opts: FileStateBackendOptions) {
    this.fsync = opts.fsync ?? true;
    this.checkpointBytes = opts.checkpointBytes ?? null;
    this.log = opts.log ?? silentLog;
  }

  static async open(opts: FileStateBackendOptions): Promise<FileStateBackend> {
    const docs = await FileStateStore.open({ dir: opts.dir, observer: opts.observer, log: opts.log, now: opts.now, fsync: opts.fsync });
    return new FileStateBackend(docs, opts);
  }

  get journalPath(): string {
    return path.join(this.docs.dir, JOURNAL);
  }

  load(opts: LoadOptions = {}): Promise<LoadedState> {
    return this.serial(async () => {
      if (!this.opts.readOnly) await this.removeStaleEpochTemps();
      this.mem = await this.readCheckpoint(opts);
      const replayed = await this.replayJournal();
      this.mem.epoch = Math.max(this.mem.epoch, await this.readEpochFile());
      // Fold a replayed journal into the documents now, so the next start reads them directly.
      if (replayed > 0 && !this.opts.readOnly) await this.checkpoint();
      this.loaded = true;
      return this.snapshotOfMemory();
    });
  }

  commit(fence: Fence, poll: PollCommit, retention: Retention): Promise<void> {
    return this.write({ t: 'commit', epoch: fence.epoch, poll, retention });
  }

  applyOutbox(fence: Fence, changes: OutboxChanges, retention: Retention): Promise<void> {
    return this.write({ t: 'outbox', epoch: fence.epoch, changes, retention });
  }

  applyOnCall(fence: Fence, changes: OnCallChanges): Promise<void> {
    return this.write({ t: 'oncall', epoch: fence.epoch, changes });
  }

  async latestSnapshot(parse?: PartParser): Promise<{ pollId: number | null; snapshot: unknown } | null> {
    await this.chain.catch(() => {});
    if (this.mem.snapshot !== null) return { pollId: this.mem.pollId, snapshot: this.mem.snapshot };
    const s = await this.docs.read('snapshot', parse);
    return s === null ? null : { pollId: this.mem.pollId, snapshot: s };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => {});
    await this.docs.close();
  }

  // ---- writes -------------------------------------------------------------------------------

  private write(op: JournalOp): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state backend is closed'));
    if (this.opts.readOnly) return Promise.reject(new Error(`state backend on ${this.docs.dir} was opened read-only`));
    // Memory is what a checkpoint writes back: writing before load() would fold an empty state over the
    // directory's documents and lose them.
    if (!this.loaded) return Promise.reject(new Error('state backend: load() must complete before the first write'));
    // Encode at call time: a caller mutating its objects afterwards cannot change what is written. The
    // line is encoded in chunks (encodeLine): never one string of the whole snapshot, nor its UTF-8 copy.
    let encoded: EncodedLine | null;
    try {
      encoded = encodeLine(op);
    } catch (err) {
      return Promise.reject(err);
    }
    // What memory keeps (and the checkpoint writes) is the caller's objects, not a parsed copy: a third
    // snapshot alive for the process's life at 20,000 stores (issue 14). The caller must not change what
    // it committed (backend.ts, "References"); `epoch` and `t` are read from `op`, a fresh object.
    const epoch = op.epoch;
    return this.serial(async () => {
      // Another instance on this directory may have written with a newer epoch (a tiny read per write).
      this.mem.epoch = Math.max(this.mem.epoch, await this.readEpochFile());
      if (epoch < this.mem.epoch) throw new NotLeaderError(epoch, this.mem.epoch, op.t === 'commit' ? 'poll commit' : op.t === 'oncall' ? 'on-call write' : 'outbox write');
      if (epoch > this.epochOnDisk) await this.writeEpochFile(epoch);
      const bytes = encoded!.bytes;
      await this.append(encoded!);
      encoded = null; // the chunks are garbage once written: not kept through the checkpoint queued behind it
      await this.opts.faultPoint?.('appended');
      apply(this.mem, op);
      if (op.t === 'commit') this.lastCommitBytes = bytes;
      this.queueCheckpoint();
    });
  }

  /** The journal size past which it is folded into the documents (see checkpointBytes). */
  private get foldAt(): number {
    return this.checkpointBytes ?? Math.min(16 * 1024 * 1024, Math.max(8 * 1024, 2 * this.lastCommitBytes));
  }

  private checkpointQueued = false;

  /**
   * The write is durable once appended, so its caller does not wait for the fold: a checkpoint rewrites
   * every document (a dense fleet of 8,000 stores: ~6 MB and an fsync per file; commits of 290-380 ms
   * instead of ~100 ms on every second poll, measured), which held up the poll that crossed the threshold. It is queued right
   * behind the write on the same serial chain instead: the next write, load and close wait for it, and a
   * crash during it is the crash the header describes (the journal is emptied last). A checkpoint that
   * fails leaves the journal whole (replayed at the next open) and is tried again after the next write; it
   * never fails a write.
   */
  private queueCheckpoint(): void {
    if (this.checkpointQueued || this.journalBytes <= this.foldAt) return;
    this.checkpointQueued = true;
    void this.serial(async () => {
      this.checkpointQueued = false;
      if (this.journalBytes <= this.foldAt) return;
      await this.checkpoint().catch((err: unknown) => this.log.warn({ err: (err as Error).message, journal: this.journalPath }, 'state checkpoint failed; the journal keeps every write'));
    });
  }

  private epochOnDisk = 0;
  private loaded = false;

  /** A crash between writing the epoch's temp file and renaming it leaves the temp file: remove it. */
  private async removeStaleEpochTemps(): Promise<void> {
    for (const f of await readdir(this.docs.dir)) {
      if (/^epoch\.\d+\.tmp$/.test(f)) await unlink(path.join(this.docs.dir, f)).catch(() => {});
    }
  }

  private get epochPath(): string {
    return path.join(this.docs.dir, EPOCH_FILE);
  }

  private async readEpochFile(): Promise<number> {
    try {
      const v = Number((await readFile(this.epochPath, 'utf8')).trim());
      if (Number.isInteger(v) && v >= 0) this.epochOnDisk = Math.max(this.epochOnDisk, v);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return this.epochOnDisk;
  }

  /** Atomically (temp file + rename), before the first write with that epoch lands. */
  private async writeEpochFile(epoch: number): Promise<void> {
    const tmp = `${this.epochPath}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${epoch}\n`);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.epochPath);
    this.epochOnDisk = epoch;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.catch(() => {}).then(fn);
    this.chain = next;
    return next;
  }

  private async append(line: EncodedLine): Promise<void> {
    const fail = (err: unknown) => Object.assign(new Error(`cannot write state journal ${this.journalPath}: ${(err as Error).message}`, { cause: err }), { code: (err as NodeJS.ErrnoException).code });
    // A read-only or vanished directory fails here: the same message (and errno code) as a failed write.
    const fh = await open(this.journalPath, 'a', 0o600).catch((err: unknown) => { throw fail(err); });
    try {
      await writeAll(fh, line.chunks);
      if (this.fsync) await fh.sync();
    } catch (err) {
      // A partial append is a torn tail: cut it off so the next line does not follow garbage.
      await fh.truncate(this.journalBytes).catch(() => {});
      throw fail(err);
    } finally {
      await fh.close().catch(() => {});
    }
    this.journalBytes += line.bytes;
  }

  /** Writes every document from memory, then empties the journal (see the header for the crash cases). */
  private async checkpoint(): Promise<void> {
    const m = this.mem;
    const fp = this.opts.faultPoint;
    // Encoded while written (writeUnchanging): memory is committed objects nobody changes (backend.ts
    // REFERENCES), and no apply() runs while this does (the serial chain).
    if (m.snapshot !== null) await this.docs.writeUnchanging('snapshot', m.snapshot);
    await fp?.('checkpoint:snapshot');
    if (m.alerts !== null) await this.docs.writeUnchanging('alerts', m.alerts);
    await fp?.('checkpoint:alerts');
    await this.docs.write('history', m.history);
    await this.docs.write('outbox', toOutboxCheckpoint(m));
    await fp?.('checkpoint:outbox');
    if (m.onCall.size > 0) await this.docs.write('oncall', { records: [...m.onCall.values()] });
    await this.docs.write('backend', { epoch: m.epoch, pollId: m.pollId });
    await fp?.('checkpoint:backend');
    const fh = await open(this.journalPath, 'a');
    try {
      await fh.truncate(0);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    this.journalBytes = 0;
  }

  // ---- reads --------------------------------------------------------------------------------

  private async readCheckpoint(opts: LoadOptions): Promise<Memory> {
    const m = emptyMemory();
    const backend = await this.docs.read<{ epoch: number; pollId: number | null }>('backend', parseBackendDoc);
    if (backend) { m.epoch = backend.epoch; m.pollId = backend.pollId; }
    m.snapshot = await this.docs.read('snapshot', opts.parseSnapshot);
    m.alerts = await this.docs.read('alerts', opts.parseAlerts);
    const h = await this.docs.read<Memory['history']>('history', parseHistory);
    if (h) m.history = h;
    const o = await this.docs.read<OutboxCheckpoint>('outbox', parseOutboxCheckpoint);
    if (o) fromOutboxCheckpoint(m, o);
    const oc = await this.docs.read<{ records: OnCallRecord[] }>('oncall', parseOnCallCheckpoint);
    if (oc) for (const r of oc.records) m.onCall.set(onCallKeyString(r), r);
    return m;
  }

  /** Applies the journal's complete lines over the checkpoint; cuts off a torn tail. Returns the lines applied. */
  private async replayJournal(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.journalPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') { this.journalBytes = 0; return 0; }
      throw new Error(`cannot read state journal ${this.journalPath}: ${(err as Error).message}`);
    }
    let good = 0;
    let applied = 0;
    let offset = 0;
    while (offset < text.length) {
      const nl = text.indexOf('\n', offset);
      if (nl < 0) break; // no newline: torn
      const op = decodeLine(text.slice(offset, nl + 1));
      if (!op) break;
      apply(this.mem, op);
      applied++;
      offset = nl + 1;
      good = Buffer.byteLength(text.slice(0, offset));
    }
    const total = Buffer.byteLength(text);
    // A reader next to a running daemon may see an append under way: it reads up to it and changes nothing.
    if (good < total && this.opts.readOnly) {
      this.journalBytes = good;
      return applied;
    }
    if (good < total) {
      if (text.indexOf('\n', offset) >= 0 && text.indexOf('\n', offset) < text.length - 1) {
        // A bad line with complete lines after it is not a torn append: keep a copy for a human.
        const aside = `${this.journalPath}.corrupt-${(this.opts.now ?? Date.now)()}`;
        await copyFile(this.journalPath, aside).catch(() => {});
        this.log.error({ journal: this.journalPath, keptAt: aside, at: good }, 'state journal has a damaged record before its end; replayed up to it');
        this.opts.observer?.onCorrupt?.({ name: 'backend', reason: `journal damaged at byte ${good}`, movedTo: aside, bytes: total - good });
      } else {
        this.log.warn({ journal: this.journalPath, discardedBytes: total - good }, 'state journal ended in a torn record (a write that never completed); discarded');
      }
      const fh = await open(this.journalPath, 'r+');
      try { await fh.truncate(good); if (this.fsync) await fh.sync(); } finally { await fh.close(); }
    }
    this.journalBytes = good;
    return applied;
  }

  private snapshotOfMemory(): LoadedState {
    const m = this.mem;
    return structuredClone({
      epoch: m.epoch, pollId: m.pollId, snapshot: m.snapshot, alerts: m.alerts, history: m.history,
      outbox: { entries: [...m.entries.values()].sort((a, b) => a.seq - b.seq), deliveries: m.deliveries, deadLetters: m.deadLetters, meta: m.meta },
      onCall: [...m.onCall.values()].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1)),
    });
  }

  /** For tests: the journal's size in bytes as this backend last wrote it. */
  get journalSize(): number {
    return this.journalBytes;
  }

  /** For tests and diagnostics: whether the journal file exists and how big it is on disk. */
  async journalOnDisk(): Promise<number> {
    return stat(this.journalPath).then((s) => s.size, () => 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Pure: encoding and applying journal records.

/** One journal line as UTF-8 chunks, and its length in bytes. */
interface EncodedLine {
  chunks: Buffer[];
  bytes: number;
}

/**
 * The journal line `${sha1(json)} ${json}\n` with json = JSON.stringify(op), byte for byte (the format
 * every version wrote and replays), made without the whole JSON as one string: jsonChunks yields the same
 * UTF-8 bytes a record at a time (JSON.stringify escapes lone surrogates, so no chunk boundary splits a
 * character), hashed as they come and kept as ~64 KiB Buffers until appended. Depth 4 opens the op, the
 * poll, the snapshot and its arrays: each store record is stringified whole.
 */
function encodeLine(op: JournalOp): EncodedLine {
  const hash = createHash('sha1');
  const chunks: Buffer[] = [Buffer.alloc(0)];
  let bytes = 0;
  for (const c of jsonChunks(op, ENCODE_CHUNK_BYTES, 4)) {
    hash.update(c);
    chunks.push(c);
    bytes += c.length;
  }
  chunks[0] = Buffer.from(`${hash.digest('hex')} `, 'latin1');
  chunks.push(Buffer.from('\n'));
  return { chunks, bytes: bytes + chunks[0].length + 1 };
}

function decodeLine(line: string): JournalOp | null {
  if (line.length < 43 || line[40] !== ' ' || !line.endsWith('\n')) return null;
  const json = line.slice(41, -1);
  if (createHash('sha1').update(json).digest('hex') !== line.slice(0, 40)) return null;
  try {
    const op = JSON.parse(json) as JournalOp;
    return op && (op.t === 'commit' || op.t === 'outbox' || op.t === 'oncall') && Number.isFinite(op.epoch) ? op : null;
  } catch {
    return null;
  }
}

/** Applies one record to memory: idempotent, last write per key wins. */
function apply(m: Memory, op: JournalOp): void {
  m.epoch = Math.max(m.epoch, op.epoch);
  if (op.t === 'commit') {
    const p = op.poll;
    m.pollId = p.pollId;
    m.snapshot = p.snapshot;
    m.alerts = p.alerts;
    const fresh = p.history.entries.filter((e) => e.seq >= m.history.nextSeq);
    if (fresh.length) {
      const all = m.history.entries.concat(fresh);
      const over = Math.max(0, all.length - Math.max(0, p.history.limit));
      m.history = { nextSeq: fresh[fresh.length - 1]!.seq + 1, dropped: m.history.dropped + over, entries: over ? all.slice(over) : all };
    }
    applyOutbox(m, p.outbox, op.retention);
  } else if (op.t === 'oncall') {
    applyOnCall(m, op.changes);
  } else {
    applyOutbox(m, op.changes, op.retention);
  }
}

/** Puts and deletes by key, then keeps the newest `auditLimit` audit records. */
function applyOnCall(m: Memory, c: OnCallChanges): void {
  for (const r of c.put ?? []) m.onCall.set(onCallKeyString(r), r);
  for (const k of c.delete ?? []) m.onCall.delete(onCallKeyString(k));
  const limit = Math.max(0, c.auditLimit ?? DEFAULT_ONCALL_AUDIT_LIMIT);
  const audit = [...m.onCall.values()].filter((r) => r.kind === 'audit');
  if (audit.length > limit) {
    audit.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    for (const r of audit.slice(0, audit.length - limit)) m.onCall.delete(onCallKeyString(r));
  }
}

function parseOnCallCheckpoint(data: unknown): { records: OnCallRecord[] } {
  const d = data as { records?: unknown };
  if (!d || typeof d !== 'object' || !Array.isArray(d.records)) throw new Error('expected { records[] }');
  return d as { records: OnCallRecord[] };
}

function applyOutbox(m: Memory, c: OutboxChanges, r: Retention): void {
  for (const rec of c.put ?? []) m.entries.set(outboxKeyString(rec), rec);
  let trimDeliveries = false;
  for (const f of c.finish ?? []) {
    m.entries.delete(outboxKeyString(f.delivery));
    const d = f.delivery;
    if (!m.deliveries.some((x) => x.channel === d.channel && x.id === d.id && x.at === d.at)) { m.deliveries.push(d); trimDeliveries = true; }
    const dl = f.deadLetter;
    if (dl && !m.deadLetters.some((x) => x.channel === dl.channel && x.id === dl.id && x.at === dl.at)) m.deadLetters.push(dl);
  }
  if (trimDeliveries) m.deliveries = keepNewestPerChannel(m.deliveries, r.deliveriesPerChannel);
  if (m.deadLetters.length > r.deadLetters) m.deadLetters = m.deadLetters.slice(m.deadLetters.length - Math.max(0, r.deadLetters));
  if (c.meta) m.meta = c.meta;
}

function keepNewestPerChannel(all: DeliveryRecord[], limit: number): DeliveryRecord[] {
  const count = new Map<string, number>();
  for (const d of all) count.set(d.channel, (count.get(d.channel) ?? 0) + 1);
  const skip = new Map<string, number>();
  for (const [ch, n] of count) if (n > limit) skip.set(ch, n - limit);
  if (skip.size === 0) return all;
  return all.filter((d) => {
    const s = skip.get(d.channel) ?? 0;
    if (s > 0) { skip.set(d.channel, s - 1); return false; }
    return true;
  });
}

// ---- checkpoint shapes (the previous versions' outbox.json) ----------------------------------------

function toOutboxCheckpoint(m: Memory): OutboxCheckpoint {
  const entries = [...m.entries.values()].sort((a, b) => a.seq - b.seq);
  const payloads = new Map<string, { id: string }>();
  for (const e of entries) if (!payloads.has(e.id)) payloads.set(e.id, e.payload as { id: string });
  const log: OutboxCheckpoint['log'] = {};
  for (const { channel, ...rest } of m.deliveries) (log[channel] ??= []).push(rest);
  return {
    nextSeq: m.meta?.nextSeq ?? Math.max(1, ...entries.map((e) => e.seq + 1)),
    notifications: [...payloads.values()],
    entries: entries.map(({ payload: _p, ...e }) => e),
    log,
    lastSendAt: m.meta?.lastSendAt ?? {},
    dropped: { overflow: 0, channel_removed: 0, ...m.meta?.dropped },
    deadLetters: m.deadLetters.map((d) => d.summary),
    deadLettered: m.meta?.deadLettered ?? {},
  };
}

function fromOutboxCheckpoint(m: Memory, o: OutboxCheckpoint): void {
  const payloads = new Map(o.notifications.map((n) => [n.id, n]));
  for (const e of o.entries) {
    const payload = payloads.get(e.id);
    if (payload === undefined) continue;
    m.entries.set(outboxKeyString(e), { ...e, payload });
  }
  m.deliveries = Object.entries(o.log).flatMap(([channel, recs]) => recs.map((r) => ({ channel, ...r })));
  m.deadLetters = o.deadLetters.map((s) => {
    const d = s as { channel?: string; id?: string; deadLetteredAt?: number };
    return { channel: String(d.channel ?? ''), id: String(d.id ?? ''), at: Number(d.deadLetteredAt ?? 0), summary: s };
  });
  m.meta = { nextSeq: o.nextSeq, lastSendAt: o.lastSendAt, dropped: o.dropped, deadLettered: o.deadLettered ?? {} };
}

function parseBackendDoc(data: unknown): { epoch: number; pollId: number | null } {
  const d = data as { epoch?: unknown; pollId?: unknown };
  if (!d || typeof d !== 'object' || !Number.isInteger(d.epoch) || !(d.pollId === null || Number.isInteger(d.pollId))) throw new Error('expected { epoch, pollId }');
  return d as { epoch: number; pollId: number | null };
}

function parseHistory(data: unknown): Memory['history'] {
  const d = data as Memory['history'];
  if (!d || typeof d !== 'object' || !Array.isArray(d.entries) || !Number.isInteger(d.nextSeq) || !Number.isInteger(d.dropped)) throw new Error('expected { nextSeq, dropped, entries[] }');
  return d;
}

function parseOutboxCheckpoint(data: unknown): OutboxCheckpoint {
  const d = data as OutboxCheckpoint;
  if (!d || typeof d !== 'object' || !Number.isInteger(d.nextSeq) || !Array.isArray(d.notifications) || !Array.isArray(d.entries) || typeof d.log !== 'object' || !d.log) {
    throw new Error('expected the outbox checkpoint { nextSeq, notifications[], entries[], log{} }');
  }
  return { ...d, lastSendAt: d.lastSendAt ?? {}, dropped: d.dropped ?? {}, deadLetters: Array.isArray(d.deadLetters) ? d.deadLetters : [], deadLettered: d.deadLettered ?? {} };
}

export const openFileStateBackend = (opts: FileStateBackendOptions): Promise<FileStateBackend> => FileStateBackend.open(opts);
