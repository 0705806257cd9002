// mapBounded: results in input order, never more than `concurrency` calls in flight, errors propagate.
import { describe, expect, it } from 'vitest';
import { mapBounded } from '../../src/util/map-bounded.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('mapBounded', () => {
  it('keeps the input order and the concurrency bound', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded(Array.from({ length: 50 }, (_, i) => i), 4, async (x, i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      for (let k = 0; k < (x * 7) % 5; k++) await tick(); // finish out of order
      inFlight--;
      return `${x}:${i}`;
    });
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => `${i}:${i}`));
    expect(most).toBe(4);
  });

  it('handles no items and a concurrency above the item count', async () => {
    expect(await mapBounded([], 8, async (x) => x)).toEqual([]);
    expect(await mapBounded([1, 2], 8, async (x) => x * 2)).toEqual([2, 4]);
  });

  it('rejects with the first error', async () => {
    await expect(mapBounded([1, 2, 3], 2, async (x) => { if (x === 2) throw new Error('boom'); return x; })).rejects.toThrow('boom');
  });
});
