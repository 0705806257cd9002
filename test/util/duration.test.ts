import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/util/duration.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000], ['5m', 300_000], ['4h', 14_400_000], ['30d', 2_592_000_000], ['250ms', 250], ['1h30m', 5_400_000], ['10', 10_000], [2, 2000],
  ])('%s -> %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'abc', '5x', '-5s', '5 m', 'm5'])('rejects %j', (text) => expect(parseDuration(text)).toBeNull());
});

describe('formatDuration', () => {
  it('formats compound durations', () => {
    expect(formatDuration(3_725_000)).toBe('1h2m5s');
    expect(formatDuration(250)).toBe('250ms');
  });
});
