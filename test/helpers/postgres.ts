// A throwaway PostgreSQL cluster for tests: initdb into a temp dir as an unprivileged user (PostgreSQL
// refuses to run as root, and the tests run as root in CI), pg_ctl start on a free port with the unix
// socket in the temp dir, stop and remove it afterwards. No mocks of the database anywhere.
//
// Robust on a loaded 2-core machine: fsync off (the tests crash clients and the server, never the OS), generous pg_ctl
// waits, a port taken between probing and binding retried with another port, and restart() keeps the
// port so running daemons reconnect to the same URL.
//
// Binaries: $KSW_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin (Debian's layout; .ci/run installs
// the `postgresql` package when it is missing), else initdb/pg_ctl on PATH.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PgCluster {
  /** postgres://ksw:<password>@127.0.0.1:<port>/postgres (TCP, password authentication). */
  url: string;
  /** The superuser's password (scram-sha-256 over TCP). */
  password: string;
  port: number;
  /** The temp dir holding data/, the socket and the server log. */
  dir: string;
  /** A URL for another database of this cluster (created with createDatabase). */
  urlFor(database: string): string;
  /** Creates a database and answers its URL: one per test keeps tests apart without a cluster each. */
  createDatabase(name?: string): Promise<string>;
  /** Runs SQL as the superuser over a fresh connection (for test set-up, fault injection and checks). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  /** pg_ctl stop. mode "immediate" is a crash of the server (no shutdown checkpoint), "fast" a clean stop. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  running(): boolean;
  /** The server log (for a failing test's message). */
  log(): string;
  /** Stops the server (immediate) and removes the temp dir. */
  destroy(): Promise<void>;
}

const SUPERUSER = 'ksw';

export function findPgBin(): string | null {
  const env = process.env.KSW_PG_BIN;
  if (env && existsSync(path.join(env, 'initdb'))) return env;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return path.dirname(which.stdout.trim());
  return null;
}

/** The uid/gid to run PostgreSQL as: ourselves when not root, else `postgres` (Debian's package user), else `nobody`. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (r.status === 0 && g.status === 0) return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  throw new Error('running as root and neither a postgres nor a nobody user exists to run PostgreSQL as');
}

function run(cmd: string, args: string[], opts: { cwd: string; user: { uid: number; gid: number } | null; timeoutMs: number }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: opts.cwd, TZ: 'UTC' },
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let dbCounter = 0;

export async function startPostgres(opts: { settings?: Record<string, string> } = {}): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin) throw new Error('PostgreSQL binaries not found (install Debian\'s postgresql package, or set KSW_PG_BIN)');
  const user = runAs();
  const dir = await mkdtemp(path.join(tmpdir(), 'ksw-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const password = `pw-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  writeFileSync(path.join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(path.join(dir, 'pwfile'), user.uid, user.gid);
  }
  const sh = (cmd: string, args: string[], timeoutMs = 180_000) => run(path.join(bin, cmd), args, { cwd: dir, user, timeoutMs });
  const init = await sh('initdb', ['-D', data, '-U', SUPERUSER, '--pwfile', path.join(dir, 'pwfile'), '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  if (init.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}): ${init.out}`);
  }
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    // fsync off: a commit still reaches the kernel before it returns, so a crash of the SERVER (restart
    // 'immediate', which the HA tests do) loses nothing; only an OS crash would. synchronous_commit stays
    // on for exactly that reason (off, a server crash loses the last ~200 ms of commits).
    fsync: 'off',
    full_page_writes: 'off',
    // /dev/shm in a container can be tiny.
    dynamic_shared_memory_type: 'mmap',
    shared_buffers: '16MB',
    max_connections: '200',
    log_min_messages: 'warning',
    ...opts.settings,
  };
  let port = 0;
  let isRunning = false;

  const start = async (): Promise<void> => {
    // A port probed free can be taken before the server binds it: try a few.
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!port || attempt > 0) port = await freePort();
      const conf = Object.entries({ ...settings, port: String(port) }).map(([k, v]) => `${k} = '${v}'`).join('\n');
      writeFileSync(path.join(data, 'postgresql.auto.conf'), `${conf}\n`);
      if (user) chownSync(path.join(data, 'postgresql.auto.conf'), user.uid, user.gid);
      const r = await sh('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '120', 'start']);
      if (r.code === 0) { isRunning = true; return; }
      const log = readLog();
      if (!/could not bind|Address already in use/i.test(log + r.out)) throw new Error(`pg_ctl start failed (${r.code}): ${r.out}\n${log.slice(-4000)}`);
      await sh('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    }
    throw new Error(`pg_ctl start: no free port after 5 attempts\n${readLog().slice(-4000)}`);
  };
  const startSamePort = async (): Promise<void> => {
    const r = await sh('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '120', 'start']);
    if (r.code !== 0) throw new Error(`pg_ctl start failed (${r.code}): ${r.out}\n${readLog().slice(-4000)}`);
    isRunning = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const r = await sh('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '120', 'stop']);
    isRunning = false;
    if (r.code !== 0 && !/Is server running\?/.test(r.out)) throw new Error(`pg_ctl stop failed (${r.code}): ${r.out}`);
  };
  const readLog = () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } };

  try {
    await start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const urlFor = (database: string) => `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres') => {
    const c = new pg.Client({ connectionString: urlFor(database), connectionTimeoutMillis: 60_000 });
    await c.connect();
    try {
      return await c.query<R>(sql, params);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  return {
    get url() { return urlFor('postgres'); },
    password,
    get port() { return port; },
    dir,
    urlFor,
    async createDatabase(name) {
      const db = name ?? `t${process.pid}_${++dbCounter}_${Math.random().toString(36).slice(2, 8)}`;
      await query(`CREATE DATABASE "${db.replace(/"/g, '""')}"`);
      return urlFor(db);
    },
    query,
    stop,
    start: startSamePort,
    async restart(mode = 'fast') {
      await stop(mode);
      await startSamePort();
    },
    running: () => isRunning,
    log: readLog,
    async destroy() {
      if (isRunning) await stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
