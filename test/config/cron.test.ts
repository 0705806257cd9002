import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { cronInterval, cronWarnings, describeCron, describeInterval, parseCron } from '../../src/config/cron.js';

const ok = (e: string) => {
  const r = parseCron(e);
  if (!r.ok) throw new Error(`${e}: ${r.problem}`);
  return r.cron;
};

describe('schedule validation', () => {
  it.each([
    ['*/70 * * * * *', 'second field "*/70": step 70 is larger than the field\'s range 0-59'],
    ['*/60 * * * *', 'minute field "*/60": step 60'],
    ['0 */24 * * *', 'hour field "*/24": step 24'],
    ['0 0 */31 * *', 'day-of-month field "*/31"'],
    ['0 0 1 */12 *', 'month field "*/12"'],
    ['5-10/7 * * * *', 'minute field "5-10/7": step 7 is larger than the field\'s range 5-10'],
    ['0 17-9 * * *', 'range 17-9 runs backwards'],
    ['*/0 * * * *', 'a step of 0'],
    ['60 * * * *', 'minute field: 60 is an invalid expression'],
    ['0 0 31 2 *', 'impossible day of month'],
    ['every minute', 'expected 5 fields'],
    ['* * * * * * *', 'got 7'],
  ])('rejects %s', (expr, problem) => {
    const r = parseCron(expr);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.problem).toContain(problem);
  });

  it('rejects what node-cron itself accepts but cannot mean what was written', () => {
    // The reason for this module: node-cron runs "*/70" in the seconds field as "second 0".
    expect(cron.validate('*/70 * * * * *')).toBe(true);
    expect(parseCron('*/70 * * * * *').ok).toBe(false);
  });

  it.each(['*/1 * * * *', '*/5 * * * * *', '@daily', '@hourly', '0 0 L * *', '0 0 15W * *', '0 0 * * 1#2', '0 0 * * 5L', '30 2 * * MON-FRI', '0 9-17/2 * JAN,jul *', '*/59 * * * *', '0 0 1 1 *'])('accepts %s', (expr) => {
    expect(parseCron(expr).ok).toBe(true);
  });
});

describe('schedule in words and interval', () => {
  it.each([
    ['*/5 * * * * *', 'every 5 seconds', 'every 5 seconds'],
    ['*/1 * * * *', 'every minute', 'every minute'],
    ['*/15 * * * *', 'every 15 minutes', 'every 15 minutes'],
    ['0 */2 * * *', 'every 2 hours', 'every 2 hours'],
    ['0 30 * * * *', 'every hour (from minute 30)', 'every hour'],
    ['5 4 * * *', 'at 04:05 every day', 'every day'],
    ['30 2 * * MON-FRI', 'at 02:30 on Monday, Tuesday, Wednesday, Thursday and Friday', 'between 1 day and 3 days apart'],
    ['0 0 L * *', 'at 00:00 on the last day of the month', 'between 28 days and 31 days apart'],
    ['0 0 * * 1#2', 'at 00:00 on the 2nd Monday of the month', 'between 28 days and 35 days apart'],
    ['*/7 * * * * *', 'at second 0, 7, 14, 21, 28, 35, 42, 49 and 56 of every minute', 'between 4 seconds and 7 seconds apart'],
    ['0 0 1 1 *', 'at 00:00 on day 1 in January', 'between 365 days and 366 days apart'],
  ])('%s is "%s", %s', (expr, words, interval) => {
    const c = ok(expr);
    expect(describeCron(c)).toBe(words);
    expect(describeInterval(c)).toBe(interval);
  });

  it('finds the longest gap of a rare schedule (29 February)', () => {
    expect(cronInterval(ok('0 0 29 2 *'))).toEqual({ minMs: 1461 * 86_400_000, maxMs: 1461 * 86_400_000 });
  });
});

describe('the 6-field warning', () => {
  it('warns when a 6-field expression runs more often than once a minute', () => {
    const [w] = cronWarnings(ok('*/5 * * * * *'));
    expect(w).toContain('6 fields');
    expect(w).toContain('every 5 seconds');
    expect(cronWarnings(ok('15,45 * * * * *'))).toHaveLength(1);
  });

  it('does not warn for 5 fields or a 6-field expression at most once a minute', () => {
    expect(cronWarnings(ok('*/1 * * * *'))).toEqual([]);
    expect(cronWarnings(ok('30 * * * * *'))).toEqual([]);
    expect(cronWarnings(ok('0 */5 * * * *'))).toEqual([]);
  });
});
