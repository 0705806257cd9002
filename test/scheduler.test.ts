import { describe, expect, it } from 'vitest';
import { nonOverlapping } from '../src/scheduler.js';

describe('nonOverlapping', () => {
  it('skips (and reports) a trigger while the job runs, then runs again', async () => {
    let release!: () => void;
    let runs = 0;
    let skips = 0;
    const guard = nonOverlapping(() => { runs++; return new Promise<void>((r) => { release = r; }); }, () => skips++);
    const first = guard.trigger();
    expect(await guard.trigger()).toBe(false);
    expect(skips).toBe(1);
    release();
    expect(await first).toBe(true);
    const third = guard.trigger();
    release();
    expect(await third).toBe(true);
    expect(runs).toBe(2);
  });

  it('is free again after a job fails', async () => {
    const guard = nonOverlapping(() => Promise.reject(new Error('boom')), () => {});
    await expect(guard.trigger()).rejects.toThrow('boom');
    await guard.idle();
    await expect(guard.trigger()).rejects.toThrow('boom');
  });
});
