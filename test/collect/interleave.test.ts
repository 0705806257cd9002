// The poller's target order: accounts round-robin, regions staggered, every target exactly once.
import { describe, expect, it } from 'vitest';
import { interleaveAccounts } from '../../src/collect/poller.js';
import type { Target } from '../../src/model.js';

const t = (accountId: string, region: string): Target => ({ accountId, accountName: accountId, region, roleArn: null, externalId: null });

describe('interleaveAccounts', () => {
  it('visits each account once before any account a second time', () => {
    const targets = ['111111111111', '222222222222', '333333333333'].flatMap((a) => ['us-east-1', 'eu-west-1'].map((r) => t(a, r)));
    const out = interleaveAccounts(targets);
    expect(out.map((x) => `${x.accountId.slice(0, 1)}/${x.region}`)).toEqual([
      '1/us-east-1', '2/eu-west-1', '3/us-east-1', '1/eu-west-1', '2/us-east-1', '3/eu-west-1',
    ]);
  });

  it('spreads any window of consecutive targets evenly over the regions', () => {
    const regions = Array.from({ length: 16 }, (_, i) => `r-${i}`);
    const accounts = Array.from({ length: 100 }, (_, i) => String(100000000000 + i));
    const out = interleaveAccounts(accounts.flatMap((a) => regions.map((r) => t(a, r))));
    expect(new Set(out.map((x) => `${x.accountId}/${x.region}`)).size).toBe(1600);
    // A window of 64 (the default concurrency) holds each region at most ceil(64 / 16) + 1 times.
    for (let start = 0; start + 64 <= out.length; start += 7) {
      const perRegion = new Map<string, number>();
      for (const x of out.slice(start, start + 64)) perRegion.set(x.region, (perRegion.get(x.region) ?? 0) + 1);
      expect(Math.max(...perRegion.values())).toBeLessThanOrEqual(5);
    }
  });

  it('keeps every target once when accounts have different region counts', () => {
    const targets = [t('111111111111', 'a-b-1'), t('111111111111', 'a-b-2'), t('111111111111', 'a-b-3'), t('222222222222', 'a-b-1')];
    const out = interleaveAccounts(targets);
    expect(out).toHaveLength(4);
    expect(new Set(out)).toEqual(new Set(targets));
    expect(out[1]!.accountId).toBe('222222222222');
  });

  it('handles no targets', () => {
    expect(interleaveAccounts([])).toEqual([]);
  });
});
