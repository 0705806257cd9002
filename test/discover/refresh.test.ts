import { describe, expect, it } from 'vitest';
import { Refreshing } from '../../src/discover/refresh.js';

/** A read whose answers the test scripts, and a clock the test moves. */
function setup(interval = 60_000, retryBase = 1_000) {
  let t = 1_000_000;
  const reads: { resolve: (v: string) => void; reject: (e: Error) => void }[] = [];
  const errors: unknown[] = [];
  const r = new Refreshing<string>({
    interval,
    retryBase,
    now: () => t,
    read: () => new Promise<string>((resolve, reject) => reads.push({ resolve, reject })),
    onError: (e) => errors.push(e),
  });
  return { r, reads, errors, advance: (ms: number) => { t += ms; } };
}

const tick = () => new Promise((res) => setImmediate(res));

describe('Refreshing', () => {
  it('waits for the first read, then answers from the cache until the interval has passed', async () => {
    const { r, reads, advance } = setup();
    const first = r.current();
    expect(reads).toHaveLength(1);
    reads[0]!.resolve('v1');
    expect(await first).toBe('v1');
    advance(59_999);
    expect(await r.current()).toBe('v1');
    expect(reads).toHaveLength(1);
    advance(1);
    // Due: answers the held value at once and reads in the background.
    expect(await r.current()).toBe('v1');
    expect(reads).toHaveLength(2);
    expect(await r.current()).toBe('v1'); // a read is running: no second one
    expect(reads).toHaveLength(2);
    reads[1]!.resolve('v2');
    await r.settled();
    expect(await r.current()).toBe('v2');
    expect(reads).toHaveLength(2);
  });

  it('keeps the last good value when a read fails, reports it, and its age keeps growing', async () => {
    const { r, reads, errors, advance } = setup();
    const p = r.current();
    reads[0]!.resolve('good');
    await p;
    advance(60_000);
    await r.current();
    reads[1]!.reject(Object.assign(new Error('slow down'), { name: 'TooManyRequestsException' }));
    await r.settled();
    expect(r.value).toBe('good');
    expect(errors).toHaveLength(1);
    expect(r.consecutiveFailures).toBe(1);
    expect(r.ageMs()).toBe(60_000);
    advance(30_000);
    expect(r.ageMs()).toBe(90_000);
  });

  it('backs off after failures (doubling, capped at the interval) and resets after a good read', async () => {
    const { r, reads, advance } = setup(10_000, 1_000);
    const fail = async (i: number) => { reads[i]!.reject(new Error('x')); await r.settled(); };
    void r.current();
    await fail(0); // no value: current() returned null
    expect(r.value).toBeNull();
    advance(999);
    await r.current();
    expect(reads).toHaveLength(1); // 1 s backoff not over
    advance(1);
    void r.current();
    expect(reads).toHaveLength(2);
    await fail(1);
    advance(1_999);
    await r.current();
    expect(reads).toHaveLength(2); // 2 s backoff
    advance(1);
    void r.current();
    await fail(2);
    advance(4_000);
    void r.current();
    await fail(3);
    advance(7_999);
    await r.current();
    expect(reads).toHaveLength(4); // 8 s backoff
    advance(1);
    void r.current();
    await fail(4);
    advance(9_999);
    await r.current();
    expect(reads).toHaveLength(5); // 16 s would be next, capped at the 10 s interval
    advance(1);
    const p = r.current();
    expect(reads).toHaveLength(6);
    reads[5]!.resolve('ok');
    expect(await p).toBe('ok');
    expect(r.consecutiveFailures).toBe(0);
  });

  it('shares one read between callers, and a caller can stop waiting', async () => {
    const { r, reads } = setup();
    const a = r.current();
    const b = r.current();
    const ctl = new AbortController();
    const c = r.current(ctl.signal);
    ctl.abort();
    expect(await c).toBeNull();
    expect(reads).toHaveLength(1);
    reads[0]!.resolve('v');
    expect(await a).toBe('v');
    expect(await b).toBe('v');
  });

  it('starts no read after close()', async () => {
    const { r, reads } = setup();
    r.close();
    expect(await r.current()).toBeNull();
    await tick();
    expect(reads).toHaveLength(0);
  });
});
