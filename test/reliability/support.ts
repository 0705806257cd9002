// Shared pieces of the reliability suite: an HTTP proxy in front of the simulator (or a receiver) that
// can refuse connections and run a hook mid-walk, a DNS hook for an unresolvable endpoint, a log
// capture, metric helpers and the figures file docs/reliability.md is written from.
import dns from 'node:dns';
import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

// ---------------------------------------------------------------------------------------------
// Proxy: forwards every request to `target`; down() stops listening (connection refused), up()
// listens again on the same port; onRequest sees each request (headers, body) before it is forwarded.

export interface ProxiedRequest { method: string; path: string; headers: IncomingMessage['headers']; body: string }

export interface Proxy {
  port: number;
  url: string;
  onRequest: ((r: ProxiedRequest) => void | Promise<void>) | null;
  down(): Promise<void>;
  up(): Promise<void>;
  /** Destroys open client connections (keep-alive sockets), so the next request must connect again. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const proxy: Proxy = {
    port: 0,
    url: '',
    onRequest: null,
    async down() {
      if (!server) return;
      const s = server;
      server = null;
      proxy.dropConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async up() {
      if (server) return;
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          void Promise.resolve(proxy.onRequest?.({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: body.toString('utf8') }))
            .catch(() => {})
            .then(() => {
              const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
                res.writeHead(r.statusCode ?? 502, r.headers);
                r.pipe(res);
                r.on('error', () => res.destroy());
              });
              up.on('error', () => res.destroy());
              res.on('close', () => { if (!res.writableFinished) up.destroy(); });
              up.end(body);
            });
        });
      });
      server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
      const srv = server;
      await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(port, '127.0.0.1', () => resolve()); });
      port = (srv.address() as { port: number }).port;
      proxy.port = port;
      proxy.url = `http://127.0.0.1:${port}`;
    },
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      await proxy.down();
    },
  };
  await proxy.up();
  return proxy;
}

// ---------------------------------------------------------------------------------------------
// DNS: names under `.invalid` resolve to 127.0.0.1 while dnsUp, and fail with ENOTFOUND otherwise
// (RFC 6761 reserves .invalid, so nothing else is affected). Installed once per test process.

let dnsUp = true;
let dnsInstalled = false;
export function installDnsHook(): void {
  if (dnsInstalled) return;
  dnsInstalled = true;
  const original = dns.lookup;
  (dns as { lookup: unknown }).lookup = function lookup(host: string, opts: unknown, cb?: unknown) {
    const callback = (typeof opts === 'function' ? opts : cb) as (...a: unknown[]) => void;
    const options = typeof opts === 'function' ? {} : opts;
    if (typeof host === 'string' && host.endsWith('.invalid')) {
      if (!dnsUp) {
        const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: host });
        process.nextTick(callback, err);
        return;
      }
      return (original as (...a: unknown[]) => void).call(dns, '127.0.0.1', options, callback);
    }
    return (original as (...a: unknown[]) => void).call(dns, host, options, callback);
  };
}
export function setDns(up: boolean): void {
  dnsUp = up;
}

// ---------------------------------------------------------------------------------------------
// Logs: the daemon's real pino logger (redaction hooks included) writing into memory.

export function captureLogger(level = 'debug'): { logger: Logger; text: () => string; lines: () => string[] } {
  const chunks: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk.toString('utf8')); cb(); } });
  const logger = createLogger({ level, pretty: false, destination });
  const text = () => chunks.join('');
  return { logger, text, lines: () => text().split('\n').filter((l) => l !== '') };
}

/** Lines that are not exactly one JSON object (a log line must be one event). */
export function badLogLines(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) out.push(line.slice(0, 200));
    } catch {
      out.push(line.slice(0, 200));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Metrics.

export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export const targetUp = (text: string, accountId: string, region: string) =>
  metricValue(text, `keystore_watch_target_up{account_id="${accountId}",region="${region}"}`);

// ---------------------------------------------------------------------------------------------
// Figures for docs/reliability.md: printed, and appended as JSON lines to $KW_RELIABILITY_OUT
// (default: <tmpdir>/keystore-watch-reliability/figures.jsonl).

export function reportFigure(name: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ name, at: new Date().toISOString(), ...figures });
  console.log(`[reliability] ${line}`);
  const file = process.env.KW_RELIABILITY_OUT ?? path.join(tmpdir(), 'keystore-watch-reliability', 'figures.jsonl');
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, line + '\n');
  } catch {
    // figures are a by-product; never fail a test over them
  }
}

export const LONG = Boolean(process.env.KW_LONG);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; throws with `what` after timeoutMs (a bound, not an assertion on speed). */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
