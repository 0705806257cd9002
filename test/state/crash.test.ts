// Crash durability of the atomic write: a child process rewrites a ~1.5 MB document in a loop and is
// SIGKILLed at random moments; after every kill a fresh store must load a complete, consistent
// document no older than the last write the child confirmed. KSW_LONG=1 runs 200 kills.
import { runWriterAndKill } from './support/kill-writer.js';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/state/file-store.js';
import type { CorruptReport } from '../../src/state/store.js';
import { parseCrashDoc, type CrashDoc } from './fixtures/crash-doc.js';

const KILLS = Number(process.env.KSW_CRASH_KILLS ?? (process.env.KSW_LONG ? 200 : 30));
const STORES = 3000;
const writer = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));

let dir: string;
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

/** Runs the writer until `killAfterMs` after its first confirmed write, SIGKILLs it, returns the last confirmed seq. */
function runAndKill(killAfterMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ start: number; lastAck: number }> {
  return runWriterAndKill({ script: writer, args: [dir, String(STORES)], killAfterMs, env });
}

describe('atomic write under SIGKILL', () => {
  it(`always loads the previous or the new document across ${KILLS} kills`, async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ksw-crash-'));
    let midWrite = 0;
    let behind = 0;
    for (let k = 0; k < KILLS; k++) {
      const { start, lastAck } = await runAndKill(Math.floor(Math.random() * 120));
      // A temp file left behind means the kill landed inside a write.
      if ((await readdir(dir)).some((f) => f.endsWith('.tmp'))) midWrite++;
      const corrupt: CorruptReport[] = [];
      const store = await FileStateStore.open({ dir, observer: { onCorrupt: (r) => corrupt.push(r) } });
      const doc = await store.read<CrashDoc>('snapshot', parseCrashDoc);
      await store.close();
      expect(corrupt).toEqual([]);
      expect(doc).not.toBeNull();
      // Durable after write() resolved: never older than the last confirmation; at most the one write in progress newer.
      expect(doc!.pollId).toBeGreaterThanOrEqual(lastAck);
      expect(doc!.pollId).toBeLessThanOrEqual(lastAck + 1);
      expect(lastAck).toBeGreaterThan(start);
      if (doc!.pollId === lastAck + 1) behind++;
    }
    expect((await readdir(dir)).filter((f) => f.includes('corrupt'))).toEqual([]);
    console.log(`crash test: ${KILLS} SIGKILLs survived; ${midWrite} landed mid-write (temp file left), ${behind} after the rename but before the confirmation`);
  }, 600_000);

  it('control: the same harness catches torn files from a naive in-place write', async () => {
    const control = await mkdtemp(path.join(tmpdir(), 'ksw-crash-control-'));
    const saved = dir;
    dir = control;
    try {
      let torn = 0;
      let kills = 0;
      while (torn === 0 && kills < 60) {
        await runAndKill(Math.floor(Math.random() * 120), { KSW_UNSAFE_WRITE: '1' });
        kills++;
        const corrupt: CorruptReport[] = [];
        const store = await FileStateStore.open({ dir, observer: { onCorrupt: (r) => corrupt.push(r) } });
        const doc = await store.read<CrashDoc>('snapshot', parseCrashDoc);
        await store.close();
        if (corrupt.length || !doc) torn++;
      }
      console.log(`crash control: naive write torn after ${kills} kill(s)`);
      expect(torn).toBeGreaterThan(0);
    } finally {
      dir = saved;
      await rm(control, { recursive: true, force: true });
    }
  }, 600_000);
});
