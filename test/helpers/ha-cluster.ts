// Two (or more) real `keystore-watch run` processes sharing one PostgreSQL, for the HA end-to-end tests
// (test/ha/): each replica is a child process on its own fixed HTTP port (so a replica restarted after
// a SIGKILL answers on the same URL, as a pod behind a Service does), reaching PostgreSQL through its
// own TCP proxy (so one replica can be cut off while the other still reaches the database).
//
// The leader is whoever's /metrics says keystore_watch_leader 1. The receiver's ledger counts every
// notification by its idempotency key: a key answered 2xx twice is a duplicate delivery.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { baseAccessKeyId } from '../../src/simulator/server.js';
import { BIN, ROOT } from './cli.js';
import type { RecordedRequest } from './receiver.js';
import { tempDir } from './sim.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it answers a value other than undefined/false; throws naming `what` after timeoutMs. */
export async function until<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Replicas.

export interface ReplicaSpec {
  name: string;
  /** The replica's keystore-watch config (state.url must point at its proxy: see configFor). */
  config: Record<string, unknown>;
}

export interface Replica {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Its own way to PostgreSQL (cut it to partition this replica from the database). */
  readonly proxy: TcpProxy;
  readonly configFile: string;
  /** The current process (a new one after restart()). */
  proc: ChildProcess | null;
  /** stdout + stderr of every process this replica ran, in order. */
  logs(): string;
  running(): boolean;
  start(): void;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const childEnv = (extra: Record<string, string> = {}) => ({
  ...process.env,
  NODE_NO_WARNINGS: '1',
  AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'),
  AWS_SECRET_ACCESS_KEY: 'ha-test-secret',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_PROFILE: '',
  AWS_SESSION_TOKEN: '',
  ...extra,
});

/**
 * One replica: a fixed port (`fixedPort`, or a free one), a TCP proxy to PostgreSQL, and a config file built by
 * `config(proxyPort, port)` (choose the ports first to list the replicas as each other's state.peers).
 * Not started: call start().
 */
export async function createReplica(name: string, pgPort: number, config: (pgProxyPort: number, httpPort: number) => Record<string, unknown>, env: Record<string, string> = {}, fixedPort?: number): Promise<Replica> {
  const port = fixedPort ?? await freePort();
  const proxy = await startTcpProxy({ port: pgPort });
  const configFile = path.join(tempDir(`kw-ha-${name}-`), 'keystore-watch.yaml');
  writeFileSync(configFile, stringify(config(proxy.port, port)));
  let out = '';
  let proc: ChildProcess | null = null;
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  const r: Replica = {
    name, port, url: `http://127.0.0.1:${port}`, proxy, configFile,
    get proc() { return proc; },
    set proc(p) { proc = p; },
    logs: () => out,
    running: () => proc !== null && proc.exitCode === null && proc.signalCode === null,
    start() {
      if (r.running()) throw new Error(`${name} is already running`);
      out += `\n----- ${name}: start at ${new Date().toISOString()} -----\n`;
      const p = spawn(process.execPath, [BIN, 'run', '--config', configFile], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      exit = new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
      proc = p;
    },
    async kill() {
      if (!r.running()) return;
      proc!.kill('SIGKILL');
      await exit;
    },
    async stop() {
      if (!r.running()) return (await exit).code;
      proc!.kill('SIGTERM');
      return (await exit).code;
    },
    exited: () => exit,
  };
  return r;
}

// ---------------------------------------------------------------------------------------------
// What a replica serves.

export async function metricsText(r: Replica, timeoutMs = 5000): Promise<string | null> {
  if (!r.running()) return null;
  try {
    const res = await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** keystore_watch_leader as the replica serves it: 1, 0, or null when it does not answer. */
export async function leaderGauge(r: Replica): Promise<number | null> {
  const t = await metricsText(r);
  if (t === null) return null;
  // With or without labels (a holder or epoch label would not change the meaning).
  const line = t.split('\n').find((l) => /^keystore_watch_leader(\{[^}]*\})? /.test(l));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The one replica that says it leads, once exactly one of the running replicas does. */
export async function waitForLeader(replicas: Replica[], timeoutMs: number, opts: { not?: Replica } = {}): Promise<Replica> {
  return until(`exactly one leader${opts.not ? ` other than ${opts.not.name}` : ''}`, timeoutMs, async () => {
    const gauges = await Promise.all(replicas.map(async (r) => ({ r, g: await leaderGauge(r) })));
    const leaders = gauges.filter((x) => x.g === 1);
    if (leaders.length !== 1) return undefined;
    if (opts.not && leaders[0]!.r === opts.not) return undefined;
    return leaders[0]!.r;
  }, 25);
}

export async function readyz(r: Replica): Promise<{ status: number; body: string } | null> {
  if (!r.running()) return null;
  try {
    const res = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

/** The committed pollId the replica serves (/api/v1/targets), or null. */
export async function servedPollId(r: Replica): Promise<number | null> {
  if (!r.running()) return null;
  try {
    const res = await fetch(`${r.url}/api/v1/targets`, { signal: AbortSignal.timeout(5000) });
    return ((await res.json()) as { pollId: number | null }).pollId;
  } catch {
    return null;
  }
}

/**
 * The domain series of a /metrics text (what the stores, clusters and targets look like), sorted:
 * the part every replica must serve identically from the shared state. The daemon's own series
 * (requests it made, its process, its role) differ by replica and are left out.
 */
export function domainSeries(text: string): string[] {
  return text.split('\n')
    .filter((l) => /^(kms_custom_key_store_\w+|aws_cloudhsm_\w+|keystore_watch_(cluster_missing|target_up|cloudhsm_enrichment_up|targets|account_info))[{ ]/.test(l))
    // state_since and similar are wall-clock values from the snapshot, the same on both; keep them.
    .sort();
}

// ---------------------------------------------------------------------------------------------
// The receiver's ledger: notifications by idempotency key.

export interface Notice { key: string; event: string; alertKey: string; path: string; at: number; status: number | null }

export function notice(r: RecordedRequest): Notice {
  const n = (r.json as { notification?: { alertKey?: string } } | undefined)?.notification;
  return {
    key: String(r.headers['x-keystore-watch-idempotency-key'] ?? ''),
    event: String(r.headers['x-keystore-watch-event'] ?? ''),
    alertKey: n?.alertKey ?? '',
    path: r.path,
    at: r.at,
    status: r.status,
  };
}

export interface LedgerSummary {
  /** Notifications answered 2xx, once per key. */
  delivered: Notice[];
  /** Keys answered 2xx more than once, with the count. */
  duplicates: { key: string; count: number; alertKey: string; event: string }[];
}

/**
 * Groups notifications by idempotency key. `acted` says which requests the receiver acted on: by default
 * those answered 2xx; a test whose receiver accepts everything passes `() => true`, so a request whose
 * sender was killed before the 200 reached it (the receiver still posted it) counts too.
 */
export function ledger(requests: RecordedRequest[], acted: (n: Notice) => boolean = (n) => n.status !== null && n.status >= 200 && n.status < 300): LedgerSummary {
  const byKey = new Map<string, Notice[]>();
  for (const n of requests.map(notice)) {
    if (!acted(n)) continue;
    byKey.set(n.key, [...(byKey.get(n.key) ?? []), n]);
  }
  return {
    delivered: [...byKey.values()].map((v) => v[0]!).sort((a, b) => a.at - b.at),
    duplicates: [...byKey.entries()].filter(([, v]) => v.length > 1).map(([key, v]) => ({ key, count: v.length, alertKey: v[0]!.alertKey, event: v[0]!.event })),
  };
}
