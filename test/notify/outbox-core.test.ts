// The outbox's functional core: backoff, classification, pacing and cap decisions.
import { describe, expect, it } from 'vitest';
import { backoffDelay, decide, DEFAULT_BACKOFF, failureCode, nextSendAt, overflowVictims } from '../../src/notify/outbox.js';
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

describe('nextSendAt', () => {
  it('is the later of the entry schedule and the channel pacing', () => {
    expect(nextSendAt({ nextAttemptAt: 100 }, null, 1000)).toBe(100);
    expect(nextSendAt({ nextAttemptAt: 100 }, 50, 1000)).toBe(1050);
    expect(nextSendAt({ nextAttemptAt: 5000 }, 50, 1000)).toBe(5000);
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
