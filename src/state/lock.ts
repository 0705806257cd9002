// One daemon per stateDir: an exclusive lock file, taken before anything in the directory is read
// or any notification is sent, released on a clean stop.
//
// Node has no flock(2), and flock does not work across hosts on many network filesystems anyway, so
// the lock is a file created with O_CREAT|O_EXCL (`wx`), which the kernel (and NFSv3+) creates
// atomically for exactly one caller. It holds { pid, hostname, startedAt, procStart, bootId, token }.
// While held, the owner touches its mtime every `heartbeatMs` (a lease), so a lock left behind on a
// shared volume by a host that vanished can be told from a live one.
//
// Stale-owner detection (decideLock, pure): a lock is stale, and taken over, when
//   - it names this host and a pid that does not exist (kill -9, OOM kill, crash);
//   - it names this host and a pid whose process start time (Linux /proc/<pid>/stat) or boot id
//     differs from the recorded one: the pid was reused by another process, or the host rebooted;
//   - it names this host and OUR pid: a container restart (Kubernetes restarts a killed container in
//     a fresh pid namespace with the same hostname, and the daemon is pid 1 again) or, in tests, an
//     earlier daemon object of this same process that was never stopped. No other process can hold
//     our pid on our host;
//   - it names another host (a rescheduled pod has a new name) and its lease has not been renewed
//     for `staleAfterMs` (mtime older than that), or it is unreadable/empty (a crash between create
//     and write) and just as old.
// Otherwise it is held: the caller refuses to start (exit 2) and names the holder.
// Known limit: two containers of ONE pod share the hostname and could both be pid 1 in their own
// namespaces; run one keystore-watch container per pod and volume (the shipped Deployment does).
//
// Taking over a stale lock is itself guarded by a second O_EXCL file (`lock.takeover`) so two
// starters racing for the same stale lock cannot both win: only the holder of `lock.takeover`
// re-reads the lock, checks it is still the same stale one (same token), removes it and creates its
// own. A takeover file older than 10 s is a crashed takeover and is removed.
import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'keystore-watch.lock';

/** What the lock file records about its owner. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO time the owner took the lock. */
  startedAt: string;
  /** Linux: the process start time in clock ticks since boot (/proc/<pid>/stat field 22); null elsewhere. */
  procStart: number | null;
  /** Linux: /proc/sys/kernel/random/boot_id; null elsewhere. */
  bootId: string | null;
  /** Random per acquisition: a takeover checks it removes exactly the lock it judged stale. */
  token: string;
}

/** Facts about the machine the decision needs (injected so decideLock stays pure). */
export interface LockFacts {
  selfPid: number;
  hostname: string;
  bootId: string | null;
  now: number;
  /** mtime of the lock file (last heartbeat), epoch ms. */
  lockMtime: number;
  /** Does a process with this pid exist here (kill(pid, 0) did not fail with ESRCH)? */
  pidAlive(pid: number): boolean;
  /** Start time of a live pid here, or null when unknown. */
  procStart(pid: number): number | null;
  staleAfterMs: number;
}

export type LockDecision = { stale: true; why: string } | { stale: false; why: string };

/** Pure: is the lock described by `owner` (null: unreadable or empty) stale? */
export function decideLock(owner: LockOwner | null, f: LockFacts): LockDecision {
  const age = f.now - f.lockMtime;
  if (!owner) {
    return age > f.staleAfterMs
      ? { stale: true, why: `unreadable lock file not renewed for ${Math.round(age / 1000)} s` }
      : { stale: false, why: 'the lock file is being written or its owner is unknown' };
  }
  if (owner.hostname === f.hostname) {
    if (owner.bootId && f.bootId && owner.bootId !== f.bootId) return { stale: true, why: 'the host has rebooted since' };
    if (owner.pid === f.selfPid) return { stale: true, why: 'it names our own pid (a restarted container, or an earlier daemon of this process)' };
    if (!f.pidAlive(owner.pid)) return { stale: true, why: `process ${owner.pid} no longer exists` };
    const start = f.procStart(owner.pid);
    if (owner.procStart !== null && start !== null && start !== owner.procStart) return { stale: true, why: `pid ${owner.pid} now belongs to another process` };
    return { stale: false, why: `process ${owner.pid} is alive` };
  }
  return age > f.staleAfterMs
    ? { stale: true, why: `owner on another host did not renew the lock for ${Math.round(age / 1000)} s` }
    : { stale: false, why: `owner on another host renewed the lock ${Math.max(0, Math.round(age / 1000))} s ago` };
}

export const describeOwner = (o: LockOwner | null): string =>
  o ? `pid ${o.pid} on host ${o.hostname}, started ${o.startedAt}` : 'an unknown process (the lock file is empty or unreadable)';

/** The stateDir is locked by a live process (exit 2). */
export class StateDirLockedError extends Error {
  readonly exitCode = 2;
  constructor(readonly dir: string, readonly owner: LockOwner | null, why: string) {
    super(`stateDir ${dir} is in use by another keystore-watch: ${describeOwner(owner)} (${why}). Stop it, or give this one another stateDir; the lock is ${path.join(dir, LOCK_FILE)}`);
    this.name = 'StateDirLockedError';
  }
}

/** The stateDir cannot be used at all: not a directory, read-only, no permission (exit 2). */
export class StateDirUnusableError extends Error {
  readonly exitCode = 2;
  constructor(readonly dir: string, readonly reason: string) {
    super(`stateDir: ${dir} ${reason}`);
    this.name = 'StateDirUnusableError';
  }
}

// ---------------------------------------------------------------------------------------------
// Linux facts.

export function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function readProcStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]); // field 22 overall; fields[0] is field 3
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (!o || typeof o !== 'object' || !Number.isInteger(o.pid) || typeof o.hostname !== 'string' || typeof o.token !== 'string') return null;
    return { pid: o.pid!, hostname: o.hostname, startedAt: String(o.startedAt ?? ''), procStart: typeof o.procStart === 'number' ? o.procStart : null, bootId: typeof o.bootId === 'string' ? o.bootId : null, token: o.token };
  } catch {
    return null;
  }
}

const errnoOf = (err: unknown): string => (err as NodeJS.ErrnoException)?.code ?? '';
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------------------------------------
// The shell.

export interface LockOptions {
  /** Lease renewal interval. Default 10 s. */
  heartbeatMs?: number;
  /** A lock from another host not renewed for this long is stale. Default 60 s (6 heartbeats, room for clock skew). */
  staleAfterMs?: number;
  /** Called when a stale lock was taken over (for the log). */
  onTakeover?(previous: LockOwner | null, why: string): void;
  /** Called once when the lease could not be renewed (the lock is still ours; logged), not again until a renewal succeeded. */
  onHeartbeatError?(reason: string): void;
  /** The lock file was removed and another process created its own: two daemons may now share the directory. */
  onLost?(holder: LockOwner | null): void;
  hostname?: string;
  now?: () => number;
}

export class StateDirLock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;

  private constructor(readonly dir: string, readonly file: string, readonly owner: LockOwner, private readonly opts: LockOptions) {}

  /**
   * Creates the directory if needed, then takes the lock or throws StateDirLockedError (held by a
   * live process) / StateDirUnusableError (not a directory, read-only, no permission).
   */
  static async acquire(dirIn: string, opts: LockOptions = {}): Promise<StateDirLock> {
    const dir = path.resolve(dirIn);
    const file = path.join(dir, LOCK_FILE);
    const now = opts.now ?? Date.now;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StateDirUnusableError(dir, unusableReason(err));
    }
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw new StateDirUnusableError(dir, 'is not a directory');
    } catch (err) {
      if (err instanceof StateDirUnusableError) throw err;
      throw new StateDirUnusableError(dir, unusableReason(err));
    }
    const owner: LockOwner = {
      pid: process.pid,
      hostname: opts.hostname ?? osHostname(),
      startedAt: new Date(now()).toISOString(),
      procStart: readProcStart(process.pid),
      bootId: readBootId(),
      token: randomUUID(),
    };
    const staleAfterMs = opts.staleAfterMs ?? 60_000;
    for (let attempt = 0; ; attempt++) {
      if (await createLockFile(file, owner)) {
        const lock = new StateDirLock(dir, file, owner, opts);
        lock.startHeartbeat();
        return lock;
      }
      // It exists: whose is it?
      const seen = await readLock(file);
      if (!seen) continue; // vanished meanwhile: try again
      const decision = decideLock(seen.owner, {
        selfPid: process.pid, hostname: owner.hostname, bootId: owner.bootId, now: now(), lockMtime: seen.mtime,
        pidAlive, procStart: readProcStart, staleAfterMs,
      });
      if (!decision.stale) {
        // Empty file just created by a concurrent starter: give it a moment to write its content.
        if (!seen.owner && attempt < 20) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        throw new StateDirLockedError(dir, seen.owner, decision.why);
      }
      if (attempt >= 20) throw new StateDirLockedError(dir, seen.owner, 'could not take over the stale lock: another process keeps racing for it');
      if (await takeOver(file, seen)) opts.onTakeover?.(seen.owner, decision.why);
      else await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    }
  }

  /** Renews the lease (the file's mtime); re-creates the file if someone deleted it. */
  private startHeartbeat(): void {
    const every = this.opts.heartbeatMs ?? 10_000;
    let failing = false;
    let lost = false;
    this.timer = setInterval(() => {
      const t = new Date((this.opts.now ?? Date.now)());
      void (async () => {
        try {
          const seen = await readLock(this.file);
          if (!seen || (seen.owner && seen.owner.token !== this.owner.token)) {
            // Deleted by hand (or by a confused takeover): take it back if it is free, else say so.
            if (!seen && (await createLockFile(this.file, this.owner))) return;
            const now = await readLock(this.file);
            if (now?.owner?.token !== this.owner.token && !lost) {
              lost = true;
              this.opts.onLost?.(now?.owner ?? null);
            }
            return;
          }
          await utimes(this.file, t, t);
          failing = false;
        } catch (err) {
          if (!failing) this.opts.onHeartbeatError?.(messageOf(err));
          failing = true;
        }
      })();
    }, every);
    this.timer.unref();
  }

  /** Removes the lock if it is still ours (a clean stop). Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    // A failing disk (EIO, EACCES) must not make a clean stop throw: the lock is then left for the
    // stale-owner check of the next start.
    const seen = await readLock(this.file).catch(() => null);
    if (seen?.owner?.token === this.owner.token) await unlink(this.file).catch(() => {});
  }
}

function unusableReason(err: unknown): string {
  const code = errnoOf(err);
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'is not a directory (or a parent of it is a file)';
  if (code === 'EROFS') return `is not writable: it is on a read-only filesystem (${messageOf(err)})`;
  if (code === 'EACCES' || code === 'EPERM') return `is not writable: permission denied (${messageOf(err)})`;
  if (code === 'ENOSPC' || code === 'EDQUOT') return `is full: not even the lock file can be created (${messageOf(err)})`;
  return `cannot be used: ${messageOf(err)}`;
}

/** True when we created the lock file (and wrote our record into it). */
async function createLockFile(file: string, owner: LockOwner): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, 'wx', 0o600);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw new StateDirUnusableError(path.dirname(file), unusableReason(err));
  }
  try {
    await fh.writeFile(`${JSON.stringify(owner)}\n`, 'utf8');
    await fh.sync().catch(() => {});
  } catch {
    // A full disk: the empty file still excludes others (they judge it by its mtime, which the heartbeat renews).
  } finally {
    await fh.close().catch(() => {});
  }
  return true;
}

async function readLock(file: string): Promise<{ owner: LockOwner | null; mtime: number } | null> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { owner: parseOwner(text), mtime: st.mtimeMs };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw new StateDirUnusableError(path.dirname(file), unusableReason(err));
  }
}

/** Removes the stale lock `seen` under the takeover guard; true when it was removed (the caller then creates its own). */
async function takeOver(file: string, seen: { owner: LockOwner | null; mtime: number }): Promise<boolean> {
  const guard = `${file}.takeover`;
  let fh;
  try {
    fh = await open(guard, 'wx', 0o600);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw new StateDirUnusableError(path.dirname(file), unusableReason(err));
    const st = await stat(guard).catch(() => null);
    if (st && Date.now() - st.mtimeMs > 10_000) await unlink(guard).catch(() => {}); // a crashed takeover
    return false;
  }
  await fh.close().catch(() => {});
  try {
    const again = await readLock(file);
    if (!again) return true; // already gone
    const same = seen.owner && again.owner ? again.owner.token === seen.owner.token : !again.owner && again.mtime === seen.mtime;
    if (!same) return false; // someone else took it meanwhile: judge the new one
    // Move it aside rather than unlink, so a post-mortem can still see who held it.
    await rename(file, `${file}.stale`).catch(async (err: unknown) => {
      if (errnoOf(err) !== 'ENOENT') await unlink(file);
    });
    return true;
  } finally {
    await unlink(guard).catch(() => {});
  }
}
