// ResilientStateStore: a write the disk refuses is held in memory, reported, retried, and written
// back in a safe order once the disk recovers; errors that are not I/O errors still throw.
import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import { ResilientStateStore, type StateWriteFailure } from '../../src/state/resilient-store.js';
import type { DocParser, StateDocName, StateStore } from '../../src/state/store.js';

/** A memory store whose writes fail with an errno code while `code` is set. */
class Disk implements StateStore {
  code: string | null = null;
  readonly mem = new MemoryStateStore();
  readonly order: StateDocName[] = [];
  read<T>(name: StateDocName, parse?: DocParser<T>) { return this.mem.read(name, parse); }
  async write<T>(name: StateDocName, value: T) {
    if (this.code) throw Object.assign(new Error(`cannot write state file ${name}.json: ${this.code}: refused`), { code: this.code });
    this.order.push(name);
    await this.mem.write(name, value);
  }
  close() { return this.mem.close(); }
}

describe('ResilientStateStore', () => {
  it('absorbs I/O failures, reports them, and writes the latest values back in order on recovery', async () => {
    const disk = new Disk();
    const failures: [StateWriteFailure, boolean][] = [];
    let recovered = 0;
    const s = new ResilientStateStore(disk, { retryMs: 60_000, observer: { onWriteError: (f, first) => failures.push([f, first]), onRecovered: () => recovered++ } });
    await s.write('snapshot', { v: 0 });
    disk.code = 'ENOSPC';
    await s.write('snapshot', { v: 1 });
    await s.write('alerts', { v: 1 });
    await s.write('outbox', { v: 1 });
    await s.write('outbox', { v: 2 });
    expect(failures.map(([f, first]) => [f.name, f.code, first])).toEqual([['snapshot', 'ENOSPC', true], ['alerts', 'ENOSPC', false], ['outbox', 'ENOSPC', false], ['outbox', 'ENOSPC', false]]);
    expect(s.health()).toMatchObject({ ok: false, failing: { code: 'ENOSPC', documents: ['outbox', 'alerts', 'snapshot'] } });
    expect(await disk.read('snapshot')).toEqual({ v: 0 });

    disk.code = null;
    disk.order.length = 0;
    expect(await s.flush()).toBe(true);
    expect(disk.order).toEqual(['outbox', 'alerts', 'snapshot']);
    expect(await disk.read('outbox')).toEqual({ v: 2 });
    expect(await disk.read('snapshot')).toEqual({ v: 1 });
    expect(recovered).toBe(1);
    expect(s.health()).toEqual({ ok: true, failing: null });
    await s.close();
  });

  it('a successful write of another document triggers the write-back by itself', async () => {
    const disk = new Disk();
    let recovered = 0;
    const s = new ResilientStateStore(disk, { retryMs: 60_000, observer: { onRecovered: () => recovered++ } });
    disk.code = 'EROFS';
    await s.write('alerts', { v: 1 });
    disk.code = null;
    await s.write('outbox', { v: 1 });
    for (let i = 0; i < 50 && recovered === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recovered).toBe(1);
    expect(await disk.read('alerts')).toEqual({ v: 1 });
    await s.close();
  });

  it('retries on its own timer while the disk refuses', async () => {
    const disk = new Disk();
    let errors = 0;
    let recovered = 0;
    const s = new ResilientStateStore(disk, { retryMs: 20, observer: { onWriteError: () => errors++, onRecovered: () => recovered++ } });
    disk.code = 'EIO';
    await s.write('history', { v: 1 });
    for (let i = 0; i < 100 && errors < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(errors).toBeGreaterThanOrEqual(3);
    disk.code = null;
    for (let i = 0; i < 100 && recovered === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recovered).toBe(1);
    expect(await disk.read('history')).toEqual({ v: 1 });
    await s.close();
  });

  it('rethrows errors that are not I/O errors (a bug must not be papered over)', async () => {
    const s = new ResilientStateStore(new MemoryStateStore());
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(s.write('alerts', cyclic)).rejects.toThrow(/circular/i);
    expect(s.health().ok).toBe(true);
  });
});
