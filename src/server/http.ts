// The daemon's HTTP server: /metrics, /healthz, /readyz and the read-only JSON API. It only reads the
// latest snapshot and state the daemon hands it; it never calls AWS. The simulator's control API is
// never mounted here.
//
// Limits (HttpLimits), so slow or many clients cannot take the process's file descriptors (which the
// daemon needs for its AWS connections and state writes) or starve /healthz and scrapes:
//   - at most maxConnections open connections. When one more arrives, the oldest connection that has
//     no request in progress is closed to make room: first one that never sent a byte, then one idle
//     (partial headers, or between keep-alive requests). So a flood of idle connections cannot lock
//     out a health check or a scrape: a new client displaces an idle one. Connections accepted in the
//     current event-loop turn are not evicted yet (trackConnections), so the count can briefly reach
//     2 x maxConnections, never more: beyond it, or when every connection is busy with a request, the
//     new connection is closed.
//   - a connection must complete its request headers within headersTimeout of connecting (Node's own
//     headersTimeout starts only at the first byte; a silent connection would stay forever), and the
//     whole request within requestTimeout; a TLS handshake within headersTimeout.
//   - keep-alive: idle keepAliveTimeout between requests, at most maxRequestsPerSocket per connection.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { EncodedMetrics } from '../metrics/exposition.js';
import type { AddressInfo, Socket } from 'node:net';
import { redact, redactValue } from '../util/redact.js';

export interface HttpSources {
  /** Prometheus exposition: the snapshot's part encoded once per poll (gzip), then the (small) process metrics. */
  metrics(): Promise<{ snapshot: EncodedMetrics; self: string }>;
  /** /readyz: 200 "ready", or 503 with one reason per line (waiting for the first poll, state not persisted, ...). */
  ready(): { ready: boolean; reasons: string[] };
  stores(filter: { state?: string; accountId?: string; region?: string; type?: string }): unknown;
  alerts(): unknown;
  events(limit: number): unknown;
  targets(): unknown;
  /** Pending notifications and dead letters (never a payload or a channel secret). Optional: 404 without it. */
  outbox?(limit: number): unknown;
  /** This replica's role and database contact, for the other replicas (state.peers, src/ha/peers.ts). Optional: 404 without it. */
  replica?(): unknown;
}

/**
 * An endpoint added by a feature (silences, acknowledgements, reload, the status page) in its own file
 * under src/server/, registered through HttpServerOptions.routes; the built-in read-only endpoints stay
 * below. Routes are tried in order before the built-ins.
 *
 * access:
 *   - 'public': no credential (/healthz-like);
 *   - 'read':   the bearer token when http.authToken is set (like /metrics and /api/*);
 *   - 'write':  a mutating endpoint: it always needs the bearer token; with no http.authToken configured
 *               it answers 403 with how to enable writes (a read-only daemon stays read-only).
 * `path` is exact, or has `:name` segments (`/api/v1/silences/:id`), given to `handle` as params
 * (URI-decoded).
 */
export interface HttpRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  access: 'public' | 'read' | 'write';
  handle(ctx: HttpRouteContext): Promise<void> | void;
}

export interface HttpRouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** The request body parsed as JSON (at most 64 KiB); throws HttpError(400/413) on bad input. */
  jsonBody(): Promise<unknown>;
  /** Writes a JSON answer (values redacted like every API answer). */
  json(value: unknown, status?: number): void;
  /** Writes a plain or typed answer. */
  send(status: number, body: string, type?: string, headers?: Record<string, string>): void;
}

/** Thrown by a route (or jsonBody) to answer with this status and message, e.g. 400 for bad input. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export const WRITES_DISABLED_MESSAGE = 'writes are disabled: set http.authToken in the configuration (at least 16 characters) and send it as "Authorization: Bearer <token>"\n';

const MAX_JSON_BODY = 64 * 1024;

function matchRoute(pattern: string, path: string): Record<string, string> | null {
  if (!pattern.includes(':')) return pattern === path ? {} : null;
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) {
      if (got[i] === '') return null;
      try { params[want[i].slice(1)] = decodeURIComponent(got[i]); } catch { return null; }
    } else if (want[i] !== got[i]) return null;
  }
  return params;
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw new HttpError(413, `request body over ${MAX_JSON_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try { return JSON.parse(text); } catch { throw new HttpError(400, 'request body is not valid JSON'); }
}

export interface HttpLimits {
  maxConnections: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxRequestsPerSocket: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 256,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 65_000,
  maxRequestsPerSocket: 1000,
};

export interface HttpConnectionObserver {
  /** Open connections after a change. */
  open?(count: number): void;
  /** A connection closed to stay within maxConnections: an idle one evicted, or the new one when all were busy. */
  dropped?(reason: 'evicted_idle' | 'all_busy'): void;
}

export interface HttpServerOptions {
  listen: string;
  authToken?: string | null;
  tls?: { certFile: string; keyFile: string } | null;
  sources: HttpSources;
  limits?: Partial<HttpLimits>;
  observer?: HttpConnectionObserver;
  /** Feature endpoints (see HttpRoute), tried before the built-in ones. */
  routes?: HttpRoute[];
}

export interface RunningHttpServer {
  url: string;
  port: number;
  /** Connections open now. */
  connections(): number;
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
async function sendMetrics(req: IncomingMessage, res: ServerResponse, m: Awaited<ReturnType<HttpSources['metrics']>>): Promise<void> {
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const plainTail = Buffer.from(m.self, 'utf8');
  const tail = gz ? gzipSync(plainTail, { level: 1 }) : plainTail;
  // Only the gzip form is kept; an uncompressed scrape is served from an inflated copy (EncodedMetrics.plain).
  const head = gz ? [m.snapshot.gzip] : req.method === 'HEAD' ? [] : await m.snapshot.plain();
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

/** Runs the first matching feature route; false when none matches the path (the built-ins answer then). */
async function dispatchRoute(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const routes = opts.routes ?? [];
  if (routes.length === 0) return false;
  const path = url.pathname;
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  let pathMatched = false;
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchRoute(route.path, path);
    if (!params) continue;
    pathMatched = true;
    allowed.push(route.method);
    if (route.method !== method) continue;
    if (route.access === 'write') {
      if (!opts.authToken) { send(res, 403, WRITES_DISABLED_MESSAGE); return true; }
      if (!authorized(req, opts.authToken)) { send(res, 401, 'unauthorized\n', undefined, { 'www-authenticate': 'Bearer realm="keystore-watch"' }); return true; }
    } else if (route.access === 'read' && opts.authToken && !authorized(req, opts.authToken)) {
      send(res, 401, 'unauthorized\n', undefined, { 'www-authenticate': 'Bearer realm="keystore-watch"' });
      return true;
    }
    await route.handle({
      req, res, url, params,
      jsonBody: () => readJsonBody(req),
      json: (value, status = 200) => json(res, value, status),
      send: (status, body, type, headers) => send(res, status, body, type, headers),
    });
    return true;
  }
  if (!pathMatched) return false;
  // The path is a feature route's but not for this method (GET built-ins never share a feature path).
  send(res, 405, 'method not allowed\n', undefined, { allow: [...new Set(allowed)].join(', ') });
  return true;
}

const openConnections = new WeakMap<Server, number>();

/** The TCP socket under a request's socket (for HTTPS, req.socket is the TLS socket wrapping it). */
const tcpOf = (s: Socket): Socket => (s as Socket & { _parent?: Socket })._parent ?? s;

/**
 * Enforces maxConnections (evicting idle connections first) and the first-request deadline.
 *
 * A connection is evictable only from its second accept batch on: libuv accepts a whole backlog in one
 * go before it reads from any of the new sockets, so a health check accepted in the middle of a flood
 * has not been read yet; one loop turn later its request has been read (bytesRead > 0) or is in
 * progress. Meanwhile the count may exceed maxConnections, up to twice it; beyond that the newest
 * connection is closed.
 */
function trackConnections(server: Server, limits: HttpLimits, observer: HttpConnectionObserver): void {
  // Insertion order is age order: the first match is the oldest.
  const conns = new Map<Socket, { busy: number; turn: number }>();
  const hardMax = 2 * limits.maxConnections;
  let turn = 0;
  let turnPending = false;
  const changed = () => { openConnections.set(server, conns.size); observer.open?.(conns.size); };
  const evictOne = (except: Socket): boolean => {
    // Oldest silent connection first (never sent a byte: the usual flood), then the oldest idle one
    // (partial headers, or kept alive between requests); never one with a request in progress.
    let idle: Socket | null = null;
    for (const [s, st] of conns) {
      if (s === except || st.busy > 0 || turn - st.turn < 2) continue;
      if (s.bytesRead === 0) { idle = s; break; }
      idle ??= s;
    }
    if (!idle) return false;
    conns.delete(idle);
    idle.destroy();
    observer.dropped?.('evicted_idle');
    return true;
  };
  server.on('connection', (socket: Socket) => {
    // One turn per event-loop iteration that accepts connections.
    if (!turnPending) {
      turn++;
      turnPending = true;
      setImmediate(() => { turnPending = false; });
    }
    const state = { busy: 0, turn };
    conns.set(socket, state);
    socket.once('close', () => { conns.delete(socket); changed(); });
    // Until its first request, a connection gets headersTimeout of inactivity: Node's own headersTimeout
    // only starts at the first byte. After a request, Node manages the timeout (keepAliveTimeout).
    socket.setTimeout(limits.headersTimeout);
    if (conns.size > limits.maxConnections && !evictOne(socket) && conns.size > hardMax) {
      conns.delete(socket);
      socket.destroy();
      observer.dropped?.('all_busy');
    }
    changed();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const tcp = tcpOf(req.socket);
    const st = conns.get(tcp);
    if (!st) return;
    st.busy++;
    // Moved to the young end: a connection that just worked is the last to be evicted.
    conns.delete(tcp);
    conns.set(tcp, st);
    res.once('close', () => { st.busy--; });
  });
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { sources } = opts;
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      const routed = await dispatchRoute(opts, req, res, url);
      if (routed) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', undefined, { allow: 'GET, HEAD' });
      if (path === '/healthz') return send(res, 200, 'ok\n');
      if (path === '/readyz') {
        const r = sources.ready();
        return r.ready ? send(res, 200, 'ready\n') : send(res, 503, `not ready:\n${r.reasons.map((x) => `- ${redact(x)}\n`).join('')}`);
      }
      const protectedPath = path === '/metrics' || path.startsWith('/api/');
      if (protectedPath && opts.authToken && !authorized(req, opts.authToken)) {
        return send(res, 401, 'unauthorized\n', undefined, { 'www-authenticate': 'Bearer realm="keystore-watch"' });
      }
      if (path === '/metrics') return await sendMetrics(req, res, await sources.metrics());
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
      if (path === '/api/v1/replica' && sources.replica) return json(res, sources.replica());
      if (path === '/api/v1/outbox' && sources.outbox) {
        const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 500) || 500, 1), 10_000);
        return json(res, sources.outbox(limit));
      }
      if (path === '/') {
        return send(res, 200, '<!doctype html><title>keystore-watch</title><h1>keystore-watch</h1><ul><li><a href="/metrics">/metrics</a><li><a href="/api/v1/stores">/api/v1/stores</a><li><a href="/api/v1/alerts">/api/v1/alerts</a><li><a href="/api/v1/events">/api/v1/events</a><li><a href="/api/v1/targets">/api/v1/targets</a><li><a href="/api/v1/outbox">/api/v1/outbox</a><li><a href="/healthz">/healthz</a><li><a href="/readyz">/readyz</a></ul>\n', 'text/html; charset=utf-8');
      }
      return send(res, 404, 'not found\n');
    } catch (err) {
      if (err instanceof HttpError) {
        if (!res.headersSent) send(res, err.status, `${redact(err.message)}\n`);
        return;
      }
      // Never echo internals: they could hold a secret.
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    }
  };
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile), handshakeTimeout: limits.headersTimeout }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = limits.keepAliveTimeout;
  server.headersTimeout = Math.min(limits.headersTimeout, limits.requestTimeout);
  server.requestTimeout = limits.requestTimeout;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  trackConnections(server, limits, opts.observer ?? {});
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
    connections: () => openConnections.get(server) ?? 0,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
