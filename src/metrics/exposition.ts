// The snapshot's metrics, encoded once per poll and served from memory as gzip only. The renderer's
// chunks are piped straight into the compressor as they are produced, so the ~60 MB text of a
// 20,000-store fleet is never held whole: what stays is its gzip (~4-5 MB), which every Prometheus scrape
// asks for. An uncompressed scrape (curl, a browser) is served from an inflated copy made on the first
// such request and dropped (release()) before the next poll renders, so at most one plain copy exists and
// never during a render.
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';
import type { Snapshot } from '../model.js';
import { renderSnapshotMetricsStream } from './render.js';

export class EncodedMetrics {
  private plainCopy: Promise<Buffer[]> | null = null;
  constructor(
    /** The exposition as one gzip member. */
    readonly gzip: Buffer,
    /** Length of the uncompressed exposition. */
    readonly plainBytes: number,
  ) {}

  /** The uncompressed exposition as chunks (inflated off the event loop on first use, then kept until release()). */
  plain(): Promise<Buffer[]> {
    this.plainCopy ??= collect(Readable.from([this.gzip]).pipe(createGunzip({ chunkSize: 64 * 1024 })));
    return this.plainCopy;
  }

  /** Drops the uncompressed copy (a scrape holding it keeps its own reference until written). */
  release(): void {
    this.plainCopy = null;
  }
}

export const EMPTY_METRICS = new EncodedMetrics(gzipSync(Buffer.alloc(0)), 0);

async function collect(stream: Readable): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk as Buffer);
  return out;
}

/** Renders and compresses as a stream (compression runs on the libuv pool, the renderer pauses while it catches up). */
export async function encodeSnapshotMetrics(snapshot: Snapshot): Promise<EncodedMetrics> {
  let plainBytes = 0;
  const gzipped: Buffer[] = [];
  await pipeline(
    Readable.from(renderSnapshotMetricsStream(snapshot), { objectMode: false }),
    new Transform({ transform(chunk: Buffer, _enc, done) { plainBytes += chunk.length; done(null, chunk); } }),
    createGzip({ level: 1 }),
    new Writable({ write(chunk: Buffer, _enc, done) { gzipped.push(chunk); done(null); } }),
  );
  return new EncodedMetrics(Buffer.concat(gzipped), plainBytes);
}
