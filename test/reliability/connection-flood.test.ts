// 2,000 idle connections against a whole daemon process (the real CLI, `run`) polling the simulator,
// with the open-file limit at 1,024 (a common default): /healthz keeps answering, polls keep finishing
// and writing state, and no EMFILE appears. Without the connection cap the idle connections take every
// descriptor: state writes fail with EMFILE and /healthz stops answering.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { openFileLimit } from '../../src/server/fd-budget.js';
import { BASE_CREDENTIALS, simulator, tempDir } from '../helpers/sim.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { reportFigure, sleep, waitUntil } from './support.js';

const FLOOD = 2000;
const DAEMON_NOFILE = 1024;
/** An idle connection the daemon closes is opened again after this long (an attacker keeping 2,000 open). */
const REOPEN_MS = 1000;
let sim: RunningSimulator | undefined;
let child: ChildProcess | undefined;
const sockets = new Set<Socket>();
let flooding = false;
afterAll(async () => {
  flooding = false;
  for (const s of sockets) s.destroy();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await sim?.close();
});

/** The status code, or what went wrong ("timeout", "ECONNRESET"...). */
const healthz = (port: number, timeoutMs = 5000) => new Promise<number | string>((resolve) => {
  const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: timeoutMs }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
  req.on('timeout', () => { req.destroy(); resolve('timeout'); });
  req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  req.end();
});

/** Opens `n` connections that never send a byte, and opens a new one whenever one is closed. */
function holdIdleConnections(port: number, n: number): void {
  const open = () => {
    if (!flooding) return;
    const s = connect(port, '127.0.0.1');
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => { sockets.delete(s); setTimeout(open, REOPEN_MS); });
  };
  for (let i = 0; i < n; i++) open();
}

describe('connection flood against the daemon process', () => {
  // The flooding side needs the descriptors itself.
  it.runIf((openFileLimit() ?? 0) >= FLOOD + 500)(`keeps /healthz answering and polls succeeding with ${FLOOD} idle connections at ulimit -n ${DAEMON_NOFILE}`, { timeout: 300_000 }, async () => {
    sim = await simulator('reliability-fleet.yaml');
    const dir = tempDir('kw-flood-');
    const stateDir = path.join(dir, 'state');
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, [
      `schedule: "*/2 * * * * *"`,
      `listen: "127.0.0.1:0"`,
      `stateDir: ${stateDir}`,
      `aws: { endpoint: "${sim.url}", maxAttempts: 2, requestTimeout: 5s, targetTimeout: 20s }`,
      `accounts: [ { id: "111111111111", name: management }, { id: "222222222222", name: payments, roleArn: "arn:aws:iam::222222222222:role/KeystoreWatch" } ]`,
      `regions: [us-east-1, eu-west-1]`,
    ].join('\n') + '\n');
    let stdout = '';
    let stderr = '';
    // ulimit in a shell, so the daemon (and only it) runs with the common default limit.
    child = spawn('sh', ['-c', `ulimit -n ${DAEMON_NOFILE} && exec "$0" "$@"`, process.execPath, BIN, 'run', '--config', config], {
      cwd: ROOT,
      env: { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: BASE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const polls = () => (stdout.match(/"msg":"poll finished"/g) ?? []).length;
    await waitUntil(() => /"msg":"serving \/metrics/.test(stdout) && polls() >= 1, 'the daemon to serve and finish its first poll', 120_000, 100);
    const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(stdout)![1]);

    flooding = true;
    holdIdleConnections(port, FLOOD);
    await waitUntil(() => sockets.size >= FLOOD - 50, 'the idle connections to be open', 60_000, 50);
    const pollsAtFlood = polls();
    // While the connections are held (and re-opened as the daemon closes them): health checks and polls.
    // Probed as Kubernetes does (failureThreshold 3): a round fails only when 3 attempts in a row fail.
    // A client that connects and then, starved of CPU, waits before sending its request looks exactly
    // like a flood connection and can be closed; a round of three cannot all be.
    const answers: (number | string)[] = [];
    const rounds: boolean[] = [];
    const latencies: number[] = [];
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      let ok = false;
      for (let attempt = 0; attempt < 3 && !ok; attempt++) {
        const t0 = performance.now();
        const a = await healthz(port);
        answers.push(a);
        latencies.push(performance.now() - t0);
        ok = a === 200;
      }
      rounds.push(ok);
      await sleep(250);
    }
    const pollsDuring = polls() - pollsAtFlood;
    const metrics = await new Promise<string>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); }).on('error', () => resolve('')).end();
    });
    flooding = false;
    for (const s of sockets) s.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('close', r));

    const ok = answers.filter((a) => a === 200).length;
    latencies.sort((a, b) => a - b);
    const dropped = Number(/keystore_watch_http_connections_dropped_total\{reason="evicted_idle"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    reportFigure('connection-flood', {
      idleConnections: FLOOD, daemonNofile: DAEMON_NOFILE, healthzAnswered: `${ok}/${answers.length}`, probeRoundsPassed: `${rounds.filter(Boolean).length}/${rounds.length}`,
      healthzP50ms: Math.round(latencies[Math.floor(latencies.length / 2)]!), healthzMaxMs: Math.round(latencies[latencies.length - 1]!),
      pollsDuringFlood: pollsDuring, evictedIdle: dropped, reopenMs: REOPEN_MS,
    });
    expect(stdout + stderr).not.toMatch(/EMFILE|ENFILE/);
    expect(rounds.every(Boolean), `healthz answers: ${answers.join(',')}`).toBe(true);
    expect(rounds.length).toBeGreaterThanOrEqual(5);
    expect(ok).toBeGreaterThanOrEqual(answers.length / 2);
    // Every 2 s for 15 s: at least a few polls finished (and were written) while flooded.
    expect(pollsDuring).toBeGreaterThanOrEqual(3);
    expect(stdout).not.toMatch(/"msg":"poll failed"/);
    expect(dropped).toBeGreaterThan(0);
  });
});
