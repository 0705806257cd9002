// The state directory under hostile conditions, end to end: the real daemon as a child process
// (`node bin/keystore-watch.mjs run`) against the in-process simulator, with real local webhook
// receivers.
//  - a 64 KB tmpfs stateDir filled up, and the same directory remounted read-only, while a store
//    FAILs: the firing still arrives within the confirmation window, the write failure shows in
//    /metrics and /readyz, the self-alert "cannot persist state" arrives on every channel, and once
//    the disk takes writes again every notification has arrived exactly once (and a restart on the
//    reconciled directory sends nothing again);
//  - one process per stateDir: a second daemon exits 2 naming the holder and sends nothing; a copy
//    that cannot bind its port sends nothing; a stale lock from a SIGKILLed daemon does not block a
//    restart;
//  - a stateDir that is not usable at start (a file, a read-only filesystem, no permission) exits 2
//    naming stateDir.
// Mounting needs root (CI runs as root); where mount is refused the tmpfs tests are skipped and say why.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver, type RecordedRequest } from '../helpers/receiver.js';
import { metricValue, reportFigure, sleep, waitUntil } from './support.js';

const STORE = 'cks-r1b0000000000001';
const STORE_KEY = `FAILED:store:111111111111/eu-west-1/${STORE}`;
const SELF_KEY = 'SELF:state-persist';

// ---------------------------------------------------------------------------------------------
// Can this process mount a tmpfs? (root, and not in a container that forbids it)

function probeMount(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  const dir = tempDir('kw-mount-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs refused: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`;
  spawnSync('umount', [dir]);
  return null;
}
const mountRefused = probeMount();
if (mountRefused) console.log(`[state-dir] SKIPPING the tmpfs tests: ${mountRefused} (they need root and permission to mount)`);

const mounts: string[] = [];
function mountTmpfs(opts = 'size=64k'): string {
  const dir = tempDir('kw-tmpfs-state-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
  mounts.push(dir);
  return dir;
}

async function remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
  // A remount read-only is refused (EBUSY) while a file is open for writing: retry across the daemon's brief writes.
  for (let i = 0; i < 200; i++) {
    const r = spawnSync('mount', ['-o', `remount,${mode}`, dir], { encoding: 'utf8' });
    if (r.status === 0) return;
    await sleep(25);
  }
  throw new Error(`cannot remount ${dir} ${mode}`);
}

/** Fills the filesystem under `dir` to the last byte with a filler file; returns its path. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler.bin');
  const chunk = Buffer.alloc(4096, 0x5a);
  const fd = openSync(file, 'w');
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  // The last partial block.
  for (const size of [2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1]) {
    try { for (;;) writeSync(fd, chunk.subarray(0, size)); } catch { /* full at this size */ }
  }
  closeSync(fd);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Daemons as child processes.

interface RunningDaemon {
  proc: ChildProcess;
  logs: () => string;
  url: () => string | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const env = { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'), AWS_SECRET_ACCESS_KEY: 'state-dir-test-secret', AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: '', AWS_SESSION_TOKEN: '' };

function spawnDaemon(configFile: string, opts: { uid?: number; gid?: number } = {}): RunningDaemon {
  const proc = spawn(process.execPath, [BIN, 'run', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.push(proc);
  let out = '';
  let url: string | null = null;
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    url ??= /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1] ?? null;
  });
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, logs: () => out, url: () => url, exited };
}

async function readyz(d: RunningDaemon): Promise<{ status: number; body: string } | null> {
  const url = d.url();
  if (!url) return null;
  try {
    const r = await fetch(`${url}/readyz`);
    return { status: r.status, body: await r.text() };
  } catch {
    return null;
  }
}

async function metrics(d: RunningDaemon): Promise<string> {
  return (await fetch(`${d.url()}/metrics`)).text();
}

async function stopDaemon(d: RunningDaemon): Promise<number | null> {
  d.proc.kill('SIGTERM');
  const r = await d.exited;
  return r.code;
}

function writeConfig(stateDir: string, channels: Record<string, unknown>[], extra: Record<string, unknown> = {}): string {
  const file = path.join(tempDir('kw-state-cfg-'), 'keystore-watch.yaml');
  writeFileSync(file, stringify({
    schedule: '*/1 * * * * *',
    listen: '127.0.0.1:0',
    stateDir,
    logLevel: 'info',
    aws: { endpoint: sim!.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
    accounts: [{ id: '111111111111', name: 'management' }],
    regions: ['us-east-1', 'eu-west-1'],
    alerting: { confirmations: 2, groupThreshold: 100, channels },
    ...extra,
  }));
  return file;
}

interface Seen { channel: string; key: string; event: string; alertKey: string; pollId: number | null }
const seen = (r: RecordedRequest): Seen => {
  const n = (r.json as { notification?: { alertKey?: string; id?: string } } | undefined)?.notification;
  const key = String(r.headers['x-keystore-watch-idempotency-key']);
  const p = /:p(\d+)$/.exec(key);
  return { channel: r.path, key, event: String(r.headers['x-keystore-watch-event']), alertKey: n?.alertKey ?? '', pollId: p ? Number(p[1]) : null };
};

let sim: RunningSimulator | undefined;
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sleep(100);
  for (const m of mounts.splice(0)) {
    spawnSync('mount', ['-o', 'remount,rw', m]);
    spawnSync('umount', ['-l', m]);
  }
  for (const r of receivers.splice(0)) await r.close();
  sim?.fleet.resetFaults();
});
afterAll(async () => {
  await sim?.close();
});

async function setup(): Promise<Receiver> {
  sim ??= await simulator('reliability-fleet.yaml');
  sim.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
  const rx = await startReceiver();
  receivers.push(rx);
  return rx;
}

const lastPollId = async (d: RunningDaemon): Promise<number> =>
  ((await (await fetch(`${d.url()}/api/v1/targets`)).json()) as { pollId: number | null }).pollId ?? 0;

// ---------------------------------------------------------------------------------------------

describe.skipIf(mountRefused !== null)('stateDir refusing writes (64 KB tmpfs)', () => {
  for (const fault of ['full', 'read-only'] as const) {
    it(`${fault}: keeps paging from memory, says so, and reconciles exactly once`, async () => {
      const rx = await setup();
      const stateDir = mountTmpfs();
      const channels = ['/a', '/b'];
      const configFile = writeConfig(stateDir, channels.map((p, i) => ({ type: 'webhook', name: `hook-${i + 1}`, url: `${rx.url}${p}`, minSeverity: 'info' })));
      const d = spawnDaemon(configFile);
      await waitUntil(async () => (await readyz(d))?.status === 200, 'the daemon to be ready', 60_000, 50);

      // Break the disk.
      let filler: string | null = null;
      if (fault === 'full') filler = fill(stateDir);
      else await remount(stateDir, 'ro');
      const brokenAt = Date.now();

      // A store fails while nothing can be written.
      const pollAtFailure = await lastPollId(d);
      sim!.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
      const firingOn = (ch: string) => rx.requests.map(seen).find((s) => s.channel === ch && s.alertKey === STORE_KEY && s.event === 'firing');
      await waitUntil(() => channels.every((ch) => firingOn(ch)), 'the firing on both channels while the disk refuses writes', 60_000, 50);
      const firingLatencyMs = Date.now() - brokenAt;
      const firingPoll = firingOn('/a')!.pollId!;
      // Within the confirmation window: confirmations (2) polls after the store failed, plus the poll under way.
      expect(firingPoll).toBeLessThanOrEqual(pollAtFailure + 3);

      // The failure is visible: metrics, readiness, a self-alert on every channel.
      await waitUntil(() => channels.every((ch) => rx.requests.map(seen).some((s) => s.channel === ch && s.alertKey === SELF_KEY && s.event === 'firing')), 'the self-alert on both channels', 60_000, 50);
      const m = await metrics(d);
      const writeErrors = metricValue(m, 'keystore_watch_state_errors_total{kind="write"}') ?? 0;
      expect(writeErrors).toBeGreaterThan(0);
      expect(metricValue(m, 'keystore_watch_self_alert{id="state-persist",severity="critical"}')).toBe(1);
      const r = await readyz(d);
      expect(r!.status).toBe(503);
      expect(r!.body).toContain('cannot persist state');
      expect(r!.body).toMatch(fault === 'full' ? /ENOSPC|no space/ : /EROFS|read-only/);
      const selfBody = rx.requests.find((q) => seen(q).alertKey === SELF_KEY)!.json as { notification: { guidance: { title: string } } };
      expect(selfBody.notification.guidance.title).toMatch(/^keystore-watch cannot persist state: /);
      // The logs name the reason as text (not an empty {} object).
      expect(d.logs()).toMatch(/"msg":"cannot persist state; still evaluating and delivering alerts from memory"/);
      expect(d.logs()).toMatch(/"reason":"cannot write state journal [^"]*(ENOSPC|EROFS)/);
      // The poll pipeline handled its alerts, so the last-poll gauge keeps advancing.
      const lp1 = metricValue(m, 'keystore_watch_last_poll_timestamp_seconds')!;
      await waitUntil(async () => (metricValue(await metrics(d), 'keystore_watch_last_poll_timestamp_seconds') ?? 0) > lp1, 'last poll to advance while the disk is broken', 30_000, 100);

      // The store recovers while the disk is still broken: the resolved goes out from memory too.
      sim!.fleet.setStore(STORE, { state: 'CONNECTED', errorCode: null });
      await waitUntil(() => channels.every((ch) => rx.requests.map(seen).some((s) => s.channel === ch && s.alertKey === STORE_KEY && s.event === 'resolved')), 'the resolved while the disk refuses writes', 60_000, 50);

      // The disk comes back: the in-memory state is written, the self-alert resolves, /readyz is 200.
      const healedAt = Date.now();
      if (filler) rmSync(filler);
      else await remount(stateDir, 'rw');
      await waitUntil(() => channels.every((ch) => rx.requests.map(seen).some((s) => s.channel === ch && s.alertKey === SELF_KEY && s.event === 'resolved')), 'the self-alert resolved', 60_000, 50);
      const reconcileMs = Date.now() - healedAt;
      await waitUntil(async () => (await readyz(d))?.status === 200, 'ready again', 30_000, 50);
      await sleep(1500); // a few more polls: nothing new may be sent
      expect(await stopDaemon(d)).toBe(0);

      // Exactly once per channel, by idempotency key and by event.
      const all = rx.requests.map(seen);
      for (const ch of channels) {
        const mine = all.filter((s) => s.channel === ch);
        expect(new Set(mine.map((s) => s.key)).size, `${ch}: no key twice`).toBe(mine.length);
        expect(mine.map((s) => `${s.alertKey} ${s.event}`).sort()).toEqual([`${SELF_KEY} firing`, `${SELF_KEY} resolved`, `${STORE_KEY} firing`, `${STORE_KEY} resolved`].sort());
      }

      // The directory was reconciled: a restart on it finds the alert resolved and the deliveries
      // recorded, and sends nothing again.
      const before = rx.requests.length;
      const d2 = spawnDaemon(configFile);
      await waitUntil(async () => (await readyz(d2))?.status === 200, 'the restarted daemon to be ready', 60_000, 50);
      const p0 = await lastPollId(d2);
      await waitUntil(async () => (await lastPollId(d2)) >= p0 + 3, 'three polls after the restart', 30_000, 100);
      expect(rx.requests.length, 'nothing re-sent after the restart').toBe(before);
      expect(await stopDaemon(d2)).toBe(0);
      reportFigure(`state-dir-${fault}`, { writeErrors, firingPollsAfterFailure: firingPoll - pollAtFailure, firingLatencyMs, reconcileMs, notificationsPerChannel: all.length / channels.length, duplicates: 0 });
    }, 300_000);
  }

  it('a read-only stateDir at start exits 2 naming stateDir', async () => {
    await setup();
    const stateDir = mountTmpfs('size=64k,ro');
    const d = spawnDaemon(writeConfig(stateDir, [{ type: 'console' }]));
    const r = await d.exited;
    expect(r.code).toBe(2);
    expect(d.logs()).toMatch(/stateDir: .* is not writable: it is on a read-only filesystem/);
  }, 120_000);
});

describe('one daemon per stateDir', () => {
  it('a second daemon on the same stateDir exits 2 naming the holder and sends nothing', async () => {
    const rx = await setup();
    const rx2 = await startReceiver();
    receivers.push(rx2);
    const stateDir = tempDir('kw-lock-state-');
    // The first daemon's channel refuses everything, so notifications wait in the outbox on disk.
    rx.setRespond(() => ({ status: 503 }));
    const a = spawnDaemon(writeConfig(stateDir, [{ type: 'webhook', name: 'hook', url: `${rx.url}/a`, minSeverity: 'info' }]));
    await waitUntil(async () => (await readyz(a))?.status === 200, 'the first daemon to be ready', 60_000, 50);
    sim!.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    await waitUntil(() => rx.requests.length > 0, 'the first daemon to try its firing', 60_000, 50);

    // Same directory, same channel name, another receiver: without the lock it would load the
    // outbox and deliver the first daemon's pending firing there (and poll and alert twice).
    const b = spawnDaemon(writeConfig(stateDir, [{ type: 'webhook', name: 'hook', url: `${rx2.url}/b`, minSeverity: 'info' }]));
    const r = await b.exited;
    expect(r.code).toBe(2);
    expect(b.logs()).toContain(`stateDir ${stateDir} is in use by another keystore-watch: pid ${a.proc.pid} on host`);
    await sleep(1500);
    expect(rx2.requests).toHaveLength(0);
    expect(a.proc.exitCode).toBeNull(); // the first one is untouched
    expect(await stopDaemon(a)).toBe(0);
    expect(existsSync(path.join(stateDir, 'keystore-watch.lock')), 'released on a clean stop').toBe(false);
  }, 300_000);

  it('a daemon that cannot bind its port sends nothing; the next one delivers the pending entries', async () => {
    const rx = await setup();
    const stateDir = tempDir('kw-bind-state-');
    rx.setRespond(() => ({ status: 503 }));
    const channel = (url: string) => [{ type: 'webhook', name: 'hook', url, minSeverity: 'info' }];
    const a = spawnDaemon(writeConfig(stateDir, channel(`${rx.url}/a`)));
    await waitUntil(async () => (await readyz(a))?.status === 200, 'the first daemon to be ready', 60_000, 50);
    sim!.fleet.setStore(STORE, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
    await waitUntil(() => rx.requests.length > 0, 'the firing to be tried', 60_000, 50);
    expect(await stopDaemon(a), a.logs().slice(-3000)).toBe(0);
    // Read through the backend the daemon writes (checkpoint documents + journal), as the next daemon will.
    const files = await FileStateBackend.open({ dir: stateDir });
    const pending = (await files.load()).outbox.entries;
    await files.close();
    expect(pending.length).toBeGreaterThan(0);

    // Occupy a port, then start a daemon on it that would deliver to a healthy receiver.
    const rx2 = await startReceiver();
    receivers.push(rx2);
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    const b = spawnDaemon(writeConfig(stateDir, channel(`${rx2.url}/b`), { listen: `127.0.0.1:${port}` }));
    const r = await b.exited;
    blocker.close();
    expect(r.code).not.toBe(0);
    expect(b.logs()).toMatch(/EADDRINUSE/);
    await sleep(500);
    expect(rx2.requests, 'nothing sent by the daemon that could not bind').toHaveLength(0);

    // The next daemon takes the lock (released by the failed one) and delivers.
    const c = spawnDaemon(writeConfig(stateDir, channel(`${rx2.url}/c`)));
    await waitUntil(() => rx2.requests.some((q) => seen(q).alertKey === STORE_KEY && seen(q).event === 'firing'), 'the pending firing from the next daemon', 60_000, 50);
    expect(await stopDaemon(c)).toBe(0);
  }, 300_000);

  it('a stale lock left by a SIGKILLed daemon does not block the restart', async () => {
    await setup();
    const stateDir = tempDir('kw-stale-lock-');
    const configFile = writeConfig(stateDir, [{ type: 'console' }]);
    const a = spawnDaemon(configFile);
    await waitUntil(async () => (await readyz(a))?.status === 200, 'the first daemon to be ready', 60_000, 50);
    a.proc.kill('SIGKILL');
    await a.exited;
    const lock = JSON.parse(readFileSync(path.join(stateDir, 'keystore-watch.lock'), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(a.proc.pid);
    const t0 = Date.now();
    const b = spawnDaemon(configFile);
    await waitUntil(async () => (await readyz(b))?.status === 200, 'the restarted daemon to be ready', 60_000, 50);
    expect(b.logs()).toMatch(/"msg":"took over a stale stateDir lock"/);
    expect(b.logs()).toContain(`process ${a.proc.pid} no longer exists`);
    reportFigure('state-dir-stale-lock', { restartToReadyMs: Date.now() - t0 });
    expect(await stopDaemon(b)).toBe(0);
  }, 300_000);
});

describe('stateDir unusable at start', () => {
  it('a file, not a directory: exit 2 naming stateDir', async () => {
    await setup();
    const file = path.join(tempDir('kw-statefile-'), 'state');
    writeFileSync(file, 'not a directory');
    const d = spawnDaemon(writeConfig(file, [{ type: 'console' }]));
    expect((await d.exited).code).toBe(2);
    // Caught by the config checks (src/config/files.ts) or, when the file appears later, by the lock (src/state/lock.ts).
    expect(d.logs()).toMatch(new RegExp(`stateDir: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is (a file, )?not a directory`));
  }, 120_000);

  it.skipIf(process.getuid?.() !== 0)('no permission (run as an unprivileged user): exit 2 naming stateDir', async () => {
    await setup();
    const parent = tempDir('kw-noperm-');
    chmodSync(parent, 0o755);
    const stateDir = path.join(parent, 'state');
    mkdirSync(stateDir, { mode: 0o755 }); // owned by root, not writable for nobody
    const configFile = writeConfig(stateDir, [{ type: 'console' }]);
    chmodSync(path.dirname(configFile), 0o755);
    chmodSync(configFile, 0o644);
    const d = spawnDaemon(configFile, { uid: 65534, gid: 65534 });
    const r = await d.exited;
    if (/EACCES: permission denied, (open|scandir|stat) '(?!.*state)/.test(d.logs()) || /Cannot find module|ERR_MODULE_NOT_FOUND/.test(d.logs())) {
      console.log(`[state-dir] the unprivileged child could not even load the program here: ${d.logs().slice(0, 300)}`);
      return;
    }
    expect(r.code).toBe(2);
    expect(d.logs()).toMatch(/stateDir: .* is not writable: permission denied/);
    expect(readdirSync(stateDir)).toEqual([]);
  }, 120_000);
});
