// The snapshot's metrics, encoded once per poll and served from memory: plain bytes and a gzip of
// them, so a scrape of a 20,000-store fleet copies buffers instead of re-encoding tens of megabytes.
import { promisify } from 'node:util';
import { gzip as gzipCb, gzipSync } from 'node:zlib';
import type { Snapshot } from '../model.js';
import { renderSnapshotMetrics } from './render.js';

const gzip = promisify(gzipCb);

export interface EncodedMetrics {
  plain: Buffer;
  gzip: Buffer;
}

export const EMPTY_METRICS: EncodedMetrics = { plain: Buffer.alloc(0), gzip: gzipSync(Buffer.alloc(0)) };

/** Renders and compresses (compression runs on the libuv pool, off the event loop). */
export async function encodeSnapshotMetrics(snapshot: Snapshot): Promise<EncodedMetrics> {
  const plain = Buffer.from(renderSnapshotMetrics(snapshot), 'utf8');
  return { plain, gzip: await gzip(plain, { level: 1 }) };
}
