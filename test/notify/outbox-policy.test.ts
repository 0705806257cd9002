// The outbox's channel health (src/notify/outbox-policy.ts channelAfterAttempt): pure, no I/O.
import { describe, expect, it } from 'vitest';
import { channelAfterAttempt, DEFAULT_BACKOFF, healthyChannel, type ChannelHealth } from '../../src/notify/outbox-policy.js';

const fail = (h: ChannelHealth, entryId: string, queued: string[], now = 0) =>
  channelAfterAttempt(h, { entryId, ok: false, retryAfterMs: null }, now, DEFAULT_BACKOFF, 1, (id) => queued.includes(id));

describe('channel health', () => {
  it('one entry failing again and again alone never takes the channel down (a poison message)', () => {
    let h = healthyChannel();
    for (let i = 0; i < 10; i++) h = fail(h, 'a', ['a', 'b']);
    expect(h.down).toBe(false);
    expect(h.holdUntil).toBe(-Infinity);
  });

  it('two entries failing in a row take it down; it stays down while the probe retries the entry that failed last and the other still waits', () => {
    let h = fail(healthyChannel(), 'a', ['a', 'b']);
    h = fail(h, 'b', ['a', 'b']);
    expect(h).toMatchObject({ down: true, downStreak: 1 });
    // The down channel probes with b again (due first): still down, and the hold grows.
    const held = h.holdUntil;
    h = fail(h, 'b', ['a', 'b'], 10_000);
    expect(h).toMatchObject({ down: true, downStreak: 2 });
    expect(h.holdUntil).toBeGreaterThan(held);
  });

  it('is up again once the other failed entries are gone (dead-lettered, dropped) and one entry fails alone', () => {
    let h = fail(healthyChannel(), 'a', ['a', 'b', 'c']);
    h = fail(h, 'b', ['b', 'c']);
    h = fail(h, 'c', ['c']);
    expect(h.down).toBe(true); // c right after b: still evidence of the channel
    h = fail(h, 'c', ['c']);
    expect(h).toMatchObject({ down: false, downStreak: 0 });
  });

  it('a success brings it up and forgets the failures', () => {
    let h = fail(fail(healthyChannel(), 'a', ['a', 'b']), 'b', ['a', 'b']);
    h = channelAfterAttempt(h, { entryId: 'a', ok: true, retryAfterMs: null }, 0, DEFAULT_BACKOFF, 1);
    expect(h).toMatchObject({ down: false, downStreak: 0, lastFailedEntry: null, failedEntries: [] });
  });

  it('a Retry-After holds the channel even for one entry', () => {
    const h = channelAfterAttempt(healthyChannel(), { entryId: 'a', ok: false, retryAfterMs: 30_000 }, 1_000, DEFAULT_BACKOFF, 1);
    expect(h.holdUntil).toBe(31_000);
  });
});
