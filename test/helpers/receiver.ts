// A real local HTTP receiver for notifier, outbox and end-to-end tests: node:http on 127.0.0.1, a
// random port, every request recorded, answers scripted per request.
//
//   const rx = await startReceiver({ respond: (req, n) => (n <= 2 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }) });
//   ... point a channel at rx.url ...
//   await rx.waitFor(3);
//   expect(rx.requests[2].json).toMatchObject({ ... });
//   await rx.close();
//
// respond(req, n) gets the recorded request and its 1-based number and returns the answer, or
// 'hang' to never answer (the client's timeout fires), or 'reset' to destroy the connection.
// Default answer: 200 "ok". For "connection refused", use refusedUrl(), or stop() the receiver and
// restart() it later on the same port (an outage). `now` stamps arrivals on a test's virtual clock.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. "/services/T/B/X". */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body's bytes as received (body is their UTF-8 decoding, which hides invalid sequences). */
  raw: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Epoch ms when the request was complete (on the `now` clock given to startReceiver). */
  at: number;
  /** The status answered, or null while unanswered and for 'hang'/'reset'. */
  status: number | null;
}

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
  /** Wait this long before answering. */
  delayMs?: number;
}

export type Reply = ScriptedResponse | 'hang' | 'reset';
export type Respond = (req: RecordedRequest, n: number) => Reply | Promise<Reply>;

export interface Receiver {
  /** Base URL, e.g. "http://127.0.0.1:40123" (no trailing slash). */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Replace the script for the following requests. */
  setRespond(respond: Respond | undefined): void;
  /** Resolves when at least count requests were recorded; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Polls (real time) until pred holds; rejects after timeoutMs naming `what`. */
  until(pred: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Requests answered with a 2xx, optionally only those for one path. */
  delivered(path?: string): RecordedRequest[];
  forPath(path: string): RecordedRequest[];
  /** Stops listening and destroys open (including hanging) connections: new connections are refused. */
  close(): Promise<void>;
  /** Same as close(); restart() listens again on the same port. */
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export async function startReceiver(opts: { respond?: Respond; now?: () => number } = {}): Promise<Receiver> {
  let respond: Respond | undefined = opts.respond;
  const now = opts.now ?? Date.now;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const waiters: { count: number; resolve: () => void }[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, raw, json, at: now(), status: null };
      requests.push(rec);
      const n = requests.length;
      for (const w of waiters.filter((x) => requests.length >= x.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      Promise.resolve(respond ? respond(rec, n) : { status: 200, body: 'ok' })
        .then(async (answer) => {
          if (answer === 'hang') return;
          if (answer === 'reset') {
            req.socket.destroy();
            return;
          }
          if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
          const payload = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
          const headers: Record<string, string> = { ...(typeof answer.body === 'object' ? { 'content-type': 'application/json' } : {}), ...answer.headers };
          if (res.destroyed) return;
          rec.status = answer.status;
          res.writeHead(answer.status, headers).end(payload);
        })
        .catch(() => {
          if (!res.destroyed) res.writeHead(500).end('receiver script failed');
        });
    });
  };

  let server: Server | null = null;
  const listen = async (port: number): Promise<number> => {
    const s = createServer(handle);
    s.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    server = s;
    return (s.address() as AddressInfo).port;
  };
  const stop = (): Promise<void> => {
    const s = server;
    if (!s) return Promise.resolve();
    server = null;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const sock of sockets) sock.destroy();
    return closed;
  };
  const port = await listen(0);
  const answered2xx = (r: RecordedRequest) => r.status !== null && r.status >= 200 && r.status < 300;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setRespond(r) {
      respond = r;
    },
    waitFor(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const w = { count, resolve: () => { clearTimeout(t); resolve(requests); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`receiver got ${requests.length} requests, expected ${count} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async until(pred, timeoutMs = 30_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    delivered: (path) => requests.filter((r) => answered2xx(r) && (path === undefined || r.path === path)),
    forPath: (path) => requests.filter((r) => r.path === path),
    close: stop,
    stop,
    async restart() {
      if (!server) await listen(port);
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (connection refused). */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
