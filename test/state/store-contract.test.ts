import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/state/file-store.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import { decodeDocument, encodeDocument, type CorruptReport, type StateStore } from '../../src/state/store.js';

// One contract, every backend: a PostgreSQL backend added later runs the same suite.
type Harness = { store: StateStore; corrupt: CorruptReport[]; inject(name: 'snapshot' | 'alerts' | 'outbox' | 'history', text: string): Promise<void>; cleanup(): Promise<void> };

const backends: [string, () => Promise<Harness>][] = [
  ['file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ksw-contract-'));
    const corrupt: CorruptReport[] = [];
    const store = await FileStateStore.open({ dir, observer: { onCorrupt: (r) => corrupt.push(r) } });
    const { writeFile } = await import('node:fs/promises');
    return { store, corrupt, inject: (name, text) => writeFile(store.pathOf(name), text), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }],
  ['memory', async () => {
    const corrupt: CorruptReport[] = [];
    const store = new MemoryStateStore({ onCorrupt: (r) => corrupt.push(r) });
    return { store, corrupt, inject: async (name, text) => store.setRaw(name, text), cleanup: async () => {} };
  }],
];

describe.each(backends)('StateStore contract: %s backend', (_name, make) => {
  let h: Harness;
  afterEach(async () => {
    await h?.store.close();
    await h?.cleanup();
  });

  it('answers null for an absent document and round-trips a written one', async () => {
    h = await make();
    expect(await h.store.read('snapshot')).toBeNull();
    await h.store.write('snapshot', { pollId: 1, stores: [{ id: 'cks-1', name: 'ü "quoted" \\ <!channel>' }] });
    expect(await h.store.read('snapshot')).toEqual({ pollId: 1, stores: [{ id: 'cks-1', name: 'ü "quoted" \\ <!channel>' }] });
    expect(h.corrupt).toEqual([]);
  });

  it('keeps documents independent', async () => {
    h = await make();
    await h.store.write('snapshot', { a: 1 });
    await h.store.write('outbox', { b: 2 });
    expect(await h.store.read('snapshot')).toEqual({ a: 1 });
    expect(await h.store.read('outbox')).toEqual({ b: 2 });
    expect(await h.store.read('alerts')).toBeNull();
  });

  it('lands concurrent writes to one document in call order (the last one wins)', async () => {
    h = await make();
    await Promise.all(Array.from({ length: 25 }, (_, i) => h.store.write('alerts', { i, pad: 'x'.repeat((25 - i) * 1000) })));
    expect(await h.store.read<{ i: number }>('alerts')).toMatchObject({ i: 24 });
  });

  it('snapshots the value at write() time, not at flush time', async () => {
    h = await make();
    const value = { n: 1 };
    const p = h.store.write('history', value);
    value.n = 2;
    await p;
    expect(await h.store.read('history')).toEqual({ n: 1 });
  });

  it.each([
    ['truncated JSON', (t: string) => t.slice(0, Math.floor(t.length / 2)), /not valid JSON/],
    ['empty file', () => '', /not valid JSON/],
    ['not an object', () => '[1,2,3]', /not a JSON object/],
    ['no envelope', () => JSON.stringify({ pollId: 1 }), /format marker/],
    ['a newer format version', (t: string) => t.replace('"version":1', '"version":99'), /unsupported format version 99/],
    ['another document', (t: string) => t.replace('"name":"snapshot"', '"name":"alerts"'), /named "alerts"/],
  ])('sets a corrupt document aside (%s), reports it, and carries on as if absent', async (_what, mangle, reason) => {
    h = await make();
    await h.store.write('snapshot', { pollId: 7 });
    await h.inject('snapshot', mangle(encodeDocument('snapshot', { pollId: 7 }, 1)));
    expect(await h.store.read('snapshot')).toBeNull();
    expect(h.corrupt).toHaveLength(1);
    expect(h.corrupt[0]).toMatchObject({ name: 'snapshot', reason: expect.stringMatching(reason) });
    expect(h.corrupt[0]!.movedTo).toBeTruthy();
    // Moved aside: reading again is a plain "absent", not a second report; writing works again.
    expect(await h.store.read('snapshot')).toBeNull();
    expect(h.corrupt).toHaveLength(1);
    await h.store.write('snapshot', { pollId: 8 });
    expect(await h.store.read('snapshot')).toEqual({ pollId: 8 });
  });

  it('treats a document the caller\'s shape check rejects as corrupt', async () => {
    h = await make();
    await h.store.write('alerts', { entries: 'not a list' });
    const parse = (d: unknown) => {
      if (!Array.isArray((d as { entries?: unknown }).entries)) throw new Error('entries is not a list');
      return d as { entries: unknown[] };
    };
    expect(await h.store.read('alerts', parse)).toBeNull();
    expect(h.corrupt[0]).toMatchObject({ name: 'alerts', reason: 'shape check failed: entries is not a list' });
    await h.store.write('alerts', { entries: [] });
    expect(await h.store.read('alerts', parse)).toEqual({ entries: [] });
  });

  it('rejects writes after close()', async () => {
    h = await make();
    await h.store.close();
    await expect(h.store.write('snapshot', {})).rejects.toThrow(/closed/);
  });
});

describe('document encoding', () => {
  it('carries a format marker, version and name around the data', () => {
    const text = encodeDocument('outbox', { x: 1 }, 42);
    expect(JSON.parse(text)).toEqual({ format: 'keystore-watch-state', version: 1, name: 'outbox', writtenAt: 42, data: { x: 1 } });
    expect(decodeDocument('outbox', text)).toEqual({ ok: true, value: { x: 1 } });
  });
});
