// The daemon's HTTP server: /metrics, /healthz, /readyz and the read-only JSON API. It only reads the
// latest snapshot and state the daemon hands it; it never calls AWS. The simulator's control API is
// never mounted here.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { EncodedMetrics } from '../metrics/exposition.js';
import type { AddressInfo } from 'node:net';
import { redactValue } from '../util/redact.js';

export interface HttpSources {
  /** Prometheus exposition: the snapshot's part encoded once per poll, then the (small) process metrics. */
  metrics(): Promise<{ snapshot: EncodedMetrics; self: string }>;
  ready(): boolean;
  stores(filter: { state?: string; accountId?: string; region?: string; type?: string }): unknown;
  alerts(): unknown;
  events(limit: number): unknown;
  targets(): unknown;
  /** Pending notifications and dead letters (never a payload or a channel secret). Optional: 404 without it. */
  outbox?(limit: number): unknown;
}

export interface HttpServerOptions {
  listen: string;
  authToken?: string | null;
  tls?: { certFile: string; keyFile: string } | null;
  sources: HttpSources;
}

export interface RunningHttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port: Number(listen.slice(i + 1)) };
}

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
  res.end(body);
}

/**
 * Writes the cached snapshot bytes as they are; with gzip, the cached gzip member followed by a gzip
 * member of the self metrics (a multi-member gzip stream is one valid body, RFC 1952).
 */
function sendMetrics(req: IncomingMessage, res: ServerResponse, m: Awaited<ReturnType<HttpSources['metrics']>>): void {
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const plainTail = Buffer.from(m.self, 'utf8');
  const tail = gz ? gzipSync(plainTail, { level: 1 }) : plainTail;
  const head = gz ? [m.snapshot.gzip] : m.snapshot.plain;
  res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': String((gz ? m.snapshot.gzip.length : m.snapshot.plainBytes) + tail.length),
    ...(gz ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
  });
  if (req.method === 'HEAD') return void res.end();
  // Corked: the chunks leave in as few writes as the socket takes, not one syscall per 64 KB chunk.
  res.cork();
  for (const chunk of head) res.write(chunk);
  res.end(tail);
}

const json = (res: ServerResponse, value: unknown, status = 200) => send(res, status, JSON.stringify(redactValue(value)), 'application/json');

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { sources } = opts;
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', undefined, { allow: 'GET, HEAD' });
      if (path === '/healthz') return send(res, 200, 'ok\n');
      if (path === '/readyz') return sources.ready() ? send(res, 200, 'ready\n') : send(res, 503, 'waiting for the first poll\n');
      const protectedPath = path === '/metrics' || path.startsWith('/api/');
      if (protectedPath && opts.authToken && !authorized(req, opts.authToken)) {
        return send(res, 401, 'unauthorized\n', undefined, { 'www-authenticate': 'Bearer realm="keystore-watch"' });
      }
      if (path === '/metrics') return sendMetrics(req, res, await sources.metrics());
      if (path === '/api/v1/stores') {
        const q = url.searchParams;
        return json(res, sources.stores({ state: q.get('state') ?? undefined, accountId: q.get('account_id') ?? undefined, region: q.get('region') ?? undefined, type: q.get('type') ?? undefined }));
      }
      if (path === '/api/v1/targets') return json(res, sources.targets());
      if (path === '/api/v1/alerts') return json(res, sources.alerts());
      if (path === '/api/v1/events') {
        const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 100) || 100, 1), 10_000);
        return json(res, sources.events(limit));
      }
      if (path === '/api/v1/outbox' && sources.outbox) {
        const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 500) || 500, 1), 10_000);
        return json(res, sources.outbox(limit));
      }
      if (path === '/') {
        return send(res, 200, '<!doctype html><title>keystore-watch</title><h1>keystore-watch</h1><ul><li><a href="/metrics">/metrics</a><li><a href="/api/v1/stores">/api/v1/stores</a><li><a href="/api/v1/alerts">/api/v1/alerts</a><li><a href="/api/v1/events">/api/v1/events</a><li><a href="/api/v1/targets">/api/v1/targets</a><li><a href="/api/v1/outbox">/api/v1/outbox</a><li><a href="/healthz">/healthz</a><li><a href="/readyz">/readyz</a></ul>\n', 'text/html; charset=utf-8');
      }
      return send(res, 404, 'not found\n');
    } catch {
      // Never echo internals: they could hold a secret.
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    }
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  const { host, port } = splitListen(opts.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${shownHost}:${addr.port}`,
    port: addr.port,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
