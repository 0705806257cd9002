// The outbox's functional core (src/notify/outbox-policy.ts): backoff, classification, scheduling, dead-letter and cap decisions.
import { describe, expect, it } from 'vitest';
import { backoffDelay, deadLetterReason, decide, DEFAULT_BACKOFF, failureCode, nextStep, orderKeys, overflowVictims, type ChannelGate, type Schedulable } from '../../src/notify/outbox-policy.js';
import { alert, digest } from './fixtures.js';
import { clearSecrets, registerSecret } from '../../src/util/redact.js';

const ctx = (over: Partial<Parameters<typeof decide>[1]> = {}) => ({ attempts: 1, timedOut: false, backoff: DEFAULT_BACKOFF, maxRetryAfterMs: 3_600_000, random: 0.5, ...over });

describe('backoffDelay', () => {
  it('grows exponentially between half and all of the step, capped at maxMs', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const step = Math.min(300_000, 1000 * 2 ** (attempt - 1));
      expect(backoffDelay(attempt, DEFAULT_BACKOFF, 0)).toBe(step / 2);
      expect(backoffDelay(attempt, DEFAULT_BACKOFF, 1)).toBe(step);
      expect(backoffDelay(attempt, DEFAULT_BACKOFF, 0.5)).toBeGreaterThan(step / 2 - 1);
    }
    expect(backoffDelay(1000, DEFAULT_BACKOFF, 1)).toBe(300_000);
  });
  it('spreads retries (jitter) instead of synchronising them', () => {
    const delays = new Set(Array.from({ length: 50 }, (_, i) => backoffDelay(6, DEFAULT_BACKOFF, i / 50)));
    expect(delays.size).toBe(50);
  });
});

describe('decide', () => {
  it('delivered on ok', () => expect(decide({ ok: true, status: 200 }, ctx())).toEqual({ action: 'delivered' }));
  it('retries 5xx and network errors with backoff', () => {
    expect(decide({ ok: false, retryable: true, status: 503, error: 'HTTP 503' }, ctx({ attempts: 3, random: 1 }))).toEqual({ action: 'retry', delayMs: 4000, code: 'http_503', error: 'HTTP 503' });
    expect(decide({ ok: false, retryable: true, error: 'ECONNREFUSED' }, ctx())).toMatchObject({ action: 'retry', code: 'network' });
  });
  it('honours Retry-After on 429, bounded by maxRetryAfterMs', () => {
    expect(decide({ ok: false, retryable: true, status: 429, retryAfterMs: 30_000, error: 'HTTP 429' }, ctx({ attempts: 9 }))).toMatchObject({ action: 'retry', delayMs: 30_000, code: 'http_429' });
    expect(decide({ ok: false, retryable: true, status: 429, retryAfterMs: 86_400_000 * 3, error: 'x' }, ctx())).toMatchObject({ delayMs: 3_600_000 });
    expect(decide({ ok: false, retryable: true, status: 429, error: 'no header' }, ctx({ attempts: 2, random: 1 }))).toMatchObject({ delayMs: 2000 });
  });
  it('drops non-retryable answers, with the error scrubbed of secrets', () => {
    registerSecret('T000/B000/supersecretvalue');
    try {
      expect(decide({ ok: false, retryable: false, status: 404, error: 'no_service at https://hooks.example.com/T000/B000/supersecretvalue' }, ctx()))
        .toEqual({ action: 'drop', code: 'http_404', error: 'no_service at https://hooks.example.com/[REDACTED]' });
    } finally {
      clearSecrets();
    }
  });
  it('retries a timeout even if the notifier called it final', () => {
    expect(decide({ ok: false, retryable: false, error: 'aborted' }, ctx({ timedOut: true }))).toMatchObject({ action: 'retry', code: 'timeout' });
  });
  it('classifies failures', () => {
    expect(failureCode({ ok: false, retryable: true, status: 500, error: '' }, false)).toBe('http_500');
    expect(failureCode({ ok: false, retryable: true, error: '' }, true)).toBe('timeout');
    expect(failureCode({ ok: false, retryable: true, error: '' }, false)).toBe('network');
  });
});

describe('nextStep', () => {
  const gate = (over: Partial<ChannelGate> = {}): ChannelGate => ({ sending: 0, stalled: 0, maxInFlight: 4, down: false, holdUntil: -Infinity, paceAnchor: null, minIntervalMs: 0, ...over });
  const e = (seq: number, keys: string[], due = 0, inFlight = false): Schedulable => ({ seq, keys, due, inFlight });

  it('sends the entry due the longest (ties: lowest seq); a failing entry waiting on its backoff does not hold back later ones', () => {
    expect(nextStep([e(1, ['a'], 0), e(2, ['b'], 0)], gate(), 10)).toEqual({ send: 1 });
    expect(nextStep([e(1, ['a'], 7), e(2, ['b'], 3)], gate(), 10)).toEqual({ send: 2 });
    expect(nextStep([e(1, ['a'], 5000), e(2, ['b'], 0)], gate(), 10)).toEqual({ send: 2 });
    expect(nextStep([e(1, ['a'], 5000), e(2, ['b'], 3000)], gate(), 10)).toEqual({ waitMs: 2990 });
  });
  it('keeps order per key: a later entry of the same key waits for the earlier one, whatever their schedules', () => {
    expect(nextStep([e(1, ['a'], 5000), e(2, ['a'], 0)], gate(), 10)).toEqual({ waitMs: 4990 });
    expect(nextStep([e(1, ['a'], 0, true), e(2, ['a'], 0), e(3, ['c'], 0)], gate({ sending: 1, stalled: 1 }), 10)).toEqual({ send: 3 });
    expect(nextStep([e(1, ['a'], 0, true), e(2, ['a'], 0)], gate({ sending: 1, stalled: 1 }), 10)).toEqual({ idle: true });
    // A digest carries several keys: it waits for each, and each waits for it.
    expect(nextStep([e(1, ['a'], 9000), e(2, ['b', 'a'], 0), e(3, ['b'], 0)], gate(), 10)).toEqual({ waitMs: 8990 });
  });
  it('applies pacing, a channel hold and the in-flight limit (one at a time unless a send stalls; one probe at a time once the channel fails)', () => {
    expect(nextStep([e(1, ['a'])], gate({ paceAnchor: 100, minIntervalMs: 1000 }), 600)).toEqual({ waitMs: 500 });
    expect(nextStep([e(1, ['a'])], gate({ holdUntil: 20_000 }), 600)).toEqual({ waitMs: 19_400 });
    expect(nextStep([e(1, ['a']), e(2, ['b'])], gate({ sending: 1 }), 600)).toEqual({ idle: true });
    expect(nextStep([e(1, ['a']), e(2, ['b'])], gate({ sending: 1, stalled: 1 }), 600)).toEqual({ send: 1 });
    expect(nextStep([e(1, ['a']), e(2, ['b'])], gate({ sending: 4, stalled: 4 }), 600)).toEqual({ idle: true });
    expect(nextStep([e(1, ['a']), e(2, ['b'])], gate({ sending: 1, stalled: 1, down: true }), 600)).toEqual({ idle: true });
    // One entry failing over and over alone (a poison message) does not narrow the channel.
    expect(nextStep([e(1, ['a']), e(2, ['b'])], gate({ sending: 1, stalled: 1, down: false }), 600)).toEqual({ send: 1 });
    expect(nextStep([], gate(), 600)).toEqual({ idle: true });
  });
});

describe('deadLetterReason', () => {
  it('gives up at the attempt limit, or at the first failure past the age limit', () => {
    const limits = { maxAttempts: 5, maxAgeMs: 3_600_000 };
    expect(deadLetterReason(4, 10, limits)).toBeNull();
    expect(deadLetterReason(5, 10, limits)).toBe('max_attempts');
    expect(deadLetterReason(2, 3_600_000, limits)).toBe('max_age');
  });
});

describe('orderKeys', () => {
  it('is the alert key, or every item key of a digest', () => {
    const a = alert({}, { storeId: 'cks-a' });
    const b = alert({}, { storeId: 'cks-b' });
    expect(orderKeys(a)).toEqual([a.alertKey]);
    expect(orderKeys(digest([a, b, a]))).toEqual([a.alertKey, b.alertKey]);
  });
});

describe('overflowVictims', () => {
  it('drops the oldest first, never an entry being sent', () => {
    const entries = [5, 1, 4, 2, 3].map((seq) => ({ seq, inFlight: seq === 1 }));
    expect(overflowVictims(entries, 5)).toEqual([]);
    expect(overflowVictims(entries, 3)).toEqual([2, 3]);
    expect(overflowVictims(entries, 0)).toEqual([2, 3, 4, 5]);
  });
});
