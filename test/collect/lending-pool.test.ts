// LendingPool without AWS: one borrower per client, reuse per key, the idle cap, and abort behaviour.
import { describe, expect, it } from 'vitest';
import { LendingPool, abortable, type Lease } from '../../src/collect/lending-pool.js';

const creds = (id: string) => async () => ({ accessKeyId: id, secretAccessKey: 'x' });
const later = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function pool(maxIdle = 4) {
  const leases: Lease<{ n: number }>[] = [];
  const p = new LendingPool<{ n: number }>((key, lease) => { leases.push(lease); return { n: leases.length }; }, maxIdle);
  return { p, leases };
}

describe('LendingPool', () => {
  it('never lends a client to two borrowers at once, and reuses it per key afterwards', async () => {
    const { p, leases } = pool();
    const inUse = new Set<number>();
    const borrow = (key: string, id: string) => p.lend(key, creds(id), async (c) => {
      expect(inUse.has(c.n)).toBe(false);
      inUse.add(c.n);
      // The lease carries this borrower's credentials while fn runs.
      expect((await leases[c.n - 1]!.current!()).accessKeyId).toBe(id);
      await later(5);
      inUse.delete(c.n);
      return c.n;
    });
    const first = await Promise.all(['a', 'b', 'c'].map((id) => borrow('us-east-1', id)));
    expect(new Set(first).size).toBe(3);
    const again = await Promise.all(['d', 'e', 'f'].map((id) => borrow('us-east-1', id)));
    expect(new Set(again)).toEqual(new Set(first)); // reused, none built
    await borrow('eu-west-1', 'g');
    expect(p.created).toBe(4); // another key, another client
    expect(leases.every((l) => l.current === null && l.signal === undefined)).toBe(true);
  });

  it('keeps at most maxIdle idle clients per key', async () => {
    const { p } = pool(2);
    await Promise.all(Array.from({ length: 5 }, () => p.lend('k', creds('a'), () => later(5))));
    expect(p.created).toBe(5);
    await Promise.all(Array.from({ length: 5 }, () => p.lend('k', creds('a'), () => later(5))));
    expect(p.created).toBe(8); // 2 came back from the pool, 3 were built again
  });

  it('answers an AbortError when the signal fires, and takes the client back only when fn has settled', async () => {
    const { p } = pool();
    const ctl = new AbortController();
    let finish!: () => void;
    const held = p.lend('k', creds('a'), (c) => new Promise<number>((r) => { finish = () => r(c.n); }), ctl.signal);
    ctl.abort();
    await expect(held).rejects.toMatchObject({ name: 'AbortError' });
    const other = await p.lend('k', creds('b'), async (c) => c.n);
    expect(other).toBe(2); // the first client is still inside its fn
    finish();
    await later(0);
    expect(await p.lend('k', creds('c'), async (c) => c.n)).toBe(1); // back in the pool, and the last returned
    expect(p.created).toBe(2);
  });

  it('abortable settles with the promise when the signal never fires', async () => {
    await expect(abortable(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(abortable(Promise.reject(new Error('boom')), new AbortController().signal)).rejects.toThrow('boom');
    await expect(abortable(new Promise(() => {}), AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('releases the client when fn throws synchronously, and answers the throw as a rejection', async () => {
    const { p, leases } = pool();
    const boom = new Error('thrown before any promise');
    await expect(p.lend('k', creds('a'), () => { throw boom; })).rejects.toBe(boom);
    expect(leases[0]!.current).toBeNull();
    // The same client is lent again, not a new one built beside a leaked lease.
    expect(await p.lend('k', creds('b'), async (c) => c.n)).toBe(1);
    expect(p.created).toBe(1);
  });
});
