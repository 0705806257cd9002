import { describe, expect, it } from 'vitest';
import { interleaveAccounts } from '../../src/collect/poller.js';
import { TargetQueue, type Work } from '../../src/collect/target-queue.js';
import type { Target } from '../../src/model.js';

const t = (accountId: string, region: string): Target => ({ accountId, accountName: accountId, region, roleArn: null, externalId: null });
const REGIONS = ['r1', 'r2', 'r3', 'r4'];
const account = (id: string, regions = REGIONS) => regions.map((r) => t(id, r));
const key = (w: Work | undefined) => (w?.kind === 'target' ? `${w.target.accountId}/${w.target.region}` : w?.kind ?? 'none');
const drain = (q: TargetQueue) => {
  const out: string[] = [];
  for (let w = q.take(); w; w = q.take()) out.push(key(w));
  return out;
};

describe('TargetQueue', () => {
  it('hands out a fixed set of accounts in interleaveAccounts order', () => {
    const accounts = [account('a'), account('b', ['r1', 'r2']), account('c'), account('d', ['r3'])];
    const q = new TargetQueue();
    for (const a of accounts) q.addAccount(a);
    expect(drain(q)).toEqual(interleaveAccounts(accounts.flat()).map((x) => `${x.accountId}/${x.region}`));
  });

  it('puts an account added later into the same round-robin, not after every earlier target', () => {
    const q = new TargetQueue();
    q.addAccount(account('a'));
    q.addAccount(account('b'));
    expect([key(q.take()), key(q.take())]).toEqual(['a/r1', 'b/r2']);
    q.addAccount(account('c')); // the third account starts at its third region
    expect(drain(q)).toEqual(['c/r3', 'a/r2', 'b/r3', 'c/r4', 'a/r3', 'b/r4', 'c/r1', 'a/r4', 'b/r1', 'c/r2']);
  });

  it('serves a task first while fewer targets than lowWater wait, and a target otherwise', async () => {
    const q = new TargetQueue(3);
    const task = async () => {};
    q.addTask(task);
    q.addTask(task);
    q.addAccount(account('a', ['r1', 'r2']));
    expect(key(q.take())).toBe('task'); // 2 targets waiting < 3
    q.addAccount(account('b', ['r1', 'r2']));
    expect(key(q.take())).toBe('a/r1'); // 4 waiting
    expect(key(q.take())).toBe('b/r2'); // 3 waiting: not below lowWater
    expect(key(q.take())).toBe('task'); // 2 waiting
    expect(drain(q)).toEqual(['a/r2', 'b/r1']);
  });

  it('makes a worker wait while open and empty, and ends it once closed', async () => {
    const q = new TargetQueue();
    const first = q.next();
    let settled = false;
    void first.then(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    q.addAccount(account('a', ['r1']));
    expect(key(await first)).toBe('a/r1');
    const last = q.next();
    q.close();
    expect(await last).toBeUndefined();
    expect(q.total).toBe(1);
  });
});
