// Default state backend: one JSON file per document under stateDir.
//
// Atomic replace: write the whole document to a fresh temp file in the same directory, fsync it,
// rename it over the target, fsync the directory. rename(2) within one filesystem is atomic, so a
// crash at any point leaves either the previous file or the new one under the target name — never
// a torn one. The file fsync makes the new content durable before it becomes visible under the
// target name; the directory fsync makes the rename itself durable (power loss, not just a crash).
import { mkdir, open, readdir, readFile, rename, stat, unlink, chmod, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  decodeDocument, encodeDocumentChunks, isStateDocName, silentLog,
  type CorruptReport, type DocParser, type Log, type StateDocName, type StateStore, type StateStoreObserver,
} from './store.js';

export interface FileStateStoreOptions {
  /** The directory (created with mode 0700 when missing). */
  dir: string;
  observer?: StateStoreObserver;
  log?: Log;
  /** Quarantined copies kept per document; older ones are deleted so repeated corruption cannot fill the disk. Default 5. */
  keepCorrupt?: number;
  /** Wall clock for quarantine names and envelope timestamps. */
  now?: () => number;
  /** Turn fsync off only in throwaway tests and benchmarks. Default true. */
  fsync?: boolean;
}

const TMP_SUFFIX = '.tmp';
const tmpPrefix = (name: StateDocName) => `.${name}.`;
const corruptPrefix = (name: StateDocName) => `${name}.corrupt-`;

export class FileStateStore implements StateStore {
  readonly dir: string;
  private readonly observer: StateStoreObserver;
  private readonly log: Log;
  private readonly keepCorrupt: number;
  private readonly now: () => number;
  private readonly fsync: boolean;
  /** Per-document write chain: renames happen in call order, so an older value can never win. */
  private readonly chains = new Map<StateDocName, Promise<void>>();
  private tmpCounter = 0;
  private closed = false;

  private constructor(opts: FileStateStoreOptions) {
    this.dir = path.resolve(opts.dir);
    this.observer = opts.observer ?? {};
    this.log = opts.log ?? silentLog;
    this.keepCorrupt = Math.max(0, opts.keepCorrupt ?? 5);
    this.now = opts.now ?? Date.now;
    this.fsync = opts.fsync ?? true;
  }

  /** Creates the directory if needed and removes temp files a crash left behind. */
  static async open(opts: FileStateStoreOptions): Promise<FileStateStore> {
    const store = new FileStateStore(opts);
    await mkdir(store.dir, { recursive: true, mode: 0o700 });
    const st = await stat(store.dir);
    if (!st.isDirectory()) throw new Error(`stateDir ${store.dir} is not a directory`);
    // mkdir's mode is masked by the umask and ignored for an existing dir; state may hold account ids and names.
    if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) await chmod(store.dir, 0o700).catch(() => {});
    await store.removeStaleTemps();
    return store;
  }

  pathOf(name: StateDocName): string {
    return path.join(this.dir, `${name}.json`);
  }

  async read<T>(name: StateDocName, parse?: DocParser<T>): Promise<T | null> {
    this.assertOpen();
    // A read waits for this document's pending writes, so it sees the latest value written through this store.
    await this.chains.get(name)?.catch(() => {});
    const file = this.pathOf(name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read state file ${file}: ${(err as Error).message}`);
    }
    const decoded = decodeDocument(name, text, parse);
    if (decoded.ok) return decoded.value;
    await this.quarantine(name, decoded.reason, Buffer.byteLength(text));
    return null;
  }

  write<T>(name: StateDocName, value: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state store is closed'));
    // Serialise now, in call order, so later mutations of `value` by the caller cannot leak into this write.
    // In chunks (encodeDocumentChunks): a 20,000-store snapshot is never one ~20 MB string plus its UTF-8 copy.
    let chunks: Buffer[];
    try {
      chunks = [...encodeDocumentChunks(name, value, this.now())];
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(name, () => this.writeFile(name, chunks));
  }

  /** Runs `write` after this document's writes under way (renames land in call order). */
  private enqueue(name: StateDocName, write: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(write);
    this.chains.set(name, next);
    // Drop the chain reference once idle so a long-lived store does not keep settled promises around.
    void next.finally(() => { if (this.chains.get(name) === next) this.chains.delete(name); }).catch(() => {});
    return next;
  }

  /**
   * write(), encoding the document while it is written rather than when called: only a batch of chunks
   * exists at a time, not the whole document (~20 MB at 20,000 stores). For a value nobody changes until
   * the returned promise resolves: the file backend's checkpoint, written from its memory (committed
   * objects are never changed, backend.ts REFERENCES). A change made meanwhile could land in the file.
   */
  writeUnchanging<T>(name: StateDocName, value: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state store is closed'));
    const writtenAt = this.now();
    return this.enqueue(name, () => this.writeFile(name, encodeDocumentChunks(name, value, writtenAt)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.chains.values()]);
  }

  private async writeFile(name: StateDocName, chunks: Iterable<Buffer>): Promise<void> {
    const started = performance.now();
    const target = this.pathOf(name);
    const tmp = path.join(this.dir, `${tmpPrefix(name)}${process.pid}.${++this.tmpCounter}${TMP_SUFFIX}`);
    let fh: Awaited<ReturnType<typeof open>> | null = null;
    let bytes = 0;
    try {
      fh = await open(tmp, 'wx', 0o600);
      bytes = await writeAll(fh, chunks);
      if (this.fsync) await fh.sync();
      await fh.close();
      fh = null;
      await rename(tmp, target);
    } catch (err) {
      await fh?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      // Keep the errno code (ENOSPC, EROFS, EIO, ...): ResilientStateStore tells a disk problem it can wait out from a bug by it.
      throw Object.assign(new Error(`cannot write state file ${target}: ${(err as Error).message}`, { cause: err }), { code: (err as NodeJS.ErrnoException).code });
    }
    if (this.fsync) await this.syncDir();
    this.observer.onWrite?.(name, bytes, performance.now() - started);
  }

  private async syncDir(): Promise<void> {
    // Not supported on every platform (Windows): the rename is still atomic there, just not yet durable.
    let dh: Awaited<ReturnType<typeof open>> | null = null;
    try {
      dh = await open(this.dir, 'r');
      await dh.sync();
    } catch {
      // ignore
    } finally {
      await dh?.close().catch(() => {});
    }
  }

  private async quarantine(name: StateDocName, reason: string, bytes: number): Promise<void> {
    const stamp = new Date(this.now()).toISOString().replace(/[:.]/g, '-');
    let movedTo: string | null = null;
    for (let i = 0; i < 100 && movedTo === null; i++) {
      const candidate = path.join(this.dir, `${corruptPrefix(name)}${stamp}${i ? `-${i}` : ''}.json`);
      try {
        await stat(candidate);
        continue; // taken: two corruptions within one millisecond
      } catch {
        // free
      }
      try {
        await rename(this.pathOf(name), candidate);
        movedTo = candidate;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break; // someone else moved it
        // Cannot move it (read-only dir?): report anyway; the next successful write replaces it.
        this.log.error({ doc: name, err: (err as Error).message }, 'cannot move corrupt state file aside');
        break;
      }
    }
    if (movedTo) await this.pruneCorrupt(name);
    const report: CorruptReport = { name, reason, movedTo, bytes };
    this.log.error({ doc: name, reason, movedTo, bytes }, 'corrupt state document set aside; continuing without it');
    this.observer.onCorrupt?.(report);
  }

  private async pruneCorrupt(name: StateDocName): Promise<void> {
    const files = (await readdir(this.dir)).filter((f) => f.startsWith(corruptPrefix(name)) && f.endsWith('.json')).sort();
    // ISO timestamps sort chronologically; delete the oldest beyond the limit.
    for (const f of files.slice(0, Math.max(0, files.length - this.keepCorrupt))) {
      await unlink(path.join(this.dir, f)).catch(() => {});
    }
  }

  private async removeStaleTemps(): Promise<void> {
    for (const f of await readdir(this.dir)) {
      const m = /^\.([a-z]+)\.\d+\.\d+\.tmp$/.exec(f);
      if (m && isStateDocName(m[1]!)) await unlink(path.join(this.dir, f)).catch(() => {});
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('state store is closed');
  }
}

/**
 * Writes every byte of `chunks` at the file's current position, in order: writev in batches (one system
 * call per batch, not one per 64 KiB chunk), continuing after a short write. `chunks` may be a generator
 * (a document encoded while it is written): at most one batch exists at a time. Returns the bytes
 * written; throws what the write (or the generator) throws.
 */
export async function writeAll(fh: FileHandle, chunks: Iterable<Buffer>): Promise<number> {
  const BATCH = 16; // 1 MiB of 64 KiB chunks per system call; well under IOV_MAX (1024 on Linux)
  let written = 0;
  let batch: Buffer[] = [];
  const flush = async () => {
    while (batch.length) {
      const { bytesWritten } = await fh.writev(batch);
      written += bytesWritten;
      // A short write (rare on a regular file; a full disk reports ENOSPC instead): carry on after it.
      let left = bytesWritten;
      while (batch.length && left >= batch[0]!.length) left -= batch.shift()!.length;
      if (left > 0) batch[0] = batch[0]!.subarray(left);
      if (bytesWritten === 0 && batch.length) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    }
  };
  for (const c of chunks) {
    if (c.length) batch.push(c);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return written;
}

export const openFileStateStore = (opts: FileStateStoreOptions): Promise<FileStateStore> => FileStateStore.open(opts);
