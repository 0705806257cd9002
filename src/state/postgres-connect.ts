// The PostgreSQL connection shared by the state backend and the leader lease: one small pool, every
// query under a client-side deadline, and errors turned into what the rest of keystore-watch expects.
//
// Connection settings come from the URL (state.url: postgres://user:password@host:port/db?sslmode=...)
// and, for what the URL leaves out, libpq's environment variables (PGHOST, PGPORT, PGUSER,
// PGPASSWORD, PGDATABASE, PGSSLMODE), which node-postgres reads itself. TLS: sslmode=require /
// verify-ca / verify-full and sslrootcert=<file> in the URL, or PGSSLMODE.
//
// Why a client-side deadline and not statement_timeout: a TCP connection to a database that vanished
// (a network cut, a failover of a managed PostgreSQL) hangs until the kernel gives up, minutes later;
// a startup parameter such as statement_timeout is refused by PgBouncer. On a deadline the connection
// is destroyed, not returned to the pool, so the next query opens a fresh one.
//
// Errors: a lost or refused connection is re-thrown with an errno-like `code` (EPGCONN, or the socket's
// own ECONNREFUSED/ECONNRESET/ETIMEDOUT...), so ResilientStateStore treats it like a disk that refuses
// writes (held in memory, retried, the state-persist self-alert) rather than as a programming error.
// The URL's password never appears in a message (the config registers it as a secret; see
// config/load.ts), and pg's own messages never include it.
import pg from 'pg';
import { redact } from '../util/redact.js';

export interface PgConnectionOptions {
  /** postgres:// URL; empty or null: everything from the PG* environment. */
  url?: string | null;
  /** Per query (and per connection attempt) deadline. Default 10 s. */
  queryTimeoutMs?: number;
  /** Pool size. Default 4 (the poll's commit, a delivery mark, the lease, a follower's refresh). */
  max?: number;
  /** application_name shown in pg_stat_activity. */
  applicationName?: string;
  /** Called for errors of idle pooled connections (a server restart): logged, never thrown. */
  onIdleError?(err: Error): void;
}

/** Is this error a lost, refused or timed-out connection (as opposed to a SQL error or a bug)? */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now), 53300 (too many connections).
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300') return true;
  if (/^E[A-Z0-9]+$/.test(code)) return true;
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|not queryable|ECONNREFUSED|ECONNRESET|socket hang up/i.test(msg);
}

/** The error to throw upward: connection problems get an errno-like code; the message is scrubbed. */
export function pgError(err: unknown, what: string): Error {
  // A fencing refusal (NotLeaderError) is the answer, not a database problem: passed on as it is.
  if (err instanceof Error && err.name === 'NotLeaderError') return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const base = redact(`${what}: ${typeof e?.message === 'string' ? e.message : String(err)}`);
  const sqlstate = typeof e?.code === 'string' ? e.code : undefined;
  if (isConnectionError(err)) {
    const code = sqlstate && /^E[A-Z0-9]+$/.test(sqlstate) ? sqlstate : 'EPGCONN';
    return Object.assign(new Error(base, { cause: err }), { code, sqlstate: sqlstate && !/^E/.test(sqlstate) ? sqlstate : undefined });
  }
  return Object.assign(new Error(base, { cause: err }), { sqlstate });
}

export class PgConnection {
  readonly pool: pg.Pool;
  readonly queryTimeoutMs: number;
  private closed = false;

  constructor(opts: PgConnectionOptions) {
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 10_000;
    this.pool = new pg.Pool({
      ...(opts.url ? { connectionString: opts.url } : {}),
      max: opts.max ?? 4,
      connectionTimeoutMillis: this.queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: opts.applicationName ?? 'keystore-watch',
    });
    // An idle pooled connection that dies (server restart, network cut) emits here; unhandled it would crash the process.
    this.pool.on('error', (err) => opts.onIdleError?.(err));
  }

  /**
   * Runs `fn` on one pooled connection under the deadline. A connection that failed or timed out is
   * destroyed rather than returned to the pool.
   */
  async withClient<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>, timeoutMs = this.queryTimeoutMs): Promise<T> {
    if (this.closed) throw new Error(`${what}: the PostgreSQL connection is closed`);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw pgError(err, what);
    }
    let timer: NodeJS.Timeout | undefined;
    let broken: Error | undefined;
    // A socket error while we wait would otherwise be an unhandled 'error' event.
    const onError = (err: Error) => { broken = err; };
    client.on('error', onError);
    try {
      return await Promise.race([
        fn(client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            broken = Object.assign(new Error(`no answer from PostgreSQL within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
            reject(broken);
          }, timeoutMs);
        }),
      ]);
    } catch (err) {
      if (isConnectionError(err) && !(err instanceof Error && err.name === 'NotLeaderError')) broken ??= err as Error;
      throw pgError(err, what);
    } finally {
      clearTimeout(timer);
      client.off('error', onError);
      // release(err) destroys the connection instead of pooling it.
      client.release(broken ?? undefined);
    }
  }

  /** One transaction: BEGIN, fn, COMMIT; ROLLBACK on any failure (a lost connection rolls back on the server). */
  tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>, timeoutMs?: number): Promise<T> {
    return this.withClient(what, async (c) => {
      await c.query('BEGIN');
      try {
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }
}

/** A SQL identifier quoted for PostgreSQL (the schema name; validated by the config schema too). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
