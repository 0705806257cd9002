// Crash durability: the real daemon as a child process (`node bin/keystore-watch.mjs run`) polling the
// in-process simulator every second, SIGKILLed at random moments (during start-up and state reads, in
// polls and state writes, while the outbox sends) and restarted on the same state directory, while
// the test scripts incidents (stores going FAILED and back). At the end the webhook receiver must have
// got every expected notification exactly once by idempotency key (raw re-sends inside the outbox's
// documented window are counted and reported), nothing else, and every state file must have loaded
// after every kill (never torn, never set aside).
//   CI: KW_CRASH_KILLS (default 10). Long: KW_LONG=1 (60 kills).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { decodeDocument, STATE_DOC_NAMES } from '../../src/state/store.js';
import { parseSnapshotDoc } from '../../src/snapshot/persist.js';
import { parseOutboxDoc } from '../../src/notify/outbox.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { LONG, metricValue, reportFigure, sleep, waitUntil } from './support.js';

const MAX_KILLS = Number(process.env.KW_CRASH_KILLS ?? (LONG ? 60 : 10));
const STORES = ['cks-r1a0000000000001', 'cks-r1b0000000000001', 'cks-r2a0000000000001', 'cks-r2b0000000000001', 'cks-r2b0000000000003', 'cks-r2b0000000000005'];

let sim: RunningSimulator | undefined;
let rx: Receiver | undefined;
let child: ChildProcess | null = null;
afterAll(async () => {
  child?.kill('SIGKILL');
  await rx?.close();
  await sim?.close();
});

interface Delivery { key: string; event: string; alertKey: string; ok: boolean }

/** Every state document on disk decodes (envelope and, where the parser is exported, shape); none was set aside. */
function checkStateFiles(dir: string): string[] {
  const problems: string[] = [];
  const files = readdirSync(dir);
  for (const f of files) if (f.includes('.corrupt-')) problems.push(`set aside: ${f}`);
  for (const name of STATE_DOC_NAMES) {
    const file = path.join(dir, `${name}.json`);
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    const parse: ((data: unknown) => unknown) | undefined = name === 'snapshot' ? parseSnapshotDoc : name === 'outbox' ? parseOutboxDoc : undefined;
    const r = decodeDocument(name, text, parse);
    if (!r.ok) problems.push(`${name}: ${r.reason}`);
  }
  return problems;
}

describe('daemon under SIGKILL', () => {
  it(`delivers every notification exactly once by idempotency key across ${MAX_KILLS} kills`, async () => {
    sim = await simulator('reliability-fleet.yaml');
    const deliveries: Delivery[] = [];
    let answered = 0;
    rx = await startReceiver({
      respond: async (req) => {
        const n = (req.json as { notification: { alertKey?: string } }).notification;
        // A flaky, slightly slow receiver widens the send/record window and makes kills land in retries.
        const ok = ++answered % 9 !== 0;
        deliveries.push({ key: String(req.headers['x-keystore-watch-idempotency-key']), event: String(req.headers['x-keystore-watch-event']), alertKey: n.alertKey ?? '', ok });
        return ok ? { status: 200, delayMs: Math.floor(Math.random() * 40) } : { status: 503 };
      },
    });
    const stateDir = tempDir('kw-crash-state-');
    const configFile = path.join(tempDir('kw-crash-cfg-'), 'keystore-watch.yaml');
    writeFileSync(configFile, stringify({
      schedule: '*/1 * * * * *',
      listen: '127.0.0.1:0',
      stateDir,
      logLevel: 'info',
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
      accounts: [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }],
      regions: ['us-east-1', 'eu-west-1'],
      alerting: { confirmations: 2, groupThreshold: 100, channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
    }));
    const env = { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'), AWS_SECRET_ACCESS_KEY: 'crash-test-secret', AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: '', AWS_SESSION_TOKEN: '' };

    let url: string | null = null;
    let logs = '';
    const spawnDaemon = (): ChildProcess => {
      url = null;
      const p = spawn(process.execPath, [BIN, 'run', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      p.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        logs += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
        if (m) url = m[1]!;
      });
      p.stderr!.on('data', (d: Buffer) => { logs += d.toString(); });
      return p;
    };
    const exited = (p: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) resolve({ code: p.exitCode, signal: p.signalCode });
      else p.once('exit', (code, signal) => resolve({ code, signal }));
    });

    // The killer: restart at once after every kill; kill 0.1-2.6 s after the spawn (start-up, polls, writes, sends).
    let kills = 0;
    let killedDuringStartup = 0;
    const stateProblems: string[] = [];
    let stopKilling = false;
    child = spawnDaemon();
    const killer = (async () => {
      while (!stopKilling && kills < MAX_KILLS) {
        await sleep(100 + Math.random() * 2500);
        if (stopKilling) break;
        const p = child!;
        if (url === null) killedDuringStartup++;
        p.kill('SIGKILL');
        const r = await exited(p);
        if (r.signal !== 'SIGKILL') stateProblems.push(`daemon exited by itself: ${JSON.stringify(r)}`);
        kills++;
        stateProblems.push(...checkStateFiles(stateDir));
        child = spawnDaemon();
      }
    })();

    // The script: incidents on two stores at a time, each waited for (firing, then resolved) through the kills.
    const expected = new Map<string, number>();
    const okDeliveries = () => deliveries.filter((d) => d.ok);
    const has = (alertKey: string, event: string, count: number) => new Set(okDeliveries().filter((d) => d.alertKey === alertKey && d.event === event).map((d) => d.key)).size >= count;
    const alertKeyOf = (id: string) => `FAILED:store:${id.startsWith('cks-r1') ? '111111111111' : '222222222222'}/${id[6] === 'a' ? 'us-east-1' : 'eu-west-1'}/${id}`;
    let step = 0;
    const minSteps = LONG ? 12 : 3;
    while ((step < minSteps || kills < MAX_KILLS) && step < 200) {
      const pair = [STORES[(2 * step) % STORES.length]!, STORES[(2 * step + 1) % STORES.length]!];
      for (const id of pair) {
        sim.fleet.setStore(id, { state: 'FAILED', errorCode: 'XKS_PROXY_NOT_REACHABLE' });
        expected.set(alertKeyOf(id), (expected.get(alertKeyOf(id)) ?? 0) + 1);
      }
      await waitUntil(() => pair.every((id) => has(alertKeyOf(id), 'firing', expected.get(alertKeyOf(id))!)), `firing for ${pair.join(', ')} (step ${step})`, 60_000, 50);
      for (const id of pair) sim.fleet.setStore(id, { state: 'CONNECTED', errorCode: null });
      await waitUntil(() => pair.every((id) => has(alertKeyOf(id), 'resolved', expected.get(alertKeyOf(id))!)), `resolved for ${pair.join(', ')} (step ${step})`, 60_000, 50);
      step++;
    }
    stopKilling = true;
    await killer;

    // Let the survivor settle: outbox empty, then a graceful stop.
    await waitUntil(() => url !== null, 'the last daemon to serve', 30_000);
    await waitUntil(async () => metricValue(await (await fetch(`${url}/metrics`)).text(), 'keystore_watch_outbox_pending') === 0, 'the outbox to drain', 30_000, 200);
    const last = child!;
    last.kill('SIGTERM');
    expect((await exited(last)).code).toBe(0);
    child = null;
    stateProblems.push(...checkStateFiles(stateDir));

    // Exactly once by idempotency key: per store, the unique keys alternate firing/resolved, one pair per incident.
    const ok = okDeliveries();
    const unique = new Map<string, Delivery>();
    for (const d of ok) if (!unique.has(d.key)) unique.set(d.key, d);
    for (const [alertKey, incidents] of expected) {
      const events = [...unique.values()].filter((d) => d.alertKey === alertKey).map((d) => d.event);
      expect(events, alertKey).toEqual(Array.from({ length: incidents }, () => ['firing', 'resolved']).flat());
    }
    expect([...unique.values()].filter((d) => !expected.has(d.alertKey)).map((d) => `${d.event} ${d.alertKey}`), 'unexpected notifications').toEqual([]);
    expect(stateProblems).toEqual([]);
    expect(logs).not.toMatch(/state document was corrupt|corrupt state document/);
    expect(kills).toBe(MAX_KILLS);
    const rawDuplicates = ok.length - unique.size;
    reportFigure('crash-durability', {
      kills, killedDuringStartup, incidents: [...expected.values()].reduce((a, b) => a + b, 0), notificationsExpected: unique.size,
      deliveredRequests: ok.length, rawDuplicatesSameKey: rawDuplicates, failedAttempts503: deliveries.length - ok.length, stateFileProblems: stateProblems.length,
    });
  }, 600_000);
});
