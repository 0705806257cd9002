// The stateDir lock: the stale-owner decision (pure) and the file protocol in a real directory.
// Across processes (a second daemon exits 2; a SIGKILLed one leaves a stale lock): test/reliability/state-dir.test.ts.
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideLock, LOCK_FILE, readProcStart, StateDirLock, StateDirLockedError, StateDirUnusableError, type LockFacts, type LockOwner } from '../../src/state/lock.js';
import { tempDir } from '../helpers/sim.js';

const owner = (o: Partial<LockOwner> = {}): LockOwner => ({ pid: 4242, hostname: 'host-a', startedAt: '2026-01-01T00:00:00.000Z', procStart: 1000, bootId: 'boot-1', token: 't1', ...o });
const facts = (f: Partial<LockFacts> = {}): LockFacts => ({
  selfPid: 1, hostname: 'host-a', bootId: 'boot-1', now: 1_000_000, lockMtime: 1_000_000 - 5_000,
  pidAlive: () => true, procStart: () => 1000, staleAfterMs: 60_000, ...f,
});

describe('decideLock', () => {
  it('same host, live pid with the recorded start time: held', () => {
    expect(decideLock(owner(), facts())).toMatchObject({ stale: false });
  });
  it('same host, dead pid (kill -9): stale, however fresh the lease', () => {
    expect(decideLock(owner(), facts({ pidAlive: () => false }))).toMatchObject({ stale: true, why: 'process 4242 no longer exists' });
  });
  it('same host, our own pid (container restarted as pid 1): stale', () => {
    expect(decideLock(owner({ pid: 1 }), facts({ selfPid: 1 }))).toMatchObject({ stale: true });
  });
  it('same host, pid reused by another process: stale', () => {
    expect(decideLock(owner(), facts({ procStart: () => 2000 }))).toMatchObject({ stale: true });
  });
  it('same host name after a reboot: stale', () => {
    expect(decideLock(owner(), facts({ bootId: 'boot-2' }))).toMatchObject({ stale: true, why: 'the host has rebooted since' });
  });
  it('another host: held while the lease is renewed, stale after staleAfterMs', () => {
    expect(decideLock(owner({ hostname: 'pod-old' }), facts())).toMatchObject({ stale: false });
    expect(decideLock(owner({ hostname: 'pod-old' }), facts({ lockMtime: 1_000_000 - 61_000 }))).toMatchObject({ stale: true });
  });
  it('an empty or unreadable lock: held while fresh (being written), stale when old', () => {
    expect(decideLock(null, facts())).toMatchObject({ stale: false });
    expect(decideLock(null, facts({ lockMtime: 0 }))).toMatchObject({ stale: true });
  });
});

describe('StateDirLock', () => {
  it('records the owner, refuses a live holder, releases only its own lock', async () => {
    const dir = tempDir('kw-lock-');
    const a = await StateDirLock.acquire(dir);
    const rec = JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as LockOwner;
    expect(rec).toMatchObject({ pid: process.pid, token: a.owner.token });
    expect(rec.procStart).toBe(readProcStart(process.pid));
    // A live holder on this host that is not us: pid 1 of this container/host (init) is alive.
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ ...rec, pid: 1, procStart: readProcStart(1), token: 'other' }));
    const err = await StateDirLock.acquire(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDirLockedError);
    expect((err as Error).message).toContain(`stateDir ${dir} is in use by another keystore-watch: pid 1 on host`);
    await a.release(); // not ours any more: left in place
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true);
  });

  it('takes over a lock of a dead pid, and an unreadable one once its lease is old', async () => {
    const dir = tempDir('kw-lock-');
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(owner({ pid: 2 ** 22 + 12345, hostname: (await import('node:os')).hostname(), bootId: null, procStart: null })));
    const taken: string[] = [];
    const a = await StateDirLock.acquire(dir, { onTakeover: (_p, why) => taken.push(why) });
    expect(taken).toEqual([`process ${2 ** 22 + 12345} no longer exists`]);
    await a.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);

    writeFileSync(path.join(dir, LOCK_FILE), '');
    utimesSync(path.join(dir, LOCK_FILE), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    const b = await StateDirLock.acquire(dir);
    await b.release();
  });

  it('takes its lock back when the file is deleted, and reports when another process holds it', async () => {
    const dir = tempDir('kw-lock-');
    const file = path.join(dir, LOCK_FILE);
    const lost: (LockOwner | null)[] = [];
    const a = await StateDirLock.acquire(dir, { heartbeatMs: 20, onLost: (h) => lost.push(h) });
    rmSync(file);
    // The heartbeat re-creates the file (O_EXCL) and then writes its owner: wait for both, since a read
    // between the two sees an empty file (the state a second process judges by mtime, see lock.ts).
    const readOwner = (): LockOwner | null => {
      try { return JSON.parse(readFileSync(file, 'utf8')) as LockOwner; } catch { return null; }
    };
    for (let i = 0; i < 200 && !readOwner(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(readOwner()?.token).toBe(a.owner.token);
    writeFileSync(file, JSON.stringify(owner({ token: 'intruder', pid: 777 })));
    for (let i = 0; i < 100 && lost.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(lost.map((h) => h?.pid)).toEqual([777]);
    await a.release();
    expect(existsSync(file), 'not ours: left in place').toBe(true);
  });

  it('a stateDir that is a file: StateDirUnusableError naming stateDir', async () => {
    const file = path.join(tempDir('kw-lock-'), 'f');
    writeFileSync(file, 'x');
    const err = await StateDirLock.acquire(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDirUnusableError);
    expect((err as Error).message).toBe(`stateDir: ${file} is not a directory (or a parent of it is a file)`);
  });

  it('two acquisitions racing in one process: exactly one wins', async () => {
    const dir = tempDir('kw-lock-');
    // Different hostnames so the "our own pid" rule does not apply between them.
    const results = await Promise.allSettled([StateDirLock.acquire(dir, { hostname: 'h1' }), StateDirLock.acquire(dir, { hostname: 'h2' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    for (const r of results) if (r.status === 'fulfilled') await r.value.release();
  });
});
