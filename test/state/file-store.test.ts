import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/state/file-store.js';
import type { CorruptReport, Log } from '../../src/state/store.js';

let root: string;
beforeEach(async () => { root = await mkdtemp(path.join(tmpdir(), 'ksw-fs-')); });
afterEach(async () => { await rm(root, { recursive: true, force: true }); });

const captureLog = () => {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, obj, msg }); };
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
};

describe('FileStateStore', () => {
  it('creates a missing stateDir with mode 0700 and files with mode 0600', async () => {
    const dir = path.join(root, 'nested', 'state');
    const store = await FileStateStore.open({ dir });
    await store.write('snapshot', { pollId: 1 });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'snapshot.json'))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['snapshot.json']);
  });

  it('tightens an existing group/world-readable stateDir to 0700', async () => {
    const dir = path.join(root, 'open');
    await mkdir(dir, { mode: 0o755 });
    await FileStateStore.open({ dir });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('moves a corrupt file to <name>.corrupt-<timestamp>.json byte for byte, logs it, and keeps at most keepCorrupt copies', async () => {
    const corrupt: CorruptReport[] = [];
    const { log, lines } = captureLog();
    let now = Date.UTC(2025, 5, 1, 12, 0, 0);
    const store = await FileStateStore.open({ dir: root, observer: { onCorrupt: (r) => corrupt.push(r) }, log, keepCorrupt: 2, now: () => now });
    for (let i = 0; i < 4; i++) {
      await writeFile(store.pathOf('alerts'), `{"format":"keystore-watch-state", garbage ${i}`);
      now += 1000;
      expect(await store.read('alerts')).toBeNull();
    }
    expect(corrupt).toHaveLength(4);
    expect(path.basename(corrupt[3]!.movedTo!)).toBe('alerts.corrupt-2025-06-01T12-00-04-000Z.json');
    expect(await readFile(corrupt[3]!.movedTo!, 'utf8')).toBe('{"format":"keystore-watch-state", garbage 3');
    // Bounded: the two newest quarantined copies remain.
    expect((await readdir(root)).sort()).toEqual(['alerts.corrupt-2025-06-01T12-00-03-000Z.json', 'alerts.corrupt-2025-06-01T12-00-04-000Z.json']);
    expect(lines.filter((l) => l.level === 'error' && /corrupt/.test(l.msg))).toHaveLength(4);
    expect(lines[0]!.obj).toMatchObject({ doc: 'alerts', reason: expect.stringMatching(/not valid JSON/) });
  });

  it('does not overwrite an earlier quarantined copy from the same millisecond', async () => {
    const corrupt: CorruptReport[] = [];
    const store = await FileStateStore.open({ dir: root, observer: { onCorrupt: (r) => corrupt.push(r) }, now: () => 0 });
    for (let i = 0; i < 3; i++) {
      await writeFile(store.pathOf('history'), `bad ${i}`);
      await store.read('history');
    }
    expect(new Set(corrupt.map((c) => c.movedTo)).size).toBe(3);
    expect(await readFile(corrupt[0]!.movedTo!, 'utf8')).toBe('bad 0');
  });

  it('removes temp files a crash left behind, and only those', async () => {
    await writeFile(path.join(root, '.snapshot.4242.17.tmp'), '{"half');
    await writeFile(path.join(root, '.outbox.1.1.tmp'), '');
    await writeFile(path.join(root, 'notes.txt'), 'operator file');
    await FileStateStore.open({ dir: root });
    expect((await readdir(root)).sort()).toEqual(['notes.txt']);
  });

  it('writing one document leaves the other files untouched (the outbox never rewrites the snapshot)', async () => {
    const store = await FileStateStore.open({ dir: root });
    await store.write('snapshot', { big: 'x'.repeat(100_000) });
    const before = await stat(store.pathOf('snapshot'));
    for (let i = 0; i < 5; i++) await store.write('outbox', { i });
    const after = await stat(store.pathOf('snapshot'));
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it('reports write sizes and durations to the observer', async () => {
    const writes: [string, number][] = [];
    const store = await FileStateStore.open({ dir: root, observer: { onWrite: (name, bytes) => writes.push([name, bytes]) } });
    await store.write('history', { entries: [] });
    expect(writes).toEqual([['history', expect.any(Number)]]);
    expect(writes[0]![1]).toBe((await stat(store.pathOf('history'))).size);
  });

  it('throws a clear error for an I/O failure that is not corruption (a directory in the way)', async () => {
    const store = await FileStateStore.open({ dir: root });
    await mkdir(store.pathOf('snapshot'));
    await expect(store.read('snapshot')).rejects.toThrow(/cannot read state file .*snapshot\.json/);
    await expect(store.write('snapshot', {})).rejects.toThrow(/cannot write state file/);
    // The failed write cleaned up its temp file.
    expect((await readdir(root)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a stateDir that is a file', async () => {
    const file = path.join(root, 'file');
    await writeFile(file, '');
    await expect(FileStateStore.open({ dir: file })).rejects.toThrow();
  });
});
