import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeSnapshotMetrics } from '../../src/metrics/exposition.js';
import { renderSnapshotMetrics } from '../../src/metrics/render.js';
import { cluster, snapshot, store, target } from '../helpers/snapshots.js';

describe('encodeSnapshotMetrics', () => {
  // 2,000 stores with multi-byte names: the renderer's chunks flow through the compressor in many pieces.
  const big = snapshot({
    stores: Array.from({ length: 2000 }, (_, i) => store({ id: `cks-${String(i).padStart(17, '0')}`, name: `☃ store ${i}`, state: i % 5 === 0 ? 'FAILED' : 'CONNECTED', errorCode: i % 5 === 0 ? 'USER_LOCKED_OUT' : null })),
    clusters: [cluster(), cluster({ id: 'cluster-2', state: 'DEGRADED' })],
    targets: [target(), target({ region: 'eu-west-1', ok: false })],
  });

  it('keeps only the gzip form, which inflates to exactly the rendered text', async () => {
    const e = await encodeSnapshotMetrics(big);
    const text = renderSnapshotMetrics(big);
    expect(gunzipSync(e.gzip).toString('utf8')).toBe(text);
    expect(e.plainBytes).toBe(Buffer.byteLength(text, 'utf8'));
    expect(e.gzip.length).toBeLessThan(e.plainBytes / 5);
    expect(Object.values(e).some((v) => Array.isArray(v))).toBe(false);
  });

  it('serves the uncompressed text from one inflated copy, dropped by release()', async () => {
    const e = await encodeSnapshotMetrics(big);
    const [a, b] = await Promise.all([e.plain(), e.plain()]);
    expect(a === b).toBe(true);
    expect(Buffer.concat(a).toString('utf8')).toBe(renderSnapshotMetrics(big));
    e.release();
    const c = await e.plain();
    expect(c === a).toBe(false); // (not .not.toBe: on objects that deep-compares 2.6 MB element by element)
    expect(Buffer.concat(c).equals(Buffer.concat(a))).toBe(true);
  });

  it('encodes an empty snapshot as an empty exposition', async () => {
    const e = await encodeSnapshotMetrics(snapshot({ targets: [] }));
    expect(gunzipSync(e.gzip).toString('utf8')).toBe(renderSnapshotMetrics(snapshot({ targets: [] })));
    expect(Buffer.concat(await e.plain()).toString('utf8')).toBe(gunzipSync(e.gzip).toString('utf8'));
  });
});
