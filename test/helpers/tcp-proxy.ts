// A TCP proxy for cutting one process off from a server (PostgreSQL) while everything else still reaches
// it: point the process at proxy.port instead of the server's port, then cut() and heal().
//
//   cut('refuse')    new connections are refused and open ones are reset: what a stopped server or a
//                    firewall REJECT looks like (the client learns at once).
//   cut('blackhole') new connections are accepted and open ones kept, but no byte passes either way: what
//                    a network partition looks like (the client learns only from its own timeouts).
//   heal()           forwards again; connections that lived through a black hole are reset (their byte
//                    streams are no longer whole), so the client reconnects.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type CutMode = 'refuse' | 'blackhole';

export interface TcpProxy {
  port: number;
  /** The current state. */
  state(): 'open' | CutMode;
  /** Connections accepted so far (a reconnecting client shows here). */
  accepted(): number;
  cut(mode?: CutMode): Promise<void>;
  heal(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }, opts: { port?: number } = {}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  let mode: 'open' | CutMode = 'open';
  let accepted = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket; blackholed: boolean }>();
  let server: Server | null = null;
  let port = opts.port ?? 0;

  const onConnection = (client: Socket) => {
    accepted++;
    client.setNoDelay(true);
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host, port: target.port });
    const pair = { client, upstream, blackholed: mode === 'blackhole' };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) => from.on('data', (chunk: Buffer) => {
      if (pair.blackholed || mode !== 'open') {
        pair.blackholed = true;
        return; // dropped on the floor
      }
      to.write(chunk);
    });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  };

  const listen = async () => {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => { s.off('error', reject); resolve(); });
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const unlisten = async () => {
    const s = server;
    server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  const proxy: TcpProxy = {
    get port() { return port; },
    state: () => mode,
    accepted: () => accepted,
    async cut(m = 'blackhole') {
      mode = m;
      if (m === 'refuse') {
        await unlisten();
        for (const p of pairs) { p.client.resetAndDestroy(); p.upstream.destroy(); }
        pairs.clear();
        // Nothing listens: connection refused.
      } else {
        for (const p of pairs) p.blackholed = true;
        if (!server) await listen();
      }
    },
    async heal() {
      for (const p of pairs) if (p.blackholed) { p.client.resetAndDestroy(); p.upstream.destroy(); pairs.delete(p); }
      mode = 'open';
      if (!server) await listen();
    },
    async close() {
      await unlisten();
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      pairs.clear();
    },
  };
  return proxy;
}
