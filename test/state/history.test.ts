import { describe, expect, it } from 'vitest';
import { appendBounded, BoundedHistory } from '../../src/state/history.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';

describe('appendBounded', () => {
  it('appends and drops the oldest beyond the limit, counting them', () => {
    expect(appendBounded([1, 2, 3], [4, 5], 4)).toEqual({ entries: [2, 3, 4, 5], dropped: 1 });
    expect(appendBounded([1, 2], [3], 10)).toEqual({ entries: [1, 2, 3], dropped: 0 });
    expect(appendBounded([1], [2, 3, 4, 5, 6], 2)).toEqual({ entries: [5, 6], dropped: 4 });
    expect(appendBounded([1, 2], [], 0)).toEqual({ entries: [], dropped: 2 });
  });
});

describe('BoundedHistory', () => {
  it('caps at the limit, oldest first, counts the drops, and persists both across a reopen', async () => {
    const store = new MemoryStateStore();
    const drops: number[] = [];
    const h = await BoundedHistory.open<string>(store, { limit: 10, onDropped: (n) => drops.push(n) });
    for (let poll = 0; poll < 5; poll++) await h.append([`a${poll}`, `b${poll}`, `c${poll}`], 1000 * poll);
    expect(h.size).toBe(10);
    expect(h.dropped).toBe(5);
    expect(drops).toEqual([2, 3]);
    expect(h.list().map((e) => e.item)).toEqual(['c1', 'a2', 'b2', 'c2', 'a3', 'b3', 'c3', 'a4', 'b4', 'c4']);
    expect(h.list().map((e) => e.seq)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

    const again = await BoundedHistory.open<string>(store, { limit: 10 });
    expect(again.list()).toEqual(h.list());
    expect(again.dropped).toBe(5);
    // Seqs continue after a restart, so API clients paging with sinceSeq never see a seq reused.
    const [added] = await again.append(['d'], 9999);
    expect(added).toEqual({ seq: 16, at: 9999, item: 'd' });
  });

  it('applies a lowered limit at open and counts what it dropped', async () => {
    const store = new MemoryStateStore();
    const h = await BoundedHistory.open<number>(store, { limit: 50 });
    await h.append(Array.from({ length: 40 }, (_, i) => i), 1);
    const drops: number[] = [];
    const smaller = await BoundedHistory.open<number>(store, { limit: 10, onDropped: (n) => drops.push(n) });
    expect(smaller.size).toBe(10);
    expect(smaller.dropped).toBe(30);
    expect(drops).toEqual([30]);
    expect(smaller.list()[0]!.item).toBe(30);
  });

  it('pages with sinceSeq and limit', async () => {
    const h = await BoundedHistory.open<number>(new MemoryStateStore(), { limit: 100 });
    await h.append([1, 2, 3, 4, 5], 1);
    expect(h.list({ sinceSeq: 3 }).map((e) => e.item)).toEqual([4, 5]);
    expect(h.list({ limit: 2 }).map((e) => e.item)).toEqual([4, 5]);
    expect(h.list({ sinceSeq: 99 })).toEqual([]);
  });

  it('starts empty (and reported) when the persisted history is corrupt', async () => {
    const corrupt: string[] = [];
    const store = new MemoryStateStore({ onCorrupt: (r) => corrupt.push(r.reason) });
    await store.write('history', { entries: 'nope' });
    const h = await BoundedHistory.open<number>(store, { limit: 10 });
    expect(h.size).toBe(0);
    expect(corrupt).toEqual([expect.stringMatching(/shape check failed/)]);
  });

  it('does not write for an empty append', async () => {
    const store = new MemoryStateStore();
    const h = await BoundedHistory.open<number>(store, { limit: 10 });
    await h.append([], 1);
    expect(store.writes.get('history')).toBeUndefined();
  });
});
