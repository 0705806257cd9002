import { describe, expect, it } from 'vitest';
import { jsonChunks } from '../../src/snapshot/json-chunks.js';
import { buildSnapshot, type TargetPollResult } from '../../src/snapshot/build.js';
import type { Target } from '../../src/model.js';
import { store } from '../helpers/snapshots.js';

const text = (v: unknown, chunk?: number, depth?: number) => Buffer.concat([...jsonChunks(v, chunk, depth)]).toString('utf8');

describe('jsonChunks', () => {
  it('yields exactly the bytes of JSON.stringify, whatever the chunk size and depth', () => {
    const hostile = ['', 'plain', 'é ü ß 中文 🎉', '"quoted" \\ back', 'line\nbreak\ttab\u0000nul\u001f', '\ud800 lone surrogate \udfff', '\u2028\u2029'];
    const value = {
      format: 'keystore-watch-state', version: 3, name: 'snapshot', writtenAt: 1_700_000_000_000,
      data: {
        pollId: 7, skippedUndefined: undefined, fn: () => 1, when: new Date(0), nil: null, nan: NaN, inf: -Infinity,
        stores: hostile.map((s, i) => ({ id: `cks-${i}`, name: s, tags: { [s]: s }, xks: i % 2 ? null : { uriPath: s, gone: undefined }, list: [1, undefined, () => 2, s] })),
        empty: [], emptyObj: {}, nested: [[[[{ deep: hostile }]]]],
        proto: Object.assign(Object.create(null) as object, { a: 1 }),
        withToJSON: { toJSON: () => ({ replaced: true }) },
      },
    };
    const expected = JSON.stringify(value);
    for (const chunk of [1, 7, 64, 1024, 64 * 1024]) for (const depth of [0, 1, 2, 3, 8]) expect(text(value, chunk, depth)).toBe(expected);
  });

  it('writes what JSON.stringify writes for values that are not objects', () => {
    for (const v of [1, 'x', null, true, [undefined], [() => 1]]) expect(text(v)).toBe(JSON.stringify(v));
    expect([...jsonChunks(undefined)]).toEqual([]);
  });

  it('holds a snapshot document in chunks of about the asked size, not one string', () => {
    const target = (i: number): Target => ({ accountId: String(100000000000 + i), accountName: `acct ${i} — ü`, region: 'eu-west-1', roleArn: null, externalId: null });
    const results: TargetPollResult[] = Array.from({ length: 400 }, (_, i) => {
      const { stateSince: _s, stale: _t, accountName: _a, ...observed } = store({ id: `cks-${String(i).padStart(17, '0')}`, accountId: target(i).accountId, region: 'eu-west-1', name: `store ${i} 🎉` });
      return { target: target(i), durationMs: 3, stores: [observed], error: null, cloudHsm: { attempted: false }, probes: [] };
    });
    const snapshot = buildSnapshot(null, results, { pollId: 1, startedAt: 0, finishedAt: 1 });
    const envelope = { format: 'x', version: 1, name: 'snapshot', writtenAt: 1, data: snapshot };
    const chunks = [...jsonChunks(envelope, 4096)];
    expect(Buffer.concat(chunks).toString('utf8')).toBe(JSON.stringify(envelope));
    expect(chunks.length).toBeGreaterThan(10);
    // One record can overshoot a chunk, never by more than a record (a few hundred bytes here).
    for (const c of chunks) expect(c.length).toBeLessThan(4096 * 2);
  });
});
