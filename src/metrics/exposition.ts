// The snapshot's metrics, encoded once per poll and served from memory: the plain bytes (as the
// renderer's chunks, never joined into one copy) and a gzip of them, so a scrape of a 20,000-store fleet
// writes buffers instead of re-encoding tens of megabytes.
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGzip, gzipSync } from 'node:zlib';
import type { Snapshot } from '../model.js';
import { renderSnapshotMetricsChunks } from './render.js';

export interface EncodedMetrics {
  plain: Buffer[];
  plainBytes: number;
  gzip: Buffer;
}

export const EMPTY_METRICS: EncodedMetrics = { plain: [], plainBytes: 0, gzip: gzipSync(Buffer.alloc(0)) };

/** Renders and compresses (compression streams through the libuv pool, off the event loop). */
export async function encodeSnapshotMetrics(snapshot: Snapshot): Promise<EncodedMetrics> {
  const plain = renderSnapshotMetricsChunks(snapshot);
  const gzip = await buffer(Readable.from(plain, { objectMode: false }).pipe(createGzip({ level: 1 })));
  return { plain, plainBytes: plain.reduce((n, b) => n + b.length, 0), gzip };
}
