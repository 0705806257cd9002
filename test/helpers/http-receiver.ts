// A real local HTTP receiver (node:http on 127.0.0.1) whose answers a test scripts per request:
// a status (with headers such as Retry-After), "hang" (never answer: the client must time out),
// or "destroy" (reset the connection). stop() closes the port so connections are refused, and
// restart() listens on the same port again.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  seq: number;
  /** Arrival time on the receiver's clock (the test's virtual clock when one is given). */
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Parsed body, or undefined when it is not JSON. */
  json: unknown;
  /** The status answered, or null for hang/destroy. */
  status: number | null;
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'destroy';

export class HttpReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Decides each answer; the default is 200. */
  respond: (req: ReceivedRequest) => Reply = () => ({ status: 200 });
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private port = 0;
  private listening = false;

  private constructor(private readonly now: () => number) {
    this.server = this.createServer();
  }

  static async start(opts: { now?: () => number; port?: number } = {}): Promise<HttpReceiver> {
    const r = new HttpReceiver(opts.now ?? Date.now);
    await r.listen(opts.port ?? 0);
    return r;
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests answered with a 2xx, optionally for one path. */
  delivered(path?: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.status !== null && r.status >= 200 && r.status < 300 && (path === undefined || r.path === path));
  }

  forPath(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Closes the port and every connection: new connections are refused until restart(). */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (this.listening) return;
    this.server = this.createServer();
    await this.listen(this.port);
  }

  /** Polls (real time) until `pred` holds. */
  async waitFor(pred: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private createServer(): Server {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(body); } catch { json = undefined; }
        const rec: ReceivedRequest = {
          seq: this.requests.length + 1, at: this.now(), method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body, json, status: null,
        };
        this.requests.push(rec);
        const reply = this.respond(rec);
        if (reply === 'hang') {
          this.hung.add(res);
          res.on('close', () => this.hung.delete(res));
          return;
        }
        if (reply === 'destroy') {
          req.socket.destroy();
          return;
        }
        rec.status = reply.status;
        res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? (reply.status < 300 ? 'ok' : `status ${reply.status}`));
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        this.listening = true;
        resolve();
      });
    });
  }
}
